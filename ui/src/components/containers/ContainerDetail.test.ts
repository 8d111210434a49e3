import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { flushSync, mount, unmount } from "svelte";
import { appContext } from "$lib/context";
import { Fleet } from "$lib/fleet/fleet.svelte";
import { rowKey } from "$lib/fleet/patch";
import { ContainerActions } from "$lib/containers/pending.svelte";
import { ContainersTable } from "$lib/containers/table.svelte";
import { i18n } from "$lib/i18n/locale.svelte";
import { FakeBackend, auditRow, host, ipcError, row } from "../../testing/fake-backend";
import ContainersView from "../views/ContainersView.svelte";

const inspect = {
  Path: "nginx",
  Args: ["-g", "daemon off;"],
  State: { Status: "running", ExitCode: 0, StartedAt: "2025-03-03T14:00:01Z", FinishedAt: "0001-01-01T00:00:00Z" },
  RestartCount: 2,
  Config: { Image: "nginx:1.27", Env: ["MODE=prod"], Labels: { tier: "web" }, Cmd: ["-g", "daemon off;"], Entrypoint: null },
  Mounts: [{ Type: "bind", Source: "/srv", Destination: "/usr/share/nginx/html", RW: false }],
  NetworkSettings: { Networks: { frontend: { IPAddress: "10.0.1.5", Gateway: "10.0.1.1", MacAddress: "02:42:0a:00:01:05" } } },
};

describe("ContainerDetail", () => {
  let target: HTMLElement;
  let backend: FakeBackend;
  let fleet: Fleet;
  let table: ContainersTable;
  let view: ReturnType<typeof mount>;

  const $ = <T extends HTMLElement = HTMLElement>(testid: string) => target.querySelector<T>(`[data-testid='${testid}']`);
  const settle = async () => {
    await new Promise((resolve) => setTimeout(resolve, 0));
    flushSync();
  };

  async function open(id: string): Promise<void> {
    const found = fleet.containers.find((r) => r.id === id)!;
    table.open(rowKey(found));
    flushSync();
    await settle();
  }

  beforeEach(async () => {
    backend = new FakeBackend();
    backend.hosts = [host({ id: 1, name: "edge-1" }), host({ id: 2, name: "edge-2", status: "offline" })];
    backend.rows = [
      row({ id: "web", name: "web", host_id: 1, host: "edge-1", state: "running" }),
      row({ id: "old", name: "old", host_id: 1, host: "edge-1", state: "exited", exit_code: 1, finished_ms: Date.now() - 60_000 }),
      row({ id: "far", name: "far", host_id: 2, host: "edge-2", state: "running" }),
    ];
    backend.inspects.set("edge-1/web", JSON.stringify(inspect));
    fleet = new Fleet(backend, { scheduleFrame: (flush) => queueMicrotask(flush) });
    await fleet.start();
    table = new ContainersTable(fleet);
    target = document.createElement("div");
    document.body.append(target);
    view = mount(ContainersView, { target, props: { table }, context: appContext({ backend, fleet, actions: new ContainerActions(backend) }) });
    flushSync();
  });

  afterEach(() => {
    unmount(view);
    target.remove();
  });

  it("shows what inspect says, and the raw JSON", async () => {
    await open("web");
    const text = $("container-detail")!.textContent ?? "";
    for (const expected of ["nginx:1.27", "nginx -g 'daemon off;'", "MODE=prod", "/srv → /usr/share/nginx/html", "10.0.1.5", "10.0.1.1", "02:42:0a:00:01:05", "tier="]) {
      expect(text).toContain(expected);
    }
    expect(JSON.parse($("raw-json")!.textContent ?? "")).toEqual(inspect);
  });

  it("enables actions by state", async () => {
    await open("web");
    const enabled = (action: string) => !$<HTMLButtonElement>(`action-${action}`)!.disabled;
    expect(["start", "stop", "restart", "kill", "pause", "unpause", "remove"].filter(enabled)).toEqual(["stop", "restart", "kill", "pause", "remove"]);
    await open("old");
    expect(["start", "stop", "restart", "kill", "pause", "unpause", "remove"].filter(enabled)).toEqual(["start", "restart", "remove"]);
  });

  it("shows an action as pending until the row's state changes through a patch", async () => {
    await open("web");
    $("action-pause")!.click();
    await settle();
    expect(backend.actions).toEqual([{ host: "edge-1", id: "web", action: "pause" }]);
    expect($("container-detail")!.textContent).toContain("Pausing…");
    expect($("container-detail")!.dataset.state).toBe("running");
    expect($<HTMLButtonElement>("action-stop")!.disabled).toBe(true);
    backend.emitPatch({ host_id: 1, replace: false, upsert: [{ ...backend.rows[0], state: "paused" }], remove: [] });
    await settle();
    expect($("container-detail")!.dataset.state).toBe("paused");
    expect($("container-detail")!.textContent).not.toContain("Pausing…");
    expect($<HTMLButtonElement>("action-unpause")!.disabled).toBe(false);
  });

  it("asks before stopping, and sends nothing on cancel", async () => {
    await open("web");
    $("action-stop")!.click();
    flushSync();
    expect($("confirm-yes")).not.toBeNull();
    $("confirm-no")!.click();
    flushSync();
    expect($("confirm-yes")).toBeNull();
    expect(backend.actions).toEqual([]);
    $("action-stop")!.click();
    flushSync();
    $("confirm-yes")!.click();
    flushSync();
    expect($("confirm-yes")).toBeNull();
    expect($("container-detail")!.textContent).toContain("Stopping…");
    await settle();
    expect(backend.actions).toEqual([{ host: "edge-1", id: "web", action: "stop" }]);
  });

  it("shows a refused action in the UI's language with Docker's words beneath; it is no longer pending", async () => {
    await open("old");
    const words = "conflict: unable to remove container: it is in use (HTTP 409)";
    backend.failures.set("containerAction", ipcError("docker", { host: "edge-1", action: "remove container old", reason: words }, words));
    $("action-remove")!.click();
    flushSync();
    $("confirm-yes")!.click();
    await settle();
    expect($("confirm-yes")).toBeNull();
    expect($("action-error")!.dataset.code).toBe("docker");
    expect($("action-error-text")!.textContent).toBe("Docker on host edge-1 refused to remove container old.");
    expect($("action-error-detail")!.textContent).toBe(words);
    try {
      i18n.setLocale("zh-CN");
      flushSync();
      expect($("action-error-text")!.textContent).toBe("主机 edge-1 上的 Docker 拒绝执行“remove container old”。");
      expect($("action-error-detail")!.textContent).toBe(words);
    } finally {
      i18n.setLocale("en");
      flushSync();
    }
    expect($("container-detail")!.textContent).not.toContain("Removing…");
    expect($<HTMLButtonElement>("action-remove")!.disabled).toBe(false);
  });

  it("disables every action on a host that is not online, and says why", async () => {
    await open("far");
    for (const action of ["start", "stop", "restart", "kill", "pause", "unpause", "remove"]) {
      const button = $<HTMLButtonElement>(`action-${action}`)!;
      expect(button.disabled).toBe(true);
      expect(button.title).toContain("edge-2 is offline");
    }
    expect($("actions-disabled-reason")!.textContent).toContain("edge-2 is offline");
    await open("web");
    expect($("actions-disabled-reason")).toBeNull();
  });

  it("lists the container's own activity, newest first, and opens a line in place", async () => {
    backend.auditRows = [
      auditRow({ id: 1, host: "edge-1", action: "stop", outcome: "unknown", object: { id: "web", name: "web" }, before: { state: "running" } }),
      auditRow({ id: 2, host: "edge-1", action: "stop", outcome: "ok", request: 1, object: { id: "web", name: "web" }, before: { state: "running" }, after: { state: "exited" } }),
      auditRow({ id: 3, host: "edge-1", via: "external", actor: "docker", action: "start", object: { id: "web", name: "web" } }),
      auditRow({ id: 4, host: "edge-1", action: "kill", object: { id: "old", name: "old" } }),
    ];
    await open("web");
    expect(backend.auditQueries).toEqual([{ limit: 50, object: "web" }]);
    const section = $("container-activity")!;
    const lines = [...section.querySelectorAll<HTMLElement>("[data-testid='activity-row']")];
    expect(lines.map((line) => [line.dataset.action, line.dataset.via, line.dataset.outcome])).toEqual([
      ["start", "external", "ok"],
      ["stop", "app", "ok"],
    ]);
    lines[1].click();
    flushSync();
    const detail = section.querySelector<HTMLElement>("[data-testid='activity-detail']")!;
    expect(detail.querySelector<HTMLElement>("[data-testid='activity-diff-row'][data-key='state']")!.dataset.changed).toBe("true");
    // A patch of its host reads it again (debounced): the new row shows up.
    backend.auditRows.push(auditRow({ id: 5, host: "edge-1", action: "pause", object: { id: "web", name: "web" } }));
    backend.emitPatch({ host_id: 1, replace: false, upsert: [{ ...backend.rows[0], state: "paused" }], remove: [] });
    await new Promise((resolve) => setTimeout(resolve, 600));
    flushSync();
    expect($("container-activity")!.querySelector<HTMLElement>("[data-testid='activity-row']")!.dataset.action).toBe("pause");
    await open("old");
    expect(backend.auditQueries.at(-1)).toEqual({ limit: 50, object: "old" });
    expect([...$("container-activity")!.querySelectorAll<HTMLElement>("[data-testid='activity-row']")].map((line) => line.dataset.action)).toEqual(["kill"]);
  });

  it("says so when the open container is removed", async () => {
    await open("web");
    backend.emitPatch({ host_id: 1, replace: false, upsert: [], remove: ["web"] });
    await settle();
    expect($("container-detail")!.dataset.state).toBe("removed");
    expect($("action-start")).toBeNull();
  });
});
