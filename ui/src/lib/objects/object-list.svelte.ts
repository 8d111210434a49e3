// A view of one kind of Docker object (images, networks, volumes) over the whole fleet: every
// host's rows (HostRows: read on open, re-read per host on `host://{id}/objects`), shown per host
// or one row per object across hosts, narrowed by a filter box and a host, in a virtualised list.
import type { Fleet } from "$lib/fleet/fleet.svelte";
import { VirtualList } from "$lib/virtual/virtual-list.svelte";
import { HostRows, type HostRowsOptions } from "./host-rows.svelte";
import { filterWords, type Scope } from "./filter";

export const OBJECT_ROW_HEIGHT = 34;
export const OBJECT_HEADER_HEIGHT = 30;

/** What a kind of object brings: how to read it, group it across hosts, and match the filter. */
export interface ObjectKind<Row, Across> {
  read(host: string | null): Promise<Row[]>;
  /** One row per object across hosts; `fleet` is every host's name, in the fleet's order. */
  group(rows: readonly Row[], fleet: readonly string[]): Across[];
  matches(item: Row | Across, words: readonly string[]): boolean;
}

export class ObjectList<Row extends { host: string }, Across extends { hosts: string[] }> {
  scope = $state<Scope>("host");
  filter = $state("");
  /** Only this host's rows (per host), or only objects this host has (across); null: all. */
  host = $state<string | null>(null);

  readonly source: HostRows<Row>;
  /** Per host: one row per host and object that passes the filters. */
  readonly rows: readonly Row[];
  /** Across hosts: one row per object that passes the filters. */
  readonly across: readonly Across[];
  /** Rows in the current scope before the filters. */
  readonly total: number;
  /** Rows in the current scope after them. */
  readonly shown: number;
  readonly filtered: boolean;
  readonly list: VirtualList;

  protected readonly fleet: Fleet;
  readonly #words: readonly string[];
  readonly #grouped: readonly Across[];

  constructor(fleet: Fleet, kind: ObjectKind<Row, Across>, options: HostRowsOptions = {}) {
    this.fleet = fleet;
    this.source = new HostRows(fleet, (host) => kind.read(host), options);
    this.#words = $derived(filterWords(this.filter));
    this.#grouped = $derived(kind.group(this.source.rows, this.fleet.hosts.map((host) => host.name)));
    this.rows = $derived(this.source.rows.filter((row) => (this.host === null || row.host === this.host) && kind.matches(row, this.#words)));
    this.across = $derived(this.#grouped.filter((item) => (this.host === null || item.hosts.includes(this.host)) && kind.matches(item, this.#words)));
    this.total = $derived(this.scope === "host" ? this.source.rows.length : this.#grouped.length);
    this.shown = $derived(this.scope === "host" ? this.rows.length : this.across.length);
    this.filtered = $derived(this.#words.length > 0 || this.host !== null);
    this.list = new VirtualList({
      rowHeight: OBJECT_ROW_HEIGHT,
      headerHeight: OBJECT_HEADER_HEIGHT,
      overscan: 8,
      count: () => this.shown,
    });
  }

  /** Reads every host's rows and follows their changes; returns the stop (a view's unmount). */
  start(): () => void {
    return this.source.start();
  }

  setScope(scope: Scope): void {
    this.scope = scope;
    this.list.scrollToTop();
  }

  clearFilters(): void {
    this.filter = "";
    this.host = null;
  }
}
