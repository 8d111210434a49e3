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

/// Where saved files go: the user's Downloads folder (XDG `DOWNLOAD`, else `~/Downloads`).
pub fn downloads_dir() -> Result<PathBuf> {
    let dirs = directories::UserDirs::new().ok_or_else(|| Error::invalid("download folder", "no home directory is known; set HOME"))?;
    Ok(dirs.download_dir().map(PathBuf::from).unwrap_or_else(|| dirs.home_dir().join("Downloads")))
}

/// `dir/stem.ext`, or `dir/stem (2).ext`, `(3)`… when that name is taken.
pub fn unused_file_name(dir: &std::path::Path, stem: &str, ext: &str) -> PathBuf {
    let stem: String = stem.chars().map(|c| if c.is_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect();
    let mut path = dir.join(format!("{stem}.{ext}"));
    let mut n = 2;
    while path.exists() {
        path = dir.join(format!("{stem} ({n}).{ext}"));
        n += 1;
    }
    path
}
