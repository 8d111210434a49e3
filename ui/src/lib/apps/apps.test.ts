import { describe, expect, it } from "vitest";
import { translator } from "$lib/i18n";
import type { PlacementReason } from "$lib/ipc";
import { FakeBackend, appPlan, appRow, appStatus, gate, historyEntry, ipcError, placement, revisionRow, rolloutOutcome } from "../../testing/fake-backend";
import { AppList } from "./apps.svelte";
import { driftText, reasonText, stepText } from "./words";

const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

function backendWithWeb(): FakeBackend {
  const backend = new FakeBackend();
  backend.appRows = [
    appRow({ name: "web", env: "prod", revision: 2, deployed: 1, desired: 2, running: 2, healthy: 2 }),
    appRow({ name: "web", env: "staging", revision: 2 }),
    appRow({ name: "shop", env: "compose", kind: "compose", revision: 0, services: [{ name: "db", host: "edge-1", containers: 1, running: 1 }] }),
  ];
  backend.plans.set("web/prod", appPlan({ app: "web", revision: 2, placements: [placement(0, { existing: true }), placement(1, { host: "edge-2" })] }));
  backend.statuses.set("web/prod", appStatus({ app: "web", revision: 1, latest: 2 }));
  backend.revisions.set("web", [revisionRow({ app: "web", revision: 1 }), revisionRow({ app: "web", revision: 2 })]);
  backend.histories.set("web", [historyEntry({ op: "op-1", action: "deploy", revision: 1 })]);
  return backend;
}

async function started(backend: FakeBackend): Promise<AppList> {
  const apps = new AppList(backend);
  apps.start();
  await settle();
  return apps;
}

describe("AppList", () => {
  it("listens to rollout steps before it reads the list, and keeps compose projects apart", async () => {
    const backend = backendWithWeb();
    const apps = new AppList(backend);
    const stop = apps.start();
    expect(backend.progressListeners).toBe(1);
    await settle();
    expect(apps.apps.map((row) => `${row.name}/${row.env}`)).toEqual(["web/prod", "web/staging"]);
    expect(apps.compose.map((row) => row.name)).toEqual(["shop"]);
    stop();
    await settle();
    expect(backend.progressListeners).toBe(0);
  });

  it("reads an environment's plan, status, revisions and history when it is selected", async () => {
    const backend = backendWithWeb();
    const apps = await started(backend);
    const web = apps.select("web", "prod");
    await settle();
    expect(apps.isSelected({ name: "web", env: "prod" })).toBe(true);
    expect(web.plan?.placements.map((p) => p.host)).toEqual(["edge-1", "edge-2"]);
    expect(web.deployed).toBe(1);
    expect(web.revisions.map((row) => row.revision)).toEqual([2, 1]);
    expect(web.history).toHaveLength(1);
    expect(apps.select("web", "prod")).toBe(web);
  });

  it("deploys exactly the plan shown, hears each replica's latest step, then re-reads the environment and the list", async () => {
    const backend = backendWithWeb();
    const apps = await started(backend);
    const web = apps.select("web", "prod");
    await settle();
    const shown = web.plan!.placements;
    const held = gate();
    backend.holdRollout = held.promise;
    const calls = backend.calls.length;
    const deploying = web.deploy();
    expect(web.busy).toBe("deploy");
    backend.emitAppProgress({ app: "web", env: "prod", progress: { replica: 1, host: "edge-2", step: "create", state: "started", detail: "web-prod-1-r2" } });
    backend.emitAppProgress({ app: "web", env: "prod", progress: { replica: 0, host: "edge-1", step: "stop", state: "started", detail: null } });
    backend.emitAppProgress({ app: "web", env: "prod", progress: { replica: 1, host: "edge-2", step: "health", state: "done", detail: null } });
    // Another environment's steps are not this one's.
    backend.emitAppProgress({ app: "web", env: "staging", progress: { replica: 0, host: "edge-1", step: "create", state: "failed", detail: null } });
    expect(web.steps.map((step) => [step.replica, step.step, step.state])).toEqual([
      [0, "stop", "started"],
      [1, "health", "done"],
    ]);
    held.open();
    await deploying;
    expect(backend.rollouts).toEqual([{ kind: "deploy", name: "web", env: "prod", expect: shown }]);
    expect(web.outcome?.ok).toBe(true);
    expect(web.busy).toBeNull();
    expect(backend.calls.slice(calls)).toEqual(expect.arrayContaining(["appDeploy", "apps", "appPlan", "appStatus", "appRevisions", "appHistory"]));
    // The steps stay in view after the outcome; the next rollout starts afresh.
    expect(web.steps).toHaveLength(2);
    await web.rollback(null);
    expect(web.steps).toHaveLength(0);
  });

  it("re-plans instead of deploying when the plan changed since it was shown", async () => {
    const backend = backendWithWeb();
    const apps = await started(backend);
    const web = apps.select("web", "prod");
    await settle();
    const moved = appPlan({ app: "web", revision: 2, placements: [placement(0, { existing: true }), placement(1, { host: "edge-3", ip: "10.0.0.31" })] });
    backend.plans.set("web/prod", moved);
    await web.deploy();
    expect(backend.rollouts).toHaveLength(1);
    expect(web.planChanged).toBe(true);
    expect(web.outcome).toBeNull();
    expect(web.actionError).toBeNull();
    expect(web.plan).toEqual(moved);
    // Deploying again sends the new plan, which now matches.
    await web.deploy();
    expect(backend.rollouts[1]).toEqual({ kind: "deploy", name: "web", env: "prod", expect: moved.placements });
    expect(web.planChanged).toBe(false);
    expect(web.outcome?.ok).toBe(true);
  });

  it("keeps a failed rollout's outcome, and a refusal as the action's error", async () => {
    const backend = backendWithWeb();
    const apps = await started(backend);
    const web = apps.select("web", "prod");
    await settle();
    backend.nextOutcome = rolloutOutcome(web.plan!, {
      ok: false,
      rolled_back: true,
      undo_problems: [],
      previous: 1,
      failed: { replica: 1, host: "edge-2", step: "health", reason: "not healthy after 20 s" },
    });
    await web.deploy();
    expect(web.outcome?.failed?.step).toBe("health");
    backend.failures.set("appScale", ipcError("invalid_input", { what: "replicas", reason: "more than 1000" }, "more than 1000"));
    await web.scale(5000);
    expect(web.actionError?.code).toBe("invalid_input");
    expect(web.outcome).toBeNull();
  });

  it("scales, rolls back to a revision and removes the environment through the backend", async () => {
    const backend = backendWithWeb();
    const apps = await started(backend);
    const web = apps.select("web", "prod");
    await settle();
    web.scaleTo = 4;
    await web.scale(4);
    expect(web.scaleTo).toBeNull();
    await web.rollback(1);
    await web.remove();
    expect(backend.rollouts.slice(-2)).toEqual([
      { kind: "scale", name: "web", env: "prod", replicas: 4 },
      { kind: "rollback", name: "web", env: "prod", to: 1 },
    ]);
    expect(backend.appRemovals).toEqual([{ name: "web", env: "prod" }]);
    backend.failures.set("appRemove", ipcError("unreachable", { host: "edge-2", url: "tcp://edge-2:2375", reason: "connection refused" }));
    await expect(web.remove()).rejects.toMatchObject({ code: "unreachable" });
  });
});

describe("words", () => {
  const en = translator("en").t;
  const zh = translator("zh-CN").t;
  const reasons: PlacementReason[] = [
    { reason: "offline" },
    { reason: "constraint", constraint: "zone==bj" },
    { reason: "no_pool" },
    { reason: "no_free_address", pools: ["lan-bj", "lan-sh"] },
    { reason: "memory", reserved: 7_000_000_000, capacity: 8_000_000_000, needed: 2_000_000_000 },
    { reason: "cpus", reserved: 3.5, capacity: 4, needed: 1 },
    { reason: "max_per_host", max: 2 },
    { reason: "not_needed" },
  ];

  it("words every reason a host got no replica from its data, in each language", () => {
    expect(reasons.map((reason) => reasonText(reason, en, "en"))).toEqual([
      "offline",
      "does not meet the constraint zone==bj",
      "on none of the allowed pools",
      "no free address left in lan-bj, lan-sh",
      "memory: 7 GB of 8 GB reserved, 2 GB needed",
      "CPUs: 3.5 of 4 reserved, 1 needed",
      "already runs the most replicas per host (2)",
      "not needed: every replica was placed elsewhere",
    ]);
    for (const reason of reasons) expect(reasonText(reason, zh, "zh-CN")).not.toMatch(/\{|[a-z]{5,}/);
    expect(reasonText({ reason: "cpus", reserved: null, capacity: null, needed: 0.5 }, en, "en")).toBe("CPUs: — of — reserved, 0.5 needed");
  });

  it("words drift and steps, and shows a value it does not know as it came", () => {
    expect(driftText(null, en)).toBe("");
    expect(driftText("revision", en)).toBe("other revision");
    expect(driftText("address", zh)).toBe("不在其地址上");
    expect(driftText("sideways", en)).toBe("sideways");
    expect(stepText("upload", en)).toBe("upload package");
  });
});
