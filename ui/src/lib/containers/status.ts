// Docker's status words ("Up 3 minutes", "Exited (1) 2 hours ago"), recomputed from the row's
// times so they stay true while the app runs, in the chosen language.
import type { ContainerRow } from "$lib/ipc";
import type { Translator } from "$lib/i18n";
import { formatDuration, relativeAge } from "$lib/time";

export function statusText(row: ContainerRow, nowMs: number, { t, locale }: Translator): string {
  const health = row.health && row.health !== "none" ? row.health : null;
  switch (row.state) {
    case "running": {
      const up = t("status.up", { duration: formatDuration(nowMs - (row.started_ms ?? row.created_ms), locale) });
      return health ? t("status.withHealth", { status: up, health: t(healthKey(health)) }) : up;
    }
    case "paused":
      return t("status.paused", { duration: formatDuration(nowMs - (row.started_ms ?? row.created_ms), locale) });
    case "restarting":
      return t("status.restarting", { code: String(row.exit_code ?? 0), ago: relativeAge(row.finished_ms ?? nowMs, nowMs, locale) });
    case "exited":
      return row.finished_ms === null
        ? t("status.exitedCode", { code: String(row.exit_code ?? 0) })
        : t("status.exited", { code: String(row.exit_code ?? 0), ago: relativeAge(row.finished_ms, nowMs, locale) });
    case "created":
      return t("status.created");
    case "removing":
      return t("status.removing");
    case "dead":
      return t("status.dead");
    default:
      return row.status;
  }
}

export type HealthKey = "health.healthy" | "health.unhealthy" | "health.starting" | "health.unknown";

export function healthKey(health: string): HealthKey {
  switch (health) {
    case "healthy":
      return "health.healthy";
    case "unhealthy":
      return "health.unhealthy";
    case "starting":
      return "health.starting";
    default:
      return "health.unknown";
  }
}

/** Docker's own state words, translated; an unknown one is shown as it came. */
export function stateLabel(state: string, { t }: Translator): string {
  switch (state) {
    case "running":
      return t("state.running");
    case "paused":
      return t("state.paused");
    case "restarting":
      return t("state.restarting");
    case "created":
      return t("state.created");
    case "removing":
      return t("state.removing");
    case "exited":
      return t("state.exited");
    case "dead":
      return t("state.dead");
    default:
      return state;
  }
}

export const CONTAINER_STATES = ["running", "paused", "restarting", "created", "exited", "dead", "removing"] as const;
