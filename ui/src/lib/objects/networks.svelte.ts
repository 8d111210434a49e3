// The networks tab: every host's networks from the mirror, per host or one row per name across
// hosts, with the containers attached and their addresses; remove (not an IP pool's network,
// not Docker's own) and prune per host.
import type { Backend, NetworkRow, Pruned } from "$lib/ipc";
import type { Fleet } from "$lib/fleet/fleet.svelte";
import type { HostRowsOptions } from "./host-rows.svelte";
import { ObjectList } from "./object-list.svelte";
import { networkLocked, networkMatches, networksAcross, type NetworkAcross } from "./across";

export class NetworkList extends ObjectList<NetworkRow, NetworkAcross> {
  readonly #backend: Backend;

  constructor(backend: Backend, fleet: Fleet, options: HostRowsOptions = {}) {
    super(fleet, { read: (host) => backend.networks(host), group: networksAcross, matches: networkMatches }, options);
    this.#backend = backend;
  }

  /** Rejects with `in_use` while containers are attached (a network has no forced removal). */
  async remove(row: NetworkRow): Promise<void> {
    if (networkLocked(row) !== null) throw new Error(`network ${row.name} is not removed from this view`);
    await this.#backend.networkRemove(row.host, row.name);
  }

  /** Removes the host's networks no container uses (never an IP pool's or Docker's own). */
  prune(host: string): Promise<Pruned> {
    return this.#backend.networkPrune(host);
  }
}
