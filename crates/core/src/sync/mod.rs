//! The sync engine: keeps each host's rows in the mirror true.
//!
//! Per host, one long-lived task ([`follow`]):
//! 1. subscribe to `/events` (replaying from just before the snapshot), then list + inspect
//!    everything with bounded concurrency and write the snapshot in one transaction;
//! 2. apply buffered, then live, events: each re-inspects exactly the objects it names and
//!    upserts or deletes their rows; every event is stored too;
//! 3. on any error or closed stream, mark the host offline (rows kept), back off, reconnect and
//!    resync in full: the daemon replays only its last 256 events, so nothing short of a full
//!    snapshot can be trusted after a gap.

mod supervisor;

pub use supervisor::Supervisor;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, info_span, warn, Instrument};

use crate::connect::Engine;
pub use crate::connect::SNAPSHOT_CONCURRENCY;
use crate::error::{Error, Result};
use crate::fleet::Fleet;
use crate::model::{Change, EventRecord, Host, Reachability, Snapshot};
use crate::store::Store;

/// How often a follower checks a quiet daemon is still there, and how long it waits for the answer.
pub const PING_EVERY: Duration = Duration::from_secs(5);
pub use crate::connect::PING_TIMEOUT;
/// Reconnect back-off: doubles from the first to the cap.
pub const BACKOFF_FIRST: Duration = Duration::from_millis(250);
pub const BACKOFF_CAP: Duration = Duration::from_secs(5);
/// Events applied in one transaction at most.
const BATCH_MAX: usize = 1024;

/// What changed in the mirror, sent after the change is committed.
#[derive(Debug, Clone)]
pub enum MirrorUpdate {
    /// A full snapshot of the host was written.
    Snapshot { host_id: i64, host: String, containers: usize },
    /// A batch of events was applied; `containers` are the ids whose rows were rewritten or
    /// deleted. The times are the daemon's, of the batch's oldest and newest events.
    Events { host_id: i64, host: String, containers: Vec<String>, oldest_event_ns: i64, newest_event_ns: i64 },
    /// A change Berth made was written back: these containers' rows were rewritten or deleted.
    Written { host_id: i64, host: String, containers: Vec<String> },
    /// A change Berth made to the host's images, networks or volumes was written back.
    Objects { host_id: i64, host: String },
    /// The follower is dialling, the host answered (with the ping's round trip), or it was lost.
    Status { host_id: i64, host: String, state: Reachability, error: Option<String>, rtt_ms: Option<f64> },
}

impl MirrorUpdate {
    pub fn host_id(&self) -> i64 {
        match self {
            MirrorUpdate::Snapshot { host_id, .. }
            | MirrorUpdate::Events { host_id, .. }
            | MirrorUpdate::Written { host_id, .. }
            | MirrorUpdate::Objects { host_id, .. }
            | MirrorUpdate::Status { host_id, .. } => *host_id,
        }
    }
}

/// Counts from one snapshot, for reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotCounts {
    pub containers: usize,
    pub images: usize,
    pub networks: usize,
    pub volumes: usize,
}

/// Run store calls off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(store: &Arc<Store>, f: impl FnOnce(&Store) -> Result<T> + Send + 'static) -> Result<T> {
    let store = Arc::clone(store);
    tokio::task::spawn_blocking(move || f(&store)).await.expect("store task panicked")
}

/// Take one snapshot of `host` over the fleet's connection to it and write it. Marks the host
/// offline (and returns the error) when it cannot be reached.
pub async fn sync_once(fleet: &Fleet, host: &Host) -> Result<SnapshotCounts> {
    let store = fleet.store();
    let result = async {
        let engine = fleet.engine_for(host).await?;
        let snapshot = engine.snapshot(None).await?;
        let counts = counts(&snapshot);
        let host_id = host.id;
        let name = host.name().to_owned();
        let crashed = blocking(store, move |s| {
            s.mark_online(host_id, &snapshot.engine)?;
            let mut crashed = Vec::new();
            s.write_snapshot_recorded(host_id, &snapshot, None, |seen| {
                crashed = crate::monitor::alerts::crashed_meanwhile(seen, &snapshot);
                resync_rows(&name, seen, &snapshot)
            })?;
            Ok(crashed)
        })
        .await?;
        fleet.publish(MirrorUpdate::Snapshot { host_id, host: host.name().to_owned(), containers: counts.containers });
        crate::monitor::alerts::on_resync(store, &engine, host, crashed).await;
        Ok::<_, Error>(counts)
    }
    .instrument(info_span!("sync", host = host.name()))
    .await;
    if let Err(e) = &result {
        if e.is_connection() {
            let (host_id, message) = (host.id, e.to_string());
            blocking(store, move |s| s.mark_offline(host_id, &message)).await?;
        }
    }
    result
}

fn counts(snapshot: &Snapshot) -> SnapshotCounts {
    SnapshotCounts { containers: snapshot.containers.len(), images: snapshot.images.len(), networks: snapshot.networks.len(), volumes: snapshot.volumes.len() }
}

/// Capped exponential back-off between reconnects.
#[derive(Debug)]
struct Backoff {
    next: Duration,
}

impl Backoff {
    fn new() -> Self {
        Backoff { next: BACKOFF_FIRST }
    }
    fn reset(&mut self) {
        self.next = BACKOFF_FIRST;
    }
    fn step(&mut self) -> Duration {
        let now = self.next;
        self.next = (self.next * 2).min(BACKOFF_CAP);
        now
    }
}

/// Follow every host until `shutdown` turns true: one task per host (and the audit log kept
/// within its retention meanwhile).
pub async fn follow_all(fleet: Arc<Fleet>, hosts: Vec<Host>, shutdown: watch::Receiver<bool>) {
    let _pruner = AbortOnDrop(tokio::spawn(crate::audit::keep_bounded(Arc::clone(fleet.store()))));
    let tasks: Vec<_> = hosts.into_iter().map(|host| tokio::spawn(follow(Arc::clone(&fleet), host, shutdown.clone()))).collect();
    for task in tasks {
        let _ = task.await;
    }
}

/// Keep one host's mirror true until `shutdown` turns true, over the fleet's connection to it.
pub async fn follow(fleet: Arc<Fleet>, host: Host, mut shutdown: watch::Receiver<bool>) {
    let span = info_span!("follow", host = host.name());
    async move {
        let mut follower = Follower { fleet, host, backoff: Backoff::new(), signals: Default::default() };
        loop {
            // Shutdown wins at any await point: mid-snapshot, mid-batch or while backing off.
            let error = tokio::select! {
                error = follower.session() => error,
                _ = shutdown.wait_for(|stop| *stop) => return,
            };
            warn!(error = %error, "host lost; keeping its rows and reconnecting");
            let (host_id, message) = (follower.host.id, error.to_string());
            if let Err(e) = blocking(follower.fleet.store(), move |s| s.mark_offline(host_id, &message)).await {
                warn!(error = %e, "could not record the host as offline");
            }
            follower.fleet.publish(MirrorUpdate::Status {
                host_id: follower.host.id,
                host: follower.host.name().to_owned(),
                state: Reachability::Offline,
                error: Some(error.to_string()),
                rtt_ms: None,
            });
            let wait = follower.backoff.step();
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
        }
    }
    .instrument(span)
    .await
}

struct Follower {
    fleet: Arc<Fleet>,
    host: Host,
    backoff: Backoff,
    /// Container verbs seen lately that changed nothing yet (`kill` before its `die`), so the
    /// audit log names an out-of-band change by what was done.
    signals: std::collections::HashMap<String, (Vec<String>, std::time::Instant)>,
}

/// How long a verb that changed nothing is kept for naming the change that follows it.
const SIGNAL_MEMORY: Duration = Duration::from_secs(5);

/// Aborts the event-reading task when the session ends, however it ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Follower {
    fn status(&self, state: Reachability, rtt_ms: Option<f64>) {
        self.fleet.publish(MirrorUpdate::Status { host_id: self.host.id, host: self.host.name().to_owned(), state, error: None, rtt_ms });
    }

    fn store(&self) -> &Arc<Store> {
        self.fleet.store()
    }

    /// One connected stretch: subscribe, snapshot, then apply events until something fails;
    /// returns what failed.
    async fn session(&mut self) -> Error {
        match self.connected().await {
            Ok(never) => match never {},
            Err(error) => error,
        }
    }

    async fn connected(&mut self) -> Result<std::convert::Infallible> {
        let host_id = self.host.id;
        self.status(Reachability::Connecting, None);
        let engine = self.fleet.engine_for(&self.host).await?;
        let rtt_ms = engine.ping_rtt().await?;
        let info = engine.info().await?;
        // Subscribe before listing, replaying from a second before now: an event that lands
        // while we list is then both in the listing or after it, never lost between the two.
        let last_event_ns = blocking(self.store(), move |s| s.last_event_ns(host_id)).await?;
        let snapshot_ns = info.now_ns();
        let replay_from_s = (snapshot_ns / 1_000_000_000 - 1).min(last_event_ns.map(|ns| ns / 1_000_000_000).unwrap_or(i64::MAX));
        let (tx, mut rx) = mpsc::channel(4 * BATCH_MAX);
        let events = engine.events(replay_from_s);
        let _reader = AbortOnDrop(tokio::spawn(async move {
            let mut events = std::pin::pin!(events);
            while let Some(item) = events.next().await {
                if tx.send(item).await.is_err() {
                    return;
                }
            }
        }));

        let snapshot = engine.snapshot(Some(info)).await?;
        let counts = counts(&snapshot);
        let name = self.host.name().to_owned();
        let crashed = blocking(self.store(), move |s| {
            s.mark_online(host_id, &snapshot.engine)?;
            s.touch_seen(host_id, rtt_ms)?;
            let mut crashed = Vec::new();
            s.write_snapshot_recorded(host_id, &snapshot, Some(snapshot_ns), |seen| {
                crashed = crate::monitor::alerts::crashed_meanwhile(seen, &snapshot);
                resync_rows(&name, seen, &snapshot)
            })?;
            Ok(crashed)
        })
        .await?;
        if !crashed.is_empty() {
            let (store, engine, host) = (Arc::clone(self.store()), engine.clone(), self.host.clone());
            tokio::spawn(async move { crate::monitor::alerts::on_resync(&store, &engine, &host, crashed).await });
        }
        self.backoff.reset();
        info!(containers = counts.containers, images = counts.images, "snapshot written; following events");
        self.status(Reachability::Online, Some(rtt_ms));
        let name = self.host.name().to_owned();
        self.fleet.publish(MirrorUpdate::Snapshot { host_id, host: name, containers: counts.containers });

        let mut ping = tokio::time::interval(PING_EVERY);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ping.tick().await;
        loop {
            tokio::select! {
                first = rx.recv() => {
                    let mut batch = Vec::with_capacity(16);
                    let mut failure = None;
                    let mut next = first;
                    loop {
                        match next {
                            None => {
                                failure = Some(Error::Unreachable {
                                    host: self.host.name().to_owned(),
                                    url: self.host.config.endpoint.to_string(),
                                    reason: "the event stream ended (the daemon stopped or the link dropped)".into(),
                                });
                                break;
                            }
                            Some(Err(e)) => {
                                failure = Some(e);
                                break;
                            }
                            Some(Ok(record)) => batch.push(record),
                        }
                        if batch.len() >= BATCH_MAX {
                            break;
                        }
                        match rx.try_recv() {
                            Ok(item) => next = Some(item),
                            Err(mpsc::error::TryRecvError::Empty) => break,
                            Err(mpsc::error::TryRecvError::Disconnected) => next = None,
                        }
                    }
                    if !batch.is_empty() {
                        self.apply(&engine, batch, snapshot_ns).await?;
                    }
                    if let Some(e) = failure {
                        return Err(e);
                    }
                }
                _ = ping.tick() => {
                    let rtt_ms = engine.ping_rtt().await?;
                    blocking(self.store(), move |s| s.touch_seen(host_id, rtt_ms)).await?;
                    self.status(Reachability::Online, Some(rtt_ms));
                }
            }
        }
    }

    /// Store a batch of events and rewrite exactly the rows they touch. Events older than the
    /// snapshot (replayed history) are stored but change nothing: the snapshot already has them.
    async fn apply(&mut self, engine: &Engine, records: Vec<EventRecord>, snapshot_ns: i64) -> Result<()> {
        let started = std::time::Instant::now();
        let touched = Touched::from_events(records.iter().filter(|r| r.time_ns >= snapshot_ns));
        let changes = touched.reinspect(engine).await?;
        let newest_event_ns = records.iter().map(|r| r.time_ns).max().unwrap_or(0);
        let oldest_event_ns = records.iter().map(|r| r.time_ns).min().unwrap_or(0);
        let containers: Vec<String> = touched.containers.iter().chain(&touched.removed_containers).cloned().collect();
        let inspected = started.elapsed();
        let host_id = self.host.id;
        let (events, rows) = (records.len(), changes.len());
        self.signals.retain(|_, (_, at)| at.elapsed() < SIGNAL_MEMORY);
        let earlier: std::collections::HashMap<String, Vec<String>> = self.signals.iter().map(|(id, (verbs, _))| (id.clone(), verbs.clone())).collect();
        let host = self.host.name().to_owned();
        let recorded = blocking(self.store(), move |s| {
            let mut recorded: Vec<String> = Vec::new();
            let mut claimed: Vec<String> = Vec::new();
            let mut fresh: Vec<EventRecord> = Vec::new();
            s.apply_events_recorded(host_id, &records, &changes, |seen| {
                let rows = external_rows(&host, seen, &changes, &earlier);
                recorded = rows.iter().filter_map(|r| r.object.id.clone()).collect();
                claimed = seen.claimed.iter().cloned().collect();
                fresh = seen.fresh.iter().map(|e| (*e).clone()).collect();
                rows
            })?;
            // A Berth request's verbs are its own: they name no later out-of-band change.
            recorded.extend(claimed);
            // Verbs of this batch that changed nothing are kept for the next one.
            let verbs: Vec<(String, String)> = records
                .iter()
                .filter(|e| e.kind == "container" && e.time_ns >= snapshot_ns)
                .filter_map(|e| Some((e.actor_id.clone()?, e.action.split(':').next().unwrap_or_default().trim().to_owned())))
                .collect();
            Ok((recorded, verbs, fresh))
        })
        .await?;
        let (recorded, verbs, fresh) = recorded;
        if !fresh.is_empty() {
            // This process stored these events first: it alone raises their alerts.
            let (store, engine, host) = (std::sync::Arc::clone(self.store()), engine.clone(), self.host.clone());
            tokio::spawn(async move { crate::monitor::alerts::on_events(&store, &engine, &host, fresh).await });
        }
        for (id, verb) in verbs {
            if !recorded.contains(&id) {
                let entry = self.signals.entry(id).or_insert_with(|| (Vec::new(), std::time::Instant::now()));
                entry.0.push(verb);
            }
        }
        for id in &recorded {
            self.signals.remove(id);
        }
        debug!(events, rows, ?inspected, total = ?started.elapsed(), "applied events");
        if events > 0 {
            let host = self.host.name().to_owned();
            self.fleet.publish(MirrorUpdate::Events { host_id, host, containers, oldest_event_ns, newest_event_ns });
        }
        Ok(())
    }
}

/// What changed on a host while no follower watched it (seen when a snapshot replaces the
/// mirror's rows), as external rows; the first snapshot of a host records nothing.
fn resync_rows(host: &str, seen: &crate::store::SnapshotSeen, snapshot: &Snapshot) -> Vec<crate::audit::NewAuditRow> {
    use crate::audit;
    let before = seen.before.iter().filter(|row| !seen.claimed.contains(&row.id)).map(|row| (row.id.clone(), audit::row_summary(row))).collect();
    let after = snapshot.containers.iter().filter(|c| !seen.claimed.contains(&c.id)).map(|facts| (facts.id.clone(), audit::facts_summary(facts))).collect();
    audit::resync_rows(host, &audit::Op::new(audit::Via::External, None).id, &before, &after)
}

/// The out-of-band changes of a batch: its fresh container events, per container, against the
/// mirror's rows before and the re-inspected facts after ([`crate::audit::external_rows`]).
fn external_rows(
    host: &str,
    seen: &crate::store::BatchSeen<'_>,
    changes: &[Change],
    earlier: &std::collections::HashMap<String, Vec<String>>,
) -> Vec<crate::audit::NewAuditRow> {
    use crate::audit;
    let op = audit::Op::new(audit::Via::External, None).id;
    let touched: Vec<(&str, Option<serde_json::Value>)> = changes
        .iter()
        .filter_map(|c| match c {
            Change::UpsertContainer(facts) => Some((facts.id.as_str(), Some(audit::facts_summary(facts)))),
            Change::RemoveContainer(id) => Some((id.as_str(), None)),
            _ => None,
        })
        .collect();
    let each: Vec<audit::Seen<'_>> = touched
        .into_iter()
        .map(|(id, after)| {
            let before = seen.before.get(id);
            audit::Seen {
                id,
                name: before.map(|r| r.name.as_str()),
                events: seen.fresh.iter().copied().filter(|e| e.actor_id.as_deref() == Some(id)).collect(),
                before: before.map(audit::row_summary),
                after,
                claimed: seen.claimed.contains(id),
                earlier_verbs: earlier.get(id).cloned().unwrap_or_default(),
            }
        })
        .collect();
    audit::external_rows(host, &op, &each)
}

/// The objects a batch of events names, deduplicated: each is re-inspected once.
#[derive(Debug, Default, PartialEq, Eq)]
struct Touched {
    containers: BTreeSet<String>,
    removed_containers: BTreeSet<String>,
    images: BTreeSet<String>,
    networks: BTreeSet<String>,
    removed_networks: BTreeSet<String>,
    volumes: BTreeSet<String>,
    removed_volumes: BTreeSet<String>,
    engine: bool,
}

impl Touched {
    /// Re-inspect what the batch touched: the row changes to write.
    async fn reinspect(&self, engine: &Engine) -> Result<Vec<Change>> {
        let mut changes = Vec::new();
        for (id, found) in engine.containers(self.containers.iter().cloned().collect()).await? {
            changes.push(match found {
                Some(facts) => Change::UpsertContainer(facts),
                None => Change::RemoveContainer(id),
            });
        }
        changes.extend(self.removed_containers.iter().cloned().map(Change::RemoveContainer));
        for id in &self.images {
            changes.push(match engine.image(id).await? {
                Some(facts) => Change::UpsertImage(facts),
                None => Change::RemoveImage(id.clone()),
            });
        }
        for id in &self.networks {
            changes.push(match engine.network(id).await? {
                Some(facts) => Change::UpsertNetwork(facts),
                None => Change::RemoveNetwork(id.clone()),
            });
        }
        changes.extend(self.removed_networks.iter().cloned().map(Change::RemoveNetwork));
        for name in &self.volumes {
            changes.push(match engine.volume(name).await? {
                Some(facts) => Change::UpsertVolume(facts),
                None => Change::RemoveVolume(name.clone()),
            });
        }
        changes.extend(self.removed_volumes.iter().cloned().map(Change::RemoveVolume));
        if self.engine {
            changes.push(Change::Engine(engine.engine_facts().await?));
        }
        Ok(changes)
    }

    pub(crate) fn from_events<'a>(events: impl Iterator<Item = &'a EventRecord>) -> Touched {
        let mut t = Touched::default();
        for e in events {
            let Some(id) = e.actor_id.clone() else { continue };
            // "health_status: healthy", "exec_start: sh" → the verb before the colon.
            let action = e.action.split(':').next().unwrap_or_default().trim();
            match (e.kind.as_str(), action) {
                ("container", "destroy") => {
                    t.containers.remove(&id);
                    t.removed_containers.insert(id);
                }
                // `kill` only sends a signal (a `die` follows if the process ends); inspecting then
                // would wait tens of ms on the container's lock while the daemon handles the exit.
                ("container", "create" | "start" | "restart" | "die" | "oom" | "stop" | "pause" | "unpause" | "rename" | "update" | "health_status")
                    if !t.removed_containers.contains(&id) =>
                {
                    t.containers.insert(id);
                }
                ("network", verb) => {
                    if let Some(container) = e.attributes.get("container") {
                        if !t.removed_containers.contains(container) {
                            t.containers.insert(container.clone());
                        }
                    }
                    if verb == "destroy" || verb == "remove" {
                        t.networks.remove(&id);
                        t.removed_networks.insert(id);
                    } else if !t.removed_networks.contains(&id) {
                        t.networks.insert(id);
                    }
                }
                ("image", "push" | "save") => {}
                ("image", _) => {
                    t.images.insert(id);
                }
                ("volume", "destroy") => {
                    t.volumes.remove(&id);
                    t.removed_volumes.insert(id);
                }
                ("volume", "create") => {
                    t.volumes.insert(id);
                }
                ("daemon", _) => t.engine = true,
                _ => {}
            }
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: &str, action: &str, id: &str, attrs: &[(&str, &str)]) -> EventRecord {
        EventRecord {
            time_ns: 1,
            kind: kind.into(),
            action: action.into(),
            actor_id: Some(id.into()),
            actor_name: None,
            attributes: attrs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }

    fn set(ids: &[&str]) -> BTreeSet<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn events_name_exactly_the_rows_they_touch() {
        let events = [
            event("container", "create", "a", &[]),
            event("container", "start", "a", &[]),
            event("container", "exec_start: sh", "b", &[]),
            event("container", "health_status: healthy", "c", &[]),
            event("container", "die", "d", &[]),
            event("container", "kill", "f", &[]),
            event("container", "destroy", "d", &[]),
            event("network", "connect", "n1", &[("container", "e")]),
            event("network", "destroy", "n2", &[]),
            event("image", "untag", "sha256:i", &[]),
            event("volume", "create", "v1", &[]),
            event("volume", "mount", "v2", &[]),
            event("volume", "destroy", "v3", &[]),
        ];
        let t = Touched::from_events(events.iter());
        assert_eq!(t.containers, set(&["a", "c", "e"]));
        assert_eq!(t.removed_containers, set(&["d"]));
        assert_eq!(t.networks, set(&["n1"]));
        assert_eq!(t.removed_networks, set(&["n2"]));
        assert_eq!(t.images, set(&["sha256:i"]));
        assert_eq!(t.volumes, set(&["v1"]));
        assert_eq!(t.removed_volumes, set(&["v3"]));
        assert!(!t.engine);
    }

    #[test]
    fn backoff_doubles_to_the_cap_and_resets() {
        let mut b = Backoff::new();
        let steps: Vec<_> = (0..8).map(|_| b.step()).collect();
        assert_eq!(steps[0], BACKOFF_FIRST);
        assert_eq!(steps[1], BACKOFF_FIRST * 2);
        assert_eq!(*steps.last().unwrap(), BACKOFF_CAP);
        b.reset();
        assert_eq!(b.step(), BACKOFF_FIRST);
    }
}
