// Sizes as `docker images` prints them: decimal units (1 MB = 1,000,000 bytes), three
// significant digits, in the locale's number format. Pure.
import type { Locale } from "./i18n";

const UNITS = ["B", "kB", "MB", "GB", "TB", "PB"] as const;
const formats = new Map<Locale, Intl.NumberFormat>();

export function formatBytes(bytes: number, locale: Locale): string {
  let value = Math.max(0, bytes);
  let unit = 0;
  while (value >= 1000 && unit < UNITS.length - 1) {
    value /= 1000;
    unit += 1;
  }
  if (unit === 0) return `${Math.round(value)} B`;
  let format = formats.get(locale);
  if (!format) {
    format = new Intl.NumberFormat(locale, { maximumSignificantDigits: 3 });
    formats.set(locale, format);
  }
  return `${format.format(value)} ${UNITS[unit]}`;
}
