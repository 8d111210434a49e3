// Container actions in flight. An action is shown as pending ("Stopping…") from the click until
// the row's state changes through the event stream: the command's own return says nothing
// about the result. A command that fails clears it and leaves its error (the IpcError itself, so
// the view words it in the current language).
import { SvelteMap } from "svelte/reactivity";
import { toIpcError, type Backend, type ContainerAction, type ContainerRow, type IpcError } from "$lib/ipc";
import { rowKey } from "$lib/fleet/patch";
import { stateSignature } from "./actions";

/** After this long without a change the action stops looking pending (the row says the rest). */
export const PENDING_TIMEOUT_MS = 60_000;

export interface PendingAction {
  action: ContainerAction;
  /** The row's state signature when the action was sent. */
  signature: string;
  sentAt: number;
}

export class ContainerActions {
  readonly #backend: Backend;
  readonly #pending = new SvelteMap<string, PendingAction>();
  readonly #errors = new SvelteMap<string, IpcError>();

  constructor(backend: Backend) {
    this.#backend = backend;
  }

  /** The action still waiting for its effect on `row`, if any. */
  pendingFor(row: ContainerRow, nowMs: number): PendingAction | null {
    const pending = this.#pending.get(rowKey(row));
    if (!pending) return null;
    if (pending.signature !== stateSignature(row) || nowMs - pending.sentAt > PENDING_TIMEOUT_MS) return null;
    return pending;
  }

  /** The last failure of an action on this container. */
  errorFor(key: string): IpcError | null {
    return this.#errors.get(key) ?? null;
  }

  clearError(key: string): void {
    this.#errors.delete(key);
  }

  /** Sends `action`; rejects with the IpcError (also kept for errorFor) when the command fails. */
  async run(row: ContainerRow, action: ContainerAction, nowMs = Date.now()): Promise<void> {
    const key = rowKey(row);
    this.#errors.delete(key);
    this.#pending.set(key, { action, signature: stateSignature(row), sentAt: nowMs });
    try {
      await this.#backend.containerAction(row.host, row.id, action);
    } catch (rejection) {
      const error = toIpcError(rejection);
      if (this.#pending.get(key)?.action === action) this.#pending.delete(key);
      this.#errors.set(key, error);
      throw error;
    }
  }
}
