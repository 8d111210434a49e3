// The UI's only door to the Rust side: nothing else under src/ imports @tauri-apps/api.
// The shapes below mirror src-tauri (HostSummary from berth-core, IpcError from src-tauri/src/error.rs);
// they are hand-written until bindings are generated from Rust.
import { invoke } from "@tauri-apps/api/core";

export type HostStatus = "online" | "offline" | "never";

/** berth_core::HostSummary: a host's config, live status and mirror size, joined. */
export interface HostSummary {
  name: string;
  url: string;
  status: HostStatus;
  /** RFC 3339 time of the last completed full snapshot; null when never synced. */
  last_sync: string | null;
  api_version: string | null;
  containers: number;
  labels: Record<string, string>;
  /** RFC 3339 time the daemon last answered. */
  last_seen: string | null;
  last_error: string | null;
}

/** The one error shape that crosses the IPC boundary: `{ code, message }`. */
export class IpcError extends Error {
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.name = "IpcError";
    this.code = code;
  }
}

/** Everything the UI asks of the backend. Tests can supply another implementation. */
export interface Backend {
  listHosts(): Promise<HostSummary[]>;
}

function hasErrorShape(value: unknown): value is { code: string; message: string } {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { code?: unknown }).code === "string" &&
    typeof (value as { message?: unknown }).message === "string"
  );
}

/** Turns whatever `invoke` rejected with into an IpcError. */
function toIpcError(rejection: unknown): IpcError {
  if (hasErrorShape(rejection)) {
    return new IpcError(rejection.code, rejection.message);
  }
  // Not from a command: no Tauri runtime (a plain browser), a missing command, a bad argument.
  const message = rejection instanceof Error ? rejection.message : String(rejection);
  return new IpcError("ipc", message);
}

async function call<T>(command: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(command, args);
  } catch (rejection) {
    throw toIpcError(rejection);
  }
}

export const tauriBackend: Backend = {
  listHosts: () => call<HostSummary[]>("list_hosts"),
};

export const backend: Backend = tauriBackend;
