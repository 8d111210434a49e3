import { describe, expect, it } from "vitest";
import { formatClock, formatDuration, largestUnit, parseTime, relativeAge } from "./time";

const now = Date.parse("2025-03-03T14:14:00Z");
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

describe("largestUnit", () => {
  it.each([
    [0, "second", 1],
    [400, "second", 1],
    [59 * SECOND, "second", 59],
    [60 * SECOND, "minute", 1],
    [12 * MINUTE + 59 * SECOND, "minute", 12],
    [3 * HOUR, "hour", 3],
    [36 * HOUR, "day", 1],
    [45 * DAY, "month", 1],
    [400 * DAY, "year", 1],
    [-5 * MINUTE, "second", 1],
  ] as const)("%i ms → %i %s", (elapsed, unit, value) => {
    expect(largestUnit(elapsed)).toEqual({ unit, value });
  });
});

describe("relativeAge", () => {
  it.each([
    [now - 12 * MINUTE, "en", "12 minutes ago"],
    [now - 1 * MINUTE, "en", "1 minute ago"],
    [now - 30 * SECOND, "en", "30 seconds ago"],
    [now - 3 * HOUR, "en", "3 hours ago"],
    [now - 1 * DAY, "en", "yesterday"],
    [now - 3 * DAY, "en", "3 days ago"],
    [now - 12 * MINUTE, "zh-CN", "12分钟前"],
    [now - 3 * HOUR, "zh-CN", "3小时前"],
    [now - 1 * DAY, "zh-CN", "昨天"],
  ] as const)("%i in %s → %s", (then, locale, expected) => {
    expect(relativeAge(then, now, locale)).toBe(expected);
  });

  it("reads a time slightly in the future (clock skew) as just now, never as 'in …'", () => {
    expect(relativeAge(now + 5 * SECOND, now, "en")).toBe("1 second ago");
  });
});

describe("formatDuration", () => {
  it.each([
    [3 * MINUTE, "en", "3 minutes"],
    [1 * HOUR, "en", "1 hour"],
    [2 * DAY + HOUR, "en", "2 days"],
    [3 * MINUTE, "zh-CN", "3分钟"],
  ] as const)("%i in %s → %s", (elapsed, locale, expected) => {
    expect(formatDuration(elapsed, locale)).toBe(expected);
  });
});

describe("formatClock", () => {
  it("shows only the time for today and adds the day otherwise", () => {
    const today = new Date(now);
    today.setHours(9, 5, 0, 0);
    expect(formatClock(today.getTime(), now, "en")).toBe("09:05");
    const earlier = new Date(now);
    earlier.setMonth(0, 15);
    earlier.setHours(9, 5, 0, 0);
    expect(formatClock(earlier.getTime(), now, "en")).toMatch(/^Jan 15, 09:05$/);
    const lastYear = new Date(earlier);
    lastYear.setFullYear(2023);
    expect(formatClock(lastYear.getTime(), now, "en")).toContain("2023");
  });
});

describe("parseTime", () => {
  it.each([
    ["2025-03-03T14:02:00Z", Date.parse("2025-03-03T14:02:00Z")],
    ["2025-03-03T14:02:00.123456789Z", Date.parse("2025-03-03T14:02:00.123Z")],
    ["0001-01-01T00:00:00Z", null],
    ["", null],
    [null, null],
    ["yesterday", null],
  ] as const)("%j → %j", (text, expected) => {
    expect(parseTime(text)).toBe(expected);
  });
});
