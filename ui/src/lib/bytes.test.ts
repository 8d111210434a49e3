import { describe, expect, it } from "vitest";
import { formatBytes } from "./bytes";

describe("formatBytes", () => {
  it.each([
    [0, "0 B"],
    [999, "999 B"],
    [1000, "1 kB"],
    [4_404_019, "4.4 MB"],
    [187_654_321, "188 MB"],
    [1_234_567_890, "1.23 GB"],
  ])("%i → %s, as docker images prints it", (bytes, text) => {
    expect(formatBytes(bytes, "en")).toBe(text);
  });
});
