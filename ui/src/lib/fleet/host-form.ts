// The add/edit host form: what the user types, turned into a HostSpec (and back). The backend
// does the strict URL parsing; here only what the form itself can know is checked.
import type { HostKind, HostSpec, HostSummary, StringMap } from "$lib/ipc";
import type { MessageKey } from "$lib/i18n";

export interface HostForm {
  name: string;
  url: string;
  tlsCa: string;
  tlsCert: string;
  tlsKey: string;
  sshIdentity: string;
  sshKnownHosts: string;
  sshProxyJump: string;
  /** Offer the password kept in the keyring (set with `berth host password NAME`). */
  sshPassword: boolean;
  /** "k=v, k2=v2" */
  labels: string;
}

export interface FormProblem {
  key: MessageKey;
  params?: Record<string, string>;
}

export function emptyForm(): HostForm {
  return { name: "", url: "", tlsCa: "", tlsCert: "", tlsKey: "", sshIdentity: "", sshKnownHosts: "", sshProxyJump: "", sshPassword: false, labels: "" };
}

export function formFromHost(host: HostSummary): HostForm {
  return {
    name: host.name,
    url: host.url,
    tlsCa: host.tls?.ca ?? "",
    tlsCert: host.tls?.cert ?? "",
    tlsKey: host.tls?.key ?? "",
    sshIdentity: host.ssh?.identity ?? "",
    sshKnownHosts: host.ssh?.known_hosts ?? "",
    sshProxyJump: host.ssh?.proxy_jump ?? "",
    sshPassword: host.ssh?.password ?? false,
    labels: formatLabels(host.labels),
  };
}

/** The URL scheme a kind is reached with; tcp and tls share tcp://. */
export type UrlScheme = "unix" | "npipe" | "tcp" | "ssh";

export const SCHEMES: readonly UrlScheme[] = ["unix", "npipe", "tcp", "ssh"];

export function schemeOf(url: string): UrlScheme | null {
  const match = /^([a-z]+):\/\//i.exec(url.trim());
  if (!match) return null;
  const scheme = match[1].toLowerCase();
  return (SCHEMES as readonly string[]).includes(scheme) ? (scheme as UrlScheme) : null;
}

function hasTls(form: HostForm): boolean {
  return form.tlsCa.trim() !== "" || form.tlsCert.trim() !== "" || form.tlsKey.trim() !== "";
}

/** The kind the form describes: tcp with TLS files is tls. */
export function kindOfForm(form: HostForm): HostKind | null {
  const scheme = schemeOf(form.url);
  if (scheme === "tcp" && hasTls(form)) return "tls";
  return scheme;
}

/** A URL to start from when the user picks a kind; the rest of an existing URL is kept if it fits. */
export function urlForScheme(current: string, scheme: UrlScheme): string {
  if (schemeOf(current) === scheme) return current;
  switch (scheme) {
    case "unix":
      return "unix:///var/run/docker.sock";
    case "npipe":
      return "npipe:////./pipe/docker_engine";
    case "tcp":
      return "tcp://";
    case "ssh":
      return "ssh://";
  }
}

/** "k=v, k2=v2" → map; a pair without "=" or with an empty key is a problem. */
export function parseLabels(text: string): { labels: StringMap } | { problem: FormProblem } {
  const labels: StringMap = {};
  for (const part of text.split(",")) {
    const pair = part.trim();
    if (pair === "") continue;
    const equals = pair.indexOf("=");
    const key = equals === -1 ? "" : pair.slice(0, equals).trim();
    if (key === "") return { problem: { key: "hostForm.problem.label", params: { pair } } };
    labels[key] = pair.slice(equals + 1).trim();
  }
  return { labels };
}

export function formatLabels(labels: StringMap): string {
  return Object.entries(labels)
    .map(([key, value]) => `${key}=${value ?? ""}`)
    .join(", ");
}

function optional(text: string): string | null {
  const trimmed = text.trim();
  return trimmed === "" ? null : trimmed;
}

/** The spec to send, or the first thing the user must fix. */
export function specFromForm(form: HostForm): { spec: HostSpec } | { problem: FormProblem } {
  const name = form.name.trim();
  const url = form.url.trim();
  if (name === "") return { problem: { key: "hostForm.problem.name" } };
  if (url === "") return { problem: { key: "hostForm.problem.url" } };
  const labels = parseLabels(form.labels);
  if ("problem" in labels) return labels;
  const scheme = schemeOf(url);

  let tls: HostSpec["tls"] = null;
  if (scheme === "tcp" && hasTls(form)) {
    const ca = form.tlsCa.trim();
    const cert = form.tlsCert.trim();
    const key = form.tlsKey.trim();
    if (ca === "" || cert === "" || key === "") return { problem: { key: "hostForm.problem.tls" } };
    tls = { ca, cert, key };
  }

  let ssh: HostSpec["ssh"] = null;
  if (scheme === "ssh") {
    const settings = {
      identity: optional(form.sshIdentity),
      known_hosts: optional(form.sshKnownHosts),
      password: form.sshPassword,
      proxy_jump: optional(form.sshProxyJump),
    };
    if (settings.identity !== null || settings.known_hosts !== null || settings.proxy_jump !== null || settings.password) ssh = settings;
  }

  return { spec: { name, url, tls, ssh, labels: labels.labels } };
}
