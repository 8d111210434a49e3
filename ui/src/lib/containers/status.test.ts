import { describe, expect, it } from "vitest";
import { translator } from "$lib/i18n";
import { row } from "../../testing/fake-backend";
import { statusText } from "./status";

const now = Date.parse("2025-03-03T15:00:00Z");
const MINUTE = 60_000;

describe("statusText", () => {
  const en = translator("en");
  it.each([
    [{ state: "running", started_ms: now - 3 * MINUTE }, "Up 3 minutes"],
    [{ state: "running", started_ms: now - 3 * MINUTE, health: "healthy" }, "Up 3 minutes (healthy)"],
    [{ state: "paused", started_ms: now - 60 * MINUTE }, "Up 1 hour (paused)"],
    [{ state: "exited", exit_code: 1, finished_ms: now - 120 * MINUTE }, "Exited (1) 2 hours ago"],
    [{ state: "exited", exit_code: 0, finished_ms: null }, "Exited (0)"],
    [{ state: "created" }, "Created"],
    [{ state: "dead" }, "Dead"],
    [{ state: "weird", status: "As Docker said" }, "As Docker said"],
  ] as const)("%j → %s", (overrides, expected) => {
    expect(statusText(row({ id: "a", ...overrides }), now, en)).toBe(expected);
  });

  it("speaks Chinese", () => {
    expect(statusText(row({ id: "a", state: "running", started_ms: now - 3 * MINUTE }), now, translator("zh-CN"))).toBe("已运行 3分钟");
  });
});
