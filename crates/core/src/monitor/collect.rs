//! The collector: per host, one task (beside its follower) that samples every running
//! container every [`SAMPLE_EVERY`] and writes the figures to the history, one transaction per
//! host per tick. The desktop app runs one per host and so does `berth sync` following; across
//! the processes on a store only one collects a host at a time (`Store::claim_collector`), the
//! others read what it writes.

use crate::store::now_ms;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::live;
use super::sample::Sampler;
use crate::fleet::Fleet;
use crate::model::Host;
use crate::store::metrics::MetricSample;
use crate::sync::blocking;

/// Between two samples of a host's containers.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(10);
/// A collector's claim on a host lasts this many ticks without renewal.
const CLAIM_TICKS: u32 = 3;
/// The history is pruned every this many ticks.
const PRUNE_TICKS: u64 = 30;

/// This process's name in the collectors' claims.
fn holder() -> String {
    use std::sync::OnceLock;
    static HOLDER: OnceLock<String> = OnceLock::new();
    HOLDER.get_or_init(|| format!("{}-{}", std::process::id(), now_ms())).clone()
}

/// Collect `host` until `shutdown` turns true.
pub async fn collect(fleet: Arc<Fleet>, host: Host, every: Duration, mut shutdown: watch::Receiver<bool>) {
    let mut sampler = Sampler::default();
    let mut seen: Vec<String> = Vec::new();
    let mut offline_since: Option<std::time::Instant> = None;
    let mut ticks: u64 = 0;
    let mut told: Option<String> = None;
    let ttl = (every * CLAIM_TICKS).as_millis() as i64;
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = shutdown.changed() => break,
        }
        if *shutdown.borrow() {
            break;
        }
        let (id, me) = (host.id, holder());
        let ours = blocking(fleet.store(), move |s| s.claim_collector(id, &me, now_ms(), ttl)).await.unwrap_or(false);
        if !ours {
            continue; // another Berth on this store collects it
        }
        ticks += 1;
        let result = tick(&fleet, &host, &mut sampler, &mut seen).await;
        let sampler_failed = result.as_ref().is_err_and(crate::Error::is_connection);
        match result {
            Ok(()) => {
                if sampler.fallback != told {
                    if let Some(why) = &sampler.fallback {
                        tracing::info!(host = host.name(), "{why}");
                    }
                    told = sampler.fallback.clone();
                }
            }
            Err(e) => {
                // Offline: a gap in the history, not zeros; the reader starts again.
                tracing::debug!(host = host.name(), %e, "no sample this tick");
                sampler = Sampler::default();
                seen.clear();
                if e.is_connection() {
                    offline_since.get_or_insert_with(std::time::Instant::now);
                }
            }
        }
        // Offline as the follower found it (a host with nothing running is asked nothing here).
        let id = host.id;
        let marked = blocking(fleet.store(), move |s| Ok(s.host_summaries()?.into_iter().find(|h| h.id == id).map(|h| h.status))).await.ok().flatten();
        if marked == Some(crate::model::Reachability::Offline) {
            offline_since.get_or_insert_with(std::time::Instant::now);
        } else if marked == Some(crate::model::Reachability::Online) && !sampler_failed {
            offline_since = None;
        }
        // The rules: thresholds from the history just written, a host offline too long.
        let (offline_for, h) = (offline_since.map(|t| t.elapsed()), host.clone());
        if let Err(e) = blocking(fleet.store(), move |s| super::rules::evaluate(s, &h, offline_for)).await {
            tracing::warn!(%e, "could not evaluate the alert rules");
        }
        if ticks % PRUNE_TICKS == 1 {
            if let Err(e) = blocking(fleet.store(), |s| s.prune_points(now_ms())).await {
                tracing::warn!(%e, "could not prune the history");
            }
        }
    }
    let (id, me) = (host.id, holder());
    let _ = blocking(fleet.store(), move |s| s.release_collector(id, &me)).await;
}

/// One sample of every running container of `host`, written to the history; a container's
/// first reading only starts its CPU % (`seen`: the containers read last tick).
async fn tick(fleet: &Fleet, host: &Host, sampler: &mut Sampler, seen: &mut Vec<String>) -> crate::Result<()> {
    let rows = live::tick(fleet, host, sampler, &|_, _| true).await?;
    let before = std::mem::replace(seen, rows.iter().map(|r| r.id.clone()).collect());
    let rows: Vec<_> = rows.into_iter().filter(|r| before.contains(&r.id)).collect();
    let name = host.name().to_owned();
    let labels = blocking(fleet.store(), move |s| s.containers(&crate::store::ContainerFilter { host: Some(name), ..Default::default() })).await?;
    let samples: Vec<MetricSample> = rows
        .into_iter()
        .map(|row| {
            let container = labels.iter().find(|c| c.id == row.id);
            let label = |key: &str| container.and_then(|c| c.labels.get(key)).cloned();
            MetricSample {
                app: label(crate::apps::LABEL_APP).or_else(|| label("com.docker.compose.project")),
                env: label(crate::apps::LABEL_ENV).or_else(|| label("com.docker.compose.project").map(|_| "compose".to_owned())),
                container: row.id,
                name: row.name,
                figures: row.figures,
            }
        })
        .collect();
    let (host_id, time_ms) = (host.id, now_ms());
    blocking(fleet.store(), move |s| s.record_samples(host_id, time_ms, &samples)).await
}

/// Collect every host until `shutdown` turns true (`berth sync` following).
pub async fn collect_all(fleet: Arc<Fleet>, hosts: Vec<Host>, every: Duration, shutdown: watch::Receiver<bool>) {
    let tasks: Vec<_> = hosts.into_iter().map(|host| tokio::spawn(collect(Arc::clone(&fleet), host, every, shutdown.clone()))).collect();
    for task in tasks {
        let _ = task.await;
    }
}
