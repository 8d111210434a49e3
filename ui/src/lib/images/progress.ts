// How far a transfer has come, pure. A pull: its layers' bytes, each layer counted whole once
// Docker has downloaded it; a layer's own bar follows Docker's current/total for the phase it is
// in (downloading, then extracting). A push: bytes put on the wire of those to send. A build:
// no measure until it ends. An ended transfer's bar is full when it is done, else where it was.
import type { LayerProgress, Transfer } from "$lib/ipc";

/** Docker's words for a layer that is on the host (whatever comes next). */
const LAYER_DONE = new Set(["pull complete", "already exists"]);
/** Docker's words for a layer downloaded, not yet (or being) extracted. */
const LAYER_DOWNLOADED = new Set(["download complete", "verifying checksum", "extracting"]);

export interface LayerView {
  layer: LayerProgress;
  /** 0–1; null when Docker gave no measure (waiting, or a status without one). */
  fraction: number | null;
}

export interface TransferView {
  transfer: Transfer;
  /** 0–1; null while there is nothing to measure (a build, a pull before its layers are known). */
  fraction: number | null;
  layers: LayerView[];
}

function clamp(value: number): number {
  return Math.min(1, Math.max(0, value));
}

function status(layer: LayerProgress): string {
  return layer.status.trim().toLowerCase();
}

/** A layer's own bar: its phase's current/total, full once on the host. */
export function layerFraction(layer: LayerProgress): number | null {
  if (LAYER_DONE.has(status(layer))) return 1;
  if (layer.total !== null && layer.total > 0 && layer.current !== null) return clamp(layer.current / layer.total);
  if (status(layer) === "download complete" || status(layer) === "verifying checksum") return 1;
  return null;
}

/**
 * A pull's share downloaded: each layer weighs its size (`size(id)`, the largest total Docker
 * gave for it while downloading, since later messages drop it; the mean known size when none
 * was), and counts whole once downloaded. Null before any layer is known.
 */
export function pullFraction(layers: readonly LayerProgress[], size: (id: string) => number | undefined): number | null {
  if (layers.length === 0) return null;
  const known = layers.map((layer) => size(layer.id)).filter((bytes): bytes is number => bytes !== undefined && bytes > 0);
  const fallback = known.length > 0 ? known.reduce((sum, bytes) => sum + bytes, 0) / known.length : 1;
  let done = 0;
  let total = 0;
  for (const layer of layers) {
    const weight = size(layer.id) ?? fallback;
    total += weight;
    const word = status(layer);
    if (LAYER_DONE.has(word) || LAYER_DOWNLOADED.has(word)) done += weight;
    else if (word === "downloading" && layer.current !== null && layer.total !== null && layer.total > 0) done += weight * clamp(layer.current / layer.total);
  }
  return total > 0 ? clamp(done / total) : null;
}

/** A push's share sent; null until it knows what it sends. */
export function pushFraction(transfer: Pick<Transfer, "bytes_sent" | "bytes_total">): number | null {
  const total = transfer.bytes_total ?? 0;
  if (total <= 0) return null;
  return clamp((transfer.bytes_sent ?? 0) / total);
}

/** The sizes a pull's layers have shown so far, kept across updates (`sizes`, by layer id). */
export function rememberSizes(layers: readonly LayerProgress[], sizes: Map<string, number>): void {
  for (const layer of layers) {
    if (status(layer) !== "downloading" || layer.total === null || layer.total <= 0) continue;
    sizes.set(layer.id, Math.max(sizes.get(layer.id) ?? 0, layer.total));
  }
}

export function transferView(transfer: Transfer, size: (id: string) => number | undefined = () => undefined): TransferView {
  let fraction: number | null;
  if (transfer.state === "done") fraction = 1;
  else if (transfer.kind === "pull") fraction = pullFraction(transfer.layers, size);
  else if (transfer.kind === "push") fraction = pushFraction(transfer);
  else fraction = null;
  return { transfer, fraction, layers: transfer.layers.map((layer) => ({ layer, fraction: layerFraction(layer) })) };
}
