// What the images, networks and volumes views share, pure: their filter box, short ids, and
// the users an `in_use` refusal names.
import type { ErrorLike } from "$lib/errors";

/** One row per host and object, or one row per object across the hosts that hold it. */
export type Scope = "host" | "across";

/** The words of a filter box, lower-cased; none: everything matches. */
export function filterWords(filter: string): string[] {
  return filter.toLowerCase().split(/\s+/).filter((word) => word !== "");
}

/** Every word appears (case-insensitively) in at least one of the texts. */
export function matchesWords(texts: readonly (string | null | undefined)[], words: readonly string[]): boolean {
  if (words.length === 0) return true;
  const haystack = texts.filter((text): text is string => Boolean(text)).map((text) => text.toLowerCase());
  return words.every((word) => haystack.some((text) => text.includes(word)));
}

/** An image or network id as `docker` prints it: 12 hex digits, without `sha256:`. */
export function shortId(id: string): string {
  return id.replace(/^sha256:/, "").slice(0, 12);
}

/** The containers an `in_use` refusal names (its `users` field), or null for any other error. */
export function inUseUsers(error: ErrorLike | null): string[] | null {
  if (error?.code !== "in_use") return null;
  return (error.fields?.users ?? "")
    .split(",")
    .map((user) => user.trim())
    .filter((user) => user !== "");
}
