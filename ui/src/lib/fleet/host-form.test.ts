import { describe, expect, it } from "vitest";
import { host } from "../../testing/fake-backend";
import { emptyForm, formFromHost, kindOfForm, parseLabels, specFromForm, urlForScheme, type HostForm } from "./host-form";

const form = (overrides: Partial<HostForm>): HostForm => ({ ...emptyForm(), name: "edge-2", ...overrides });

describe("specFromForm", () => {
  it("builds a unix spec without TLS or SSH settings", () => {
    expect(specFromForm(form({ url: " unix:///var/run/docker.sock ", labels: "env=prod, region = eu" }))).toEqual({
      spec: { name: "edge-2", url: "unix:///var/run/docker.sock", tls: null, ssh: null, labels: { env: "prod", region: "eu" } },
    });
  });

  it("builds a TLS spec when all three files are given", () => {
    const outcome = specFromForm(form({ url: "tcp://10.0.0.2:2376", tlsCa: "ca.pem", tlsCert: "cert.pem", tlsKey: "key.pem" }));
    expect(outcome).toEqual({
      spec: { name: "edge-2", url: "tcp://10.0.0.2:2376", tls: { ca: "ca.pem", cert: "cert.pem", key: "key.pem" }, ssh: null, labels: {} },
    });
  });

  it("refuses TLS with a file missing", () => {
    expect(specFromForm(form({ url: "tcp://10.0.0.2:2376", tlsCa: "ca.pem" }))).toEqual({ problem: { key: "hostForm.problem.tls" } });
  });

  it("ignores TLS fields for other kinds", () => {
    const outcome = specFromForm(form({ url: "ssh://deploy@edge-2", tlsCa: "ca.pem" }));
    expect("spec" in outcome && outcome.spec.tls).toBe(null);
  });

  it("builds SSH settings, empty ones as null", () => {
    const outcome = specFromForm(form({ url: "ssh://deploy@edge-2", sshIdentity: "~/.ssh/id_ed25519", sshProxyJump: "bastion" }));
    expect("spec" in outcome && outcome.spec.ssh).toEqual({ identity: "~/.ssh/id_ed25519", known_hosts: null, password: false, proxy_jump: "bastion" });
  });

  it("asks for the keyring's password when the box is ticked", () => {
    const outcome = specFromForm(form({ url: "ssh://deploy@edge-2", sshPassword: true }));
    expect("spec" in outcome && outcome.spec.ssh).toEqual({ identity: null, known_hosts: null, password: true, proxy_jump: null });
  });

  it("sends no SSH settings when none are given", () => {
    const outcome = specFromForm(form({ url: "ssh://deploy@edge-2" }));
    expect("spec" in outcome && outcome.spec.ssh).toBe(null);
  });

  it.each([
    [{ name: " " }, "hostForm.problem.name"],
    [{ url: "" }, "hostForm.problem.url"],
    [{ url: "unix:///x", labels: "novalue" }, "hostForm.problem.label"],
    [{ url: "unix:///x", labels: "=v" }, "hostForm.problem.label"],
  ] as const)("%j → %s", (overrides, key) => {
    const outcome = specFromForm(form(overrides));
    expect("problem" in outcome && outcome.problem.key).toBe(key);
  });
});

describe("parseLabels", () => {
  it.each([
    ["", {}],
    ["a=1", { a: "1" }],
    ["a=1, b=2,", { a: "1", b: "2" }],
    ["a=", { a: "" }],
    ["url=http://x?y=z", { url: "http://x?y=z" }],
  ])("%j", (text, labels) => {
    expect(parseLabels(text)).toEqual({ labels });
  });
});

describe("kinds and URLs", () => {
  it.each([
    [{ url: "unix:///var/run/docker.sock" }, "unix"],
    [{ url: "npipe:////./pipe/docker_engine" }, "npipe"],
    [{ url: "tcp://h:2375" }, "tcp"],
    [{ url: "tcp://h:2376", tlsCa: "ca.pem" }, "tls"],
    [{ url: "SSH://h" }, "ssh"],
    [{ url: "http://h" }, null],
    [{ url: "" }, null],
  ] as const)("%j is %s", (overrides, kind) => {
    expect(kindOfForm(form(overrides))).toBe(kind);
  });

  it("keeps a URL that already has the chosen scheme and starts others afresh", () => {
    expect(urlForScheme("ssh://deploy@edge-2", "ssh")).toBe("ssh://deploy@edge-2");
    expect(urlForScheme("ssh://deploy@edge-2", "tcp")).toBe("tcp://");
    expect(urlForScheme("", "unix")).toBe("unix:///var/run/docker.sock");
  });

  it("round-trips a host into the form", () => {
    const summary = host({
      id: 1,
      name: "edge-3",
      url: "ssh://root@edge-3",
      kind: "ssh",
      ssh: { identity: "/k", known_hosts: null, password: true, proxy_jump: "jump" },
      labels: { env: "prod" },
    });
    expect(specFromForm(formFromHost(summary))).toEqual({
      spec: {
        name: "edge-3",
        url: "ssh://root@edge-3",
        tls: null,
        ssh: { identity: "/k", known_hosts: null, password: true, proxy_jump: "jump" },
        labels: { env: "prod" },
      },
    });
  });
});
