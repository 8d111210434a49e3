// The volumes tab: every host's volumes from the mirror, per host or one row per name across
// hosts, with the containers that use them; remove (forced past its users when asked) and prune
// per host.
import type { Backend, Pruned, VolumeRow } from "$lib/ipc";
import type { Fleet } from "$lib/fleet/fleet.svelte";
import type { HostRowsOptions } from "./host-rows.svelte";
import { ObjectList } from "./object-list.svelte";
import { volumeMatches, volumesAcross, type VolumeAcross } from "./across";

export class VolumeList extends ObjectList<VolumeRow, VolumeAcross> {
  readonly #backend: Backend;

  constructor(backend: Backend, fleet: Fleet, options: HostRowsOptions = {}) {
    super(fleet, { read: (host) => backend.volumes(host), group: volumesAcross, matches: volumeMatches }, options);
    this.#backend = backend;
  }

  /** Rejects with `in_use` while containers use it, unless `force`. */
  async remove(row: VolumeRow, force: boolean): Promise<void> {
    await this.#backend.volumeRemove(row.host, row.name, force);
  }

  /** Removes the host's volumes no container uses. */
  prune(host: string): Promise<Pruned> {
    return this.#backend.volumePrune(host);
  }
}
