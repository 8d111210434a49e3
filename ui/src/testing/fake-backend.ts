// A Backend for tests: holds hosts, rows, events and audit rows in memory, counts calls, and lets
// a test emit the backend's scoped events by hand. Reads can be held back with `hold` to test
// ordering. Failures reject as the real backend's do: an IpcError with code, fields and detail.
import type { UnlistenFn } from "@tauri-apps/api/event";
import {
  IpcError,
  type AppPlan,
  type AppRow,
  type AppStatus,
  type HistoryEntry,
  type PlannedReplica,
  type Removed,
  type RevisionRow,
  type RolloutOutcome,
  type RolloutProgress,
  type AddressRow,
  type AuditQuery,
  type AuditRow,
  type CheckReport,
  type Finding,
  type NetReport,
  type PoolSummary,
  type RunOutcome,
  type RunSpec,
  type Backend,
  type ContainerAction,
  type ContainerDetail,
  type ContainerRow,
  type ContainersPatch,
  type EventRow,
  type HostSpec,
  type HostSummary,
  type ImageRemoved,
  type ImageRow,
  type NetworkRow,
  type ObjectsChanged,
  type Pruned,
  type Transfer,
  type VolumeRow,
  type ExecSpec,
  type LogEvent,
  type LogSpec,
  type SavedLog,
  type ShellInfo,
  type ShellMessage,
  type TestResult,
  type UiStep,
} from "$lib/ipc";

type Handler<T> = (payload: T) => void;

/** A promise with its resolve function outside, to release a held read when the test says so. */
export function gate(): { promise: Promise<void>; open: () => void } {
  let open = () => {};
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

export function host(overrides: Partial<HostSummary> & Pick<HostSummary, "id" | "name">): HostSummary {
  return {
    url: "unix:///var/run/docker.sock",
    kind: "unix",
    status: "online",
    last_sync: "2025-03-03T14:02:00Z",
    api_version: "1.47",
    containers: 0,
    states: {},
    labels: {},
    last_seen: "2025-03-03T14:02:00Z",
    last_error: null,
    rtt_ms: 3,
    tls: null,
    ssh: null,
    ...overrides,
  };
}

export function row(overrides: Partial<ContainerRow> & Pick<ContainerRow, "id">): ContainerRow {
  return {
    host: "local",
    host_id: 1,
    name: overrides.id,
    image: "busybox:latest",
    state: "running",
    status: "Up 1 minute",
    exit_code: null,
    ips: {},
    labels: {},
    created: "2025-03-03T14:00:00Z",
    created_ms: Date.parse("2025-03-03T14:00:00Z"),
    started_ms: Date.parse("2025-03-03T14:00:01Z"),
    finished_ms: null,
    health: null,
    synced_at: "2025-03-03T14:02:00Z",
    ...overrides,
  };
}

export function event(overrides: Partial<EventRow> & Pick<EventRow, "seq">): EventRow {
  const timeMs = overrides.time_ms ?? Date.parse("2025-03-03T14:00:00Z") + overrides.seq * 1000;
  return {
    host: "local",
    host_id: 1,
    time: new Date(timeMs).toISOString(),
    time_ns: timeMs * 1_000_000,
    time_ms: timeMs,
    type: "container",
    action: "start",
    actor_id: `id${overrides.seq}`,
    actor_name: `c${overrides.seq}`,
    attributes: {},
    ...overrides,
  };
}

/** An IpcError as a command of the real backend rejects with (message: the core's English). */
export function ipcError(code: string, fields: Record<string, string> = {}, detail: string | null = null, message?: string): IpcError {
  const words = Object.entries(fields).map(([name, value]) => `${name}=${value}`).join(", ");
  return new IpcError(code, message ?? `${code}: ${words}${detail ? `: ${detail}` : ""}`, fields, detail);
}

export function auditRow(overrides: Partial<AuditRow> & Pick<AuditRow, "id">): AuditRow {
  const timeMs = overrides.time_ms ?? Date.parse("2025-03-03T14:00:00Z") + overrides.id * 1000;
  return {
    op: `op-${overrides.id}`,
    time: new Date(timeMs).toISOString(),
    time_ms: timeMs,
    actor: "alice",
    via: "app",
    host: "local",
    kind: "container",
    object: { id: "c0ffee000000", name: "web" },
    action: "stop",
    outcome: "ok",
    error: null,
    before: null,
    after: null,
    reason: null,
    request: null,
    hash: overrides.id.toString(16).padStart(64, "0"),
    ...overrides,
  };
}

export function imageRow(overrides: Partial<ImageRow> & Pick<ImageRow, "id">): ImageRow {
  const tags = overrides.tags ?? ["busybox:latest"];
  return {
    host: "local",
    tags,
    size: 4_400_000,
    created: "2025-03-01T10:00:00Z",
    containers: [],
    dangling: tags.length === 0,
    layers: [],
    ...overrides,
  };
}

export function networkRow(overrides: Partial<NetworkRow> & Pick<NetworkRow, "name">): NetworkRow {
  return {
    host: "local",
    id: `${overrides.name}`.padEnd(12, "0"),
    driver: "bridge",
    scope: "local",
    subnets: [],
    labels: {},
    containers: [],
    pool: null,
    builtin: false,
    ...overrides,
  };
}

export function volumeRow(overrides: Partial<VolumeRow> & Pick<VolumeRow, "name">): VolumeRow {
  return {
    host: "local",
    driver: "local",
    mountpoint: `/var/lib/docker/volumes/${overrides.name}/_data`,
    created: "2025-03-01T10:00:00Z",
    labels: {},
    containers: [],
    ...overrides,
  };
}

export function transfer(overrides: Partial<Transfer> & Pick<Transfer, "id">): Transfer {
  return {
    kind: "pull",
    host: "local",
    image: "busybox:latest",
    from: null,
    state: "running",
    error: null,
    layers: [],
    output: [],
    bytes_sent: 0,
    bytes_total: 0,
    layers_sent: 0,
    layers_skipped: 0,
    full_tar: false,
    started_ms: Date.parse("2025-03-03T14:00:00Z") + overrides.id * 1000,
    ended_ms: null,
    ...overrides,
  };
}

export function appRow(overrides: Partial<AppRow> & Pick<AppRow, "name">): AppRow {
  return { env: "prod", revision: 1, desired: 2, running: 0, healthy: 0, kind: "app", deployed: null, services: [], ...overrides };
}

export function placement(replica: number, overrides: Partial<PlannedReplica> = {}): PlannedReplica {
  return { replica, host: "edge-1", pool: "lan", ip: `10.0.0.${10 + replica}`, existing: false, ...overrides };
}

export function appPlan(overrides: Partial<AppPlan> & Pick<AppPlan, "app">): AppPlan {
  const placements = overrides.placements ?? [placement(0), placement(1)];
  return { env: "prod", revision: 1, replicas: placements.length, placements, rejected: [], unplaced: 0, remove: [], ...overrides };
}

export function appStatus(overrides: Partial<AppStatus> & Pick<AppStatus, "app">): AppStatus {
  return { env: "prod", revision: null, latest: 1, desired: 2, replicas: [], kept: {}, ...overrides };
}

export function revisionRow(overrides: Partial<RevisionRow> & Pick<RevisionRow, "app" | "revision">): RevisionRow {
  return {
    spec: `name = "${overrides.app}"\n`,
    digest: overrides.revision.toString(16).padStart(64, "0"),
    source: `/home/alice/${overrides.app}.toml`,
    applied_ms: Date.parse("2025-03-03T14:00:00Z") + overrides.revision * 60_000,
    actor: "alice",
    ...overrides,
  };
}

export function historyEntry(overrides: Partial<HistoryEntry> & Pick<HistoryEntry, "op">): HistoryEntry {
  return { time: "2025-03-03T14:00:00.000Z", actor: "alice", action: "deploy", env: "prod", revision: 1, outcome: "ok", error: null, steps: 4, ...overrides };
}

/** A rollout that went well: every replica of the plan created. */
export function rolloutOutcome(plan: AppPlan, overrides: Partial<RolloutOutcome> = {}): RolloutOutcome {
  return {
    app: plan.app,
    env: plan.env,
    revision: plan.revision,
    previous: null,
    ok: true,
    rolled_back: false,
    undo_problems: [],
    failed: null,
    plan,
    created: plan.placements.filter((p) => !p.existing).length,
    updated: 0,
    repaired: 0,
    removed: plan.remove.length,
    unchanged: plan.placements.filter((p) => p.existing).length,
    ...overrides,
  };
}

/** The kinds the store accepts in a query (crates/core/src/store/audit.rs). */
const AUDIT_KINDS = new Set(["container", "network", "image", "pool", "lease", "host", "volume", "app"]);

/** The store's object filter: a name, a whole id, or an id prefix of ≥ 4 hex digits. */
function matchesObject(row: AuditRow, object: string): boolean {
  if (row.object.name === object) return true;
  const id = row.object.id;
  if (id === null) return false;
  return /^(sha256:)?[0-9a-f]{4,}$/.test(object) ? id.startsWith(object) : id === object;
}

export class FakeBackend implements Backend {
  hosts: HostSummary[] = [];
  rows: ContainerRow[] = [];
  events_: EventRow[] = [];
  inspects = new Map<string, string>();
  /** Names of the commands called, in order. */
  calls: string[] = [];
  actions: { host: string; id: string; action: ContainerAction }[] = [];
  /** Answers for testConnection, used in order (the last one repeats). */
  testResults: TestResult[] = [];
  trusted: { spec: HostSpec; fingerprint: string }[] = [];
  /** When set, the next call of that command rejects with it (see `ipcError`). */
  failures = new Map<string, IpcError>();
  /** When set, containers()/events()/fleet()/audit() wait for it. */
  hold: { containers?: Promise<void>; events?: Promise<void>; fleet?: Promise<void>; audit?: Promise<void> } = {};
  /** The audit log, in any order (audit() answers newest first). */
  auditRows: AuditRow[] = [];
  /** Every audit query asked, in order. */
  auditQueries: AuditQuery[] = [];

  readonly #containerHandlers = new Map<number, Set<Handler<ContainersPatch>>>();
  readonly #statusHandlers = new Map<number, Set<Handler<HostSummary>>>();
  readonly #eventHandlers = new Map<number, Set<Handler<EventRow[]>>>();
  readonly #fleetHandlers = new Set<Handler<HostSummary[]>>();

  #fail(command: string): void {
    this.calls.push(command);
    const failure = this.failures.get(command);
    if (failure) {
      this.failures.delete(command);
      throw failure;
    }
  }

  async fleet(): Promise<HostSummary[]> {
    this.#fail("fleet");
    await this.hold.fleet;
    return [...this.hosts];
  }

  async containers(): Promise<ContainerRow[]> {
    this.#fail("containers");
    const snapshot = [...this.rows];
    await this.hold.containers;
    return snapshot;
  }

  async containerDetail(host: string, id: string): Promise<ContainerDetail> {
    this.#fail("containerDetail");
    return { host, id, inspect: this.inspects.get(`${host}/${id}`) ?? "{}" };
  }

  async events(host: string | null, limit: number): Promise<EventRow[]> {
    this.#fail(host === null ? "events" : `events:${host}`);
    const snapshot = this.events_.filter((event) => host === null || event.host === host).slice(-limit);
    await this.hold.events;
    return snapshot;
  }

  async containerAction(host: string, id: string, action: ContainerAction): Promise<void> {
    this.#fail("containerAction");
    this.actions.push({ host, id, action });
  }

  async testConnection(): Promise<TestResult> {
    this.#fail("testConnection");
    const result = this.testResults.length > 1 ? this.testResults.shift() : this.testResults[0];
    if (!result) throw ipcError("internal", {}, null, "the fake has no test result set");
    return result;
  }

  async trustHostKey(spec: HostSpec, fingerprint: string): Promise<void> {
    this.#fail("trustHostKey");
    this.trusted.push({ spec, fingerprint });
  }

  async addHost(spec: HostSpec): Promise<HostSummary> {
    this.#fail("addHost");
    const summary = host({ id: Math.max(0, ...this.hosts.map((h) => h.id)) + 1, name: spec.name, url: spec.url, status: "never" });
    this.hosts.push(summary);
    return summary;
  }

  async editHost(name: string, spec: HostSpec): Promise<HostSummary> {
    this.#fail("editHost");
    const existing = this.hosts.find((h) => h.name === name);
    if (!existing) throw ipcError("host_not_found", { name }, null, `no host named "${name}"`);
    const summary = { ...existing, name: spec.name, url: spec.url };
    this.hosts = this.hosts.map((h) => (h.id === existing.id ? summary : h));
    return summary;
  }

  async removeHost(name: string): Promise<void> {
    this.#fail("removeHost");
    this.hosts = this.hosts.filter((h) => h.name !== name);
  }

  /** What the last `uiPainted` reported. */
  paintedSteps: UiStep[] = [];

  async uiPainted(steps: UiStep[]): Promise<void> {
    this.paintedSteps = steps;
    this.#fail("uiPainted");
  }

  onHostContainers(hostId: number, handler: Handler<ContainersPatch>): Promise<UnlistenFn> {
    return Promise.resolve(subscribe(this.#containerHandlers, hostId, handler));
  }

  onHostStatus(hostId: number, handler: Handler<HostSummary>): Promise<UnlistenFn> {
    return Promise.resolve(subscribe(this.#statusHandlers, hostId, handler));
  }

  onHostEvents(hostId: number, handler: Handler<EventRow[]>): Promise<UnlistenFn> {
    return Promise.resolve(subscribe(this.#eventHandlers, hostId, handler));
  }

  onFleet(handler: Handler<HostSummary[]>): Promise<UnlistenFn> {
    this.#fleetHandlers.add(handler);
    return Promise.resolve(() => void this.#fleetHandlers.delete(handler));
  }

  /** How many container listeners a host has (0 after unlisten). */
  listeners(hostId: number): number {
    return this.#containerHandlers.get(hostId)?.size ?? 0;
  }

  emitPatch(patch: ContainersPatch): void {
    for (const handler of this.#containerHandlers.get(patch.host_id) ?? []) handler(patch);
  }

  emitStatus(summary: HostSummary): void {
    for (const handler of this.#statusHandlers.get(summary.id) ?? []) handler(summary);
  }

  emitEvents(hostId: number, events: EventRow[]): void {
    for (const handler of this.#eventHandlers.get(hostId) ?? []) handler(events);
  }

  emitFleet(hosts: HostSummary[]): void {
    for (const handler of this.#fleetHandlers) handler(hosts);
  }

  /** Shell sessions opened, by id: what opened them, where their output goes, what was typed. */
  shellSessions = new Map<number, FakeShell>();
  /** Every resize asked for, in order. */
  resizes: { session: number; rows: number; cols: number }[] = [];
  closedShells: number[] = [];
  #nextShell = 0;

  async shellOpen(host: string, container: string, spec: ExecSpec, sink: (message: ShellMessage) => void): Promise<number> {
    this.#fail("shellOpen");
    const id = ++this.#nextShell;
    this.shellSessions.set(id, { host, container, spec, sink, typed: "" });
    return id;
  }

  async shellAttach(session: number, sink: (message: ShellMessage) => void): Promise<void> {
    this.#fail("shellAttach");
    this.#shell(session).sink = sink;
  }

  async shellInput(session: number, data: string): Promise<void> {
    this.#fail("shellInput");
    this.#shell(session).typed += data;
  }

  async shellResize(session: number, rows: number, cols: number): Promise<void> {
    this.#fail("shellResize");
    this.resizes.push({ session, rows, cols });
  }

  /** Output acknowledged, per session. */
  acks = new Map<number, number>();

  async shellAck(session: number, bytes: number): Promise<void> {
    this.#fail("shellAck");
    this.acks.set(session, (this.acks.get(session) ?? 0) + bytes);
  }

  async shellClose(session: number): Promise<void> {
    this.#fail("shellClose");
    this.closedShells.push(session);
  }

  /** Log streams opened, by id. */
  logStreams = new Map<number, { host: string; container: string; spec: LogSpec; sink: (event: LogEvent) => void; closed: boolean }>();
  #nextLog = 0;

  async logsOpen(host: string, container: string, spec: LogSpec, sink: (event: LogEvent) => void): Promise<number> {
    this.#fail("logsOpen");
    const id = ++this.#nextLog;
    this.logStreams.set(id, { host, container, spec, sink, closed: false });
    return id;
  }

  async logsClose(stream: number): Promise<void> {
    this.#fail("logsClose");
    const log = this.logStreams.get(stream);
    if (log) log.closed = true;
  }

  /** Logs saved: what was asked, and the file each went to. */
  savedLogs: { host: string; container: string; spec: LogSpec; path: string }[] = [];

  async logsSave(host: string, container: string, spec: LogSpec): Promise<SavedLog> {
    this.#fail("logsSave");
    const path = `/home/user/Downloads/${host}-${container}.log`;
    this.savedLogs.push({ host, container, spec, path });
    return { path, bytes: 42 };
  }

  /** IP pools, their address rows by pool, the check's report, and the repairs asked for. */
  pools: PoolSummary[] = [];
  poolAddresses = new Map<string, AddressRow[]>();
  report: CheckReport = { conflicts: [], orphans: [] };
  repairs: Finding[] = [];

  async ipamPools(): Promise<PoolSummary[]> {
    this.#fail("ipamPools");
    return this.pools;
  }

  async ipamAddresses(pool: string): Promise<AddressRow[]> {
    this.#fail(`ipamAddresses:${pool}`);
    return this.poolAddresses.get(pool) ?? [];
  }

  async ipamCheck(): Promise<CheckReport> {
    this.#fail("ipamCheck");
    return this.report;
  }

  async ipamRepair(finding: Finding): Promise<void> {
    this.#fail("ipamRepair");
    this.repairs.push(finding);
    this.report = {
      conflicts: this.report.conflicts.filter((f) => f !== finding),
      orphans: this.report.orphans.filter((f) => f !== finding),
    };
  }

  /** Networks applied, and containers run, as asked. */
  applied: string[] = [];
  runs: RunSpec[] = [];

  async ipamNetApply(pool: string): Promise<NetReport[]> {
    this.#fail("ipamNetApply");
    this.applied.push(pool);
    const hosts = this.pools.find((p) => p.name === pool)?.hosts ?? [];
    return hosts.map((h) => ({ host: h.host, network: pool, status: "created", drift: [], error: null }));
  }

  async ipamRun(spec: RunSpec): Promise<RunOutcome> {
    this.#fail("ipamRun");
    this.runs.push(spec);
    const ip = spec.ip ?? "10.0.0.2";
    const rows = this.poolAddresses.get(spec.pool) ?? [];
    rows.push({ pool: spec.pool, ip, state: "leased", host: spec.host, container: spec.name, reason: null, fixed: false, since_ms: 0, until_ms: null });
    this.poolAddresses.set(spec.pool, rows);
    return { host: spec.host, name: spec.name, id: "f".repeat(64), pool: spec.pool, ip };
  }

  /** The store's query: every filter given, newest first (time, then id), at most `limit`. */
  async audit(query: AuditQuery): Promise<AuditRow[]> {
    this.#fail("audit");
    this.auditQueries.push(query);
    const limit = query.limit ?? 100;
    if (!Number.isInteger(limit) || limit < 1 || limit > 100_000) {
      throw ipcError("invalid_input", { what: "limit", reason: `${limit}; take 1 to 100000 rows` }, `${limit}; take 1 to 100000 rows`);
    }
    if (query.kind != null && !AUDIT_KINDS.has(query.kind)) {
      throw ipcError("invalid_input", { what: "kind", reason: `unknown kind ${query.kind}` }, `unknown kind ${query.kind}`);
    }
    const rows = this.auditRows
      .filter(
        (row) =>
          (query.host == null || row.host === query.host) &&
          (query.since_ms == null || row.time_ms >= query.since_ms) &&
          (query.via == null || row.via === query.via) &&
          (query.op == null || row.op === query.op) &&
          (query.kind == null || row.kind === query.kind) &&
          (query.outcome == null || row.outcome === query.outcome) &&
          (query.object == null || matchesObject(row, query.object)),
      )
      .sort((a, b) => b.time_ms - a.time_ms || b.id - a.id)
      .slice(0, limit);
    await this.hold.audit;
    return rows;
  }

  /** Images, networks and volumes of every host, as the mirror holds them. */
  imageRows: ImageRow[] = [];
  networkRows: NetworkRow[] = [];
  volumeRows: VolumeRow[] = [];
  /** What the backend's Transfers hold (transfers() answers newest first by id). */
  transferList: Transfer[] = [];
  pulls: { host: string; image: string }[] = [];
  pushes: { source: string; image: string; targets: string[] }[] = [];
  builds: { host: string; tag: string; dir: string }[] = [];
  removals: { kind: "image" | "network" | "volume"; host: string; name: string; force: boolean }[] = [];
  prunes: { kind: "image" | "network" | "volume"; host: string; all?: boolean }[] = [];
  cancelled: number[] = [];
  #nextTransfer = 100;
  readonly #objectHandlers = new Map<number, Set<Handler<ObjectsChanged>>>();
  readonly #transferHandlers = new Set<Handler<Transfer>>();

  #knownHost(name: string): HostSummary {
    const known = this.hosts.find((h) => h.name === name);
    if (!known) throw ipcError("host_not_found", { name }, null, `no host named "${name}"`);
    return known;
  }

  /** Reads one host's rows (the store refuses a host it does not know) or every host's. */
  #rowsOf<T extends { host: string }>(rows: readonly T[], host: string | null): T[] {
    if (host !== null) this.#knownHost(host);
    return rows.filter((r) => host === null || r.host === host);
  }

  async images(host: string | null): Promise<ImageRow[]> {
    this.#fail(host === null ? "images" : `images:${host}`);
    return this.#rowsOf(this.imageRows, host);
  }

  #startTransfer(fields: Partial<Transfer>): number {
    const id = ++this.#nextTransfer;
    this.emitTransfer(transfer({ id, ...fields }));
    return id;
  }

  async imagePull(host: string, image: string): Promise<number> {
    this.#fail("imagePull");
    this.#knownHost(host);
    this.pulls.push({ host, image });
    return this.#startTransfer({ kind: "pull", host, image });
  }

  async imagePush(source: string, image: string, targets: string[]): Promise<number[]> {
    this.#fail("imagePush");
    this.#knownHost(source);
    targets.forEach((target) => this.#knownHost(target));
    this.pushes.push({ source, image, targets });
    return targets.map((target) => this.#startTransfer({ kind: "push", host: target, from: source, image }));
  }

  async imageBuild(host: string, tag: string, dir: string): Promise<number> {
    this.#fail("imageBuild");
    this.#knownHost(host);
    this.builds.push({ host, tag, dir });
    return this.#startTransfer({ kind: "build", host, image: tag });
  }

  /** As the core: refused while containers use the image unless forced; then gone, and the host's objects changed. */
  async imageRemove(host: string, image: string, force: boolean): Promise<ImageRemoved> {
    this.#fail("imageRemove");
    const known = this.#knownHost(host);
    const found = this.imageRows.find((r) => r.host === host && (r.id === image || r.tags.includes(image)));
    if (!found) throw ipcError("image_not_found", { host, image });
    if (found.containers.length > 0 && !force) {
      throw ipcError("in_use", { host, kind: "image", name: image, users: found.containers.join(", ") });
    }
    this.removals.push({ kind: "image", host, name: image, force });
    this.imageRows = this.imageRows.filter((r) => r !== found);
    this.emitObjects(known.id);
    return { host, image, removed: [found.id] };
  }

  async imagePrune(host: string, all: boolean): Promise<Pruned> {
    this.#fail("imagePrune");
    const known = this.#knownHost(host);
    this.prunes.push({ kind: "image", host, all });
    const gone = this.imageRows.filter((r) => r.host === host && r.containers.length === 0 && (all || r.dangling));
    this.imageRows = this.imageRows.filter((r) => !gone.includes(r));
    this.emitObjects(known.id);
    return { removed: gone.map((r) => r.id), bytes: gone.reduce((sum, r) => sum + (r.size ?? 0), 0) };
  }

  async transfers(): Promise<Transfer[]> {
    this.#fail("transfers");
    return [...this.transferList].sort((a, b) => b.id - a.id);
  }

  async transferCancel(id: number): Promise<void> {
    this.#fail("transferCancel");
    this.cancelled.push(id);
  }

  async networks(host: string | null): Promise<NetworkRow[]> {
    this.#fail(host === null ? "networks" : `networks:${host}`);
    return this.#rowsOf(this.networkRows, host);
  }

  /** As the core: a pool's network and Docker's own are refused, so is one containers use. */
  async networkRemove(host: string, name: string): Promise<void> {
    this.#fail("networkRemove");
    const known = this.#knownHost(host);
    const found = this.networkRows.find((r) => r.host === host && (r.name === name || r.id === name));
    if (found?.pool) throw ipcError("pool_network", { host, network: found.name, pool: found.pool });
    if (found?.builtin) throw ipcError("invalid_input", { what: "network", reason: `${found.name} is one of Docker's own networks; it cannot be removed` });
    if (found && found.containers.length > 0) {
      throw ipcError("in_use", { host, kind: "network", name: found.name, users: found.containers.map((c) => c.container).join(", ") });
    }
    this.removals.push({ kind: "network", host, name, force: false });
    this.networkRows = this.networkRows.filter((r) => r !== found);
    this.emitObjects(known.id);
  }

  async networkPrune(host: string): Promise<Pruned> {
    this.#fail("networkPrune");
    const known = this.#knownHost(host);
    this.prunes.push({ kind: "network", host });
    const gone = this.networkRows.filter((r) => r.host === host && !r.builtin && !r.pool && r.containers.length === 0);
    this.networkRows = this.networkRows.filter((r) => !gone.includes(r));
    this.emitObjects(known.id);
    return { removed: gone.map((r) => r.name), bytes: 0 };
  }

  async volumes(host: string | null): Promise<VolumeRow[]> {
    this.#fail(host === null ? "volumes" : `volumes:${host}`);
    return this.#rowsOf(this.volumeRows, host);
  }

  async volumeRemove(host: string, name: string, force: boolean): Promise<void> {
    this.#fail("volumeRemove");
    const known = this.#knownHost(host);
    const found = this.volumeRows.find((r) => r.host === host && r.name === name);
    if (found && found.containers.length > 0 && !force) {
      throw ipcError("in_use", { host, kind: "volume", name, users: found.containers.join(", ") });
    }
    this.removals.push({ kind: "volume", host, name, force });
    this.volumeRows = this.volumeRows.filter((r) => r !== found);
    this.emitObjects(known.id);
  }

  async volumePrune(host: string): Promise<Pruned> {
    this.#fail("volumePrune");
    const known = this.#knownHost(host);
    this.prunes.push({ kind: "volume", host });
    const gone = this.volumeRows.filter((r) => r.host === host && r.containers.length === 0);
    this.volumeRows = this.volumeRows.filter((r) => !gone.includes(r));
    this.emitObjects(known.id);
    return { removed: gone.map((r) => r.name), bytes: 0 };
  }

  onHostObjects(hostId: number, handler: Handler<ObjectsChanged>): Promise<UnlistenFn> {
    return Promise.resolve(subscribe(this.#objectHandlers, hostId, handler));
  }

  onTransfer(handler: Handler<Transfer>): Promise<UnlistenFn> {
    this.#transferHandlers.add(handler);
    return Promise.resolve(() => void this.#transferHandlers.delete(handler));
  }

  /** How many objects listeners a host has (0 after unlisten). */
  objectListeners(hostId: number): number {
    return this.#objectHandlers.get(hostId)?.size ?? 0;
  }

  /** `host://{id}/objects` for a host of the fleet. */
  emitObjects(hostId: number): void {
    const name = this.hosts.find((h) => h.id === hostId)?.name ?? `host-${hostId}`;
    for (const handler of this.#objectHandlers.get(hostId) ?? []) handler({ host_id: hostId, host: name });
  }

  /** `transfers://update`: the transfer's new state, kept as the backend's too. */
  emitTransfer(update: Transfer): void {
    this.transferList = [...this.transferList.filter((t) => t.id !== update.id), update];
    for (const handler of this.#transferHandlers) handler(update);
  }

  /** Apps as `apps()` lists them; plans and statuses by `name/env`; revisions and history by name. */
  appRows: AppRow[] = [];
  plans = new Map<string, AppPlan>();
  statuses = new Map<string, AppStatus>();
  revisions = new Map<string, RevisionRow[]>();
  histories = new Map<string, HistoryEntry[]>();
  /** Every rollout asked for, in order (`expect` as the view sent it). */
  rollouts: (
    | { kind: "deploy"; name: string; env: string; expect: PlannedReplica[] | null }
    | { kind: "scale"; name: string; env: string; replicas: number }
    | { kind: "rollback"; name: string; env: string; to: number | null }
  )[] = [];
  appRemovals: { name: string; env: string }[] = [];
  /** What the next rollout answers (else: every replica of the current plan created, ok). */
  nextOutcome: RolloutOutcome | null = null;
  /** When set, a rollout waits for it before answering (a test emits progress meanwhile). */
  holdRollout: Promise<void> | null = null;
  readonly #progressHandlers = new Set<Handler<RolloutProgress>>();

  #plan(name: string, env: string): AppPlan {
    const plan = this.plans.get(`${name}/${env}`);
    if (!plan) throw ipcError("invalid_input", { what: "app", reason: `no app ${name} with an environment ${env}` }, `no app ${name} with an environment ${env}`);
    return plan;
  }

  async #rollout(name: string, env: string): Promise<RolloutOutcome> {
    const plan = this.#plan(name, env);
    await this.holdRollout;
    const outcome = this.nextOutcome ?? rolloutOutcome(plan);
    this.nextOutcome = null;
    return outcome;
  }

  async apps(): Promise<AppRow[]> {
    this.#fail("apps");
    return [...this.appRows];
  }

  async appPlan(name: string, env: string): Promise<AppPlan> {
    this.#fail("appPlan");
    return this.#plan(name, env);
  }

  async appStatus(name: string, env: string): Promise<AppStatus> {
    this.#fail("appStatus");
    return this.statuses.get(`${name}/${env}`) ?? appStatus({ app: name, env });
  }

  async appRevisions(name: string): Promise<RevisionRow[]> {
    this.#fail("appRevisions");
    return [...(this.revisions.get(name) ?? [])].sort((a, b) => b.revision - a.revision);
  }

  async appHistory(name: string): Promise<HistoryEntry[]> {
    this.#fail("appHistory");
    return [...(this.histories.get(name) ?? [])];
  }

  /** As the app's command: refused with `plan_changed` unless `expect` is the plan as it stands. */
  async appDeploy(name: string, env: string, expect: PlannedReplica[] | null): Promise<RolloutOutcome> {
    this.#fail("appDeploy");
    this.rollouts.push({ kind: "deploy", name, env, expect });
    const plan = this.#plan(name, env);
    if (expect !== null && JSON.stringify(expect) !== JSON.stringify(plan.placements)) {
      throw ipcError("plan_changed", { app: name, env }, null, `the plan for ${name} (${env}) changed since it was shown; look at the new plan and deploy again`);
    }
    return this.#rollout(name, env);
  }

  async appScale(name: string, env: string, replicas: number): Promise<RolloutOutcome> {
    this.#fail("appScale");
    this.rollouts.push({ kind: "scale", name, env, replicas });
    return this.#rollout(name, env);
  }

  async appRollback(name: string, env: string, to: number | null): Promise<RolloutOutcome> {
    this.#fail("appRollback");
    this.rollouts.push({ kind: "rollback", name, env, to });
    return this.#rollout(name, env);
  }

  async appRemove(name: string, env: string): Promise<Removed[]> {
    this.#fail("appRemove");
    this.appRemovals.push({ name, env });
    return [];
  }

  onAppProgress(handler: Handler<RolloutProgress>): Promise<UnlistenFn> {
    this.#progressHandlers.add(handler);
    return Promise.resolve(() => void this.#progressHandlers.delete(handler));
  }

  /** How many `apps://progress` listeners there are (0 after unlisten). */
  get progressListeners(): number {
    return this.#progressHandlers.size;
  }

  /** `apps://progress`: one replica's step. */
  emitAppProgress(progress: RolloutProgress): void {
    for (const handler of this.#progressHandlers) handler(progress);
  }

  /** A batch of log output (or the end) on stream `id`. */
  emitLog(id: number, event: LogEvent): void {
    this.logStreams.get(id)!.sink(event);
  }

  async shellList(): Promise<ShellInfo[]> {
    this.#fail("shellList");
    return [...this.shellSessions.entries()]
      .filter(([id]) => !this.closedShells.includes(id))
      .map(([id, shell]) => ({ id, host: shell.host, container: shell.container, ended: null }));
  }

  /** Output (text, as UTF-8 bytes) or the end of session `id`, as the backend would send it. */
  emitShell(id: number, message: string | ShellMessage): void {
    this.#shell(id).sink(typeof message === "string" ? new TextEncoder().encode(message).buffer : message);
  }

  #shell(id: number): FakeShell {
    const shell = this.shellSessions.get(id);
    if (!shell) throw ipcError("invalid_input", { what: "shell session", reason: `${id} is not open` }, `${id} is not open`, `invalid shell session: ${id} is not open`);
    return shell;
  }
}

export interface FakeShell {
  host: string;
  container: string;
  spec: ExecSpec;
  sink: (message: ShellMessage) => void;
  typed: string;
}

/** A terminal that records what it was given: `typeKeys` plays the user. */
export class FakeTerminal {
  rows = 24;
  cols = 80;
  written = "";
  opened: HTMLElement | null = null;
  disposed = false;
  focused = 0;
  #onData: ((data: string) => void) | null = null;

  open(parent: HTMLElement): void {
    this.opened = parent;
  }

  /** Write callbacks not yet run: `process()` runs them, as xterm.js does once it has parsed. */
  pendingWrites: (() => void)[] = [];

  write(data: Uint8Array | string, written?: () => void): void {
    this.written += typeof data === "string" ? data : new TextDecoder().decode(data);
    if (written) this.pendingWrites.push(written);
  }

  process(): void {
    for (const written of this.pendingWrites.splice(0)) written();
  }

  onData(handler: (data: string) => void): void {
    this.#onData = handler;
  }

  fit(): void {}

  focus(): void {
    this.focused += 1;
  }

  search(text: string): boolean {
    return this.written.includes(text);
  }

  dispose(): void {
    this.disposed = true;
  }

  typeKeys(data: string): void {
    this.#onData?.(data);
  }
}

function subscribe<T>(handlers: Map<number, Set<Handler<T>>>, hostId: number, handler: Handler<T>): UnlistenFn {
  let set = handlers.get(hostId);
  if (!set) {
    set = new Set();
    handlers.set(hostId, set);
  }
  set.add(handler);
  return () => void set.delete(handler);
}
