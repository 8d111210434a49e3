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
