import { describe, expect, it } from "vitest";
import { Fleet } from "$lib/fleet/fleet.svelte";
import { FakeBackend, auditRow, gate, host, ipcError, row } from "../../testing/fake-backend";
import { ACTIVITY_PAGE, ActivityLog, REFRESH_DEBOUNCE_MS } from "./activity.svelte";

/** Timers a test runs by hand: `later` records them, `fire` runs those due. */
function manualTimers() {
  const pending: { run: () => void; ms: number; cancelled: boolean }[] = [];
  return {
    pending,
    later: (run: () => void, ms: number) => {
      const timer = { run, ms, cancelled: false };
      pending.push(timer);
      return () => void (timer.cancelled = true);
    },
    /** Runs every timer set so far that was not cancelled; returns how many ran. */
    fire(): number {
      const due = pending.splice(0).filter((timer) => !timer.cancelled);
      due.forEach((timer) => timer.run());
      return due.length;
    },
  };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

async function setup(options: { hostId?: number; fixed?: { object: string } } = {}) {
  const backend = new FakeBackend();
  backend.hosts = [host({ id: 1, name: "edge-1" }), host({ id: 2, name: "edge-2" })];
  backend.rows = [row({ id: "web", host: "edge-1", host_id: 1 })];
  backend.auditRows = [
    auditRow({ id: 1, op: "op-stop", host: "edge-1", action: "stop", outcome: "unknown", object: { id: "c0ffee000001", name: "web" }, before: { state: "running" } }),
    auditRow({ id: 2, op: "op-stop", host: "edge-1", action: "stop", outcome: "ok", request: 1, object: { id: "c0ffee000001", name: "web" }, before: { state: "running" }, after: { state: "exited" } }),
    auditRow({ id: 3, op: "op-ext", host: "edge-2", via: "external", actor: "docker", action: "kill", object: { id: "dead00000002", name: "db" } }),
  ];
  const fleet = new Fleet(backend, { scheduleFrame: (flush) => queueMicrotask(flush), afterPaint: () => Promise.resolve() });
  await fleet.start();
  const timers = manualTimers();
  const activity = new ActivityLog(backend, fleet, { later: timers.later, ...options });
  return { backend, fleet, timers, activity };
}

describe("ActivityLog", () => {
  it("reads the newest page and pairs each request with its completion, external changes marked", async () => {
    const { backend, activity } = await setup();
    activity.start();
    await settle();
    expect(backend.auditQueries).toEqual([{ limit: ACTIVITY_PAGE }]);
    expect(activity.entries.map((e) => [e.key, e.rows.map((r) => r.id), e.outcome, e.external])).toEqual([
      [3, [3], "ok", true],
      [1, [1, 2], "ok", false],
    ]);
    expect(activity.loaded).toBe(true);
  });

  it("builds the query from the filters and reads again from the newest row", async () => {
    const { backend, activity } = await setup();
    activity.start();
    await settle();
    activity.setFilter({ host: "edge-1", via: "app", outcome: "failed", kind: "container" });
    await settle();
    expect(backend.auditQueries.at(-1)).toEqual({ limit: ACTIVITY_PAGE, host: "edge-1", via: "app", outcome: "failed", kind: "container" });
    activity.clearFilters();
    activity.filterByOp("op-ext");
    await settle();
    expect(backend.auditQueries.at(-1)).toEqual({ limit: ACTIVITY_PAGE, op: "op-ext" });
    expect(activity.entries.map((e) => e.key)).toEqual([3]);
    expect(activity.filtered).toBe(true);
  });

  it("shows only unanswered requests for 'asked', deciding it after pairing", async () => {
    const { backend, activity } = await setup();
    backend.auditRows.push(auditRow({ id: 4, op: "op-crash", action: "restart", outcome: "unknown" }));
    activity.start();
    activity.setFilter({ outcome: "unknown" });
    await settle();
    expect(backend.auditQueries.at(-1)).toEqual({ limit: ACTIVITY_PAGE });
    expect(activity.entries.map((e) => [e.key, e.outcome])).toEqual([[4, "unknown"]]);
  });

  it("keeps a container's own filter under the user's, with its own page size", async () => {
    const { backend, activity } = await setup({ fixed: { object: "c0ffee000001" }, hostId: 1 });
    activity.start();
    await settle();
    expect(backend.auditQueries).toEqual([{ limit: ACTIVITY_PAGE, object: "c0ffee000001" }]);
    expect(activity.entries.map((e) => e.key)).toEqual([1]);
  });

  it("re-reads once per interval however many patches arrive, and stops when stopped", async () => {
    const { backend, timers, activity } = await setup();
    const stop = activity.start();
    await settle();
    expect(backend.auditQueries).toHaveLength(1);
    backend.emitPatch({ host_id: 1, replace: false, upsert: [row({ id: "web", host: "edge-1", host_id: 1, state: "exited" })], remove: [] });
    backend.emitPatch({ host_id: 2, replace: false, upsert: [], remove: ["db"] });
    backend.emitPatch({ host_id: 1, replace: false, upsert: [], remove: [] });
    expect(timers.pending.map((timer) => timer.ms)).toEqual([REFRESH_DEBOUNCE_MS]);
    backend.auditRows.push(auditRow({ id: 5, op: "op-new", action: "start" }));
    expect(timers.fire()).toBe(1);
    await settle();
    expect(backend.auditQueries).toHaveLength(2);
    expect(activity.entries[0].key).toBe(5);
    backend.emitPatch({ host_id: 2, replace: false, upsert: [], remove: [] });
    expect(timers.pending).toHaveLength(1);
    stop();
    expect(timers.fire()).toBe(0);
    backend.emitPatch({ host_id: 1, replace: false, upsert: [], remove: [] });
    expect(timers.pending).toHaveLength(0);
    expect(backend.auditQueries).toHaveLength(2);
  });

  it("refreshes on the patches of its host only, when it has one", async () => {
    const scoped = await setup({ hostId: 1 });
    scoped.activity.start();
    await settle();
    scoped.backend.emitPatch({ host_id: 2, replace: false, upsert: [], remove: [] });
    expect(scoped.timers.pending).toHaveLength(0);
    scoped.backend.emitPatch({ host_id: 1, replace: false, upsert: [], remove: [] });
    expect(scoped.timers.pending).toHaveLength(1);

    const filtered = await setup();
    filtered.activity.start();
    filtered.activity.setFilter({ host: "edge-2" });
    await settle();
    filtered.backend.emitPatch({ host_id: 1, replace: false, upsert: [], remove: [] });
    expect(filtered.timers.pending).toHaveLength(0);
    filtered.backend.emitPatch({ host_id: 2, replace: false, upsert: [], remove: [] });
    expect(filtered.timers.pending).toHaveLength(1);
  });

  it("a manual refresh takes the place of one that was due", async () => {
    const { backend, timers, activity } = await setup();
    activity.start();
    await settle();
    backend.emitPatch({ host_id: 1, replace: false, upsert: [], remove: [] });
    await activity.refresh();
    expect(timers.fire()).toBe(0);
    expect(backend.auditQueries).toHaveLength(2);
  });

  it("drops the answer to an older read", async () => {
    const { backend, activity } = await setup();
    const held = gate();
    backend.hold.audit = held.promise;
    activity.start();
    activity.setFilter({ via: "external" });
    held.open();
    await settle();
    await settle();
    expect(activity.entries.map((e) => e.key)).toEqual([3]);
    expect(activity.loading).toBe(false);
  });

  it("keeps the rows it had and the error when a read fails", async () => {
    const { backend, activity } = await setup();
    activity.start();
    await settle();
    backend.failures.set("audit", ipcError("store", { context: "reading the audit log", reason: "database is locked" }, "database is locked"));
    await activity.refresh();
    expect(activity.error).toMatchObject({ code: "store", detail: "database is locked" });
    expect(activity.entries).toHaveLength(2);
    await activity.refresh();
    expect(activity.error).toBeNull();
  });

  it("loads older rows a page at a time while the store may hold more", async () => {
    const { backend, fleet } = await setup();
    backend.auditRows = Array.from({ length: 5 }, (_, index) => auditRow({ id: index + 1 }));
    const small = new ActivityLog(backend, fleet, { page: 2 });
    small.start();
    await settle();
    expect([small.entries.length, small.more]).toEqual([2, true]);
    small.loadOlder();
    // Until that answer says whether a full page came back, there is nothing more to ask.
    small.loadOlder();
    await settle();
    expect(backend.auditQueries.map((q) => q.limit)).toEqual([2, 4]);
    small.loadOlder();
    await settle();
    expect(backend.auditQueries.at(-1)).toEqual({ limit: 6 });
    expect([small.entries.length, small.more]).toEqual([5, false]);
    small.stop();
  });

  it("moves the selection with the keyboard, opens with Enter, closes with Escape", async () => {
    const { activity } = await setup();
    activity.start();
    await settle();
    expect(activity.handleKey("Enter")).toBe(false);
    activity.handleKey("ArrowDown");
    expect(activity.selectedKey).toBe(3);
    activity.handleKey("ArrowDown");
    activity.handleKey("ArrowDown");
    expect(activity.selectedKey).toBe(1);
    expect(activity.handleKey("Enter")).toBe(true);
    expect(activity.openEntry?.key).toBe(1);
    activity.handleKey("ArrowUp");
    expect(activity.openEntry?.key).toBe(3);
    activity.handleKey("End");
    expect(activity.openEntry?.key).toBe(1);
    expect(activity.handleKey("Escape")).toBe(true);
    expect(activity.openEntry).toBeNull();
    expect(activity.handleKey("Escape")).toBe(false);
  });
});
