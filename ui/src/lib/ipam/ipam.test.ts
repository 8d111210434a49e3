import { describe, expect, it } from "vitest";
import { FakeBackend, ipcError } from "../../testing/fake-backend";
import { type AddressRow, type Finding, type PoolSummary } from "$lib/ipc";
import { IpamView, ipv4Range, ipv4ToNumber, mapPage, numberToIpv4, pageCount, usage } from "./ipam.svelte";

function pool(name: string, subnet: string, counts: Partial<PoolSummary> = {}): PoolSummary {
  return {
    name,
    subnet,
    gateway: null,
    ranges: [],
    reserved: [],
    segment: name,
    hosts: [{ host: "edge-1" }],
    driver: "bridge",
    bridge_name: null,
    parent: null,
    quarantine_seconds: 3600,
    size: 254,
    leased: 0,
    quarantined: 0,
    reserved_count: 0,
    ...counts,
  } as unknown as PoolSummary;
}

function row(ip: string, state: AddressRow["state"], extra: Partial<AddressRow> = {}): AddressRow {
  return { pool: "lan", ip, state, host: null, container: null, reason: null, fixed: false, since_ms: 0, until_ms: null, ...extra };
}

function finding(ip: string, kind: Finding["kind"], repair: Finding["repair"] = null): Finding {
  return { kind, pool: "lan", segment: "lan", ip, containers: [], detail: `${kind} at ${ip}`, repair };
}

describe("IPv4 arithmetic", () => {
  it("converts addresses and CIDRs both ways and refuses nonsense", () => {
    expect(ipv4ToNumber("10.0.1.2")).toBe(10 * 2 ** 24 + 258);
    expect(numberToIpv4(ipv4ToNumber("255.255.255.255")!)).toBe("255.255.255.255");
    for (const bad of ["10.0.1", "10.0.1.256", "a.b.c.d", "fd00::1"]) expect(ipv4ToNumber(bad)).toBeNull();
    expect(ipv4Range("10.20.0.0/16")).toEqual({ first: ipv4ToNumber("10.20.0.0"), size: 65536 });
    expect(ipv4Range("fd00::/64")).toBeNull();
    expect(pageCount(pool("wide", "10.20.0.0/16"))).toBe(256);
    expect(pageCount(pool("tiny", "10.0.0.0/29"))).toBe(1);
  });
});

describe("the address map", () => {
  it("colours each address of a page, conflicts first, network and broadcast unusable", () => {
    const p = pool("lan", "10.0.0.0/24");
    const rows = [
      row("10.0.0.1", "reserved", { reason: "gateway", fixed: true }),
      row("10.0.0.2", "leased", { host: "edge-1", container: "web" }),
      row("10.0.0.3", "quarantined", { host: "edge-1", container: "old" }),
      row("10.0.0.4", "leased", { host: "edge-1", container: "api" }),
    ];
    const cells = mapPage(p, rows, [finding("10.0.0.4", "duplicate")], 0);
    expect(cells).toHaveLength(256);
    expect(cells.slice(0, 6).map((c) => [c.ip, c.state, c.note])).toEqual([
      ["10.0.0.0", "unusable", ""],
      ["10.0.0.1", "reserved", "gateway"],
      ["10.0.0.2", "leased", "edge-1/web"],
      ["10.0.0.3", "quarantined", "edge-1/old"],
      ["10.0.0.4", "conflict", "duplicate at 10.0.0.4"],
      ["10.0.0.5", "free", ""],
    ]);
    expect(cells[255]).toMatchObject({ ip: "10.0.0.255", state: "unusable" });
    // A /16 pages by /24; the last page ends on the broadcast address.
    const wide = pool("lan", "10.20.0.0/16");
    expect(mapPage(wide, [], [], 255).at(-1)).toMatchObject({ ip: "10.20.255.255", state: "unusable" });
    expect(mapPage(wide, [], [], 1)[0]).toMatchObject({ ip: "10.20.1.0", state: "free" });
    expect(mapPage(pool("six", "fd00::/64"), [], [], 0)).toEqual([]);
  });

  it("measures use against the pool's size", () => {
    expect(usage(pool("lan", "10.0.0.0/24", { size: 200, leased: 50, quarantined: 10, reserved_count: 2 } as Partial<PoolSummary>))).toEqual({ leased: 0.25, quarantined: 0.05, reserved: 0.01 });
  });
});

describe("IpamView", () => {
  function setup() {
    const backend = new FakeBackend();
    backend.pools = [pool("lan", "10.0.0.0/24", { leased: 1 } as Partial<PoolSummary>), pool("dmz", "10.9.0.0/24")];
    backend.poolAddresses.set("lan", [row("10.0.0.2", "leased", { host: "edge-1", container: "web" })]);
    backend.poolAddresses.set("dmz", [row("10.9.0.7", "reserved", { pool: "dmz", reason: "printer" })]);
    backend.report = { conflicts: [finding("10.0.0.9", "duplicate")], orphans: [finding("10.0.0.30", "unleased", { action: "adopt", host: "edge-1", container: "stray" })] };
    return { backend, ipam: new IpamView(backend) };
  }

  it("loads pools and the check, and shows the first pool's map", async () => {
    const { ipam } = setup();
    await ipam.load();
    expect(ipam.selected).toBe("lan");
    expect(ipam.cells.find((c) => c.ip === "10.0.0.2")?.state).toBe("leased");
    expect(ipam.cells.find((c) => c.ip === "10.0.0.9")?.state).toBe("conflict");
    await ipam.select("dmz");
    expect(ipam.cells.find((c) => c.ip === "10.9.0.7")).toMatchObject({ state: "reserved", note: "printer" });
  });

  it("repairs a finding and reads everything again", async () => {
    const { backend, ipam } = setup();
    await ipam.load();
    const orphan = ipam.report.orphans[0];
    await ipam.repair(orphan);
    expect(backend.repairs).toEqual([orphan]);
    expect(ipam.report.orphans).toHaveLength(0);
    expect(backend.calls.filter((c) => c === "ipamCheck")).toHaveLength(2);
    expect(ipam.repairing.size).toBe(0);
  });

  it("says why when the backend fails, and keeps what it had", async () => {
    const { backend, ipam } = setup();
    await ipam.load();
    backend.failures.set("ipamRepair", ipcError("address_unavailable", { pool: "lan", ip: "10.0.0.30", reason: "reserved (printer)" }, "reserved (printer)"));
    await ipam.repair(ipam.report.orphans[0]);
    expect(ipam.error).toMatchObject({ code: "address_unavailable", fields: { pool: "lan", ip: "10.0.0.30" }, detail: "reserved (printer)" });
    expect(ipam.pools).toHaveLength(2);
  });

  it("applies the pool's network and says how each host went", async () => {
    const { backend, ipam } = setup();
    await ipam.load();
    await ipam.applyNetwork();
    expect(backend.applied).toEqual(["lan"]);
    expect(ipam.netReports).toEqual([{ host: "edge-1", network: "lan", status: "created", drift: [], error: null }]);
    await ipam.select("dmz");
    expect(ipam.netReports).toBeNull();
  });

  it("runs a container with the form, then shows its address on the map", async () => {
    const { backend, ipam } = setup();
    await ipam.load();
    expect(ipam.form.host).toBe("edge-1");
    ipam.form.name = " web2 ";
    ipam.form.image = "shop/web:1.4";
    ipam.form.command = "sleep  3600";
    ipam.form.ip = "10.0.0.20";
    await ipam.run();
    expect(backend.runs).toEqual([{ host: "edge-1", pool: "lan", ip: "10.0.0.20", name: "web2", image: "shop/web:1.4", cmd: ["sleep", "3600"], env: [], restart: "unless-stopped" }]);
    expect(ipam.ran).toMatchObject({ name: "web2", ip: "10.0.0.20" });
    expect(ipam.cells.find((c) => c.ip === "10.0.0.20")).toMatchObject({ state: "leased", note: "edge-1/web2" });
    expect(ipam.form).toMatchObject({ name: "", image: "", ip: "", host: "edge-1" });
    // No address: the pool's next free one.
    ipam.form.name = "web3";
    ipam.form.image = "shop/web:1.4";
    await ipam.run();
    expect(backend.runs[1].ip).toBeNull();
    expect(backend.runs[1].cmd).toEqual([]);
  });

  it("keeps the form and says why when a run is refused", async () => {
    const { backend, ipam } = setup();
    await ipam.load();
    ipam.form.name = "web2";
    ipam.form.image = "shop/web:1.4";
    backend.failures.set("ipamRun", ipcError("address_unavailable", { pool: "lan", ip: "10.0.0.9", reason: "leased to container api on host edge-1" }, "leased to container api on host edge-1"));
    await ipam.run();
    expect(ipam.ran).toEqual({ error: expect.objectContaining({ code: "address_unavailable", detail: "leased to container api on host edge-1" }) });
    expect(ipam.form.name).toBe("web2");
    expect(ipam.running).toBe(false);
  });

  it("reveals the page holding an address", async () => {
    const { backend, ipam } = setup();
    backend.pools = [pool("wide", "10.20.0.0/16")];
    await ipam.load();
    ipam.reveal("10.20.7.9");
    expect(ipam.page).toBe(7);
    ipam.reveal("10.99.0.1");
    expect(ipam.page).toBe(7);
  });
});
