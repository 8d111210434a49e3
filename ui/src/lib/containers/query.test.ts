import { describe, expect, it } from "vitest";
import { row } from "../../testing/fake-backend";
import { filterRows, ipKey, matchesQuery, naturalKey, parseQuery, sortRows, type QueryToken, type SortOrder } from "./query";

describe("parseQuery", () => {
  const cases: [string, QueryToken[]][] = [
    ["", []],
    ["   ", []],
    ["web", [{ field: null, value: "web", negated: false }]],
    ["Web API", [{ field: null, value: "web", negated: false }, { field: null, value: "api", negated: false }]],
    ["name:web", [{ field: "name", value: "web", negated: false }]],
    ["NAME:Web", [{ field: "name", value: "web", negated: false }]],
    ["state:running host:edge-1", [{ field: "state", value: "running", negated: false }, { field: "host", value: "edge-1", negated: false }]],
    ["label:env=prod", [{ field: "label", value: "env=prod", negated: false }]],
    ["label:com.docker.compose.project", [{ field: "label", value: "com.docker.compose.project", negated: false }]],
    ["ip:10.0.1.", [{ field: "ip", value: "10.0.1.", negated: false }]],
    ["image:nginx:1.27", [{ field: "image", value: "nginx:1.27", negated: false }]],
    // An unknown field is a plain word, colon included: an image reference is searchable as typed.
    ["nginx:latest", [{ field: null, value: "nginx:latest", negated: false }]],
    ["-state:exited", [{ field: "state", value: "exited", negated: true }]],
    ["-test", [{ field: null, value: "test", negated: true }]],
    ["-", []],
    // A field still being typed filters nothing yet.
    ["name:", []],
    ['name:"my app"', [{ field: "name", value: "my app", negated: false }]],
    ['"two words"', [{ field: null, value: "two words", negated: false }]],
    ['label:"team=data eng"', [{ field: "label", value: "team=data eng", negated: false }]],
  ];
  it.each(cases)("%j", (text, tokens) => {
    expect(parseQuery(text).tokens).toEqual(tokens);
  });
});

describe("matchesQuery", () => {
  const web = row({
    id: "a1",
    name: "web-1",
    host: "edge-1",
    image: "nginx:1.27",
    state: "running",
    ips: { frontend: "10.0.1.5", backend: "172.18.0.2" },
    labels: { env: "prod", "com.docker.compose.project": "shop" },
  });
  const cases: [string, boolean][] = [
    ["", true],
    ["web", true],
    ["WEB", true],
    ["nginx", true],
    ["edge-1", true],
    ["10.0.1", true],
    ["prod", true],
    ["compose", true],
    ["shop web", true],
    ["shop db", false],
    ["name:web", true],
    ["name:nginx", false],
    ["image:nginx", true],
    ["image:redis", false],
    ["state:running", true],
    ["state:run", false],
    ["state:exited", false],
    ["state:exited state:running", true],
    ["host:edge-1", true],
    ["host:edge", false],
    ["host:EDGE-1", true],
    ["ip:10.0.1.5", true],
    ["ip:172.18.", true],
    ["ip:0.1.5", false],
    ["label:env", true],
    ["label:ENV", true],
    ["label:team", false],
    ["label:env=prod", true],
    ["label:env=production", false],
    ["label:env=pro", false],
    ["label:com.docker.compose.project=shop", true],
    ["-state:exited", true],
    ["-state:running", false],
    ["-nginx", false],
    ["state:running -host:edge-1", false],
    ["name:web image:redis", false],
    ["name:web image:nginx state:running host:edge-1 label:env=prod ip:10.", true],
    ["nginx:1.27", true],
  ];
  it.each(cases)("%j → %s", (text, expected) => {
    expect(matchesQuery(web, parseQuery(text))).toBe(expected);
  });
});

describe("filterRows", () => {
  const rows = [
    row({ id: "1", name: "web-1", host: "edge-1", state: "running" }),
    row({ id: "2", name: "web-2", host: "edge-2", state: "exited" }),
    row({ id: "3", name: "db", host: "edge-1", state: "paused" }),
  ];
  const names = (found: readonly { name: string }[]) => found.map((r) => r.name);

  it("keeps everything with no query and no filters", () => {
    expect(names(filterRows(rows, { query: parseQuery(""), states: new Set(), hosts: new Set() }))).toEqual(["web-1", "web-2", "db"]);
  });
  it("narrows by state chips (any of them)", () => {
    expect(names(filterRows(rows, { query: parseQuery(""), states: new Set(["running", "paused"]), hosts: new Set() }))).toEqual([
      "web-1",
      "db",
    ]);
  });
  it("narrows by host", () => {
    expect(names(filterRows(rows, { query: parseQuery(""), states: new Set(), hosts: new Set(["edge-2"]) }))).toEqual(["web-2"]);
  });
  it("combines the query with the filters", () => {
    expect(names(filterRows(rows, { query: parseQuery("web"), states: new Set(), hosts: new Set(["edge-1"]) }))).toEqual(["web-1"]);
  });
  it("sees a patched row's new data (per-row caches follow the row object)", () => {
    const before = rows[0];
    expect(matchesQuery(before, parseQuery("state:running"))).toBe(true);
    const after = { ...before, state: "exited" };
    expect(matchesQuery(after, parseQuery("state:running"))).toBe(false);
  });
});

describe("sort keys", () => {
  it.each([
    ["web-2", "web-10"],
    ["a", "B"],
    ["app9", "app10"],
    ["v1.9", "v1.10"],
    ["x007", "x8"],
  ])("%s sorts before %s", (a, b) => {
    expect(naturalKey(a) < naturalKey(b)).toBe(true);
  });
  it.each([
    ["10.0.0.9", "10.0.0.10"],
    ["9.255.255.255", "10.0.0.0"],
    ["192.168.1.1", "fd00::1"],
    ["fd00::1", undefined],
  ])("ip %s sorts before %s", (a, b) => {
    expect(ipKey(a) < ipKey(b)).toBe(true);
  });
});

describe("sortRows", () => {
  const t0 = Date.parse("2025-03-01T00:00:00Z");
  const rows = [
    row({ id: "1", name: "web-10", host: "b", image: "nginx", state: "exited", created_ms: t0 + 3, finished_ms: t0 + 50, ips: { n: "10.0.0.10" } }),
    row({ id: "2", name: "web-2", host: "a", image: "redis", state: "running", created_ms: t0 + 1, started_ms: t0 + 40, ips: { n: "10.0.0.9" } }),
    row({ id: "3", name: "api", host: "c", image: "alpine", state: "paused", created_ms: t0 + 2, started_ms: t0 + 10 }),
  ];
  const order = (sort: SortOrder) => sortRows(rows, sort).map((r) => r.name);
  const cases: [SortOrder, string[]][] = [
    [{ key: "name", descending: false }, ["api", "web-2", "web-10"]],
    [{ key: "name", descending: true }, ["web-10", "web-2", "api"]],
    [{ key: "host", descending: false }, ["web-2", "web-10", "api"]],
    [{ key: "image", descending: false }, ["api", "web-10", "web-2"]],
    [{ key: "state", descending: false }, ["web-2", "api", "web-10"]],
    [{ key: "created", descending: true }, ["web-10", "api", "web-2"]],
    [{ key: "status", descending: false }, ["api", "web-2", "web-10"]],
    [{ key: "ip", descending: false }, ["web-2", "web-10", "api"]],
  ];
  it.each(cases)("%j", (sort, expected) => {
    expect(order(sort)).toEqual(expected);
  });

  it("breaks ties by name, then host, so equal keys keep a stable order", () => {
    const tied = [row({ id: "x", name: "b", host: "h2" }), row({ id: "y", name: "a", host: "h1" }), row({ id: "z", name: "b", host: "h1" })];
    expect(sortRows(tied, { key: "state", descending: false }).map((r) => `${r.name}@${r.host}`)).toEqual(["a@h1", "b@h1", "b@h2"]);
  });

  it("does not modify its input", () => {
    const before = rows.map((r) => r.id);
    sortRows(rows, { key: "name", descending: true });
    expect(rows.map((r) => r.id)).toEqual(before);
  });
});
