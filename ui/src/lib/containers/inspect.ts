// The parts of `docker inspect` the detail panel shows, read defensively from the daemon's JSON
// text (fields differ across API versions; anything missing reads as empty).

export interface MountView {
  type: string;
  source: string;
  destination: string;
  readWrite: boolean;
}

export interface NetworkView {
  name: string;
  ipAddress: string;
  gateway: string;
  macAddress: string;
}

export interface InspectView {
  state: string;
  exitCode: number | null;
  error: string;
  oomKilled: boolean;
  health: string | null;
  image: string;
  imageId: string;
  /** Path + Args: what the container actually runs. */
  command: string[];
  cmd: string[] | null;
  entrypoint: string[] | null;
  env: string[];
  mounts: MountView[];
  networks: NetworkView[];
  labels: [string, string][];
  restartCount: number;
  restartPolicy: string;
  created: string | null;
  started: string | null;
  finished: string | null;
  /** The whole document, indented. */
  pretty: string;
}

export type InspectResult = { ok: true; view: InspectView } | { ok: false; error: string; raw: string };

type Json = Record<string, unknown>;

function object(value: unknown): Json {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Json) : {};
}

function text(value: unknown): string {
  return typeof value === "string" ? value : "";
}

function number(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

function strings(value: unknown): string[] | null {
  if (typeof value === "string") return [value];
  if (!Array.isArray(value)) return null;
  return value.filter((item): item is string => typeof item === "string");
}

/** Docker's zero time (0001-01-01T00:00:00Z) means "never". */
function time(value: unknown): string | null {
  const raw = text(value);
  return raw === "" || raw.startsWith("0001-01-01") ? null : raw;
}

export function readInspect(raw: string): InspectResult {
  let document: unknown;
  try {
    document = JSON.parse(raw);
  } catch (error) {
    return { ok: false, error: error instanceof Error ? error.message : String(error), raw };
  }
  const root = object(document);
  const state = object(root.State);
  const config = object(root.Config);
  const hostConfig = object(root.HostConfig);
  const networkSettings = object(root.NetworkSettings);
  const path = text(root.Path);
  const args = strings(root.Args) ?? [];

  const mounts = (Array.isArray(root.Mounts) ? root.Mounts : []).map((item): MountView => {
    const mount = object(item);
    return {
      type: text(mount.Type),
      source: text(mount.Source) || text(mount.Name),
      destination: text(mount.Destination),
      readWrite: mount.RW !== false,
    };
  });

  const networks = Object.entries(object(networkSettings.Networks)).map(([name, item]): NetworkView => {
    const network = object(item);
    return {
      name,
      ipAddress: text(network.IPAddress),
      gateway: text(network.Gateway),
      macAddress: text(network.MacAddress),
    };
  });

  const labels = Object.entries(object(config.Labels))
    .map(([key, value]): [string, string] => [key, text(value)])
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

  const health = object(state.Health);
  return {
    ok: true,
    view: {
      state: text(state.Status),
      exitCode: number(state.ExitCode),
      error: text(state.Error),
      oomKilled: state.OOMKilled === true,
      health: text(health.Status) || null,
      image: text(config.Image),
      imageId: text(root.Image),
      command: path === "" ? args : [path, ...args],
      cmd: strings(config.Cmd),
      entrypoint: strings(config.Entrypoint),
      env: strings(config.Env) ?? [],
      mounts,
      networks,
      labels,
      restartCount: number(root.RestartCount) ?? 0,
      restartPolicy: text(object(hostConfig.RestartPolicy).Name),
      created: time(root.Created),
      started: time(state.StartedAt),
      finished: time(state.FinishedAt),
      pretty: JSON.stringify(document, null, 2),
    },
  };
}

/** A command line as a shell would need it typed: words with spaces or quotes get quoted. */
export function shellJoin(words: readonly string[]): string {
  return words.map((word) => (word === "" || /[\s"'\\$`]/.test(word) ? `'${word.replace(/'/g, `'\\''`)}'` : word)).join(" ");
}
