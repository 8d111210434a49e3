import { describe, expect, it } from "vitest";
import { dictionaries, LOCALES, translator, type MessageKey } from "$lib/i18n";
import { IpcError, toIpcError } from "$lib/ipc";
import { ERROR_CODES, describeError, errorKey, plainError, testFailure } from "./errors";

/** Each code's fields as the core sends them (`Error::fields` in crates/core/src/error.rs). */
const FIELDS: Record<(typeof ERROR_CODES)[number], Record<string, string>> = {
  invalid_url: { url: "http://x", reason: "unsupported scheme" },
  invalid_input: { what: "label", reason: "an empty key" },
  host_exists: { name: "edge-1" },
  host_not_found: { name: "edge-9" },
  container_not_found: { query: "web" },
  ambiguous_container: { query: "ab12", candidates: "edge-1/web, edge-2/web" },
  pool_not_found: { name: "lan" },
  pool_exhausted: { pool: "lan", quarantined: "12" },
  address_unavailable: { pool: "lan", ip: "10.0.0.9", reason: "reserved (printer)" },
  not_a_berth_database: { path: "/home/me/notes.db", reason: "no berth_meta table" },
  schema_too_new: { path: "/home/me/.local/share/berth/berth.db", found: "9", supported: "5" },
  store: { context: "reading the audit log", reason: "database is locked" },
  unreachable: { host: "edge-2", url: "tcp://10.0.0.2:2375", reason: "connection refused" },
  permission_denied: { host: "local", path: "/var/run/docker.sock" },
  docker: { host: "edge-1", action: "kill container 3f2a", reason: "container is not running (HTTP 409)" },
  host_key_unknown: {
    host: "edge-3",
    address: "[edge-3]:22",
    kind: "ssh-ed25519",
    fingerprint: "SHA256:q3Jv0sT2r1cD0Zz9mN5bYk8VhW4eXp7LgA6uF1oIjKs",
    known_hosts: "/home/me/.ssh/known_hosts",
  },
  host_key_changed: {
    host: "edge-3",
    address: "[edge-3]:22",
    kind: "ssh-ed25519",
    fingerprint: "SHA256:q3Jv0sT2r1cD0Zz9mN5bYk8VhW4eXp7LgA6uF1oIjKs",
    known_hosts: "/home/me/.ssh/known_hosts",
  },
  auth_failed: { host: "edge-3", user: "deploy", tried: "publickey, password", reason: "no key accepted" },
  keyring_unavailable: { reason: "no Secret Service on the session bus" },
  image_not_found: { host: "edge-1", image: "nginx:1.27" },
  in_use: { host: "edge-1", kind: "image", name: "nginx:1.27", users: "web, worker" },
  pool_network: { host: "edge-1", network: "lan", pool: "lan" },
  cancelled: { what: "the pull of nginx:1.27 on edge-1" },
  plan_changed: { app: "web", env: "prod" },
  io: { context: "reading /etc/berth.toml", reason: "No such file or directory (os error 2)" },
  internal: {},
};

describe("describeError", () => {
  it("has an en and a zh-CN text for every code the core returns", () => {
    for (const code of ERROR_CODES) {
      const key = errorKey(code);
      expect([code, key]).toEqual([code, `errors.${code}`]);
      for (const locale of LOCALES) expect([locale, code, typeof dictionaries[locale][key as MessageKey]]).toEqual([locale, code, "string"]);
    }
  });

  it("fills every placeholder from the code's own fields, keeping names, paths and fingerprints as they are", () => {
    for (const locale of LOCALES) {
      const { t } = translator(locale);
      for (const code of ERROR_CODES) {
        const fields = FIELDS[code];
        const error = new IpcError(code, `the core's English for ${code}`, fields, fields.reason ?? null);
        const { text, detail } = describeError(error, t);
        expect([locale, code, text]).not.toEqual([locale, code, error.message]);
        expect([locale, code, /\{\w+\}/.test(text)]).toEqual([locale, code, false]);
        for (const name of ["host", "name", "path", "fingerprint", "known_hosts", "pool", "ip", "url"]) {
          if (fields[name] !== undefined) expect(text).toContain(fields[name]);
        }
        expect(detail).toBe(fields.reason ?? null);
      }
    }
  });

  it("words an unreachable host in each language, the daemon's words beneath", () => {
    const error = new IpcError("unreachable", 'host "edge-2" (tcp://10.0.0.2:2375) is unreachable: connection refused', FIELDS.unreachable, "connection refused");
    expect(describeError(error, translator("en").t)).toEqual({ text: "Cannot reach host edge-2 (tcp://10.0.0.2:2375).", detail: "connection refused" });
    expect(describeError(error, translator("zh-CN").t)).toEqual({ text: "无法连接到主机 edge-2（tcp://10.0.0.2:2375）。", detail: "connection refused" });
  });

  it.each([
    ["image", "en", "Image nginx:1.27 on host edge-1 is used by containers web, worker."],
    ["network", "en", "Network nginx:1.27 on host edge-1 still has containers attached: web, worker."],
    ["volume", "zh-CN", "主机 edge-1 上的卷 nginx:1.27 正被容器 web, worker 使用。"],
    ["app", "en", "app nginx:1.27 on host edge-1 is in use by web, worker."],
  ] as const)("words in_use by its kind (%s), the generic text for a kind it has none for", (kind, locale, text) => {
    const error = new IpcError("in_use", "in use", { ...FIELDS.in_use, kind });
    expect(describeError(error, translator(locale).t).text).toBe(text);
  });

  it("words an internal error with the core's message in it", () => {
    const error = new IpcError("internal", "the task that reads the store panicked");
    expect(describeError(error, translator("en").t).text).toBe("Berth ran into an internal error: the task that reads the store panicked");
  });

  it.each([
    ["an unknown code", new IpcError("brand_new", "something new went wrong: the daemon said no", {}, "the daemon said no")],
    ["a code without its fields (an older backend)", new IpcError("unreachable", "host edge-2 is unreachable: the daemon said no", {}, "the daemon said no")],
    ["a plain object", { code: "ipc", message: "command audit not found: the daemon said no", detail: "the daemon said no" }],
  ])("falls back to the message for %s, without saying the detail twice", (_, error) => {
    expect(describeError(error, translator("zh-CN").t)).toEqual({ text: error.message, detail: null });
  });

  it("keeps a detail the fallback message does not hold", () => {
    expect(describeError({ code: "brand_new", message: "it failed", detail: "EACCES" }, translator("en").t)).toEqual({ text: "it failed", detail: "EACCES" });
    expect(describeError(plainError("the SSH link dropped"), translator("en").t)).toEqual({ text: "the SSH link dropped", detail: null });
  });

  it("words a failed connection test from the tested spec's name and URL", () => {
    const message = 'host "lab" (tcp://127.0.0.1:9) is unreachable: connection refused';
    const spec = { name: "lab", url: "tcp://127.0.0.1:9" };
    expect(testFailure({ ok: true, code: null, message: "Docker 27 answered" }, spec)).toBeNull();
    const failure = testFailure({ ok: false, code: "unreachable", message }, spec)!;
    expect(describeError(failure, translator("zh-CN").t)).toEqual({ text: "无法连接到主机 lab（tcp://127.0.0.1:9）。", detail: message });
    const auth = testFailure({ ok: false, code: "auth_failed", message: "SSH authentication failed" }, spec)!;
    expect(describeError(auth, translator("zh-CN").t)).toEqual({ text: "SSH authentication failed", detail: null });
  });

  it("words every code of a failed connection test from the result's own fields", () => {
    const spec = { name: "lab", url: "ssh://ops@lab" };
    const fields = { host: "lab", user: "ops", tried: "key ~/.ssh/id_ed25519", reason: "Username/PublicKey combination invalid" };
    const auth = testFailure({ ok: false, code: "auth_failed", message: 'SSH authentication as "ops" failed', fields, detail: fields.reason }, spec)!;
    const worded = describeError(auth, translator("zh-CN").t);
    expect(worded.text).toBe("以用户 ops 登录主机 lab 的 SSH 认证失败（已尝试：key ~/.ssh/id_ed25519）。");
    expect(worded.detail).toBe(fields.reason);
  });
});

describe("toIpcError", () => {
  it("reads code, message, fields and detail from a command's rejection", () => {
    const error = toIpcError({ code: "docker", message: "refused", fields: { host: "edge-1", action: "stop", reason: "no", count: 3 }, detail: "no" });
    expect(error).toBeInstanceOf(IpcError);
    expect([error.code, error.message, error.fields, error.detail]).toEqual(["docker", "refused", { host: "edge-1", action: "stop", reason: "no" }, "no"]);
  });

  it("tolerates a rejection without fields or detail", () => {
    const error = toIpcError({ code: "store", message: "database is locked" });
    expect([error.fields, error.detail]).toEqual([{}, null]);
    expect(toIpcError({ code: "io", message: "x", fields: null, detail: "" }).detail).toBeNull();
  });

  it("passes an IpcError through and wraps anything else", () => {
    const error = new IpcError("docker", "refused");
    expect(toIpcError(error)).toBe(error);
    expect(toIpcError(new Error("no Tauri here"))).toMatchObject({ code: "ipc", message: "no Tauri here", fields: {}, detail: null });
    expect(toIpcError("oops")).toMatchObject({ code: "ipc", message: "oops" });
  });
});
