//! Images, archives, networks and volumes on one engine: pulls and builds as streams of plain
//! progress messages, image export and load as byte streams, container archives (`cp`), and the
//! removals and prunes. Errors that arrive inside a stream after HTTP 200 (a registry's refusal,
//! a failed build step) become [`Error::Docker`] with the daemon's words.

use std::collections::HashMap;
use std::time::Duration;

use bollard::query_parameters::{
    BuildImageOptions, CreateImageOptions, DownloadFromContainerOptions, ImportImageOptions, PruneImagesOptions, PruneNetworksOptions, PruneVolumesOptions,
    RemoveImageOptions, RemoveVolumeOptions, TagImageOptions, UploadToContainerOptions,
};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use super::{is_not_found, Engine};
use crate::error::{Error, Result};

/// How long a transfer (a load, an export, an archive) may wait for the daemon's answer headers:
/// a load answers only once the whole tar is in, which over a slow link takes long.
pub const TRANSFER_TIMEOUT: Duration = Duration::from_secs(6 * 3600);

/// Credentials for one registry, sent as `X-Registry-Auth` to the host that pulls.
#[derive(Clone, Default)]
pub struct RegistryAuth {
    pub server: String,
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for RegistryAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryAuth").field("server", &self.server).field("username", &self.username).field("password", &"…").finish()
    }
}

/// One message of a pull (or push) stream: a layer's status and progress, or the image's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PullMessage {
    /// The layer (a short digest) the message is about; `None` for the whole image.
    pub layer: Option<String>,
    pub status: String,
    pub current: Option<i64>,
    pub total: Option<i64>,
}

/// One message of a build or load stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildMessage {
    /// Output text (a build step's lines; a load's "Loaded image: …").
    Output(String),
    /// The image the build made (its id, `sha256:…`).
    Image(String),
}

/// What a prune freed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Pruned {
    /// Ids or names of what was removed.
    pub removed: Vec<String>,
    /// Bytes freed, where Docker says.
    pub bytes: u64,
}

impl Engine {
    fn long(&self) -> bollard::Docker {
        self.docker.clone().with_timeout(TRANSFER_TIMEOUT)
    }

    fn stream_error(&self, action: &str, reason: String) -> Error {
        Error::Docker { host: self.host.clone(), action: action.to_owned(), reason }
    }

    /// Pull `image:tag`; the stream ends after the last message, or with the registry's refusal.
    pub fn pull(&self, image: &str, tag: &str, auth: Option<RegistryAuth>) -> impl Stream<Item = Result<PullMessage>> + Send + 'static {
        let engine = self.clone();
        let options = CreateImageOptions { from_image: Some(image.to_owned()), tag: Some(tag.to_owned()), ..Default::default() };
        let credentials = auth.map(|a| bollard::auth::DockerCredentials {
            username: Some(a.username),
            password: Some(a.password),
            serveraddress: Some(a.server),
            ..Default::default()
        });
        self.docker.create_image(Some(options), None, credentials).map(move |item| match item {
            Ok(info) => {
                if let Some(message) = info.error_detail.and_then(|d| d.message) {
                    return Err(engine.stream_error("pull an image", message));
                }
                let detail = info.progress_detail.unwrap_or_default();
                Ok(PullMessage { layer: info.id, status: info.status.unwrap_or_default(), current: detail.current, total: detail.total })
            }
            Err(e) => Err(engine.error("pull an image", e)),
        })
    }

    /// Remove an image (by id or reference); what Docker untagged and deleted.
    pub async fn remove_image(&self, name: &str, force: bool) -> Result<Vec<String>> {
        let options = RemoveImageOptions { force, noprune: false, ..Default::default() };
        let items = self.docker.remove_image(name, Some(options), None).await.map_err(|e| self.error("remove an image", e))?;
        Ok(items.into_iter().flat_map(|i| i.deleted.into_iter().chain(i.untagged)).collect())
    }

    /// Remove unused images: dangling ones only, or (`all`) every image no container uses.
    pub async fn prune_images(&self, all: bool) -> Result<Pruned> {
        let filters = HashMap::from([("dangling".to_owned(), vec![if all { "false" } else { "true" }.to_owned()])]);
        let answer = self.docker.prune_images(Some(PruneImagesOptions { filters: Some(filters) })).await.map_err(|e| self.error("prune images", e))?;
        let removed = answer.images_deleted.unwrap_or_default().into_iter().filter_map(|i| i.deleted.or(i.untagged)).collect();
        Ok(Pruned { removed, bytes: answer.space_reclaimed.unwrap_or(0).max(0) as u64 })
    }

    pub async fn tag_image(&self, id: &str, repo: &str, tag: &str) -> Result<()> {
        let options = TagImageOptions { repo: Some(repo.to_owned()), tag: Some(tag.to_owned()) };
        self.docker.tag_image(id, Some(options)).await.map_err(|e| self.error("tag an image", e))
    }

    /// `docker save` of one image, as the daemon streams it.
    pub fn export_image(&self, name: &str) -> impl Stream<Item = Result<Bytes>> + Send + 'static {
        let engine = self.clone();
        self.long().export_image(name).map(move |item| item.map_err(|e| engine.error("export an image", e)))
    }

    /// `docker load` of a tar streamed from `body`; the daemon's output lines.
    pub async fn load_image<S>(&self, body: S) -> Result<Vec<String>>
    where
        S: Stream<Item = std::io::Result<Bytes>> + Send + 'static,
    {
        let mut answers = self.long().import_image_stream(ImportImageOptions { quiet: true, ..Default::default() }, body, None);
        let mut lines = Vec::new();
        while let Some(item) = answers.next().await {
            match item {
                Ok(info) => {
                    if let Some(message) = info.error_detail.and_then(|d| d.message) {
                        return Err(self.stream_error("load an image", message));
                    }
                    lines.extend(info.stream.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()));
                }
                Err(bollard::errors::Error::DockerStreamError { error }) => return Err(self.stream_error("load an image", error)),
                Err(e) => return Err(self.error("load an image", e)),
            }
        }
        Ok(lines)
    }

    /// Build from a tar context streamed from `context` with the classic builder, tagged `tag`.
    pub fn build_image<S>(&self, tag: &str, dockerfile: &str, context: S) -> impl Stream<Item = Result<BuildMessage>> + Send + 'static
    where
        S: Stream<Item = Bytes> + Send + 'static,
    {
        let engine = self.clone();
        let options = BuildImageOptions { t: Some(tag.to_owned()), dockerfile: dockerfile.to_owned(), rm: true, forcerm: true, ..Default::default() };
        build_stream(self.long(), options, context).map(move |item| match item {
            Ok(info) => {
                if let Some(message) = info.error_detail.and_then(|d| d.message) {
                    return Err(engine.stream_error("build an image", message.trim().to_owned()));
                }
                if let Some(id) = info.aux.and_then(|a| a.id) {
                    return Ok(BuildMessage::Image(id));
                }
                Ok(BuildMessage::Output(info.stream.or(info.status).unwrap_or_default()))
            }
            Err(bollard::errors::Error::DockerStreamError { error }) => Err(engine.stream_error("build an image", error)),
            Err(e) => Err(engine.error("build an image", e)),
        })
    }

    /// A tar of `path` in container `id` (`GET /containers/{id}/archive`), streamed.
    pub fn archive(&self, id: &str, path: &str) -> impl Stream<Item = Result<Bytes>> + Send + 'static {
        let engine = self.clone();
        let options = DownloadFromContainerOptions { path: path.to_owned() };
        self.long().download_from_container(id, Some(options)).map(move |item| item.map_err(|e| engine.error("copy from a container", e)))
    }

    /// Unpack a tar streamed from `body` into folder `path` of container `id`.
    pub async fn put_archive<S>(&self, id: &str, path: &str, body: S) -> Result<()>
    where
        S: Stream<Item = Bytes> + Send + 'static,
    {
        let options = UploadToContainerOptions { path: path.to_owned(), ..Default::default() };
        self.long().upload_to_container(id, Some(options), bollard::body_stream(body)).await.map_err(|e| self.error("copy into a container", e))
    }

    /// Whether `path` exists in container `id`, and whether it is a folder (`HEAD` archive).
    pub async fn path_kind(&self, id: &str, path: &str) -> Result<Option<bool>> {
        let options = bollard::query_parameters::ContainerArchiveInfoOptions { path: path.to_owned() };
        match self.docker.get_container_archive_info(id, Some(options)).await {
            // The mode's bit 31 is Go's os.ModeDir.
            Ok(info) => Ok(Some(info.file_mode & (1 << 31) != 0)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(self.error("look at a path in a container", e)),
        }
    }

    /// The layers (diff IDs, bottom first) of every image the host holds, asked live.
    pub async fn images_layers(&self) -> Result<Vec<Vec<String>>> {
        use futures_util::TryStreamExt;
        let list = self
            .docker
            .list_images(Some(bollard::query_parameters::ListImagesOptions { all: false, ..Default::default() }))
            .await
            .map_err(|e| self.error("list images", e))?;
        futures_util::stream::iter(list.into_iter().map(|i| i.id))
            .map(|id| async move {
                let inspect = self.docker.inspect_image(&id).await;
                match inspect {
                    Ok(i) => Ok(i.root_fs.and_then(|r| r.layers).unwrap_or_default()),
                    Err(e) if is_not_found(&e) => Ok(Vec::new()),
                    Err(e) => Err(self.error("inspect an image", e)),
                }
            })
            .buffer_unordered(super::SNAPSHOT_CONCURRENCY)
            .try_collect()
            .await
    }

    pub async fn remove_network(&self, id: &str) -> Result<()> {
        self.docker.remove_network(id).await.map_err(|e| self.error("remove a network", e))
    }

    pub async fn prune_networks(&self) -> Result<Pruned> {
        let answer = self.docker.prune_networks(None::<PruneNetworksOptions>).await.map_err(|e| self.error("prune networks", e))?;
        Ok(Pruned { removed: answer.networks_deleted.unwrap_or_default(), bytes: 0 })
    }

    pub async fn remove_volume(&self, name: &str, force: bool) -> Result<()> {
        self.docker.remove_volume(name, Some(RemoveVolumeOptions { force })).await.map_err(|e| self.error("remove a volume", e))
    }

    pub async fn prune_volumes(&self) -> Result<Pruned> {
        let answer = self.docker.prune_volumes(None::<PruneVolumesOptions>).await.map_err(|e| self.error("prune volumes", e))?;
        Ok(Pruned { removed: answer.volumes_deleted.unwrap_or_default(), bytes: answer.space_reclaimed.unwrap_or(0).max(0) as u64 })
    }
}

// bollard's build stream borrows the client; this one owns it.
fn build_stream<S>(
    docker: bollard::Docker,
    options: BuildImageOptions,
    context: S,
) -> impl Stream<Item = Result<bollard::models::BuildInfo, bollard::errors::Error>> + Send + 'static
where
    S: Stream<Item = Bytes> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        let mut stream = docker.build_image(options, None, Some(bollard::body_stream(context)));
        while let Some(item) = stream.next().await {
            if tx.send(item).is_err() {
                return;
            }
        }
    });
    // The caller stopping (a cancel) ends the request: the task is aborted with the stream.
    let guard = AbortOnDrop(task);
    futures_util::stream::unfold((rx, guard), |(mut rx, guard)| async move { rx.recv().await.map(|item| (item, (rx, guard))) })
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
