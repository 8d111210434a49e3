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
}

impl NewAlert {
    /// One open alert per kind, host and container.
    pub fn key(&self) -> String {
        format!("{}/{}/{}", self.kind, self.host, self.container_id.as_deref().unwrap_or("-"))
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
}
