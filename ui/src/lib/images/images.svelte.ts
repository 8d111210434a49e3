// The images view's state: every host's images from the mirror, per host or one row per image ID
// across hosts (with the fleet's hosts that lack it), and what can be done to them: pull, push
// to other hosts, build, remove, prune. Pulls, pushes and builds run in the backend: their ids
// go to `Transfers`, which shows them.
import type { Backend, ImageAcross, ImageRow, Pruned } from "$lib/ipc";
import type { Fleet } from "$lib/fleet/fleet.svelte";
import type { HostRowsOptions } from "$lib/objects/host-rows.svelte";
import { ObjectList } from "$lib/objects/object-list.svelte";
import { groupAcross, imageMatches, imageReference } from "./across";
import type { Transfers } from "./transfers.svelte";

export class ImageList extends ObjectList<ImageRow, ImageAcross> {
  readonly #backend: Backend;
  readonly #transfers: Transfers;

  constructor(backend: Backend, fleet: Fleet, transfers: Transfers, options: HostRowsOptions = {}) {
    super(fleet, { read: (host) => backend.images(host), group: groupAcross, matches: imageMatches }, options);
    this.#backend = backend;
    this.#transfers = transfers;
  }

  /** The hosts that hold this image ID, in the fleet's order. */
  holders(id: string): string[] {
    const hosts = new Set(this.source.rows.filter((row) => row.id === id).map((row) => row.host));
    return this.fleet.hosts.map((host) => host.name).filter((name) => hosts.has(name));
  }

  /** Starts pulling `reference` on `host`; the transfer shows in the panel. */
  async pull(host: string, reference: string): Promise<number> {
    const id = await this.#backend.imagePull(host, reference.trim());
    void this.#transfers.expect([id]);
    return id;
  }

  /** Starts pushing an image (by its first tag, else its id) from `source` to each target. */
  async push(source: string, image: Pick<ImageRow, "id" | "tags">, targets: readonly string[]): Promise<number[]> {
    const ids = await this.#backend.imagePush(source, imageReference(image), [...targets]);
    void this.#transfers.expect(ids);
    return ids;
  }

  /** Starts building the folder `dir` of this computer on `host`, tagged `tag`. */
  async build(host: string, tag: string, dir: string): Promise<number> {
    const id = await this.#backend.imageBuild(host, tag.trim(), dir.trim());
    void this.#transfers.expect([id]);
    return id;
  }

  /** Removes the image (by id: every tag of it) from its host; rejects with `in_use` unless `force`. */
  async remove(row: ImageRow, force: boolean): Promise<void> {
    await this.#backend.imageRemove(row.host, row.id, force);
  }

  /** Removes the host's dangling images (`all`: every image no container uses). */
  prune(host: string, all: boolean): Promise<Pruned> {
    return this.#backend.imagePrune(host, all);
  }
}
