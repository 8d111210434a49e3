//! The SQLite mirror. Only this module writes SQL.
//!
//! One file per user (WAL, so a `berth sync` follower writes while other processes read). A
//! [`Store`] owns one connection behind a mutex; every method is one short transaction, so a
//! follower's writes never keep readers waiting.

pub mod alerts;
pub mod apps;
pub mod audit;
mod hosts;
pub mod ipam;
pub mod metrics;
pub mod mirror;
pub mod objects;
mod query;
mod recorded;
pub mod schema;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

use crate::error::{Error, Result, StoreContext};

pub use hosts::validate_host_name;
pub(crate) use hosts::validate_name;
pub use mirror::{BatchSeen, SnapshotSeen};
pub use objects::{ImageRow, NetworkRow, NetworkUser, VolumeRow};
pub use query::{ContainerFilter, EventQuery};
pub use recorded::Audited;

/// Events kept per host; older ones are dropped as new ones arrive.
pub const EVENTS_KEPT_PER_HOST: i64 = 100_000;

pub struct Store {
    path: PathBuf,
    conn: Mutex<Connection>,
    events_kept_per_host: i64,
    /// The time of audit rows and claims (ms since the epoch): [`now_ms`] but in tests and benchmarks.
    audit_clock: Box<dyn Fn() -> i64 + Send + Sync>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

impl Store {
    /// Open (creating if needed) the database at `path` and bring its schema up to date.
    ///
    /// A file that is not a Berth database, or that a newer Berth wrote, is refused untouched.
    pub fn open(path: &Path) -> Result<Store> {
        refuse_foreign_file(path)?;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|source| Error::Io { context: format!("creating the folder {} for the database", parent.display()), source })?;
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(path, flags).map_err(|source| classify_open_error(path, source))?;
        conn.busy_timeout(Duration::from_secs(10)).store_context(|| "setting the busy timeout".into())?;
        migrate(&mut conn, path)?;
        conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;").store_context(|| "configuring the connection".into())?;
        // Plans that do not depend on bound values. Without this, a range query over a
        // parameter (IPAM's free-address scan) is parsed and planned again on every run.
        conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true).store_context(|| "configuring the connection".into())?;
        Ok(Store { path: path.to_owned(), conn: Mutex::new(conn), events_kept_per_host: EVENTS_KEPT_PER_HOST, audit_clock: Box::new(now_ms) })
    }

    /// Keep this many events per host instead of [`EVENTS_KEPT_PER_HOST`].
    pub fn with_events_kept_per_host(mut self, keep: i64) -> Store {
        self.events_kept_per_host = keep.max(1);
        self
    }

    /// Take the time of audit rows and claims from `clock` (ms since the epoch) instead of the
    /// system clock: for tests and benchmarks that need a log spread over days.
    pub fn with_audit_clock(mut self, clock: impl Fn() -> i64 + Send + Sync + 'static) -> Store {
        self.audit_clock = Box::new(clock);
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (transactions roll back on drop).
        self.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Run `f` in one `BEGIN IMMEDIATE` transaction: concurrent writers (other processes too)
    /// queue on the write lock instead of failing halfway. `what` names the change in errors.
    fn write_tx<T>(&self, what: &str, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).store_context(|| format!("starting to {what}"))?;
        let out = f(&tx)?;
        tx.commit().store_context(|| format!("committing: {what}"))?;
        Ok(out)
    }

    /// Write the WAL back into the database file and empty it (so its size says what is kept).
    pub fn checkpoint(&self) -> Result<()> {
        self.conn().query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).store_context(|| "checkpointing the database".into())
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<i64> {
        self.conn().query_row("PRAGMA user_version", [], |r| r.get(0)).store_context(|| "reading the schema version".into())
    }
}

/// Before SQLite touches the file: a non-empty file must at least be an SQLite database.
fn refuse_foreign_file(path: &Path) -> Result<()> {
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => return Err(Error::Io { context: format!("opening the database {}", path.display()), source }),
    };
    let meta = file.metadata().map_err(|source| Error::Io { context: format!("reading {}", path.display()), source })?;
    if meta.is_dir() {
        return Err(Error::NotABerthDatabase { path: path.to_owned(), reason: "it is a directory".into() });
    }
    if meta.len() == 0 {
        return Ok(());
    }
    let mut header = [0u8; 16];
    let read = file.read(&mut header).map_err(|source| Error::Io { context: format!("reading {}", path.display()), source })?;
    if read < header.len() || &header != SQLITE_MAGIC {
        return Err(Error::NotABerthDatabase { path: path.to_owned(), reason: "it is not an SQLite file".into() });
    }
    Ok(())
}

fn classify_open_error(path: &Path, source: rusqlite::Error) -> Error {
    if source.sqlite_error_code() == Some(rusqlite::ErrorCode::NotADatabase) {
        return Error::NotABerthDatabase { path: path.to_owned(), reason: source.to_string() };
    }
    Error::Store { context: format!("opening {}", path.display()), source }
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    let latest = schema::latest();
    let read_version = |conn: &Connection| -> Result<(i64, i64, i64)> {
        let q = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0));
        let app = q("PRAGMA application_id").map_err(|e| classify_open_error(path, e))?;
        let version = q("PRAGMA user_version").map_err(|e| classify_open_error(path, e))?;
        let objects = q("SELECT count(*) FROM sqlite_schema").map_err(|e| classify_open_error(path, e))?;
        Ok((app, version, objects))
    };
    let check = |(app, version, objects): (i64, i64, i64)| -> Result<bool> {
        if app == 0 && version == 0 && objects == 0 {
            return Ok(true); // a new, empty file
        }
        if app != schema::APPLICATION_ID {
            return Err(Error::NotABerthDatabase { path: path.to_owned(), reason: "it is an SQLite database of another program".into() });
        }
        if version > latest {
            return Err(Error::SchemaTooNew { path: path.to_owned(), found: version, supported: latest });
        }
        Ok(false)
    };

    // Read-only checks first, so a refused file is never written to.
    let state = read_version(conn)?;
    let fresh = check(state)?;
    if !fresh && state.1 == latest {
        return Ok(());
    }
    if fresh {
        // Settings that only take effect on an empty file.
        conn.execute_batch("PRAGMA page_size = 16384; PRAGMA journal_mode = WAL;").store_context(|| format!("initialising {}", path.display()))?;
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).store_context(|| "starting the schema migration".into())?;
    // Another process may have migrated between our read and the write lock.
    let state = read_version(&tx)?;
    check(state)?;
    let current = state.1;
    for (index, sql) in schema::MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = index as i64 + 1;
        tx.execute_batch(sql).store_context(|| format!("applying schema migration {version}"))?;
        tx.pragma_update(None, "user_version", version).store_context(|| "recording the schema version".into())?;
    }
    tx.pragma_update(None, "application_id", schema::APPLICATION_ID).store_context(|| "marking the file as a Berth database".into())?;
    tx.commit().store_context(|| "committing the schema migration".into())
}

pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests;
