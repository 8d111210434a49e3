//! Files and folders into and out of containers on any host, through the host's connection
//! (`PUT`/`GET /containers/{id}/archive`), as `docker cp` does: either side is a local path or
//! `CONTAINER:PATH` (CONTAINER found as `berth inspect` finds it, e.g. `sgp/web:/app/conf`).
//! Deployments put an app's package into its containers this way.
//!
//! Out of a container, the tar is unpacked into a fresh folder beside the destination and moved
//! into place only once whole: a cut link leaves nothing half-written.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use serde::Serialize;

use crate::audit::{AuditObject, Op, Recorder};
use crate::containers::{find, Found};
use crate::error::{Error, Result};
use crate::fleet::Fleet;

/// One side of a copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Side {
    Local(PathBuf),
    /// `-`: a tar on stdin or stdout.
    Stdio,
    Container {
        container: String,
        path: String,
    },
}

impl Side {
    /// Read `CONTAINER:PATH`, `-` or a local path (write `./a:b` for a local name with a colon).
    pub fn parse(text: &str) -> Result<Side> {
        if text == "-" {
            return Ok(Side::Stdio);
        }
        if text.is_empty() {
            return Err(Error::invalid("path", "give a local path, - or CONTAINER:PATH"));
        }
        let local_looking = text.starts_with('/') || text.starts_with('.') || text.starts_with('\\') || is_drive(text);
        match text.split_once(':') {
            Some((container, path)) if !local_looking && !container.is_empty() => {
                if !path.starts_with('/') {
                    return Err(Error::invalid("path", format!("{text:?}: the path in the container must be absolute (CONTAINER:/path)")));
                }
                Ok(Side::Container { container: container.to_owned(), path: path.to_owned() })
            }
            Some((_, _)) if !local_looking => Err(Error::invalid("path", format!("{text:?}: write CONTAINER:PATH"))),
            _ => Ok(Side::Local(PathBuf::from(text))),
        }
    }
}

fn is_drive(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' && (b.len() == 2 || b[2] == b'\\' || b[2] == b'/')
}

/// What a copy did.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Copied {
    /// `HOST/NAME` of the container.
    pub container: String,
    pub path: String,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub bytes: u64,
}

async fn found(fleet: &Fleet, container: &str) -> Result<Found> {
    let query = container.to_owned();
    crate::sync::blocking(fleet.store(), move |s| find(s, &query)).await
}

fn io(context: String, source: std::io::Error) -> Error {
    Error::Io { context, source }
}

fn base_name(path: &str) -> Result<String> {
    let trimmed = path.trim_end_matches('/');
    let name = trimmed.rsplit('/').next().unwrap_or_default();
    if name.is_empty() || name == "." || name == ".." {
        return Err(Error::invalid("path", format!("{path:?} names no file or folder")));
    }
    Ok(name.to_owned())
}

fn parent(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    match trimmed.rsplit_once('/') {
        Some(("", _)) | None => "/".to_owned(),
        Some((parent, _)) => parent.to_owned(),
    }
}

/// Copy `src` to `dst` (one of them in a container; `-` is not handled here: see
/// [`download_tar`] and [`upload_tar`]).
pub async fn cp(fleet: &Fleet, op: &Op, src: &Side, dst: &Side) -> Result<Copied> {
    match (src, dst) {
        (Side::Container { container, path }, Side::Local(local)) => download(fleet, container, path, local).await,
        (Side::Local(local), Side::Container { container, path }) => upload(fleet, op, local, container, path).await,
        (Side::Container { .. }, Side::Container { .. }) => {
            Err(Error::invalid("path", "copying between containers is not supported; copy to a local folder first"))
        }
        (Side::Stdio, _) | (_, Side::Stdio) => Err(Error::invalid("path", "- is a tar on stdin or stdout, for the command line")),
        (Side::Local(_), Side::Local(_)) => Err(Error::invalid("path", "one side must be CONTAINER:PATH")),
    }
}

/// A container's `path` as a tar, written to `out` as it arrives.
pub async fn download_tar(fleet: &Fleet, container: &str, path: &str, out: &mut (dyn std::io::Write + Send)) -> Result<Copied> {
    let found = found(fleet, container).await?;
    let engine = fleet.engine_for(&found.host).await?;
    let mut stream = Box::pin(engine.archive(&found.id, path));
    let mut bytes = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| path_error(e, &found, path))?;
        bytes += chunk.len() as u64;
        out.write_all(&chunk).map_err(|e| io("writing the tar".into(), e))?;
    }
    out.flush().map_err(|e| io("writing the tar".into(), e))?;
    Ok(Copied { container: format!("{}/{}", found.host.name(), found.name), path: path.to_owned(), bytes })
}

fn path_error(e: Error, found: &Found, path: &str) -> Error {
    match e {
        Error::Docker { host, action, reason } if reason.contains("HTTP 404") => {
            Error::Docker { host, action, reason: format!("no {path} in container {} ({reason})", found.name) }
        }
        other => other,
    }
}

async fn download(fleet: &Fleet, container: &str, path: &str, local: &Path) -> Result<Copied> {
    let found = found(fleet, container).await?;
    let name = base_name(path)?;
    let local = local.to_owned();
    // Where it goes: into a folder that exists, else as the new name (its parent must exist).
    let (into, final_name) = if local.is_dir() {
        (local.clone(), name.clone())
    } else {
        let parent = local.parent().filter(|p| !p.as_os_str().is_empty()).map(Path::to_owned).unwrap_or_else(|| PathBuf::from("."));
        if !parent.is_dir() {
            return Err(Error::invalid("path", format!("{} does not exist; make the folder first", parent.display())));
        }
        let file =
            local.file_name().map(|f| f.to_string_lossy().into_owned()).ok_or_else(|| Error::invalid("path", format!("{} names no file", local.display())))?;
        (parent, file)
    };
    let engine = fleet.engine_for(&found.host).await?;
    let staging = tempfile::Builder::new().prefix(".berth-cp-").tempdir_in(&into).map_err(|e| io(format!("making a folder in {}", into.display()), e))?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    let staging_path = staging.path().to_owned();
    let unpack = tokio::task::spawn_blocking(move || {
        let mut archive = tar::Archive::new(ChannelReader { rx, chunk: Bytes::new() });
        archive.set_preserve_permissions(true);
        archive.unpack(&staging_path).map_err(|e| io(format!("unpacking into {}", staging_path.display()), e))
    });
    let mut stream = Box::pin(engine.archive(&found.id, path));
    let mut bytes = 0u64;
    let mut failed = None;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(chunk) => {
                bytes += chunk.len() as u64;
                if tx.send(chunk).await.is_err() {
                    break;
                }
            }
            Err(e) => {
                failed = Some(path_error(e, &found, path));
                break;
            }
        }
    }
    drop(tx);
    let unpacked = unpack.await.map_err(|_| Error::invalid("path", "unpacking stopped"))?;
    if let Some(e) = failed {
        return Err(e);
    }
    unpacked?;
    let made = staging.path().join(&name);
    let target = into.join(&final_name);
    if std::fs::symlink_metadata(&target).is_ok_and(|m| m.is_dir()) && std::fs::symlink_metadata(&made).is_ok_and(|m| m.is_dir()) {
        // Into an existing folder of that name: merge, as docker cp does.
        merge(&made, &target)?;
    } else {
        std::fs::rename(&made, &target).map_err(|e| io(format!("moving the copy to {}", target.display()), e))?;
    }
    Ok(Copied { container: format!("{}/{}", found.host.name(), found.name), path: path.to_owned(), bytes })
}

fn merge(from: &Path, to: &Path) -> Result<()> {
    for entry in std::fs::read_dir(from).map_err(|e| io(format!("reading {}", from.display()), e))? {
        let entry = entry.map_err(|e| io(format!("reading {}", from.display()), e))?;
        let target = to.join(entry.file_name());
        // Neither side's symlinks are followed: a link is moved as a link.
        let is_folder = |p: &Path| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir());
        if is_folder(&target) && entry.file_type().is_ok_and(|t| t.is_dir()) {
            merge(&entry.path(), &target)?;
        } else {
            std::fs::rename(entry.path(), &target).map_err(|e| io(format!("moving the copy to {}", target.display()), e))?;
        }
    }
    Ok(())
}

/// A blocking reader over chunks sent from async code.
struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<Bytes>,
    chunk: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.is_empty() {
            match self.rx.blocking_recv() {
                Some(chunk) => self.chunk = chunk,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk.split_to(n));
        Ok(n)
    }
}

/// Where a copy into a container goes: the folder to unpack into, and the name the copy takes.
async fn destination(engine: &crate::connect::Engine, found: &Found, path: &str, source_is_dir: bool, source_name: &str) -> Result<(String, String)> {
    match engine.path_kind(&found.id, path).await? {
        Some(true) => {
            let folder = path.trim_end_matches('/');
            Ok((if folder.is_empty() { "/".to_owned() } else { folder.to_owned() }, source_name.to_owned()))
        }
        Some(false) if source_is_dir => Err(Error::invalid("path", format!("{path} in {} is a file; a folder cannot be copied onto it", found.name))),
        Some(false) if path.ends_with('/') => Err(Error::invalid("path", format!("{path} in {} is a file, not a folder", found.name))),
        None if path.ends_with('/') => Err(Error::invalid("path", format!("{path} does not exist in container {}; make the folder first", found.name))),
        _ => {
            let parent = parent(path);
            if engine.path_kind(&found.id, &parent).await? != Some(true) {
                return Err(Error::invalid("path", format!("{parent} does not exist in container {}; make the folder first", found.name)));
            }
            Ok((parent, base_name(path)?))
        }
    }
}

async fn upload(fleet: &Fleet, op: &Op, local: &Path, container: &str, path: &str) -> Result<Copied> {
    let meta = std::fs::metadata(local).map_err(|e| io(format!("reading {}", local.display()), e))?;
    let found = found(fleet, container).await?;
    let engine = fleet.engine_for(&found.host).await?;
    // Its own name (a symlink's, not its target's), unless the path ends in . or ..
    let source_name = local
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .or_else(|| local.canonicalize().ok().and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned())))
        .ok_or_else(|| Error::invalid("path", format!("{} names no file or folder", local.display())))?;
    let (into, name) = destination(&engine, &found, path, meta.is_dir(), &source_name).await?;
    let local = local.to_owned();
    let (body, writer, sent) = super::context::produce(move |out| {
        let mut builder = tar::Builder::new(out);
        builder.follow_symlinks(false);
        let packed = if meta.is_dir() { builder.append_dir_all(&name, &local) } else { builder.append_path_with_name(&local, &name) };
        packed.map_err(|e| io(format!("packing {}", local.display()), e))?;
        builder.finish().map_err(|e| io("packing the copy".into(), e))
    });
    let copied = record_upload(fleet, op, &found, path, engine.put_archive(&found.id, &into, body)).await;
    let written = writer.await.map_err(|_| Error::invalid("path", "packing stopped"))?;
    match copied {
        Err(e) => Err(super::context::cause(e, written)),
        Ok(()) => {
            written?;
            Ok(Copied {
                container: format!("{}/{}", found.host.name(), found.name),
                path: path.to_owned(),
                bytes: sent.load(std::sync::atomic::Ordering::Relaxed),
            })
        }
    }
}

async fn record_upload(fleet: &Fleet, op: &Op, found: &Found, path: &str, work: impl std::future::Future<Output = Result<()>>) -> Result<()> {
    let recorder = Recorder::new(Arc::clone(fleet.store()));
    let row = op.row(Some(found.host.name()), "container", AuditObject { id: Some(found.id.clone()), name: Some(found.name.clone()) }, "copy");
    let pending = recorder.request(row).await?;
    let result = work.await;
    recorder.complete(pending, &result, Some(serde_json::json!({ "copied_to": path })), None).await;
    result
}

/// Unpack a tar held in memory at `/` of container `found` (an app's package and config files,
/// one upload per container), recorded as a copy.
pub async fn upload_bundle(fleet: &Fleet, op: &Op, found: &Found, tar: bytes::Bytes) -> Result<()> {
    let engine = fleet.engine_for(&found.host).await?;
    record_upload(fleet, op, found, "/", engine.put_archive(&found.id, "/", futures_util::stream::once(async move { tar }))).await
}

/// Unpack a tar read from `input` into folder `path` of a container (`berth cp - C:/dir`).
pub async fn upload_tar(fleet: &Fleet, op: &Op, container: &str, path: &str, input: impl Read + Send + 'static) -> Result<Copied> {
    let found = found(fleet, container).await?;
    let engine = fleet.engine_for(&found.host).await?;
    if engine.path_kind(&found.id, path).await? != Some(true) {
        return Err(Error::invalid("path", format!("{path} is not a folder in container {}; a tar is unpacked into a folder", found.name)));
    }
    let mut input = input;
    let (body, reader, sent) = super::context::produce(move |out| std::io::copy(&mut input, out).map(drop).map_err(|e| io("reading the tar".into(), e)));
    let copied = record_upload(fleet, op, &found, path, engine.put_archive(&found.id, path, body)).await;
    let read = reader.await.map_err(|_| Error::invalid("path", "reading stopped"))?;
    match copied {
        Err(e) => return Err(super::context::cause(e, read)),
        Ok(()) => read?,
    }
    Ok(Copied { container: format!("{}/{}", found.host.name(), found.name), path: path.to_owned(), bytes: sent.load(std::sync::atomic::Ordering::Relaxed) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sides_read_as_docker_cp_reads_them() {
        let c = |container: &str, path: &str| Side::Container { container: container.into(), path: path.into() };
        for (text, side) in [
            ("-", Side::Stdio),
            ("web:/app/conf", c("web", "/app/conf")),
            ("sgp/web:/app", c("sgp/web", "/app")),
            ("./a:b", Side::Local("./a:b".into())),
            ("/tmp/x", Side::Local("/tmp/x".into())),
            ("C:\\Users\\x", Side::Local("C:\\Users\\x".into())),
            ("out", Side::Local("out".into())),
        ] {
            assert_eq!(Side::parse(text).unwrap(), side, "{text}");
        }
        assert!(Side::parse("web:app").is_err(), "a relative container path");
        assert!(Side::parse("").is_err());
        assert_eq!(parent("/app/conf/"), "/app");
        assert_eq!(parent("/app"), "/");
        assert_eq!(base_name("/app/conf/").unwrap(), "conf");
        assert!(base_name("/").is_err());
    }
}
