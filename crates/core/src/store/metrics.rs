//! Container figures over time (migration 8): one series per container, its points in
//! [`TIERS`] (every sample for 2 h, per minute for 48 h, per ten minutes for 30 days), each
//! point the avg/min/max of the samples in its bucket and the counters as at its end. One
//! transaction per host per tick ([`Store::record_samples`]) folds the tick into every tier;
//! [`Store::prune_points`] keeps each tier within its age, so the file stays bounded. The
//! collector of each host is one process at a time ([`Store::claim_collector`]).

use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::Store;
use crate::error::{Error, Result, StoreContext};
use crate::model::Figures;

/// A history tier: the width of its buckets and how long they are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tier {
    pub bucket_ms: i64,
    pub keep_ms: i64,
}

const HOUR_MS: i64 = 3_600_000;

/// Raw 10 s for 2 h, 1 min for 48 h, 10 min for 30 days.
pub const TIERS: [Tier; 3] = [
    Tier { bucket_ms: 10_000, keep_ms: 2 * HOUR_MS },
    Tier { bucket_ms: 60_000, keep_ms: 48 * HOUR_MS },
    Tier { bucket_ms: 600_000, keep_ms: 30 * 24 * HOUR_MS },
];

/// One container's figures at one tick, as the store keeps them.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricSample {
    pub container: String,
    pub name: String,
    pub app: Option<String>,
    pub env: Option<String>,
    pub figures: Figures,
}

/// A point of a series: a bucket's samples folded.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct MetricPoint {
    /// The bucket's start, RFC 3339.
    pub time: String,
    pub time_ms: i64,
    /// Samples folded into it.
    pub samples: i64,
    pub cpu_percent: f64,
    pub cpu_min: f64,
    pub cpu_max: f64,
    pub mem_used: f64,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub mem_min: i64,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub mem_max: i64,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub mem_limit: i64,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub net_rx: i64,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub net_tx: i64,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub blk_read: i64,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub blk_write: i64,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub pids: i64,
}

/// A container's history: where it ran, its name, the tier read and the points.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct History {
    pub host: String,
    pub container: String,
    pub name: String,
    /// The width of a point, in seconds.
    pub step_s: i64,
    pub points: Vec<MetricPoint>,
}

fn clamp(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Store {
    /// Fold one tick of `host_id`'s samples (taken at `time_ms`) into every tier, in one
    /// transaction.
    pub fn record_samples(&self, host_id: i64, time_ms: i64, samples: &[MetricSample]) -> Result<()> {
        if samples.is_empty() {
            return Ok(());
        }
        self.write_tx("record the containers' figures", |tx| {
            let mut series = tx
                .prepare_cached(
                    "INSERT INTO metric_series (host_id, container, name, app, env, last_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (host_id, container) DO UPDATE SET name = excluded.name, app = excluded.app, env = excluded.env, last_ms = excluded.last_ms
                     RETURNING id",
                )
                .store_context(|| "recording a series".into())?;
            // In DO UPDATE every column named is the old row's: n is the count before this sample.
            let mut point = tx
                .prepare_cached(
                    "INSERT INTO metric_points (series, tier, time_ms, n, cpu_avg, cpu_min, cpu_max, mem_avg, mem_min, mem_max, mem_limit,
                                                net_rx, net_tx, blk_read, blk_write, pids)
                     VALUES (?1, ?2, ?3, 1, ?4, ?4, ?4, ?5, ?5, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                     ON CONFLICT (series, tier, time_ms) DO UPDATE SET
                        n = n + 1,
                        cpu_avg = (cpu_avg * n + excluded.cpu_avg) / (n + 1),
                        cpu_min = min(cpu_min, excluded.cpu_min),
                        cpu_max = max(cpu_max, excluded.cpu_max),
                        mem_avg = (mem_avg * n + excluded.mem_avg) / (n + 1),
                        mem_min = min(mem_min, excluded.mem_min),
                        mem_max = max(mem_max, excluded.mem_max),
                        mem_limit = excluded.mem_limit,
                        net_rx = excluded.net_rx, net_tx = excluded.net_tx,
                        blk_read = excluded.blk_read, blk_write = excluded.blk_write,
                        pids = excluded.pids",
                )
                .store_context(|| "recording a point".into())?;
            for s in samples {
                let f = &s.figures;
                let id: i64 = series
                    .query_row(params![host_id, s.container, s.name, s.app, s.env, time_ms], |r| r.get(0))
                    .store_context(|| format!("recording the series of {}", s.name))?;
                for (tier, t) in TIERS.iter().enumerate() {
                    let bucket = time_ms - time_ms.rem_euclid(t.bucket_ms);
                    point
                        .execute(params![
                            id,
                            tier as i64,
                            bucket,
                            f.cpu_percent,
                            clamp(f.mem_used),
                            clamp(f.mem_limit),
                            clamp(f.net_rx),
                            clamp(f.net_tx),
                            clamp(f.blk_read),
                            clamp(f.blk_write),
                            clamp(f.pids)
                        ])
                        .store_context(|| format!("recording a point of {}", s.name))?;
                }
            }
            Ok(())
        })
    }

    /// Drop the points each tier keeps no longer, and the series left with none. Returns the
    /// points dropped.
    pub fn prune_points(&self, now_ms: i64) -> Result<usize> {
        self.write_tx("prune the history", |tx| {
            let mut dropped = 0;
            for (tier, t) in TIERS.iter().enumerate() {
                dropped += tx
                    .execute("DELETE FROM metric_points WHERE tier = ?1 AND time_ms < ?2", params![tier as i64, now_ms - t.keep_ms])
                    .store_context(|| "pruning the history".into())?;
            }
            tx.execute(
                "DELETE FROM metric_series WHERE last_ms < ?1 AND NOT EXISTS (SELECT 1 FROM metric_points p WHERE p.series = metric_series.id)",
                [now_ms - TIERS[2].keep_ms],
            )
            .store_context(|| "pruning the history".into())?;
            Ok(dropped)
        })
    }

    /// A container's points since `since_ms` from the finest tier that reaches that far back.
    /// `query` is an id, an id prefix, a name or `HOST/NAME` (the latest series of that name;
    /// its container may be gone).
    pub fn history(&self, query: &str, since_ms: i64, now_ms: i64) -> Result<History> {
        let conn = self.conn();
        let (host, name) = match query.split_once('/') {
            Some((h, n)) if !h.is_empty() => (Some(h), n),
            _ => (None, query.trim_start_matches('/')),
        };
        if name.is_empty() {
            return Err(Error::invalid("container", "give an id, an id prefix, a name or HOST/NAME"));
        }
        let found: Option<(i64, String, String, String)> = conn
            .query_row(
                "SELECT s.id, h.name, s.container, s.name FROM metric_series s JOIN hosts h ON h.id = s.host_id
                 WHERE (s.name = ?1 OR s.container = ?1 OR (length(?1) >= 4 AND s.container >= ?1 AND s.container < ?1 || 'g'))
                   AND (?2 IS NULL OR h.name = ?2)
                 ORDER BY s.last_ms DESC LIMIT 1",
                params![name, host],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()
            .store_context(|| "looking up a container's history".into())?;
        let Some((series, host, container, name)) = found else {
            return Err(Error::invalid("container", format!("no history of {query}: figures are kept while `berth sync` or the app runs (see `berth ps -a`)")));
        };
        let age = now_ms - since_ms;
        let tier = TIERS.iter().position(|t| t.keep_ms >= age).unwrap_or(TIERS.len() - 1);
        let mut stmt = conn
            .prepare_cached(
                "SELECT time_ms, n, cpu_avg, cpu_min, cpu_max, mem_avg, mem_min, mem_max, mem_limit, net_rx, net_tx, blk_read, blk_write, pids
                 FROM metric_points WHERE series = ?1 AND tier = ?2 AND time_ms >= ?3 ORDER BY time_ms",
            )
            .store_context(|| "reading a container's history".into())?;
        let start = since_ms - since_ms.rem_euclid(TIERS[tier].bucket_ms);
        let points = stmt
            .query_map(params![series, tier as i64, start], |r| {
                let time_ms: i64 = r.get(0)?;
                Ok(MetricPoint {
                    time: crate::time::rfc3339_ms(time_ms),
                    time_ms,
                    samples: r.get(1)?,
                    cpu_percent: r.get(2)?,
                    cpu_min: r.get(3)?,
                    cpu_max: r.get(4)?,
                    mem_used: r.get(5)?,
                    mem_min: r.get(6)?,
                    mem_max: r.get(7)?,
                    mem_limit: r.get(8)?,
                    net_rx: r.get(9)?,
                    net_tx: r.get(10)?,
                    blk_read: r.get(11)?,
                    blk_write: r.get(12)?,
                    pids: r.get(13)?,
                })
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .store_context(|| "reading a container's history".into())?;
        Ok(History { host, container, name, step_s: TIERS[tier].bucket_ms / 1000, points })
    }

    /// Take (or keep) the right to collect `host_id`'s figures for `ttl_ms`: true when this
    /// `holder` has it, false when another process holds it and has not let it lapse.
    pub fn claim_collector(&self, host_id: i64, holder: &str, now_ms: i64, ttl_ms: i64) -> Result<bool> {
        self.write_tx("claim the collection of a host", |tx| {
            let changed = tx
                .execute(
                    "INSERT INTO monitor_leases (host_id, holder, until_ms) VALUES (?1, ?2, ?3)
                     ON CONFLICT (host_id) DO UPDATE SET holder = excluded.holder, until_ms = excluded.until_ms
                     WHERE monitor_leases.holder = excluded.holder OR monitor_leases.until_ms < ?4",
                    params![host_id, holder, now_ms + ttl_ms, now_ms],
                )
                .store_context(|| "claiming the collection of a host".into())?;
            Ok(changed > 0)
        })
    }

    /// Points kept in all, every tier (for the benchmark's size figure).
    pub fn metric_point_count(&self) -> Result<i64> {
        self.conn().query_row("SELECT count(*) FROM metric_points", [], |r| r.get(0)).store_context(|| "counting the history".into())
    }

    /// Let the collection of `host_id` go (the process is stopping), if `holder` has it.
    pub fn release_collector(&self, host_id: i64, holder: &str) -> Result<()> {
        self.conn()
            .execute("DELETE FROM monitor_leases WHERE host_id = ?1 AND holder = ?2", params![host_id, holder])
            .store_context(|| "letting the collection of a host go".into())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::HostConfig;

    fn sample(name: &str, cpu: f64, mem: u64) -> MetricSample {
        MetricSample {
            container: format!("{name}0000"),
            name: name.into(),
            app: None,
            env: None,
            figures: Figures { cpu_percent: cpu, mem_used: mem, mem_limit: 1000, mem_percent: 0.0, net_rx: 1, net_tx: 2, blk_read: 3, blk_write: 4, pids: 5 },
        }
    }

    fn store() -> (tempfile::TempDir, Store, i64) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("berth.db")).unwrap();
        let config =
            HostConfig { name: "h".into(), endpoint: crate::endpoint::Endpoint::parse("unix:///run/x.sock", None).unwrap(), labels: Default::default() };
        let host = store.add_host(&config).unwrap();
        (dir, store, host.id)
    }

    #[test]
    fn ticks_roll_up_into_every_tier_with_avg_min_max() {
        let (_dir, store, host) = store();
        let t0 = 1_800_000_000_000; // a ten-minute boundary (divisible by 600 000)
        for (i, (cpu, mem)) in [(10.0, 100), (30.0, 300), (20.0, 200)].into_iter().enumerate() {
            store.record_samples(host, t0 + i as i64 * 10_000, &[sample("web", cpu, mem)]).unwrap();
        }
        let raw = store.history("web", t0, t0 + 30_000).unwrap();
        assert_eq!((raw.step_s, raw.points.len()), (10, 3));
        assert_eq!(raw.points[1].cpu_percent, 30.0);
        // Two days back reads the minute tier: one point of the three samples.
        let minute = store.history("h/web", t0 + 30_000 - 47 * HOUR_MS, t0 + 30_000).unwrap();
        assert_eq!((minute.step_s, minute.points.len()), (60, 1));
        let p = &minute.points[0];
        assert_eq!((p.samples, p.cpu_min, p.cpu_max, p.mem_min, p.mem_max), (3, 10.0, 30.0, 100, 300));
        assert!((p.cpu_percent - 20.0).abs() < 1e-9 && (p.mem_used - 200.0).abs() < 1e-9);
        assert_eq!((p.net_rx, p.blk_write, p.pids), (1, 4, 5), "the counters as at the bucket's end");
        let ten = store.history("web0", t0 - 20 * 24 * HOUR_MS, t0 + 30_000).unwrap();
        assert_eq!((ten.step_s, ten.points.len(), ten.points[0].samples), (600, 1, 3));
        assert!(store.history("nosuch", t0, t0).unwrap_err().to_string().contains("no history of nosuch"));
    }

    #[test]
    fn each_tier_keeps_its_age_and_the_file_stays_bounded() {
        let (_dir, store, host) = store();
        let now = 1_800_000_000_000;
        for minutes_ago in [0, 3 * 60, 50 * 60, 31 * 24 * 60] {
            store.record_samples(host, now - minutes_ago * 60_000, &[sample("web", 1.0, 1)]).unwrap();
        }
        store.prune_points(now).unwrap();
        let count = |tier: i64| -> i64 { store.conn().query_row("SELECT count(*) FROM metric_points WHERE tier = ?1", [tier], |r| r.get(0)).unwrap() };
        assert_eq!((count(0), count(1), count(2)), (1, 2, 3), "raw: 2 h; minutes: 48 h; ten minutes: 30 days");
    }

    #[test]
    fn one_collector_per_host_until_its_claim_lapses() {
        let (_dir, store, host) = store();
        assert!(store.claim_collector(host, "a", 1_000, 30_000).unwrap());
        assert!(!store.claim_collector(host, "b", 2_000, 30_000).unwrap(), "a holds it");
        assert!(store.claim_collector(host, "a", 2_000, 30_000).unwrap(), "a renews");
        assert!(store.claim_collector(host, "b", 40_000, 30_000).unwrap(), "a's claim lapsed");
        store.release_collector(host, "b").unwrap();
        assert!(store.claim_collector(host, "a", 41_000, 30_000).unwrap());
    }
}
