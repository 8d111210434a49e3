//! IP pools and their addresses. An address row is a lease, a quarantine or a reservation; an
//! address with no row (or with a quarantine that has run out) is free. Every change is one
//! `BEGIN IMMEDIATE` transaction, so concurrent callers (the app, several CLIs) queue on the
//! write lock and the primary key `(pool_id, ip)` makes a double lease impossible.

use std::net::IpAddr;

use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::{now_ms, Store};
use crate::error::{Error, Result, StoreContext};
use crate::ipam::pool::{from_num, to_num, PoolSpec};

/// What a row says of its address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "lowercase")]
pub enum AddressState {
    Leased,
    Quarantined,
    Reserved,
    /// Only in what a release returns: the address is free again at once.
    Free,
}

impl AddressState {
    pub fn as_str(self) -> &'static str {
        match self {
            AddressState::Leased => "leased",
            AddressState::Quarantined => "quarantined",
            AddressState::Reserved => "reserved",
            AddressState::Free => "free",
        }
    }

    fn parse(s: &str) -> AddressState {
        match s {
            "leased" => AddressState::Leased,
            "quarantined" => AddressState::Quarantined,
            _ => AddressState::Reserved,
        }
    }
}

/// One address that is not free. `berth ipam leases --json` prints these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct AddressRow {
    pub pool: String,
    pub ip: String,
    pub state: AddressState,
    /// The host and container of a lease (a lease may name neither: kept for later use); for
    /// a quarantine, who held the address last.
    pub host: Option<String>,
    pub container: Option<String>,
    /// Why a reservation is there.
    pub reason: Option<String>,
    /// Reserved by the pool's definition (gateway, a host's bridge address, --reserve).
    pub fixed: bool,
    pub since_ms: i64,
    /// When a quarantine ends.
    pub until_ms: Option<i64>,
}

/// A pool with how full it is.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct PoolSummary {
    #[serde(flatten)]
    pub spec: PoolSpec,
    /// Addresses "next free" can hand out in all (before reservations).
    #[cfg_attr(feature = "specta", specta(type = u64))]
    pub size: u128,
    pub leased: u64,
    pub quarantined: u64,
    /// Reserved addresses: the gateway, hosts' bridge addresses, --reserve and `reserve`.
    pub reserved_count: u64,
}

/// What to lease: a given address or the next free one, for a container or for later.
#[derive(Debug, Clone, Default)]
pub struct LeaseRequest {
    pub ip: Option<IpAddr>,
    pub host: Option<String>,
    pub container: Option<String>,
}

fn key(ip: IpAddr) -> [u8; 16] {
    to_num(ip).to_be_bytes()
}

fn num(blob: &[u8]) -> u128 {
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&blob[..16]);
    u128::from_be_bytes(bytes)
}

struct PoolHead {
    id: i64,
    spec: PoolSpec,
    cursor: Option<u128>,
}

fn pool_head(tx: &rusqlite::Connection, name: &str) -> Result<PoolHead> {
    let row = tx
        .prepare_cached("SELECT id, spec, cursor FROM ipam_pools WHERE name = ?1")
        .and_then(|mut stmt| stmt.query_row([name], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, Option<Vec<u8>>>(2)?))).optional())
        .store_context(|| format!("reading pool {name}"))?;
    let (id, spec, cursor) = row.ok_or_else(|| Error::PoolNotFound { name: name.to_owned() })?;
    let spec = parse_spec(&spec)?;
    Ok(PoolHead { id, spec, cursor: cursor.map(|c| num(&c)) })
}

fn parse_spec(json: &str) -> Result<PoolSpec> {
    serde_json::from_str(json).map_err(|e| Error::invalid("stored pool", format!("{e}; the store may come from a newer Berth")))
}

fn address_from_row(pool: &str, spec: &PoolSpec, r: &rusqlite::Row<'_>) -> rusqlite::Result<AddressRow> {
    let ip: Vec<u8> = r.get(0)?;
    Ok(AddressRow {
        pool: pool.to_owned(),
        ip: from_num(num(&ip), &spec.subnet).to_string(),
        state: AddressState::parse(&r.get::<_, String>(1)?),
        host: r.get(2)?,
        container: r.get(3)?,
        reason: r.get(4)?,
        fixed: r.get(5)?,
        since_ms: r.get(6)?,
        until_ms: r.get(7)?,
    })
}

const ADDRESS_COLUMNS: &str = "ip, state, host, container, reason, fixed, since_ms, until_ms";

/// The most addresses `lease_many` takes in one transaction (a /16 and then some).
pub const MAX_BATCH: usize = 1 << 17;

/// A row that still counts: not a quarantine that has run out.
const LIVE: &str = "NOT (state = 'quarantined' AND until_ms <= ?)";

impl Store {
    /// Add a pool after checking it against itself, the hosts and every other pool: subnets
    /// may not overlap, and a host sits in at most one pool per segment.
    pub fn add_pool(&self, spec: &PoolSpec) -> Result<()> {
        spec.validate()?;
        self.write_tx_recorded(&format!("add pool {}", spec.name), |tx| {
            let existing = all_specs(tx)?;
            if existing.iter().any(|p| p.name == spec.name) {
                return Err(Error::invalid(
                    "pool name",
                    format!("a pool named {:?} exists already; pick another name or `berth ipam pool rm {}` first", spec.name, spec.name),
                ));
            }
            for other in &existing {
                if other.subnet.contains(&spec.subnet.network()) || spec.subnet.contains(&other.subnet.network()) {
                    return Err(Error::invalid(
                        "subnet",
                        format!("{} overlaps pool {:?} ({}); pools may not share addresses", spec.subnet, other.name, other.subnet),
                    ));
                }
                if other.segment == spec.segment {
                    if let Some(h) = spec.hosts.iter().find(|h| other.host(&h.host).is_some()) {
                        return Err(Error::invalid(
                            "pool host",
                            format!("host {} is already in pool {:?} of segment {:?}; a host sits in one pool per segment", h.host, other.name, spec.segment),
                        ));
                    }
                }
            }
            for h in &spec.hosts {
                let known: bool =
                    tx.query_row("SELECT count(*) FROM hosts WHERE name = ?1", [&h.host], |r| r.get::<_, i64>(0)).store_context(|| "reading hosts".into())? > 0;
                if !known {
                    return Err(Error::HostNotFound { name: h.host.clone() });
                }
            }
            let json = serde_json::to_string(spec).expect("a pool spec serialises");
            tx.execute("INSERT INTO ipam_pools (name, spec, segment, created_ms) VALUES (?1, ?2, ?3, ?4)", params![spec.name, json, spec.segment, now_ms()])
                .store_context(|| format!("adding pool {}", spec.name))?;
            let id = tx.last_insert_rowid();
            let now = now_ms();
            let mut insert = tx
                .prepare_cached("INSERT INTO ipam_addresses (pool_id, ip, state, reason, fixed, since_ms) VALUES (?1, ?2, 'reserved', ?3, 1, ?4)")
                .store_context(|| "reserving addresses".into())?;
            for r in spec.fixed_reservations() {
                insert.execute(params![id, key(r.ip), r.reason, now]).store_context(|| format!("reserving {}", r.ip))?;
            }
            Ok(())
        })
    }

    /// Every pool, by name, with its counts.
    pub fn pools(&self) -> Result<Vec<PoolSummary>> {
        let conn = self.conn();
        let now = now_ms();
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT p.spec,
                        (SELECT count(*) FROM ipam_addresses a WHERE a.pool_id = p.id AND a.state = 'leased'),
                        (SELECT count(*) FROM ipam_addresses a WHERE a.pool_id = p.id AND a.state = 'quarantined' AND {live}),
                        (SELECT count(*) FROM ipam_addresses a WHERE a.pool_id = p.id AND a.state = 'reserved')
                 FROM ipam_pools p ORDER BY p.name",
                live = LIVE.replace('?', "?1")
            ))
            .store_context(|| "reading pools".into())?;
        let rows = stmt
            .query_map([now], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?, r.get::<_, i64>(3)?)))
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .store_context(|| "reading pools".into())?;
        rows.into_iter()
            .map(|(spec, leased, quarantined, reserved)| {
                let spec = parse_spec(&spec)?;
                Ok(PoolSummary { size: spec.allocatable(), spec, leased: leased as u64, quarantined: quarantined as u64, reserved_count: reserved as u64 })
            })
            .collect()
    }

    pub fn pool(&self, name: &str) -> Result<PoolSpec> {
        Ok(pool_head(&self.conn(), name)?.spec)
    }

    /// Remove a pool and its address rows. A pool with leases is kept unless `force`.
    pub fn remove_pool(&self, name: &str, force: bool) -> Result<()> {
        self.write_tx_recorded(&format!("remove pool {name}"), |tx| {
            let head = pool_head(tx, name)?;
            let leased: i64 = tx
                .query_row("SELECT count(*) FROM ipam_addresses WHERE pool_id = ?1 AND state = 'leased'", [head.id], |r| r.get(0))
                .store_context(|| "counting leases".into())?;
            if leased > 0 && !force {
                return Err(Error::invalid(
                    "pool removal",
                    format!("pool {name:?} still has {leased} leased addresses; remove their containers (`berth rm`), release them, or pass --force"),
                ));
            }
            tx.execute("DELETE FROM ipam_pools WHERE id = ?1", [head.id]).store_context(|| format!("removing pool {name}"))?;
            Ok(())
        })
    }

    /// The addresses that are not free, of one pool or of all, in address order.
    pub fn addresses(&self, pool: Option<&str>) -> Result<Vec<AddressRow>> {
        let conn = self.conn();
        let pools: Vec<(i64, String, String)> = {
            let mut stmt = conn.prepare_cached("SELECT id, name, spec FROM ipam_pools ORDER BY name").store_context(|| "reading pools".into())?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
                .store_context(|| "reading pools".into())?;
            rows
        };
        if let Some(name) = pool {
            if !pools.iter().any(|(_, n, _)| n == name) {
                return Err(Error::PoolNotFound { name: name.to_owned() });
            }
        }
        let now = now_ms();
        let mut out = Vec::new();
        let mut stmt = conn
            .prepare_cached(&format!("SELECT {ADDRESS_COLUMNS} FROM ipam_addresses WHERE pool_id = ?1 AND {} ORDER BY ip", LIVE.replace('?', "?2")))
            .store_context(|| "reading addresses".into())?;
        for (id, name, spec) in pools.iter().filter(|(_, n, _)| pool.is_none_or(|p| p == n)) {
            let spec = parse_spec(spec)?;
            let rows = stmt
                .query_map(params![id, now], |r| address_from_row(name, &spec, r))
                .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
                .store_context(|| format!("reading the addresses of pool {name}"))?;
            out.extend(rows);
        }
        Ok(out)
    }

    /// Lease `request.ip`, or the next free address after the last one handed out (so a
    /// just-released address is the last to come back, even after its quarantine).
    pub fn lease(&self, pool: &str, request: &LeaseRequest) -> Result<AddressRow> {
        self.write_tx_recorded(&format!("lease an address in pool {pool}"), |tx| lease_in(tx, pool, request))
    }

    /// Lease `count` next free addresses in one transaction (for `request`'s host and
    /// container, if any): all of them, or none when the pool has fewer free.
    pub fn lease_many(&self, pool: &str, count: usize, request: &LeaseRequest) -> Result<Vec<AddressRow>> {
        if request.ip.is_some() {
            return Err(Error::invalid("lease", "a count of leases takes the next free addresses; leave out --ip"));
        }
        if count > MAX_BATCH {
            return Err(Error::invalid("lease count", format!("{count} is more than {MAX_BATCH} at once; lease in several steps")));
        }
        self.write_tx_recorded(&format!("lease {count} addresses in pool {pool}"), |tx| {
            let mut head = pool_head(tx, pool)?;
            let (now, before) = (now_ms(), head.cursor);
            let free = free_addresses(tx, &head, now, count)?;
            if free.is_empty() {
                return Err(exhausted(tx, &head, now));
            }
            if free.len() < count {
                return Err(Error::invalid(
                    "lease count",
                    format!("pool {pool:?} has {} free addresses, fewer than the {count} asked for; nothing was leased", free.len()),
                ));
            }
            let rows = free.iter().map(|&(n, reuse)| insert_lease(tx, &head, n, reuse, request, now)).collect::<Result<Vec<_>>>()?;
            head.cursor = free.last().map(|&(n, _)| n).or(before);
            save_cursor(tx, &head, before)?;
            Ok(rows)
        })
    }

    /// The next `count` free addresses of a pool, in the order `lease` would hand them out,
    /// without leasing them (a plan shows them; the deploy leases each one it uses by address).
    pub fn free_addresses(&self, pool: &str, count: usize) -> Result<Vec<IpAddr>> {
        let conn = self.conn();
        let head = pool_head(&conn, pool)?;
        let free = free_addresses(&conn, &head, now_ms(), count.min(MAX_BATCH))?;
        Ok(free.into_iter().map(|(n, _)| from_num(n, &head.spec.subnet)).collect())
    }

    /// Make `ip` leased to `host`/`container` (an app replica's address passing from one of its
    /// containers to another, or a kept container started again): a lease held on the same host
    /// by a container whose name starts with `kin` (the replica's other containers) passes to
    /// it; a free or quarantined address is leased to it. Refused when another host or another
    /// container holds it, or it is reserved. Returns the row and the container that held it.
    pub fn claim_lease(&self, pool: &str, ip: IpAddr, host: &str, container: &str, kin: &str) -> Result<(AddressRow, Option<String>)> {
        self.write_tx_recorded(&format!("claim {ip} of pool {pool} for {container}"), |tx| {
            let head = pool_head(tx, pool)?;
            match address(tx, &head, pool, ip)? {
                Some(row) if row.state == AddressState::Leased => {
                    if row.host.as_deref().is_some_and(|h| h != host) {
                        return Err(unavailable(pool, ip, &format!("leased to host {}", row.host.as_deref().unwrap_or_default())));
                    }
                    if let Some(holder) = row.container.as_deref().filter(|h| *h != container && !h.starts_with(kin)) {
                        return Err(unavailable(pool, ip, &format!("leased to {host}/{holder}")));
                    }
                    tx.execute(
                        "UPDATE ipam_addresses SET host = ?3, container = ?4 WHERE pool_id = ?1 AND ip = ?2",
                        params![head.id, key(ip), host, container],
                    )
                    .store_context(|| format!("handing {ip} to {container}"))?;
                    Ok((address(tx, &head, pool, ip)?.expect("the row just written"), row.container))
                }
                Some(row) if row.state == AddressState::Quarantined => {
                    tx.execute("DELETE FROM ipam_addresses WHERE pool_id = ?1 AND ip = ?2", params![head.id, key(ip)])
                        .store_context(|| format!("ending the quarantine of {ip}"))?;
                    let request = LeaseRequest { ip: Some(ip), host: Some(host.to_owned()), container: Some(container.to_owned()) };
                    Ok((lease_in(tx, pool, &request)?, None))
                }
                _ => {
                    let request = LeaseRequest { ip: Some(ip), host: Some(host.to_owned()), container: Some(container.to_owned()) };
                    Ok((lease_in(tx, pool, &request)?, None))
                }
            }
        })
    }

    /// Record a lease for a container found using `ip` (rebuild, or the repair of a container
    /// without a lease). A quarantine on the address ends: the address is in use already.
    pub fn adopt_lease(&self, pool: &str, ip: IpAddr, host: &str, container: &str) -> Result<AddressRow> {
        self.write_tx_recorded(&format!("adopt {ip} in pool {pool}"), |tx| {
            let head = pool_head(tx, pool)?;
            tx.execute("DELETE FROM ipam_addresses WHERE pool_id = ?1 AND ip = ?2 AND state = 'quarantined'", params![head.id, key(ip)])
                .store_context(|| format!("ending the quarantine of {ip}"))?;
            let request = LeaseRequest { ip: Some(ip), host: Some(host.to_owned()), container: Some(container.to_owned()) };
            lease_in(tx, pool, &request)
        })
    }

    /// Drop a lease outright, without quarantine: for an address taken for a container that
    /// was never created or never started.
    pub fn forget_lease(&self, pool: &str, ip: IpAddr) -> Result<()> {
        self.write_tx_recorded(&format!("take back {ip} in pool {pool}"), |tx| {
            let head = pool_head(tx, pool)?;
            if !head.spec.subnet.contains(&ip) {
                return Err(unavailable(pool, ip, &format!("outside the pool's subnet {}", head.spec.subnet)));
            }
            tx.execute("DELETE FROM ipam_addresses WHERE pool_id = ?1 AND ip = ?2 AND state = 'leased'", params![head.id, key(ip)])
                .store_context(|| format!("taking back {ip}"))?;
            Ok(())
        })
    }

    /// Release a leased address into quarantine (or free it at once when the pool's quarantine
    /// is zero), or lift a reservation made with `reserve`.
    pub fn release(&self, pool: &str, ip: IpAddr) -> Result<AddressRow> {
        self.release_held(pool, ip, None)
    }

    /// Release `ip` only while it is still leased to `holder` (host, container): the repair of
    /// a finding that may have gone stale since the check.
    pub fn release_held(&self, pool: &str, ip: IpAddr, holder: Option<(&str, &str)>) -> Result<AddressRow> {
        self.write_tx_recorded(&format!("release {ip} in pool {pool}"), |tx| {
            let head = pool_head(tx, pool)?;
            if !head.spec.subnet.contains(&ip) {
                return Err(unavailable(pool, ip, &format!("outside the pool's subnet {}", head.spec.subnet)));
            }
            let now = now_ms();
            let row = address(tx, &head, pool, ip)?
                .filter(|r| !(r.state == AddressState::Quarantined && r.until_ms.is_some_and(|u| u <= now)))
                .ok_or_else(|| unavailable(pool, ip, "not leased; nothing to release"))?;
            if let Some((host, container)) = holder {
                if row.state != AddressState::Leased || row.host.as_deref() != Some(host) || row.container.as_deref() != Some(container) {
                    return Err(unavailable(pool, ip, &format!("no longer leased to {host}/{container}; check again")));
                }
            }
            match row.state {
                AddressState::Leased => quarantine(tx, &head, pool, row, now),
                AddressState::Reserved if row.fixed => {
                    Err(unavailable(pool, ip, &format!("reserved by the pool's definition ({}); it cannot be released", row.reason.unwrap_or_default())))
                }
                AddressState::Reserved => {
                    tx.execute("DELETE FROM ipam_addresses WHERE pool_id = ?1 AND ip = ?2", params![head.id, key(ip)])
                        .store_context(|| format!("lifting the reservation of {ip}"))?;
                    Ok(AddressRow { state: AddressState::Free, ..row })
                }
                AddressState::Quarantined | AddressState::Free => Err(unavailable(pool, ip, "already released (in quarantine)")),
            }
        })
    }

    /// Every lease held by `container` on `host` goes into quarantine. Returns those released.
    pub fn release_container(&self, host: &str, names: &[&str]) -> Result<Vec<AddressRow>> {
        self.write_tx_recorded(&format!("release the addresses of {host}/{}", names.first().unwrap_or(&"")), |tx| {
            let mut found = Vec::new();
            {
                let mut stmt = tx
                    .prepare_cached("SELECT p.name FROM ipam_addresses a JOIN ipam_pools p ON p.id = a.pool_id WHERE a.state = 'leased' AND a.host = ?1 AND a.container = ?2")
                    .store_context(|| "reading leases".into())?;
                for name in names {
                    let pools = stmt
                        .query_map(params![host, name], |r| r.get::<_, String>(0))
                        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
                        .store_context(|| "reading leases".into())?;
                    found.extend(pools.into_iter().map(|p| (p, *name)));
                }
            }
            let now = now_ms();
            let mut released = Vec::new();
            for (pool, name) in found {
                let head = pool_head(tx, &pool)?;
                let rows: Vec<Vec<u8>> = tx
                    .prepare_cached("SELECT ip FROM ipam_addresses WHERE pool_id = ?1 AND state = 'leased' AND host = ?2 AND container = ?3")
                    .and_then(|mut s| s.query_map(params![head.id, host, name], |r| r.get(0))?.collect())
                    .store_context(|| "reading leases".into())?;
                for ip in rows {
                    let ip = from_num(num(&ip), &head.spec.subnet);
                    let row = address(tx, &head, &pool, ip)?.expect("the row just read");
                    released.push(quarantine(tx, &head, &pool, row, now)?);
                }
            }
            Ok(released)
        })
    }

    /// Reserve a free address so that it is never handed out.
    pub fn reserve(&self, pool: &str, ip: IpAddr, reason: &str) -> Result<AddressRow> {
        self.write_tx_recorded(&format!("reserve {ip} in pool {pool}"), |tx| {
            let head = pool_head(tx, pool)?;
            let now = now_ms();
            let reuse = check_specific(tx, &head, ip, now)?;
            if reuse {
                tx.execute("DELETE FROM ipam_addresses WHERE pool_id = ?1 AND ip = ?2", params![head.id, key(ip)])
                    .store_context(|| "ending a quarantine".into())?;
            }
            let reason = if reason.trim().is_empty() { "reserved" } else { reason.trim() };
            tx.execute(
                "INSERT INTO ipam_addresses (pool_id, ip, state, reason, fixed, since_ms) VALUES (?1, ?2, 'reserved', ?3, 0, ?4)",
                params![head.id, key(ip), reason, now],
            )
            .store_context(|| format!("reserving {ip}"))?;
            Ok(address(tx, &head, pool, ip)?.expect("the row just written"))
        })
    }
}

/// Lease inside a transaction: the address asked for, or the next free one.
fn lease_in(tx: &rusqlite::Connection, pool: &str, request: &LeaseRequest) -> Result<AddressRow> {
    let mut head = pool_head(tx, pool)?;
    let before = head.cursor;
    let row = lease_one(tx, &mut head, request, now_ms())?;
    save_cursor(tx, &head, before)?;
    Ok(row)
}

/// Writes the pool's cursor when "next free" moved it.
fn save_cursor(tx: &rusqlite::Connection, head: &PoolHead, before: Option<u128>) -> Result<()> {
    if let Some(cursor) = head.cursor.filter(|_| head.cursor != before) {
        tx.prepare_cached("UPDATE ipam_pools SET cursor = ?2 WHERE id = ?1")
            .and_then(|mut s| s.execute(params![head.id, cursor.to_be_bytes()]))
            .store_context(|| "moving the pool's cursor".into())?;
    }
    Ok(())
}

/// One lease; "next free" moves `head.cursor` (the caller saves it once).
fn lease_one(tx: &rusqlite::Connection, head: &mut PoolHead, request: &LeaseRequest, now: i64) -> Result<AddressRow> {
    let (n, reuse) = match request.ip {
        Some(ip) => (to_num(ip), check_specific(tx, head, ip, now)?),
        None => {
            let (n, reuse) = free_addresses(tx, head, now, 1)?.pop().ok_or_else(|| exhausted(tx, head, now))?;
            head.cursor = Some(n);
            (n, reuse)
        }
    };
    insert_lease(tx, head, n, reuse, request, now)
}

fn exhausted(tx: &rusqlite::Connection, head: &PoolHead, now: i64) -> Error {
    let quarantined = tx
        .query_row("SELECT count(*) FROM ipam_addresses WHERE pool_id = ?1 AND state = 'quarantined' AND until_ms > ?2", params![head.id, now], |r| {
            r.get::<_, i64>(0)
        })
        .unwrap_or(0);
    Error::PoolExhausted { pool: head.spec.name.clone(), quarantined: quarantined as u64 }
}

/// Write the lease of address `n` (`reuse`: over a quarantine that has run out).
fn insert_lease(tx: &rusqlite::Connection, head: &PoolHead, n: u128, reuse: bool, request: &LeaseRequest, now: i64) -> Result<AddressRow> {
    let ip_key = n.to_be_bytes();
    if reuse {
        tx.prepare_cached("DELETE FROM ipam_addresses WHERE pool_id = ?1 AND ip = ?2")
            .and_then(|mut s| s.execute(params![head.id, ip_key]))
            .store_context(|| "ending a quarantine".into())?;
    }
    tx.prepare_cached("INSERT INTO ipam_addresses (pool_id, ip, state, host, container, fixed, since_ms) VALUES (?1, ?2, 'leased', ?3, ?4, 0, ?5)")
        .and_then(|mut s| s.execute(params![head.id, ip_key, request.host, request.container, now]))
        .store_context(|| "recording the lease".into())?;
    Ok(AddressRow {
        pool: head.spec.name.clone(),
        ip: from_num(n, &head.spec.subnet).to_string(),
        state: AddressState::Leased,
        host: request.host.clone(),
        container: request.container.clone(),
        reason: None,
        fixed: false,
        since_ms: now,
        until_ms: None,
    })
}

fn all_specs(tx: &rusqlite::Connection) -> Result<Vec<PoolSpec>> {
    let specs: Vec<String> =
        tx.prepare_cached("SELECT spec FROM ipam_pools").and_then(|mut s| s.query_map([], |r| r.get(0))?.collect()).store_context(|| "reading pools".into())?;
    specs.iter().map(|s| parse_spec(s)).collect()
}

fn unavailable(pool: &str, ip: IpAddr, reason: &str) -> Error {
    Error::AddressUnavailable { pool: pool.to_owned(), ip: ip.to_string(), reason: reason.to_owned() }
}

fn address(tx: &rusqlite::Connection, head: &PoolHead, pool: &str, ip: IpAddr) -> Result<Option<AddressRow>> {
    tx.prepare_cached(&format!("SELECT {ADDRESS_COLUMNS} FROM ipam_addresses WHERE pool_id = ?1 AND ip = ?2"))
        .and_then(|mut s| s.query_row(params![head.id, key(ip)], |r| address_from_row(pool, &head.spec, r)).optional())
        .store_context(|| format!("reading {ip}"))
}

fn quarantine(tx: &rusqlite::Connection, head: &PoolHead, pool: &str, row: AddressRow, now: i64) -> Result<AddressRow> {
    let ip: IpAddr = row.ip.parse().expect("a stored address");
    let seconds = head.spec.quarantine_seconds;
    if seconds == 0 {
        tx.execute("DELETE FROM ipam_addresses WHERE pool_id = ?1 AND ip = ?2", params![head.id, key(ip)]).store_context(|| format!("releasing {ip}"))?;
        return Ok(AddressRow { state: AddressState::Free, ..row });
    }
    let until = now.saturating_add((seconds as i64).saturating_mul(1000));
    tx.execute(
        "UPDATE ipam_addresses SET state = 'quarantined', since_ms = ?3, until_ms = ?4 WHERE pool_id = ?1 AND ip = ?2",
        params![head.id, key(ip), now, until],
    )
    .store_context(|| format!("releasing {ip}"))?;
    Ok(address(tx, head, pool, ip)?.expect("the row just written"))
}

/// May `ip` be leased (or reserved) now? Ok(true) when it sits in a quarantine that has run out.
fn check_specific(tx: &rusqlite::Connection, head: &PoolHead, ip: IpAddr, now: i64) -> Result<bool> {
    let pool = &head.spec.name;
    let subnet = head.spec.subnet;
    if !subnet.contains(&ip) {
        return Err(unavailable(pool, ip, &format!("outside the pool's subnet {subnet}")));
    }
    let n = to_num(ip);
    let (network, last) = (to_num(subnet.network()), to_num(subnet.broadcast()));
    if n == network || (matches!(subnet, ipnet::IpNet::V4(_)) && n == last) {
        let what = if matches!(subnet, ipnet::IpNet::V4(_)) { "the network or broadcast address" } else { "the subnet-router anycast address" };
        return Err(unavailable(pool, ip, &format!("{what} of {subnet}")));
    }
    match address(tx, head, pool, ip)? {
        None => Ok(false),
        Some(row) => match row.state {
            AddressState::Quarantined if row.until_ms.is_some_and(|u| u <= now) => Ok(true),
            AddressState::Quarantined => Err(unavailable(
                pool,
                ip,
                &format!(
                    "in quarantine until {} (released {}; it is held back so that stale ARP entries expire); pick another address or wait",
                    crate::time::rfc3339_ms(row.until_ms.unwrap_or(0)),
                    crate::time::rfc3339_ms(row.since_ms)
                ),
            )),
            AddressState::Leased => Err(unavailable(
                pool,
                ip,
                &match (&row.host, &row.container) {
                    (Some(h), Some(c)) => format!("leased to container {c} on host {h}"),
                    _ => "leased already".to_owned(),
                },
            )),
            AddressState::Reserved => Err(unavailable(pool, ip, &format!("reserved ({})", row.reason.unwrap_or_default()))),
            AddressState::Free => Ok(false),
        },
    }
}

/// Up to `want` free addresses from the cursor on, wrapping around once, in the order "next
/// free" hands them out; `true` beside one that reuses a quarantine that has run out. One scan
/// per interval walks the taken rows beside the candidates.
fn free_addresses(tx: &rusqlite::Connection, head: &PoolHead, now: i64, want: usize) -> Result<Vec<(u128, bool)>> {
    let mut out = Vec::new();
    let intervals = head.spec.intervals();
    let Some(&(first, _)) = intervals.first() else { return Ok(out) };
    let start = head.cursor.map_or(first, |c| c.saturating_add(1));
    let (mut ahead, mut behind) = (Vec::new(), Vec::new());
    for &(a, b) in &intervals {
        if b < start {
            behind.push((a, b));
        } else if a >= start {
            ahead.push((a, b));
        } else {
            ahead.push((start, b));
            behind.push((a, start - 1));
        }
    }
    let mut stmt = tx
        .prepare_cached("SELECT ip, state, until_ms FROM ipam_addresses WHERE pool_id = ?1 AND ip >= ?2 AND ip <= ?3 ORDER BY ip")
        .store_context(|| "looking for a free address".into())?;
    let context = || "looking for a free address".to_owned();
    for (a, b) in ahead.into_iter().chain(behind) {
        let mut rows = stmt.query(params![head.id, a.to_be_bytes(), b.to_be_bytes()]).store_context(context)?;
        // The next address to decide on; None once past `b`.
        let mut candidate = Some(a);
        while out.len() < want {
            let Some(c) = candidate else { break };
            let Some(row) = rows.next().store_context(context)? else {
                // No more taken rows: everything from `c` to `b` is free.
                let take = (b - c).min((want - out.len() - 1) as u128);
                out.extend((c..=c + take).map(|n| (n, false)));
                break;
            };
            let taken = num(&row.get::<_, Vec<u8>>(0).store_context(context)?);
            // Everything before the taken one is free.
            let take = (taken - c).min((want - out.len()) as u128);
            out.extend((c..c + take).map(|n| (n, false)));
            if out.len() == want {
                break;
            }
            let state: String = row.get(1).store_context(context)?;
            let until: Option<i64> = row.get(2).store_context(context)?;
            if state == "quarantined" && until.is_some_and(|u| u <= now) {
                out.push((taken, true));
            }
            candidate = (taken < b).then(|| taken + 1);
        }
        if out.len() == want {
            break;
        }
    }
    Ok(out)
}

/// A container's address on one network, as the mirror has it: one row per container and
/// network it has an address on, or one row with no `address` for a container with none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirroredAddress {
    pub host: String,
    pub container_id: String,
    /// The container's name.
    pub container: String,
    pub running: bool,
    /// (network, address).
    pub address: Option<(String, IpAddr)>,
}

/// The mirror's side of `ipam check` ([`Store::ipam_mirror`]).
#[derive(Debug, Clone, Default)]
pub struct IpamMirrorRows {
    /// A container's rows are adjacent (ordered by host, then container id).
    pub addresses: Vec<MirroredAddress>,
    /// (host, network name, subnets) of every network.
    pub networks: Vec<(String, String, Vec<String>)>,
    /// (host, when its last full snapshot was written, in ms; 0: never) of every host.
    pub synced_ms: Vec<(String, i64)>,
}

/// The mirror's side of IPAM: what the hosts run, as last mirrored.
impl Store {
    /// What Berth wrote on the hosts, as the mirror has it: (host, network, pool definition
    /// JSON) of each pool network, and (host, container, pool, address) of each container.
    #[allow(clippy::type_complexity)]
    pub fn ipam_labels(&self) -> Result<(Vec<(String, String, String)>, Vec<(String, String, String, String)>)> {
        let conn = self.conn();
        let networks = conn
            .prepare_cached(
                "SELECT h.name, n.name, json_extract(n.inspect, '$.Labels.\"berth.ipam.spec\"') AS spec
                 FROM networks n JOIN hosts h ON h.id = n.host_id WHERE spec IS NOT NULL ORDER BY h.name, n.name",
            )
            .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect::<rusqlite::Result<Vec<_>>>())
            .store_context(|| "reading the pools' networks from the mirror".into())?;
        let containers = conn
            .prepare_cached(
                "SELECT h.name, c.name, json_extract(c.labels, '$.\"berth.ipam.pool\"') AS pool, json_extract(c.labels, '$.\"berth.ipam.ip\"') AS ip
                 FROM containers c JOIN hosts h ON h.id = c.host_id WHERE pool IS NOT NULL AND ip IS NOT NULL ORDER BY h.name, c.name",
            )
            .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?.collect::<rusqlite::Result<Vec<_>>>())
            .store_context(|| "reading the pools' containers from the mirror".into())?;
        Ok((networks, containers))
    }

    /// Every container's addresses from the mirror, its networks, and when each host's last full
    /// snapshot was written (this machine's clock, as leases are; event times are the host's):
    /// the mirror's side of `ipam check`, as rows.
    pub fn ipam_mirror(&self) -> Result<IpamMirrorRows> {
        let conn = self.conn();
        let mut addresses = Vec::new();
        let mut stmt = conn
            .prepare_cached(
                "SELECT h.name, c.id, c.name, c.state, ci.network, ci.ip
                 FROM containers c JOIN hosts h ON h.id = c.host_id
                 LEFT JOIN container_ips ci ON ci.host_id = c.host_id AND ci.container_id = c.id
                 ORDER BY c.host_id, c.id",
            )
            .store_context(|| "reading containers for the check".into())?;
        let mut rows = stmt.query([]).store_context(|| "reading containers for the check".into())?;
        while let Some(r) = rows.next().store_context(|| "reading containers for the check".into())? {
            let column = |i| -> Result<Option<String>> { r.get(i).store_context(|| "reading containers for the check".into()) };
            let (host, container_id, container, state) =
                (column(0)?.unwrap_or_default(), column(1)?.unwrap_or_default(), column(2)?.unwrap_or_default(), column(3)?);
            let (network, ip) = (column(4)?, column(5)?);
            let address = network.zip(ip.and_then(|ip| ip.parse().ok()));
            addresses.push(MirroredAddress { host, container_id, container, running: state.as_deref() == Some("running"), address });
        }
        let synced_ms = conn
            .prepare_cached("SELECT h.name, coalesce(s.last_full_ms, 0) FROM hosts h LEFT JOIN sync_state s ON s.host_id = h.id")
            .and_then(|mut s| s.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?.collect::<rusqlite::Result<Vec<_>>>())
            .store_context(|| "reading when hosts were synced".into())?;
        let networks = conn
            .prepare_cached("SELECT h.name, n.name, n.subnets FROM networks n JOIN hosts h ON h.id = n.host_id")
            .and_then(|mut s| {
                s.query_map([], |r| {
                    let subnets: String = r.get(2)?;
                    Ok((r.get(0)?, r.get(1)?, serde_json::from_str(&subnets).unwrap_or_default()))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .store_context(|| "reading networks for the check".into())?;
        Ok(IpamMirrorRows { addresses, networks, synced_ms })
    }
}

#[cfg(test)]
mod tests;
