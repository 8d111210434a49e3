// The activity log's rules, pure: which audit query a set of filters asks, how a request row and
// its completion become one line, and the key-by-key difference of a change's before and after.
import type { AuditObject, AuditQuery, AuditRow, JsonValue, Outcome, Via } from "$lib/ipc";

export const VIAS: readonly Via[] = ["app", "cli", "external"];
export const OUTCOMES: readonly Outcome[] = ["ok", "failed", "unknown"];
/** The kinds of object the store records (`validate_kind` in crates/core/src/store/audit.rs). */
export const KINDS = ["container", "network", "image", "pool", "lease", "host", "volume", "app"] as const;
/** The most rows one audit query may ask for (`MAX_AUDIT_LIMIT`). */
export const MAX_AUDIT_LIMIT = 100_000;

/** What the user narrows the log to; null (or an empty op) is "any". */
export interface ActivityFilter {
  host: string | null;
  via: Via | null;
  op: string | null;
  outcome: Outcome | null;
  kind: string | null;
  /** An object's name or id (a container's own log: its id). */
  object: string | null;
}

export const ANY: ActivityFilter = { host: null, via: null, op: null, outcome: null, kind: null, object: null };

/** True when any filter narrows the log. */
export function isFiltered(filter: ActivityFilter): boolean {
  return Object.values(filter).some((value) => value !== null && value !== "");
}

/**
 * The store query for `filter`, newest `limit` rows. "Asked" (outcome unknown) is not asked of
 * the store: a request row stays `unknown` once its completion is written, so only pairing can
 * tell an unanswered request (see `visibleEntries`). ok and failed are exact in the store: they
 * are completions' and single rows' outcomes.
 */
export function auditQuery(filter: ActivityFilter, limit: number): AuditQuery {
  const query: AuditQuery = { limit: Math.min(Math.max(1, Math.floor(limit)), MAX_AUDIT_LIMIT) };
  if (filter.host !== null) query.host = filter.host;
  if (filter.via !== null) query.via = filter.via;
  const op = filter.op?.trim() ?? "";
  if (op !== "") query.op = op;
  if (filter.outcome === "ok" || filter.outcome === "failed") query.outcome = filter.outcome;
  if (filter.kind !== null) query.kind = filter.kind;
  const object = filter.object?.trim() ?? "";
  if (object !== "") query.object = object;
  return query;
}

/** One line of the log: a change, from one row or from a request and its completion. */
export interface ActivityEntry {
  /** Its first row's id (the request's when it is one): stable while the completion arrives. */
  key: number;
  /** Its rows, oldest first: the request then its completion, or the one row. */
  rows: readonly AuditRow[];
  /** The request's time (when the change was asked for), else the row's. */
  time: string;
  time_ms: number;
  op: string;
  actor: string;
  via: Via;
  host: string | null;
  kind: string;
  /** As last learnt (a create's completion knows the id its request did not). */
  object: AuditObject;
  action: string;
  /** The completion's; `unknown` for a request with none ("asked"). */
  outcome: Outcome;
  error: string | null;
  before: JsonValue | null;
  after: JsonValue | null;
  reason: string | null;
  /** Made outside Berth (seen in a host's events). */
  external: boolean;
}

function entry(rows: readonly AuditRow[]): ActivityEntry {
  const first = rows[0];
  const last = rows[rows.length - 1];
  return {
    key: first.id,
    rows,
    time: first.time,
    time_ms: first.time_ms,
    op: first.op,
    actor: first.actor,
    via: first.via,
    host: first.host,
    kind: first.kind,
    object: { id: last.object.id ?? first.object.id, name: last.object.name ?? first.object.name },
    action: first.action,
    outcome: last.outcome,
    error: last.error,
    before: first.before ?? last.before,
    after: last.after,
    reason: first.reason ?? last.reason,
    external: first.via === "external",
  };
}

/**
 * Rows (newest first, as the store answers) as lines: a request and its completion become one,
 * at the request's place; a completion whose request is not loaded, and a request with no
 * completion loaded, stand alone.
 */
export function pairRows(rows: readonly AuditRow[]): ActivityEntry[] {
  const loaded = new Set<number>();
  const completions = new Map<number, AuditRow>();
  for (const row of rows) {
    loaded.add(row.id);
    if (row.request !== null && !completions.has(row.request)) completions.set(row.request, row);
  }
  const entries: ActivityEntry[] = [];
  for (const row of rows) {
    if (row.request !== null) {
      if (loaded.has(row.request) && completions.get(row.request) === row) continue;
      entries.push(entry([row]));
      continue;
    }
    const completion = completions.get(row.id);
    entries.push(entry(completion ? [row, completion] : [row]));
  }
  return entries;
}

/** The lines `filter` lets through that the store could not decide: "asked" is checked here. */
export function visibleEntries(entries: readonly ActivityEntry[], filter: Pick<ActivityFilter, "outcome">): readonly ActivityEntry[] {
  if (filter.outcome !== "unknown") return entries;
  return entries.filter((line) => line.outcome === "unknown");
}

/** An object as a person names it: its name, else its short id, else nothing. */
export function objectLabel(object: AuditObject): string {
  if (object.name) return object.name;
  if (object.id) return object.id.replace(/^sha256:/, "").slice(0, 12);
  return "";
}

/** One key of a before/after pair: its value on each side (null: absent there). */
export interface DiffLine {
  key: string;
  before: string | null;
  after: string | null;
  changed: boolean;
}

function isObject(value: JsonValue | null): value is { [key in string]: JsonValue } {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** JSON with object keys sorted: two values are equal iff their canonical texts are. */
export function canonical(value: JsonValue | undefined): string {
  if (value === undefined) return "";
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (isObject(value)) {
    const keys = Object.keys(value).sort();
    return `{${keys.map((key) => `${JSON.stringify(key)}:${canonical(value[key])}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

function isScalar(value: JsonValue): boolean {
  return value === null || typeof value !== "object";
}

/** A value for a diff cell: text as it is, a list of names as "a, b", a flat map as "k: v". */
export function formatValue(value: JsonValue): string {
  if (typeof value === "string") return value;
  if (Array.isArray(value)) return value.length > 0 && value.every(isScalar) ? value.map((item) => formatValue(item)).join(", ") : JSON.stringify(value);
  if (isObject(value)) {
    const entries = Object.entries(value);
    if (entries.length > 0 && entries.every(([, item]) => isScalar(item))) return entries.map(([key, item]) => `${key}: ${formatValue(item)}`).join(", ");
    return canonical(value);
  }
  return JSON.stringify(value);
}

/** A side as a key → value map: an object as it is, nothing as {}, anything else as `value`. */
function sides(value: JsonValue | null): { [key in string]: JsonValue } {
  if (value === null) return {};
  return isObject(value) ? value : { value };
}

/**
 * Before against after, key by key: before's keys in their order, then keys only after has.
 * A key is changed when its values differ (deeply; key order aside) or one side lacks it.
 */
export function diffStates(before: JsonValue | null, after: JsonValue | null): DiffLine[] {
  if (before === null && after === null) return [];
  const was = sides(before);
  const now = sides(after);
  const keys = [...Object.keys(was), ...Object.keys(now).filter((key) => !Object.hasOwn(was, key))];
  return keys.map((key) => {
    const inBefore = Object.hasOwn(was, key);
    const inAfter = Object.hasOwn(now, key);
    return {
      key,
      before: inBefore ? formatValue(was[key]) : null,
      after: inAfter ? formatValue(now[key]) : null,
      changed: inBefore !== inAfter || canonical(was[key]) !== canonical(now[key]),
    };
  });
}
