import { describe, expect, it } from "vitest";
import type { ContainerRow, ContainersPatch } from "$lib/ipc";
import { row } from "../../testing/fake-backend";
import { applyPatches, renameHost, rowKey } from "./patch";

const a = row({ id: "a", host_id: 1, host: "one" });
const b = row({ id: "b", host_id: 1, host: "one" });
const c = row({ id: "c", host_id: 2, host: "two" });

function patch(hostId: number, changes: Partial<Omit<ContainersPatch, "host_id">>): ContainersPatch {
  return { host_id: hostId, replace: false, upsert: [], remove: [], ...changes };
}

const ids = (rows: readonly ContainerRow[]) => rows.map(rowKey);

describe("applyPatches", () => {
  const cases: [string, ContainersPatch[], string[]][] = [
    ["nothing", [], ["1/a", "1/b", "2/c"]],
    ["an upsert of a new row appends it", [patch(1, { upsert: [row({ id: "d", host_id: 1 })] })], ["1/a", "1/b", "2/c", "1/d"]],
    ["an upsert of a known row keeps its place", [patch(1, { upsert: [{ ...b, state: "exited" }] })], ["1/a", "1/b", "2/c"]],
    ["remove drops the id on that host only", [patch(1, { remove: ["a", "c"] })], ["1/b", "2/c"]],
    ["remove of an unknown id is harmless", [patch(1, { remove: ["zzz"] })], ["1/a", "1/b", "2/c"]],
    ["replace swaps the host's whole list", [patch(1, { replace: true, upsert: [row({ id: "x", host_id: 1 })] })], ["2/c", "1/x"]],
    ["replace with nothing empties the host", [patch(2, { replace: true })], ["1/a", "1/b"]],
    [
      "patches apply in order: remove then re-add",
      [patch(1, { remove: ["a"] }), patch(1, { upsert: [row({ id: "a", host_id: 1 })] })],
      ["1/b", "2/c", "1/a"],
    ],
    ["patches apply in order: add then remove", [patch(1, { upsert: [row({ id: "d", host_id: 1 })] }), patch(1, { remove: ["d"] })], ["1/a", "1/b", "2/c"]],
    [
      "an upsert after a replace lands on the new list",
      [patch(1, { replace: true, upsert: [row({ id: "x", host_id: 1 })] }), patch(1, { upsert: [row({ id: "y", host_id: 1 })] })],
      ["2/c", "1/x", "1/y"],
    ],
    ["within one patch, remove wins over upsert", [patch(1, { upsert: [row({ id: "d", host_id: 1 })], remove: ["d"] })], ["1/a", "1/b", "2/c"]],
    [
      "the same id on two hosts is two containers",
      [patch(2, { upsert: [row({ id: "a", host_id: 2 })] })],
      ["1/a", "1/b", "2/c", "2/a"],
    ],
  ];
  it.each(cases)("%s", (_name, patches, expected) => {
    expect(ids(applyPatches([a, b, c], patches))).toEqual(expected);
  });

  it("returns the same array when there are no patches", () => {
    const rows = [a, b];
    expect(applyPatches(rows, [])).toBe(rows);
  });

  it("returns a new array and never mutates its input", () => {
    const rows = [a, b, c];
    const next = applyPatches(rows, [patch(1, { remove: ["a"] })]);
    expect(next).not.toBe(rows);
    expect(ids(rows)).toEqual(["1/a", "1/b", "2/c"]);
  });

  it("carries the upserted data and keeps untouched rows as the same objects", () => {
    const next = applyPatches([a, b, c], [patch(1, { upsert: [{ ...b, state: "exited" }] })]);
    expect(next[1].state).toBe("exited");
    expect(next[0]).toBe(a);
    expect(next[2]).toBe(c);
  });
});

describe("renameHost", () => {
  it("renames the host's rows and leaves the others alone", () => {
    const next = renameHost([a, b, c], 1, "uno");
    expect(next.map((r) => r.host)).toEqual(["uno", "uno", "two"]);
    expect(next[2]).toBe(c);
  });
  it("returns the same array when nothing changes", () => {
    const rows = [a, c];
    expect(renameHost(rows, 1, "one")).toBe(rows);
  });
});
