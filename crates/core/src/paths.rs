//! Where the database lives by default.

use std::path::PathBuf;

use crate::error::{Error, Result};

/// `~/.local/share/berth/berth.db` on Linux, `~/Library/Application Support/dev.berth.Berth/berth.db`
/// on macOS, `%APPDATA%\berth\Berth\data\berth.db` on Windows.
pub fn default_db_path() -> Result<PathBuf> {
    directories::ProjectDirs::from("dev", "berth", "berth")
        .map(|dirs| dirs.data_dir().join("berth.db"))
        .ok_or_else(|| Error::invalid("database path", "no home directory is known; pass --db PATH or set BERTH_DB"))
}

/// `BERTH_DB` when set, else [`default_db_path`].
pub fn db_path_from_env() -> Result<PathBuf> {
    match std::env::var_os("BERTH_DB") {
        Some(path) if !path.is_empty() => Ok(PathBuf::from(path)),
        _ => default_db_path(),
    }
}
