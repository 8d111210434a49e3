// One kind of a host's Docker objects (images, networks or volumes) for every host, as the mirror
// holds them: read whole when a view opens, then one host at a time when `host://{id}/objects`
// says that host's may have changed (there is no patch for objects: the event only names the
// host). Every change within `debounceMs` of the first causes one read of that host. The mirror
// is local: the rows read offline as well.
import { toIpcError, type IpcError, type ObjectsChanged } from "$lib/ipc";
import type { Fleet } from "$lib/fleet/fleet.svelte";

/** Changes of one host within this long of the first cause one read of it. */
export const RELOAD_DEBOUNCE_MS = 200;

export interface HostRowsOptions {
  debounceMs?: number;
  /** Runs `run` after `ms`, returning a cancel; tests pass their own. Default: setTimeout. */
  later?: (run: () => void, ms: number) => () => void;
}

function setTimer(run: () => void, ms: number): () => void {
  const timer = setTimeout(run, ms);
  return () => clearTimeout(timer);
}

export class HostRows<T extends { host: string }> {
  /** The rows last read, by host name, in the backend's order. */
  byHost = $state.raw<ReadonlyMap<string, readonly T[]>>(new Map());
  loading = $state(false);
  /** The first read has settled (with rows or an error): the view can say "empty". */
  loaded = $state(false);
  /** Why the last read failed; the rows read before stay. */
  error = $state.raw<IpcError | null>(null);

  /**
   * Every host's rows, hosts in the fleet's order. Once the fleet's hosts are known, the rows of
   * a host no longer in it are left out (removed, or renamed: its new name is read again).
   */
  readonly rows: readonly T[];

  readonly #fleet: Fleet;
  readonly #read: (host: string | null) => Promise<T[]>;
  readonly #debounceMs: number;
  readonly #later: (run: () => void, ms: number) => () => void;
  /** Reads are numbered; a host's rows are only replaced by a read that began later. */
  #reads = 0;
  readonly #written = new Map<string, number>();
  readonly #due = new Map<string, () => void>();
  /** Whole reads not yet answered. */
  #inFlight = 0;
  #stopListening: (() => void) | null = null;

  constructor(fleet: Fleet, read: (host: string | null) => Promise<T[]>, options: HostRowsOptions = {}) {
    this.#fleet = fleet;
    this.#read = read;
    this.#debounceMs = options.debounceMs ?? RELOAD_DEBOUNCE_MS;
    this.#later = options.later ?? setTimer;
    this.rows = $derived.by(() => {
      const byHost = this.byHost;
      const names = this.#fleet.hosts.map((host) => host.name);
      if (!this.#fleet.hostsReady) names.push(...[...byHost.keys()].filter((name) => !names.includes(name)));
      return names.flatMap((name) => byHost.get(name) ?? []);
    });
  }

  /** Listens to every host's objects, then reads all rows; returns the stop (a view's unmount). */
  start(): () => void {
    this.stop();
    const { listening, stop } = this.#fleet.onObjects((change) => this.#onChange(change));
    this.#stopListening = stop;
    void listening.then(
      () => this.reload(),
      (rejection: unknown) => {
        this.error = toIpcError(rejection);
        return this.reload();
      },
    );
    return () => this.stop();
  }

  stop(): void {
    this.#stopListening?.();
    this.#stopListening = null;
    for (const cancel of this.#due.values()) cancel();
    this.#due.clear();
  }

  /** Reads every host's rows. */
  async reload(): Promise<void> {
    const read = ++this.#reads;
    this.#inFlight += 1;
    this.loading = true;
    try {
      const rows = await this.#read(null);
      const grouped = new Map<string, T[]>();
      for (const row of rows) {
        const list = grouped.get(row.host);
        if (list) list.push(row);
        else grouped.set(row.host, [row]);
      }
      const next = new Map(this.byHost);
      for (const name of new Set([...next.keys(), ...grouped.keys()])) {
        if ((this.#written.get(name) ?? 0) > read) continue;
        this.#written.set(name, read);
        next.set(name, grouped.get(name) ?? []);
      }
      this.byHost = next;
      this.error = null;
    } catch (rejection) {
      this.error = toIpcError(rejection);
    } finally {
      this.#inFlight -= 1;
      this.loading = this.#inFlight > 0;
      this.loaded = true;
    }
  }

  /** Reads one host's rows again. */
  async reloadHost(host: string): Promise<void> {
    const read = ++this.#reads;
    try {
      const rows = await this.#read(host);
      if ((this.#written.get(host) ?? 0) > read) return;
      this.#written.set(host, read);
      const next = new Map(this.byHost);
      next.set(host, rows);
      this.byHost = next;
      this.error = null;
    } catch (rejection) {
      // A host removed meanwhile has nothing left to show.
      if (this.#fleet.hostsByName.has(host)) this.error = toIpcError(rejection);
    }
  }

  #onChange(change: ObjectsChanged): void {
    if (this.#stopListening === null || this.#due.has(change.host)) return;
    this.#due.set(
      change.host,
      this.#later(() => {
        this.#due.delete(change.host);
        void this.reloadHost(change.host);
      }, this.#debounceMs),
    );
  }
}
