import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { flushSync, mount, unmount } from "svelte";
import type { HostKeyCheck, TestResult } from "$lib/ipc";
import { i18n } from "$lib/i18n/locale.svelte";
import { appContext } from "$lib/context";
import { Fleet } from "$lib/fleet/fleet.svelte";
import { ContainerActions } from "$lib/containers/pending.svelte";
import { FakeBackend, host, ipcError } from "../../testing/fake-backend";
import FleetView from "./FleetView.svelte";
import OfflineBanner from "../fleet/OfflineBanner.svelte";

const key: HostKeyCheck = {
  known_as: "[edge-3]:22",
  key_type: "ssh-ed25519",
  fingerprint: "SHA256:q3Jv0sT2r1cD0Zz9mN5bYk8VhW4eXp7LgA6uF1oIjKs",
  verdict: "unknown",
  known_hosts: "/home/me/.ssh/known_hosts",
};

function tested(overrides: Partial<TestResult>): TestResult {
  return { ok: true, message: "", code: null, fields: {}, detail: null, api_version: "1.47", server_version: "27.3.1", rtt_ms: 12, containers: 4, host_key: null, ...overrides };
}

describe("FleetView", () => {
  let target: HTMLElement;
  let backend: FakeBackend;
  let fleet: Fleet;
  let views: ReturnType<typeof mount>[];

  const $ = <T extends HTMLElement = HTMLElement>(testid: string) => target.querySelector<T>(`[data-testid='${testid}']`);
  const all = (testid: string) => [...target.querySelectorAll<HTMLElement>(`[data-testid='${testid}']`)];
  const settle = async () => {
    await new Promise((resolve) => setTimeout(resolve, 0));
    flushSync();
  };
  const fill = (testid: string, value: string) => {
    const input = $<HTMLInputElement>(testid)!;
    input.value = value;
    input.dispatchEvent(new Event("input", { bubbles: true }));
    flushSync();
  };

  beforeEach(async () => {
    backend = new FakeBackend();
    const minutesAgo = (minutes: number) => new Date(Date.now() - minutes * 60_000).toISOString();
    backend.hosts = [
      host({ id: 1, name: "local", states: { running: 3, exited: 1 }, containers: 4 }),
      host({ id: 2, name: "edge-2", kind: "ssh", url: "ssh://deploy@edge-2", status: "offline", last_sync: minutesAgo(12), last_error: "connection refused" }),
      host({ id: 3, name: "edge-9", status: "never", last_sync: null }),
    ];
    fleet = new Fleet(backend, { scheduleFrame: (flush) => queueMicrotask(flush) });
    await fleet.start();
    target = document.createElement("div");
    document.body.append(target);
    const context = appContext({ backend, fleet, actions: new ContainerActions(backend) });
    views = [mount(OfflineBanner, { target, context }), mount(FleetView, { target, props: { onshowcontainers: () => {} }, context })];
    flushSync();
  });

  afterEach(() => {
    views.forEach((view) => unmount(view));
    target.remove();
  });

  it("lists every host with its status", () => {
    expect(all("host-row").map((row) => `${row.dataset.host}:${row.dataset.status}`)).toEqual(["local:online", "edge-2:offline", "edge-9:never"]);
    const local = all("host-row")[0].textContent ?? "";
    expect(local).toContain("3 ms");
    expect(local).toContain("4 containers");
    expect(all("host-row")[1].textContent).toContain("connection refused");
  });

  it("lists hosts that are not online in the banner, with the age of their data", () => {
    expect(all("offline-host").map((item) => item.dataset.host)).toEqual(["edge-2", "edge-9"]);
    expect(all("offline-host")[0].textContent).toMatch(/edge-2 offline — data from 12 minutes ago \(last sync \d\d:\d\d\)/);
    expect(all("offline-host")[1].textContent).toContain("no data yet");
    backend.emitFleet(backend.hosts.map((h) => ({ ...h, status: "online" as const })));
    flushSync();
    expect($("offline-banner")).toBeNull();
  });

  it("adds an SSH host after trusting its key, then re-tests", async () => {
    backend.testResults = [tested({ ok: false, message: "host key unknown", host_key: key }), tested({ host_key: { ...key, verdict: "trusted" } })];
    $("add-host")!.click();
    flushSync();
    fill("host-name", "edge-3");
    fill("host-url", "ssh://deploy@edge-3");
    fill("host-ssh-identity", "~/.ssh/id_ed25519");
    fill("host-ssh-jump", "bastion");
    expect($("host-tls-ca")).toBeNull();
    expect(target.textContent).toContain("berth host password edge-3");
    expect(target.querySelector("input[type='password']")).toBeNull();

    $("host-test")!.click();
    await settle();
    expect($("host-test-result")!.dataset.ok).toBe("false");
    expect($("hostkey-fingerprint")!.textContent).toContain(key.fingerprint);
    expect($("hostkey-fingerprint")!.textContent).toContain("ssh-ed25519");

    $("hostkey-trust")!.click();
    await settle();
    await settle();
    expect(backend.trusted.map((t) => [t.spec.ssh, t.fingerprint])).toEqual([
      [{ identity: "~/.ssh/id_ed25519", known_hosts: null, password: false, proxy_jump: "bastion" }, key.fingerprint],
    ]);
    expect($("host-test-result")!.dataset.ok).toBe("true");
    expect($("hostkey-trust")).toBeNull();

    $("host-save")!.click();
    await settle();
    expect(backend.calls).toContain("addHost");
    expect($("host-name")).toBeNull();
    expect(all("host-row").map((row) => row.dataset.host)).toContain("edge-3");
  });

  it("warns about a changed host key and offers no way to trust it", async () => {
    backend.testResults = [tested({ ok: false, message: "host key changed", host_key: { ...key, verdict: "changed" } })];
    $("add-host")!.click();
    flushSync();
    fill("host-name", "edge-3");
    fill("host-url", "ssh://deploy@edge-3");
    $("host-test")!.click();
    await settle();
    const warning = $("hostkey-fingerprint")!;
    expect(warning.dataset.verdict).toBe("changed");
    expect(warning.getAttribute("role")).toBe("alert");
    expect(warning.textContent).toContain("man-in-the-middle");
    expect($("hostkey-trust")).toBeNull();
  });

  it("shows TLS fields for tcp:// and refuses an incomplete set", () => {
    $("add-host")!.click();
    flushSync();
    fill("host-name", "tls-1");
    fill("host-url", "tcp://10.0.0.5:2376");
    fill("host-tls-ca", "/certs/ca.pem");
    $("host-save")!.click();
    flushSync();
    expect($("dialog-error")!.textContent).toContain("TLS needs all three files");
    expect(backend.calls).not.toContain("addHost");
  });

  it("words the backend's refusal in the dialog, its reason beneath", async () => {
    const reason = "unsupported scheme: use unix://, npipe://, tcp:// or ssh://";
    backend.failures.set("editHost", ipcError("invalid_url", { url: "http://x", reason }, reason, `invalid host URL "http://x": ${reason}`));
    all("host-row")[0].querySelector<HTMLElement>("[data-testid='edit-host']")!.click();
    flushSync();
    expect($<HTMLInputElement>("host-name")!.value).toBe("local");
    fill("host-url", "http://x");
    $("host-save")!.click();
    await settle();
    expect($("dialog-error-text")!.textContent).toBe("The host URL http://x is not valid.");
    expect($("dialog-error-detail")!.textContent).toBe(reason);
    $("host-cancel")!.click();
    flushSync();
    expect($("host-name")).toBeNull();
  });

  it("words a failed connection test by its code, in the language chosen, the core's words beneath", async () => {
    const message = 'host "lab" (tcp://127.0.0.1:9) is unreachable: connection refused; is dockerd running and listening there?';
    backend.testResults = [tested({ ok: false, code: "unreachable", message, api_version: null, server_version: null, rtt_ms: null, containers: null })];
    $("add-host")!.click();
    flushSync();
    fill("host-name", "lab");
    fill("host-url", "tcp://127.0.0.1:9");
    try {
      i18n.setLocale("zh-CN");
      $("host-test")!.click();
      await settle();
      expect($("host-test-result")!.dataset.ok).toBe("false");
      expect($("host-test-result")!.dataset.code).toBe("unreachable");
      expect($("host-test-message-text")!.textContent).toBe("无法连接到主机 lab（tcp://127.0.0.1:9）。");
      expect($("host-test-message-detail")!.textContent).toBe(message);
      i18n.setLocale("en");
      flushSync();
      expect($("host-test-message-text")!.textContent).toBe("Cannot reach host lab (tcp://127.0.0.1:9).");
    } finally {
      i18n.setLocale("en");
      flushSync();
    }
  });

  it("shows the core's words for a failed test whose code needs fields the result lacks", async () => {
    const message = 'SSH authentication as "deploy" on host "edge-3" failed (tried publickey)';
    backend.testResults = [tested({ ok: false, code: "auth_failed", message })];
    $("add-host")!.click();
    flushSync();
    fill("host-name", "edge-3");
    fill("host-url", "ssh://deploy@edge-3");
    $("host-test")!.click();
    await settle();
    expect($("host-test-message-text")!.textContent).toBe(message);
    expect($("host-test-message-detail")).toBeNull();
  });

  it("asks before removing a host", async () => {
    all("host-row")[1].querySelector<HTMLElement>("[data-testid='remove-host']")!.click();
    flushSync();
    $("confirm-no")!.click();
    flushSync();
    expect(backend.calls).not.toContain("removeHost");
    all("host-row")[1].querySelector<HTMLElement>("[data-testid='remove-host']")!.click();
    flushSync();
    $("confirm-yes")!.click();
    await settle();
    expect(backend.calls).toContain("removeHost");
    expect(all("host-row").map((row) => row.dataset.host)).toEqual(["local", "edge-9"]);
  });
});
