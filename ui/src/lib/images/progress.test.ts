import { describe, expect, it } from "vitest";
import type { LayerProgress } from "$lib/ipc";
import { transfer } from "../../testing/fake-backend";
import { layerFraction, pullFraction, pushFraction, rememberSizes, transferView } from "./progress";

const layer = (id: string, status: string, current: number | null = null, total: number | null = null): LayerProgress => ({ id, status, current, total });

describe("layerFraction", () => {
  it.each([
    ["Waiting", null, null, null],
    ["Pulling fs layer", null, null, null],
    ["Downloading", 250, 1000, 0.25],
    ["Downloading", 2000, 1000, 1],
    ["Verifying Checksum", null, null, 1],
    ["Download complete", null, null, 1],
    ["Extracting", 100, 1000, 0.1],
    ["Pull complete", null, null, 1],
    ["Already exists", null, null, 1],
  ] as const)("%s %s/%s → %s", (status, current, total, expected) => {
    expect(layerFraction(layer("a", status, current, total))).toBe(expected);
  });
});

describe("pullFraction", () => {
  const sizes = new Map([
    ["a", 1000],
    ["b", 3000],
  ]);
  const size = (id: string) => sizes.get(id);

  it("weighs each layer by its size, counting it whole once downloaded", () => {
    expect(pullFraction([layer("a", "Downloading", 500, 1000), layer("b", "Downloading", 0, 3000)], size)).toBe(0.125);
    expect(pullFraction([layer("a", "Extracting", 10, 1000), layer("b", "Downloading", 1500, 3000)], size)).toBe(0.625);
    expect(pullFraction([layer("a", "Pull complete"), layer("b", "Download complete")], size)).toBe(1);
  });

  it("gives a layer of unknown size the mean known size, and knows nothing before any layer", () => {
    expect(pullFraction([layer("a", "Downloading", 1000, 1000), layer("c", "Waiting")], size)).toBe(0.5);
    expect(pullFraction([layer("x", "Already exists"), layer("y", "Waiting")], () => undefined)).toBe(0.5);
    expect(pullFraction([], size)).toBeNull();
  });

  it("remembers the largest total seen while downloading", () => {
    const seen = new Map<string, number>();
    rememberSizes([layer("a", "Downloading", 10, 900), layer("b", "Waiting"), layer("c", "Extracting", 1, 50)], seen);
    rememberSizes([layer("a", "Downloading", 20, 1000), layer("a", "Pull complete")], seen);
    expect([...seen]).toEqual([["a", 1000]]);
  });
});

describe("transferView", () => {
  it("measures a push by bytes sent, a build not at all, and fills the bar of what is done", () => {
    expect(pushFraction({ bytes_sent: 25, bytes_total: 100 })).toBe(0.25);
    expect(pushFraction({ bytes_sent: 0, bytes_total: 0 })).toBeNull();
    expect(transferView(transfer({ id: 1, kind: "push", bytes_sent: 50, bytes_total: 200 })).fraction).toBe(0.25);
    expect(transferView(transfer({ id: 2, kind: "build", output: ["Step 1/3 : FROM scratch"] })).fraction).toBeNull();
    expect(transferView(transfer({ id: 3, kind: "build", state: "done" })).fraction).toBe(1);
    const failed = transferView(transfer({ id: 4, state: "failed", layers: [layer("a", "Downloading", 1, 4)] }), () => 4);
    expect([failed.fraction, failed.layers.map((l) => l.fraction)]).toEqual([0.25, [0.25]]);
  });
});
