// The UI's only door to the Rust side: nothing else under src/ imports @tauri-apps/api.
// Types come from ./types (shapes generated from Rust); errors always arrive as IpcError.
import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import { Channel } from "@tauri-apps/api/core";
import { commands } from "./bindings";
import type {
  AppPlan,
  AppRow,
  AppStatus,
  HistoryEntry,
  PlannedReplica,
  Removed,
  RevisionRow,
  RolloutOutcome,
  RolloutProgress,
  AddressRow,
  AuditQuery,
  AuditRow,
  CheckReport,
  Finding,
  NetReport,
  PoolSummary,
  RunOutcome,
  RunSpec,
  ContainerAction,
  ContainerDetail,
  ContainerRow,
  ContainersPatch,
  EventRow,
  HostSpec,
  ExecSpec,
  HostSummary,
  ImageRemoved,
  ImageRow,
  NetworkRow,
  ObjectsChanged,
  Pruned,
  Transfer,
  VolumeRow,
  LogEvent,
  LogSpec,
  SavedLog,
  ShellInfo,
  ShellMessage,
  TestResult,
  UiStep,
} from "./types";

export * from "./types";

/**
 * The one error shape that crosses the IPC boundary: `{ code, message, fields, detail }`.
 * `code` and `fields` are what the UI words in its own language (`describeError` in
 * `$lib/errors`); `detail` is the daemon's or the system's own words, shown beneath as they are;
 * `message` is the core's English, for a code the UI does not know.
 */
export class IpcError extends Error {
  readonly code: string;
  readonly fields: Readonly<Record<string, string>>;
  readonly detail: string | null;

  constructor(code: string, message: string, fields: Record<string, string> = {}, detail: string | null = null) {
    super(message);
    this.name = "IpcError";
    this.code = code;
    this.fields = fields;
    this.detail = detail;
  }
}

/** Everything the UI asks of the backend, and the events it hears. Tests supply another one. */
export interface Backend {
  fleet(): Promise<HostSummary[]>;
  containers(): Promise<ContainerRow[]>;
  containerDetail(host: string, id: string): Promise<ContainerDetail>;
  events(host: string | null, limit: number): Promise<EventRow[]>;
  containerAction(host: string, id: string, action: ContainerAction): Promise<void>;
  testConnection(spec: HostSpec): Promise<TestResult>;
  trustHostKey(spec: HostSpec, fingerprint: string): Promise<void>;
  addHost(spec: HostSpec): Promise<HostSummary>;
  editHost(name: string, spec: HostSpec): Promise<HostSummary>;
  removeHost(name: string): Promise<void>;
  /** The fleet has been painted with data; `steps` are the page's own start-up marks. */
  uiPainted(steps: UiStep[]): Promise<void>;

  /** Opens a shell in a container; `sink` hears its output bytes, then its end. Returns its id. */
  shellOpen(host: string, container: string, spec: ExecSpec, sink: (message: ShellMessage) => void): Promise<number>;
  /** Sends a session's recent output, then what follows, to a new sink (e.g. after a reload). */
  shellAttach(session: number, sink: (message: ShellMessage) => void): Promise<void>;
  shellInput(session: number, data: string): Promise<void>;
  shellResize(session: number, rows: number, cols: number): Promise<void>;
  /** The terminal has processed `bytes` more of the session's output (flow control). */
  shellAck(session: number, bytes: number): Promise<void>;
  shellClose(session: number): Promise<void>;
  /** The shell sessions the backend holds (they outlive a reload of the page). */
  shellList(): Promise<ShellInfo[]>;
  /** Reads a container's log (following it with `spec.follow`); `sink` hears batches, then the end. */
  logsOpen(host: string, container: string, spec: LogSpec, sink: (event: LogEvent) => void): Promise<number>;
  logsClose(stream: number): Promise<void>;
  /** Saves that part of a container's log, read afresh from its host, to a new file in Downloads. */
  logsSave(host: string, container: string, spec: LogSpec): Promise<SavedLog>;
  /** IP pools with how full they are. */
  ipamPools(): Promise<PoolSummary[]>;
  /** A pool's addresses that are not free. */
  ipamAddresses(pool: string): Promise<AddressRow[]>;
  /** Conflicts and orphans of every pool against the mirror. */
  ipamCheck(): Promise<CheckReport>;
  /** Applies the safe repair a finding offers. */
  ipamRepair(finding: Finding): Promise<void>;
  /** Creates the pool's network on each of its hosts, or says how the one there differs. */
  ipamNetApply(pool: string): Promise<NetReport[]>;
  /** Runs a container on a pool's host with a fixed address leased from the pool. */
  ipamRun(spec: RunSpec): Promise<RunOutcome>;
  /** The newest `query.limit` rows of the audit log that pass every filter given, newest first. */
  audit(query: AuditQuery): Promise<AuditRow[]>;

  /** The mirrored images, one row per host and image (of one host, or of all: `null`). */
  images(host: string | null): Promise<ImageRow[]>;
  /** Starts a pull on `host`; its progress goes on in the backend. Returns its transfer id. */
  imagePull(host: string, image: string): Promise<number>;
  /** Starts pushing `image` from `source` to each target host: one transfer id per target. */
  imagePush(source: string, image: string, targets: string[]): Promise<number[]>;
  /** Starts a build of the folder `dir` (on this computer) on `host`, tagged `tag`. */
  imageBuild(host: string, tag: string, dir: string): Promise<number>;
  /** Removes an image (its id or a tag); refused with `in_use` while containers use it, unless `force`. */
  imageRemove(host: string, image: string, force: boolean): Promise<ImageRemoved>;
  /** Removes dangling images (`all`: every image no container uses). */
  imagePrune(host: string, all: boolean): Promise<Pruned>;
  /** The pulls, pushes and builds the backend holds, running and recently ended. */
  transfers(): Promise<Transfer[]>;
  transferCancel(id: number): Promise<void>;
  networks(host: string | null): Promise<NetworkRow[]>;
  /** Refused with `pool_network` for an IP pool's network, `in_use` while containers are attached. */
  networkRemove(host: string, name: string): Promise<void>;
  networkPrune(host: string): Promise<Pruned>;
  volumes(host: string | null): Promise<VolumeRow[]>;
  /** Refused with `in_use` while containers use it, unless `force`. */
  volumeRemove(host: string, name: string, force: boolean): Promise<void>;
  volumePrune(host: string): Promise<Pruned>;

  /** Every app environment (desired, running, healthy, deployed revision), then the compose projects. */
  apps(): Promise<AppRow[]>;
  /** Where each replica of `env` would go, and why every other host is not used (changes nothing). */
  appPlan(name: string, env: string): Promise<AppPlan>;
  /** Each replica of `env` against the deployed revision, with its drift. */
  appStatus(name: string, env: string): Promise<AppStatus>;
  /** Every revision of the app, newest first. */
  appRevisions(name: string): Promise<RevisionRow[]>;
  /** The app's changes from the audit log. */
  appHistory(name: string): Promise<HistoryEntry[]>;
  /**
   * Deploys the plan the view showed (`expect`); refused with `plan_changed` when it is stale.
   * Answers when the rollout ends; its steps arrive meanwhile through `onAppProgress`.
   */
  appDeploy(name: string, env: string, expect: PlannedReplica[] | null): Promise<RolloutOutcome>;
  appScale(name: string, env: string, replicas: number): Promise<RolloutOutcome>;
  /** Back to revision `to` (`null`: the previous one). */
  appRollback(name: string, env: string, to: number | null): Promise<RolloutOutcome>;
  /** Removes the environment's containers (their leases go into quarantine). */
  appRemove(name: string, env: string): Promise<Removed[]>;

  onHostContainers(hostId: number, handler: (patch: ContainersPatch) => void): Promise<UnlistenFn>;
  onHostStatus(hostId: number, handler: (host: HostSummary) => void): Promise<UnlistenFn>;
  onHostEvents(hostId: number, handler: (events: EventRow[]) => void): Promise<UnlistenFn>;
  onFleet(handler: (hosts: HostSummary[]) => void): Promise<UnlistenFn>;
  /** A host's images, networks or volumes may have changed: reload that host's rows. */
  onHostObjects(hostId: number, handler: (change: ObjectsChanged) => void): Promise<UnlistenFn>;
  /** A transfer progressed (at most every 150 ms each) or ended: its whole state. */
  onTransfer(handler: (transfer: Transfer) => void): Promise<UnlistenFn>;
  /** A step of one replica of a deploy, scale or rollback started, ended or failed. */
  onAppProgress(handler: (progress: RolloutProgress) => void): Promise<UnlistenFn>;
}

function hasErrorShape(value: unknown): value is { code: string; message: string; fields?: unknown; detail?: unknown } {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { code?: unknown }).code === "string" &&
    typeof (value as { message?: unknown }).message === "string"
  );
}

/** The string-valued entries of `value` (an older backend or a fake may send none). */
function stringFields(value: unknown): Record<string, string> {
  const fields: Record<string, string> = {};
  if (typeof value !== "object" || value === null || Array.isArray(value)) return fields;
  for (const [name, field] of Object.entries(value)) {
    if (typeof field === "string") fields[name] = field;
  }
  return fields;
}

/** Turns whatever `invoke` rejected with into an IpcError. */
export function toIpcError(rejection: unknown): IpcError {
  if (rejection instanceof IpcError) return rejection;
  if (hasErrorShape(rejection)) {
    const detail = typeof rejection.detail === "string" && rejection.detail !== "" ? rejection.detail : null;
    return new IpcError(rejection.code, rejection.message, stringFields(rejection.fields), detail);
  }
  // Not from a command: no Tauri runtime (a plain browser), a missing command, a bad argument.
  const message = rejection instanceof Error ? rejection.message : String(rejection);
  return new IpcError("ipc", message);
}

/** Awaits a generated command, turning its rejection into an IpcError. */
async function call<T>(pending: Promise<T>): Promise<T> {
  try {
    return await pending;
  } catch (rejection) {
    throw toIpcError(rejection);
  }
}

/** A channel the backend streams a session into, as the id string its command takes. */
function channel(sink: (message: ShellMessage) => void): string {
  const output = new Channel<ShellMessage>();
  output.onmessage = sink;
  return output.toJSON();
}

function on<T>(name: string, handler: (payload: T) => void): Promise<UnlistenFn> {
  return listen<T>(name, (event) => handler(event.payload));
}

export const tauriBackend: Backend = {
  fleet: () => call(commands.fleet()),
  containers: () => call(commands.containers()),
  containerDetail: (host, id) => call(commands.containerDetail(host, id)),
  events: (host, limit) => call(commands.events(host, limit)),
  containerAction: async (host, id, action) => {
    await call(commands.containerAction(host, id, action));
  },
  testConnection: (spec) => call(commands.testConnection(spec)),
  trustHostKey: async (spec, fingerprint) => {
    await call(commands.trustHostKey(spec, fingerprint));
  },
  addHost: (spec) => call(commands.addHost(spec)),
  editHost: (name, spec) => call(commands.editHost(name, spec)),
  removeHost: async (name) => {
    await call(commands.removeHost(name));
  },
  uiPainted: async (steps) => {
    await call(commands.uiPainted(steps));
  },
  shellOpen: (host, container, spec, sink) => call(commands.shellOpen({ host, container, spec, output: channel(sink) })),
  shellAttach: async (session, sink) => {
    await call(commands.shellAttach({ session, output: channel(sink) }));
  },
  shellInput: async (session, data) => {
    await call(commands.shellInput(session, data));
  },
  shellAck: async (session, bytes) => {
    await call(commands.shellAck(session, bytes));
  },
  shellResize: async (session, rows, cols) => {
    await call(commands.shellResize(session, rows, cols));
  },
  shellClose: async (session) => {
    await call(commands.shellClose(session));
  },
  shellList: () => call(commands.shells()),
  logsOpen: (host, container, spec, sink) => {
    const output = new Channel<LogEvent>();
    output.onmessage = sink;
    return call(commands.logsOpen(host, container, spec, output));
  },
  logsClose: async (stream) => {
    await call(commands.logsClose(stream));
  },
  logsSave: (host, container, spec) => call(commands.logsSave(host, container, spec)),
  ipamPools: () => call(commands.ipamPools()),
  ipamAddresses: (pool) => call(commands.ipamAddresses(pool)),
  ipamCheck: () => call(commands.ipamCheck()),
  ipamRepair: async (finding) => {
    await call(commands.ipamRepair(finding));
  },
  ipamNetApply: (pool) => call(commands.ipamNetApply(pool)),
  ipamRun: (spec) => call(commands.ipamRun(spec)),
  audit: (query) => call(commands.audit(query)),
  images: (host) => call(commands.images(host)),
  imagePull: (host, image) => call(commands.imagePull(host, image)),
  imagePush: (source, image, targets) => call(commands.imagePush(source, image, targets)),
  imageBuild: (host, tag, dir) => call(commands.imageBuild(host, tag, dir)),
  imageRemove: (host, image, force) => call(commands.imageRemove(host, image, force)),
  imagePrune: (host, all) => call(commands.imagePrune(host, all)),
  transfers: () => call(commands.transfers()),
  transferCancel: async (id) => {
    await call(commands.transferCancel(id));
  },
  networks: (host) => call(commands.networks(host)),
  networkRemove: async (host, name) => {
    await call(commands.networkRemove(host, name));
  },
  networkPrune: (host) => call(commands.networkPrune(host)),
  volumes: (host) => call(commands.volumes(host)),
  volumeRemove: async (host, name, force) => {
    await call(commands.volumeRemove(host, name, force));
  },
  volumePrune: (host) => call(commands.volumePrune(host)),
  apps: () => call(commands.apps()),
  appPlan: (name, env) => call(commands.appPlan(name, env)),
  appStatus: (name, env) => call(commands.appStatus(name, env)),
  appRevisions: (name) => call(commands.appRevisions(name)),
  appHistory: (name) => call(commands.appHistory(name)),
  appDeploy: (name, env, expect) => call(commands.appDeploy(name, env, expect)),
  appScale: (name, env, replicas) => call(commands.appScale(name, env, replicas)),
  appRollback: (name, env, to) => call(commands.appRollback(name, env, to)),
  appRemove: (name, env) => call(commands.appRemove(name, env)),

  onHostContainers: (hostId, handler) => on(`host://${hostId}/containers`, handler),
  onHostStatus: (hostId, handler) => on(`host://${hostId}/status`, handler),
  onHostEvents: (hostId, handler) => on(`host://${hostId}/events`, handler),
  onFleet: (handler) => on("fleet://hosts", handler),
  onHostObjects: (hostId, handler) => on(`host://${hostId}/objects`, handler),
  onTransfer: (handler) => on("transfers://update", handler),
  onAppProgress: (handler) => on("apps://progress", handler),
};

export const backend: Backend = tauriBackend;
