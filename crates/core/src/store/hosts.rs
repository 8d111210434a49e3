//! Hosts (configuration) and host_status (live reachability).

use std::collections::BTreeMap;
use std::path::PathBuf;

use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, OptionalExtension, Row};

use super::{now_ms, Store};
use crate::endpoint::{Endpoint, SshEndpoint, SshOptions, TlsFiles};
use crate::error::{Error, Result, StoreContext};
use crate::model::{EngineFacts, Host, HostConfig, HostKind, HostSummary, Reachability};
use crate::time::rfc3339_ms;

const HOST_COLUMNS: &str = "h.id, h.name, h.url, h.tls_ca, h.tls_cert, h.tls_key, h.labels, h.ssh";

fn host_from_row(row: &Row<'_>) -> rusqlite::Result<Host> {
    let url: String = row.get(2)?;
    let tls = match (row.get::<_, Option<String>>(3)?, row.get::<_, Option<String>>(4)?, row.get::<_, Option<String>>(5)?) {
        (Some(ca), Some(cert), Some(key)) => Some(TlsFiles { ca: PathBuf::from(ca), cert: cert.into(), key: key.into() }),
        _ => None,
    };
    let ssh: Option<SshOptions> = row.get::<_, Option<String>>(7)?.and_then(|s| serde_json::from_str(&s).ok());
    let endpoint = parse_stored_endpoint(&url, tls, ssh.unwrap_or_default())
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, Box::new(e)))?;
    let labels: String = row.get(6)?;
    Ok(Host { id: row.get(0)?, config: HostConfig { name: row.get(1)?, endpoint, labels: serde_json::from_str(&labels).unwrap_or_default() } })
}

/// Stored endpoints were validated when added; files are not re-checked on every read.
fn parse_stored_endpoint(url: &str, tls: Option<TlsFiles>, ssh: SshOptions) -> Result<Endpoint> {
    match Endpoint::parse(url, None)? {
        Endpoint::Tcp { host, port, .. } => Ok(Endpoint::Tcp { host, port, tls }),
        Endpoint::Ssh(ep) => Ok(Endpoint::Ssh(SshEndpoint { options: ssh, ..ep })),
        other => Ok(other),
    }
}

impl Store {
    /// Add a host. Names are unique; the endpoint was validated by [`Endpoint::parse`].
    pub fn add_host(&self, config: &HostConfig) -> Result<Host> {
        validate_host_name(&config.name)?;
        self.write_tx_recorded(&format!("add host {}", config.name), |tx| {
            let mut values = config_columns(config).to_vec();
            values.push(Value::Integer(now_ms()));
            tx.execute(
                "INSERT INTO hosts (name, url, tls_ca, tls_cert, tls_key, labels, ssh, added_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params_from_iter(values),
            )
            .map_err(|e| write_error(e, config, "adding"))?;
            Ok(Host { id: tx.last_insert_rowid(), config: config.clone() })
        })
    }

    /// Remove a host and everything mirrored from it.
    pub fn remove_host(&self, name: &str) -> Result<()> {
        self.write_tx_recorded(&format!("remove host {name}"), |tx| {
            let removed = tx.execute("DELETE FROM hosts WHERE name = ?1", [name]).store_context(|| format!("removing host {name:?}"))?;
            if removed == 0 {
                return Err(Error::HostNotFound { name: name.to_owned() });
            }
            Ok(())
        })
    }

    pub fn hosts(&self) -> Result<Vec<Host>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!("SELECT {HOST_COLUMNS} FROM hosts h ORDER BY h.name")).store_context(|| "listing hosts".into())?;
        let rows = stmt.query_map([], host_from_row).store_context(|| "listing hosts".into())?;
        rows.collect::<rusqlite::Result<_>>().store_context(|| "reading hosts".into())
    }

    pub fn host(&self, name: &str) -> Result<Host> {
        let conn = self.conn();
        conn.query_row(&format!("SELECT {HOST_COLUMNS} FROM hosts h WHERE h.name = ?1"), [name], host_from_row)
            .optional()
            .store_context(|| format!("looking up host {name:?}"))?
            .ok_or_else(|| Error::HostNotFound { name: name.to_owned() })
    }

    /// Config, live status and mirror size of every host, for `host ls` and the fleet view.
    pub fn host_summaries(&self) -> Result<Vec<HostSummary>> {
        self.summaries_where(None)
    }

    /// [`Store::host_summaries`] of one host.
    pub fn host_summary(&self, host_id: i64) -> Result<HostSummary> {
        self.summaries_where(Some(host_id))?.pop().ok_or_else(|| Error::HostNotFound { name: format!("#{host_id}") })
    }

    fn summaries_where(&self, host_id: Option<i64>) -> Result<Vec<HostSummary>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {HOST_COLUMNS}, s.status, ss.last_full_ms, s.api_version, s.last_seen_ms, s.last_error, s.rtt_ms,
                        (SELECT json_group_object(state, n) FROM
                            (SELECT state, count(*) AS n FROM containers c WHERE c.host_id = h.id GROUP BY state))
                 FROM hosts h
                 LEFT JOIN host_status s ON s.host_id = h.id
                 LEFT JOIN sync_state ss ON ss.host_id = h.id
                 WHERE ?1 IS NULL OR h.id = ?1
                 ORDER BY h.name"
            ))
            .store_context(|| "listing hosts".into())?;
        let rows = stmt
            .query_map([host_id], |row| {
                let host = host_from_row(row)?;
                let status: Option<String> = row.get(8)?;
                let last_full: Option<i64> = row.get(9)?;
                let states: BTreeMap<String, i64> = row.get::<_, Option<String>>(14)?.and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default();
                let endpoint = &host.config.endpoint;
                Ok(HostSummary {
                    id: host.id,
                    url: endpoint.to_string(),
                    kind: HostKind::of(endpoint),
                    tls: endpoint.tls().cloned(),
                    ssh: match endpoint {
                        Endpoint::Ssh(ep) => Some(ep.options.clone()),
                        _ => None,
                    },
                    status: match status.as_deref() {
                        Some("online") => Reachability::Online,
                        Some(_) => Reachability::Offline,
                        None => Reachability::Never,
                    },
                    last_sync: last_full.map(rfc3339_ms),
                    api_version: row.get(10)?,
                    containers: states.values().sum(),
                    states,
                    last_seen: row.get::<_, Option<i64>>(11)?.map(rfc3339_ms),
                    last_error: row.get(12)?,
                    rtt_ms: row.get(13)?,
                    labels: host.config.labels,
                    name: host.config.name,
                })
            })
            .store_context(|| "listing hosts".into())?;
        rows.collect::<rusqlite::Result<_>>().store_context(|| "reading hosts".into())
    }

    /// Replace a host's configuration (it may be renamed). When it now points at another engine,
    /// everything mirrored from the old one goes: it described a different daemon.
    pub fn update_host(&self, name: &str, config: &HostConfig) -> Result<Host> {
        validate_host_name(&config.name)?;
        let old = self.host(name)?;
        self.write_tx_recorded(&format!("edit host {name}"), |tx| {
            let mut values = config_columns(config).to_vec();
            values.push(Value::Integer(old.id));
            tx.execute(
                "UPDATE hosts SET name = ?1, url = ?2, tls_ca = ?3, tls_cert = ?4, tls_key = ?5, labels = ?6, ssh = ?7 WHERE id = ?8",
                params_from_iter(values),
            )
            .map_err(|e| write_error(e, config, "editing"))?;
            if old.config.endpoint.to_string() != config.endpoint.to_string() {
                for table in ["containers", "images", "networks", "volumes", "events", "sync_state", "host_status"] {
                    tx.execute(&format!("DELETE FROM {table} WHERE host_id = ?1"), [old.id])
                        .store_context(|| format!("forgetting the old mirror of host {name:?}"))?;
                }
            }
            Ok(Host { id: old.id, config: config.clone() })
        })
    }

    /// The daemon answered: record it as online with its engine facts.
    pub fn mark_online(&self, host_id: i64, engine: &EngineFacts) -> Result<()> {
        let now = now_ms();
        self.conn()
            .execute(
                "INSERT INTO host_status (host_id, status, api_version, server_version, info, last_seen_ms, last_error, changed_ms)
                 VALUES (?1, 'online', ?2, ?3, ?4, ?5, NULL, ?5)
                 ON CONFLICT (host_id) DO UPDATE SET
                    changed_ms = CASE WHEN status = 'online' THEN changed_ms ELSE excluded.changed_ms END,
                    status = 'online', api_version = excluded.api_version, server_version = excluded.server_version,
                    info = excluded.info, last_seen_ms = excluded.last_seen_ms, last_error = NULL",
                params![host_id, engine.api_version, engine.server_version, engine.info, now],
            )
            .store_context(|| "recording the host as online".into())?;
        Ok(())
    }

    /// The daemon did not answer (or the stream broke): keep every mirrored row, note why.
    pub fn mark_offline(&self, host_id: i64, error: &str) -> Result<()> {
        let now = now_ms();
        self.conn()
            .execute(
                "INSERT INTO host_status (host_id, status, last_error, changed_ms) VALUES (?1, 'offline', ?2, ?3)
                 ON CONFLICT (host_id) DO UPDATE SET
                    changed_ms = CASE WHEN status = 'offline' THEN changed_ms ELSE excluded.changed_ms END,
                    status = 'offline', last_error = excluded.last_error",
                params![host_id, error, now],
            )
            .store_context(|| "recording the host as offline".into())?;
        Ok(())
    }

    /// The daemon answered a keep-alive after `rtt_ms`.
    pub fn touch_seen(&self, host_id: i64, rtt_ms: f64) -> Result<()> {
        self.conn()
            .execute("UPDATE host_status SET last_seen_ms = ?2, rtt_ms = ?3 WHERE host_id = ?1", params![host_id, now_ms(), rtt_ms])
            .store_context(|| "recording the host as seen".into())?;
        Ok(())
    }
}

impl Store {
    /// Daemon time (ns) of the newest stored event of a host.
    pub fn last_event_ns(&self, host_id: i64) -> Result<Option<i64>> {
        self.conn()
            .query_row("SELECT last_event_ns FROM sync_state WHERE host_id = ?1", [host_id], |r| r.get(0))
            .optional()
            .map(Option::flatten)
            .store_context(|| "reading the sync state".into())
    }
}

/// The stored columns of a configuration: name, url, tls_ca, tls_cert, tls_key, labels, ssh.
fn config_columns(config: &HostConfig) -> [Value; 7] {
    let tls = config.endpoint.tls();
    let path = |p: Option<&PathBuf>| p.map_or(Value::Null, |p| Value::Text(p.to_string_lossy().into_owned()));
    [
        Value::Text(config.name.clone()),
        Value::Text(config.endpoint.to_string()),
        path(tls.map(|t| &t.ca)),
        path(tls.map(|t| &t.cert)),
        path(tls.map(|t| &t.key)),
        Value::Text(serde_json::to_string(&config.labels).expect("labels serialise")),
        ssh_options(&config.endpoint).map_or(Value::Null, Value::Text),
    ]
}

/// A failed write of a host's row: a taken name is the user's to fix, anything else the store's.
fn write_error(error: rusqlite::Error, config: &HostConfig, doing: &str) -> Error {
    if error.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation) {
        Error::HostExists { name: config.name.clone() }
    } else {
        Error::Store { context: format!("{doing} host {:?}", config.name), source: error }
    }
}

/// The options of an ssh:// endpoint as stored beside its URL.
fn ssh_options(endpoint: &Endpoint) -> Option<String> {
    let Endpoint::Ssh(ep) = endpoint else { return None };
    Some(serde_json::to_string(&ep.options).expect("options serialise"))
}

pub fn validate_host_name(name: &str) -> Result<()> {
    validate_name("host name", name, 64, "")
}

/// Names people type and Berth keeps: 1-`max` letters, digits, '-', '_' or '.', starting with a
/// letter or digit. `note` ends the error (why the rule, e.g. what else the name becomes).
pub(crate) fn validate_name(what: &'static str, name: &str, max: usize, note: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= max
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(what, format!("{name:?} must be 1-{max} letters, digits, '-', '_' or '.', starting with a letter or digit{note}")))
    }
}
