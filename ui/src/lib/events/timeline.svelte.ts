// The events view's filters over the fleet's timeline, newest first, virtualised.
import type { EventRow } from "$lib/ipc";
import type { Fleet } from "$lib/fleet/fleet.svelte";
import { VirtualList } from "$lib/virtual/virtual-list.svelte";
import { isAbnormal } from "./timeline";

export const EVENT_ROW_HEIGHT = 28;
export const EVENT_HEADER_HEIGHT = 30;

export interface EventFilter {
  host: string | null;
  type: string | null;
  /** Matched (case-insensitively) against the action and the actor's name and id. */
  search: string;
  abnormalOnly: boolean;
}

export function matchesEvent(event: EventRow, filter: EventFilter): boolean {
  if (filter.host !== null && event.host !== filter.host) return false;
  if (filter.type !== null && event.type !== filter.type) return false;
  if (filter.abnormalOnly && !isAbnormal(event)) return false;
  const search = filter.search.trim().toLowerCase();
  if (search === "") return true;
  return (
    event.action.toLowerCase().includes(search) ||
    (event.actor_name?.toLowerCase().includes(search) ?? false) ||
    (event.actor_id?.toLowerCase().startsWith(search) ?? false)
  );
}

/** Newest first, filtered. */
export function visibleEvents(events: readonly EventRow[], filter: EventFilter): EventRow[] {
  const rows: EventRow[] = [];
  for (let index = events.length - 1; index >= 0; index--) {
    if (matchesEvent(events[index], filter)) rows.push(events[index]);
  }
  return rows;
}

export class EventsTimeline {
  host = $state<string | null>(null);
  type = $state<string | null>(null);
  search = $state("");
  abnormalOnly = $state(false);

  readonly #fleet: Fleet;

  /** Every event type seen, for the type filter. */
  readonly types: readonly string[];
  readonly rows: readonly EventRow[];

  readonly list: VirtualList;

  constructor(fleet: Fleet) {
    this.#fleet = fleet;
    this.types = $derived([...new Set(fleet.events.map((event) => event.type))].sort());
    this.rows = $derived(
      visibleEvents(fleet.events, { host: this.host, type: this.type, search: this.search, abnormalOnly: this.abnormalOnly }),
    );
    this.list = new VirtualList({ rowHeight: EVENT_ROW_HEIGHT, headerHeight: EVENT_HEADER_HEIGHT, overscan: 10, count: () => this.rows.length });
  }

  /** Narrows to one host and loads that host's own recent history. */
  selectHost(host: string | null): void {
    this.host = host;
    this.list.scrollToTop();
    if (host !== null) void this.#fleet.loadHostEvents(host);
  }
}
