import { describe, expect, it } from "vitest";
import { FakeBackend, FakeTerminal, ipcError, row } from "../../testing/fake-backend";
import { ACK_STEP, ShellTabs } from "./tabs.svelte";

const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

function setup() {
  const backend = new FakeBackend();
  const terminals: FakeTerminal[] = [];
  const shells = new ShellTabs(backend, () => {
    const terminal = new FakeTerminal();
    terminals.push(terminal);
    return terminal;
  });
  return { backend, shells, terminals };
}

describe("ShellTabs", () => {
  it("opens a TTY shell in the container with the terminal's size and writes its output", async () => {
    const { backend, shells, terminals } = setup();
    const tab = await shells.open(row({ id: "c1", name: "web", host: "edge-1" }));
    await settle();
    expect(shells.activeKey).toBe(tab.key);
    expect(tab.state).toBe("open");
    const [session] = [...backend.shellSessions.values()];
    expect(session).toMatchObject({ host: "edge-1", container: "c1", spec: { tty: true, stdin: true, cmd: [], size: { rows: 24, cols: 80 } } });
    backend.emitShell(tab.session!, "/ # ");
    backend.emitShell(tab.session!, "ls\r\n");
    expect(terminals[0].written).toBe("/ # ls\r\n");
  });

  it("acknowledges output once the terminal has processed it, in steps, and only for its session", async () => {
    const { backend, shells, terminals } = setup();
    const tab = await shells.open(row({ id: "c1" }));
    await settle();
    const session = tab.session!;
    const chunk = new Uint8Array(ACK_STEP / 2).fill(120).buffer;
    backend.emitShell(session, chunk);
    backend.emitShell(session, chunk);
    expect(backend.acks.get(session)).toBeUndefined(); // written, not yet processed
    terminals[0].process();
    expect(backend.acks.get(session)).toBe(ACK_STEP);
    backend.emitShell(session, "small");
    terminals[0].process();
    expect(backend.acks.get(session)).toBe(ACK_STEP); // below a step: held until more comes
    // A reconnected tab's old session's writes are not acknowledged to the new one.
    backend.emitShell(session, chunk.slice(0));
    backend.emitShell(session, { ended: { exit_code: 0, container_running: true } });
    shells.reconnect(tab);
    await settle();
    terminals[0].process();
    expect(backend.acks.get(tab.session!)).toBeUndefined();
  });

  it("sends keystrokes in order, batching those typed while a send is in flight", async () => {
    const { backend, shells, terminals } = setup();
    const tab = await shells.open(row({ id: "c1" }));
    await settle();
    let release: () => void = () => undefined;
    const input = backend.shellInput.bind(backend);
    const sent: string[] = [];
    backend.shellInput = async (session, data) => {
      sent.push(data);
      if (sent.length === 1) await new Promise<void>((resolve) => (release = resolve));
      return input(session, data);
    };
    terminals[0].typeKeys("e");
    terminals[0].typeKeys("c");
    terminals[0].typeKeys("ho\r");
    release();
    await settle();
    await settle();
    expect(sent).toEqual(["e", "cho\r"]);
    expect(backend.shellSessions.get(tab.session!)!.typed).toBe("echo\r");
  });

  it("says how a session ended and reconnects into the same terminal", async () => {
    const { backend, shells, terminals } = setup();
    const tab = await shells.open(row({ id: "c1" }));
    await settle();
    const first = tab.session!;
    backend.emitShell(first, { ended: { exit_code: 130, container_running: true } });
    expect(tab.state).toBe("ended");
    expect(tab.end?.exit_code).toBe(130);
    terminals[0].typeKeys("ignored");
    expect(backend.shellSessions.get(first)!.typed).toBe("");

    shells.reconnect(tab);
    await settle();
    expect(tab.state).toBe("open");
    expect(tab.session).not.toBe(first);
    expect(terminals).toHaveLength(1);
    // A late message of the old session changes nothing.
    backend.emitShell(first, "stale");
    expect(terminals[0].written).not.toContain("stale");
  });

  it("shows a failure to open and a failure while reading", async () => {
    const { backend, shells } = setup();
    backend.failures.set("shellOpen", ipcError("docker", { host: "edge-1", action: "start an exec", reason: "container is not running" }, "container is not running"));
    const tab = await shells.open(row({ id: "c1" }));
    await settle();
    expect(tab.state).toBe("failed");
    expect(tab.failure).toMatchObject({ code: "docker", detail: "container is not running" });
    shells.reconnect(tab);
    await settle();
    backend.emitShell(tab.session!, { failed: "the SSH link dropped" });
    expect(tab.state).toBe("failed");
    expect(tab.failure?.message).toBe("the SSH link dropped");
  });

  it("restores the backend's sessions after a reload, replaying their output", async () => {
    const first = setup();
    const tab = await first.shells.open(row({ id: "c1", name: "web", host: "edge-1" }));
    await settle();
    // The page reloads: a new ShellTabs over the same backend.
    const terminals: FakeTerminal[] = [];
    const shells = new ShellTabs(first.backend, () => {
      const terminal = new FakeTerminal();
      terminals.push(terminal);
      return terminal;
    });
    await shells.restore((host, id) => (host === "edge-1" && id === "c1" ? "web" : undefined));
    expect(shells.tabs.map((t) => [t.title, t.session, t.state])).toEqual([["edge-1/web", tab.session, "open"]]);
    expect(shells.activeKey).toBe(shells.tabs[0].key);
    first.backend.emitShell(tab.session!, "after reload");
    expect(terminals[0].written).toBe("after reload");
    terminals[0].typeKeys("x");
    await settle();
    expect(first.backend.shellSessions.get(tab.session!)!.typed).toBe("x");
    await shells.restore();
    expect(shells.tabs).toHaveLength(1);
  });

  it("tells the session each new size once, and closes sessions with their tabs", async () => {
    const { backend, shells, terminals } = setup();
    const one = await shells.open(row({ id: "c1" }));
    const two = await shells.open(row({ id: "c2" }));
    await settle();
    const parent = document.createElement("div");
    shells.show(one, parent);
    expect(terminals[0].opened).toBe(one.element);
    expect(parent.firstChild).toBe(one.element);
    terminals[0].rows = 40;
    terminals[0].cols = 120;
    shells.fit(one);
    shells.fit(one);
    expect(backend.resizes.filter((r) => r.session === one.session)).toEqual([
      { session: one.session, rows: 24, cols: 80 },
      { session: one.session, rows: 40, cols: 120 },
    ]);
    shells.activeKey = one.key;
    shells.close(one);
    expect(backend.closedShells).toEqual([one.session]);
    expect(terminals[0].disposed).toBe(true);
    expect(shells.tabs).toEqual([two]);
    expect(shells.activeKey).toBe(two.key);
  });
});
