// The chosen language: from the OS/browser languages at first, then the user's pick (kept in
// localStorage). `t` reads it, so every string re-renders when it changes.
import { isLocale, pickLocale, translate, type Locale, type MessageKey, type MessageParams, type Translator } from "./index";

const STORAGE_KEY = "berth.locale";

function initialLocale(): Locale {
  try {
    const saved = globalThis.localStorage?.getItem(STORAGE_KEY);
    if (saved && isLocale(saved)) return saved;
  } catch {
    // Storage can be unavailable (private mode, tests): the OS language decides.
  }
  const languages = globalThis.navigator?.languages ?? [globalThis.navigator?.language ?? "en"];
  return pickLocale(languages);
}

class I18n implements Translator {
  locale = $state<Locale>(initialLocale());

  t = (key: MessageKey, params?: MessageParams): string => translate(this.locale, key, params);

  setLocale(locale: Locale): void {
    this.locale = locale;
    try {
      globalThis.localStorage?.setItem(STORAGE_KEY, locale);
    } catch {
      // Not remembered, still applied.
    }
  }
}

export const i18n = new I18n();

/** Translates with the current language. */
export const t = i18n.t;
