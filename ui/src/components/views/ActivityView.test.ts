import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { flushSync, mount, unmount } from "svelte";
import { appContext } from "$lib/context";
import { Fleet } from "$lib/fleet/fleet.svelte";
import { ContainerActions } from "$lib/containers/pending.svelte";
import { ActivityLog } from "$lib/activity/activity.svelte";
import { i18n } from "$lib/i18n/locale.svelte";
import { FakeBackend, auditRow, host, ipcError } from "../../testing/fake-backend";
import ActivityView from "./ActivityView.svelte";

describe("ActivityView", () => {
  let target: HTMLElement;
  let backend: FakeBackend;
  let fleet: Fleet;
  let activity: ActivityLog;
  let view: ReturnType<typeof mount>;
  /** Refreshes the log asked for after patches, run by hand. */
  let due: (() => void)[];

  const $ = <T extends HTMLElement = HTMLElement>(testid: string) => target.querySelector<T>(`[data-testid='${testid}']`);
  const rows = () => [...target.querySelectorAll<HTMLElement>("[data-testid='activity-row']")];
  const settle = async () => {
    await new Promise((resolve) => setTimeout(resolve, 0));
    flushSync();
  };
  const choose = (testid: string, value: string) => {
    const select = $<HTMLSelectElement>(testid)!;
    select.value = value;
    select.dispatchEvent(new Event("change", { bubbles: true }));
  };
  const key = (name: string) => $("activity-list")!.dispatchEvent(new KeyboardEvent("keydown", { key: name, bubbles: true }));

  const stopped = { name: "web", image: "nginx:1.27", state: "running", exit_code: null, ips: { frontend: "10.0.1.5" }, labels: ["tier"] };

  beforeEach(async () => {
    backend = new FakeBackend();
    backend.hosts = [host({ id: 1, name: "edge-1" }), host({ id: 2, name: "edge-2" })];
    backend.auditRows = [
      auditRow({ id: 1, op: "0193a-0001-001", host: "edge-1", action: "stop", outcome: "unknown", reason: "maintenance window", object: { id: "c0ffee000001", name: "web" }, before: stopped }),
      auditRow({
        id: 2,
        op: "0193a-0001-001",
        host: "edge-1",
        action: "stop",
        outcome: "ok",
        request: 1,
        reason: "maintenance window",
        object: { id: "c0ffee000001", name: "web" },
        before: stopped,
        after: { ...stopped, state: "exited", exit_code: 0, ips: {} },
      }),
      auditRow({ id: 3, op: "0193a-0002-001", host: "edge-2", via: "external", actor: "docker", action: "kill", object: { id: "dead00000002", name: "db" } }),
      auditRow({ id: 4, op: "0193a-0003-001", host: "edge-2", via: "cli", action: "restart", outcome: "unknown", object: { id: "beef00000003", name: "cache" } }),
    ];
    fleet = new Fleet(backend, { scheduleFrame: (flush) => queueMicrotask(flush) });
    await fleet.start();
    due = [];
    activity = new ActivityLog(backend, fleet, {
      later: (run) => {
        due.push(run);
        return () => (due = due.filter((other) => other !== run));
      },
    });
    target = document.createElement("div");
    document.body.append(target);
    view = mount(ActivityView, { target, props: { activity }, context: appContext({ backend, fleet, actions: new ContainerActions(backend) }) });
    flushSync();
    await settle();
  });

  afterEach(() => {
    unmount(view);
    target.remove();
  });

  it("lists every change newest first: a request and its completion as one line, external ones marked", () => {
    expect($("activity-view")).not.toBeNull();
    expect(rows().map((r) => [r.dataset.action, r.dataset.via, r.dataset.outcome, r.dataset.object])).toEqual([
      ["restart", "cli", "unknown", "cache"],
      ["kill", "external", "ok", "db"],
      ["stop", "app", "ok", "web"],
    ]);
    expect(rows()[0].textContent).toContain("asked");
    expect(rows()[1].classList.contains("external")).toBe(true);
    expect(rows()[1].textContent).toContain("external");
    expect(rows()[2].classList.contains("external")).toBe(false);
    expect($("activity-count")!.textContent).toBe("3 changes");
  });

  it("opens a line's detail: before and after side by side, changed keys marked, who, why, hashes", () => {
    rows()[2].click();
    flushSync();
    const detail = $("activity-detail")!;
    expect(detail.dataset.outcome).toBe("ok");
    const diff = [...detail.querySelectorAll<HTMLElement>("[data-testid='activity-diff-row']")];
    expect(diff.map((line) => [line.dataset.key, line.dataset.changed])).toEqual([
      ["name", "false"],
      ["image", "false"],
      ["state", "true"],
      ["exit_code", "true"],
      ["ips", "true"],
      ["labels", "false"],
    ]);
    expect([...diff[2].querySelectorAll("td")].map((cell) => cell.textContent)).toEqual(["running", "exited"]);
    expect($("activity-reason")!.textContent).toBe("maintenance window");
    expect([...detail.querySelectorAll<HTMLElement>("[data-testid='activity-hash']")].map((h) => h.dataset.row)).toEqual(["1", "2"]);
    expect(detail.textContent).toContain("alice");
    expect(rows()[2].getAttribute("aria-selected")).toBe("true");
  });

  it("filters by the op clicked in the detail", async () => {
    rows()[2].click();
    flushSync();
    $("activity-op")!.click();
    await settle();
    expect(backend.auditQueries.at(-1)).toMatchObject({ op: "0193a-0001-001" });
    expect($<HTMLInputElement>("activity-filter-op")!.value).toBe("0193a-0001-001");
    expect(rows().map((r) => r.dataset.action)).toEqual(["stop"]);
  });

  it("filters by host, source and outcome from the toolbar, and says when nothing matches", async () => {
    choose("activity-filter-host", "edge-2");
    await settle();
    expect(rows().map((r) => r.dataset.action)).toEqual(["restart", "kill"]);
    choose("activity-filter-via", "external");
    await settle();
    expect(backend.auditQueries.at(-1)).toEqual({ limit: 200, host: "edge-2", via: "external" });
    expect(rows().map((r) => r.dataset.action)).toEqual(["kill"]);
    choose("activity-filter-outcome", "failed");
    await settle();
    expect(rows()).toHaveLength(0);
    expect($("activity-empty")!.textContent).toContain("No change matches the filters.");
    $("activity-clear-filters")!.click();
    await settle();
    expect(rows()).toHaveLength(3);
  });

  it("moves with the arrows, opens with Enter, closes with Escape", () => {
    key("ArrowDown");
    key("ArrowDown");
    flushSync();
    expect(rows()[1].getAttribute("aria-selected")).toBe("true");
    expect($("activity-detail")).toBeNull();
    key("Enter");
    flushSync();
    expect($("activity-detail")!.dataset.key).toBe("3");
    key("Escape");
    flushSync();
    expect($("activity-detail")).toBeNull();
  });

  it("shows new rows after the fleet's patches, debounced, and on the refresh button", async () => {
    backend.auditRows.push(auditRow({ id: 5, host: "edge-1", via: "external", actor: "docker", action: "start", object: { id: "c0ffee000001", name: "web" } }));
    backend.emitPatch({ host_id: 1, replace: false, upsert: [], remove: [] });
    backend.emitPatch({ host_id: 1, replace: false, upsert: [], remove: [] });
    expect(due).toHaveLength(1);
    due[0]();
    await settle();
    expect(rows()[0].dataset.action).toBe("start");
    backend.auditRows.push(auditRow({ id: 6, action: "pause" }));
    $("activity-refresh")!.click();
    await settle();
    expect(rows()[0].dataset.action).toBe("pause");
  });

  it("says why a read failed, in the UI's language", async () => {
    backend.failures.set("audit", ipcError("store", { context: "reading the audit log", reason: "database is locked" }, "database is locked"));
    $("activity-refresh")!.click();
    await settle();
    expect($("activity-error-text")!.textContent).toBe("Database error while reading the audit log.");
    expect($("activity-error-detail")!.textContent).toBe("database is locked");
    expect(rows()).toHaveLength(3);
  });

  it("speaks Chinese when chosen", () => {
    try {
      i18n.setLocale("zh-CN");
      flushSync();
      expect(rows()[0].textContent).toContain("已请求");
      expect(rows()[1].textContent).toContain("外部");
      expect($("activity-count")!.textContent).toBe("3 条变更");
    } finally {
      i18n.setLocale("en");
      flushSync();
    }
  });
});

describe("ActivityView, empty and offline", () => {
  it("says there is nothing yet, and which hosts are not online", async () => {
    const backend = new FakeBackend();
    backend.hosts = [host({ id: 1, name: "edge-1", status: "offline" })];
    const fleet = new Fleet(backend, { scheduleFrame: (flush) => queueMicrotask(flush) });
    await fleet.start();
    const activity = new ActivityLog(backend, fleet);
    const target = document.createElement("div");
    document.body.append(target);
    const view = mount(ActivityView, { target, props: { activity }, context: appContext({ backend, fleet, actions: new ContainerActions(backend) }) });
    await new Promise((resolve) => setTimeout(resolve, 0));
    flushSync();
    expect(target.querySelector("[data-testid='activity-empty']")!.textContent).toContain("No changes recorded yet.");
    expect(target.querySelector("[data-testid='activity-offline']")!.textContent).toContain("1 host is not online");
    unmount(view);
    target.remove();
  });
});
