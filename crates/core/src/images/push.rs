//! Delivery of an image from one host to others without a registry, sending each target only
//! the layers it lacks, through the connection Berth already holds to it (the SSH tunnel for
//! `ssh://` hosts).
//!
//! 1. The source's image is inspected: its layers' diff IDs.
//! 2. For each target, the lowest layer it lacks is worked out by chain ID from the mirror and
//!    checked against the host (the mirror's best image is inspected live; if it is gone, every
//!    image the host holds is).
//! 3. The export (`GET /images/{name}/get`) is streamed once: to a spool file beside the store,
//!    and at the same time straight to every target that lacks every layer.
//! 4. Every other target gets a tar of the manifest, the config and only its missing layers
//!    (`POST /images/load`), all at once. A host that refuses the thin tar gets the whole image.
//! 5. Each target must then hold the source's image ID; it is tagged and written back.
//!
//! A cut link fails that target only; `docker load` reads the whole tar before it makes
//! anything, so nothing half-made is left, and running the push again works.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use serde::Serialize;
use tokio::io::AsyncWriteExt;

use super::layers::{self, ExportIndex};
use super::transfers::{TransferError, TransferHandle, TransferKind};
use super::{host, Reference};
use crate::audit::{AuditObject, Op, Recorder};
use crate::connect::Engine;
use crate::error::{Error, Result};
use crate::fleet::Fleet;
use crate::model::Host;

/// Chunks of the export buffered for each target it is streamed to live.
const LIVE_BUFFERED: usize = 32;

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

/// What each target lacks, decided before the export starts.
struct Target {
    host: Host,
    engine: Option<Engine>,
    /// The lowest layer to send (`layers.len()`: none, it has the image).
    from: usize,
    transfer: TransferHandle,
    error: Option<Error>,
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
    let inspect: serde_json::Value = serde_json::from_str(&facts.inspect).unwrap_or_default();
    let diff_ids: Vec<String> =
        inspect["RootFS"]["Layers"].as_array().map(|l| l.iter().filter_map(|d| d.as_str().map(str::to_owned)).collect()).unwrap_or_default();
    let image_id = facts.id.clone();

    let started = Instant::now();
    let mut prepared = futures_util::future::join_all(hosts.into_iter().map(|target| {
        let transfer = fleet.transfers().start(TransferKind::Push, target.name(), &wanted, Some(source_host.name()));
        prepare(fleet, target, transfer, &image_id, &diff_ids)
    }))
    .await;
    on_start(&prepared.iter().map(|t| t.transfer.id).collect::<Vec<_>>());
    // Recorded before anything goes out, as every change is.
    let recorder = Recorder::new(Arc::clone(fleet.store()));
    let mut pendings = Vec::new();
    for target in &prepared {
        let mut row = op.row(Some(target.host.name()), "image", AuditObject { id: Some(image_id.clone()), name: Some(wanted.clone()) }, "push");
        row.before = Some(serde_json::json!({ "from": source_host.name(), "layers": diff_ids.len(), "lacking": diff_ids.len() - target.from }));
        pendings.push(recorder.request(row).await?);
    }

    // The export, spooled beside the store and streamed live to the targets that need it all.
    let spool_dir = fleet.store().path().parent().map(|p| p.to_owned()).unwrap_or_else(std::env::temp_dir);
    let spool =
        tempfile::Builder::new().prefix(".berth-export-").suffix(".tar").tempfile_in(&spool_dir).map_err(|e| io("making a spool file for the export", e))?;
    let spool_path = spool.path().to_owned();
    let mut live = Vec::new();
    let mut receivers = Vec::new();
    for target in &prepared {
        if target.error.is_none() && target.from == 0 {
            let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(LIVE_BUFFERED);
            live.push(tx);
            receivers.push(Some(rx));
        } else {
            receivers.push(None);
        }
    }
    let needs_export = prepared.iter().any(|t| t.error.is_none() && t.from < diff_ids.len());
    let export = {
        let (engine, name, path) = (source_engine.clone(), wanted.clone(), spool_path.clone());
        async move {
            if !needs_export {
                return Ok(None);
            }
            spool_export(&engine, &name, &path, live).await.map(Some)
        }
    };
    let (index_tx, index_rx) = tokio::sync::watch::channel::<Option<std::result::Result<Arc<ExportIndex>, String>>>(None);
    let exporter = async {
        let result = match export.await {
            Ok(Some(_)) => {
                let path = spool_path.clone();
                match tokio::task::spawn_blocking(move || {
                    std::fs::File::open(&path).map_err(|e| io("reading the exported image", e)).and_then(|mut f| layers::index_export(&mut f))
                })
                .await
                {
                    Ok(Ok(index)) => Ok(Arc::new(index)),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(e) => Err(e.to_string()),
                }
            }
            Ok(None) => Err("no export was needed".to_owned()),
            Err(e) => Err(e.to_string()),
        };
        let _ = index_tx.send(Some(result));
    };
    let sends = futures_util::future::join_all(prepared.iter_mut().zip(receivers).map(|(target, live)| {
        let index_rx = index_rx.clone();
        let (spool_path, image_id, diff_ids) = (spool_path.clone(), image_id.clone(), diff_ids.clone());
        let reference = reference.clone();
        async move {
            let transfer = target.transfer.clone();
            let outcome = transfer.run(deliver(target, live, index_rx, spool_path, &image_id, &diff_ids, reference.as_ref())).await;
            (outcome, started.elapsed().as_secs_f64())
        }
    }));
    let ((), results) = tokio::join!(exporter, sends);
    drop(spool);

    let mut out = Vec::new();
    for ((target, (outcome, seconds)), pending) in prepared.into_iter().zip(results).zip(pendings) {
        let result: Result<Delivered> = match (target.error, outcome) {
            (Some(e), _) => Err(e),
            (None, result) => result,
        };
        if let (Ok(_), Some(engine)) = (&result, &target.engine) {
            super::write_back(fleet, &target.host, engine, std::slice::from_ref(&image_id)).await;
        }
        let after = result.as_ref().ok().map(|d| serde_json::json!({ "layers_sent": d.layers_sent, "bytes_sent": d.bytes_sent, "full_tar": d.full_tar }));
        recorder.complete(pending, &result, after, None).await;
        let skipped = |d: &Delivered| diff_ids.len() as u32 - d.layers_sent;
        out.push(match result {
            Ok(d) => Pushed {
                host: target.host.name().to_owned(),
                image_id: image_id.clone(),
                layers_skipped: skipped(&d),
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

/// Decide what `target` lacks: from the mirror, checked against the host.
async fn prepare(fleet: &Fleet, host: Host, transfer: TransferHandle, image_id: &str, diff_ids: &[String]) -> Target {
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
        t.output.push(format!("{total} of {} layers to send", diff_ids.len()));
    });
    Target { host, engine: Some(engine), from, transfer, error: None }
}

async fn lacking(fleet: &Fleet, host: &Host, engine: &Engine, image_id: &str, diff_ids: &[String]) -> Result<usize> {
    if engine.image(image_id).await?.is_some() {
        return Ok(diff_ids.len());
    }
    let host_id = host.id;
    let mirrored = crate::sync::blocking(fleet.store(), move |s| s.held_layers(host_id)).await?;
    // The mirror's image that covers the most layers, checked live.
    let best = mirrored.iter().max_by_key(|held| layers::first_missing(diff_ids, &layers::held_chains([held.as_slice()])));
    if let Some(best) = best {
        let from = layers::first_missing(diff_ids, &layers::held_chains([best.as_slice()]));
        if from == 0 {
            return Ok(0);
        }
        let live = engine.images_layers().await?;
        if live.iter().any(|l| l == best) {
            return Ok(from);
        }
        let held: HashSet<String> = layers::held_chains(live.iter().map(Vec::as_slice));
        return Ok(layers::first_missing(diff_ids, &held));
    }
    Ok(0)
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
    live: Option<tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>>,
    mut index_rx: tokio::sync::watch::Receiver<Option<std::result::Result<Arc<ExportIndex>, String>>>,
    spool_path: std::path::PathBuf,
    image_id: &str,
    diff_ids: &[String],
    reference: Option<&Reference>,
) -> Result<Delivered> {
    if let Some(e) = target.error.take() {
        return Err(e);
    }
    let engine = target.engine.clone().expect("a prepared target has its engine");
    let n = diff_ids.len();
    let transfer = target.transfer.clone();
    let mut delivered = Delivered { layers_sent: (n - target.from) as u32, bytes_sent: 0, full_tar: target.from == 0, fallback: None };
    if target.from < n {
        let sent = Arc::new(AtomicU64::new(0));
        let result = match live {
            Some(rx) => {
                transfer.update(|t| t.bytes_total = t.bytes_total.max(0.0));
                engine.load_image(counted(receiver_stream(rx), Arc::clone(&sent), transfer.clone())).await
            }
            None => {
                let index = wait_index(&mut index_rx).await?;
                if index.diff_ids() != diff_ids {
                    // The export is not laid out as the inspect said: send it all.
                    target.from = 0;
                    delivered.full_tar = true;
                    delivered.layers_sent = n as u32;
                    delivered.fallback = Some("the export's layers differ from the image's; sent the whole image".into());
                }
                transfer.update(|t| t.bytes_total = index.bytes_from(target.from) as f64);
                let first = send_from_spool(&engine, &spool_path, &index, target.from, &sent, &transfer).await;
                match first {
                    Err(Error::Docker { reason, .. }) if target.from > 0 => {
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
                        send_from_spool(&engine, &spool_path, &index, 0, &sent, &transfer).await
                    }
                    other => other,
                }
            }
        };
        delivered.bytes_sent = sent.load(Ordering::Relaxed);
        result?;
    }
    if engine.image(image_id).await?.is_none() {
        return Err(Error::Docker {
            host: target.host.name().to_owned(),
            action: "load an image".into(),
            reason: format!("it answered, but holds no image {image_id} after the load"),
        });
    }
    if let Some(reference) = reference {
        engine.tag_image(image_id, &reference.repository, &reference.tag).await?;
    }
    transfer.update(|t| {
        t.layers_sent = delivered.layers_sent;
        t.bytes_sent = delivered.bytes_sent as f64;
    });
    Ok(delivered)
}

async fn wait_index(rx: &mut tokio::sync::watch::Receiver<Option<std::result::Result<Arc<ExportIndex>, String>>>) -> Result<Arc<ExportIndex>> {
    loop {
        if let Some(result) = rx.borrow().clone() {
            return result.map_err(|reason| Error::invalid("image export", reason));
        }
        if rx.changed().await.is_err() {
            return Err(Error::invalid("image export", "the export stopped"));
        }
    }
}

async fn send_from_spool(
    engine: &Engine,
    spool: &std::path::Path,
    index: &Arc<ExportIndex>,
    from: usize,
    sent: &Arc<AtomicU64>,
    transfer: &TransferHandle,
) -> Result<Vec<String>> {
    let (path, index2) = (spool.to_owned(), Arc::clone(index));
    let (stream, writer, _) = super::context::produce(move |out| {
        let mut file = std::fs::File::open(&path).map_err(|e| io("reading the exported image", e))?;
        layers::write_thin(&mut file, &index2, from, out).map(drop)
    });
    let body = counted(stream.map(Ok::<Bytes, std::io::Error>), Arc::clone(sent), transfer.clone());
    let loaded = engine.load_image(body).await;
    let written = writer.await.map_err(|_| Error::invalid("image export", "writing the tar stopped"))?;
    match loaded {
        // The tar could not be written: that is the cause, not the daemon's view of a cut tar.
        Err(e) => Err(written.err().unwrap_or(e)),
        Ok(lines) => Ok(lines),
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
            transfer.update(|t| t.bytes_sent = total as f64);
        }
    })
}

fn receiver_stream<T: Send + 'static>(rx: tokio::sync::mpsc::Receiver<T>) -> impl Stream<Item = T> + Send + 'static {
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) })
}

/// Stream the export of `name` into `path` and to each of `live` at once; its size.
async fn spool_export(engine: &Engine, name: &str, path: &std::path::Path, mut live: Vec<tokio::sync::mpsc::Sender<std::io::Result<Bytes>>>) -> Result<u64> {
    let mut file = tokio::fs::File::create(path).await.map_err(|e| io("writing the exported image", e))?;
    let mut export = Box::pin(engine.export_image(name));
    let mut total = 0u64;
    while let Some(chunk) = export.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(e) => {
                for tx in &live {
                    let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                }
                return Err(e);
            }
        };
        file.write_all(&chunk).await.map_err(|e| io("writing the exported image", e))?;
        total += chunk.len() as u64;
        let mut still = Vec::with_capacity(live.len());
        for tx in live {
            if tx.send(Ok(chunk.clone())).await.is_ok() {
                still.push(tx);
            }
        }
        live = still;
    }
    file.flush().await.map_err(|e| io("writing the exported image", e))?;
    Ok(total)
}

fn io(context: &str, source: std::io::Error) -> Error {
    Error::Io { context: context.to_owned(), source }
}
