// The Apps view's words for what the backend sends as data: why a host got no replica (from the
// plan's `details`, never its English `reasons`), a replica's drift, a rollout's steps, a history
// entry's action. A value the dictionaries do not know (a newer backend's) shows as it came. Pure.
import { en, type MessageKey } from "$lib/i18n/en";
import { formatNumber, type Locale } from "$lib/i18n";
import { formatBytes } from "$lib/bytes";
import type { Translate } from "$lib/errors";
import type { PlacementReason, ReplicaProgress, RolloutStep, StepState } from "$lib/ipc";

/** `prefix.value` if the dictionaries have it. */
function known(prefix: string, value: string): MessageKey | null {
  const key = `${prefix}.${value}`;
  return Object.hasOwn(en, key) ? (key as MessageKey) : null;
}

function cpus(value: number | null, locale: Locale): string {
  if (value === null) return "—";
  return new Intl.NumberFormat(locale, { maximumFractionDigits: 2 }).format(value);
}

/** One reason a host got no replica, in the UI's language. */
export function reasonText(reason: PlacementReason, t: Translate, locale: Locale): string {
  switch (reason.reason) {
    case "offline":
    case "no_pool":
    case "not_needed":
      return t(`apps.reason.${reason.reason}`);
    case "constraint":
      return t("apps.reason.constraint", { constraint: reason.constraint });
    case "no_free_address":
      return t("apps.reason.no_free_address", { pools: reason.pools.join(", ") });
    case "memory":
      return t("apps.reason.memory", {
        reserved: formatBytes(reason.reserved, locale),
        capacity: formatBytes(reason.capacity, locale),
        needed: formatBytes(reason.needed, locale),
      });
    case "cpus":
      return t("apps.reason.cpus", { reserved: cpus(reason.reserved, locale), capacity: cpus(reason.capacity, locale), needed: cpus(reason.needed, locale) });
    case "max_per_host":
      return t("apps.reason.max_per_host", { max: formatNumber(reason.max, locale) });
  }
}

/** How a replica differs from what its environment is meant to run; "" when it does not. */
export function driftText(drift: string | null, t: Translate): string {
  if (drift === null || drift === "") return "";
  const key = known("apps.drift", drift);
  return key ? t(key) : drift;
}

export function stepText(step: RolloutStep, t: Translate): string {
  const key = known("apps.step", step);
  return key ? t(key) : step;
}

export function stepStateText(state: StepState, t: Translate): string {
  const key = known("apps.stepState", state);
  return key ? t(key) : state;
}

/** A history entry's action (apply, deploy, rollback, scale, rm, rebuild). */
export function actionText(action: string, t: Translate): string {
  const key = known("apps.action", action);
  return key ? t(key) : action;
}

/** Each replica's latest step, by replica, with `progress` taking its replica's place. */
export function withStep(latest: ReadonlyMap<number, ReplicaProgress>, progress: ReplicaProgress): Map<number, ReplicaProgress> {
  const next = new Map(latest);
  next.set(progress.replica, progress);
  return new Map([...next].sort(([a], [b]) => a - b));
}
