import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { flushSync, mount, unmount } from "svelte";
import { appContext } from "$lib/context";
import { Fleet } from "$lib/fleet/fleet.svelte";
import { ContainerActions } from "$lib/containers/pending.svelte";
import { AppList } from "$lib/apps/apps.svelte";
import { i18n } from "$lib/i18n/locale.svelte";
import { FakeBackend, appPlan, appRow, appStatus, gate, historyEntry, host, placement, revisionRow, rolloutOutcome } from "../../testing/fake-backend";
import AppsView from "./AppsView.svelte";

describe("AppsView", () => {
  let target: HTMLElement;
  let backend: FakeBackend;
  let apps: AppList;
  let view: ReturnType<typeof mount>;

  const $ = <T extends HTMLElement = HTMLElement>(testid: string, within: ParentNode = target) => within.querySelector<T>(`[data-testid='${testid}']`);
  const all = (testid: string, within: ParentNode = target) => [...within.querySelectorAll<HTMLElement>(`[data-testid='${testid}']`)];
  const settle = async () => {
    await new Promise((resolve) => setTimeout(resolve, 0));
    flushSync();
  };
  const text = (element: Element | null) => element?.textContent?.replace(/\s+/g, " ").trim();
  const cells = (row: HTMLElement) => [...(row as HTMLTableRowElement).cells].map((cell) => text(cell));
  const open = async (app: string, env: string) => {
    all("app-row").find((row) => row.dataset.app === app && row.dataset.env === env)!.click();
    await settle();
    return $("app-detail")!;
  };

  beforeEach(async () => {
    backend = new FakeBackend();
    backend.hosts = [host({ id: 1, name: "edge-1" }), host({ id: 2, name: "edge-2" }), host({ id: 3, name: "edge-3", status: "offline" })];
    backend.appRows = [
      appRow({ name: "web", env: "prod", revision: 3, deployed: 2, desired: 6, running: 6, healthy: 6 }),
      appRow({ name: "web", env: "staging", revision: 3, deployed: null, desired: 1 }),
      appRow({
        name: "shop",
        env: "compose",
        kind: "compose",
        revision: 0,
        desired: 0,
        services: [
          { name: "db", host: "edge-1", containers: 1, running: 1 },
          { name: "api", host: "edge-2", containers: 2, running: 1 },
        ],
      }),
    ];
    backend.plans.set(
      "web/prod",
      appPlan({
        app: "web",
        revision: 3,
        placements: [placement(0, { existing: true }), placement(1, { host: "edge-2", ip: "10.0.0.21" })],
        rejected: [
          {
            host: "edge-3",
            reasons: ["offline", "pool lan has no free address"],
            details: [{ reason: "offline" }, { reason: "no_free_address", pools: ["lan"] }],
          },
          { host: "edge-4", reasons: ["max per host (1) reached"], details: [{ reason: "max_per_host", max: 1 }] },
        ],
      }),
    );
    backend.statuses.set(
      "web/prod",
      appStatus({
        app: "web",
        revision: 2,
        latest: 3,
        desired: 2,
        kept: { "1": 2 },
        replicas: [
          { replica: 0, host: "edge-1", container: "web-prod-0-r2", ip: "10.0.0.10", mac: "02:42:0a:00:00:0a", revision: 2, state: "running", health: "healthy", drift: null },
          { replica: 1, host: "edge-2", container: "web-prod-1-r2", ip: "10.0.0.21", mac: "02:42:0a:00:00:15", revision: 2, state: "exited", health: null, drift: "stopped" },
        ],
      }),
    );
    backend.revisions.set("web", [1, 2, 3].map((revision) => revisionRow({ app: "web", revision })));
    backend.histories.set("web", [
      historyEntry({ op: "op-2", action: "deploy", revision: 2 }),
      historyEntry({ op: "op-2", action: "deploy", revision: 2, outcome: "unknown" }),
      historyEntry({ op: "op-1", action: "apply", env: null, revision: 1, steps: 1 }),
    ]);
    const fleet = new Fleet(backend, { scheduleFrame: (flush) => queueMicrotask(flush), afterPaint: () => Promise.resolve() });
    await fleet.start();
    apps = new AppList(backend);
    target = document.createElement("div");
    document.body.append(target);
    view = mount(AppsView, { target, props: { apps }, context: appContext({ backend, fleet, actions: new ContainerActions(backend) }) });
    flushSync();
    await settle();
  });

  afterEach(() => {
    unmount(view);
    target.remove();
    i18n.setLocale("en");
  });

  it("lists one row per app environment, and compose projects read-only with their services", () => {
    expect(all("app-row").map((row) => [row.dataset.app, row.dataset.env])).toEqual([
      ["web", "prod"],
      ["web", "staging"],
    ]);
    const prod = all("app-row")[0];
    expect(text($("app-revision", prod))).toBe("revision 2 · latest 3");
    expect(text($("app-healthy", prod))).toBe("6/6 healthy");
    expect(text($("app-running", prod))).toBe("6 running");
    expect(text($("app-revision", all("app-row")[1]))).toBe("not deployed · latest 3");
    const shop = $("compose-row")!;
    expect(shop.dataset.app).toBe("shop");
    expect(all("compose-service", shop).map((row) => [row.dataset.service, row.dataset.host, text(row.lastElementChild)])).toEqual([
      ["db", "edge-1", "1/1 running"],
      ["api", "edge-2", "1/2 running"],
    ]);
    expect(shop.querySelector("button")).toBeNull();
    expect($("apps-count")!.textContent).toBe("2 app environments");
    expect($("app-detail")).toBeNull();
  });

  it("shows the plan with every rejected host's reasons worded in the UI's language", async () => {
    const detail = await open("web", "prod");
    expect([detail.dataset.app, detail.dataset.env]).toEqual(["web", "prod"]);
    expect(all("plan-row", detail).map((row) => [row.dataset.replica, row.dataset.existing, cells(row)])).toEqual([
      ["0", "true", ["0", "edge-1", "lan", "10.0.0.10", "kept"]],
      ["1", "false", ["1", "edge-2", "lan", "10.0.0.21", "new"]],
    ]);
    const rejected = () => all("plan-rejected", detail).map((row) => [row.dataset.host, [...row.querySelectorAll(".reason")].map((reason) => reason.textContent)]);
    expect(rejected()).toEqual([
      ["edge-3", ["offline", "no free address left in lan"]],
      ["edge-4", ["already runs the most replicas per host (1)"]],
    ]);
    i18n.setLocale("zh-CN");
    flushSync();
    expect(rejected()).toEqual([
      ["edge-3", ["离线", "lan 中已没有空闲地址"]],
      ["edge-4", ["已达到每台主机的副本上限（1）"]],
    ]);
  });

  it("shows the replicas with their drift worded, and the revisions and history", async () => {
    const detail = await open("web", "prod");
    expect(all("status-row", detail).map((row) => [row.dataset.replica, row.dataset.revision, row.dataset.drift])).toEqual([
      ["0", "2", ""],
      ["1", "2", "stopped"],
    ]);
    expect(cells(all("status-row", detail)[1])).toEqual(["1", "edge-2", "web-prod-1-r2", "10.0.0.21", "02:42:0a:00:00:15", "2", "exited", "—", "stopped"]);
    expect(text($("status-kept", detail))).toContain("revision 1 × 2");
    i18n.setLocale("zh-CN");
    flushSync();
    expect(cells(all("status-row", detail)[1]).at(-1)).toBe("已停止");
    i18n.setLocale("en");
    flushSync();
    expect(all("revision-row", detail).map((row) => row.dataset.revision)).toEqual(["3", "2", "1"]);
    expect(all("app-rollback", detail).map((button) => [button.dataset.revision, text(button)])).toEqual([
      ["3", "Roll forward"],
      ["1", "Roll back"],
    ]);
    expect(all("history-row", detail).map((row) => row.dataset.action)).toEqual(["deploy", "deploy", "apply"]);
    expect(text(all("history-row", detail)[0])).toContain("deployed");
  });

  it("deploys the plan shown, with each replica's latest step live, then the outcome and the re-read status", async () => {
    const detail = await open("web", "prod");
    const shown = backend.plans.get("web/prod")!.placements;
    const held = gate();
    backend.holdRollout = held.promise;
    $("app-deploy", detail)!.click();
    flushSync();
    expect($<HTMLButtonElement>("app-deploy", detail)!.disabled).toBe(true);
    backend.emitAppProgress({ app: "web", env: "prod", progress: { replica: 1, host: "edge-2", step: "lease", state: "started", detail: "10.0.0.21 of lan" } });
    backend.emitAppProgress({ app: "web", env: "prod", progress: { replica: 0, host: "edge-1", step: "start", state: "started", detail: null } });
    backend.emitAppProgress({ app: "web", env: "prod", progress: { replica: 1, host: "edge-2", step: "upload", state: "started", detail: "5242880 bytes" } });
    flushSync();
    const steps = () => all("rollout-replica", detail).map((row) => [row.dataset.replica, row.dataset.state, text(row)]);
    expect(steps()).toEqual([
      ["0", "started", "Replica 0 edge-1 start · under way"],
      ["1", "started", "Replica 1 edge-2 upload package · under way 5242880 bytes"],
    ]);
    expect($("rollout-outcome", detail)).toBeNull();
    backend.emitAppProgress({ app: "web", env: "prod", progress: { replica: 0, host: "edge-1", step: "health", state: "done", detail: null } });
    backend.emitAppProgress({ app: "web", env: "prod", progress: { replica: 1, host: "edge-2", step: "health", state: "done", detail: null } });
    backend.statuses.set("web/prod", appStatus({ app: "web", revision: 3, latest: 3, replicas: [{ replica: 0, host: "edge-1", container: "web-prod-0-r3", ip: "10.0.0.10", mac: null, revision: 3, state: "running", health: "healthy", drift: null }] }));
    const before = backend.calls.filter((call) => call === "apps").length;
    held.open();
    await settle();
    await settle();
    expect(backend.rollouts).toEqual([{ kind: "deploy", name: "web", env: "prod", expect: shown }]);
    expect(steps().map(([replica, state]) => [replica, state])).toEqual([
      ["0", "done"],
      ["1", "done"],
    ]);
    const outcome = $("rollout-outcome", detail)!;
    expect(outcome.dataset.ok).toBe("true");
    expect(text(outcome)).toBe("Revision 3 is out: 1 created, 0 updated, 0 repaired, 0 removed, 1 unchanged.");
    expect(all("status-row", detail).map((row) => row.dataset.revision)).toEqual(["3"]);
    expect(backend.calls.filter((call) => call === "apps").length).toBe(before + 1);
    expect($<HTMLButtonElement>("app-deploy", detail)!.disabled).toBe(false);
  });

  /** Deploy with the next outcome a health failure of replica 1, rolled back to revision 2. */
  async function deployFailing(detail: HTMLElement, undoProblems: string[]): Promise<void> {
    backend.nextOutcome = rolloutOutcome(backend.plans.get("web/prod")!, {
      ok: false,
      rolled_back: true,
      undo_problems: undoProblems,
      previous: 2,
      failed: { replica: 1, host: "edge-2", step: "health", reason: "not healthy within 20 s" },
    });
    $("app-deploy", detail)!.click();
    await settle();
    await settle();
  }

  it("names the failed replica, its host, step and reason, and says it rolled back", async () => {
    const detail = await open("web", "prod");
    await deployFailing(detail, []);
    const outcome = $("rollout-outcome", detail)!;
    expect(outcome.dataset.ok).toBe("false");
    expect(text($("rollout-failure", outcome))).toBe("Replica 1 on edge-2 failed at “health check”: not healthy within 20 s");
    expect(text($("rollout-rolled-back", outcome))).toBe("Every replica it touched was rolled back to revision 2.");
    expect($("rollout-undo-problems", outcome)).toBeNull();
  });

  it("lists what the undo could not put back", async () => {
    const detail = await open("web", "prod");
    await deployFailing(detail, ["edge-2/web-prod-1-r2 could not be started again (engine gone); start it by hand"]);
    const outcome = $("rollout-outcome", detail)!;
    expect(text($("rollout-undo-problems", outcome))).toBe("The undo could not put everything back:");
    expect(Array.from(outcome.querySelectorAll(".undo-problems li")).map((li) => li.textContent)).toEqual([
      "edge-2/web-prod-1-r2 could not be started again (engine gone); start it by hand",
    ]);
  });

  it("re-plans when the plan changed since it was shown, and says so instead of deploying", async () => {
    const detail = await open("web", "prod");
    backend.plans.set("web/prod", appPlan({ app: "web", revision: 3, placements: [placement(0, { existing: true }), placement(1, { host: "edge-1", ip: "10.0.0.22" })] }));
    $("app-deploy", detail)!.click();
    await settle();
    await settle();
    expect($("plan-changed", detail)!.textContent).toContain("The plan changed since it was shown");
    expect(all("plan-row", detail).map((row) => [row.dataset.replica, row.dataset.host])).toEqual([
      ["0", "edge-1"],
      ["1", "edge-1"],
    ]);
    expect($("rollout-outcome", detail)).toBeNull();
    expect($("app-action-error", detail)).toBeNull();
    expect(backend.rollouts).toHaveLength(1);
  });

  it("rolls back to the revision whose button is pressed, and to the previous one", async () => {
    const detail = await open("web", "prod");
    all("app-rollback", detail).find((button) => button.dataset.revision === "1")!.click();
    await settle();
    await settle();
    $("app-rollback-previous", detail)!.click();
    await settle();
    expect(backend.rollouts).toEqual([
      { kind: "rollback", name: "web", env: "prod", to: 1 },
      { kind: "rollback", name: "web", env: "prod", to: null },
    ]);
  });

  it("scales to the count typed, and removes the environment only once confirmed", async () => {
    const detail = await open("web", "prod");
    const input = $<HTMLInputElement>("app-scale-input", detail)!;
    expect(input.value).toBe("2");
    input.value = "4";
    input.dispatchEvent(new Event("input", { bubbles: true }));
    flushSync();
    $("app-scale", detail)!.click();
    await settle();
    await settle();
    expect(backend.rollouts).toEqual([{ kind: "scale", name: "web", env: "prod", replicas: 4 }]);
    $("app-remove", detail)!.click();
    flushSync();
    expect(text($("confirm-dialog"))).toContain("Remove web (prod)?");
    $("confirm-no")!.click();
    flushSync();
    expect(backend.appRemovals).toEqual([]);
    $("app-remove", detail)!.click();
    flushSync();
    $("confirm-yes")!.click();
    await settle();
    await settle();
    expect(backend.appRemovals).toEqual([{ name: "web", env: "prod" }]);
    expect($("confirm-dialog")).toBeNull();
  });
});
