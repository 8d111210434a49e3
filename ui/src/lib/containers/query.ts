// Searching, filtering and sorting the fleet's containers. Pure; the per-row lowercase text and
// sort keys are computed once per row object (rows are immutable: a patch brings new objects).
//
// Search syntax: words match name, image, host, IP, label keys and values (all words must match).
// `field:value` narrows one field: name: image: (substring), state: host: (exact), ip: (prefix),
// label:KEY (has the label) or label:KEY=VALUE. Several values for one field are alternatives;
// different fields must all match. `-` before a token excludes; "double quotes" keep spaces.
import type { ContainerRow } from "$lib/ipc";

export const QUERY_FIELDS = ["name", "image", "state", "host", "label", "ip"] as const;
export type QueryField = (typeof QUERY_FIELDS)[number];

export interface QueryToken {
  /** null: a free word matched against every searchable text. */
  field: QueryField | null;
  /** Lower-cased. */
  value: string;
  negated: boolean;
}

export interface ContainerQuery {
  tokens: readonly QueryToken[];
}

function isField(name: string): name is QueryField {
  return (QUERY_FIELDS as readonly string[]).includes(name);
}

/** Splits on whitespace outside double quotes; the quotes themselves are dropped. */
function splitWords(text: string): string[] {
  const words: string[] = [];
  let current = "";
  let quoted = false;
  let started = false;
  for (const char of text) {
    if (char === '"') {
      quoted = !quoted;
      started = true;
    } else if (!quoted && /\s/.test(char)) {
      if (started) words.push(current);
      current = "";
      started = false;
    } else {
      current += char;
      started = true;
    }
  }
  if (started) words.push(current);
  return words;
}

export function parseQuery(text: string): ContainerQuery {
  const tokens: QueryToken[] = [];
  for (const word of splitWords(text)) {
    let rest = word;
    let negated = false;
    if (rest.startsWith("-") && rest.length > 1) {
      negated = true;
      rest = rest.slice(1);
    }
    const colon = rest.indexOf(":");
    const name = colon > 0 ? rest.slice(0, colon).toLowerCase() : "";
    if (isField(name)) {
      const value = rest.slice(colon + 1).toLowerCase();
      // `name:` alone is a token still being typed: it filters nothing yet.
      if (value !== "") tokens.push({ field: name, value, negated });
    } else if (rest !== "" && rest !== "-") {
      tokens.push({ field: null, value: rest.toLowerCase(), negated });
    }
  }
  return { tokens };
}

/** The lower-cased texts a row is searched by. */
interface Haystack {
  name: string;
  image: string;
  state: string;
  host: string;
  ips: string[];
  labels: [string, string][];
}

const haystacks = new WeakMap<ContainerRow, Haystack>();

function haystackOf(row: ContainerRow): Haystack {
  let haystack = haystacks.get(row);
  if (!haystack) {
    const labels: [string, string][] = [];
    for (const [key, value] of Object.entries(row.labels)) labels.push([key.toLowerCase(), (value ?? "").toLowerCase()]);
    const ips: string[] = [];
    for (const ip of Object.values(row.ips)) if (ip) ips.push(ip.toLowerCase());
    haystack = {
      name: row.name.toLowerCase(),
      image: row.image.toLowerCase(),
      state: row.state.toLowerCase(),
      host: row.host.toLowerCase(),
      ips,
      labels,
    };
    haystacks.set(row, haystack);
  }
  return haystack;
}

function matchesLabel(labels: readonly [string, string][], wanted: string): boolean {
  const equals = wanted.indexOf("=");
  if (equals === -1) return labels.some(([key]) => key === wanted);
  const key = wanted.slice(0, equals);
  const value = wanted.slice(equals + 1);
  return labels.some(([k, v]) => k === key && v === value);
}

function matchesToken(haystack: Haystack, token: QueryToken): boolean {
  const value = token.value;
  switch (token.field) {
    case "name":
      return haystack.name.includes(value);
    case "image":
      return haystack.image.includes(value);
    case "state":
      return haystack.state === value;
    case "host":
      return haystack.host === value;
    case "ip":
      return haystack.ips.some((ip) => ip.startsWith(value));
    case "label":
      return matchesLabel(haystack.labels, value);
    case null:
      return (
        haystack.name.includes(value) ||
        haystack.image.includes(value) ||
        haystack.host.includes(value) ||
        haystack.ips.some((ip) => ip.includes(value)) ||
        haystack.labels.some(([key, labelValue]) => key.includes(value) || labelValue.includes(value))
      );
  }
}

export function matchesQuery(row: ContainerRow, query: ContainerQuery): boolean {
  if (query.tokens.length === 0) return true;
  const haystack = haystackOf(row);
  // Positive field tokens: OR within a field, AND across fields. Words and exclusions: each one.
  const alternatives = new Map<QueryField, boolean>();
  for (const token of query.tokens) {
    const matched = matchesToken(haystack, token);
    if (token.negated) {
      if (matched) return false;
    } else if (token.field === null) {
      if (!matched) return false;
    } else {
      alternatives.set(token.field, (alternatives.get(token.field) ?? false) || matched);
    }
  }
  for (const matched of alternatives.values()) if (!matched) return false;
  return true;
}

export interface ContainerFilter {
  query: ContainerQuery;
  /** Empty: every state. */
  states: ReadonlySet<string>;
  /** Empty: every host. */
  hosts: ReadonlySet<string>;
}

export function filterRows(rows: readonly ContainerRow[], filter: ContainerFilter): ContainerRow[] {
  const { query, states, hosts } = filter;
  return rows.filter(
    (row) => (states.size === 0 || states.has(row.state)) && (hosts.size === 0 || hosts.has(row.host)) && matchesQuery(row, query),
  );
}

// ---- sorting ----

export const SORT_KEYS = ["state", "name", "host", "image", "status", "created", "ip"] as const;
export type SortKey = (typeof SORT_KEYS)[number];

export interface SortOrder {
  key: SortKey;
  descending: boolean;
}

/** Running first: the order people scan a fleet in. */
const STATE_RANK: Readonly<Record<string, number>> = {
  running: 0,
  restarting: 1,
  paused: 2,
  created: 3,
  removing: 4,
  exited: 5,
  dead: 6,
};

/** Text that sorts naturally with plain `<`: lower case, digit runs zero-padded ("web-2" < "web-10"). */
export function naturalKey(text: string): string {
  return text.toLowerCase().replace(/\d+/g, (digits) => digits.replace(/^0+(?=\d)/, "").padStart(12, "0"));
}

/** IPv4 as a fixed-width number string (so 10.0.0.9 < 10.0.0.10); anything else after, as text. */
export function ipKey(ip: string | undefined): string {
  if (!ip) return "\uffff";
  const parts = ip.split(".");
  if (parts.length === 4 && parts.every((part) => /^\d{1,3}$/.test(part))) {
    return "4" + parts.map((part) => part.padStart(3, "0")).join(".");
  }
  return "6" + ip.toLowerCase();
}

/** When the row last changed state: started for live containers, finished (or created) otherwise. */
export function lastChangeMs(row: ContainerRow): number {
  if (row.state === "running" || row.state === "paused" || row.state === "restarting") return row.started_ms ?? row.created_ms;
  return row.finished_ms ?? row.created_ms;
}

interface SortKeys {
  name: string;
  host: string;
  image: string;
  ip: string;
}

const sortKeys = new WeakMap<ContainerRow, SortKeys>();

function sortKeysOf(row: ContainerRow): SortKeys {
  let keys = sortKeys.get(row);
  if (!keys) {
    const ips = Object.values(row.ips).filter((ip): ip is string => Boolean(ip));
    keys = { name: naturalKey(row.name), host: naturalKey(row.host), image: naturalKey(row.image), ip: ipKey(ips.sort()[0]) };
    sortKeys.set(row, keys);
  }
  return keys;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareBy(key: SortKey, a: ContainerRow, b: ContainerRow): number {
  switch (key) {
    case "name":
    case "host":
    case "image":
    case "ip":
      return compareText(sortKeysOf(a)[key], sortKeysOf(b)[key]);
    case "state":
      return (STATE_RANK[a.state] ?? 9) - (STATE_RANK[b.state] ?? 9);
    case "status":
      return lastChangeMs(a) - lastChangeMs(b);
    case "created":
      return a.created_ms - b.created_ms;
  }
}

/** A sorted copy; ties fall back to name, then host, then id, so the order never jitters. */
export function sortRows(rows: readonly ContainerRow[], order: SortOrder): ContainerRow[] {
  const direction = order.descending ? -1 : 1;
  return rows.slice().sort(
    (a, b) =>
      direction * compareBy(order.key, a, b) ||
      compareBy("name", a, b) ||
      compareBy("host", a, b) ||
      compareText(a.id, b.id),
  );
}
