//! Writing the mirror: whole snapshots and the precise changes of event batches.

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::{params, Transaction};

use super::audit::NewAuditRow;
use super::query::{containers_in, ContainerFilter};
use super::{now_ms, Store};
use crate::error::{Result, StoreContext};
use crate::model::{Change, ContainerFacts, ContainerRow, EventRecord, ImageFacts, NetworkFacts, Snapshot, VolumeFacts};

/// What a follower's batch looked like from inside its transaction, for the audit log.
pub struct BatchSeen<'a> {
    /// The events this batch stored for the first time: another process following the same
    /// host may have stored (and recorded) the others already.
    pub fresh: Vec<&'a EventRecord>,
    /// The mirror's rows of the containers the batch rewrites or deletes, before it.
    pub before: BTreeMap<String, ContainerRow>,
    /// Those of them a Berth request (in any process on this store) claims right now.
    pub claimed: BTreeSet<String>,
}

/// What a full snapshot replaces, for the audit log.
pub struct SnapshotSeen {
    /// The host's container rows before the snapshot.
    pub before: Vec<ContainerRow>,
    /// Whether the host had a snapshot before (its first records nothing).
    pub had_snapshot: bool,
    /// Containers whose difference is no out-of-band change: a Berth request claims them right
    /// now, or the mirror has a newer row of them than the snapshot (events since its listing).
    pub claimed: BTreeSet<String>,
}

/// A host's name, from inside a transaction.
fn host_name(tx: &Transaction<'_>, host_id: i64) -> Result<String> {
    tx.query_row("SELECT name FROM hosts WHERE id = ?1", [host_id], |r| r.get(0)).store_context(|| "reading a host's name".into())
}

/// The mirror's rows of `ids` on `host`, by id.
fn rows_of(tx: &Transaction<'_>, host: &str, ids: Vec<String>) -> Result<BTreeMap<String, ContainerRow>> {
    if ids.is_empty() {
        return Ok(BTreeMap::new());
    }
    let filter = ContainerFilter { all: true, host: Some(host.to_owned()), ids, ..Default::default() };
    Ok(containers_in(tx, &filter)?.into_iter().map(|row| (row.id.clone(), row)).collect())
}

impl Store {
    /// Replace everything mirrored from one host with `snapshot`, in one transaction: rows of
    /// objects that no longer exist are deleted, the rest upserted.
    pub fn write_snapshot(&self, host_id: i64, snapshot: &Snapshot) -> Result<()> {
        self.write_snapshot_recorded(host_id, snapshot, None, |_| Vec::new())
    }

    /// [`Store::write_snapshot`], appending in the same transaction the audit rows `record`
    /// makes of what the snapshot replaces (so two processes resyncing one host at once record
    /// a change once: the second finds it in the mirror already).
    ///
    /// `listed_ns`, the daemon's clock when the listing began, when known: a container with an
    /// event stored since then (by another process following the host) has a newer row in the
    /// mirror than this snapshot, so what differs for it is no out-of-band change.
    pub fn write_snapshot_recorded(
        &self,
        host_id: i64,
        snapshot: &Snapshot,
        listed_ns: Option<i64>,
        record: impl FnOnce(&SnapshotSeen) -> Vec<NewAuditRow>,
    ) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).store_context(|| "starting the snapshot write".into())?;
        let now = now_ms();
        let ctx = || "writing the snapshot".to_owned();
        let had_snapshot: bool =
            tx.query_row("SELECT ifnull((SELECT full_syncs FROM sync_state WHERE host_id = ?1), 0) > 0", [host_id], |r| r.get(0)).store_context(ctx)?;
        let rows = if had_snapshot {
            let host = host_name(&tx, host_id)?;
            let before = containers_in(&tx, &ContainerFilter { all: true, host: Some(host.clone()), ..Default::default() })?;
            let mut claimed = BTreeSet::new();
            for c in
                before.iter().map(|r| (r.id.as_str(), Some(r.name.as_str()))).chain(snapshot.containers.iter().map(|c| (c.id.as_str(), Some(c.name.as_str()))))
            {
                if super::audit::audit_claimed_in(&tx, &host, c.0, c.1, now)?.is_some() {
                    claimed.insert(c.0.to_owned());
                }
            }
            if let Some(listed_ns) = listed_ns {
                let mut stmt = tx
                    .prepare_cached("SELECT DISTINCT actor_id FROM events WHERE host_id = ?1 AND time_ns >= ?2 AND type = 'container' AND actor_id IS NOT NULL")
                    .store_context(ctx)?;
                let newer = stmt.query_map(params![host_id, listed_ns], |r| r.get::<_, String>(0)).store_context(ctx)?;
                for id in newer {
                    claimed.insert(id.store_context(ctx)?);
                }
            }
            record(&SnapshotSeen { before, had_snapshot, claimed })
        } else {
            Vec::new()
        };
        // Deleting first and re-inserting keeps this a single pass; the cascade clears container_ips.
        for table in ["containers", "images", "networks", "volumes"] {
            tx.execute(&format!("DELETE FROM {table} WHERE host_id = ?1"), [host_id]).store_context(ctx)?;
        }
        for c in &snapshot.containers {
            upsert_container(&tx, host_id, c, now)?;
        }
        for i in &snapshot.images {
            upsert_image(&tx, host_id, i, now)?;
        }
        for n in &snapshot.networks {
            upsert_network(&tx, host_id, n, now)?;
        }
        for v in &snapshot.volumes {
            upsert_volume(&tx, host_id, v, now)?;
        }
        tx.execute(
            "INSERT INTO sync_state (host_id, last_full_ms, full_syncs) VALUES (?1, ?2, 1)
             ON CONFLICT (host_id) DO UPDATE SET last_full_ms = excluded.last_full_ms, full_syncs = full_syncs + 1",
            params![host_id, now],
        )
        .store_context(ctx)?;
        self.audit_append_in(&tx, &rows)?;
        tx.commit().store_context(ctx)
    }

    /// The newest stored event of each of `ids` on the host (its sequence number), for
    /// [`Store::write_back`].
    pub fn event_marks(&self, host_id: i64, ids: &[String]) -> Result<BTreeMap<String, i64>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT ifnull(max(seq), 0) FROM events WHERE host_id = ?1 AND actor_id = ?2")
            .store_context(|| "reading event marks".into())?;
        ids.iter()
            .map(|id| stmt.query_row(params![host_id, id], |r| r.get(0)).map(|mark| (id.clone(), mark)))
            .collect::<rusqlite::Result<_>>()
            .store_context(|| "reading event marks".into())
    }

    /// Write what a change re-inspected, except for the containers a follower has stored a newer
    /// event of since `marks` were read ([`Store::event_marks`], taken before the re-inspect):
    /// the follower stores an event and its re-inspect in one transaction, so its row is the
    /// newer one. Returns the ids written.
    pub fn write_back(&self, host_id: i64, changes: &[Change], marks: &BTreeMap<String, i64>) -> Result<Vec<String>> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).store_context(|| "starting a write-back".into())?;
        let now = now_ms();
        let mut written = Vec::new();
        for change in changes {
            let id = match change {
                Change::UpsertContainer(facts) => &facts.id,
                Change::RemoveContainer(id) => id,
                // Images, networks and volumes: what the change's answer said is the newest.
                Change::UpsertImage(i) => {
                    upsert_image(&tx, host_id, i, now)?;
                    continue;
                }
                Change::RemoveImage(id) => {
                    delete(&tx, "images", "id", host_id, id)?;
                    continue;
                }
                Change::UpsertNetwork(n) => {
                    upsert_network(&tx, host_id, n, now)?;
                    continue;
                }
                Change::RemoveNetwork(id) => {
                    delete(&tx, "networks", "id", host_id, id)?;
                    continue;
                }
                Change::UpsertVolume(v) => {
                    upsert_volume(&tx, host_id, v, now)?;
                    continue;
                }
                Change::RemoveVolume(name) => {
                    delete(&tx, "volumes", "name", host_id, name)?;
                    continue;
                }
                Change::Engine(_) => continue,
            };
            let mark: i64 = tx
                .query_row("SELECT ifnull(max(seq), 0) FROM events WHERE host_id = ?1 AND actor_id = ?2", params![host_id, id], |r| r.get(0))
                .store_context(|| "reading an event mark".into())?;
            if mark > marks.get(id).copied().unwrap_or(0) {
                continue;
            }
            match change {
                Change::UpsertContainer(c) => upsert_container(&tx, host_id, c, now)?,
                Change::RemoveContainer(id) => delete(&tx, "containers", "id", host_id, id)?,
                _ => unreachable!("only container changes are written back"),
            }
            written.push(id.clone());
        }
        tx.commit().store_context(|| "committing a write-back".into())?;
        Ok(written)
    }

    /// Store a batch of events and apply the row changes they caused, in one transaction.
    pub fn apply_events(&self, host_id: i64, events: &[EventRecord], changes: &[Change]) -> Result<()> {
        self.apply_events_recorded(host_id, events, changes, |_| Vec::new())
    }

    /// [`Store::apply_events`], appending in the same transaction the audit rows `record` makes
    /// of what the batch saw (`record` runs only when the batch stored container events no
    /// process on this store had stored yet).
    pub fn apply_events_recorded(
        &self,
        host_id: i64,
        events: &[EventRecord],
        changes: &[Change],
        record: impl FnOnce(&BatchSeen<'_>) -> Vec<NewAuditRow>,
    ) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).store_context(|| "starting an event batch".into())?;
        let now = now_ms();
        let ctx = || "applying an event batch".to_owned();
        let touched: Vec<String> = changes
            .iter()
            .filter_map(|c| match c {
                Change::UpsertContainer(facts) => Some(facts.id.clone()),
                Change::RemoveContainer(id) => Some(id.clone()),
                _ => None,
            })
            .collect();
        let fresh = if events.is_empty() { Vec::new() } else { insert_events(&tx, host_id, events, self.events_kept_per_host)? };
        let fresh: Vec<&EventRecord> = events.iter().zip(fresh).filter(|(e, new)| *new && e.kind == "container").map(|(e, _)| e).collect();
        let seen = if fresh.is_empty() || touched.is_empty() {
            None
        } else {
            let host = host_name(&tx, host_id)?;
            let before = rows_of(&tx, &host, touched.clone())?;
            let mut claimed = BTreeSet::new();
            for id in &touched {
                let name = before
                    .get(id)
                    .map(|r| r.name.as_str())
                    .or_else(|| fresh.iter().find(|e| e.actor_id.as_deref() == Some(id)).and_then(|e| e.actor_name.as_deref()));
                if super::audit::audit_claimed_in(&tx, &host, id, name, now)?.is_some() {
                    claimed.insert(id.clone());
                }
            }
            Some(BatchSeen { fresh, before, claimed })
        };
        for change in changes {
            match change {
                Change::UpsertContainer(c) => upsert_container(&tx, host_id, c, now)?,
                Change::RemoveContainer(id) => delete(&tx, "containers", "id", host_id, id)?,
                Change::UpsertImage(i) => upsert_image(&tx, host_id, i, now)?,
                Change::RemoveImage(id) => delete(&tx, "images", "id", host_id, id)?,
                Change::UpsertNetwork(n) => upsert_network(&tx, host_id, n, now)?,
                Change::RemoveNetwork(id) => delete(&tx, "networks", "id", host_id, id)?,
                Change::UpsertVolume(v) => upsert_volume(&tx, host_id, v, now)?,
                Change::RemoveVolume(name) => delete(&tx, "volumes", "name", host_id, name)?,
                Change::Engine(engine) => {
                    tx.execute(
                        "UPDATE host_status SET api_version = ?2, server_version = ?3, info = ?4, last_seen_ms = ?5 WHERE host_id = ?1",
                        params![host_id, engine.api_version, engine.server_version, engine.info, now],
                    )
                    .store_context(ctx)?;
                }
            }
        }
        if !events.is_empty() {
            tx.execute("UPDATE host_status SET last_seen_ms = ?2 WHERE host_id = ?1", params![host_id, now]).store_context(ctx)?;
        }
        if let Some(seen) = seen {
            self.audit_append_in(&tx, &record(&seen))?;
        }
        tx.commit().store_context(ctx)
    }
}

/// Store `events` (a replayed one is ignored); for each, whether it was new.
fn insert_events(tx: &Transaction<'_>, host_id: i64, events: &[EventRecord], keep: i64) -> Result<Vec<bool>> {
    let ctx = || "storing events".to_owned();
    let mut insert = tx
        .prepare_cached(
            "INSERT OR IGNORE INTO events (host_id, time_ns, type, action, actor_id, actor_name, attributes)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .store_context(ctx)?;
    let mut newest = i64::MIN;
    let mut last_seq = 0;
    let mut fresh = Vec::with_capacity(events.len());
    for e in events {
        let stored = insert
            .execute(params![
                host_id,
                e.time_ns,
                e.kind,
                e.action,
                e.actor_id,
                e.actor_name,
                serde_json::to_string(&e.attributes).expect("attributes serialise"),
            ])
            .store_context(ctx)?;
        fresh.push(stored == 1);
        newest = newest.max(e.time_ns);
        last_seq = tx.last_insert_rowid();
    }
    tx.execute(
        "INSERT INTO sync_state (host_id, last_event_ns) VALUES (?1, ?2)
         ON CONFLICT (host_id) DO UPDATE SET last_event_ns = max(ifnull(last_event_ns, 0), excluded.last_event_ns)",
        params![host_id, newest],
    )
    .store_context(ctx)?;
    // Keep the newest `keep` events. Finding the cut-off walks that many index entries, so trim
    // only when the event sequence crosses a multiple of 1,024 (the bound overshoots by < 1,024).
    if last_seq / 1024 == (last_seq - events.len() as i64) / 1024 {
        return Ok(fresh);
    }
    tx.execute(
        "DELETE FROM events WHERE host_id = ?1 AND time_ns < (
             SELECT time_ns FROM events WHERE host_id = ?1 ORDER BY time_ns DESC LIMIT 1 OFFSET ?2)",
        params![host_id, keep - 1],
    )
    .store_context(ctx)?;
    Ok(fresh)
}

fn delete(tx: &Transaction<'_>, table: &str, key: &str, host_id: i64, value: &str) -> Result<()> {
    tx.prepare_cached(&format!("DELETE FROM {table} WHERE host_id = ?1 AND {key} = ?2"))
        .and_then(|mut stmt| stmt.execute(params![host_id, value]))
        .store_context(|| format!("deleting from {table}"))?;
    Ok(())
}

fn upsert_container(tx: &Transaction<'_>, host_id: i64, c: &ContainerFacts, now: i64) -> Result<()> {
    let ctx = || format!("storing container {}", c.name);
    tx.prepare_cached(
        "INSERT INTO containers (host_id, id, name, image, image_id, state, exit_code, created_ms, started_ms,
                                 finished_ms, health, labels, synced_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
         ON CONFLICT (host_id, id) DO UPDATE SET
            name = excluded.name, image = excluded.image, image_id = excluded.image_id, state = excluded.state,
            exit_code = excluded.exit_code, created_ms = excluded.created_ms, started_ms = excluded.started_ms,
            finished_ms = excluded.finished_ms, health = excluded.health, labels = excluded.labels,
            synced_ms = excluded.synced_ms",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            host_id,
            c.id,
            c.name,
            c.image,
            c.image_id,
            c.state,
            c.exit_code,
            c.created_ms,
            c.started_ms,
            c.finished_ms,
            c.health,
            serde_json::to_string(&c.labels).expect("labels serialise"),
            now,
        ])
    })
    .store_context(ctx)?;
    tx.prepare_cached(
        "INSERT INTO container_inspect (host_id, container_id, inspect) VALUES (?1, ?2, ?3)
         ON CONFLICT (host_id, container_id) DO UPDATE SET inspect = excluded.inspect",
    )
    .and_then(|mut stmt| stmt.execute(params![host_id, c.id, redact_secret_env(&c.labels, &c.inspect)]))
    .store_context(ctx)?;
    tx.prepare_cached("DELETE FROM container_ips WHERE host_id = ?1 AND container_id = ?2")
        .and_then(|mut stmt| stmt.execute(params![host_id, c.id]))
        .store_context(ctx)?;
    let mut insert = tx.prepare_cached("INSERT INTO container_ips (host_id, container_id, network, ip) VALUES (?1, ?2, ?3, ?4)").store_context(ctx)?;
    for (network, ip) in &c.ips {
        insert.execute(params![host_id, c.id, network, ip]).store_context(ctx)?;
    }
    Ok(())
}

/// The label naming the environment variables of a container whose values came from the OS
/// keyring (an app's `keyring:NAME` values): the mirror keeps their names, never their values.
pub const LABEL_SECRET_ENV: &str = "berth.secret-env";

/// `inspect` with the values of the variables `labels` names under [`LABEL_SECRET_ENV`]
/// replaced by `<keyring>`.
fn redact_secret_env<'a>(labels: &BTreeMap<String, String>, inspect: &'a str) -> std::borrow::Cow<'a, str> {
    let Some(names) = labels.get(LABEL_SECRET_ENV) else { return inspect.into() };
    let names: Vec<&str> = names.split(',').map(str::trim).filter(|n| !n.is_empty()).collect();
    let Ok(mut json) = serde_json::from_str::<serde_json::Value>(inspect) else { return "{}".into() };
    if let Some(env) = json.pointer_mut("/Config/Env").and_then(|e| e.as_array_mut()) {
        for entry in env.iter_mut() {
            let Some(text) = entry.as_str() else { continue };
            let name = text.split('=').next().unwrap_or_default();
            if names.contains(&name) {
                *entry = serde_json::Value::String(format!("{name}=<keyring>"));
            }
        }
    }
    json.to_string().into()
}

fn upsert_image(tx: &Transaction<'_>, host_id: i64, i: &ImageFacts, now: i64) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO images (host_id, id, repo_tags, created_ms, size, inspect, synced_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (host_id, id) DO UPDATE SET repo_tags = excluded.repo_tags, created_ms = excluded.created_ms,
            size = excluded.size, inspect = excluded.inspect, synced_ms = excluded.synced_ms",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![host_id, i.id, serde_json::to_string(&i.repo_tags).expect("tags serialise"), i.created_ms, i.size, i.inspect, now])
    })
    .store_context(|| format!("storing image {}", i.id))?;
    Ok(())
}

fn upsert_network(tx: &Transaction<'_>, host_id: i64, n: &NetworkFacts, now: i64) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO networks (host_id, id, name, driver, scope, subnets, inspect, synced_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (host_id, id) DO UPDATE SET name = excluded.name, driver = excluded.driver, scope = excluded.scope,
            subnets = excluded.subnets, inspect = excluded.inspect, synced_ms = excluded.synced_ms",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![host_id, n.id, n.name, n.driver, n.scope, serde_json::to_string(&n.subnets).expect("subnets serialise"), n.inspect, now])
    })
    .store_context(|| format!("storing network {}", n.name))?;
    Ok(())
}

fn upsert_volume(tx: &Transaction<'_>, host_id: i64, v: &VolumeFacts, now: i64) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO volumes (host_id, name, driver, mountpoint, inspect, synced_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (host_id, name) DO UPDATE SET driver = excluded.driver, mountpoint = excluded.mountpoint,
            inspect = excluded.inspect, synced_ms = excluded.synced_ms",
    )
    .and_then(|mut stmt| stmt.execute(params![host_id, v.name, v.driver, v.mountpoint, v.inspect, now]))
    .store_context(|| format!("storing volume {}", v.name))?;
    Ok(())
}
