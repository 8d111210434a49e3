// Times as people read them, in the chosen language: relative ages ("3 minutes ago"), durations
// ("3 minutes"), clock times. Pure functions of (time, now, locale); the Intl objects are cached.
import type { Locale } from "./i18n";

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const MONTH = 30 * DAY;
const YEAR = 365 * DAY;

type Unit = "year" | "month" | "day" | "hour" | "minute" | "second";

const UNITS: readonly (readonly [Unit, number])[] = [
  ["year", YEAR],
  ["month", MONTH],
  ["day", DAY],
  ["hour", HOUR],
  ["minute", MINUTE],
  ["second", SECOND],
];

/** The largest unit that fits at least once, and how many whole ones (at least 1 second). */
export function largestUnit(elapsedMs: number): { unit: Unit; value: number } {
  const elapsed = Math.max(0, elapsedMs);
  for (const [unit, size] of UNITS) {
    if (elapsed >= size) return { unit, value: Math.floor(elapsed / size) };
  }
  return { unit: "second", value: 1 };
}

function cached<T>(cache: Map<string, T>, key: string, make: () => T): T {
  let value = cache.get(key);
  if (value === undefined) {
    value = make();
    cache.set(key, value);
  }
  return value;
}

const relativeFormats = new Map<string, Intl.RelativeTimeFormat>();
const unitFormats = new Map<string, Intl.NumberFormat>();
const dateFormats = new Map<string, Intl.DateTimeFormat>();

/** "3 minutes ago", "yesterday", "3分钟前"; a time in the future (clock skew) reads as now-ish. */
export function relativeAge(thenMs: number, nowMs: number, locale: Locale): string {
  const { unit, value } = largestUnit(nowMs - thenMs);
  const format = cached(relativeFormats, locale, () => new Intl.RelativeTimeFormat(locale, { numeric: "auto" }));
  return format.format(-value, unit);
}

/** "3 minutes", "2 days", "3分钟": how long something has lasted. */
export function formatDuration(elapsedMs: number, locale: Locale): string {
  const { unit, value } = largestUnit(elapsedMs);
  const format = cached(
    unitFormats,
    `${locale}/${unit}`,
    () => new Intl.NumberFormat(locale, { style: "unit", unit, unitDisplay: "long" }),
  );
  return format.format(value);
}

function dateFormat(locale: Locale, name: string, options: Intl.DateTimeFormatOptions): Intl.DateTimeFormat {
  return cached(dateFormats, `${locale}/${name}`, () => new Intl.DateTimeFormat(locale, options));
}

function sameDay(a: Date, b: Date): boolean {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

/** "14:02" today, "Mar 3, 14:02" another day this year, with the year otherwise. */
export function formatClock(ms: number, nowMs: number, locale: Locale, withSeconds = false): string {
  const when = new Date(ms);
  const now = new Date(nowMs);
  const time: Intl.DateTimeFormatOptions = withSeconds
    ? { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" }
    : { hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
  const suffix = withSeconds ? "s" : "m";
  if (sameDay(when, now)) return dateFormat(locale, `time-${suffix}`, time).format(when);
  if (when.getFullYear() === now.getFullYear()) {
    return dateFormat(locale, `day-${suffix}`, { month: "short", day: "numeric", ...time }).format(when);
  }
  return dateFormat(locale, `year-${suffix}`, { year: "numeric", month: "short", day: "numeric", ...time }).format(when);
}

/** A full, unambiguous date and time: "Mar 3, 2025, 14:02:09". */
export function formatDateTime(ms: number, locale: Locale): string {
  return dateFormat(locale, "full", {
    year: "numeric",
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hourCycle: "h23",
  }).format(new Date(ms));
}

/** RFC 3339 → epoch ms; null for missing text, Docker's zero time (0001-01-01…) and garbage. */
export function parseTime(text: string | null | undefined): number | null {
  if (!text || text.startsWith("0001-01-01")) return null;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? null : ms;
}
