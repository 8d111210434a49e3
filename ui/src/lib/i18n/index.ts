// The UI's words, in one typed dictionary per language. `en` defines the keys; every other
// language must have exactly the same ones (the type says so, and a test checks it at run time).
import { en, type Message, type MessageKey } from "./en";
import { zhCN } from "./zh-CN";

export type { Message, MessageKey };

export const LOCALES = ["en", "zh-CN"] as const;
export type Locale = (typeof LOCALES)[number];

export type Dictionary = Record<MessageKey, Message>;

export const dictionaries: Record<Locale, Dictionary> = { en, "zh-CN": zhCN };

/** Values put into `{placeholders}`; numbers are formatted for the locale (grouping), strings verbatim. */
export type MessageParams = Record<string, string | number>;

export interface Translator {
  readonly locale: Locale;
  t(key: MessageKey, params?: MessageParams): string;
}

export function isLocale(value: string): value is Locale {
  return (LOCALES as readonly string[]).includes(value);
}

/** The first preferred language we speak: any Chinese → zh-CN, otherwise English. */
export function pickLocale(preferred: readonly string[]): Locale {
  for (const tag of preferred) {
    const lower = tag.toLowerCase();
    if (lower === "zh" || lower.startsWith("zh-")) return "zh-CN";
    if (lower === "en" || lower.startsWith("en-")) return "en";
  }
  return "en";
}

const pluralRules = new Map<Locale, Intl.PluralRules>();
const numberFormats = new Map<Locale, Intl.NumberFormat>();

function pluralRulesFor(locale: Locale): Intl.PluralRules {
  let rules = pluralRules.get(locale);
  if (!rules) {
    rules = new Intl.PluralRules(locale);
    pluralRules.set(locale, rules);
  }
  return rules;
}

export function formatNumber(value: number, locale: Locale): string {
  let format = numberFormats.get(locale);
  if (!format) {
    format = new Intl.NumberFormat(locale);
    numberFormats.set(locale, format);
  }
  return format.format(value);
}

export function translate(locale: Locale, key: MessageKey, params: MessageParams = {}): string {
  const message = dictionaries[locale][key];
  let template: string;
  if (typeof message === "string") {
    template = message;
  } else {
    const count = typeof params.count === "number" ? params.count : Number(params.count ?? 0);
    template = pluralRulesFor(locale).select(count) === "one" ? message.one : message.other;
  }
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => {
    const value = params[name];
    if (value === undefined) return whole;
    return typeof value === "number" ? formatNumber(value, locale) : value;
  });
}

export function translator(locale: Locale): Translator {
  return { locale, t: (key, params) => translate(locale, key, params) };
}
