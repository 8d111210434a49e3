// What components get from above instead of importing: the backend (tests pass a fake) and the
// app's controllers. App.svelte provides them; `appContext` builds the same for `mount()`.
import { getContext, setContext } from "svelte";
import type { Backend, ContainerRow } from "$lib/ipc";
import type { Fleet } from "$lib/fleet/fleet.svelte";
import type { ContainerActions } from "$lib/containers/pending.svelte";

export interface AppContext {
  backend: Backend;
  fleet: Fleet;
  actions: ContainerActions;
  /** Opens a web shell into a container and shows it (absent where there is no shell view). */
  openShell?: (row: ContainerRow) => void;
  /** Shows a container's log (absent where there is no logs view). */
  openLogs?: (row: ContainerRow) => void;
}

const APP = Symbol("berth.app");

export function provideApp(context: AppContext): void {
  setContext(APP, context);
}

export function useApp(): AppContext {
  const context = getContext<AppContext | undefined>(APP);
  if (!context) throw new Error("no app context: mount under App.svelte or pass appContext(...) to mount()");
  return context;
}

/** The context map `mount(Component, { context })` takes, for tests. */
export function appContext(context: AppContext): Map<symbol, AppContext> {
  return new Map([[APP, context]]);
}
