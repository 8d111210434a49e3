// Which container actions make sense in which state, which ask first, and why actions can be
// unavailable altogether. Pure.
import type { ContainerAction, ContainerRow, HostSummary } from "$lib/ipc";
import type { MessageKey } from "$lib/i18n";

export const ACTIONS: readonly ContainerAction[] = ["start", "stop", "restart", "pause", "unpause", "kill", "remove"];

/** Destructive or disruptive: the user confirms them in a dialog. */
export type ConfirmedAction = Extract<ContainerAction, "stop" | "kill" | "remove">;

export function needsConfirmation(action: ContainerAction): action is ConfirmedAction {
  return action === "stop" || action === "kill" || action === "remove";
}

const ALLOWED: Readonly<Record<ContainerAction, ReadonlySet<string>>> = {
  start: new Set(["created", "exited"]),
  stop: new Set(["running", "restarting", "paused"]),
  restart: new Set(["running", "exited", "created", "paused"]),
  pause: new Set(["running"]),
  unpause: new Set(["paused"]),
  kill: new Set(["running", "restarting"]),
  // The backend stops a running container before removing it (after the user confirmed).
  remove: new Set(["created", "exited", "dead", "running", "paused", "restarting"]),
};

export function actionAllowed(action: ContainerAction, state: string): boolean {
  return ALLOWED[action].has(state);
}

/** Why no action can be sent to this container's host, or null when they can. */
export function actionsBlockedReason(host: HostSummary | undefined): { key: MessageKey; host: string } | null {
  if (!host) return { key: "actions.blocked.unknownHost", host: "" };
  switch (host.status) {
    case "online":
      return null;
    case "offline":
      return { key: "actions.blocked.offline", host: host.name };
    case "connecting":
      return { key: "actions.blocked.connecting", host: host.name };
    case "never":
      return { key: "actions.blocked.never", host: host.name };
  }
}

/** What changes when an action takes effect: the state or the start/finish times. */
export function stateSignature(row: ContainerRow): string {
  return `${row.state}|${row.started_ms ?? ""}|${row.finished_ms ?? ""}`;
}

export function actionKey(action: ContainerAction): `action.${ContainerAction}` {
  return `action.${action}`;
}

export function pendingKey(action: ContainerAction): `pending.${ContainerAction}` {
  return `pending.${action}`;
}
