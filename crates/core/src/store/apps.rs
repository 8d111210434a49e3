//! Apps and their revisions (migration 6). The spec text is stored as applied; what it means is
//! `apps::spec`'s to say (the store depends on no domain module).

use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::audit::{AuditObject, NewAuditRow};
use super::recorded::Recorded;
use super::{now_ms, Store};
use crate::error::{Result, StoreContext};

/// What an apply did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Applied {
    pub app: String,
    pub revision: i64,
    /// False when the file was the latest revision already (nothing stored).
    pub new: bool,
}

impl Recorded for Applied {
    fn audit_rows(&self, template: &NewAuditRow) -> Vec<NewAuditRow> {
        if !self.new {
            return Vec::new();
        }
        let object = AuditObject { id: Some(self.revision.to_string()), name: Some(self.app.clone()) };
        let after = serde_json::json!({ "revision": self.revision });
        vec![NewAuditRow { object, after: Some(after), outcome: super::audit::Outcome::Ok, request: None, ..template.clone() }]
    }
}

/// One stored revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct RevisionRow {
    pub app: String,
    pub revision: i64,
    pub spec: String,
    pub digest: String,
    pub source: Option<String>,
    pub applied_ms: i64,
    pub actor: String,
}

impl Store {
    /// Store `spec` as app `name`'s next revision, unless it is the latest one already.
    pub fn apply_app(&self, name: &str, spec: &str, digest: &str, source: Option<&str>, actor: &str) -> Result<Applied> {
        self.write_tx_recorded("applying an app", |tx| {
            let latest: Option<(i64, String)> = tx
                .query_row("SELECT revision, digest FROM app_revisions WHERE app = ?1 ORDER BY revision DESC LIMIT 1", [name], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
                .store_context(|| "reading an app's revisions".into())?;
            if let Some((revision, latest_digest)) = &latest {
                if latest_digest == digest {
                    return Ok(Applied { app: name.to_owned(), revision: *revision, new: false });
                }
            }
            let now = now_ms();
            tx.execute("INSERT OR IGNORE INTO apps (name, created_ms) VALUES (?1, ?2)", params![name, now]).store_context(|| "storing an app".into())?;
            let revision = latest.map(|(r, _)| r + 1).unwrap_or(1);
            tx.execute(
                "INSERT INTO app_revisions (app, revision, spec, digest, source, applied_ms, actor) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![name, revision, spec, digest, source, now, actor],
            )
            .store_context(|| "storing an app's revision".into())?;
            Ok(Applied { app: name.to_owned(), revision, new: true })
        })
    }

    /// Every app's latest revision, by name.
    pub fn latest_app_revisions(&self) -> Result<Vec<RevisionRow>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT r.app, r.revision, r.spec, r.digest, r.source, r.applied_ms, r.actor FROM app_revisions r
                 WHERE r.revision = (SELECT max(revision) FROM app_revisions WHERE app = r.app) ORDER BY r.app",
            )
            .store_context(|| "listing apps".into())?;
        let rows = stmt.query_map([], revision_row).store_context(|| "listing apps".into())?;
        rows.collect::<rusqlite::Result<Vec<_>>>().store_context(|| "listing apps".into())
    }

    /// One revision of an app (the latest when `revision` is `None`); `None` when there is none.
    pub fn app_revision(&self, name: &str, revision: Option<i64>) -> Result<Option<RevisionRow>> {
        let conn = self.conn();
        conn.query_row(
            "SELECT app, revision, spec, digest, source, applied_ms, actor FROM app_revisions WHERE app = ?1 AND (?2 IS NULL OR revision = ?2)
             ORDER BY revision DESC LIMIT 1",
            params![name, revision],
            revision_row,
        )
        .optional()
        .store_context(|| "reading an app's revision".into())
    }
}

/// A host's `(name, /info, reserved nano CPUs, reserved memory bytes)`.
pub type HostCapacity = (String, Option<String>, i64, i64);

/// What an environment of an app is meant to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeploymentRow {
    pub app: String,
    pub env: String,
    pub revision: i64,
    pub replicas: u32,
    pub updated_ms: i64,
}

impl Recorded for DeploymentRow {
    fn audit_rows(&self, template: &NewAuditRow) -> Vec<NewAuditRow> {
        let object = AuditObject { id: Some(self.revision.to_string()), name: Some(self.app.clone()) };
        let after = serde_json::json!({ "env": self.env, "revision": self.revision, "replicas": self.replicas });
        vec![NewAuditRow { object, after: Some(after), outcome: super::audit::Outcome::Ok, request: None, ..template.clone() }]
    }
}

impl Store {
    /// Every revision of an app, newest first.
    pub fn app_revisions(&self, name: &str) -> Result<Vec<RevisionRow>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT app, revision, spec, digest, source, applied_ms, actor FROM app_revisions WHERE app = ?1 ORDER BY revision DESC")
            .store_context(|| "listing an app's revisions".into())?;
        let rows = stmt.query_map([name], revision_row).store_context(|| "listing an app's revisions".into())?;
        rows.collect::<rusqlite::Result<Vec<_>>>().store_context(|| "listing an app's revisions".into())
    }

    /// Put back a revision read from a host's labels (after the store was lost); a revision
    /// already stored is left as it is. True when it was stored.
    pub fn restore_app_revision(&self, name: &str, revision: i64, spec: &str, digest: &str, applied_ms: i64) -> Result<bool> {
        self.write_tx_recorded("restoring an app's revision", |tx| {
            tx.execute("INSERT OR IGNORE INTO apps (name, created_ms) VALUES (?1, ?2)", params![name, applied_ms]).store_context(|| "storing an app".into())?;
            let added = tx
                .execute(
                    "INSERT OR IGNORE INTO app_revisions (app, revision, spec, digest, source, applied_ms, actor) VALUES (?1, ?2, ?3, ?4, NULL, ?5, 'rebuilt')",
                    params![name, revision, spec, digest, applied_ms],
                )
                .store_context(|| "storing an app's revision".into())?;
            Ok(added == 1)
        })
    }

    /// Record that `env` of app `name` is meant to run `revision` with `replicas` replicas.
    pub fn set_deployment(&self, name: &str, env: &str, revision: i64, replicas: u32) -> Result<DeploymentRow> {
        self.write_tx_recorded("recording a deployment", |tx| {
            let now = now_ms();
            tx.execute(
                "INSERT INTO app_deployments (app, env, revision, replicas, updated_ms) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (app, env) DO UPDATE SET revision = excluded.revision, replicas = excluded.replicas, updated_ms = excluded.updated_ms",
                params![name, env, revision, replicas, now],
            )
            .store_context(|| "recording a deployment".into())?;
            Ok(DeploymentRow { app: name.to_owned(), env: env.to_owned(), revision, replicas, updated_ms: now })
        })
    }

    /// Forget what an environment of an app is meant to run (`berth app rm`).
    pub fn remove_deployment(&self, name: &str, env: &str) -> Result<()> {
        self.write_tx_recorded("removing a deployment", |tx| {
            tx.execute("DELETE FROM app_deployments WHERE app = ?1 AND env = ?2", params![name, env]).store_context(|| "removing a deployment".into())?;
            Ok(())
        })
    }

    /// Every deployment, by app and environment.
    pub fn deployments(&self) -> Result<Vec<DeploymentRow>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT app, env, revision, replicas, updated_ms FROM app_deployments ORDER BY app, env")
            .store_context(|| "listing deployments".into())?;
        let rows = stmt
            .query_map([], |r| Ok(DeploymentRow { app: r.get(0)?, env: r.get(1)?, revision: r.get(2)?, replicas: r.get(3)?, updated_ms: r.get(4)? }))
            .store_context(|| "listing deployments".into())?;
        rows.collect::<rusqlite::Result<Vec<_>>>().store_context(|| "listing deployments".into())
    }

    /// What each host has: its `/info` (CPUs, memory) as mirrored and what its running
    /// containers reserve (NanoCpus, Memory): `(host, info, nano_cpus, memory)`.
    pub fn host_capacity(&self) -> Result<Vec<HostCapacity>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT h.name, s.info,
                        (SELECT coalesce(sum(coalesce(json_extract(i.inspect, '$.HostConfig.NanoCpus'), 0)), 0)
                           FROM containers c JOIN container_inspect i ON i.host_id = c.host_id AND i.container_id = c.id
                          WHERE c.host_id = h.id AND c.state = 'running'),
                        (SELECT coalesce(sum(coalesce(json_extract(i.inspect, '$.HostConfig.Memory'), 0)), 0)
                           FROM containers c JOIN container_inspect i ON i.host_id = c.host_id AND i.container_id = c.id
                          WHERE c.host_id = h.id AND c.state = 'running')
                   FROM hosts h LEFT JOIN host_status s ON s.host_id = h.id ORDER BY h.name",
            )
            .store_context(|| "reading the hosts' capacity".into())?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).store_context(|| "reading the hosts' capacity".into())?;
        rows.collect::<rusqlite::Result<Vec<_>>>().store_context(|| "reading the hosts' capacity".into())
    }
}

fn revision_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RevisionRow> {
    Ok(RevisionRow { app: r.get(0)?, revision: r.get(1)?, spec: r.get(2)?, digest: r.get(3)?, source: r.get(4)?, applied_ms: r.get(5)?, actor: r.get(6)? })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_file_is_a_new_revision_and_the_same_file_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("b.db")).unwrap();
        let first = store.apply_app("web", "a = 1", "d1", Some("app.toml"), "me").unwrap();
        assert_eq!(first, Applied { app: "web".into(), revision: 1, new: true });
        assert_eq!(store.apply_app("web", "a = 1", "d1", None, "me").unwrap(), Applied { app: "web".into(), revision: 1, new: false });
        assert_eq!(store.apply_app("web", "a = 2", "d2", None, "me").unwrap().revision, 2);
        store.apply_app("api", "b = 1", "d3", None, "me").unwrap();
        let latest = store.latest_app_revisions().unwrap();
        assert_eq!(latest.iter().map(|r| (r.app.as_str(), r.revision)).collect::<Vec<_>>(), [("api", 1), ("web", 2)]);
        assert_eq!(store.app_revision("web", Some(1)).unwrap().unwrap().spec, "a = 1");
        assert!(store.app_revision("ghost", None).unwrap().is_none());
    }
}
