//! What the sync engine and the change path read from a daemon, as plain facts: the whole
//! snapshot, one object re-inspected, the event stream.

use bollard::query_parameters::{EventsOptions, ListContainersOptions, ListImagesOptions, ListNetworksOptions, ListVolumesOptions};
use futures_util::{stream, Stream, StreamExt, TryStreamExt};

use super::{facts, is_not_found, Engine};
use crate::error::{Error, Result};
use crate::model::{ContainerFacts, EngineFacts, EventRecord, ImageFacts, NetworkFacts, Snapshot, VolumeFacts};

/// Inspect requests in flight at once during a snapshot.
pub const SNAPSHOT_CONCURRENCY: usize = 8;

/// The daemon's `/info`, kept opaque: its facts and its clock are what callers need.
#[derive(Debug, Clone)]
pub struct DaemonInfo(bollard::models::SystemInfo);

impl DaemonInfo {
    /// The daemon's clock when it answered, in ns (this machine's clock when it does not say).
    pub fn now_ns(&self) -> i64 {
        self.0
            .system_time
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .and_then(|t| t.timestamp_nanos_opt())
            .unwrap_or_else(|| chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0))
    }
}

/// The daemon's `/version`: what it says it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonVersion {
    /// Docker's version (`20.10.24`).
    pub version: Option<String>,
    /// The newest API it speaks (this connection may speak an older one: [`Engine::api_version`]).
    pub api: Option<String>,
}

impl Engine {
    pub async fn info(&self) -> Result<DaemonInfo> {
        self.docker.info().await.map(DaemonInfo).map_err(|e| self.error("report its info", e))
    }

    pub async fn version(&self) -> Result<DaemonVersion> {
        let version = self.docker.version().await.map_err(|e| self.error("report its version", e))?;
        Ok(DaemonVersion { version: version.version, api: version.api_version })
    }

    /// How many containers the host has, running or not (one listing).
    pub async fn container_count(&self) -> Result<usize> {
        let list = self.docker.list_containers(Some(ListContainersOptions { all: true, ..Default::default() })).await;
        list.map(|containers| containers.len()).map_err(|e| self.error("list containers", e))
    }

    /// The engine's facts (versions and `/info`) for the host's status row.
    pub async fn engine_facts(&self) -> Result<EngineFacts> {
        Ok(facts::engine(&self.api_version, &self.info().await?.0))
    }

    /// Everything the host holds. `info` is `/info` when the caller already has it (fetched
    /// before the listing starts); otherwise it is fetched alongside the listing.
    pub async fn snapshot(&self, info: Option<DaemonInfo>) -> Result<Snapshot> {
        let docker = &self.docker;
        let info = async {
            match info {
                Some(info) => Ok(info),
                None => self.info().await,
            }
        };
        let containers = async {
            let list =
                docker.list_containers(Some(ListContainersOptions { all: true, ..Default::default() })).await.map_err(|e| self.error("list containers", e))?;
            let ids: Vec<String> = list.into_iter().filter_map(|c| c.id).collect();
            self.containers(ids).await.map(|found| found.into_iter().filter_map(|(_, c)| c).collect::<Vec<_>>())
        };
        let images = async {
            let list = docker.list_images(Some(ListImagesOptions { all: false, ..Default::default() })).await.map_err(|e| self.error("list images", e))?;
            let found: Vec<_> = stream::iter(list.into_iter().map(|i| i.id))
                .map(|id| async move { self.image(&id).await })
                .buffer_unordered(SNAPSHOT_CONCURRENCY)
                .try_collect()
                .await?;
            Ok::<_, Error>(found.into_iter().flatten().collect::<Vec<_>>())
        };
        let networks = async {
            let list = docker.list_networks(None::<ListNetworksOptions>).await.map_err(|e| self.error("list networks", e))?;
            let found: Vec<_> = stream::iter(list.into_iter().filter_map(|n| n.id))
                .map(|id| async move { self.network(&id).await })
                .buffer_unordered(SNAPSHOT_CONCURRENCY)
                .try_collect()
                .await?;
            Ok::<_, Error>(found.into_iter().flatten().collect::<Vec<_>>())
        };
        let volumes = async {
            let list = docker.list_volumes(None::<ListVolumesOptions>).await.map_err(|e| self.error("list volumes", e))?;
            Ok::<_, Error>(list.volumes.unwrap_or_default().iter().map(facts::volume).collect::<Vec<_>>())
        };
        let (info, containers, images, networks, volumes) = tokio::try_join!(info, containers, images, networks, volumes)?;
        Ok(Snapshot { engine: facts::engine(&self.api_version, &info.0), containers, images, networks, volumes })
    }

    /// Containers by id (pipelined when there are many). `None`: the container is gone.
    pub async fn containers(&self, ids: Vec<String>) -> Result<Vec<(String, Option<ContainerFacts>)>> {
        let documents = self.inspect_containers_json(ids).await?;
        documents
            .into_iter()
            .map(|(id, json)| {
                let Some(json) = json else { return Ok((id, None)) };
                let facts = facts::container(json).map_err(|e| Error::Docker {
                    host: self.host.clone(),
                    action: "inspect a container".into(),
                    reason: format!("its answer for {id} is not an inspect document: {e}"),
                })?;
                Ok((id, Some(facts)))
            })
            .collect()
    }

    /// One container (by id or name); `None` when it does not exist.
    pub async fn container(&self, id: &str) -> Result<Option<ContainerFacts>> {
        Ok(self.containers(vec![id.to_owned()]).await?.pop().and_then(|(_, facts)| facts))
    }

    pub async fn image(&self, id: &str) -> Result<Option<ImageFacts>> {
        match self.docker.inspect_image(id).await {
            Ok(inspect) => Ok(Some(facts::image(&inspect))),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(self.error("inspect an image", e)),
        }
    }

    pub async fn network(&self, id: &str) -> Result<Option<NetworkFacts>> {
        match self.docker.inspect_network(id, None).await {
            Ok(inspect) => Ok(Some(facts::network(&inspect))),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(self.error("inspect a network", e)),
        }
    }

    pub async fn volume(&self, name: &str) -> Result<Option<VolumeFacts>> {
        match self.docker.inspect_volume(name).await {
            Ok(volume) => Ok(Some(facts::volume(&volume))),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(self.error("inspect a volume", e)),
        }
    }

    /// The daemon's events from `since_s` (Unix seconds) on, then live, until the stream ends.
    pub fn events(&self, since_s: i64) -> impl Stream<Item = Result<EventRecord>> + Send + 'static {
        let engine = self.clone();
        let options = EventsOptions { since: Some(since_s.to_string()), ..Default::default() };
        self.docker.events(Some(options)).map(move |item| match item {
            Ok(message) => Ok(facts::event(&message)),
            Err(e) => Err(engine.error("stream events", e)),
        })
    }
}
