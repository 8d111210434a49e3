// The fleet's event timeline: merging (dedupe by seq, time order, a cap) and what counts as an
// abnormal exit. Pure.
import type { EventRow } from "$lib/ipc";

/** The most events the UI keeps; the oldest go first. */
export const EVENTS_KEPT = 5_000;

/** Time order across hosts (ms: exact in a number, unlike time_ns); `seq` breaks ties. */
export function compareEvents(a: EventRow, b: EventRow): number {
  return a.time_ms - b.time_ms || a.seq - b.seq;
}

/**
 * `current` (already in order) plus `incoming`, without the seqs already held, in time order,
 * keeping the newest `cap`. Returns `current` itself when nothing new arrived.
 */
export function mergeEvents(current: readonly EventRow[], incoming: readonly EventRow[], cap = EVENTS_KEPT): readonly EventRow[] {
  if (incoming.length === 0) return current;
  const seen = new Set<number>();
  for (const event of current) seen.add(event.seq);
  const fresh: EventRow[] = [];
  for (const event of incoming) {
    if (seen.has(event.seq)) continue;
    seen.add(event.seq);
    fresh.push(event);
  }
  if (fresh.length === 0) return current;
  fresh.sort(compareEvents);
  const last = current.at(-1);
  // The usual case, live appends newer than everything held, needs no full sort.
  const merged = last === undefined || compareEvents(last, fresh[0]) < 0 ? current.concat(fresh) : current.concat(fresh).sort(compareEvents);
  return merged.length > cap ? merged.slice(merged.length - cap) : merged;
}

/** Drops the events of hosts that left the fleet. */
export function withoutHosts(events: readonly EventRow[], hostIds: ReadonlySet<number>): readonly EventRow[] {
  if (hostIds.size === 0 || !events.some((event) => hostIds.has(event.host_id))) return events;
  return events.filter((event) => !hostIds.has(event.host_id));
}

/** The exit code a container `die` event carries, if any. */
export function exitCodeOf(event: EventRow): string | null {
  return event.attributes.exitCode ?? null;
}

/** A container that died with a non-zero exit code, or was killed by the OOM killer. */
export function isAbnormal(event: EventRow): boolean {
  if (event.type !== "container") return false;
  if (event.action === "oom") return true;
  if (event.action !== "die") return false;
  const code = exitCodeOf(event);
  return code !== null && code.trim() !== "0";
}
