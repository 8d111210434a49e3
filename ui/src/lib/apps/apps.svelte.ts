// The Apps view's state: every app environment and compose project (`apps()`), and for the
// selected environment its plan, status, revisions and history, and the rollouts started from
// here (deploy, scale, rollback) with each replica's latest step heard on `apps://progress`.
// An environment keeps its state while another is selected, so a rollout under way is still
// shown when the user comes back. After every rollout the environment and the list are re-read.
import { toIpcError, type AppPlan, type AppRow, type AppStatus, type Backend, type HistoryEntry, type IpcError, type ReplicaProgress, type RevisionRow, type RolloutOutcome, type RolloutProgress } from "$lib/ipc";
import { withStep } from "./words";

/** What an environment is doing now. */
export type AppAction = "deploy" | "scale" | "rollback" | "remove";

function key(name: string, env: string): string {
  return `${name}\u0000${env}`;
}

/** One environment of one app: what it would do, what it runs, and what it did. */
export class AppEnvironment {
  readonly name: string;
  readonly env: string;
  plan = $state.raw<AppPlan | null>(null);
  status = $state.raw<AppStatus | null>(null);
  revisions = $state.raw<readonly RevisionRow[]>([]);
  history = $state.raw<readonly HistoryEntry[]>([]);
  loaded = $state(false);
  /** Why a read failed (the first failure of the last refresh). */
  error = $state.raw<IpcError | null>(null);
  /** A deploy was refused because the plan shown was stale: the new one is shown now. */
  planChanged = $state(false);
  busy = $state<AppAction | null>(null);
  /** Each replica's latest step of the running (or last) rollout, by replica. */
  progress = $state.raw<ReadonlyMap<number, ReplicaProgress>>(new Map());
  /** How the last rollout ended. */
  outcome = $state.raw<RolloutOutcome | null>(null);
  /** Why the last action was refused before anything ran. */
  actionError = $state.raw<IpcError | null>(null);
  /** The replica count typed into the scale box (NaN: not a number yet); null: the environment's own. */
  scaleTo = $state<number | null>(null);

  /** The revision the environment is meant to run; null until deployed. */
  readonly deployed: number | null = $derived(this.status?.revision ?? null);
  readonly steps: readonly ReplicaProgress[] = $derived([...this.progress.values()]);

  readonly #backend: Backend;
  readonly #changed: () => void;

  constructor(backend: Backend, name: string, env: string, changed: () => void = () => {}) {
    this.#backend = backend;
    this.name = name;
    this.env = env;
    this.#changed = changed;
  }

  /** Re-reads the plan, status, revisions and history (each shown as soon as it is read). */
  async refresh(): Promise<void> {
    const { name, env } = this;
    const reads: Promise<unknown>[] = [
      this.#backend.appPlan(name, env).then((plan) => (this.plan = plan)),
      this.#backend.appStatus(name, env).then((status) => (this.status = status)),
      this.#backend.appRevisions(name).then((revisions) => (this.revisions = revisions)),
      this.#backend.appHistory(name).then((history) => (this.history = history)),
    ];
    const results = await Promise.allSettled(reads);
    const failed = results.find((result) => result.status === "rejected");
    this.error = failed ? toIpcError(failed.reason) : null;
    this.loaded = true;
  }

  /** A step of one of this environment's replicas. */
  heard(progress: ReplicaProgress): void {
    this.progress = withStep(this.progress, progress);
  }

  /** Deploys exactly the plan shown; when it has changed meanwhile, shows the new one instead. */
  async deploy(): Promise<void> {
    const shown = this.plan;
    if (!shown) return;
    await this.#rollout("deploy", () => this.#backend.appDeploy(this.name, this.env, shown.placements));
  }

  async scale(replicas: number): Promise<void> {
    if (!Number.isInteger(replicas) || replicas < 0) return;
    await this.#rollout("scale", () => this.#backend.appScale(this.name, this.env, replicas));
    if (this.outcome?.ok) this.scaleTo = null;
  }

  /** Back to revision `to` (null: the previous one). */
  async rollback(to: number | null): Promise<void> {
    await this.#rollout("rollback", () => this.#backend.appRollback(this.name, this.env, to));
  }

  /** Removes the environment's containers; rejects (for the confirm dialog to show) when refused. */
  async remove(): Promise<void> {
    if (this.busy) return;
    this.busy = "remove";
    this.actionError = null;
    try {
      await this.#backend.appRemove(this.name, this.env);
      this.outcome = null;
      this.progress = new Map();
    } finally {
      this.busy = null;
    }
    await this.#afterChange();
  }

  async #rollout(action: AppAction, run: () => Promise<RolloutOutcome>): Promise<void> {
    if (this.busy) return;
    this.busy = action;
    this.actionError = null;
    this.planChanged = false;
    this.outcome = null;
    this.progress = new Map();
    let stale = false;
    try {
      this.outcome = await run();
    } catch (rejection) {
      const error = toIpcError(rejection);
      if (error.code === "plan_changed") stale = true;
      else this.actionError = error;
    }
    try {
      if (stale) {
        // Nothing ran: show the plan as it stands now, for the user to look at and deploy again.
        this.planChanged = true;
        await this.#replan();
      } else {
        await this.#afterChange();
      }
    } finally {
      this.busy = null;
    }
  }

  async #replan(): Promise<void> {
    try {
      this.plan = await this.#backend.appPlan(this.name, this.env);
    } catch (rejection) {
      this.error = toIpcError(rejection);
    }
  }

  async #afterChange(): Promise<void> {
    this.#changed();
    await this.refresh();
  }
}

export class AppList {
  /** Every app environment, then the compose projects, as `apps()` answered. */
  rows = $state.raw<readonly AppRow[]>([]);
  loaded = $state(false);
  loading = $state(false);
  error = $state.raw<IpcError | null>(null);
  selected = $state.raw<AppEnvironment | null>(null);

  readonly apps: readonly AppRow[] = $derived(this.rows.filter((row) => row.kind !== "compose"));
  readonly compose: readonly AppRow[] = $derived(this.rows.filter((row) => row.kind === "compose"));

  readonly #backend: Backend;
  readonly #environments = new Map<string, AppEnvironment>();
  #stopListening: Promise<() => void> | null = null;

  constructor(backend: Backend) {
    this.#backend = backend;
  }

  /** Listens to rollout steps, then reads the list (and the selected environment); returns the stop. */
  start(): () => void {
    this.stop();
    const listening = this.#backend.onAppProgress((progress) => this.#heard(progress));
    this.#stopListening = listening;
    void listening.then(
      () => Promise.all([this.load(), this.selected?.refresh()]),
      (rejection: unknown) => {
        this.error = toIpcError(rejection);
        this.loaded = true;
      },
    );
    return () => this.stop();
  }

  stop(): void {
    void this.#stopListening?.then((unlisten) => unlisten(), () => undefined);
    this.#stopListening = null;
  }

  async load(): Promise<void> {
    this.loading = true;
    try {
      this.rows = await this.#backend.apps();
      this.error = null;
    } catch (rejection) {
      this.error = toIpcError(rejection);
    } finally {
      this.loading = false;
      this.loaded = true;
    }
  }

  /** Shows an environment (the same one as before if it was shown already) and re-reads it. */
  select(name: string, env: string): AppEnvironment {
    const environment = this.#environment(name, env);
    this.selected = environment;
    void environment.refresh();
    return environment;
  }

  isSelected(row: Pick<AppRow, "name" | "env">): boolean {
    return this.selected?.name === row.name && this.selected.env === row.env;
  }

  #environment(name: string, env: string): AppEnvironment {
    let environment = this.#environments.get(key(name, env));
    if (!environment) {
      environment = new AppEnvironment(this.#backend, name, env, () => void this.load());
      this.#environments.set(key(name, env), environment);
    }
    return environment;
  }

  #heard({ app, env, progress }: RolloutProgress): void {
    this.#environments.get(key(app, env))?.heard(progress);
  }
}
