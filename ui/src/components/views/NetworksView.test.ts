import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { flushSync, mount, unmount } from "svelte";
import { appContext } from "$lib/context";
import { Fleet } from "$lib/fleet/fleet.svelte";
import { ContainerActions } from "$lib/containers/pending.svelte";
import { NetworkList } from "$lib/objects/networks.svelte";
import { VolumeList } from "$lib/objects/volumes.svelte";
import { i18n } from "$lib/i18n/locale.svelte";
import { FakeBackend, host, networkRow, volumeRow } from "../../testing/fake-backend";
import NetworksView from "./NetworksView.svelte";

describe("NetworksView", () => {
  let target: HTMLElement;
  let backend: FakeBackend;
  let networks: NetworkList;
  let volumes: VolumeList;
  let view: ReturnType<typeof mount>;
  let due: (() => void)[];

  const $ = <T extends HTMLElement = HTMLElement>(testid: string, within: ParentNode = target) => within.querySelector<T>(`[data-testid='${testid}']`);
  const all = (testid: string, within: ParentNode = target) => [...within.querySelectorAll<HTMLElement>(`[data-testid='${testid}']`)];
  const settle = async () => {
    await new Promise((resolve) => setTimeout(resolve, 0));
    flushSync();
  };
  const network = (host: string, name: string) => all("network-row").find((r) => r.dataset.host === host && r.dataset.name === name)!;
  const volume = (host: string, name: string) => all("volume-row").find((r) => r.dataset.host === host && r.dataset.name === name)!;
  const runDue = async () => {
    due.splice(0).forEach((run) => run());
    await settle();
  };

  beforeEach(async () => {
    backend = new FakeBackend();
    backend.hosts = [host({ id: 1, name: "edge-1" }), host({ id: 2, name: "edge-2" })];
    backend.networkRows = [
      networkRow({ host: "edge-1", name: "bridge", builtin: true, subnets: ["172.17.0.0/16"] }),
      networkRow({ host: "edge-1", name: "lan", driver: "macvlan", subnets: ["10.0.0.0/24"], pool: "lan", containers: [{ container: "web", ip: "10.0.0.5" }] }),
      networkRow({ host: "edge-1", name: "app", subnets: ["172.20.0.0/16"], containers: [{ container: "api", ip: "172.20.0.2" }, { container: "db", ip: "172.20.0.3" }] }),
      networkRow({ host: "edge-2", name: "lan", driver: "macvlan", subnets: ["10.0.0.0/24"], pool: "lan", containers: [{ container: "cache", ip: "10.0.0.6" }] }),
      networkRow({ host: "edge-2", name: "old" }),
    ];
    backend.volumeRows = [volumeRow({ host: "edge-1", name: "pgdata", containers: ["db"] }), volumeRow({ host: "edge-2", name: "pgdata" }), volumeRow({ host: "edge-2", name: "scratch" })];
    const fleet = new Fleet(backend, { scheduleFrame: (flush) => queueMicrotask(flush), afterPaint: () => Promise.resolve() });
    await fleet.start();
    due = [];
    const later = (run: () => void) => {
      due.push(run);
      return () => (due = due.filter((other) => other !== run));
    };
    networks = new NetworkList(backend, fleet, { later });
    volumes = new VolumeList(backend, fleet, { later });
    target = document.createElement("div");
    document.body.append(target);
    view = mount(NetworksView, { target, props: { networks, volumes }, context: appContext({ backend, fleet, actions: new ContainerActions(backend) }) });
    flushSync();
    await settle();
  });

  afterEach(() => {
    unmount(view);
    target.remove();
  });

  it("lists each host's networks with the containers attached and their addresses", () => {
    expect(all("network-row").map((r) => `${r.dataset.host}/${r.dataset.name}`)).toEqual(["edge-1/bridge", "edge-1/lan", "edge-1/app", "edge-2/lan", "edge-2/old"]);
    expect($("network-containers", network("edge-1", "app"))!.textContent!.trim()).toBe("api 172.20.0.2, db 172.20.0.3");
    expect($("networks-count")!.textContent).toBe("5 networks");
  });

  it("marks an IP pool's network and does not remove it here; nor Docker's own", () => {
    const lan = network("edge-1", "lan");
    expect(lan.dataset.pool).toBe("lan");
    expect($("network-pool", lan)!.textContent!.trim()).toBe("IPAM pool lan");
    const remove = $<HTMLButtonElement>("network-remove", lan)!;
    expect(remove.disabled).toBe(true);
    expect(remove.title).toContain("removed through IPAM");
    expect($("network-locked-hint", lan)!.textContent).toBe("remove through IPAM");
    const bridge = network("edge-1", "bridge");
    expect($("network-builtin", bridge)).not.toBeNull();
    expect($<HTMLButtonElement>("network-remove", bridge)!.disabled).toBe(true);
    expect($<HTMLButtonElement>("network-remove", network("edge-2", "old"))!.disabled).toBe(false);
  });

  it("names the containers still attached when a removal is refused, with no force to offer", async () => {
    $("network-remove", network("edge-1", "app"))!.click();
    flushSync();
    $("remove-confirm")!.click();
    await settle();
    expect(all("remove-user").map((user) => user.textContent)).toEqual(["api", "db"]);
    expect($("remove-error-text")!.textContent).toBe("Network app on host edge-1 still has containers attached: api, db.");
    expect($("remove-force")).toBeNull();
    expect($<HTMLButtonElement>("remove-confirm")!.disabled).toBe(true);
    expect(backend.removals).toEqual([]);
  });

  it("removes an unused network after asking; its host's rows are read again", async () => {
    $("network-remove", network("edge-2", "old"))!.click();
    flushSync();
    expect($("remove-dialog")!.textContent).toContain("Network old is deleted from edge-2.");
    $("remove-confirm")!.click();
    await settle();
    expect(backend.removals).toEqual([{ kind: "network", host: "edge-2", name: "old", force: false }]);
    await runDue();
    expect(network("edge-2", "old")).toBeUndefined();
  });

  it("shows each network once across hosts, with every host's users and addresses", () => {
    $("networks-scope-across")!.click();
    flushSync();
    const rows = all("network-across-row");
    expect(rows.map((r) => [r.dataset.name, r.dataset.hosts])).toEqual([
      ["app", "edge-1"],
      ["bridge", "edge-1"],
      ["lan", "edge-1,edge-2"],
      ["old", "edge-2"],
    ]);
    expect(rows[2].textContent).toContain("edge-1/web 10.0.0.5, edge-2/cache 10.0.0.6");
    expect($("network-pool", rows[2])).not.toBeNull();
  });

  it("prunes one host's networks", async () => {
    $("networks-prune-button")!.click();
    flushSync();
    const select = $<HTMLSelectElement>("prune-host")!;
    select.value = "edge-2";
    select.dispatchEvent(new Event("change", { bubbles: true }));
    flushSync();
    expect($("prune-all")).toBeNull();
    $("prune-confirm")!.click();
    await settle();
    expect(backend.prunes).toEqual([{ kind: "network", host: "edge-2" }]);
    expect($("prune-result")!.dataset.removed).toBe("1");
  });

  it("forces a volume's removal past the containers using it, on the user's word", async () => {
    $("tab-volumes")!.click();
    await settle();
    expect($("networks-view")!.dataset.tab).toBe("volumes");
    expect(all("volume-row").map((r) => `${r.dataset.host}/${r.dataset.name}`)).toEqual(["edge-1/pgdata", "edge-2/pgdata", "edge-2/scratch"]);
    $("volume-remove", volume("edge-1", "pgdata"))!.click();
    flushSync();
    $("remove-confirm")!.click();
    await settle();
    expect(all("remove-user").map((user) => user.textContent)).toEqual(["db"]);
    $("remove-force")!.click();
    await settle();
    expect(backend.removals).toEqual([{ kind: "volume", host: "edge-1", name: "pgdata", force: true }]);
    $("volumes-scope-across")!.click();
    flushSync();
    await runDue();
    expect(all("volume-across-row").map((r) => [r.dataset.name, r.dataset.hosts])).toEqual([
      ["pgdata", "edge-2"],
      ["scratch", "edge-2"],
    ]);
  });

  it("speaks Chinese when chosen", () => {
    try {
      i18n.setLocale("zh-CN");
      flushSync();
      expect($("network-pool", network("edge-1", "lan"))!.textContent!.trim()).toBe("IPAM 地址池 lan");
      expect($("tab-volumes")!.textContent!.trim()).toBe("卷");
    } finally {
      i18n.setLocale("en");
      flushSync();
    }
  });
});
