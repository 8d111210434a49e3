// The activity log's state: filters, the rows read for them (newest first), their lines, the
// selection and the open line. Live: there is no audit event, so a container patch from a host
// (the fleet's own listener) re-reads the newest rows, at most once per `debounceMs`. The store
// is local: the log reads offline as well.
import { toIpcError, type AuditQuery, type AuditRow, type Backend, type ContainersPatch, type IpcError } from "$lib/ipc";
import { handleListKey } from "$lib/virtual/keys";
import type { Fleet } from "$lib/fleet/fleet.svelte";
import { VirtualList } from "$lib/virtual/virtual-list.svelte";
import { ANY, auditQuery, isFiltered, MAX_AUDIT_LIMIT, pairRows, visibleEntries, type ActivityEntry, type ActivityFilter } from "./entries";

/** Rows the view reads at first; "load older" asks for as many again. */
export const ACTIVITY_PAGE = 200;
/** A container's own log in its detail. */
export const CONTAINER_ACTIVITY_LIMIT = 50;
/** Patches within this long of the first one cause one read. */
export const REFRESH_DEBOUNCE_MS = 500;
export const ACTIVITY_ROW_HEIGHT = 30;
export const ACTIVITY_HEADER_HEIGHT = 30;

export interface ActivityOptions {
  /** Filters under the user's, always applied (a container's log: `object` = its id). */
  fixed?: Partial<ActivityFilter>;
  /** Rows the first read asks for; "load older" adds as many. */
  page?: number;
  /** Only this host's patches refresh the log (a container's log); default: every host's. */
  hostId?: number;
  debounceMs?: number;
  /** Runs `run` after `ms`, returning a cancel; tests pass their own. Default: setTimeout. */
  later?: (run: () => void, ms: number) => () => void;
}

function setTimer(run: () => void, ms: number): () => void {
  const timer = setTimeout(run, ms);
  return () => clearTimeout(timer);
}

export class ActivityLog {
  /** The user's filters (the fixed ones are not among them). */
  filter = $state.raw<ActivityFilter>(ANY);
  /** The rows last read, newest first. */
  rows = $state.raw<readonly AuditRow[]>([]);
  limit: number = $state(ACTIVITY_PAGE);
  loading = $state(false);
  /** A read has settled (with rows or an error): the view can say "empty". */
  loaded = $state(false);
  /** Why the last read failed; the rows of the one before stay. */
  error = $state.raw<IpcError | null>(null);
  selectedKey = $state<number | null>(null);
  /** The line whose detail is open. */
  openKey = $state<number | null>(null);

  readonly query: AuditQuery;
  readonly entries: readonly ActivityEntry[];
  readonly selectedIndex: number;
  readonly openEntry: ActivityEntry | null;
  /** The store may hold older rows than those read (a full page came back). */
  readonly more: boolean;
  readonly filtered: boolean;
  readonly list: VirtualList;

  readonly #backend: Backend;
  readonly #fleet: Fleet;
  readonly #fixed: Partial<ActivityFilter>;
  readonly #page: number;
  readonly #hostId: number | undefined;
  readonly #debounceMs: number;
  readonly #later: (run: () => void, ms: number) => () => void;
  #generation = 0;
  #cancelRefresh: (() => void) | null = null;
  #stopListening: (() => void) | null = null;

  constructor(backend: Backend, fleet: Fleet, options: ActivityOptions = {}) {
    this.#backend = backend;
    this.#fleet = fleet;
    this.#fixed = options.fixed ?? {};
    this.#page = options.page ?? ACTIVITY_PAGE;
    this.#hostId = options.hostId;
    this.#debounceMs = options.debounceMs ?? REFRESH_DEBOUNCE_MS;
    this.#later = options.later ?? setTimer;
    this.limit = this.#page;
    this.query = $derived(auditQuery({ ...this.filter, ...this.#fixed }, this.limit));
    this.entries = $derived(visibleEntries(pairRows(this.rows), this.filter));
    this.selectedIndex = $derived(this.selectedKey === null ? -1 : this.entries.findIndex((line) => line.key === this.selectedKey));
    this.openEntry = $derived(this.openKey === null ? null : (this.entries.find((line) => line.key === this.openKey) ?? null));
    this.more = $derived(this.rows.length >= this.limit && this.limit < MAX_AUDIT_LIMIT);
    this.filtered = $derived(isFiltered(this.filter));
    this.list = new VirtualList({
      rowHeight: ACTIVITY_ROW_HEIGHT,
      headerHeight: ACTIVITY_HEADER_HEIGHT,
      overscan: 10,
      count: () => this.entries.length,
    });
  }

  /** Reads the newest rows and follows the fleet's patches; returns the stop (a view's unmount). */
  start(): () => void {
    this.#stopListening?.();
    this.#stopListening = this.#fleet.onPatch((patch) => this.#onPatch(patch));
    void this.refresh();
    return () => this.stop();
  }

  stop(): void {
    this.#stopListening?.();
    this.#stopListening = null;
    this.#cancelRefresh?.();
    this.#cancelRefresh = null;
  }

  /** Reads the rows the filters ask for; an answer to an older read is dropped. */
  async refresh(): Promise<void> {
    this.#cancelRefresh?.();
    this.#cancelRefresh = null;
    const generation = ++this.#generation;
    const query = this.query;
    this.loading = true;
    try {
      const rows = await this.#backend.audit(query);
      if (generation !== this.#generation) return;
      this.rows = rows;
      this.error = null;
    } catch (rejection) {
      if (generation !== this.#generation) return;
      this.error = toIpcError(rejection);
    } finally {
      if (generation === this.#generation) {
        this.loading = false;
        this.loaded = true;
      }
    }
  }

  /** Narrows (or widens) the log and reads it again from the newest row. */
  setFilter(change: Partial<ActivityFilter>): void {
    this.filter = { ...this.filter, ...change };
    this.limit = this.#page;
    this.list.scrollToTop();
    void this.refresh();
  }

  clearFilters(): void {
    this.setFilter(ANY);
  }

  /** Only the changes of one operation (one click, one command): clicking an op. */
  filterByOp(op: string): void {
    this.setFilter({ op });
  }

  /** Reads another page of older rows. */
  loadOlder(): void {
    if (!this.more) return;
    this.limit = Math.min(this.limit + this.#page, MAX_AUDIT_LIMIT);
    void this.refresh();
  }

  select(index: number): void {
    if (this.entries.length === 0) return;
    const clamped = Math.min(Math.max(0, index), this.entries.length - 1);
    this.selectedKey = this.entries[clamped].key;
    // An open detail follows the selection, so the arrows page through changes.
    if (this.openKey !== null) this.openKey = this.selectedKey;
    this.list.reveal(clamped);
  }

  /** Moves the selection by `delta` lines (from the top when nothing is selected). */
  move(delta: number): void {
    if (this.selectedIndex === -1) this.select(delta < 0 ? this.entries.length - 1 : 0);
    else this.select(this.selectedIndex + delta);
  }

  open(key: number | null = this.selectedKey): void {
    if (key === null) return;
    this.selectedKey = key;
    this.openKey = key;
  }

  close(): void {
    this.openKey = null;
  }

  /** Keyboard navigation of the list; true when the key was handled. */
  handleKey(key: string): boolean {
    return handleListKey(key, {
      count: this.entries.length,
      pageSize: this.list.pageSize,
      hasSelection: this.selectedIndex !== -1,
      isOpen: this.openKey !== null,
      move: (by) => this.move(by),
      select: (index) => this.select(index),
      open: () => this.open(),
      close: () => this.close(),
    });
  }


  /** A host's rows changed: something was done there, so the log may have new rows. */
  #onPatch(patch: ContainersPatch): void {
    if (this.#hostId !== undefined && patch.host_id !== this.#hostId) return;
    const host = this.#fixed.host ?? this.filter.host;
    if (host != null && this.#fleet.hostsById.get(patch.host_id)?.name !== host) return;
    this.#scheduleRefresh();
  }

  /** One read for every patch within `debounceMs` of the first: at most one per interval. */
  #scheduleRefresh(): void {
    if (this.#cancelRefresh !== null || this.#stopListening === null) return;
    this.#cancelRefresh = this.#later(() => {
      this.#cancelRefresh = null;
      void this.refresh();
    }, this.#debounceMs);
  }
}
