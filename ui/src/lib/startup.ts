// Start-up marks: the page's own clock for the steps to its first paint, sent to the backend with
// `uiPainted` (the start-up benchmark prints them with `RUST_LOG=berth::startup=debug`).
import type { UiStep } from "$lib/ipc";

const PREFIX = "berth:";

/** Marks a start-up step now (a no-op where the Performance API is missing). */
export function mark(step: string): void {
  if (typeof performance !== "undefined" && typeof performance.mark === "function") performance.mark(PREFIX + step);
}

/** Every step marked so far, in order. */
export function steps(): UiStep[] {
  if (typeof performance === "undefined" || typeof performance.getEntriesByType !== "function") return [];
  return performance
    .getEntriesByType("mark")
    .filter((entry) => entry.name.startsWith(PREFIX))
    .map((entry) => ({ name: entry.name.slice(PREFIX.length), ms: entry.startTime }));
}

/**
 * Resolves once the frame after now has been painted: a task queued from a frame callback runs
 * after that frame's paint.
 */
export function afterNextPaint(): Promise<void> {
  return new Promise((resolve) => {
    if (typeof requestAnimationFrame === "function") requestAnimationFrame(() => setTimeout(resolve, 0));
    else setTimeout(resolve, 0);
  });
}
