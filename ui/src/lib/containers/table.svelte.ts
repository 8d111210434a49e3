// The containers table's state: search, filters, sort, selection and the open detail, over the
// fleet's rows; the rows it shows are derived, never copied by hand.
import type { ContainerRow } from "$lib/ipc";
import { handleListKey } from "$lib/virtual/keys";
import type { Fleet } from "$lib/fleet/fleet.svelte";
import { rowKey } from "$lib/fleet/patch";
import { VirtualList } from "$lib/virtual/virtual-list.svelte";
import { filterRows, parseQuery, sortRows, type SortKey, type SortOrder } from "./query";

export const ROW_HEIGHT = 30;
export const HEADER_HEIGHT = 32;

/** Sorting by these starts with the newest first. */
const NEWEST_FIRST: ReadonlySet<SortKey> = new Set<SortKey>(["created", "status"]);

export class ContainersTable {
  search = $state("");
  /** Empty: every state. */
  states = $state.raw<ReadonlySet<string>>(new Set());
  /** null: every host. */
  host = $state<string | null>(null);
  sort = $state.raw<SortOrder>({ key: "name", descending: false });
  selectedKey = $state<string | null>(null);
  /** The container whose detail is open. */
  openKey = $state<string | null>(null);

  readonly #fleet: Fleet;

  readonly query = $derived(parseQuery(this.search));
  /** Rows matching search and filters, in fleet order. */
  readonly filtered: readonly ContainerRow[];
  /** What the table shows, in order. */
  readonly rows: readonly ContainerRow[];
  readonly selectedIndex: number;
  /** The open container's current row; null once it is gone from the mirror. */
  readonly openRow: ContainerRow | null;
  /** Container counts per state over the rows matching everything but the state filter. */
  readonly stateCounts: ReadonlyMap<string, number>;

  readonly list: VirtualList;

  constructor(fleet: Fleet) {
    this.#fleet = fleet;
    const hosts = () => (this.host === null ? new Set<string>() : new Set([this.host]));
    this.filtered = $derived(filterRows(fleet.containers, { query: this.query, states: this.states, hosts: hosts() }));
    this.rows = $derived(sortRows(this.filtered, this.sort));
    this.selectedIndex = $derived(this.selectedKey === null ? -1 : this.rows.findIndex((row) => rowKey(row) === this.selectedKey));
    this.openRow = $derived(this.openKey === null ? null : (fleet.containers.find((row) => rowKey(row) === this.openKey) ?? null));
    this.stateCounts = $derived.by(() => {
      const rows =
        this.states.size === 0 ? this.filtered : filterRows(fleet.containers, { query: this.query, states: new Set(), hosts: hosts() });
      const counts = new Map<string, number>();
      for (const row of rows) counts.set(row.state, (counts.get(row.state) ?? 0) + 1);
      return counts;
    });
    this.list = new VirtualList({ rowHeight: ROW_HEIGHT, headerHeight: HEADER_HEIGHT, overscan: 10, count: () => this.rows.length });
  }

  get total(): number {
    return this.#fleet.containers.length;
  }

  toggleSort(key: SortKey): void {
    this.sort = this.sort.key === key ? { key, descending: !this.sort.descending } : { key, descending: NEWEST_FIRST.has(key) };
  }

  toggleState(state: string): void {
    const next = new Set(this.states);
    if (next.has(state)) next.delete(state);
    else next.add(state);
    this.states = next;
  }

  clearFilters(): void {
    this.search = "";
    this.states = new Set();
    this.host = null;
  }

  /** Shows one host's containers (from the fleet view). */
  showHost(host: string): void {
    this.clearFilters();
    this.host = host;
    this.list.scrollToTop();
  }

  select(index: number): void {
    if (this.rows.length === 0) return;
    const clamped = Math.min(Math.max(0, index), this.rows.length - 1);
    this.selectedKey = rowKey(this.rows[clamped]);
    this.list.reveal(clamped);
  }

  /** Moves the selection by `delta` rows (from the top when nothing is selected). */
  move(delta: number): void {
    if (this.selectedIndex === -1) this.select(delta < 0 ? this.rows.length - 1 : 0);
    else this.select(this.selectedIndex + delta);
  }

  open(key: string | null = this.selectedKey): void {
    if (key !== null) this.openKey = key;
  }

  close(): void {
    this.openKey = null;
  }

  /** Keyboard navigation of the grid; true when the key was handled. */
  handleKey(key: string): boolean {
    return handleListKey(key, {
      count: this.rows.length,
      pageSize: this.list.pageSize,
      hasSelection: this.selectedIndex !== -1,
      isOpen: this.openKey !== null,
      move: (by) => this.move(by),
      select: (index) => this.select(index),
      open: () => this.open(),
      close: () => this.close(),
    });
  }

}
