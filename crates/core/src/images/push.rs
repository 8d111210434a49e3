//! Delivery of an image from one host to others without a registry, sending each target only
//! the layers it lacks, through the connection Berth already holds to it (the SSH tunnel for
//! `ssh://` hosts).
//!
//! 1. The source's image is inspected: its layers' diff IDs.
//! 2. For each target, the lowest layer it lacks is worked out by chain ID from the mirror and
//!    checked against the host (the mirror's best image is inspected live; if it is gone, every
//!    image the host holds is).
//! 3. The export (`GET /images/{name}/get`) starts at once, beside step 2, and is streamed once
//!    into a spool file beside the store; every target that lacks every layer reads that file as
//!    it grows, so its load starts before the export ends.
//! 4. Every other target gets a tar of the manifest, the config and only its missing layers
//!    (`POST /images/load`), all at once. A host that refuses the thin tar gets the whole image.
//! 5. Each target must then hold the source's image ID; it is tagged and written back.
//!
//! A cut link fails that target only; `docker load` reads the whole tar before it makes
//! anything, so nothing half-made is left, and running the push again works.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use serde::Serialize;
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;

use super::layers::{self, ExportIndex};
use super::transfers::{TransferError, TransferHandle, TransferKind};
use super::{host, Reference};
use crate::audit::{AuditObject, Op, Recorder};
use crate::connect::Engine;
use crate::error::{Error, Result};
use crate::fleet::Fleet;
use crate::model::Host;

/// Exports kept beside the store for the next push of the same image (a second wave of hosts, a
/// retry after a cut link), at most this many and this many bytes in all; the oldest go first.
pub const KEEP_EXPORTS: usize = 4;
pub const KEEP_EXPORT_BYTES: u64 = 4 << 30;

/// How the push went for one target (`berth image push --json`).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Pushed {
    pub host: String,
    pub image_id: String,
    pub layers_sent: u32,
    pub layers_skipped: u32,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub bytes_sent: u64,
    pub seconds: f64,
    /// The whole image was sent (the host had none of its layers, or refused the thin tar).
    pub full_tar: bool,
    /// Why the whole image went although layers could have been skipped.
    pub fallback: Option<String>,
    pub error: Option<TransferError>,
    pub transfer: u32,
}

/// What each target lacks, decided while the export starts.
struct Target {
    host: Host,
    engine: Option<Engine>,
    /// The lowest layer to send (`layers.len()`: none, it has the image).
    from: usize,
    transfer: TransferHandle,
    error: Option<Error>,
}

/// The export as it is spooled: bytes written so far, and how it ended.
#[derive(Debug, Clone, Default)]
struct SpoolState {
    written: u64,
    done: Option<std::result::Result<(), String>>,
}

/// The spool file, its progress and (once it is whole) its index.
#[derive(Clone)]
struct Spool {
    path: std::path::PathBuf,
    state: watch::Receiver<SpoolState>,
    index: watch::Receiver<Option<std::result::Result<Arc<ExportIndex>, String>>>,
    /// The tags the loaded image gets (the export's own when `None`).
    tags: Option<Vec<String>>,
}

/// A kept export of `image_id`, if there is a whole one: its index and size.
async fn kept_export(path: &std::path::Path, image_id: &str) -> Option<(ExportIndex, u64)> {
    let (path, image_id) = (path.to_owned(), image_id.to_owned());
    tokio::task::spawn_blocking(move || {
        let mut file = std::fs::File::open(&path).ok()?;
        let size = file.metadata().ok()?.len();
        match layers::index_export(&mut file) {
            Ok(index) if index.image_id == image_id => {
                // Fresh again: the oldest go first.
                let _ = file.set_modified(std::time::SystemTime::now());
                Some((index, size))
            }
            _ => {
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    })
    .await
    .ok()
    .flatten()
}

/// Keep a whole export for the next push of the same image, within [`KEEP_EXPORTS`] and
/// [`KEEP_EXPORT_BYTES`]; a failed or partial one is deleted (by dropping its file).
async fn keep_export(file: tempfile::NamedTempFile, spool: &Spool, cached: &std::path::Path, image_id: &str) {
    let whole = matches!(spool.index.borrow().as_ref(), Some(Ok(index)) if index.image_id == image_id);
    if !whole {
        return;
    }
    let cached = cached.to_owned();
    let _ = tokio::task::spawn_blocking(move || {
        if file.persist(&cached).is_err() {
            return;
        }
        let Some(dir) = cached.parent() else { return };
        let mut kept: Vec<(std::time::SystemTime, u64, std::path::PathBuf)> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "tar"))
            .filter(|e| {
                // A spool file a crashed push left behind goes after a day.
                let spool = e.file_name().to_string_lossy().starts_with('.');
                let stale =
                    e.metadata().and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok()).is_some_and(|age| age > std::time::Duration::from_secs(86_400));
                if spool && stale {
                    let _ = std::fs::remove_file(e.path());
                }
                !spool
            })
            .filter_map(|e| e.metadata().ok().map(|m| (m.modified().unwrap_or(std::time::UNIX_EPOCH), m.len(), e.path())))
            .collect();
        kept.sort_by_key(|k| std::cmp::Reverse(k.0));
        let mut total = 0u64;
        for (i, (_, len, path)) in kept.iter().enumerate() {
            total += len;
            if i >= KEEP_EXPORTS || total > KEEP_EXPORT_BYTES {
                let _ = std::fs::remove_file(path);
            }
        }
    })
    .await;
}

/// Push `image` from host `source` to `targets` (host names), all at once; one result per
/// target, in the order given. Fails as a whole only when the source or its image cannot be
/// had; a target's own failure is in its result.
pub async fn push(fleet: &Fleet, op: &Op, source: &str, image: &str, targets: &[String], on_start: impl FnOnce(&[u32])) -> Result<Vec<Pushed>> {
    let mut names: Vec<String> = Vec::new();
    for target in targets.iter().map(|t| t.trim()).filter(|t| !t.is_empty()) {
        if target == source {
            return Err(Error::invalid("target", format!("{target:?} is the source host; push to other hosts")));
        }
        if !names.iter().any(|n| n == target) {
            names.push(target.to_owned());
        }
    }
    if names.is_empty() {
        return Err(Error::invalid("target", "name at least one host to push to (--to HOST[,HOST...])"));
    }
    let is_id = image.starts_with("sha256:") || (image.len() >= 12 && image.bytes().all(|b| b.is_ascii_hexdigit()));
    let reference = if is_id { None } else { Some(Reference::parse(image)?) };
    let source_host = host(fleet, source).await?;
    let mut hosts = Vec::new();
    for name in &names {
        hosts.push(host(fleet, name).await?);
    }
    let source_engine = fleet.engine_for(&source_host).await?;
    let wanted = reference.as_ref().map(|r| r.to_string()).unwrap_or_else(|| image.to_owned());
    let facts = source_engine.image(&wanted).await?.ok_or_else(|| Error::ImageNotFound { host: source_host.name().to_owned(), image: wanted.clone() })?;
    let diff_ids = layers_of(&facts);
    let image_id = facts.id.clone();
    let started = Instant::now();
    let step = |what: &str, host: &str| tracing::debug!(ms = started.elapsed().as_millis() as u64, host, "push: {what}");

    // The export starts now, while the targets are asked what they lack (unless one of the same
    // image is kept from an earlier push).
    let cache_dir = fleet.store().path().parent().map(|p| p.join("exports")).unwrap_or_else(|| std::env::temp_dir().join("berth-exports"));
    std::fs::create_dir_all(&cache_dir).map_err(|e| io(&format!("making {}", cache_dir.display()), e))?;
    let cached = cache_dir.join(format!("{}.tar", image_id.trim_start_matches("sha256:")));
    let (state_tx, state_rx) = watch::channel(SpoolState::default());
    let (index_tx, index_rx) = watch::channel(None);
    let kept = kept_export(&cached, &image_id).await;
    let (spool_file, path) = match &kept {
        Some(_) => (None, cached.clone()),
        None => {
            let file = tempfile::Builder::new()
                .prefix(".berth-export-")
                .suffix(".tar")
                .tempfile_in(&cache_dir)
                .map_err(|e| io("making a spool file for the export", e))?;
            let path = file.path().to_owned();
            (Some(file), path)
        }
    };
    let spool = Spool { path: path.clone(), state: state_rx, index: index_rx, tags: Some(reference.as_ref().map(|r| vec![r.to_string()]).unwrap_or_default()) };
    let exporter = match kept {
        Some((index, size)) => {
            step("the export is kept from an earlier push", source_host.name());
            state_tx.send_modify(|s| {
                s.written = size;
                s.done = Some(Ok(()));
            });
            let _ = index_tx.send(Some(Ok(Arc::new(index))));
            tokio::spawn(async {})
        }
        None => {
            let writer = spool_file.as_ref().expect("a spool file").reopen().map_err(|e| io("making a spool file for the export", e))?;
            let (engine, name) = (source_engine.clone(), wanted.clone());
            tokio::spawn(async move {
                let result = spool_export(&engine, &name, writer, &state_tx).await.map_err(|e| e.to_string());
                tracing::debug!(ms = started.elapsed().as_millis() as u64, bytes = state_tx.borrow().written, "push: export spooled");
                state_tx.send_modify(|s| s.done = Some(result.clone()));
                let index = match result {
                    Ok(()) => tokio::task::spawn_blocking(move || {
                        std::fs::File::open(&path).map_err(|e| io("reading the exported image", e)).and_then(|mut f| layers::index_export(&mut f))
                    })
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|r| r.map(Arc::new).map_err(|e| e.to_string())),
                    Err(e) => Err(e),
                };
                let _ = index_tx.send(Some(index));
            })
        }
    };
    let exporter = AbortOnDrop(exporter);

    let mut prepared = futures_util::future::join_all(hosts.into_iter().map(|target| {
        let transfer = fleet.transfers().start(TransferKind::Push, target.name(), &wanted, Some(source_host.name()));
        prepare(fleet, target, transfer, &image_id, &diff_ids, facts.size.unwrap_or(0).max(0) as u64)
    }))
    .await;
    for target in &prepared {
        step(&format!("lacks layers {}..{} of {}", target.from, diff_ids.len(), diff_ids.len()), target.host.name());
    }
    on_start(&prepared.iter().map(|t| t.transfer.id).collect::<Vec<_>>());
    // Every target has it: no export needed. (Otherwise it lives until the deliveries end; a
    // push dropped half-way, a cancel, stops it.)
    let exporter = if prepared.iter().any(|t| t.error.is_none() && t.from < diff_ids.len()) { Some(exporter) } else { None };

    // Recorded before anything goes out, as every change is.
    let recorder = Recorder::new(Arc::clone(fleet.store()));
    let mut pendings = Vec::new();
    for target in &prepared {
        let mut row = op.row(Some(target.host.name()), "image", AuditObject { id: Some(image_id.clone()), name: Some(wanted.clone()) }, "push");
        row.before = Some(serde_json::json!({ "from": source_host.name(), "layers": diff_ids.len(), "lacking": diff_ids.len() - target.from }));
        match recorder.request(row).await {
            Ok(pending) => pendings.push(pending),
            Err(e) => {
                // Nothing was sent: every transfer ends here, with why.
                for target in &prepared {
                    target.transfer.fail(&e);
                }
                return Err(e);
            }
        }
    }

    let results = futures_util::future::join_all(prepared.iter_mut().map(|target| {
        let (spool, image_id, diff_ids, reference) = (spool.clone(), image_id.clone(), diff_ids.clone(), reference.clone());
        async move {
            let transfer = target.transfer.clone();
            let outcome = transfer.run(deliver(target, &spool, &image_id, &diff_ids, reference.as_ref())).await;
            tracing::debug!(ms = started.elapsed().as_millis() as u64, host = target.host.name(), ok = outcome.is_ok(), "push: delivered and checked");
            (outcome, started.elapsed().as_secs_f64())
        }
    }))
    .await;
    drop(exporter);
    match spool_file {
        Some(file) => keep_export(file, &spool, &cached, &image_id).await,
        // A kept export a host refused (a damaged file) is not offered again.
        None if results.iter().any(|(r, _)| matches!(r, Err(Error::Docker { .. }))) => {
            let _ = std::fs::remove_file(&cached);
        }
        None => {}
    }

    let mut out = Vec::new();
    for ((target, (outcome, seconds)), pending) in prepared.into_iter().zip(results).zip(pendings) {
        let result: Result<(Delivered, crate::model::ImageFacts)> = match (target.error, outcome) {
            (Some(e), _) => Err(e),
            (None, result) => result,
        };
        if let Ok((_, facts)) = &result {
            super::write_changes(fleet, &target.host, vec![crate::model::Change::UpsertImage(facts.clone())]).await;
        }
        let after = result.as_ref().ok().map(|(d, _)| serde_json::json!({ "layers_sent": d.layers_sent, "bytes_sent": d.bytes_sent, "full_tar": d.full_tar }));
        recorder.complete(pending, &result, after, None).await;
        let n = diff_ids.len() as u32;
        out.push(match result {
            Ok((d, _)) => Pushed {
                host: target.host.name().to_owned(),
                image_id: image_id.clone(),
                layers_skipped: n - d.layers_sent,
                layers_sent: d.layers_sent,
                bytes_sent: d.bytes_sent,
                seconds,
                full_tar: d.full_tar,
                fallback: d.fallback,
                error: None,
                transfer: target.transfer.id,
            },
            Err(e) => Pushed {
                host: target.host.name().to_owned(),
                image_id: image_id.clone(),
                layers_sent: 0,
                layers_skipped: 0,
                bytes_sent: target.transfer.bytes_sent(),
                seconds,
                full_tar: false,
                fallback: None,
                error: Some((&e).into()),
                transfer: target.transfer.id,
            },
        });
    }
    Ok(out)
}

/// Aborts its task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn layers_of(facts: &crate::model::ImageFacts) -> Vec<String> {
    let inspect: serde_json::Value = serde_json::from_str(&facts.inspect).unwrap_or_default();
    inspect["RootFS"]["Layers"].as_array().map(|l| l.iter().filter_map(|d| d.as_str().map(str::to_owned)).collect()).unwrap_or_default()
}

/// Decide what `target` lacks: from the mirror, checked against the host.
async fn prepare(fleet: &Fleet, host: Host, transfer: TransferHandle, image_id: &str, diff_ids: &[String], size: u64) -> Target {
    let engine = match fleet.engine_for(&host).await {
        Ok(engine) => engine,
        Err(e) => return Target { host, engine: None, from: 0, transfer, error: Some(e) },
    };
    let from = match lacking(fleet, &host, &engine, image_id, diff_ids).await {
        Ok(from) => from,
        Err(e) => return Target { host, engine: Some(engine), from: 0, transfer, error: Some(e) },
    };
    let total = (diff_ids.len() - from) as u32;
    transfer.update(|t| {
        t.layers_skipped = from as u32;
        t.full_tar = from == 0;
        if from == 0 {
            t.bytes_total = size as f64;
        }
        t.output.push(format!("{total} of {} layers to send", diff_ids.len()));
    });
    Target { host, engine: Some(engine), from, transfer, error: None }
}

/// The lowest layer `host` lacks. The mirror's image that covers the most layers is checked
/// with one inspect, beside the check that the host lacks the image itself; only when that image
/// is gone or changed (or the host was never mirrored) is every image it holds asked for.
async fn lacking(fleet: &Fleet, host: &Host, engine: &Engine, image_id: &str, diff_ids: &[String]) -> Result<usize> {
    let host_id = host.id;
    let mirrored = crate::sync::blocking(fleet.store(), move |s| s.held_layers(host_id)).await?;
    let covers = |layers: &[String]| layers::first_missing(diff_ids, &layers::held_chains([layers]));
    let best = mirrored.iter().map(|(id, l)| (id, l, covers(l))).filter(|(_, _, from)| *from > 0).max_by_key(|(_, _, from)| *from);
    let best_live = async {
        match best {
            Some((id, layers, _)) => engine.image(id).await.map(|found| Some(found.is_some_and(|f| layers_of(&f) == *layers))),
            None => Ok(None),
        }
    };
    let (has, best_live) = tokio::join!(engine.image(image_id), best_live);
    if has?.is_some() {
        return Ok(diff_ids.len());
    }
    match (best, best_live?) {
        (Some((_, _, from)), Some(true)) => Ok(from),
        // The mirror has nothing to offer for a host it holds images of: trust it.
        (None, _) if !mirrored.is_empty() => Ok(0),
        _ => {
            let live = engine.images_layers().await?;
            Ok(layers::first_missing(diff_ids, &layers::held_chains(live.iter().map(Vec::as_slice))))
        }
    }
}

/// What went to one target.
struct Delivered {
    layers_sent: u32,
    bytes_sent: u64,
    full_tar: bool,
    fallback: Option<String>,
}

async fn deliver(
    target: &mut Target,
    spool: &Spool,
    image_id: &str,
    diff_ids: &[String],
    reference: Option<&Reference>,
) -> Result<(Delivered, crate::model::ImageFacts)> {
    if let Some(e) = target.error.take() {
        return Err(e);
    }
    let engine = target.engine.clone().expect("a prepared target has its engine");
    let n = diff_ids.len();
    let transfer = target.transfer.clone();
    let mut delivered = Delivered { layers_sent: (n - target.from) as u32, bytes_sent: 0, full_tar: target.from == 0, fallback: None };
    if target.from < n {
        let sent = Arc::new(AtomicU64::new(0));
        let result = if target.from == 0 {
            send_whole(&engine, spool, &sent, &transfer).await
        } else {
            let index = match wait_index(spool).await {
                Ok(index) => Some(index),
                // An export Berth cannot read the layout of: the host gets all of it.
                Err(e @ Error::InvalidInput { .. }) => {
                    delivered.fallback = Some(format!("{e}; sent the whole image"));
                    None
                }
                Err(e) => return Err(e),
            };
            let readable = index.filter(|i| i.diff_ids() == diff_ids);
            if let Some(index) = readable {
                transfer.update(|t| t.bytes_total = index.bytes_from(target.from) as f64);
                match send_thin(&engine, spool, &index, target.from, &sent, &transfer).await {
                    Err(Error::Docker { reason, .. }) => {
                        // A host that cannot take the thin tar (another image store) gets it all.
                        let note = format!("the host refused the thin tar ({reason}); sent the whole image");
                        transfer.output(&note);
                        delivered.fallback = Some(note);
                        delivered.full_tar = true;
                        delivered.layers_sent = n as u32;
                        transfer.update(|t| {
                            t.full_tar = true;
                            t.bytes_total += index.bytes_from(0) as f64;
                        });
                        send_whole(&engine, spool, &sent, &transfer).await
                    }
                    other => other,
                }
            } else {
                // The export is not laid out as the inspect said: send it all.
                target.from = 0;
                delivered.full_tar = true;
                delivered.layers_sent = n as u32;
                if delivered.fallback.is_none() {
                    delivered.fallback = Some("the export's layers differ from the image's; sent the whole image".into());
                }
                send_whole(&engine, spool, &sent, &transfer).await
            }
        };
        delivered.bytes_sent = sent.load(Ordering::Relaxed);
        result?;
    }
    let missing = || Error::Docker {
        host: target.host.name().to_owned(),
        action: "load an image".into(),
        reason: format!("it answered, but holds no image {image_id} after the load"),
    };
    let mut facts = engine.image(image_id).await?.ok_or_else(missing)?;
    if let Some(reference) = reference {
        if !facts.repo_tags.contains(&reference.to_string()) {
            engine.tag_image(image_id, &reference.repository, &reference.tag).await?;
            facts = engine.image(image_id).await?.ok_or_else(missing)?;
        }
    }
    transfer.update(|t| {
        t.layers_sent = delivered.layers_sent;
        t.bytes_sent = delivered.bytes_sent as f64;
    });
    Ok((delivered, facts))
}

async fn wait_index(spool: &Spool) -> Result<Arc<ExportIndex>> {
    let mut rx = spool.index.clone();
    loop {
        if let Some(result) = rx.borrow().clone() {
            return result.map_err(|reason| Error::invalid("image export", reason));
        }
        if rx.changed().await.is_err() {
            return Err(Error::invalid("image export", "the export stopped"));
        }
    }
}

/// The whole export, read from the spool as it grows (a kept one: with this push's tags).
async fn send_whole(engine: &Engine, spool: &Spool, sent: &Arc<AtomicU64>, transfer: &TransferHandle) -> Result<Vec<String>> {
    let done = spool.state.borrow().done.is_some();
    let index = spool.index.borrow().clone(); // not held across the await below
    if let (true, Some(Ok(index))) = (done, index) {
        return send_thin(engine, spool, &index, 0, sent, transfer).await;
    }
    let (path, mut state) = (spool.path.clone(), spool.state.clone());
    let runtime = tokio::runtime::Handle::current();
    load(engine, sent, transfer, move |out| {
        let mut file = std::fs::File::open(&path).map_err(|e| io("reading the exported image", e))?;
        let mut buffer = vec![0u8; super::context::CHUNK];
        let mut position = 0u64;
        loop {
            let now = state.borrow_and_update().clone();
            if position < now.written {
                let n = (now.written - position).min(buffer.len() as u64) as usize;
                file.read_exact(&mut buffer[..n]).map_err(|e| io("reading the exported image", e))?;
                out.write_all(&buffer[..n]).map_err(|e| io("sending the image", e))?;
                position += n as u64;
                continue;
            }
            match now.done {
                Some(Ok(())) => return Ok(()),
                Some(Err(reason)) => return Err(Error::invalid("image export", reason)),
                None => {
                    if runtime.block_on(state.changed()).is_err() {
                        return Err(Error::invalid("image export", "the export stopped"));
                    }
                }
            }
        }
    })
    .await
}

async fn send_thin(
    engine: &Engine,
    spool: &Spool,
    index: &Arc<ExportIndex>,
    from: usize,
    sent: &Arc<AtomicU64>,
    transfer: &TransferHandle,
) -> Result<Vec<String>> {
    let (path, index, tags) = (spool.path.clone(), Arc::clone(index), spool.tags.clone());
    load(engine, sent, transfer, move |out| {
        let mut file = std::fs::File::open(&path).map_err(|e| io("reading the exported image", e))?;
        layers::write_thin(&mut file, &index, from, tags.as_deref(), out).map(drop)
    })
    .await
}

/// `docker load` of what `write` writes (on a blocking thread), counting the bytes sent.
async fn load(
    engine: &Engine,
    sent: &Arc<AtomicU64>,
    transfer: &TransferHandle,
    write: impl FnOnce(&mut super::context::ChannelWriter) -> Result<()> + Send + 'static,
) -> Result<Vec<String>> {
    let (stream, writer, _) = super::context::produce(write);
    let body = counted(stream.map(Ok::<Bytes, std::io::Error>), Arc::clone(sent), transfer.clone());
    let loaded = engine.load_image(body).await;
    let written = writer.await.map_err(|_| Error::invalid("image export", "writing the tar stopped"))?;
    match loaded {
        Err(e) => Err(super::context::cause(e, written)),
        Ok(lines) => written.map(|()| lines),
    }
}

/// `stream`, counting the bytes that pass into `sent` and the transfer.
fn counted<S>(stream: S, sent: Arc<AtomicU64>, transfer: TransferHandle) -> impl Stream<Item = std::io::Result<Bytes>> + Send + 'static
where
    S: Stream<Item = std::io::Result<Bytes>> + Send + 'static,
{
    stream.inspect(move |chunk| {
        if let Ok(chunk) = chunk {
            let total = sent.fetch_add(chunk.len() as u64, Ordering::Relaxed) + chunk.len() as u64;
            // The total was the image's size, an estimate: the tar is a little more.
            transfer.update(|t| {
                t.bytes_sent = total as f64;
                t.bytes_total = t.bytes_total.max(t.bytes_sent);
            });
        }
    })
}

/// Stream the export of `name` into `file`, telling readers how much is there.
async fn spool_export(engine: &Engine, name: &str, file: std::fs::File, state: &watch::Sender<SpoolState>) -> Result<()> {
    let mut file = tokio::fs::File::from_std(file);
    let mut export = Box::pin(engine.export_image(name));
    let (mut total, mut unflushed) = (0u64, 0u64);
    while let Some(chunk) = export.next().await {
        let chunk = chunk?;
        file.write_all(&chunk).await.map_err(|e| io("writing the exported image", e))?;
        total += chunk.len() as u64;
        unflushed += chunk.len() as u64;
        if unflushed >= super::context::CHUNK as u64 {
            file.flush().await.map_err(|e| io("writing the exported image", e))?;
            unflushed = 0;
            state.send_modify(|s| s.written = total);
        }
    }
    file.flush().await.map_err(|e| io("writing the exported image", e))?;
    file.sync_data().await.ok();
    state.send_modify(|s| s.written = total);
    Ok(())
}

fn io(context: &str, source: std::io::Error) -> Error {
    Error::Io { context: context.to_owned(), source }
}
