// Which colour a status is drawn in. Colour is never the only signal: the text is always shown.
import type { ContainerRow, LinkState } from "$lib/ipc";

export type Tone = "ok" | "info" | "warn" | "danger" | "muted";

export function linkTone(status: LinkState): Tone {
  switch (status) {
    case "online":
      return "ok";
    case "connecting":
      return "info";
    case "offline":
      return "danger";
    case "never":
      return "muted";
  }
}

export function containerTone(row: Pick<ContainerRow, "state" | "exit_code" | "health">): Tone {
  if (row.health === "unhealthy") return "danger";
  switch (row.state) {
    case "running":
      return "ok";
    case "restarting":
      return "info";
    case "paused":
      return "warn";
    case "dead":
      return "danger";
    case "exited":
      return row.exit_code !== null && row.exit_code !== 0 ? "danger" : "muted";
    default:
      return "muted";
  }
}

/** An audit line's outcome: done, refused, or asked with no answer recorded. */
export function outcomeTone(outcome: "ok" | "failed" | "unknown"): Tone {
  switch (outcome) {
    case "ok":
      return "ok";
    case "failed":
      return "danger";
    case "unknown":
      return "warn";
  }
}
