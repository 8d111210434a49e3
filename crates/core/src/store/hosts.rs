//! Hosts (configuration) and host_status (live reachability).

use std::collections::BTreeMap;
use std::path::PathBuf;

use rusqlite::{params, OptionalExtension, Row};

use super::{now_ms, Store};
use crate::endpoint::{Endpoint, SshEndpoint, SshOptions, TlsFiles};
use crate::error::{Error, Result, StoreContext};
use crate::model::{EngineFacts, Host, HostConfig, HostSummary, Reachability};
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
    Ok(Host {
        id: row.get(0)?,
        config: HostConfig { name: row.get(1)?, endpoint, labels: serde_json::from_str(&labels).unwrap_or_default() },
    })
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
        let conn = self.conn();
        let tls = config.endpoint.tls();
        let path = |p: Option<&PathBuf>| p.map(|p| p.to_string_lossy().into_owned());
        let inserted = conn.execute(
            "INSERT INTO hosts (name, url, tls_ca, tls_cert, tls_key, labels, added_ms, ssh) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                config.name,
                config.endpoint.to_string(),
                path(tls.map(|t| &t.ca)),
                path(tls.map(|t| &t.cert)),
                path(tls.map(|t| &t.key)),
                serde_json::to_string(&config.labels).expect("labels serialise"),
                now_ms(),
                ssh_options(&config.endpoint),
            ],
        );
        match inserted {
            Ok(_) => Ok(Host { id: conn.last_insert_rowid(), config: config.clone() }),
            Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation) => {
                Err(Error::HostExists { name: config.name.clone() })
            }
            Err(source) => Err(Error::Store { context: format!("adding host {:?}", config.name), source }),
        }
    }

    /// Remove a host and everything mirrored from it.
    pub fn remove_host(&self, name: &str) -> Result<()> {
        let removed = self
            .conn()
            .execute("DELETE FROM hosts WHERE name = ?1", [name])
            .store_context(|| format!("removing host {name:?}"))?;
        if removed == 0 {
            return Err(Error::HostNotFound { name: name.to_owned() });
        }
        Ok(())
    }

    pub fn hosts(&self) -> Result<Vec<Host>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(&format!("SELECT {HOST_COLUMNS} FROM hosts h ORDER BY h.name"))
            .store_context(|| "listing hosts".into())?;
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
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT h.name, h.url, h.labels, s.status, ss.last_full_ms, s.api_version, s.last_seen_ms, s.last_error,
                        (SELECT count(*) FROM containers c WHERE c.host_id = h.id)
                 FROM hosts h
                 LEFT JOIN host_status s ON s.host_id = h.id
                 LEFT JOIN sync_state ss ON ss.host_id = h.id
                 ORDER BY h.name",
            )
            .store_context(|| "listing hosts".into())?;
        let rows = stmt
            .query_map([], |row| {
                let status: Option<String> = row.get(3)?;
                let last_full: Option<i64> = row.get(4)?;
                let labels: String = row.get(2)?;
                Ok(HostSummary {
                    name: row.get(0)?,
                    url: row.get(1)?,
                    status: match status.as_deref() {
                        Some("online") => Reachability::Online,
                        Some(_) => Reachability::Offline,
                        None => Reachability::Never,
                    },
                    last_sync: last_full.map(rfc3339_ms),
                    api_version: row.get(5)?,
                    containers: row.get(8)?,
                    labels: serde_json::from_str::<BTreeMap<String, String>>(&labels).unwrap_or_default(),
                    last_seen: row.get::<_, Option<i64>>(6)?.map(rfc3339_ms),
                    last_error: row.get(7)?,
                })
            })
            .store_context(|| "listing hosts".into())?;
        rows.collect::<rusqlite::Result<_>>().store_context(|| "reading hosts".into())
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

    /// The daemon answered a keep-alive.
    pub fn touch_seen(&self, host_id: i64) -> Result<()> {
        self.conn()
            .execute("UPDATE host_status SET last_seen_ms = ?2 WHERE host_id = ?1", params![host_id, now_ms()])
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

/// The options of an ssh:// endpoint as stored beside its URL.
fn ssh_options(endpoint: &Endpoint) -> Option<String> {
    let Endpoint::Ssh(ep) = endpoint else { return None };
    Some(serde_json::to_string(&ep.options).expect("options serialise"))
}

fn validate_host_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "host name",
            format!("{name:?} must be 1-64 letters, digits, '-', '_' or '.', starting with a letter or digit"),
        ))
    }
}
