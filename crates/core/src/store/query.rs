//! Reading the mirror: everything here works with every host unreachable.

use std::collections::BTreeMap;

use rusqlite::types::Value;
use rusqlite::{params_from_iter, OptionalExtension};

use super::Store;
use crate::error::{Error, Result, StoreContext};
use crate::model::{ContainerRow, EventRow};
use crate::time::{container_status, rfc3339_ms, rfc3339_ns};

/// Docker's own words for a container's state.
pub const CONTAINER_STATES: &[&str] = &["created", "running", "paused", "restarting", "removing", "exited", "dead"];

/// `berth ps` filters. Like `docker ps`: values of one key are OR-ed, different keys AND-ed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerFilter {
    /// Include stopped containers (`-a`); otherwise only running, paused and restarting ones.
    pub all: bool,
    pub host: Option<String>,
    pub names: Vec<String>,
    pub images: Vec<String>,
    pub states: Vec<String>,
    pub labels: Vec<(String, Option<String>)>,
    pub ips: Vec<String>,
    /// Exactly these container ids (full ids), for patching a front end's rows.
    pub ids: Vec<String>,
}

impl ContainerFilter {
    /// Add one `KEY=VALUE` filter as the CLI spells it.
    pub fn add(&mut self, spec: &str) -> Result<()> {
        let bad = |reason: String| Error::invalid("filter", format!("{spec:?}: {reason}"));
        let Some((key, value)) = spec.split_once('=') else {
            return Err(bad("expected KEY=VALUE with KEY one of name, image, state, label, ip".into()));
        };
        if value.is_empty() {
            return Err(bad("the value is empty".into()));
        }
        match key {
            "name" => self.names.push(value.trim_start_matches('/').to_owned()),
            "image" => self.images.push(value.to_owned()),
            "state" | "status" => {
                if !CONTAINER_STATES.contains(&value) {
                    return Err(bad(format!("unknown state; use one of {}", CONTAINER_STATES.join(", "))));
                }
                self.states.push(value.to_owned());
            }
            "label" => match value.split_once('=') {
                Some((k, v)) if !k.is_empty() => self.labels.push((k.to_owned(), Some(v.to_owned()))),
                Some(_) => return Err(bad("a label filter is label=KEY or label=KEY=VALUE".into())),
                None => self.labels.push((value.to_owned(), None)),
            },
            "ip" => {
                let ip: std::net::IpAddr = value.parse().map_err(|_| bad("not an IP address".into()))?;
                self.ips.push(ip.to_string());
            }
            other => return Err(bad(format!("unknown key {other:?}; use name, image, state, label or ip"))),
        }
        Ok(())
    }

    fn where_clause(&self) -> (String, Vec<Value>) {
        /// One clause that holds when `template` holds for any of `values`; each `?` in the
        /// template stands for the value.
        fn any_of(template: &str, values: &[String], clauses: &mut Vec<String>, params: &mut Vec<Value>) {
            if values.is_empty() {
                return;
            }
            let parts: Vec<String> = values
                .iter()
                .map(|v| {
                    params.push(Value::Text(v.clone()));
                    template.replace('?', &format!("?{}", params.len()))
                })
                .collect();
            clauses.push(format!("({})", parts.join(" OR ")));
        }
        let mut clauses: Vec<String> = Vec::new();
        let mut params: Vec<Value> = Vec::new();
        if let Some(host) = &self.host {
            any_of("h.name = ?", std::slice::from_ref(host), &mut clauses, &mut params);
        }
        if !self.all && self.states.is_empty() {
            clauses.push("c.state IN ('running', 'paused', 'restarting')".into());
        }
        any_of("instr(c.name, ?) > 0", &self.names, &mut clauses, &mut params);
        any_of(
            "(c.image = ? OR substr(c.image, 1, length(?) + 1) = ? || ':' OR substr(c.image_id, 1, length(?)) = ? \
             OR substr(c.image_id, 8, length(?)) = ?)",
            &self.images,
            &mut clauses,
            &mut params,
        );
        any_of("c.state = ?", &self.states, &mut clauses, &mut params);
        any_of("c.id = ?", &self.ids, &mut clauses, &mut params);
        // Unlike the other keys, several label filters must all hold (as in `docker ps`).
        for (key, value) in &self.labels {
            params.push(Value::Text(key.clone()));
            let mut clause = format!("EXISTS (SELECT 1 FROM json_each(c.labels) WHERE key = ?{}", params.len());
            if let Some(value) = value {
                params.push(Value::Text(value.clone()));
                clause.push_str(&format!(" AND value = ?{}", params.len()));
            }
            clauses.push(clause + ")");
        }
        any_of(
            "EXISTS (SELECT 1 FROM container_ips i WHERE i.host_id = c.host_id AND i.container_id = c.id AND i.ip = ?)",
            &self.ips,
            &mut clauses,
            &mut params,
        );
        let sql = if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) };
        (sql, params)
    }
}

/// `berth events` query: newest `limit` events at or after `since_ns`, returned oldest first.
#[derive(Debug, Clone)]
pub struct EventQuery {
    pub host: Option<String>,
    pub since_ns: Option<i64>,
    pub limit: i64,
}

impl Store {
    pub fn containers(&self, filter: &ContainerFilter) -> Result<Vec<ContainerRow>> {
        if let Some(host) = &filter.host {
            self.host(host)?; // an unknown host is an error, not an empty list
        }
        containers_in(&self.conn(), filter)
    }

    /// Find one container by full id, name, `HOST/NAME` or unique id prefix; returns (host, id, inspect JSON).
    pub fn container_inspect(&self, query: &str) -> Result<(String, String, String)> {
        let not_found = || Error::ContainerNotFound { query: query.to_owned() };
        let query = query.trim();
        if query.is_empty() {
            return Err(Error::invalid("container", "give an id, an id prefix, a name or HOST/NAME"));
        }
        let conn = self.conn();
        let select = "SELECT h.name, c.id, c.name, d.inspect FROM containers c JOIN hosts h ON h.id = c.host_id
                      JOIN container_inspect d ON d.host_id = c.host_id AND d.container_id = c.id";
        let fetch = |sql: &str, params: &[&dyn rusqlite::ToSql]| -> Result<Vec<(String, String, String, String)>> {
            let mut stmt = conn.prepare_cached(sql).store_context(|| "looking up a container".into())?;
            let rows = stmt.query_map(params, |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).store_context(|| "looking up a container".into())?;
            rows.collect::<rusqlite::Result<Vec<_>>>().store_context(|| "looking up a container".into())
        };
        let (host, name) = match query.split_once('/') {
            Some((host, name)) if !host.is_empty() => (Some(host), name),
            _ => (None, query.trim_start_matches('/')),
        };
        let host_clause = if host.is_some() { "AND h.name = ?2" } else { "AND ?2 IS NULL" };
        let is_hex = !name.is_empty() && name.bytes().all(|b| b.is_ascii_hexdigit());
        let mut found = fetch(&format!("{select} WHERE (c.id = ?1 OR c.name = ?1) {host_clause}"), &[&name, &host])?;
        if found.is_empty() && is_hex {
            let prefix = name.to_ascii_lowercase();
            found = fetch(&format!("{select} WHERE c.id >= ?1 AND c.id < ?1 || 'g' {host_clause} ORDER BY h.name LIMIT 10"), &[&prefix, &host])?;
        }
        match found.len() {
            0 => {
                if let Some(host) = host {
                    conn.query_row("SELECT 1 FROM hosts WHERE name = ?1", [host], |_| Ok(()))
                        .optional()
                        .store_context(|| "looking up a host".into())?
                        .ok_or_else(|| Error::HostNotFound { name: host.to_owned() })?;
                }
                Err(not_found())
            }
            1 => {
                let (host, id, _, inspect) = found.pop().expect("one row");
                Ok((host, id, inspect))
            }
            _ => Err(Error::AmbiguousContainer {
                query: query.to_owned(),
                candidates: found.iter().map(|(h, id, n, _)| format!("{h}/{n} ({})", &id[..12.min(id.len())])).collect(),
            }),
        }
    }

    pub fn events(&self, query: &EventQuery) -> Result<Vec<EventRow>> {
        if let Some(host) = &query.host {
            self.host(host)?;
        }
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT * FROM (
                    SELECT h.name, e.time_ns, e.type, e.action, e.actor_id, e.actor_name, e.attributes, e.seq, h.id
                    FROM events e JOIN hosts h ON h.id = e.host_id
                    WHERE (?1 IS NULL OR h.name = ?1) AND (?2 IS NULL OR e.time_ns >= ?2)
                    ORDER BY e.time_ns DESC, e.seq DESC LIMIT ?3)
                 ORDER BY time_ns, seq",
            )
            .store_context(|| "listing events".into())?;
        let rows = stmt
            .query_map(rusqlite::params![query.host, query.since_ns, query.limit], |row| {
                let time_ns: i64 = row.get(1)?;
                let attributes: String = row.get(6)?;
                Ok(EventRow {
                    host: row.get(0)?,
                    time: rfc3339_ns(time_ns),
                    time_ns,
                    seq: row.get(7)?,
                    host_id: row.get(8)?,
                    time_ms: time_ns.div_euclid(1_000_000),
                    kind: row.get(2)?,
                    action: row.get(3)?,
                    actor_id: row.get(4)?,
                    actor_name: row.get(5)?,
                    attributes: serde_json::from_str(&attributes).unwrap_or_default(),
                })
            })
            .store_context(|| "listing events".into())?;
        rows.collect::<rusqlite::Result<_>>().store_context(|| "reading events".into())
    }
}

/// [`Store::containers`] on a connection already held (inside a write transaction).
pub(crate) fn containers_in(conn: &rusqlite::Connection, filter: &ContainerFilter) -> Result<Vec<ContainerRow>> {
    let (where_sql, params) = filter.where_clause();
    let sql = format!(
        "SELECT h.name, c.id, c.name, c.image, c.state, c.exit_code, c.created_ms, c.started_ms, c.finished_ms,
                c.health, c.labels, c.synced_ms, h.id,
                (SELECT json_group_object(i.network, i.ip) FROM container_ips i
                 WHERE i.host_id = c.host_id AND i.container_id = c.id)
         FROM containers c JOIN hosts h ON h.id = c.host_id
         {where_sql}
         ORDER BY h.name, c.created_ms DESC, c.name"
    );
    let now = super::now_ms();
    let mut stmt = conn.prepare_cached(&sql).store_context(|| "listing containers".into())?;
    let rows = stmt
        .query_map(params_from_iter(params), |row| {
            let state: String = row.get(4)?;
            let exit_code: Option<i64> = row.get(5)?;
            let health: Option<String> = row.get(9)?;
            let labels: String = row.get(10)?;
            let ips: Option<String> = row.get(13)?;
            let created_ms: i64 = row.get(6)?;
            Ok(ContainerRow {
                host: row.get(0)?,
                host_id: row.get(12)?,
                id: row.get(1)?,
                name: row.get(2)?,
                image: row.get(3)?,
                status: container_status(&state, exit_code, row.get(7)?, row.get(8)?, health.as_deref(), now),
                state,
                exit_code,
                ips: ips.and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default(),
                labels: serde_json::from_str::<BTreeMap<String, String>>(&labels).unwrap_or_default(),
                created: rfc3339_ms(created_ms),
                synced_at: rfc3339_ms(row.get(11)?),
                created_ms,
                started_ms: row.get(7)?,
                finished_ms: row.get(8)?,
                health,
            })
        })
        .store_context(|| "listing containers".into())?;
    rows.collect::<rusqlite::Result<_>>().store_context(|| "reading containers".into())
}

/// A running container as the monitor reads it: `(id, name, pid)` (the pid from the stored
/// inspect document; 0 when it has none).
pub type RunningContainer = (String, String, u32);

impl Store {
    /// The running containers of `host`, with their pids, by name.
    pub fn running_with_pids(&self, host: &str) -> Result<Vec<RunningContainer>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT c.id, c.name, COALESCE(json_extract(d.inspect, '$.State.Pid'), 0) FROM containers c
                 JOIN hosts h ON h.id = c.host_id
                 LEFT JOIN container_inspect d ON d.host_id = c.host_id AND d.container_id = c.id
                 WHERE h.name = ?1 AND c.state = 'running' ORDER BY c.name",
            )
            .store_context(|| "reading the running containers".into())?;
        let rows = stmt
            .query_map([host], |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2).map(|p| u32::try_from(p).unwrap_or(0))?)))
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .store_context(|| "reading the running containers".into())?;
        Ok(rows)
    }
}
