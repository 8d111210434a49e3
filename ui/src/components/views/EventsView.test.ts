import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { flushSync, mount, unmount } from "svelte";
import { appContext } from "$lib/context";
import { Fleet } from "$lib/fleet/fleet.svelte";
import { ContainerActions } from "$lib/containers/pending.svelte";
import { EventsTimeline } from "$lib/events/timeline.svelte";
import { FakeBackend, event, host } from "../../testing/fake-backend";
import EventsView from "./EventsView.svelte";

describe("EventsView", () => {
  let target: HTMLElement;
  let backend: FakeBackend;
  let fleet: Fleet;
  let timeline: EventsTimeline;
  let view: ReturnType<typeof mount>;

  const rows = () => [...target.querySelectorAll<HTMLElement>("[data-testid='event-row']")];
  const settle = async () => {
    await new Promise((resolve) => setTimeout(resolve, 0));
    flushSync();
  };

  beforeEach(async () => {
    backend = new FakeBackend();
    backend.hosts = [host({ id: 1, name: "one" }), host({ id: 2, name: "two" })];
    backend.events_ = [
      event({ seq: 1, host: "one", host_id: 1, action: "start", actor_name: "web" }),
      event({ seq: 2, host: "two", host_id: 2, action: "die", actor_name: "db", attributes: { exitCode: "137" } }),
      event({ seq: 3, host: "one", host_id: 1, action: "die", actor_name: "job", attributes: { exitCode: "0" } }),
    ];
    fleet = new Fleet(backend, { scheduleFrame: (flush) => queueMicrotask(flush) });
    await fleet.start();
    timeline = new EventsTimeline(fleet);
    target = document.createElement("div");
    document.body.append(target);
    view = mount(EventsView, { target, props: { timeline }, context: appContext({ backend, fleet, actions: new ContainerActions(backend) }) });
    flushSync();
  });

  afterEach(() => {
    unmount(view);
    target.remove();
  });

  it("shows the timeline newest first, with abnormal exits marked", () => {
    expect(rows().map((r) => r.dataset.seq)).toEqual(["3", "2", "1"]);
    expect(rows().map((r) => r.dataset.abnormal)).toEqual(["false", "true", "false"]);
    expect(rows()[1].textContent).toContain("137");
  });

  it("appends live events from every host", async () => {
    backend.emitEvents(2, [event({ seq: 4, host: "two", host_id: 2, action: "oom", actor_name: "db" })]);
    await settle();
    expect(rows()[0].dataset.seq).toBe("4");
    expect(rows()[0].dataset.abnormal).toBe("true");
  });

  it("narrows to one host and loads its history", async () => {
    const select = target.querySelector<HTMLSelectElement>("[data-testid='event-host']")!;
    select.value = "one";
    select.dispatchEvent(new Event("change", { bubbles: true }));
    await settle();
    expect(backend.calls).toContain("events:one");
    expect(rows().map((r) => r.dataset.seq)).toEqual(["3", "1"]);
  });

  it("filters by action text and abnormal exits", () => {
    timeline.search = "die";
    flushSync();
    expect(rows().map((r) => r.dataset.seq)).toEqual(["3", "2"]);
    timeline.abnormalOnly = true;
    flushSync();
    expect(rows().map((r) => r.dataset.seq)).toEqual(["2"]);
  });
});
