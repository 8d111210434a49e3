import { afterEach, describe, expect, it } from "vitest";
import { flushSync, mount, unmount } from "svelte";
import { FakeBackend, FakeTerminal, appPlan, appRow, auditRow, gate, host, imageRow, networkRow, row, transfer } from "./testing/fake-backend";
import App from "./App.svelte";

const settle = async () => {
  await new Promise((resolve) => setTimeout(resolve, 50));
  flushSync();
};

describe("App", () => {
  let target: HTMLElement;
  let app: ReturnType<typeof mount> | null = null;

  function start(backend: FakeBackend, terminal = new FakeTerminal()): void {
    target = document.createElement("div");
    document.body.append(target);
    app = mount(App, { target, props: { backend, makeTerminal: () => terminal } });
    flushSync();
  }

  const $ = (testid: string) => target.querySelector<HTMLElement>(`[data-testid='${testid}']`);
  /** Settles until `testid` shows (a view loaded on first use takes a module load). */
  const shown = async (testid: string) => {
    for (let tries = 0; tries < 100 && !$(testid); tries++) await settle();
    return $(testid);
  };

  afterEach(() => {
    if (app) unmount(app);
    app = null;
    target.remove();
    localStorage.clear();
  });

  it("reports the fleet painted once its hosts show, without waiting for the rows", async () => {
    const backend = new FakeBackend();
    backend.hosts = [host({ id: 1, name: "local" })];
    backend.rows = [row({ id: "a" })];
    const held = gate();
    backend.hold.containers = held.promise;
    performance.clearMarks();
    start(backend);
    expect(backend.calls).not.toContain("uiPainted");
    await settle();
    await settle();
    expect(backend.calls.filter((call) => call === "uiPainted")).toHaveLength(1);
    expect(target.querySelector("[data-testid='host-row'][data-host='local']")).not.toBeNull();
    const reported = backend.paintedSteps.map((step) => step.name);
    expect(reported).toEqual(expect.arrayContaining(["hosts", "painted"]));
    expect(reported).not.toContain("containers applied");
    held.open();
    await settle();
    $("nav-containers")!.click();
    flushSync();
    await settle();
    expect(target.querySelector("[data-testid='container-row']")).not.toBeNull();
    expect(backend.calls.filter((call) => call === "uiPainted")).toHaveLength(1);
  });

  it("switches views and keeps the mirror's rows when every host is offline", async () => {
    const backend = new FakeBackend();
    backend.hosts = [host({ id: 1, name: "edge-2", status: "offline", last_sync: new Date(Date.now() - 12 * 60_000).toISOString() })];
    backend.rows = [row({ id: "a", name: "web", host: "edge-2" })];
    start(backend);
    await settle();
    expect($("offline-banner")).not.toBeNull();
    expect($("offline-host")!.dataset.host).toBe("edge-2");
    $("nav-containers")!.click();
    flushSync();
    expect($("container-row")!.dataset.name).toBe("web");
    $("nav-events")!.click();
    flushSync();
    expect($("container-row")).toBeNull();
    expect($("event-table")).not.toBeNull();
  });

  it("opens a shell from a running container's detail; the session survives switching views", async () => {
    const backend = new FakeBackend();
    backend.hosts = [host({ id: 1, name: "edge-1", status: "online" })];
    backend.rows = [row({ id: "a", name: "web", host: "edge-1", state: "running" }), row({ id: "b", name: "old", host: "edge-1", state: "exited" })];
    const terminal = new FakeTerminal();
    start(backend, terminal);
    await settle();
    $("nav-containers")!.click();
    flushSync();
    target.querySelector<HTMLElement>("[data-testid='container-row'][data-name='old']")!.click();
    await settle();
    expect(($("action-shell") as HTMLButtonElement).disabled).toBe(true);
    target.querySelector<HTMLElement>("[data-testid='container-row'][data-name='web']")!.click();
    await settle();
    $("action-shell")!.click();
    await settle();
    flushSync();
    expect($("shell-tab")!.dataset.state).toBe("open");
    expect($("shell-tab")!.dataset.container).toBe("web");
    const [session] = [...backend.shellSessions.keys()];
    backend.emitShell(session, "hello\r\n");
    terminal.typeKeys("ls\r");
    $("nav-fleet")!.click();
    flushSync();
    $("nav-shell")!.click();
    flushSync();
    await settle();
    expect(backend.shellSessions.size).toBe(1);
    expect(terminal.written).toBe("hello\r\n");
    expect(backend.shellSessions.get(session)!.typed).toBe("ls\r");
    backend.emitShell(session, { ended: { exit_code: 0, container_running: true } });
    flushSync();
    expect($("shell-ended")!.dataset.exitCode).toBe("0");
  });

  it("shows a container's log from its detail, stderr apart, search highlighted", async () => {
    const backend = new FakeBackend();
    backend.hosts = [host({ id: 1, name: "edge-1", status: "online" })];
    backend.rows = [row({ id: "a", name: "web", host: "edge-1", state: "running" })];
    start(backend);
    await settle();
    $("nav-containers")!.click();
    flushSync();
    target.querySelector<HTMLElement>("[data-testid='container-row'][data-name='web']")!.click();
    await settle();
    $("action-logs")!.click();
    await settle();
    flushSync();
    const [stream] = [...backend.logStreams.keys()];
    expect(backend.logStreams.get(stream)).toMatchObject({ host: "edge-1", container: "a" });
    backend.emitLog(stream, { Lines: [[1, "GET /cart 200\n"], [2, "payment timeout\n"]] });
    flushSync();
    const lines = [...target.querySelectorAll<HTMLElement>("[data-testid='log-line']")];
    expect(lines.map((l) => [l.dataset.stream, l.textContent])).toEqual([["stdout", "GET /cart 200"], ["stderr", "payment timeout"]]);
    const search = $("logs-search") as HTMLInputElement;
    search.value = "timeout";
    search.dispatchEvent(new Event("input", { bubbles: true }));
    flushSync();
    expect(target.querySelector("mark")?.textContent).toBe("timeout");
  });

  it("shows the activity log from the navigation", async () => {
    const backend = new FakeBackend();
    backend.hosts = [host({ id: 1, name: "edge-1" })];
    backend.auditRows = [auditRow({ id: 1, via: "external", actor: "docker", action: "kill", host: "edge-1" })];
    start(backend);
    await settle();
    $("nav-activity")!.click();
    flushSync();
    await settle();
    expect($("activity-view")).not.toBeNull();
    expect($("activity-row")!.dataset.via).toBe("external");
    $("nav-fleet")!.click();
    flushSync();
    expect($("activity-view")).toBeNull();
  });

  it("shows images with the transfers, and networks and volumes, from the navigation; transfers survive leaving", async () => {
    const backend = new FakeBackend();
    backend.hosts = [host({ id: 1, name: "edge-1" })];
    backend.imageRows = [imageRow({ host: "edge-1", id: "sha256:aaa", tags: ["nginx:1.27"] })];
    backend.networkRows = [networkRow({ host: "edge-1", name: "lan", pool: "lan" })];
    backend.transferList = [transfer({ id: 1, host: "edge-1", image: "nginx:1.27" })];
    start(backend);
    await settle();
    $("nav-images")!.click();
    flushSync();
    expect((await shown("image-row"))!.dataset.tags).toBe("nginx:1.27");
    expect((await shown("transfer"))!.dataset.state).toBe("running");
    $("nav-networks")!.click();
    flushSync();
    expect((await shown("network-row"))!.dataset.pool).toBe("lan");
    expect($("images-view")).toBeNull();
    backend.emitTransfer(transfer({ id: 1, host: "edge-1", image: "nginx:1.27", state: "done" }));
    $("nav-images")!.click();
    flushSync();
    expect((await shown("transfer"))!.dataset.state).toBe("done");
  });

  it("shows the apps from the navigation; an environment stays selected after leaving", async () => {
    const backend = new FakeBackend();
    backend.hosts = [host({ id: 1, name: "edge-1" })];
    backend.appRows = [appRow({ name: "web", env: "prod" })];
    backend.plans.set("web/prod", appPlan({ app: "web" }));
    start(backend);
    await settle();
    $("nav-apps")!.click();
    flushSync();
    (await shown("app-row"))!.click();
    expect((await shown("plan-row"))!.dataset.replica).toBe("0");
    $("nav-fleet")!.click();
    flushSync();
    expect($("apps-view")).toBeNull();
    $("nav-apps")!.click();
    flushSync();
    expect((await shown("app-detail"))!.dataset.app).toBe("web");
  });

  it("switches the language from the header", async () => {
    const backend = new FakeBackend();
    start(backend);
    await settle();
    expect($("nav-fleet")!.textContent?.trim()).toBe("Fleet");
    const select = $("lang-switch") as HTMLSelectElement;
    select.value = "zh-CN";
    select.dispatchEvent(new Event("change", { bubbles: true }));
    flushSync();
    expect($("nav-fleet")!.textContent?.trim()).toBe("主机");
    expect(document.documentElement.lang).toBe("zh-CN");
    select.value = "en";
    select.dispatchEvent(new Event("change", { bubbles: true }));
    flushSync();
    expect($("nav-fleet")!.textContent?.trim()).toBe("Fleet");
  });
});
