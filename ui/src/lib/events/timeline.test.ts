import { describe, expect, it } from "vitest";
import type { EventRow } from "$lib/ipc";
import { event } from "../../testing/fake-backend";
import { isAbnormal, mergeEvents, withoutHosts } from "./timeline";
import { matchesEvent, visibleEvents, type EventFilter } from "./timeline.svelte";

describe("isAbnormal", () => {
  const cases: [string, Partial<EventRow>, boolean][] = [
    ["die with exit code 1", { action: "die", attributes: { exitCode: "1" } }, true],
    ["die with exit code 137", { action: "die", attributes: { exitCode: "137" } }, true],
    ["die with exit code 0", { action: "die", attributes: { exitCode: "0" } }, false],
    ["die without an exit code", { action: "die", attributes: {} }, false],
    ["oom", { action: "oom" }, true],
    ["kill (the exit that follows decides)", { action: "kill", attributes: { signal: "9" } }, false],
    ["start", { action: "start" }, false],
    ["exec_die with a non-zero code is not the container exiting", { action: "exec_die", attributes: { exitCode: "1" } }, false],
    ["a network event named die is not a container", { type: "network", action: "die", attributes: { exitCode: "1" } }, false],
  ];
  it.each(cases)("%s → %s", (_name, overrides, expected) => {
    expect(isAbnormal(event({ seq: 1, ...overrides }))).toBe(expected);
  });
});

describe("mergeEvents", () => {
  const seqs = (events: readonly EventRow[]) => events.map((e) => e.seq);
  const e = (seq: number, second = seq) => event({ seq, time_ms: second * 1000 });

  it("appends newer events", () => {
    expect(seqs(mergeEvents([e(1), e(2)], [e(3), e(4)]))).toEqual([1, 2, 3, 4]);
  });
  it("drops seqs it already holds, and duplicates within the batch", () => {
    expect(seqs(mergeEvents([e(1), e(2)], [e(2), e(3), e(3)]))).toEqual([1, 2, 3]);
  });
  it("puts older events (another host's history) in time order", () => {
    expect(seqs(mergeEvents([e(1, 10), e(2, 30)], [e(7, 20), e(8, 5)]))).toEqual([8, 1, 7, 2]);
  });
  it("breaks equal times by seq", () => {
    expect(seqs(mergeEvents([e(5, 1)], [e(3, 1), e(4, 1)]))).toEqual([3, 4, 5]);
  });
  it("keeps only the newest `cap`", () => {
    expect(seqs(mergeEvents([e(1), e(2), e(3)], [e(4), e(5)], 3))).toEqual([3, 4, 5]);
  });
  it("returns the same array when nothing is new", () => {
    const current = [e(1), e(2)];
    expect(mergeEvents(current, [])).toBe(current);
    expect(mergeEvents(current, [e(2)])).toBe(current);
  });
  it("withoutHosts drops the events of removed hosts", () => {
    const events = [event({ seq: 1, host_id: 1 }), event({ seq: 2, host_id: 2 })];
    expect(seqs(withoutHosts(events, new Set([2])))).toEqual([1]);
    expect(withoutHosts(events, new Set([3]))).toBe(events);
  });
});

describe("event filters", () => {
  const all: EventFilter = { host: null, type: null, search: "", abnormalOnly: false };
  const events = [
    event({ seq: 1, host: "one", action: "start", actor_name: "web" }),
    event({ seq: 2, host: "two", action: "die", actor_name: "db", attributes: { exitCode: "2" } }),
    event({ seq: 3, host: "one", type: "network", action: "connect", actor_name: "bridge" }),
  ];
  const cases: [string, Partial<EventFilter>, number[]][] = [
    ["everything, newest first", {}, [3, 2, 1]],
    ["by host", { host: "one" }, [3, 1]],
    ["by type", { type: "container" }, [2, 1]],
    ["by action text", { search: "DIE" }, [2]],
    ["by actor name", { search: "web" }, [1]],
    ["by actor id prefix", { search: "id3" }, [3]],
    ["abnormal only", { abnormalOnly: true }, [2]],
    ["combined", { host: "one", search: "conn" }, [3]],
  ];
  it.each(cases)("%s", (_name, filter, expected) => {
    expect(visibleEvents(events, { ...all, ...filter }).map((ev) => ev.seq)).toEqual(expected);
  });
  it("matchesEvent agrees with visibleEvents", () => {
    expect(matchesEvent(events[0], { ...all, host: "two" })).toBe(false);
  });
});
