// The IP pools view: pools with how full they are, one pool's address map, and the conflicts
// and orphans of every pool against the mirror, each with its one-click repair where one is safe.
import { toIpcError, type AddressRow, type Backend, type CheckReport, type Finding, type IpcError, type NetReport, type PoolSummary, type RunOutcome } from "$lib/ipc";

export type CellState = "free" | "leased" | "quarantined" | "reserved" | "conflict" | "unusable";

export interface Cell {
  ip: string;
  state: CellState;
  /** Who holds it, why it is reserved, or what the conflict is. */
  note: string;
}

/** Addresses per page of the map: one /24. */
export const PAGE = 256;

/** An IPv4 address as a number; null for anything else. */
export function ipv4ToNumber(ip: string): number | null {
  const parts = ip.split(".");
  if (parts.length !== 4) return null;
  let n = 0;
  for (const part of parts) {
    const octet = Number(part);
    if (!/^\d{1,3}$/.test(part) || octet > 255) return null;
    n = n * 256 + octet;
  }
  return n;
}

export function numberToIpv4(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join(".");
}

/** First address and size of an IPv4 CIDR; null for IPv6 (its map lists used addresses only). */
export function ipv4Range(cidr: string): { first: number; size: number } | null {
  const [ip, bits] = cidr.split("/");
  const first = ipv4ToNumber(ip);
  const prefix = Number(bits);
  if (first === null || !Number.isInteger(prefix) || prefix < 0 || prefix > 32) return null;
  return { first, size: 2 ** (32 - prefix) };
}

/** How many map pages a pool has (0 for IPv6). */
export function pageCount(pool: PoolSummary): number {
  const range = ipv4Range(pool.subnet);
  return range ? Math.ceil(range.size / PAGE) : 0;
}

/** Page `page` of a pool's IPv4 address map: each address's state, conflicts on top. */
export function mapPage(pool: PoolSummary, rows: readonly AddressRow[], conflicts: readonly Finding[], page: number): Cell[] {
  const range = ipv4Range(pool.subnet);
  if (!range) return [];
  const byIp = new Map(rows.map((row) => [row.ip, row]));
  const conflicting = new Map(conflicts.filter((f) => f.pool === pool.name).map((f) => [f.ip, f.detail]));
  const last = range.first + range.size - 1;
  const start = range.first + page * PAGE;
  const cells: Cell[] = [];
  for (let n = start; n < Math.min(start + PAGE, last + 1); n++) {
    const ip = numberToIpv4(n);
    const row = byIp.get(ip);
    const conflict = conflicting.get(ip);
    if (conflict !== undefined) cells.push({ ip, state: "conflict", note: conflict });
    else if (n === range.first || n === last) cells.push({ ip, state: "unusable", note: "" });
    else if (row) cells.push({ ip, state: row.state, note: holder(row) });
    else cells.push({ ip, state: "free", note: "" });
  }
  return cells;
}

/** "host/container", a reservation's reason, or "". */
export function holder(row: AddressRow): string {
  if (row.state === "reserved") return row.reason ?? "";
  if (row.host && row.container) return `${row.host}/${row.container}`;
  return row.host ?? "";
}

/** Share of the pool taken (leased + quarantined + reserved), 0–1. */
export function usage(pool: PoolSummary): { leased: number; quarantined: number; reserved: number } {
  const size = Math.max(pool.size, 1);
  return { leased: pool.leased / size, quarantined: pool.quarantined / size, reserved: pool.reserved_count / size };
}

/** What the "run a container" form holds. */
export interface RunForm {
  host: string;
  name: string;
  image: string;
  /** The command, split on spaces (empty: the image's). */
  command: string;
  /** Empty: the pool's next free address. */
  ip: string;
  restart: "unless-stopped" | "always" | "on-failure" | "no";
}

export function emptyRunForm(pool: PoolSummary | null): RunForm {
  return { host: pool?.hosts?.[0]?.host ?? "", name: "", image: "", command: "", ip: "", restart: "unless-stopped" };
}

export class IpamView {
  pools = $state.raw<readonly PoolSummary[]>([]);
  selected = $state<string | null>(null);
  addresses = $state.raw<readonly AddressRow[]>([]);
  report = $state.raw<CheckReport>({ conflicts: [], orphans: [] });
  page = $state(0);
  loading = $state(false);
  /** The last failure, kept whole so the view words it in the current language. */
  error = $state.raw<IpcError | null>(null);
  /** Findings being repaired, by `pool ip kind`. */
  repairing = $state.raw<ReadonlySet<string>>(new Set());
  /** The last `net apply` of the selected pool, per host. */
  netReports = $state.raw<readonly NetReport[] | null>(null);
  applying = $state(false);
  form = $state<RunForm>(emptyRunForm(null));
  running = $state(false);
  /** The last container run, or why it failed. */
  ran = $state.raw<RunOutcome | { error: IpcError } | null>(null);

  readonly pool: PoolSummary | null = $derived(this.pools.find((p) => p.name === this.selected) ?? null);
  readonly cells: Cell[] = $derived(this.pool ? mapPage(this.pool, this.addresses, this.report.conflicts, this.page) : []);

  readonly #backend: Backend;

  constructor(backend: Backend) {
    this.#backend = backend;
  }

  /** Reads the pools and the check, and the selected pool's addresses (the first pool's if none). */
  async load(): Promise<void> {
    this.loading = true;
    this.error = null;
    try {
      const [pools, report] = await Promise.all([this.#backend.ipamPools(), this.#backend.ipamCheck()]);
      this.pools = pools;
      this.report = report;
      if (!pools.some((p) => p.name === this.selected)) {
        this.selected = pools[0]?.name ?? null;
        this.page = 0;
        this.form = emptyRunForm(this.pool);
      }
      this.addresses = this.selected ? await this.#backend.ipamAddresses(this.selected) : [];
    } catch (rejection) {
      this.error = toIpcError(rejection);
    } finally {
      this.loading = false;
    }
  }

  async select(name: string): Promise<void> {
    if (name === this.selected) return;
    this.selected = name;
    this.page = 0;
    this.addresses = [];
    this.netReports = null;
    this.ran = null;
    this.form = emptyRunForm(this.pool);
    try {
      const rows = await this.#backend.ipamAddresses(name);
      if (this.selected === name) this.addresses = rows;
    } catch (rejection) {
      this.error = toIpcError(rejection);
    }
  }

  /** Shows the map page holding `ip` (for a finding's "show"). */
  reveal(ip: string): void {
    const pool = this.pool;
    const range = pool && ipv4Range(pool.subnet);
    const n = ipv4ToNumber(ip);
    if (!range || n === null || n < range.first || n >= range.first + range.size) return;
    this.page = Math.floor((n - range.first) / PAGE);
  }

  /** Creates (or checks) the selected pool's network on each of its hosts. */
  async applyNetwork(): Promise<void> {
    const pool = this.selected;
    if (!pool || this.applying) return;
    this.applying = true;
    this.error = null;
    try {
      this.netReports = await this.#backend.ipamNetApply(pool);
    } catch (rejection) {
      this.error = toIpcError(rejection);
    } finally {
      this.applying = false;
    }
  }

  /** Runs the form's container on its host with an address from the selected pool. */
  async run(): Promise<void> {
    const pool = this.selected;
    if (!pool || this.running) return;
    const form = this.form;
    this.running = true;
    this.ran = null;
    try {
      this.ran = await this.#backend.ipamRun({
        host: form.host,
        pool,
        ip: form.ip.trim() === "" ? null : form.ip.trim(),
        name: form.name.trim(),
        image: form.image.trim(),
        cmd: form.command.trim() === "" ? [] : form.command.trim().split(/\s+/),
        env: [],
        restart: form.restart,
      });
      this.form = { ...emptyRunForm(this.pool), host: form.host };
      await this.load();
      const ran = this.ran;
      if (ran && "ip" in ran) this.reveal(ran.ip);
    } catch (rejection) {
      this.ran = { error: toIpcError(rejection) };
    } finally {
      this.running = false;
    }
  }

  async repair(finding: Finding): Promise<void> {
    const key = `${finding.pool} ${finding.ip} ${finding.kind}`;
    if (this.repairing.has(key)) return;
    this.repairing = new Set([...this.repairing, key]);
    try {
      await this.#backend.ipamRepair(finding);
      await this.load();
    } catch (rejection) {
      this.error = toIpcError(rejection);
    } finally {
      const next = new Set(this.repairing);
      next.delete(key);
      this.repairing = next;
    }
  }
}
