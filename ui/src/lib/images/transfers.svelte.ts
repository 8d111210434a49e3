// The pulls, pushes and builds of the backend, newest first. They run in the backend, so a view
// that closes or a page that reloads loses nothing: `start` listens to `transfers://update`
// first, then reads `transfers()`; updates heard before that answer are applied on top of it
// (each update is a transfer's whole state, and at least as new as the answer).
import { toIpcError, type Backend, type IpcError, type Transfer } from "$lib/ipc";
import { rememberSizes, transferView, type TransferView } from "./progress";

/** Ended transfers kept beyond the running ones (the backend keeps 50). */
export const TRANSFERS_KEPT = 100;

export class Transfers {
  /** Newest first (by id: the backend numbers them as they start). */
  list = $state.raw<readonly Transfer[]>([]);
  loaded = $state(false);
  /** Why the list could not be read. */
  error = $state.raw<IpcError | null>(null);
  /** Transfers being cancelled, and why a cancel failed, by id. */
  cancelling = $state.raw<ReadonlySet<number>>(new Set());
  cancelErrors = $state.raw<ReadonlyMap<number, IpcError>>(new Map());

  /** Each transfer with its bars. */
  readonly views: readonly TransferView[];
  readonly running: number;

  readonly #backend: Backend;
  /** Layer sizes seen per transfer: Docker stops sending a layer's total once it is downloaded. */
  readonly #sizes = new Map<number, Map<string, number>>();
  #early: Transfer[] | null = null;
  #stopListening: Promise<() => void> | null = null;

  constructor(backend: Backend) {
    this.#backend = backend;
    this.views = $derived(this.list.map((transfer) => transferView(transfer, (layer) => this.#sizes.get(transfer.id)?.get(layer))));
    this.running = $derived(this.list.filter((transfer) => transfer.state === "running").length);
  }

  /** Listens, then reads the list; returns the stop (a view's unmount). */
  start(): () => void {
    this.stop();
    this.#early = [];
    const listening = this.#backend.onTransfer((transfer) => this.#heard(transfer));
    this.#stopListening = listening;
    void listening.then(
      () => this.refresh(),
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

  /** Reads every transfer the backend holds, keeping updates heard meanwhile. */
  async refresh(): Promise<void> {
    this.#early ??= [];
    try {
      const transfers = await this.#backend.transfers();
      const heard = this.#early ?? [];
      this.#early = null;
      this.list = [];
      for (const transfer of [...transfers, ...heard]) this.apply(transfer);
      this.error = null;
    } catch (rejection) {
      this.#flushEarly();
      this.error = toIpcError(rejection);
    } finally {
      this.loaded = true;
    }
  }

  /** Transfers just started (their ids): read the list unless their updates are already here. */
  async expect(ids: readonly number[]): Promise<void> {
    if (ids.every((id) => this.list.some((transfer) => transfer.id === id))) return;
    await this.refresh();
  }

  /** A transfer's new state: replaces the one of its id, or joins the list. */
  apply(transfer: Transfer): void {
    let sizes = this.#sizes.get(transfer.id);
    if (!sizes) {
      sizes = new Map();
      this.#sizes.set(transfer.id, sizes);
    }
    rememberSizes(transfer.layers, sizes);
    const others = this.list.filter((known) => known.id !== transfer.id);
    const next = [...others, transfer].sort((a, b) => b.id - a.id);
    this.list = this.#bounded(next);
  }

  async cancel(id: number): Promise<void> {
    if (this.cancelling.has(id)) return;
    this.cancelling = new Set([...this.cancelling, id]);
    const errors = new Map(this.cancelErrors);
    errors.delete(id);
    this.cancelErrors = errors;
    try {
      await this.#backend.transferCancel(id);
    } catch (rejection) {
      this.cancelErrors = new Map([...this.cancelErrors, [id, toIpcError(rejection)]]);
    } finally {
      const next = new Set(this.cancelling);
      next.delete(id);
      this.cancelling = next;
    }
  }

  #heard(transfer: Transfer): void {
    if (this.#early !== null) this.#early.push(transfer);
    else this.apply(transfer);
  }

  #flushEarly(): void {
    const heard = this.#early ?? [];
    this.#early = null;
    for (const transfer of heard) this.apply(transfer);
  }

  /** Every running transfer, and the newest ended ones up to TRANSFERS_KEPT in all. */
  #bounded(list: Transfer[]): Transfer[] {
    if (list.length <= TRANSFERS_KEPT) return list;
    let room = TRANSFERS_KEPT - list.filter((transfer) => transfer.state === "running").length;
    const kept = list.filter((transfer) => transfer.state === "running" || room-- > 0);
    const ids = new Set(kept.map((transfer) => transfer.id));
    for (const id of [...this.#sizes.keys()]) if (!ids.has(id)) this.#sizes.delete(id);
    return kept;
  }
}
