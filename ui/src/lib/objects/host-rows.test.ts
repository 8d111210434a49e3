import { describe, expect, it } from "vitest";
import type { ImageRow } from "$lib/ipc";
import { Fleet } from "$lib/fleet/fleet.svelte";
import { FakeBackend, gate, host, imageRow } from "../../testing/fake-backend";
import { HostRows, RELOAD_DEBOUNCE_MS } from "./host-rows.svelte";

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
    fire(): number {
      const due = pending.splice(0).filter((timer) => !timer.cancelled);
      due.forEach((timer) => timer.run());
      return due.length;
    },
  };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

async function setup() {
  const backend = new FakeBackend();
  backend.hosts = [host({ id: 1, name: "edge-1" }), host({ id: 2, name: "edge-2" })];
  backend.imageRows = [imageRow({ host: "edge-1", id: "sha256:aaa" }), imageRow({ host: "edge-2", id: "sha256:bbb" })];
  const fleet = new Fleet(backend, { scheduleFrame: (flush) => queueMicrotask(flush), afterPaint: () => Promise.resolve() });
  await fleet.start();
  const timers = manualTimers();
  const rows = new HostRows<ImageRow>(fleet, (name) => backend.images(name), { later: timers.later });
  return { backend, fleet, timers, rows };
}

const keys = (rows: HostRows<ImageRow>) => rows.rows.map((row) => `${row.host}/${row.id}`);

describe("HostRows", () => {
  it("listens to every host's objects before it reads them all", async () => {
    const { backend, rows } = await setup();
    const seen: number[] = [];
    const images = backend.images.bind(backend);
    backend.images = (name) => {
      seen.push(backend.objectListeners(1), backend.objectListeners(2));
      return images(name);
    };
    rows.start();
    await settle();
    expect(seen).toEqual([1, 1]);
    expect(keys(rows)).toEqual(["edge-1/sha256:aaa", "edge-2/sha256:bbb"]);
    expect(rows.loaded).toBe(true);
  });

  it("re-reads only the host that changed, once per interval, and stops listening when stopped", async () => {
    const { backend, timers, rows } = await setup();
    const stop = rows.start();
    await settle();
    backend.imageRows.push(imageRow({ host: "edge-2", id: "sha256:ccc" }));
    backend.emitObjects(2);
    backend.emitObjects(2);
    expect(timers.pending.map((timer) => timer.ms)).toEqual([RELOAD_DEBOUNCE_MS]);
    expect(timers.fire()).toBe(1);
    await settle();
    expect(backend.calls.filter((call) => call.startsWith("images"))).toEqual(["images", "images:edge-2"]);
    expect(keys(rows)).toEqual(["edge-1/sha256:aaa", "edge-2/sha256:bbb", "edge-2/sha256:ccc"]);
    backend.emitObjects(1);
    stop();
    expect(timers.fire()).toBe(0);
    await settle();
    expect([backend.objectListeners(1), backend.objectListeners(2)]).toEqual([0, 0]);
  });

  it("keeps a host's newer rows when an older whole read answers after them", async () => {
    const { backend, timers, rows } = await setup();
    rows.start();
    await settle();
    const held = gate();
    const images = backend.images.bind(backend);
    backend.images = async (name) => {
      const answer = images(name);
      if (name === null) await held.promise;
      return answer;
    };
    const whole = rows.reload();
    backend.imageRows = backend.imageRows.filter((row) => row.host !== "edge-1");
    backend.emitObjects(1);
    timers.fire();
    await settle();
    expect(keys(rows)).toEqual(["edge-2/sha256:bbb"]);
    held.open();
    await whole;
    expect(keys(rows)).toEqual(["edge-2/sha256:bbb"]);
  });

  it("drops a removed host's rows and reads a host that joins", async () => {
    const { backend, timers, rows } = await setup();
    rows.start();
    await settle();
    backend.hosts = [host({ id: 2, name: "edge-2" }), host({ id: 3, name: "edge-3" })];
    backend.imageRows.push(imageRow({ host: "edge-3", id: "sha256:ddd" }));
    backend.emitFleet(backend.hosts);
    await settle();
    expect(keys(rows)).toEqual(["edge-2/sha256:bbb"]);
    expect(timers.fire()).toBe(1);
    await settle();
    expect(keys(rows)).toEqual(["edge-2/sha256:bbb", "edge-3/sha256:ddd"]);
    expect(backend.objectListeners(1)).toBe(0);
  });

  it("keeps the rows it has when a read fails, and says why", async () => {
    const { backend, timers, rows } = await setup();
    rows.start();
    await settle();
    backend.failures.set("images:edge-1", new (await import("$lib/ipc")).IpcError("store", "locked", { context: "listing images" }));
    backend.emitObjects(1);
    timers.fire();
    await settle();
    expect(rows.error?.code).toBe("store");
    expect(keys(rows)).toEqual(["edge-1/sha256:aaa", "edge-2/sha256:bbb"]);
  });
});
