// How a batch of `host://{id}/containers` patches changes the mirrored rows. Pure: the store calls
// it once per animation frame with every patch that arrived since, in arrival order.
import type { ContainerRow, ContainersPatch } from "$lib/ipc";

/** A container is unique per host, not across the fleet: the key carries both. */
export function rowKey(row: { host_id: number; id: string }): string {
  return `${row.host_id}/${row.id}`;
}

/**
 * Applies `patches` in order and returns a new array (or `rows` itself when there is nothing to
 * do). `replace` swaps the host's whole list for `upsert`; otherwise each upserted row replaces
 * the row with its key in place (new rows go to the end), then `remove` drops ids of that host.
 * Rows that no patch touches keep their identity, so anything cached per row object stays valid.
 */
export function applyPatches(rows: readonly ContainerRow[], patches: readonly ContainersPatch[]): readonly ContainerRow[] {
  if (patches.length === 0) return rows;
  const byKey = new Map<string, ContainerRow>();
  for (const row of rows) byKey.set(rowKey(row), row);
  for (const patch of patches) {
    if (patch.replace) {
      for (const [key, row] of byKey) {
        if (row.host_id === patch.host_id) byKey.delete(key);
      }
    }
    for (const row of patch.upsert) byKey.set(rowKey(row), row);
    for (const id of patch.remove) byKey.delete(rowKey({ host_id: patch.host_id, id }));
  }
  return Array.from(byKey.values());
}

/** The rows of a host that was renamed carry its new name (its id, and so its keys, stay). */
export function renameHost(rows: readonly ContainerRow[], hostId: number, name: string): readonly ContainerRow[] {
  if (!rows.some((row) => row.host_id === hostId && row.host !== name)) return rows;
  return rows.map((row) => (row.host_id === hostId && row.host !== name ? { ...row, host: name } : row));
}
