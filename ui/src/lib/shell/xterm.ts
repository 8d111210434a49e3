// The app's terminal: xterm.js 6 with its DOM renderer (WebGL without preserveDrawingBuffer
// showed half-second key echoes in other WebKitGTK apps), fitted to its element, with search,
// clickable links, Unicode 11 widths and copy/paste on Ctrl+Shift+C/V.
import { Terminal as XTerm } from "@xterm/xterm";
import { FitAddon } from "@xterm/addon-fit";
import { SearchAddon } from "@xterm/addon-search";
import { WebLinksAddon } from "@xterm/addon-web-links";
import { Unicode11Addon } from "@xterm/addon-unicode11";
import "@xterm/xterm/css/xterm.css";
import type { Terminal } from "./tabs.svelte";

export function makeXterm(): Terminal {
  const term = new XTerm({
    allowProposedApi: true,
    cursorBlink: true,
    fontFamily: '"DejaVu Sans Mono", Menlo, Consolas, monospace',
    fontSize: 13,
    scrollback: 5000,
    theme: { background: "#101418", foreground: "#d8dee9" },
  });
  const fit = new FitAddon();
  const search = new SearchAddon();
  term.loadAddon(fit);
  term.loadAddon(search);
  term.loadAddon(new WebLinksAddon());
  term.loadAddon(new Unicode11Addon());
  term.unicode.activeVersion = "11";
  // Copy and paste as desktop terminals do: Ctrl+Shift+C / Ctrl+Shift+V (Ctrl+C stays an
  // interrupt for the shell). Pasting goes through xterm, which brackets it for shells that ask.
  term.attachCustomKeyEventHandler((event) => {
    if (event.type !== "keydown" || !event.ctrlKey || !event.shiftKey) return true;
    const key = event.key.toLowerCase();
    if (key === "c" && term.hasSelection()) {
      void navigator.clipboard?.writeText(term.getSelection()).catch(() => undefined);
      return false;
    }
    if (key === "v") {
      void navigator.clipboard?.readText().then((text) => term.paste(text), () => undefined);
      return false;
    }
    return true;
  });
  return {
    get rows() {
      return term.rows;
    },
    get cols() {
      return term.cols;
    },
    open: (parent) => term.open(parent),
    write: (data, written) => term.write(data, written),
    onData: (handler) => {
      term.onData(handler);
    },
    fit: () => {
      try {
        fit.fit();
      } catch {
        // Not laid out yet (a hidden view): the next fit catches up.
      }
    },
    focus: () => term.focus(),
    search: (text) => search.findNext(text),
    dispose: () => term.dispose(),
  };
}
