//! Plain data that crosses module boundaries. No Docker client, no SQL handle inside any of it:
//! a host's configuration, its live status and its mirrored rows are three separate things.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::endpoint::{Endpoint, SshOptions, TlsFiles};

/// What the user configured: never changes because a daemon went away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostConfig {
    pub name: String,
    pub endpoint: Endpoint,
    pub labels: BTreeMap<String, String>,
}

/// A configured host together with its row id in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub id: i64,
    pub config: HostConfig,
}

impl Host {
    pub fn name(&self) -> &str {
        &self.config.name
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "lowercase")]
pub enum Reachability {
    Online,
    Offline,
    /// A follower is dialling the host (live state only: never stored).
    Connecting,
    /// Added but never reached.
    Never,
}

impl Reachability {
    pub fn as_str(self) -> &'static str {
        match self {
            Reachability::Online => "online",
            Reachability::Offline => "offline",
            Reachability::Connecting => "connecting",
            Reachability::Never => "never",
        }
    }
}

/// How a host is reached, for display.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "lowercase")]
pub enum HostKind {
    Unix,
    Npipe,
    Tcp,
    Tls,
    Ssh,
}

impl HostKind {
    pub fn of(endpoint: &Endpoint) -> HostKind {
        match endpoint {
            Endpoint::Unix { .. } => HostKind::Unix,
            Endpoint::NamedPipe { .. } => HostKind::Npipe,
            Endpoint::Tcp { tls: None, .. } => HostKind::Tcp,
            Endpoint::Tcp { tls: Some(_), .. } => HostKind::Tls,
            Endpoint::Ssh(_) => HostKind::Ssh,
        }
    }
}

/// One line of `berth host ls` / the app's host list: config, live status and mirror size joined.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct HostSummary {
    pub id: i64,
    pub name: String,
    pub url: String,
    pub status: Reachability,
    /// RFC 3339 time of the last completed full snapshot.
    pub last_sync: Option<String>,
    pub api_version: Option<String>,
    pub containers: i64,
    pub labels: BTreeMap<String, String>,
    /// RFC 3339 time the daemon last answered.
    pub last_seen: Option<String>,
    pub last_error: Option<String>,
    pub kind: HostKind,
    /// Mirrored containers by Docker state (`running`, `exited`, …).
    pub states: BTreeMap<String, i64>,
    /// Round trip of the host's last ping, in milliseconds.
    pub rtt_ms: Option<f64>,
    pub tls: Option<TlsFiles>,
    pub ssh: Option<SshOptions>,
}

/// What a front end submits to add or edit a host: the URL plus the files and options that are
/// not part of it. Never a secret: those go to the keyring through `berth host password`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct HostSpec {
    pub name: String,
    pub url: String,
    #[serde(default)]
    pub tls: Option<TlsFiles>,
    #[serde(default)]
    pub ssh: Option<SshOptions>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// The columns views filter on, pulled out of a container's inspect JSON, plus that JSON.
#[derive(Debug, Clone)]
pub struct ContainerFacts {
    pub id: String,
    pub name: String,
    pub image: String,
    pub image_id: Option<String>,
    pub state: String,
    pub exit_code: Option<i64>,
    pub created_ms: i64,
    pub started_ms: Option<i64>,
    pub finished_ms: Option<i64>,
    pub health: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// network name → IPv4 (or IPv6 when it has no IPv4) address.
    pub ips: BTreeMap<String, String>,
    pub inspect: String,
}

#[derive(Debug, Clone)]
pub struct ImageFacts {
    pub id: String,
    pub repo_tags: Vec<String>,
    pub created_ms: Option<i64>,
    pub size: Option<i64>,
    pub inspect: String,
}

#[derive(Debug, Clone)]
pub struct NetworkFacts {
    pub id: String,
    pub name: String,
    pub driver: Option<String>,
    pub scope: Option<String>,
    pub subnets: Vec<String>,
    pub inspect: String,
}

#[derive(Debug, Clone)]
pub struct VolumeFacts {
    pub name: String,
    pub driver: Option<String>,
    pub mountpoint: Option<String>,
    pub inspect: String,
}

/// The engine-wide facts from `/info` and `/version`.
#[derive(Debug, Clone)]
pub struct EngineFacts {
    pub api_version: String,
    pub server_version: Option<String>,
    pub info: String,
}

/// Everything one host holds, fetched in one pass.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub engine: EngineFacts,
    pub containers: Vec<ContainerFacts>,
    pub images: Vec<ImageFacts>,
    pub networks: Vec<NetworkFacts>,
    pub volumes: Vec<VolumeFacts>,
}

/// A Docker event as stored.
#[derive(Debug, Clone, Serialize)]
pub struct EventRecord {
    pub time_ns: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub action: String,
    pub actor_id: Option<String>,
    pub actor_name: Option<String>,
    pub attributes: BTreeMap<String, String>,
}

/// What applying a batch of events does to the mirror: exactly the rows they touch.
#[derive(Debug, Clone)]
pub enum Change {
    UpsertContainer(ContainerFacts),
    RemoveContainer(String),
    UpsertImage(ImageFacts),
    RemoveImage(String),
    UpsertNetwork(NetworkFacts),
    RemoveNetwork(String),
    UpsertVolume(VolumeFacts),
    RemoveVolume(String),
    Engine(EngineFacts),
}

/// One row of `berth ps` and of the app's container table.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ContainerRow {
    pub host: String,
    pub host_id: i64,
    pub id: String,
    pub name: String,
    pub image: String,
    pub state: String,
    pub status: String,
    pub exit_code: Option<i64>,
    pub ips: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    pub created: String,
    pub synced_at: String,
    /// Unix milliseconds, for a front end to compute "Up 3 minutes" as time passes.
    pub created_ms: i64,
    pub started_ms: Option<i64>,
    pub finished_ms: Option<i64>,
    pub health: Option<String>,
}

/// One row of `berth events`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct EventRow {
    pub host: String,
    pub time: String,
    pub time_ns: i64,
    /// The event's row in the store: unique, increasing in the order events were stored.
    pub seq: i64,
    pub host_id: i64,
    /// `time_ns` in milliseconds (exact in a JavaScript number, unlike nanoseconds).
    pub time_ms: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub action: String,
    pub actor_id: Option<String>,
    pub actor_name: Option<String>,
    pub attributes: BTreeMap<String, String>,
}

/// A container to create: the one shape every creation path builds (`berth run`, the app's IP
/// pools view, deployments). Plain data; `connect` turns it into Docker's create request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ContainerSpec {
    pub name: String,
    pub image: String,
    /// The command and its arguments; empty: the image's.
    #[serde(default)]
    pub cmd: Vec<String>,
    /// Replaces the image's entrypoint when given.
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
    /// `KEY=VALUE` entries.
    #[serde(default)]
    pub env: Vec<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub restart: RestartPolicy,
    /// The first is the container's primary network (Docker's network mode); the others are
    /// connected before it starts.
    #[serde(default)]
    pub networks: Vec<NetworkAttachment>,
    /// The MAC address on the primary network.
    #[serde(default)]
    pub mac_address: Option<String>,
    #[serde(default)]
    pub resources: Resources,
    #[serde(default)]
    pub mounts: Vec<MountSpec>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub workdir: Option<String>,
    #[serde(default)]
    pub hostname: Option<String>,
    /// Docker's health check (the image's when left out).
    #[serde(default)]
    pub health: Option<HealthCheck>,
}

/// A health check Docker runs inside the container: `cmd` (exec form) every `interval_ms`,
/// unhealthy after `retries` failures in a row; failures in the first `start_period_ms` do not
/// count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct HealthCheck {
    pub cmd: Vec<String>,
    pub interval_ms: u64,
    pub retries: u32,
    pub start_period_ms: u64,
}

/// Docker's restart policies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    No,
    Always,
    #[default]
    UnlessStopped,
    /// Restart after a non-zero exit, at most this many times (0: no limit).
    OnFailure(u32),
}

/// A network the container joins, with its fixed addresses when it has them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct NetworkAttachment {
    pub network: String,
    #[serde(default)]
    #[cfg_attr(feature = "specta", specta(type = Option<String>))]
    pub ipv4: Option<std::net::Ipv4Addr>,
    #[serde(default)]
    #[cfg_attr(feature = "specta", specta(type = Option<String>))]
    pub ipv6: Option<std::net::Ipv6Addr>,
    #[serde(default)]
    pub aliases: Vec<String>,
}

impl NetworkAttachment {
    /// On `network` at the fixed address `ip`.
    pub fn fixed(network: &str, ip: std::net::IpAddr, aliases: Vec<String>) -> NetworkAttachment {
        let (ipv4, ipv6) = match ip {
            std::net::IpAddr::V4(v4) => (Some(v4), None),
            std::net::IpAddr::V6(v6) => (None, Some(v6)),
        };
        NetworkAttachment { network: network.to_owned(), ipv4, ipv6, aliases }
    }
}

/// Limits; none set means Docker's defaults (no limit).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Resources {
    #[serde(default)]
    pub memory_bytes: Option<i64>,
    /// CPUs in billionths (1.5 CPUs = 1_500_000_000).
    #[serde(default)]
    pub nano_cpus: Option<i64>,
    #[serde(default)]
    pub pids_limit: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct MountSpec {
    pub kind: MountKind,
    /// A host path (bind) or a volume name (volume); empty for tmpfs.
    #[serde(default)]
    pub source: String,
    pub target: String,
    #[serde(default)]
    pub read_only: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    Bind,
    Volume,
    Tmpfs,
}

/// A network to create on a host (an IP pool's, for one host of it). Plain data; `connect`
/// turns it into Docker's request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkSpec {
    pub name: String,
    /// bridge or macvlan.
    pub driver: String,
    pub subnet: String,
    /// The address Docker itself takes on the network.
    pub gateway: Option<String>,
    /// Docker's auxiliary addresses (e.g. `DefaultGatewayIPv4`).
    pub aux_addresses: BTreeMap<String, String>,
    pub ipv6: bool,
    /// Driver options (`com.docker.network.bridge.name`, `parent`).
    pub options: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
}

/// What a person reads: the docker CLI's columns.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Figures {
    /// Of one CPU: 100 is one CPU busy, 200 two.
    pub cpu_percent: f64,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub mem_used: u64,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub mem_limit: u64,
    pub mem_percent: f64,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub net_rx: u64,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub net_tx: u64,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub blk_read: u64,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub blk_write: u64,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub pids: u64,
}
