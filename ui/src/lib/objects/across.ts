// Networks and volumes across hosts, pure: one row per name (a network's id differs on every
// host; an IP pool's network has the same name on each of its hosts), with the hosts that have
// it and what uses it there. And which networks may be removed from the view.
import type { NetworkRow, VolumeRow } from "$lib/ipc";
import { matchesWords, shortId } from "./filter";

export interface NetworkAcross {
  name: string;
  drivers: string[];
  subnets: string[];
  hosts: string[];
  /** The IP pool that made it, on any host. */
  pool: string | null;
  builtin: boolean;
  users: { host: string; container: string; ip: string | null }[];
}

export interface VolumeAcross {
  name: string;
  drivers: string[];
  hosts: string[];
  users: { host: string; container: string }[];
}

function addOnce(list: string[], value: string | null): void {
  if (value !== null && value !== "" && !list.includes(value)) list.push(value);
}

/** One row per network name, in name order. */
export function networksAcross(rows: readonly NetworkRow[]): NetworkAcross[] {
  const byName = new Map<string, NetworkAcross>();
  for (const row of rows) {
    let network = byName.get(row.name);
    if (!network) {
      network = { name: row.name, drivers: [], subnets: [], hosts: [], pool: null, builtin: false, users: [] };
      byName.set(row.name, network);
    }
    addOnce(network.drivers, row.driver);
    row.subnets.forEach((subnet) => addOnce(network.subnets, subnet));
    addOnce(network.hosts, row.host);
    network.pool ??= row.pool;
    network.builtin ||= row.builtin;
    network.users.push(...row.containers.map((user) => ({ host: row.host, container: user.container, ip: user.ip })));
  }
  return [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/** One row per volume name, in name order. */
export function volumesAcross(rows: readonly VolumeRow[]): VolumeAcross[] {
  const byName = new Map<string, VolumeAcross>();
  for (const row of rows) {
    let volume = byName.get(row.name);
    if (!volume) {
      volume = { name: row.name, drivers: [], hosts: [], users: [] };
      byName.set(row.name, volume);
    }
    addOnce(volume.drivers, row.driver);
    addOnce(volume.hosts, row.host);
    volume.users.push(...row.containers.map((container) => ({ host: row.host, container })));
  }
  return [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * Why the view offers no removal of this network: an IP pool's (removed through IPAM, which
 * knows its leases) or one of Docker's own; null when it may be removed.
 */
export function networkLocked(network: Pick<NetworkRow, "pool" | "builtin">): { pool: string } | "builtin" | null {
  if (network.pool !== null) return { pool: network.pool };
  if (network.builtin) return "builtin";
  return null;
}

export function networkMatches(network: NetworkRow | NetworkAcross, words: readonly string[]): boolean {
  const texts =
    "host" in network
      ? [network.host, network.name, shortId(network.id), network.driver, network.pool, ...network.subnets, ...network.containers.flatMap((user) => [user.container, user.ip])]
      : [network.name, network.pool, ...network.drivers, ...network.subnets, ...network.hosts, ...network.users.flatMap((user) => [user.container, user.ip])];
  return matchesWords(texts, words);
}

export function volumeMatches(volume: VolumeRow | VolumeAcross, words: readonly string[]): boolean {
  const texts =
    "host" in volume
      ? [volume.host, volume.name, volume.driver, ...volume.containers]
      : [volume.name, ...volume.drivers, ...volume.hosts, ...volume.users.map((user) => user.container)];
  return matchesWords(texts, words);
}
