// Web shell tabs: one terminal per tab, each bound to a shell session on the backend. A tab and
// its terminal outlive the view that shows them (switching views keeps the session and its
// screen); a tab whose session ended says how and can reconnect into the same terminal.
import { toIpcError, type Backend, type ContainerRow, type ExecEnd, type ShellMessage } from "$lib/ipc";
import { plainError, type ErrorLike } from "$lib/errors";

/** What the tabs need of a terminal; the app's is xterm.js (./xterm.ts), tests pass their own. */
export interface Terminal {
  readonly rows: number;
  readonly cols: number;
  /** Attaches the terminal to its element (once, when the element is in the document). */
  open(parent: HTMLElement): void;
  /** Writes output; `written` runs once the terminal has processed it. */
  write(data: Uint8Array | string, written?: () => void): void;
  /** Keystrokes and pastes, as the terminal encodes them. */
  onData(handler: (data: string) => void): void;
  /** Refits rows and columns to the element's size. */
  fit(): void;
  focus(): void;
  /** Finds `text` in the scrollback (the next match from the selection); false when none. */
  search(text: string): boolean;
  dispose(): void;
}

/** Makes a terminal; the app's loads xterm.js on first use, keeping it out of the start-up. */
export type TerminalFactory = () => Terminal | Promise<Terminal>;

export type TabState = "opening" | "open" | "ended" | "failed";

/**
 * Output bytes the terminal has processed are acknowledged to the backend in steps of this
 * much; the backend holds a session back once 4 MiB go unacknowledged (ACK_WINDOW in
 * crates/core/src/shell.rs), so this must stay well below that.
 */
export const ACK_STEP = 256 * 1024;

let nextKey = 0;

export class ShellTab {
  readonly key = ++nextKey;
  readonly host: string;
  readonly containerId: string;
  readonly name: string;
  readonly element: HTMLDivElement;
  readonly terminal: Terminal;
  state = $state<TabState>("opening");
  session = $state<number | null>(null);
  end = $state.raw<ExecEnd | null>(null);
  /** Why the session failed: a command's error, or the words its end came with. */
  failure = $state.raw<ErrorLike | null>(null);
  opened = false;
  /** Keystrokes not yet sent: sent in order, one call at a time, batched while one is in flight. */
  pendingInput = "";
  sending = false;
  size: { rows: number; cols: number } | null = null;
  /** Output bytes processed by the terminal and not yet acknowledged to the session. */
  unacked = 0;

  constructor(row: Pick<ContainerRow, "host" | "id" | "name">, terminal: Terminal) {
    this.host = row.host;
    this.containerId = row.id;
    this.name = row.name;
    this.terminal = terminal;
    this.element = document.createElement("div");
    this.element.className = "shell-terminal";
  }

  get title(): string {
    return `${this.host}/${this.name}`;
  }
}

export class ShellTabs {
  tabs = $state.raw<readonly ShellTab[]>([]);
  activeKey = $state<number | null>(null);
  readonly active: ShellTab | null = $derived(this.tabs.find((tab) => tab.key === this.activeKey) ?? null);

  readonly #backend: Backend;
  readonly #makeTerminal: TerminalFactory;

  constructor(backend: Backend, makeTerminal: TerminalFactory) {
    this.#backend = backend;
    this.#makeTerminal = makeTerminal;
  }

  /** Opens a shell in `row`'s container in a new tab, made active. */
  async open(row: ContainerRow): Promise<ShellTab> {
    const tab = new ShellTab(row, await this.#makeTerminal());
    tab.terminal.onData((data) => this.#type(tab, data));
    this.tabs = [...this.tabs, tab];
    this.activeKey = tab.key;
    void this.#connect(tab);
    return tab;
  }

  /**
   * Tabs for the sessions the backend still holds (after the page reloaded), each attached anew:
   * its recent output is replayed into a fresh terminal. `nameOf` names a container by its id.
   */
  async restore(nameOf: (host: string, id: string) => string | undefined = () => undefined): Promise<void> {
    const sessions = await this.#backend.shellList();
    for (const info of sessions) {
      if (this.tabs.some((tab) => tab.session === info.id)) continue;
      const name = nameOf(info.host, info.container) ?? info.container.slice(0, 12);
      const tab = new ShellTab({ host: info.host, id: info.container, name }, await this.#makeTerminal());
      tab.terminal.onData((data) => this.#type(tab, data));
      tab.session = info.id;
      tab.unacked = 0;
      tab.state = info.ended ? "ended" : "open";
      tab.end = info.ended;
      this.tabs = [...this.tabs, tab];
      this.activeKey ??= tab.key;
      try {
        await this.#backend.shellAttach(info.id, (message) => this.#receive(tab, info.id, message));
      } catch (rejection) {
        tab.state = "failed";
        tab.failure = toIpcError(rejection);
      }
    }
  }

  /** A new session in an ended tab, into the same terminal. */
  reconnect(tab: ShellTab): void {
    if (tab.state === "open" || tab.state === "opening") return;
    tab.terminal.write("\r\n");
    void this.#connect(tab);
  }

  close(tab: ShellTab): void {
    if (tab.session !== null && (tab.state === "open" || tab.state === "opening")) {
      this.#backend.shellClose(tab.session).catch(() => undefined);
    }
    tab.terminal.dispose();
    const index = this.tabs.indexOf(tab);
    this.tabs = this.tabs.filter((other) => other !== tab);
    if (this.activeKey === tab.key) this.activeKey = (this.tabs[Math.min(index, this.tabs.length - 1)] ?? null)?.key ?? null;
  }

  /** Shows `tab`'s terminal in `parent` (moving it there), fitted to it. */
  show(tab: ShellTab, parent: HTMLElement): void {
    if (tab.element.parentElement !== parent) parent.replaceChildren(tab.element);
    if (!tab.opened) {
      tab.terminal.open(tab.element);
      tab.opened = true;
    }
    this.fit(tab);
    tab.terminal.focus();
  }

  /** Refits `tab` to its element and tells its session a new size. */
  fit(tab: ShellTab): void {
    if (!tab.opened) return;
    tab.terminal.fit();
    this.#sendSize(tab);
  }

  async #connect(tab: ShellTab): Promise<void> {
    tab.state = "opening";
    tab.end = null;
    tab.failure = null;
    tab.size = null;
    tab.unacked = 0;
    let session: number | null = null;
    const early: ShellMessage[] = [];
    const sink = (message: ShellMessage): void => {
      if (session === null) early.push(message);
      else this.#receive(tab, session, message);
    };
    try {
      session = await this.#backend.shellOpen(tab.host, tab.containerId, { cmd: [], user: null, workdir: null, env: [], tty: true, stdin: true, size: { rows: tab.terminal.rows, cols: tab.terminal.cols } }, sink);
    } catch (rejection) {
      tab.state = "failed";
      tab.failure = toIpcError(rejection);
      return;
    }
    tab.session = session;
    tab.state = "open";
    for (const message of early.splice(0)) this.#receive(tab, session, message);
    this.#sendSize(tab);
  }

  #receive(tab: ShellTab, session: number, message: ShellMessage): void {
    if (tab.session !== session) return; // an older session of a reconnected tab
    if (message instanceof ArrayBuffer) {
      const bytes = message.byteLength;
      tab.terminal.write(new Uint8Array(message), () => this.#processed(tab, session, bytes));
    } else if ("ended" in message) {
      tab.state = "ended";
      tab.end = message.ended;
    } else {
      tab.state = "failed";
      tab.failure = plainError(message.failed);
    }
  }

  /** The terminal has processed `bytes` of `session`'s output: acknowledge them, in steps. */
  #processed(tab: ShellTab, session: number, bytes: number): void {
    if (tab.session !== session) return;
    tab.unacked += bytes;
    if (tab.unacked < ACK_STEP) return;
    const acked = tab.unacked;
    tab.unacked = 0;
    this.#backend.shellAck(session, acked).catch(() => undefined);
  }

  #type(tab: ShellTab, data: string): void {
    if (tab.state !== "open" || tab.session === null) return;
    tab.pendingInput += data;
    void this.#flushInput(tab, tab.session);
  }

  async #flushInput(tab: ShellTab, session: number): Promise<void> {
    if (tab.sending) return;
    tab.sending = true;
    try {
      while (tab.pendingInput !== "" && tab.session === session) {
        const data = tab.pendingInput;
        tab.pendingInput = "";
        await this.#backend.shellInput(session, data);
      }
    } catch (rejection) {
      tab.pendingInput = "";
      if (tab.state === "open") {
        tab.state = "failed";
        tab.failure = toIpcError(rejection);
      }
    } finally {
      tab.sending = false;
    }
  }

  #sendSize(tab: ShellTab): void {
    const { rows, cols } = tab.terminal;
    if (tab.session === null || tab.state !== "open" || rows < 1 || cols < 1) return;
    if (tab.size?.rows === rows && tab.size.cols === cols) return;
    tab.size = { rows, cols };
    this.#backend.shellResize(tab.session, rows, cols).catch(() => undefined);
  }
}
