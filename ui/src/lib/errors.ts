// Failures in the UI's language. A command's error is worded from its code and fields
// (`errors.<code>` in src/lib/i18n/en.ts and zh-CN.ts), with the daemon's or the system's own
// words (`detail`) beneath, untranslated. An error with a `kind` field (`in_use`: an image, a
// network, a volume) is worded by `errors.<code>.<kind>` where the dictionaries have one. A code
// the dictionaries do not know, or an error that lacks a field its text needs, shows the core's
// English `message` instead. Pure.
import { en, type MessageKey } from "$lib/i18n/en";
import type { MessageParams } from "$lib/i18n";
import type { TestResult } from "$lib/ipc";

/** Every code `berth_core::Error::code()` returns (crates/core/src/error.rs), plus the app's own. */
export const ERROR_CODES = [
  "invalid_url",
  "invalid_input",
  "host_exists",
  "host_not_found",
  "container_not_found",
  "ambiguous_container",
  "pool_not_found",
  "pool_exhausted",
  "address_unavailable",
  "not_a_berth_database",
  "schema_too_new",
  "store",
  "unreachable",
  "permission_denied",
  "docker",
  "host_key_unknown",
  "host_key_changed",
  "auth_failed",
  "keyring_unavailable",
  "image_not_found",
  "in_use",
  "pool_network",
  "cancelled",
  "plan_changed",
  "io",
  "internal",
] as const;

/**
 * What a failure carries: an IpcError, or the same data kept by a controller, so that the text
 * follows the language when it changes. `fields` and `detail` may be absent (an older backend).
 */
export interface ErrorLike {
  readonly code: string;
  readonly message: string;
  readonly fields?: Readonly<Record<string, string>>;
  readonly detail?: string | null;
}

export interface DescribedError {
  /** The failure in the UI's language (or the core's English for an unknown code). */
  text: string;
  /** Whoever refused, in their own words; null when there are none, or `text` already says them. */
  detail: string | null;
}

export type Translate = (key: MessageKey, params?: MessageParams) => string;

/** The dictionary key for `code` (for its `kind`, when it has one worded apart), if the dictionaries word it. */
export function errorKey(code: string, fields: Readonly<Record<string, string>> = {}): MessageKey | null {
  const keys = fields.kind ? [`errors.${code}.${fields.kind}`, `errors.${code}`] : [`errors.${code}`];
  const key = keys.find((candidate) => Object.hasOwn(en, candidate));
  return key === undefined ? null : (key as MessageKey);
}

/** The `{placeholders}` a message uses (the same in every language: a test checks it). */
function placeholders(key: MessageKey): string[] {
  const message = en[key];
  const texts = typeof message === "string" ? [message] : [message.one, message.other];
  return texts.flatMap((text) => [...text.matchAll(/\{(\w+)\}/g)].map((match) => match[1]));
}

/**
 * `error` in the language `t` speaks: `errors.<code>` with its `{field}`s filled from `fields`
 * (and `{message}` from the core's English), `detail` beneath. Falls back to `message` when the
 * code is unknown or a field the text needs is missing.
 */
export function describeError(error: ErrorLike, t: Translate): DescribedError {
  const detail = error.detail ? error.detail : null;
  const key = errorKey(error.code, error.fields);
  const params: Record<string, string> = { ...error.fields, message: error.message };
  if (key === null || placeholders(key).some((name) => params[name] === undefined)) {
    // The core's message already ends with the detail, most of the time: say it once.
    return { text: error.message, detail: detail !== null && error.message.includes(detail) ? null : detail };
  }
  return { text: t(key, params), detail };
}

/** An error that has only words (a session's end, a channel's failure): shown as it is. */
export function plainError(message: string): ErrorLike {
  return { code: "", message, fields: {}, detail: null };
}

/**
 * A failed "test connection" as an error: its code, fields and detail as a command's error has
 * them. The tested spec's name and URL fill in fields the result lacks (an older backend's, or
 * a failure before any host was named), so `errors.unreachable` can still be worded.
 */
export function testFailure(
  result: Pick<TestResult, "ok" | "code" | "message"> & Partial<Pick<TestResult, "fields" | "detail">>,
  spec: { name: string; url: string },
): ErrorLike | null {
  if (result.ok) return null;
  return {
    code: result.code ?? "",
    message: result.message,
    fields: { host: spec.name, name: spec.name, url: spec.url, ...(result.fields ?? {}) },
    detail: result.detail ?? result.message,
  };
}
