// The images views' rules, pure: one row per image ID across hosts (the same grouping as the
// core's `images::across`, done here from the per-host rows so that a change on one host only
// re-reads that host), and what the filter box matches.
import type { ImageAcross, ImageRow } from "$lib/ipc";
import { matchesWords, shortId } from "$lib/objects/filter";

/**
 * One row per image ID: its tags (of every host, each once), the hosts that hold it, those of
 * `among` that lack it, the containers made from it as `host/name`; dangling only when it has
 * no tag anywhere. Newest first, then by id.
 */
export function groupAcross(rows: readonly ImageRow[], among: readonly string[]): ImageAcross[] {
  const byId = new Map<string, ImageAcross>();
  for (const row of rows) {
    let image = byId.get(row.id);
    if (!image) {
      image = { id: row.id, tags: [], size: row.size, created: row.created, hosts: [], lacking: [], containers: [], dangling: true };
      byId.set(row.id, image);
    }
    if (!image.hosts.includes(row.host)) image.hosts.push(row.host);
    for (const tag of row.tags) if (!image.tags.includes(tag)) image.tags.push(tag);
    image.containers.push(...row.containers.map((name) => `${row.host}/${name}`));
    image.dangling &&= row.dangling;
  }
  const images = [...byId.values()];
  for (const image of images) image.lacking = among.filter((host) => !image.hosts.includes(host));
  return images.sort((a, b) => (b.created ?? "").localeCompare(a.created ?? "") || a.id.localeCompare(b.id));
}

/** The reference to push or remove an image by: its first tag, else its id. */
export function imageReference(image: Pick<ImageRow, "id" | "tags">): string {
  return image.tags[0] ?? image.id;
}

export function imageMatches(image: ImageRow | ImageAcross, words: readonly string[]): boolean {
  const hosts = "host" in image ? [image.host] : image.hosts;
  return matchesWords([...image.tags, shortId(image.id), image.id, ...hosts, ...image.containers, image.dangling ? "<none>" : null], words);
}
