import { describe, expect, it } from "vitest";
import { IpcError } from "$lib/ipc";
import { networkRow, volumeRow } from "../../testing/fake-backend";
import { filterWords, inUseUsers, matchesWords, shortId } from "./filter";
import { networkLocked, networkMatches, networksAcross, volumeMatches, volumesAcross } from "./across";

describe("the filter box", () => {
  it.each([
    ["", ["nginx:1.27"], true],
    ["nginx", ["nginx:1.27", "edge-1"], true],
    ["NGINX edge", ["nginx:1.27", "edge-1"], true],
    ["nginx edge-2", ["nginx:1.27", "edge-1"], false],
    ["  web  ", [null, "shop/web", undefined], true],
    ["db", [null, undefined], false],
  ] as const)("%j over %j → %s", (filter, texts, expected) => {
    expect(matchesWords(texts, filterWords(filter))).toBe(expected);
  });
});

describe("shortId and inUseUsers", () => {
  it("shortens ids as docker prints them", () => {
    expect(shortId("sha256:0123456789abcdef0123")).toBe("0123456789ab");
    expect(shortId("f00d")).toBe("f00d");
  });

  it("reads the users of an in_use refusal, and nothing from another error", () => {
    expect(inUseUsers(new IpcError("in_use", "in use", { host: "edge-1", kind: "image", name: "nginx", users: "web, worker-1" }))).toEqual(["web", "worker-1"]);
    expect(inUseUsers(new IpcError("in_use", "in use", {}))).toEqual([]);
    expect(inUseUsers(new IpcError("docker", "refused", { users: "web" }))).toBeNull();
    expect(inUseUsers(null)).toBeNull();
  });
});

describe("networks across hosts", () => {
  const rows = [
    networkRow({ host: "edge-1", name: "lan", id: "aaa", driver: "macvlan", subnets: ["10.0.0.0/24"], pool: "lan", containers: [{ container: "web", ip: "10.0.0.5" }] }),
    networkRow({ host: "edge-2", name: "lan", id: "bbb", driver: "macvlan", subnets: ["10.0.0.0/24"], pool: "lan", containers: [{ container: "db", ip: "10.0.0.6" }] }),
    networkRow({ host: "edge-1", name: "bridge", builtin: true, subnets: ["172.17.0.0/16"] }),
    networkRow({ host: "edge-2", name: "bridge", builtin: true, subnets: ["172.18.0.0/16"] }),
    networkRow({ host: "edge-2", name: "app", containers: [{ container: "api", ip: null }] }),
  ];

  it("groups by name, with every host's subnets and users and their addresses", () => {
    expect(networksAcross(rows)).toEqual([
      { name: "app", drivers: ["bridge"], subnets: [], hosts: ["edge-2"], pool: null, builtin: false, users: [{ host: "edge-2", container: "api", ip: null }] },
      { name: "bridge", drivers: ["bridge"], subnets: ["172.17.0.0/16", "172.18.0.0/16"], hosts: ["edge-1", "edge-2"], pool: null, builtin: true, users: [] },
      {
        name: "lan",
        drivers: ["macvlan"],
        subnets: ["10.0.0.0/24"],
        hosts: ["edge-1", "edge-2"],
        pool: "lan",
        builtin: false,
        users: [
          { host: "edge-1", container: "web", ip: "10.0.0.5" },
          { host: "edge-2", container: "db", ip: "10.0.0.6" },
        ],
      },
    ]);
  });

  it("locks an IP pool's network and Docker's own against removal here", () => {
    expect(rows.map((row) => networkLocked(row))).toEqual([{ pool: "lan" }, { pool: "lan" }, "builtin", "builtin", null]);
  });

  it("matches the filter on names, subnets, containers and addresses", () => {
    expect(rows.filter((row) => networkMatches(row, filterWords("10.0.0.6"))).map((row) => `${row.host}/${row.name}`)).toEqual(["edge-2/lan"]);
    expect(networksAcross(rows).filter((network) => networkMatches(network, filterWords("edge-1 172."))).map((network) => network.name)).toEqual(["bridge"]);
  });
});

describe("volumes across hosts", () => {
  it("groups by name with every host's users", () => {
    const rows = [volumeRow({ host: "edge-1", name: "data", containers: ["db"] }), volumeRow({ host: "edge-2", name: "data", containers: [] }), volumeRow({ host: "edge-2", name: "cache", driver: null })];
    expect(volumesAcross(rows)).toEqual([
      { name: "cache", drivers: [], hosts: ["edge-2"], users: [] },
      { name: "data", drivers: ["local"], hosts: ["edge-1", "edge-2"], users: [{ host: "edge-1", container: "db" }] },
    ]);
    expect(rows.filter((row) => volumeMatches(row, filterWords("db"))).map((row) => row.host)).toEqual(["edge-1"]);
  });
});
