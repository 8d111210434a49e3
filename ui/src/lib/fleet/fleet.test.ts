import { describe, expect, it } from "vitest";
import { FakeBackend, event, gate, host, row } from "../../testing/fake-backend";
import { Fleet } from "./fleet.svelte";

/** A fleet whose frames run only when the test calls `frame()`; the hosts paint at once. */
function setup(backend: FakeBackend) {
  const frames: (() => void)[] = [];
  const fleet = new Fleet(backend, { scheduleFrame: (flush) => frames.push(flush), afterPaint: () => Promise.resolve() });
  const frame = () => frames.splice(0).forEach((flush) => flush());
  return { fleet, frame, frames };
}

function twoHosts(): FakeBackend {
  const backend = new FakeBackend();
  backend.hosts = [host({ id: 1, name: "one" }), host({ id: 2, name: "two" })];
  backend.rows = [row({ id: "a", host_id: 1, host: "one" }), row({ id: "b", host_id: 1, host: "one" }), row({ id: "c", host_id: 2, host: "two" })];
  return backend;
}

const keys = (fleet: Fleet) => fleet.containers.map((r) => `${r.host_id}/${r.id}:${r.state}`);

describe("Fleet", () => {
  it("loads hosts, rows and events, then reports ready", async () => {
    const backend = twoHosts();
    backend.events_ = [event({ seq: 1 }), event({ seq: 2 })];
    const { fleet } = setup(backend);
    expect(fleet.ready).toBe(false);
    await fleet.start();
    expect(fleet.ready).toBe(true);
    expect(fleet.hosts.map((h) => h.name)).toEqual(["one", "two"]);
    expect(keys(fleet)).toEqual(["1/a:running", "1/b:running", "2/c:running"]);
    expect(fleet.events.map((e) => e.seq)).toEqual([1, 2]);
    expect(backend.calls.filter((c) => c === "containers")).toHaveLength(1);
  });

  it("listens to every host before the first containers() read", async () => {
    const backend = twoHosts();
    const seen: number[] = [];
    const containers = backend.containers.bind(backend);
    backend.containers = () => {
      seen.push(backend.listeners(1), backend.listeners(2));
      return containers();
    };
    await setup(backend).fleet.start();
    expect(seen).toEqual([1, 1]);
  });

  it("shows the hosts before it registers any listener, and reads rows only after all of them", async () => {
    const backend = twoHosts();
    const painted = gate();
    const fleet = new Fleet(backend, { afterPaint: () => painted.promise });
    const started = fleet.start();
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(fleet.hostsReady).toBe(true);
    expect(fleet.ready).toBe(false);
    expect(fleet.hosts.map((h) => h.name)).toEqual(["one", "two"]);
    expect([backend.listeners(1), backend.listeners(2)]).toEqual([0, 0]);
    // A fleet event while the overview paints registers its hosts' listeners; the read waits for them too.
    backend.emitFleet([...backend.hosts, host({ id: 3, name: "three" })]);
    expect(backend.calls).not.toContain("containers");
    painted.open();
    await started;
    expect([backend.listeners(1), backend.listeners(2), backend.listeners(3)]).toEqual([1, 1, 1]);
    expect(backend.calls.filter((c) => c === "containers")).toHaveLength(1);
    expect(fleet.ready).toBe(true);
  });

  it("queues patches heard before containers() answers and applies them on top, in order", async () => {
    const backend = twoHosts();
    const held = gate();
    backend.hold.containers = held.promise;
    const { fleet } = setup(backend);
    const started = fleet.start();
    await new Promise((resolve) => setTimeout(resolve, 0));
    // The read has taken its snapshot; these happen while it is in flight.
    expect(backend.calls).toContain("containers");
    backend.emitPatch({ host_id: 1, replace: false, upsert: [row({ id: "a", host_id: 1, host: "one", state: "exited" })], remove: [] });
    backend.emitPatch({ host_id: 1, replace: false, upsert: [], remove: ["b"] });
    backend.emitPatch({ host_id: 1, replace: false, upsert: [row({ id: "a", host_id: 1, host: "one", state: "running" })], remove: [] });
    backend.emitPatch({ host_id: 2, replace: true, upsert: [row({ id: "d", host_id: 2, host: "two" })], remove: [] });
    expect(fleet.containers).toEqual([]);
    held.open();
    await started;
    expect(keys(fleet)).toEqual(["1/a:running", "2/d:running"]);
  });

  it("batches live patches per frame and never re-reads the list", async () => {
    const backend = twoHosts();
    const { fleet, frame, frames } = setup(backend);
    await fleet.start();
    const before = fleet.containers;
    backend.emitPatch({ host_id: 1, replace: false, upsert: [row({ id: "a", host_id: 1, host: "one", state: "paused" })], remove: [] });
    backend.emitPatch({ host_id: 2, replace: false, upsert: [row({ id: "e", host_id: 2, host: "two" })], remove: [] });
    expect(frames).toHaveLength(1);
    expect(fleet.containers).toBe(before);
    frame();
    expect(keys(fleet)).toEqual(["1/a:paused", "1/b:running", "2/c:running", "2/e:running"]);
    expect(fleet.containers[1]).toBe(before[1]);
    expect(backend.calls.filter((c) => c === "containers")).toHaveLength(1);
  });

  it("tells onPatch listeners of each patch of a followed host as it arrives, until they unsubscribe", async () => {
    const backend = twoHosts();
    const { fleet } = setup(backend);
    await fleet.start();
    const heard: number[] = [];
    const unsubscribe = fleet.onPatch((patch) => heard.push(patch.host_id));
    backend.emitPatch({ host_id: 2, replace: false, upsert: [], remove: ["c"] });
    backend.emitPatch({ host_id: 1, replace: false, upsert: [], remove: [] });
    expect(heard).toEqual([2, 1]);
    unsubscribe();
    backend.emitPatch({ host_id: 1, replace: false, upsert: [], remove: [] });
    expect(heard).toEqual([2, 1]);
  });

  it("overlays live status on the host", async () => {
    const backend = twoHosts();
    const { fleet } = setup(backend);
    await fleet.start();
    backend.emitStatus(host({ id: 2, name: "two", status: "offline", last_error: "connection refused" }));
    expect(fleet.hosts.map((h) => `${h.name}:${h.status}`)).toEqual(["one:online", "two:offline"]);
    expect(fleet.hostsByName.get("two")?.last_error).toBe("connection refused");
  });

  it("follows a host that joins the fleet, and forgets one that leaves", async () => {
    const backend = twoHosts();
    const { fleet, frame } = setup(backend);
    await fleet.start();
    backend.emitFleet([host({ id: 1, name: "one" }), host({ id: 3, name: "three" })]);
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(backend.listeners(3)).toBe(1);
    backend.emitPatch({ host_id: 3, replace: true, upsert: [row({ id: "z", host_id: 3, host: "three" })], remove: [] });
    frame();
    expect(keys(fleet)).toEqual(["1/a:running", "1/b:running", "3/z:running"]);
    await Promise.resolve();
    expect(backend.listeners(2)).toBe(0);
    // A late patch from the removed host changes nothing.
    backend.emitPatch({ host_id: 2, replace: false, upsert: [row({ id: "late", host_id: 2 })], remove: [] });
    frame();
    expect(keys(fleet)).not.toContain("2/late:running");
  });

  it("reads the rows of a host that joins later once, holding its patches until then", async () => {
    const backend = twoHosts();
    const { fleet, frame } = setup(backend);
    await fleet.start();
    // The new host's first snapshot reached the mirror before the UI listened to it.
    backend.rows.push(row({ id: "n1", host_id: 3, host: "three", state: "running" }), row({ id: "n2", host_id: 3, host: "three" }));
    const held = gate();
    backend.hold.containers = held.promise;
    backend.emitFleet([...backend.hosts, host({ id: 3, name: "three", status: "connecting" })]);
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(backend.calls.filter((c) => c === "containers")).toHaveLength(2);
    // Heard while the catch-up read is in flight: applied after it.
    backend.emitPatch({ host_id: 3, replace: false, upsert: [row({ id: "n1", host_id: 3, host: "three", state: "exited" })], remove: ["n2"] });
    frame();
    expect(keys(fleet).filter((k) => k.startsWith("3/"))).toEqual([]);
    held.open();
    await new Promise((resolve) => setTimeout(resolve, 0));
    frame();
    expect(keys(fleet)).toEqual(["1/a:running", "1/b:running", "2/c:running", "3/n1:exited"]);
    // Live patches flow directly again.
    backend.emitPatch({ host_id: 3, replace: false, upsert: [row({ id: "n1", host_id: 3, host: "three", state: "running" })], remove: [] });
    frame();
    expect(keys(fleet)).toContain("3/n1:running");
  });

  it("renames the rows of a renamed host", async () => {
    const backend = twoHosts();
    const { fleet } = setup(backend);
    await fleet.start();
    backend.emitFleet([host({ id: 1, name: "uno" }), host({ id: 2, name: "two" })]);
    expect(fleet.containers.map((r) => r.host)).toEqual(["uno", "uno", "two"]);
  });

  it("appends live events, dedupes by seq and drops a removed host's events", async () => {
    const backend = twoHosts();
    backend.events_ = [event({ seq: 1, host_id: 1 }), event({ seq: 2, host_id: 2, host: "two" })];
    const { fleet, frame } = setup(backend);
    await fleet.start();
    backend.emitEvents(1, [event({ seq: 2, host_id: 2, host: "two" }), event({ seq: 3, host_id: 1 })]);
    frame();
    expect(fleet.events.map((e) => e.seq)).toEqual([1, 2, 3]);
    backend.emitFleet([host({ id: 1, name: "one" })]);
    frame();
    expect(fleet.events.map((e) => e.seq)).toEqual([1, 3]);
  });

  it("keeps the reason when the mirror cannot be read", async () => {
    const backend = twoHosts();
    const { IpcError } = await import("$lib/ipc");
    backend.failures.set("containers", new IpcError("store", "database is locked"));
    const { fleet } = setup(backend);
    await fleet.start();
    expect(fleet.ready).toBe(true);
    expect(fleet.error?.message).toBe("database is locked");
  });

  it("loads one host's deeper history once", async () => {
    const backend = twoHosts();
    backend.events_ = [event({ seq: 1, host: "two", host_id: 2 })];
    const { fleet, frame } = setup(backend);
    await fleet.start();
    await fleet.loadHostEvents("two");
    await fleet.loadHostEvents("two");
    frame();
    expect(backend.calls.filter((c) => c === "events:two")).toHaveLength(1);
    expect(fleet.events.map((e) => e.seq)).toEqual([1]);
  });

  it("hears hosts' objects only while a view subscribes, and reports hosts that join or are renamed meanwhile", async () => {
    const backend = twoHosts();
    const { fleet } = setup(backend);
    await fleet.start();
    expect([backend.objectListeners(1), backend.objectListeners(2)]).toEqual([0, 0]);
    const heard: string[] = [];
    const first = fleet.onObjects((change) => heard.push(`a:${change.host_id}/${change.host}`));
    const second = fleet.onObjects((change) => heard.push(`b:${change.host_id}/${change.host}`));
    await Promise.all([first.listening, second.listening]);
    expect([backend.objectListeners(1), backend.objectListeners(2)]).toEqual([1, 1]);
    backend.emitObjects(2);
    expect(heard).toEqual(["a:2/two", "b:2/two"]);
    heard.length = 0;
    second.stop();
    backend.emitFleet([host({ id: 1, name: "uno" }), host({ id: 3, name: "three" })]);
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(heard).toEqual(["a:1/uno", "a:3/three"]);
    expect([backend.objectListeners(1), backend.objectListeners(2), backend.objectListeners(3)]).toEqual([1, 0, 1]);
    first.stop();
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect([backend.objectListeners(1), backend.objectListeners(3)]).toEqual([0, 0]);
    backend.emitObjects(1);
    expect(heard).toHaveLength(2);
  });
});
