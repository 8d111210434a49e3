// One container's log as the logs view shows it: read (and followed) from its host in batches,
// split into lines per stream, bounded in memory (the oldest lines go first), pausable (lines
// keep arriving into a bounded hold while paused), searchable.
import { toIpcError, type Backend, type ContainerRow, type LogEvent, type LogSpec } from "$lib/ipc";
import { VirtualList } from "$lib/virtual/virtual-list.svelte";
import { plainError, type ErrorLike } from "$lib/errors";

/** The most lines kept; a chatty container's older lines are dropped. */
export const MAX_LINES = 20_000;
export const LOG_ROW_HEIGHT = 20;

export interface LogLine {
  seq: number;
  /** 1 stdout, 2 stderr. */
  stream: number;
  text: string;
}

export interface LogOptions {
  /** Lines from the end to start with; null: the whole log. */
  tail: number | null;
  /** A duration back from now ("10m", "2h", "1d") or empty for no limit. */
  since: string;
  timestamps: boolean;
  follow: boolean;
}

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** "10m" → seconds before `now` as Unix seconds; "" → null; anything else → undefined (invalid). */
export function sinceSeconds(text: string, nowMs: number): number | null | undefined {
  const trimmed = text.trim();
  if (trimmed === "") return null;
  const match = /^(\d+)\s*([smhd])$/.exec(trimmed);
  if (!match) return undefined;
  return Math.floor(nowMs / 1000) - Number(match[1]) * UNITS[match[2]];
}

/** A "since" that is not a duration, worded by `errors.bad_duration`. */
export function badDuration(value: string): ErrorLike {
  return { code: "bad_duration", message: `"${value}" is not a duration; write e.g. 30s, 10m, 2h or 1d`, fields: { value }, detail: null };
}

export class ContainerLog {
  target = $state.raw<{ host: string; id: string; name: string } | null>(null);
  options = $state<LogOptions>({ tail: 1000, since: "", timestamps: false, follow: true });
  lines = $state.raw<readonly LogLine[]>([]);
  /** Lines dropped from the front to stay within MAX_LINES. */
  dropped = $state(0);
  paused = $state(false);
  /** Lines that arrived while paused. */
  held = $state(0);
  state = $state<"idle" | "reading" | "following" | "ended" | "failed">("idle");
  /** Why the log could not be read, kept whole so the view words it in the current language. */
  error = $state.raw<ErrorLike | null>(null);
  search = $state("");
  saving = $state(false);
  /** The outcome of the last save: the file written, or why it failed. */
  saved = $state.raw<{ path: string; bytes: number } | { error: ErrorLike } | null>(null);

  readonly list = new VirtualList({ rowHeight: LOG_ROW_HEIGHT, count: () => this.lines.length });
  /** Indexes of the lines matching the search. */
  readonly matches: readonly number[] = $derived.by(() => {
    const needle = this.search.toLowerCase();
    if (needle === "") return [];
    const found: number[] = [];
    this.lines.forEach((line, index) => {
      if (line.text.toLowerCase().includes(needle)) found.push(index);
    });
    return found;
  });

  readonly #backend: Backend;
  readonly #now: () => number;
  #stream: number | null = null;
  #generation = 0;
  #seq = 0;
  #partial = new Map<number, string>();
  #holding: LogLine[] = [];

  constructor(backend: Backend, now: () => number = Date.now) {
    this.#backend = backend;
    this.#now = now;
  }

  /** Shows `row`'s log from now on (closing the previous one). */
  show(row: Pick<ContainerRow, "host" | "id" | "name">): Promise<void> {
    this.target = { host: row.host, id: row.id, name: row.name };
    this.saved = null;
    return this.reload();
  }

  /** Reads the log again with the current options. */
  async reload(): Promise<void> {
    this.close();
    const target = this.target;
    if (!target) return;
    const since = sinceSeconds(this.options.since, this.#now());
    if (since === undefined) {
      this.state = "failed";
      this.error = badDuration(this.options.since);
      return;
    }
    const generation = ++this.#generation;
    this.lines = [];
    this.dropped = 0;
    this.held = 0;
    this.#holding = [];
    this.#partial.clear();
    this.error = null;
    this.state = this.options.follow ? "following" : "reading";
    const spec: LogSpec = { follow: this.options.follow, tail: this.options.tail, since, timestamps: this.options.timestamps };
    try {
      const stream = await this.#backend.logsOpen(target.host, target.id, spec, (event) => {
        if (generation === this.#generation) this.#receive(event);
      });
      if (generation === this.#generation) this.#stream = stream;
      else this.#backend.logsClose(stream).catch(() => undefined);
    } catch (rejection) {
      if (generation !== this.#generation) return;
      this.state = "failed";
      this.error = toIpcError(rejection);
    }
  }

  close(): void {
    this.#generation++;
    if (this.#stream !== null) this.#backend.logsClose(this.#stream).catch(() => undefined);
    this.#stream = null;
  }

  togglePause(): void {
    this.paused = !this.paused;
    if (!this.paused) {
      const holding = this.#holding;
      this.#holding = [];
      this.held = 0;
      this.#append(holding);
    }
  }

  /**
   * Saves the log with the current options (tail, since, timestamps) to a new file in the
   * Downloads folder. The backend reads it afresh from the host, so the file holds every line
   * asked for, not only the ones this view keeps.
   */
  async save(): Promise<void> {
    const target = this.target;
    if (!target || this.saving) return;
    const since = sinceSeconds(this.options.since, this.#now());
    if (since === undefined) {
      this.saved = { error: badDuration(this.options.since) };
      return;
    }
    this.saving = true;
    this.saved = null;
    try {
      const spec: LogSpec = { follow: false, tail: this.options.tail, since, timestamps: this.options.timestamps };
      const file = await this.#backend.logsSave(target.host, target.id, spec);
      this.saved = { path: file.path, bytes: file.bytes };
    } catch (rejection) {
      this.saved = { error: toIpcError(rejection) };
    } finally {
      this.saving = false;
    }
  }

  #receive(event: LogEvent): void {
    if (event === "Ended") {
      this.#flushPartial();
      this.state = "ended";
      this.#stream = null;
      return;
    }
    if (event.Failed !== undefined) {
      this.state = "failed";
      this.error = plainError(event.Failed);
      this.#stream = null;
      return;
    }
    const lines: LogLine[] = [];
    for (const [stream, text] of event.Lines ?? []) {
      const pieces = ((this.#partial.get(stream) ?? "") + text).split("\n");
      this.#partial.set(stream, pieces.pop() ?? "");
      for (const piece of pieces) lines.push({ seq: ++this.#seq, stream, text: piece });
    }
    if (this.paused) {
      this.#holding.push(...lines);
      if (this.#holding.length > MAX_LINES) this.#holding.splice(0, this.#holding.length - MAX_LINES);
      this.held = this.#holding.length;
    } else {
      this.#append(lines);
    }
  }

  #flushPartial(): void {
    const lines: LogLine[] = [];
    for (const [stream, text] of this.#partial) if (text !== "") lines.push({ seq: ++this.#seq, stream, text });
    this.#partial.clear();
    if (this.paused) this.#holding.push(...lines);
    else this.#append(lines);
  }

  #append(lines: LogLine[]): void {
    if (lines.length === 0) return;
    const next = [...this.lines, ...lines];
    const over = next.length - MAX_LINES;
    if (over > 0) {
      next.splice(0, over);
      this.dropped += over;
    }
    this.lines = next;
  }
}
