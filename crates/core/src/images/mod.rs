//! Images on hosts, for both front ends: pull (with the registry login from the keyring), build
//! from a local folder, remove and prune, delivery between hosts without a registry
//! ([`push`]), and files into and out of containers ([`cp`]). Every change is recorded in the
//! audit log and written back to the mirror before the call returns; the progress of pulls,
//! pushes and builds lives in [`transfers`], on the fleet.

pub mod context;
pub mod cp;
pub mod layers;
pub mod push;
pub mod transfers;

use std::collections::BTreeMap;
use std::sync::Arc;

use futures_util::StreamExt;
use serde::Serialize;

use crate::audit::{AuditObject, Op, Recorder};
use crate::connect::{BuildMessage, Engine, Pruned};
use crate::error::{Error, Result};
use crate::fleet::Fleet;
use crate::model::{Change, Host};
use crate::store::{ImageRow, Store};
use crate::sync::MirrorUpdate;
pub use transfers::{Transfer, TransferKind, TransferState, Transfers};

/// An image reference as Docker reads it: `[REGISTRY/]REPOSITORY[:TAG]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The registry's server (`docker.io` when none is named).
    pub registry: String,
    /// The repository, with its registry when one is named (`127.0.0.1:5000/shop/web`).
    pub repository: String,
    pub tag: String,
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.repository, self.tag)
    }
}

impl Reference {
    pub fn parse(text: &str) -> Result<Reference> {
        let bad =
            |reason: &str| Error::invalid("image", format!("{text:?}: {reason}; write REPOSITORY[:TAG], e.g. shop/web:1.4 or registry.example.com/base/jre:8"));
        let text = text.trim();
        if text.is_empty() {
            return Err(bad("it is empty"));
        }
        if text.contains('@') {
            return Err(bad("digests are not supported here; name a tag"));
        }
        let (repository, tag) = match text.rsplit_once(':') {
            Some((repo, tag)) if !tag.contains('/') => (repo, tag),
            _ => (text, "latest"),
        };
        let tag_ok = !tag.is_empty() && tag.len() <= 128 && tag.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !tag_ok {
            return Err(bad("the tag may hold only letters, digits, '_', '.' and '-'"));
        }
        let parts: Vec<&str> = repository.split('/').collect();
        let has_registry = parts.len() > 1 && (parts[0].contains('.') || parts[0].contains(':') || parts[0] == "localhost");
        let path = if has_registry { &parts[1..] } else { &parts[..] };
        let path_ok = path.iter().all(|p| {
            !p.is_empty()
                && p.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'))
                && p.starts_with(|c: char| c.is_ascii_alphanumeric())
        });
        if !path_ok {
            return Err(bad("a repository is lowercase letters, digits and '_', '.', '-' between slashes"));
        }
        let registry = if has_registry { crate::credentials::registry_server(parts[0])? } else { "docker.io".to_owned() };
        Ok(Reference { registry, repository: repository.to_owned(), tag: tag.to_owned() })
    }
}

/// Split `HOST/IMAGE` (`sgp/shop/web:1.4`: host `sgp`, image `shop/web:1.4`).
pub fn split_host_image(text: &str) -> Result<(String, String)> {
    split_host_object(text, "image", "sgp/shop/web:1.4")
}

/// Split `HOST/NAME` at the first `/` (host names have none); `what` and `example` word the error.
pub fn split_host_object(text: &str, what: &'static str, example: &str) -> Result<(String, String)> {
    match text.split_once('/') {
        Some((host, name)) if !host.is_empty() && !name.is_empty() => Ok((host.to_owned(), name.to_owned())),
        _ => Err(Error::invalid(what, format!("{text:?}; write HOST/{}, e.g. {example}", what.to_ascii_uppercase()))),
    }
}

async fn blocking<T: Send + 'static>(fleet: &Fleet, f: impl FnOnce(&Store) -> Result<T> + Send + 'static) -> Result<T> {
    crate::sync::blocking(fleet.store(), f).await
}

async fn host(fleet: &Fleet, name: &str) -> Result<Host> {
    let name = name.to_owned();
    blocking(fleet, move |s| s.host(&name)).await
}

/// Re-inspect images a change touched (by id or reference) and write them to the mirror
/// (deleting the ones that are gone), then tell the views. Failures are logged: the change was
/// made, and the follower (or the next sync) will write it.
pub(crate) async fn write_back(fleet: &Fleet, host: &Host, engine: &Engine, names: &[String]) -> Vec<Option<crate::model::ImageFacts>> {
    let mut found = Vec::new();
    let mut changes = Vec::new();
    for name in names {
        match engine.image(name).await {
            Ok(Some(facts)) => {
                changes.push(Change::UpsertImage(facts.clone()));
                found.push(Some(facts));
            }
            Ok(None) => {
                if name.starts_with("sha256:") {
                    changes.push(Change::RemoveImage(name.clone()));
                }
                found.push(None);
            }
            Err(error) => {
                tracing::warn!(%error, host = host.name(), "could not re-inspect an image a change touched; the follower will");
                found.push(None);
            }
        }
    }
    write_changes(fleet, host, changes).await;
    found
}

pub(crate) async fn write_changes(fleet: &Fleet, host: &Host, changes: Vec<Change>) {
    if changes.is_empty() {
        return;
    }
    let host_id = host.id;
    match blocking(fleet, move |s| s.write_back(host_id, &changes, &BTreeMap::new())).await {
        Ok(_) => fleet.publish(MirrorUpdate::Objects { host_id, host: host.name().to_owned() }),
        Err(error) => tracing::warn!(%error, host = host.name(), "could not write a change back to the mirror"),
    }
}

/// Images of the mirror that carry `tag` on `host` (they lose it to a pull or a build).
async fn tagged(fleet: &Fleet, host: &Host, tag: &str) -> Result<Vec<String>> {
    let (name, tag) = (host.name().to_owned(), tag.to_owned());
    blocking(fleet, move |s| Ok(s.images(Some(&name))?.into_iter().filter(|i| i.tags.contains(&tag)).map(|i| i.id).collect())).await
}

fn image_summary(facts: &crate::model::ImageFacts) -> serde_json::Value {
    serde_json::json!({ "id": facts.id, "tags": facts.repo_tags, "size": facts.size })
}

/// What a pull or a build made.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ImageMade {
    pub host: String,
    pub image: String,
    pub id: String,
    pub transfer: u32,
}

/// Pull `image` on host `host_name`, with the registry's login from the keyring if there is one.
/// Progress goes to the fleet's transfers (`on_start` learns its id first).
pub async fn pull(fleet: &Fleet, op: &Op, host_name: &str, image: &str, on_start: impl FnOnce(u32)) -> Result<ImageMade> {
    let reference = Reference::parse(image)?;
    let host = host(fleet, host_name).await?;
    let auth = crate::credentials::registry_auth(&reference.registry);
    let engine = fleet.engine_for(&host).await?;
    // Recorded first: a transfer that starts always ends.
    let recorder = Recorder::new(Arc::clone(fleet.store()));
    let row = op.row(Some(host.name()), "image", AuditObject { id: None, name: Some(reference.to_string()) }, "pull");
    let pending = recorder.request(row).await?;
    let transfer = fleet.transfers().start(TransferKind::Pull, host.name(), &reference.to_string(), None);
    on_start(transfer.id);
    let before = tagged(fleet, &host, &reference.to_string()).await.unwrap_or_default();
    let mut names = before;
    names.push(reference.to_string());
    // Written back before the transfer ends, so "done" means the views can show it.
    let mut found = None;
    let result = transfer
        .run(async {
            let streamed = async {
                let mut messages = Box::pin(engine.pull(&reference.repository, &reference.tag, auth));
                while let Some(message) = messages.next().await {
                    let message = message?;
                    match &message.layer {
                        Some(layer) if layer != &reference.tag => transfer.layer(layer, &message.status, message.current, message.total),
                        _ => transfer.output(&message.status),
                    }
                }
                Ok(())
            }
            .await;
            found = Some(write_back(fleet, &host, &engine, &names).await);
            streamed
        })
        .await;
    let found = match found {
        Some(found) => found,
        None => write_back(fleet, &host, &engine, &names).await, // cancelled: whatever it made
    };
    let made = found.last().cloned().flatten();
    let result = result.and_then(|()| made.clone().ok_or_else(|| Error::ImageNotFound { host: host.name().to_owned(), image: reference.to_string() }));
    let object = made.as_ref().map(|f| AuditObject { id: Some(f.id.clone()), name: Some(reference.to_string()) });
    recorder.complete(pending, &result, made.as_ref().map(image_summary), object).await;
    let facts = result?;
    Ok(ImageMade { host: host.name().to_owned(), image: reference.to_string(), id: facts.id, transfer: transfer.id })
}

/// What [`remove`] did on one host.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ImageRemoved {
    pub host: String,
    pub image: String,
    /// What Docker untagged and deleted.
    pub removed: Vec<String>,
}

/// Remove an image from a host; refused while containers use it, unless `force`.
pub async fn remove(fleet: &Fleet, op: &Op, host_name: &str, image: &str, force: bool) -> Result<ImageRemoved> {
    let host = host(fleet, host_name).await?;
    let row = {
        let (name, image) = (host.name().to_owned(), image.to_owned());
        blocking(fleet, move |s| s.image_on(&name, &image)).await?
    };
    if let Some(row) = &row {
        if !row.containers.is_empty() && !force {
            return Err(Error::InUse { host: host.name().to_owned(), kind: "image", name: image.to_owned(), users: row.containers.clone() });
        }
    }
    let engine = fleet.engine_for(&host).await?;
    let recorder = Recorder::new(Arc::clone(fleet.store()));
    let mut audit = op.row(Some(host.name()), "image", AuditObject { id: row.as_ref().map(|r| r.id.clone()), name: Some(image.to_owned()) }, "remove");
    audit.before = row.as_ref().map(|r| serde_json::json!({ "id": r.id, "tags": r.tags, "containers": r.containers }));
    let pending = recorder.request(audit).await?;
    let result = engine.remove_image(image, force).await.map_err(|e| not_found_image(e, &host, image));
    let mut touched: Vec<String> = row.iter().map(|r| r.id.clone()).collect();
    if let Ok(removed) = &result {
        touched.extend(removed.iter().filter(|r| r.starts_with("sha256:")).cloned());
    }
    write_back(fleet, &host, &engine, &touched).await;
    recorder.complete(pending, &result, None, None).await;
    Ok(ImageRemoved { host: host.name().to_owned(), image: image.to_owned(), removed: result? })
}

fn not_found_image(e: Error, host: &Host, image: &str) -> Error {
    match e {
        Error::Docker { reason, .. } if reason.contains("HTTP 404") => Error::ImageNotFound { host: host.name().to_owned(), image: image.to_owned() },
        other => other,
    }
}

/// Remove a host's dangling images (`all`: every image no container uses).
pub async fn prune(fleet: &Fleet, op: &Op, host_name: &str, all: bool) -> Result<Pruned> {
    let host = host(fleet, host_name).await?;
    let engine = fleet.engine_for(&host).await?;
    let recorder = Recorder::new(Arc::clone(fleet.store()));
    let pending = recorder.request(op.row(Some(host.name()), "image", AuditObject::default(), "prune")).await?;
    let result = engine.prune_images(all).await;
    if let Ok(pruned) = &result {
        let gone = pruned.removed.iter().filter(|r| r.starts_with("sha256:")).cloned().map(Change::RemoveImage).collect();
        write_changes(fleet, &host, gone).await;
    }
    let after = result.as_ref().ok().map(|p| serde_json::json!({ "removed": p.removed.len(), "bytes": p.bytes }));
    recorder.complete(pending, &result, after, None).await;
    result
}

/// Build `dir` (its `Dockerfile`, or `dockerfile` in it) on a host as `tag`, with the classic
/// builder: the context is streamed as a tar (less what `.dockerignore` leaves out), the
/// output goes to the transfer.
pub async fn build(
    fleet: &Fleet,
    op: &Op,
    host_name: &str,
    tag: &str,
    dir: &std::path::Path,
    dockerfile: Option<&str>,
    on_start: impl FnOnce(u32),
) -> Result<ImageMade> {
    let reference = Reference::parse(tag)?;
    let dockerfile = dockerfile.unwrap_or("Dockerfile").to_owned();
    if !dir.is_dir() {
        return Err(Error::invalid("build context", format!("{} is not a folder", dir.display())));
    }
    if !dir.join(&dockerfile).is_file() {
        return Err(Error::invalid("build context", format!("{} has no {dockerfile}", dir.display())));
    }
    let host = host(fleet, host_name).await?;
    let engine = fleet.engine_for(&host).await?;
    // Recorded first: a transfer that starts always ends.
    let recorder = Recorder::new(Arc::clone(fleet.store()));
    let row = op.row(Some(host.name()), "image", AuditObject { id: None, name: Some(reference.to_string()) }, "build");
    let pending = recorder.request(row).await?;
    let transfer = fleet.transfers().start(TransferKind::Build, host.name(), &reference.to_string(), None);
    on_start(transfer.id);
    let before = tagged(fleet, &host, &reference.to_string()).await.unwrap_or_default();
    let (context, packed) = context::stream(dir.to_owned(), &dockerfile);
    let mut names = before;
    names.push(reference.to_string());
    let mut found = None;
    let result = transfer
        .run(async {
            let built = async {
                let mut messages = Box::pin(engine.build_image(&reference.to_string(), &dockerfile, context));
                let mut id = None;
                while let Some(message) = messages.next().await {
                    match message {
                        Ok(BuildMessage::Output(text)) => transfer.output(&text),
                        Ok(BuildMessage::Image(made)) => id = Some(made),
                        Err(e) => {
                            // A context that could not be read explains a daemon that saw a cut tar.
                            let packed = packed.await.unwrap_or(Ok(()));
                            return Err(context::cause(e, packed));
                        }
                    }
                }
                packed.await.map_err(|_| Error::invalid("build context", "packing it stopped"))??;
                id.ok_or_else(|| Error::Docker {
                    host: host.name().to_owned(),
                    action: "build an image".into(),
                    reason: "the build ended without an image".into(),
                })
            }
            .await;
            found = Some(write_back(fleet, &host, &engine, &names).await);
            built
        })
        .await;
    let found = match found {
        Some(found) => found,
        None => write_back(fleet, &host, &engine, &names).await,
    };
    let made = found.last().cloned().flatten();
    let object = made.as_ref().map(|f| AuditObject { id: Some(f.id.clone()), name: Some(reference.to_string()) });
    recorder.complete(pending, &result, made.as_ref().map(image_summary), object).await;
    let id = result?;
    Ok(ImageMade { host: host.name().to_owned(), image: reference.to_string(), id, transfer: transfer.id })
}

/// One image across hosts (the cross-host table): the hosts that hold it and, of `among`, those
/// that lack it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ImageAcross {
    pub id: String,
    pub tags: Vec<String>,
    pub size: Option<f64>,
    pub created: Option<String>,
    pub hosts: Vec<String>,
    pub lacking: Vec<String>,
    pub containers: Vec<String>,
    pub dangling: bool,
}

/// Group per-host rows into one row per image ID; `among` are the hosts to report as lacking.
pub fn across(rows: &[ImageRow], among: &[String]) -> Vec<ImageAcross> {
    let mut by_id: BTreeMap<&str, ImageAcross> = BTreeMap::new();
    for row in rows {
        let entry = by_id.entry(&row.id).or_insert_with(|| ImageAcross {
            id: row.id.clone(),
            tags: Vec::new(),
            size: row.size,
            created: row.created.clone(),
            hosts: Vec::new(),
            lacking: Vec::new(),
            containers: Vec::new(),
            dangling: true,
        });
        entry.hosts.push(row.host.clone());
        for tag in &row.tags {
            if !entry.tags.contains(tag) {
                entry.tags.push(tag.clone());
            }
        }
        entry.containers.extend(row.containers.iter().map(|c| format!("{}/{c}", row.host)));
        entry.dangling &= row.dangling;
    }
    let mut out: Vec<ImageAcross> = by_id.into_values().collect();
    for image in &mut out {
        image.lacking = among.iter().filter(|h| !image.hosts.contains(h)).cloned().collect();
    }
    out.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_read_as_docker_reads_them() {
        let cases = [
            ("busybox", "docker.io", "busybox", "latest"),
            ("shop/web:1.4", "docker.io", "shop/web", "1.4"),
            ("127.0.0.1:5000/base/jre:8", "127.0.0.1:5000", "127.0.0.1:5000/base/jre", "8"),
            ("localhost/app", "localhost", "localhost/app", "latest"),
            ("registry.example.com:443/x", "registry.example.com:443", "registry.example.com:443/x", "latest"),
        ];
        for (text, registry, repository, tag) in cases {
            let r = Reference::parse(text).unwrap();
            assert_eq!((r.registry.as_str(), r.repository.as_str(), r.tag.as_str()), (registry, repository, tag), "{text}");
        }
        for bad in ["", "Shop/Web", "a b", "x:", "x@sha256:00", "/x", "x//y"] {
            assert!(Reference::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(split_host_image("sgp/shop/web:1").unwrap(), ("sgp".into(), "shop/web:1".into()));
        assert!(split_host_image("sgp").is_err());
    }

    #[test]
    fn one_row_per_image_across_hosts() {
        let row = |host: &str, id: &str, tags: &[&str], containers: &[&str]| ImageRow {
            host: host.into(),
            id: id.into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            size: Some(10.0),
            created: Some("2026-12-01T00:00:00Z".into()),
            containers: containers.iter().map(|c| c.to_string()).collect(),
            dangling: tags.is_empty(),
            layers: Vec::new(),
        };
        let rows = vec![row("a", "sha256:1", &["web:1"], &["w1"]), row("b", "sha256:1", &["web:1", "web:latest"], &[]), row("a", "sha256:2", &[], &[])];
        let all = across(&rows, &["a".into(), "b".into(), "c".into()]);
        let web = all.iter().find(|i| i.id == "sha256:1").unwrap();
        assert_eq!(web.hosts, vec!["a", "b"]);
        assert_eq!(web.lacking, vec!["c"]);
        assert_eq!(web.tags, vec!["web:1", "web:latest"]);
        assert_eq!(web.containers, vec!["a/w1"]);
        assert!(all.iter().find(|i| i.id == "sha256:2").unwrap().dangling);
    }
}
