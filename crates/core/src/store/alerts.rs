//! Alerts (migration 9): raised from events, one open alert per key (its kind, host and
//! container) until its condition clears; acknowledged and muted by people.

use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::Store;
use crate::error::{Error, Result, StoreContext};

/// An alert to raise.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAlert {
    pub time_ms: i64,
    pub host: String,
    pub container: Option<String>,
    pub container_id: Option<String>,
    /// `exit`, `oom`, `restart_loop`, `unhealthy`, `host_offline` or `threshold`.
    pub kind: &'static str,
    pub exit_code: Option<i64>,
    pub detail: String,
    /// The container's last log lines at that moment.
    pub logs: Option<String>,
    /// The rule that raised it (a threshold).
    pub rule: Option<i64>,
}

impl NewAlert {
    /// One open alert per kind, host and container (a threshold: per rule, too).
    pub fn key(&self) -> String {
        match self.rule {
            Some(rule) => format!("{}/{rule}/{}/{}", self.kind, self.host, self.container_id.as_deref().unwrap_or("-")),
            None => format!("{}/{}/{}", self.kind, self.host, self.container_id.as_deref().unwrap_or("-")),
        }
    }
}

/// An alert as `berth alerts --json` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct AlertRow {
    pub id: i64,
    /// When it was raised, RFC 3339.
    pub time: String,
    pub host: String,
    pub container: Option<String>,
    pub container_id: Option<String>,
    pub kind: String,
    pub exit_code: Option<i64>,
    pub detail: String,
    pub logs: Option<String>,
    pub open: bool,
    pub acked: bool,
    /// Muted until then (RFC 3339): shown, but no notification.
    pub muted_until: Option<String>,
    pub closed: Option<String>,
}

const COLUMNS: &str = "id, time_ms, host, container, container_id, kind, exit_code, detail, logs, open, acked, muted_until_ms, closed_ms";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AlertRow> {
    let time = |ms: Option<i64>| ms.map(crate::time::rfc3339_ms);
    Ok(AlertRow {
        id: r.get(0)?,
        time: crate::time::rfc3339_ms(r.get(1)?),
        host: r.get(2)?,
        container: r.get(3)?,
        container_id: r.get(4)?,
        kind: r.get(5)?,
        exit_code: r.get(6)?,
        detail: r.get(7)?,
        logs: r.get(8)?,
        open: r.get(9)?,
        acked: r.get(10)?,
        muted_until: time(r.get(11)?),
        closed: time(r.get(12)?),
    })
}

impl Store {
    /// Raise `alert`: the new row, or `None` when one of its key is open already.
    pub fn raise_alert(&self, alert: &NewAlert) -> Result<Option<AlertRow>> {
        let conn = self.conn();
        conn.query_row(
            &format!(
                "INSERT INTO alerts (key, time_ms, host, container, container_id, kind, exit_code, detail, logs)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT (key) WHERE open = 1 DO NOTHING RETURNING {COLUMNS}"
            ),
            params![alert.key(), alert.time_ms, alert.host, alert.container, alert.container_id, alert.kind, alert.exit_code, alert.detail, alert.logs],
            row,
        )
        .optional()
        .store_context(|| format!("raising a {} alert", alert.kind))
    }

    /// Close the open alerts of these kinds for a container (its condition cleared).
    pub fn close_alerts(&self, host: &str, container_id: &str, kinds: &[&str], now_ms: i64) -> Result<usize> {
        let conn = self.conn();
        let mut closed = 0;
        for kind in kinds {
            closed += conn
                .execute(
                    "UPDATE alerts SET open = 0, closed_ms = ?4 WHERE open = 1 AND host = ?1 AND container_id = ?2 AND kind = ?3",
                    params![host, container_id, kind, now_ms],
                )
                .store_context(|| "closing alerts".into())?;
        }
        Ok(closed)
    }

    /// The open alerts (`all`: every alert kept), newest first.
    pub fn alerts(&self, all: bool) -> Result<Vec<AlertRow>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(&format!("SELECT {COLUMNS} FROM alerts WHERE ?1 OR open = 1 ORDER BY time_ms DESC, id DESC LIMIT 1000"))
            .store_context(|| "reading alerts".into())?;
        let rows = stmt.query_map([all], row).and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>()).store_context(|| "reading alerts".into())?;
        Ok(rows)
    }

    /// Acknowledge an alert (someone is on it); `until_ms`: also mute it until then.
    pub fn ack_alert(&self, id: i64, until_ms: Option<i64>) -> Result<AlertRow> {
        let conn = self.conn();
        conn.query_row(
            &format!("UPDATE alerts SET acked = 1, muted_until_ms = coalesce(?2, muted_until_ms) WHERE id = ?1 RETURNING {COLUMNS}"),
            params![id, until_ms],
            row,
        )
        .optional()
        .store_context(|| "acknowledging an alert".into())?
        .ok_or_else(|| Error::invalid("alert", format!("there is no alert {id}; `berth alerts --all` lists them")))
    }

    /// A container's events of `action` stored since `since_ns` (a restart loop's deaths; the
    /// `kill` before a `die` that someone asked for).
    pub fn count_events(&self, host: &str, container_id: &str, action: &str, since_ns: i64) -> Result<i64> {
        self.conn()
            .query_row(
                "SELECT count(*) FROM events e JOIN hosts h ON h.id = e.host_id
                 WHERE h.name = ?1 AND e.actor_id = ?2 AND e.action = ?3 AND e.time_ns >= ?4",
                params![host, container_id, action, since_ns],
                |r| r.get(0),
            )
            .store_context(|| "counting a container's events".into())
    }
}

/// A rule people set (`berth alert rule add`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct RuleRow {
    pub id: i64,
    /// `cpu` or `memory` (a threshold from the history), or `host_offline`.
    pub kind: String,
    /// `container`, `app`, `host` or `any` (every container).
    pub scope: String,
    /// The container, app or host it watches (none for `any`).
    pub name: Option<String>,
    /// Percent: of one CPU for a container, of the host's CPUs for a host; of the limit (or
    /// the host's memory) for memory.
    pub threshold: Option<f64>,
    /// For how long the condition holds before it is an alert, in seconds.
    pub for_s: i64,
    /// A command run with the alert as JSON in `BERTH_ALERT` (headless notification).
    pub command: Option<String>,
}

/// What a threshold rule's window of history shows: the points it has, and the lowest value.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    pub host: String,
    pub container: Option<String>,
    pub container_id: Option<String>,
    pub points: i64,
    pub lowest: f64,
}

impl Store {
    pub fn add_alert_rule(&self, rule: &RuleRow) -> Result<RuleRow> {
        let conn = self.conn();
        let id: i64 = conn
            .query_row(
                "INSERT INTO alert_rules (kind, scope, name, threshold, for_s, command, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
                params![rule.kind, rule.scope, rule.name, rule.threshold, rule.for_s, rule.command, super::now_ms()],
                |r| r.get(0),
            )
            .store_context(|| "adding an alert rule".into())?;
        Ok(RuleRow { id, ..rule.clone() })
    }

    pub fn alert_rules(&self) -> Result<Vec<RuleRow>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT id, kind, scope, name, threshold, for_s, command FROM alert_rules ORDER BY id")
            .store_context(|| "reading alert rules".into())?;
        let rows = stmt
            .query_map([], |r| {
                Ok(RuleRow { id: r.get(0)?, kind: r.get(1)?, scope: r.get(2)?, name: r.get(3)?, threshold: r.get(4)?, for_s: r.get(5)?, command: r.get(6)? })
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .store_context(|| "reading alert rules".into())?;
        Ok(rows)
    }

    pub fn remove_alert_rule(&self, id: i64) -> Result<()> {
        let removed = self.conn().execute("DELETE FROM alert_rules WHERE id = ?1", [id]).store_context(|| "removing an alert rule".into())?;
        if removed == 0 {
            return Err(Error::invalid("alert rule", format!("there is no rule {id}; `berth alert rule ls` lists them")));
        }
        Ok(())
    }

    /// A threshold rule's window on `host`'s history since `since_ms`, per container (scope
    /// `container`/`any`) or for the whole app or host: the points there and the lowest value
    /// (CPU %: of one CPU per container, the replicas' average for an app, the sum over
    /// `host_cpus` for a host; memory %: of the limit, of `host_memory` for a host).
    pub fn threshold_windows(&self, rule: &RuleRow, host: &str, since_ms: i64, host_cpus: f64, host_memory: f64) -> Result<Vec<Window>> {
        let tier = super::metrics::TIERS.iter().position(|t| t.keep_ms >= rule.for_s * 1000).unwrap_or(2) as i64;
        let value = match (rule.kind.as_str(), rule.scope.as_str()) {
            ("cpu", "host") => "sum(p.cpu_min) / ?4",
            ("cpu", "app") => "avg(p.cpu_min)",
            ("cpu", _) => "min(p.cpu_min)",
            ("memory", "host") => "sum(CAST(p.mem_min AS REAL)) * 100.0 / ?5",
            (_, "app") => "avg(CAST(p.mem_min AS REAL) * 100.0 / max(p.mem_limit, 1))",
            _ => "min(CAST(p.mem_min AS REAL) * 100.0 / max(p.mem_limit, 1))",
        };
        let (filter, per_container) = match rule.scope.as_str() {
            "container" => ("s.name = ?6", true),
            "app" => ("s.app = ?6", false),
            "host" => ("?6 IS NULL OR h.name = ?6", false),
            _ => ("?6 IS NULL OR 1", true),
        };
        let group = if per_container { "s.id, p.time_ms" } else { "p.time_ms" };
        let outer_group = if per_container { "GROUP BY series" } else { "" };
        let sql = format!(
            "SELECT host, container, container_id, count(*), min(v) FROM (
                SELECT h.name AS host, s.name AS container, s.container AS container_id, s.id AS series, {value} AS v
                FROM metric_points p JOIN metric_series s ON s.id = p.series JOIN hosts h ON h.id = s.host_id
                WHERE p.tier = ?1 AND p.time_ms >= ?2 AND h.name = ?3 AND ({filter})
                GROUP BY {group}) {outer_group}"
        );
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&sql).store_context(|| "reading a rule's window".into())?;
        let rows = stmt
            .query_map(params![tier, since_ms, host, host_cpus.max(1.0), host_memory.max(1.0), rule.name], |r| {
                Ok(Window {
                    host: r.get(0)?,
                    container: if per_container { r.get(1)? } else { None },
                    container_id: if per_container { r.get(2)? } else { None },
                    points: r.get(3)?,
                    lowest: r.get::<_, Option<f64>>(4)?.unwrap_or(0.0),
                })
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .store_context(|| "reading a rule's window".into())?;
        Ok(rows.into_iter().filter(|w| w.points > 0).collect())
    }

    /// Close the open alerts of `key`.
    pub fn close_alert_key(&self, key: &str, now_ms: i64) -> Result<usize> {
        self.conn()
            .execute("UPDATE alerts SET open = 0, closed_ms = ?2 WHERE open = 1 AND key = ?1", params![key, now_ms])
            .store_context(|| "closing an alert".into())
    }

    /// The open alerts whose key starts with `prefix` (a rule's, a host's offline alert).
    pub fn open_alert_keys(&self, prefix: &str) -> Result<Vec<String>> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare_cached("SELECT key FROM alerts WHERE open = 1 AND substr(key, 1, length(?1)) = ?1").store_context(|| "reading alerts".into())?;
        let rows =
            stmt.query_map([prefix], |r| r.get(0)).and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>()).store_context(|| "reading alerts".into())?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(kind: &'static str, id: &str) -> NewAlert {
        NewAlert {
            time_ms: 1_000,
            host: "h".into(),
            container: Some("web".into()),
            container_id: Some(id.into()),
            kind,
            exit_code: Some(3),
            detail: "exited with code 3".into(),
            logs: Some("boom\n".into()),
            rule: None,
        }
    }

    #[test]
    fn one_open_alert_per_key_until_it_clears_then_a_new_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("berth.db")).unwrap();
        let first = store.raise_alert(&alert("exit", "a1")).unwrap().expect("raised");
        assert!(first.open && first.exit_code == Some(3) && first.logs.as_deref() == Some("boom\n"));
        assert_eq!(store.raise_alert(&alert("exit", "a1")).unwrap(), None, "open already");
        assert!(store.raise_alert(&alert("oom", "a1")).unwrap().is_some(), "another kind");
        assert_eq!(store.close_alerts("h", "a1", &["exit"], 2_000).unwrap(), 1);
        assert_eq!(store.alerts(false).unwrap().len(), 1);
        assert_eq!(store.alerts(true).unwrap().len(), 2);
        assert!(store.raise_alert(&alert("exit", "a1")).unwrap().is_some(), "cleared: a new crash is a new alert");
        let acked = store.ack_alert(first.id, Some(5_000)).unwrap();
        assert!(acked.acked && acked.muted_until.is_some());
        assert!(store.ack_alert(999, None).unwrap_err().to_string().contains("no alert 999"));
    }

    #[test]
    fn a_rule_window_reads_containers_apps_and_hosts_from_the_history() {
        use crate::model::Figures;
        use crate::store::metrics::MetricSample;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("berth.db")).unwrap();
        let config = crate::model::HostConfig {
            name: "h".into(),
            endpoint: crate::endpoint::Endpoint::parse("unix:///run/x.sock", None).unwrap(),
            labels: Default::default(),
        };
        let host = store.add_host(&config).unwrap();
        let sample = |name: &str, cpu: f64, mem: u64| MetricSample {
            container: format!("{name}-id"),
            name: name.into(),
            app: Some("shop".into()),
            env: Some("prod".into()),
            figures: Figures { cpu_percent: cpu, mem_used: mem, mem_limit: 1000, ..Figures::default() },
        };
        let t0 = 1_800_000_000_000;
        for i in 0..6 {
            store.record_samples(host.id, t0 + i * 10_000, &[sample("a", 80.0 + i as f64, 500), sample("b", 100.0, 900)]).unwrap();
        }
        let rule = |scope: &str, name: Option<&str>, kind: &str| RuleRow {
            id: 1,
            kind: kind.into(),
            scope: scope.into(),
            name: name.map(str::to_owned),
            threshold: Some(90.0),
            for_s: 60,
            command: None,
        };
        let one = store.threshold_windows(&rule("container", Some("a"), "cpu"), "h", t0, 2.0, 4000.0).unwrap();
        assert_eq!((one.len(), one[0].points, one[0].lowest, one[0].container.as_deref()), (1, 6, 80.0, Some("a")));
        let any = store.threshold_windows(&rule("any", None, "memory"), "h", t0, 2.0, 4000.0).unwrap();
        assert_eq!(any.iter().map(|w| w.lowest).collect::<Vec<_>>(), [50.0, 90.0], "memory % of each container's limit");
        let app = store.threshold_windows(&rule("app", Some("shop"), "cpu"), "h", t0, 2.0, 4000.0).unwrap();
        assert_eq!((app.len(), app[0].lowest, app[0].container.as_deref()), (1, 90.0, None), "the replicas' average");
        let whole = store.threshold_windows(&rule("host", Some("h"), "cpu"), "h", t0, 2.0, 4000.0).unwrap();
        assert_eq!(whole[0].lowest, 90.0, "the sum over the host's CPUs: (80 + 100) / 2");
        let memory = store.threshold_windows(&rule("host", None, "memory"), "h", t0, 2.0, 4000.0).unwrap();
        assert_eq!(memory[0].lowest, 35.0, "(500 + 900) of 4000");
        assert!(store.threshold_windows(&rule("container", Some("nosuch"), "cpu"), "h", t0, 2.0, 4000.0).unwrap().is_empty());
        // Rules are kept, listed and removed.
        let added = store.add_alert_rule(&rule("container", Some("a"), "cpu")).unwrap();
        assert_eq!(store.alert_rules().unwrap(), std::slice::from_ref(&added));
        store.remove_alert_rule(added.id).unwrap();
        assert!(store.remove_alert_rule(added.id).unwrap_err().to_string().contains("no rule"));
    }
}
