import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { flushSync, mount, unmount } from "svelte";
import { appContext } from "$lib/context";
import { Fleet } from "$lib/fleet/fleet.svelte";
import { ContainerActions } from "$lib/containers/pending.svelte";
import { ImageList } from "$lib/images/images.svelte";
import { Transfers } from "$lib/images/transfers.svelte";
import { i18n } from "$lib/i18n/locale.svelte";
import { FakeBackend, host, imageRow, ipcError, transfer } from "../../testing/fake-backend";
import ImagesView from "./ImagesView.svelte";

describe("ImagesView", () => {
  let target: HTMLElement;
  let backend: FakeBackend;
  let fleet: Fleet;
  let images: ImageList;
  let transfers: Transfers;
  let view: ReturnType<typeof mount>;
  /** Host re-reads asked for after objects events, run by hand. */
  let due: (() => void)[];

  const $ = <T extends HTMLElement = HTMLElement>(testid: string, within: ParentNode = target) => within.querySelector<T>(`[data-testid='${testid}']`);
  const all = (testid: string, within: ParentNode = target) => [...within.querySelectorAll<HTMLElement>(`[data-testid='${testid}']`)];
  const settle = async () => {
    await new Promise((resolve) => setTimeout(resolve, 0));
    flushSync();
  };
  const type = (testid: string, value: string) => {
    const input = $<HTMLInputElement>(testid)!;
    input.value = value;
    input.dispatchEvent(new Event("input", { bubbles: true }));
    flushSync();
  };
  const row = (host: string, id: string) => all("image-row").find((r) => r.dataset.host === host && r.dataset.id === id)!;
  const card = (id: number) => all("transfer").find((c) => c.dataset.id === String(id))!;
  const runDue = async () => {
    due.splice(0).forEach((run) => run());
    await settle();
  };

  beforeEach(async () => {
    backend = new FakeBackend();
    backend.hosts = [host({ id: 1, name: "edge-1" }), host({ id: 2, name: "edge-2" }), host({ id: 3, name: "edge-3", status: "offline" })];
    backend.imageRows = [
      imageRow({ host: "edge-1", id: "sha256:aaa111", tags: ["nginx:1.27"], containers: ["web"], created: "2025-03-01T10:00:00Z" }),
      imageRow({ host: "edge-1", id: "sha256:ddd444", tags: [], dangling: true, created: "2025-01-01T10:00:00Z" }),
      imageRow({ host: "edge-2", id: "sha256:aaa111", tags: ["nginx:1.27"], created: "2025-03-01T10:00:00Z" }),
      imageRow({ host: "edge-2", id: "sha256:bbb222", tags: ["redis:7"], size: 117_000_000, created: "2025-02-01T10:00:00Z" }),
    ];
    fleet = new Fleet(backend, { scheduleFrame: (flush) => queueMicrotask(flush), afterPaint: () => Promise.resolve() });
    await fleet.start();
    due = [];
    transfers = new Transfers(backend);
    images = new ImageList(backend, fleet, transfers, {
      later: (run) => {
        due.push(run);
        return () => (due = due.filter((other) => other !== run));
      },
    });
    target = document.createElement("div");
    document.body.append(target);
    view = mount(ImagesView, { target, props: { images, transfers }, context: appContext({ backend, fleet, actions: new ContainerActions(backend) }) });
    flushSync();
    await settle();
  });

  afterEach(() => {
    unmount(view);
    target.remove();
  });

  it("lists one row per host and image, dangling ones as <none>, with the containers using each", () => {
    expect(all("image-row").map((r) => [r.dataset.host, r.dataset.id, r.dataset.tags])).toEqual([
      ["edge-1", "sha256:aaa111", "nginx:1.27"],
      ["edge-1", "sha256:ddd444", ""],
      ["edge-2", "sha256:aaa111", "nginx:1.27"],
      ["edge-2", "sha256:bbb222", "redis:7"],
    ]);
    expect(row("edge-1", "sha256:ddd444").textContent).toContain("<none>");
    expect($("image-containers", row("edge-1", "sha256:aaa111"))!.textContent).toBe("web");
    expect(row("edge-2", "sha256:bbb222").textContent).toContain("117 MB");
    expect($("images-count")!.textContent).toBe("4 images");
  });

  it("groups the images across hosts: the hosts that hold each and those of the fleet that lack it", () => {
    $("images-scope-across")!.click();
    flushSync();
    expect($("images-view")!.dataset.scope).toBe("across");
    expect(all("image-across-row").map((r) => [r.dataset.id, r.dataset.hosts, r.dataset.lacking])).toEqual([
      ["sha256:aaa111", "edge-1,edge-2", "edge-3"],
      ["sha256:bbb222", "edge-2", "edge-1,edge-3"],
      ["sha256:ddd444", "edge-1", "edge-2,edge-3"],
    ]);
    const nginx = all("image-across-row")[0];
    expect(all("image-host", nginx).map((h) => h.dataset.host)).toEqual(["edge-1", "edge-2"]);
    expect(all("image-lacking", nginx).map((h) => h.dataset.host)).toEqual(["edge-3"]);
    expect($("images-count")!.textContent).toBe("3 images");
  });

  it("narrows by the filter box and the host, and says when nothing matches", () => {
    type("images-filter", "nginx");
    expect(all("image-row").map((r) => r.dataset.host)).toEqual(["edge-1", "edge-2"]);
    expect($("images-count")!.textContent).toBe("2 of 4 images");
    const select = $<HTMLSelectElement>("images-host")!;
    select.value = "edge-2";
    select.dispatchEvent(new Event("change", { bubbles: true }));
    flushSync();
    expect(all("image-row").map((r) => r.dataset.host)).toEqual(["edge-2"]);
    type("images-filter", "postgres");
    expect($("images-no-match")).not.toBeNull();
    $("images-clear-filters")!.click();
    flushSync();
    expect(all("image-row")).toHaveLength(4);
  });

  it("pulls from the dialog: the host and the reference go to imagePull, and the transfer shows", async () => {
    $("pull-button")!.click();
    flushSync();
    const dialog = $("pull-dialog")!;
    expect($("pull-registry-hint", dialog)!.textContent).toContain("berth registry login SERVER");
    expect([...$<HTMLSelectElement>("pull-host", dialog)!.options].map((o) => [o.value, o.disabled])).toEqual([
      ["edge-1", false],
      ["edge-2", false],
      ["edge-3", true],
    ]);
    expect($<HTMLButtonElement>("pull-confirm", dialog)!.disabled).toBe(true);
    type("pull-image", "  alpine:3.20 ");
    $<HTMLButtonElement>("pull-confirm", dialog)!.click();
    await settle();
    expect(backend.pulls).toEqual([{ host: "edge-1", image: "alpine:3.20" }]);
    expect($("pull-dialog")).toBeNull();
    const pulled = all("transfer");
    expect(pulled.map((c) => [c.dataset.kind, c.dataset.host, c.dataset.image, c.dataset.state])).toEqual([["pull", "edge-1", "alpine:3.20", "running"]]);
    expect($("transfer-cancel", pulled[0])).not.toBeNull();
  });

  it("words a pull the backend refuses, in the dialog", async () => {
    backend.failures.set("imagePull", ipcError("invalid_input", { what: "image reference", reason: "uppercase letters" }, "uppercase letters"));
    $("pull-button")!.click();
    flushSync();
    type("pull-image", "Nginx");
    $("pull-confirm")!.click();
    await settle();
    expect($("pull-error-text")!.textContent).toBe("Invalid image reference.");
    expect($("pull-error-detail")!.textContent).toBe("uppercase letters");
    expect($("pull-dialog")).not.toBeNull();
  });

  it("draws a pull's bars from its layers as updates arrive, and cancels it", async () => {
    backend.emitTransfer(
      transfer({
        id: 7,
        host: "edge-2",
        image: "nginx:1.27",
        layers: [
          { id: "sha256:l1", status: "Downloading", current: 250, total: 1000 },
          { id: "sha256:l2", status: "Already exists", current: null, total: null },
          { id: "sha256:l3", status: "Waiting", current: null, total: null },
        ],
      }),
    );
    flushSync();
    const pull = card(7);
    expect($("transfer-bar", pull)!.dataset.percent).toBe("41.7");
    expect(all("layer-bar", pull).map((bar) => [bar.dataset.layer, bar.dataset.percent])).toEqual([
      ["sha256:l1", "25"],
      ["sha256:l2", "100"],
      ["sha256:l3", ""],
    ]);
    expect(all("transfer-layer", pull).map((layer) => layer.dataset.status)).toEqual(["Downloading", "Already exists", "Waiting"]);
    expect(pull.textContent).toContain("250 B / 1 kB");
    $("transfer-cancel", pull)!.click();
    await settle();
    expect(backend.cancelled).toEqual([7]);
    backend.emitTransfer(transfer({ id: 7, host: "edge-2", image: "nginx:1.27", state: "cancelled", error: { code: "cancelled", message: "x", fields: { what: "the pull" }, detail: null } }));
    flushSync();
    expect(card(7).dataset.state).toBe("cancelled");
    expect($("transfer-cancel", card(7))).toBeNull();
    backend.emitTransfer(transfer({ id: 8, state: "failed", error: { code: "image_not_found", message: "no such image", fields: { host: "local", image: "nope:1" }, detail: "manifest unknown" } }));
    flushSync();
    expect($("transfer-error-text", card(8))!.textContent).toBe("There is no image nope:1 on host local.");
    expect($("transfer-error-detail", card(8))!.textContent).toBe("manifest unknown");
    expect(all("transfer").map((c) => c.dataset.id)).toEqual(["8", "7"]);
  });

  it("pushes a row's image to the hosts that lack it, and shows what a push sent and skipped", async () => {
    $("push-button", row("edge-2", "sha256:bbb222"))!.click();
    flushSync();
    const dialog = $("push-dialog")!;
    expect($<HTMLSelectElement>("push-source", dialog)!.value).toBe("edge-2");
    expect(all("push-target", dialog).map((box) => [box.dataset.host, (box as HTMLInputElement).checked, (box as HTMLInputElement).disabled])).toEqual([
      ["edge-1", true, false],
      ["edge-3", false, true],
    ]);
    $("push-confirm", dialog)!.click();
    await settle();
    expect(backend.pushes).toEqual([{ source: "edge-2", image: "redis:7", targets: ["edge-1"] }]);
    expect($("push-dialog")).toBeNull();
    const [pushed] = all("transfer");
    expect([pushed.dataset.kind, pushed.dataset.from, pushed.dataset.host]).toEqual(["push", "edge-2", "edge-1"]);
    backend.emitTransfer(transfer({ id: Number(pushed.dataset.id), kind: "push", from: "edge-2", host: "edge-1", image: "redis:7", bytes_sent: 30_000_000, bytes_total: 120_000_000, layers_sent: 2, layers_skipped: 3, full_tar: true }));
    flushSync();
    const update = card(Number(pushed.dataset.id));
    expect($("transfer-bar", update)!.dataset.percent).toBe("25");
    expect($("transfer-push-layers", update)!.textContent!.trim()).toBe("layers sent 2, skipped 3");
    expect($("transfer-bytes", update)!.textContent).toBe("30 MB of 120 MB");
    expect($("transfer-full-tar", update)).not.toBeNull();
    expect($("transfer-route", update)!.textContent).toBe("edge-2 → edge-1");
  });

  it("pushes from the across-hosts table, from a host that holds the image", async () => {
    $("images-scope-across")!.click();
    flushSync();
    $("push-button", all("image-across-row")[2])!.click();
    flushSync();
    const dialog = $("push-dialog")!;
    expect($<HTMLSelectElement>("push-source", dialog)!.value).toBe("edge-1");
    expect($("push-confirm", dialog)!.textContent!.trim()).toBe("Push to 1 host");
    $("push-confirm", dialog)!.click();
    await settle();
    expect(backend.pushes).toEqual([{ source: "edge-1", image: "sha256:ddd444", targets: ["edge-2"] }]);
  });

  it("shows the containers when a removal is refused because they use the image, and forces it on the user's word", async () => {
    $("image-remove", row("edge-1", "sha256:aaa111"))!.click();
    flushSync();
    expect($("remove-dialog")!.textContent).toContain("nginx:1.27 (aaa111) is deleted from edge-1");
    $("remove-confirm")!.click();
    await settle();
    expect(backend.removals).toEqual([]);
    expect($("remove-error-text")!.textContent).toBe("Image sha256:aaa111 on host edge-1 is used by containers web.");
    expect(all("remove-user").map((user) => user.textContent)).toEqual(["web"]);
    expect($("remove-confirm")).toBeNull();
    $("remove-force")!.click();
    await settle();
    expect(backend.removals).toEqual([{ kind: "image", host: "edge-1", name: "sha256:aaa111", force: true }]);
    expect($("remove-dialog")).toBeNull();
    await runDue();
    expect(all("image-row").map((r) => `${r.dataset.host}/${r.dataset.id}`)).toEqual(["edge-1/sha256:ddd444", "edge-2/sha256:aaa111", "edge-2/sha256:bbb222"]);
  });

  it("offers to force a removal Docker refused (an image tagged in several repositories)", async () => {
    const reason = "conflict: unable to delete bbb222 (must be forced) - image is referenced in multiple repositories (HTTP 409)";
    backend.failures.set("imageRemove", ipcError("docker", { host: "edge-2", action: "remove image sha256:bbb222", reason }, reason));
    $("image-remove", row("edge-2", "sha256:bbb222"))!.click();
    flushSync();
    $("remove-confirm")!.click();
    await settle();
    expect($("remove-error-text")!.textContent).toBe("Docker on host edge-2 refused to remove image sha256:bbb222.");
    expect($("remove-error-detail")!.textContent).toBe(reason);
    expect($("remove-users")).toBeNull();
    $("remove-force")!.click();
    await settle();
    expect(backend.removals).toEqual([{ kind: "image", host: "edge-2", name: "sha256:bbb222", force: true }]);
  });

  it("re-reads a host's rows when its objects change, once per interval", async () => {
    backend.imageRows.push(imageRow({ host: "edge-2", id: "sha256:eee555", tags: ["postgres:17"] }));
    backend.emitObjects(2);
    backend.emitObjects(2);
    expect(due).toHaveLength(1);
    await runDue();
    expect(backend.calls.filter((call) => call.startsWith("images"))).toEqual(["images", "images:edge-2"]);
    expect(row("edge-2", "sha256:eee555")).toBeDefined();
  });

  it("prunes one host after asking, every unused image when chosen, and says what went", async () => {
    $("prune-button")!.click();
    flushSync();
    const dialog = $("prune-dialog")!;
    expect([...$<HTMLSelectElement>("prune-host", dialog)!.options].map((o) => o.value)).toEqual(["edge-1", "edge-2"]);
    $<HTMLInputElement>("prune-all", dialog)!.click();
    $("prune-confirm", dialog)!.click();
    await settle();
    expect(backend.prunes).toEqual([{ kind: "image", host: "edge-1", all: true }]);
    expect($("prune-result")!.textContent).toContain("Removed 1 from edge-1, freeing 4.4 MB.");
    $("prune-done")!.click();
    flushSync();
    expect($("prune-dialog")).toBeNull();
    $("prune-button")!.click();
    flushSync();
    $("prune-confirm")!.click();
    await settle();
    expect($("prune-result")!.textContent!.trim()).toBe("Nothing to remove on edge-1.");
  });

  it("offers no change on a host that is not online", async () => {
    backend.imageRows.push(imageRow({ host: "edge-3", id: "sha256:fff666", tags: ["old:1"] }));
    backend.emitObjects(3);
    await runDue();
    const offline = row("edge-3", "sha256:fff666");
    expect($<HTMLButtonElement>("image-remove", offline)!.disabled).toBe(true);
    expect($<HTMLButtonElement>("push-button", offline)!.title).toContain("edge-3 is offline");
  });

  it("speaks Chinese when chosen", () => {
    try {
      i18n.setLocale("zh-CN");
      flushSync();
      expect($("images-count")!.textContent).toBe("4 个镜像");
      expect($("pull-button")!.textContent).toBe("拉取");
      expect($("transfers-empty")!.textContent).toBe("还没有拉取、推送或构建。");
    } finally {
      i18n.setLocale("en");
      flushSync();
    }
  });
});
