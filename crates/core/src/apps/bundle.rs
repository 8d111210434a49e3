//! What goes into each replica before it starts: the app package under `package.path` and the
//! environment's config files, as one tar unpacked at `/` (one upload per container, however
//! slow the link). Built when the app file is applied and kept beside the store, one per
//! revision and environment (`<db dir>/bundles/APP/DIGEST-ENV.tar`), so a revision is what was
//! applied even after the package on disk changed, and a rollback to one of the last
//! [`KEPT_REVISIONS`] sends what that revision had.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// Revisions whose bundles are kept (older ones are deleted when a new revision is applied).
pub const KEPT_REVISIONS: usize = 5;

/// Where the bundle of a revision (by its digest) for `env` is kept.
pub fn kept_path(store_path: &Path, app: &str, digest: &str, env: &str) -> PathBuf {
    let dir = store_path.parent().map(Path::to_path_buf).unwrap_or_else(std::env::temp_dir);
    let short: String = digest.trim_start_matches("sha256:").chars().take(16).collect();
    dir.join("bundles").join(app).join(format!("{short}-{env}.tar"))
}

/// Keep `tar` at `path` (written under a temporary name, then renamed: never half a file).
pub fn keep(path: &Path, tar: &[u8]) -> Result<()> {
    let context = || format!("keeping the app's package at {}", path.display());
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| io(context(), e))?;
    }
    let partial = path.with_extension("partial");
    std::fs::write(&partial, tar).map_err(|e| io(context(), e))?;
    std::fs::rename(&partial, path).map_err(|e| io(context(), e))
}

/// Delete the kept bundles of `app` whose digest is not in `keep` (the last revisions').
pub fn prune(store_path: &Path, app: &str, keep: &[String]) {
    let Some(dir) = kept_path(store_path, app, "x", "x").parent().map(Path::to_path_buf) else { return };
    let Ok(entries) = std::fs::read_dir(&dir) else { return };
    let prefixes: Vec<String> = keep.iter().map(|d| d.trim_start_matches("sha256:").chars().take(16).collect()).collect();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !prefixes.iter().any(|p| name.starts_with(&format!("{p}-"))) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

fn io(context: String, source: std::io::Error) -> Error {
    Error::Io { context, source }
}

/// A path inside the container as a tar entry name: no leading `/`, no `..`.
fn entry_name(path: &str) -> Result<PathBuf> {
    let mut out = PathBuf::new();
    for part in Path::new(path).components() {
        match part {
            Component::Normal(p) => out.push(p),
            Component::RootDir | Component::CurDir => {}
            _ => return Err(Error::invalid("app package", format!("{path:?} leaves its folder (..); give a path inside the container"))),
        }
    }
    Ok(out)
}

/// Every folder from the root down to `dir` (`app`, `app/conf`), so that the upload makes them.
fn add_dirs(builder: &mut tar::Builder<Vec<u8>>, dir: &Path, made: &mut std::collections::BTreeSet<PathBuf>) -> Result<()> {
    let mut at = PathBuf::new();
    for part in dir.components() {
        at.push(part);
        if made.insert(at.clone()) {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Directory);
            header.set_mode(0o755);
            header.set_size(0);
            header.set_mtime(0);
            builder.append_data(&mut header, &at, std::io::empty()).map_err(|e| io("packing the app".into(), e))?;
        }
    }
    Ok(())
}

/// Copy a tar's entries (gzip or not) under `prefix`.
fn add_tar(builder: &mut tar::Builder<Vec<u8>>, source: &Path, prefix: &Path) -> Result<()> {
    let context = || format!("package.source: {} is not a readable tar or tar.gz (give a folder, a tar(.gz) or one file)", source.display());
    let mut file = std::fs::File::open(source).map_err(|e| io(context(), e))?;
    let mut magic = [0u8; 2];
    let gz = file.read_exact(&mut magic).is_ok() && magic == [0x1f, 0x8b];
    let file = std::fs::File::open(source).map_err(|e| io(context(), e))?;
    let reader: Box<dyn Read> = if gz { Box::new(flate2::read::GzDecoder::new(file)) } else { Box::new(file) };
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries().map_err(|e| io(context(), e))? {
        let mut entry = entry.map_err(|e| io(context(), e))?;
        let path = entry.path().map_err(|e| io(context(), e))?.into_owned();
        let name = prefix.join(entry_name(&path.to_string_lossy())?);
        let mut header = entry.header().clone();
        match header.entry_type() {
            tar::EntryType::Link => {
                let target = entry.link_name().map_err(|e| io(context(), e))?.unwrap_or_default().into_owned();
                let target = prefix.join(entry_name(&target.to_string_lossy())?);
                builder.append_link(&mut header, &name, &target).map_err(|e| io(context(), e))?;
            }
            tar::EntryType::Symlink => {
                let target = entry.link_name().map_err(|e| io(context(), e))?.unwrap_or_default().into_owned();
                builder.append_link(&mut header, &name, &target).map_err(|e| io(context(), e))?;
            }
            tar::EntryType::Regular | tar::EntryType::Directory | tar::EntryType::Continuous => {
                builder.append_data(&mut header, &name, &mut entry).map_err(|e| io(context(), e))?;
            }
            // Pax headers and the like are read by the tar crate itself; devices are not packages.
            _ => {}
        }
    }
    Ok(())
}

fn is_tar(path: &Path) -> bool {
    let name = path.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    name.ends_with(".tar") || name.ends_with(".tar.gz") || name.ends_with(".tgz")
}

/// The tar for one deploy: the package (a folder, a tar or tar.gz unpacked, or one file) under
/// its path, then the config files at theirs. Paths are relative to `base` (the app file's
/// folder).
pub fn bundle(base: &Path, package: Option<&(PathBuf, String)>, files: &BTreeMap<String, PathBuf>) -> Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    let mut made = std::collections::BTreeSet::new();
    if let Some((source, path)) = package {
        let source = base.join(source);
        let prefix = entry_name(path)?;
        let meta = std::fs::metadata(&source).map_err(|e| {
            io(format!("reading the app package {} (package.source, relative to the app file; apply the file again from its folder)", source.display()), e)
        })?;
        add_dirs(&mut builder, &prefix, &mut made)?;
        if meta.is_dir() {
            builder.append_dir_all(&prefix, &source).map_err(|e| io(format!("packing {}", source.display()), e))?;
        } else if is_tar(&source) {
            add_tar(&mut builder, &source, &prefix)?;
        } else {
            let name = prefix.join(source.file_name().unwrap_or_default());
            builder.append_path_with_name(&source, &name).map_err(|e| io(format!("packing {}", source.display()), e))?;
        }
    }
    for (target, source) in files {
        let source = base.join(source);
        let name = entry_name(target)?;
        if let Some(parent) = name.parent() {
            add_dirs(&mut builder, parent, &mut made)?;
        }
        builder.append_path_with_name(&source, &name).map_err(|e| io(format!("reading config file {} for {target}", source.display()), e))?;
    }
    builder.into_inner().map_err(|e| io("packing the app".into(), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(tar: &[u8]) -> Vec<(String, Vec<u8>)> {
        let mut archive = tar::Archive::new(tar);
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let mut data = Vec::new();
                e.read_to_end(&mut data).unwrap();
                (e.path().unwrap().to_string_lossy().into_owned(), data)
            })
            .collect()
    }

    #[test]
    fn a_tar_gz_package_lands_under_its_path_and_the_config_files_after_it() {
        let dir = tempfile::tempdir().unwrap();
        // A package tar.gz with ./bin/start and ./ready.
        let mut inner = tar::Builder::new(Vec::new());
        for (name, body) in [("./bin/start", &b"#!/bin/sh\n"[..]), ("./conf/app.properties", b"default")] {
            let mut h = tar::Header::new_gnu();
            h.set_size(body.len() as u64);
            h.set_mode(0o755);
            inner.append_data(&mut h, name, body).unwrap();
        }
        let raw = inner.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &raw).unwrap();
        std::fs::create_dir(dir.path().join("dist")).unwrap();
        std::fs::write(dir.path().join("dist/web.tar.gz"), gz.finish().unwrap()).unwrap();
        std::fs::create_dir(dir.path().join("conf")).unwrap();
        std::fs::write(dir.path().join("conf/prod.properties"), "prod").unwrap();
        let files = BTreeMap::from([("/app/conf/app.properties".to_owned(), PathBuf::from("conf/prod.properties"))]);
        let tar = bundle(dir.path(), Some(&(PathBuf::from("dist/web.tar.gz"), "/app".into())), &files).unwrap();
        let entries = names(&tar);
        let paths: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(paths, ["app", "app/bin/start", "app/conf/app.properties", "app/conf", "app/conf/app.properties"]);
        // The environment's file comes last, so it wins when unpacked.
        assert_eq!(entries.last().unwrap().1, b"prod");
    }

    #[test]
    fn a_folder_or_a_single_file_is_a_package_too_and_escapes_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("site/css")).unwrap();
        std::fs::write(dir.path().join("site/css/a.css"), "x").unwrap();
        let tar = bundle(dir.path(), Some(&(PathBuf::from("site"), "/srv/www".into())), &BTreeMap::new()).unwrap();
        let paths: Vec<String> = names(&tar).into_iter().map(|(n, _)| n).collect();
        assert!(paths.contains(&"srv/www/css/a.css".to_owned()), "{paths:?}");
        std::fs::write(dir.path().join("app.jar"), "jar").unwrap();
        let tar = bundle(dir.path(), Some(&(PathBuf::from("app.jar"), "/app".into())), &BTreeMap::new()).unwrap();
        assert_eq!(names(&tar).last().unwrap().0, "app/app.jar");
        assert!(entry_name("/app/../etc").is_err());
        let missing = bundle(dir.path(), Some(&(PathBuf::from("gone.tar.gz"), "/app".into())), &BTreeMap::new()).unwrap_err().to_string();
        assert!(missing.contains("gone.tar.gz") && missing.contains("package.source"), "{missing}");
    }
}
