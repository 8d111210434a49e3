import { describe, expect, it } from "vitest";
import type { AuditRow } from "$lib/ipc";
import { auditRow } from "../../testing/fake-backend";
import { ANY, auditQuery, canonical, diffStates, formatValue, isFiltered, objectLabel, pairRows, visibleEntries, type ActivityFilter } from "./entries";

const filter = (change: Partial<ActivityFilter>): ActivityFilter => ({ ...ANY, ...change });
/** Rows as the store answers: newest first. */
const newestFirst = (...rows: AuditRow[]) => [...rows].sort((a, b) => b.time_ms - a.time_ms || b.id - a.id);

describe("auditQuery", () => {
  it.each([
    ["nothing", ANY, 200, { limit: 200 }],
    ["host, via, kind", filter({ host: "edge-1", via: "external", kind: "container" }), 200, { limit: 200, host: "edge-1", via: "external", kind: "container" }],
    ["an op, trimmed", filter({ op: "  0193a-01-001 " }), 50, { limit: 50, op: "0193a-01-001" }],
    ["an empty op", filter({ op: "   " }), 50, { limit: 50 }],
    ["a container's id", filter({ object: "c0ffee00" }), 50, { limit: 50, object: "c0ffee00" }],
    ["ok, asked of the store", filter({ outcome: "ok" }), 200, { limit: 200, outcome: "ok" }],
    ["failed, asked of the store", filter({ outcome: "failed" }), 200, { limit: 200, outcome: "failed" }],
    ["asked: decided after pairing, not by the store", filter({ outcome: "unknown" }), 200, { limit: 200 }],
    ["a limit past the store's", ANY, 250_000, { limit: 100_000 }],
    ["a limit below one", ANY, 0, { limit: 1 }],
  ] as const)("%s", (_, given, limit, expected) => {
    expect(auditQuery(given, limit)).toEqual(expected);
  });

  it("knows when anything narrows the log", () => {
    expect(isFiltered(ANY)).toBe(false);
    expect(isFiltered(filter({ op: "" }))).toBe(false);
    expect(isFiltered(filter({ via: "cli" }))).toBe(true);
  });
});

describe("pairRows", () => {
  const request = auditRow({ id: 10, op: "op-a", outcome: "unknown", time_ms: 1_000, before: { state: "running" }, reason: "maintenance" });
  const completion = auditRow({ id: 12, op: "op-a", outcome: "failed", request: 10, time_ms: 3_000, error: "Docker refused", before: { state: "running" }, after: { state: "running" } });
  const external = auditRow({ id: 11, op: "op-x", via: "external", actor: "docker", action: "kill", time_ms: 2_000 });

  it("makes a request and its completion one line: the completion's outcome, the request's time and place", () => {
    const entries = pairRows(newestFirst(request, completion, external));
    expect(entries.map((e) => [e.key, e.rows.map((r) => r.id), e.outcome, e.time_ms])).toEqual([
      [11, [11], "ok", 2_000],
      [10, [10, 12], "failed", 1_000],
    ]);
    expect(entries[1]).toMatchObject({ error: "Docker refused", reason: "maintenance", before: { state: "running" }, after: { state: "running" } });
  });

  it("says 'asked' (unknown) for a request with no completion, as after a crash", () => {
    const [line] = pairRows([request]);
    expect([line.key, line.outcome, line.rows.length]).toEqual([10, "unknown", 1]);
  });

  it("shows a completion whose request is not loaded on its own", () => {
    const [line] = pairRows([completion]);
    expect([line.key, line.outcome, line.time_ms]).toEqual([12, "failed", 3_000]);
  });

  it("takes the object as the completion learnt it (a create's id)", () => {
    const asked = auditRow({ id: 20, action: "create", outcome: "unknown", object: { id: null, name: "web2" } });
    const done = auditRow({ id: 21, action: "create", outcome: "ok", request: 20, object: { id: "f00dfeed1234", name: "web2" } });
    expect(pairRows(newestFirst(asked, done))[0].object).toEqual({ id: "f00dfeed1234", name: "web2" });
  });

  it("marks changes made outside Berth", () => {
    expect(pairRows(newestFirst(request, external)).map((e) => [e.key, e.external])).toEqual([
      [11, true],
      [10, false],
    ]);
  });

  it("keeps only unanswered requests for 'asked'", () => {
    const lonely = auditRow({ id: 30, outcome: "unknown", time_ms: 4_000 });
    const entries = pairRows(newestFirst(request, completion, external, lonely));
    expect(visibleEntries(entries, { outcome: "unknown" }).map((e) => e.key)).toEqual([30]);
    expect(visibleEntries(entries, { outcome: null })).toBe(entries);
  });
});

describe("objectLabel", () => {
  it("names an object by its name, else its short id", () => {
    expect(objectLabel({ id: "c0ffee0000001234", name: "web" })).toBe("web");
    expect(objectLabel({ id: "sha256:0123456789abcdef00", name: null })).toBe("0123456789ab");
    expect(objectLabel({ id: null, name: null })).toBe("");
  });
});

describe("diffStates", () => {
  it("compares a container's before and after key by key, changed keys marked", () => {
    const before = { name: "web", image: "nginx:1.27", state: "running", exit_code: null, ips: { frontend: "10.0.1.5" }, labels: ["tier", "env"] };
    const after = { name: "web", image: "nginx:1.27", state: "exited", exit_code: 137, ips: {}, labels: ["env", "tier"] };
    expect(diffStates(before, after)).toEqual([
      { key: "name", before: "web", after: "web", changed: false },
      { key: "image", before: "nginx:1.27", after: "nginx:1.27", changed: false },
      { key: "state", before: "running", after: "exited", changed: true },
      { key: "exit_code", before: "null", after: "137", changed: true },
      { key: "ips", before: "frontend: 10.0.1.5", after: "{}", changed: true },
      { key: "labels", before: "tier, env", after: "env, tier", changed: true },
    ]);
  });

  it("shows a create as every key new, a removal as every key gone", () => {
    expect(diffStates(null, { name: "web", state: "created" })).toEqual([
      { key: "name", before: null, after: "web", changed: true },
      { key: "state", before: null, after: "created", changed: true },
    ]);
    expect(diffStates({ name: "web" }, null)).toEqual([{ key: "name", before: "web", after: null, changed: true }]);
    expect(diffStates(null, null)).toEqual([]);
  });

  it("lists keys only the after has at the end, and ignores key order inside values", () => {
    const lines = diffStates({ a: 1, spec: { x: 1, y: [1, 2] } }, { spec: { y: [1, 2], x: 1 }, a: 1, b: true });
    expect(lines.map((l) => [l.key, l.changed])).toEqual([
      ["a", false],
      ["spec", false],
      ["b", true],
    ]);
  });

  it("puts a value that is not an object under one key", () => {
    expect(diffStates("10.0.0.2", "10.0.0.3")).toEqual([{ key: "value", before: "10.0.0.2", after: "10.0.0.3", changed: true }]);
  });

  it("formats values for reading and compares them canonically", () => {
    expect(formatValue([])).toBe("[]");
    expect(formatValue([{ a: 1 }])).toBe('[{"a":1}]');
    expect(formatValue({ nested: { a: 1 } })).toBe('{"nested":{"a":1}}');
    expect(formatValue(false)).toBe("false");
    expect(canonical({ b: 1, a: [true, null] })).toBe('{"a":[true,null],"b":1}');
  });
});
