//! Connections to Docker engines: one [`Engine`] per host, API version negotiated on connect.
//! The only module that knows bollard: what leaves it is [`crate::Error`] and plain data
//! ([`crate::model`]'s facts, the inspect documents as the daemon wrote them).

mod containers;
mod exec;
pub(crate) mod facts;
mod host_program;
mod images;
mod reads;

pub use exec::{ExecCreate, ExecState, InputSink, LogQuery, Output, OutputStream};
pub use host_program::HostProgram;
pub use images::{BuildMessage, Pruned, PullMessage, RegistryAuth, TRANSFER_TIMEOUT};
pub use reads::{DaemonInfo, DaemonVersion, SNAPSHOT_CONCURRENCY};
pub mod pipeline;
#[cfg(unix)]
pub mod ssh;
#[cfg(unix)]
pub mod tunnel;

use std::time::Duration;

use bollard::Docker;

use crate::endpoint::Endpoint;
use crate::error::{Error, Result};
use crate::model::Host;

/// How long one request may wait for the daemon's answer headers.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a ping may take before the host counts as unreachable.
pub const PING_TIMEOUT: Duration = Duration::from_secs(3);

/// A live, version-negotiated client for one host.
#[derive(Debug, Clone)]
pub struct Engine {
    /// bollard's client: never leaves this module.
    docker: Docker,
    pub host: String,
    pub endpoint: Endpoint,
    pub api_version: String,
    raw: Raw,
}

type RawClient<C> = hyper_util::client::legacy::Client<C, http_body_util::Full<hyper::body::Bytes>>;

/// A second pooled client on the same endpoint for the hot path: container inspect documents are
/// stored as the daemon sent them, so decoding them into bollard's models only to encode them
/// again would be wasted work (it was a third of `berth sync`'s CPU time).
#[derive(Clone)]
enum Raw {
    #[cfg(unix)]
    Unix {
        client: std::sync::Arc<RawClient<hyperlocal::UnixConnector>>,
        socket: std::path::PathBuf,
    },
    Http {
        client: std::sync::Arc<RawClient<hyper_util::client::legacy::connect::HttpConnector>>,
        base: String,
    },
    #[cfg(unix)]
    Tunnel {
        client: std::sync::Arc<RawClient<TunnelConnector>>,
        link: std::sync::Arc<SshLink>,
    },
    /// TLS and named pipes: go through bollard.
    Bollard,
}

impl std::fmt::Debug for Raw {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            #[cfg(unix)]
            Raw::Unix { .. } => "Raw::Unix",
            Raw::Http { .. } => "Raw::Http",
            #[cfg(unix)]
            Raw::Tunnel { .. } => "Raw::Tunnel",
            Raw::Bollard => "Raw::Bollard",
        })
    }
}

/// A byte stream to the daemon.
trait Duplex: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin> Duplex for T {}

/// Connections over which the snapshot pipelines its inspects.
pub const PIPELINES: usize = 4;

fn raw_builder() -> hyper_util::client::legacy::Builder {
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
}

impl Raw {
    fn for_endpoint(endpoint: &Endpoint) -> Raw {
        let builder = raw_builder;
        match endpoint {
            #[cfg(unix)]
            Endpoint::Unix { path } => Raw::Unix { client: std::sync::Arc::new(builder().build(hyperlocal::UnixConnector)), socket: path.clone() },
            Endpoint::Tcp { host, port, tls: None } => Raw::Http {
                client: std::sync::Arc::new(builder().build(hyper_util::client::legacy::connect::HttpConnector::new())),
                base: format!("http://{host}:{port}"),
            },
            _ => Raw::Bollard,
        }
    }

    fn pipelines(&self) -> bool {
        match self {
            #[cfg(unix)]
            Raw::Tunnel { link, .. } => link.many_channels,
            Raw::Bollard => false,
            _ => true,
        }
    }

    /// A fresh connection for pipelined requests; `None` when this endpoint goes through bollard.
    async fn stream(&self) -> Option<std::io::Result<Box<dyn Duplex>>> {
        Some(match self {
            #[cfg(unix)]
            Raw::Unix { socket, .. } => tokio::net::UnixStream::connect(socket).await.map(|s| Box::new(s) as Box<dyn Duplex>),
            Raw::Http { base, .. } => tokio::net::TcpStream::connect(base.trim_start_matches("http://")).await.map(|s| Box::new(s) as Box<dyn Duplex>),
            #[cfg(unix)]
            Raw::Tunnel { link, .. } => link.open().await.map(|s| Box::new(s) as Box<dyn Duplex>),
            Raw::Bollard => return None,
        })
    }

    /// GET `path`: the status and the whole body. `None` when this endpoint goes through bollard.
    async fn get(&self, path: &str) -> Option<Result<(u16, hyper::body::Bytes), bollard::errors::Error>> {
        self.send(hyper::Method::GET, path, None).await
    }

    /// `method` `path` with an optional JSON body: the status and the whole answer. `None` when
    /// this endpoint goes through bollard.
    async fn send(&self, method: hyper::Method, path: &str, json: Option<String>) -> Option<Result<(u16, hyper::body::Bytes), bollard::errors::Error>> {
        use http_body_util::BodyExt;
        let request = |uri: hyper::Uri| {
            let mut builder = hyper::Request::builder().method(method.clone()).uri(uri).header("host", "docker");
            if json.is_some() {
                builder = builder.header(hyper::header::CONTENT_TYPE, "application/json");
            }
            let body = json.clone().map(hyper::body::Bytes::from).unwrap_or_default();
            builder.body(http_body_util::Full::new(body)).expect("a valid request")
        };
        let response = match self {
            #[cfg(unix)]
            Raw::Unix { client, socket } => client.request(request(hyperlocal::Uri::new(socket, path).into())).await,
            Raw::Http { client, base } => client.request(request(format!("{base}{path}").parse().expect("a valid URI"))).await,
            #[cfg(unix)]
            Raw::Tunnel { client, .. } => client.request(request(format!("http://docker{path}").parse().expect("a valid URI"))).await,
            Raw::Bollard => return None,
        };
        Some(
            async {
                let response = response.map_err(bollard::errors::Error::from)?;
                let status = response.status().as_u16();
                let body = response.into_body().collect().await.map_err(bollard::errors::Error::from)?.to_bytes();
                Ok((status, body))
            }
            .await,
        )
    }
}

impl Engine {
    /// GET a JSON document over the raw client: `Some(Ok(None))` for a 404, `None` when this
    /// endpoint goes through bollard (the caller asks bollard instead).
    async fn raw_document(&self, action: &str, path: &str) -> Option<Result<Option<String>>> {
        let raw = match tokio::time::timeout(REQUEST_TIMEOUT, self.raw.get(path)).await {
            Ok(raw) => raw?,
            Err(_) => return Some(Err(self.error(action, bollard::errors::Error::RequestTimeoutError))),
        };
        Some(match raw {
            Ok((200, body)) => Ok(Some(String::from_utf8_lossy(&body).into_owned())),
            Ok((404, _)) => Ok(None),
            Ok((status_code, body)) => Err(self.error(action, bollard::errors::Error::DockerResponseServerError { status_code, message: message_of(&body) })),
            Err(e) => Err(self.error(action, e)),
        })
    }

    /// A container's inspect document as the daemon wrote it; `None` when it no longer exists.
    pub async fn inspect_container_json(&self, id: &str) -> Result<Option<String>> {
        let action = "inspect a container";
        if let Some(answer) = self.raw_document(action, &format!("/v{}/containers/{id}/json", self.api_version)).await {
            return answer;
        }
        match self.docker.inspect_container(id, None).await {
            Ok(inspect) => Ok(Some(serde_json::to_string(&inspect).expect("Docker models serialise"))),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(self.error(action, e)),
        }
    }

    /// Many containers' inspect documents, pipelined over [`PIPELINES`] connections where the
    /// transport allows (one round trip each on a slow link), else one request each.
    /// `None`: the container no longer exists.
    pub async fn inspect_containers_json(&self, ids: Vec<String>) -> Result<Vec<(String, Option<String>)>> {
        use futures_util::{StreamExt, TryStreamExt};
        let action = "inspect containers";
        let per_request = || async {
            futures_util::stream::iter(ids.clone())
                .map(|id| async move { self.inspect_container_json(&id).await.map(|json| (id, json)) })
                .buffer_unordered(8)
                .try_collect::<Vec<_>>()
                .await
        };
        if ids.len() < 8 || !self.raw.pipelines() {
            return per_request().await;
        }
        let groups: Vec<Vec<String>> = ids.chunks(ids.len().div_ceil(PIPELINES)).map(<[String]>::to_vec).collect();
        let fetch = |group: Vec<String>| async move {
            let stream = self.raw.stream().await.expect("a raw transport").map_err(|err| self.error(action, err.into()))?;
            let paths: Vec<String> = group.iter().map(|id| format!("/v{}/containers/{id}/json", self.api_version)).collect();
            let answers = tokio::time::timeout(REQUEST_TIMEOUT, pipeline::get_all(stream, &paths))
                .await
                .map_err(|_| self.error(action, bollard::errors::Error::RequestTimeoutError))?
                .map_err(|err| self.error(action, err.into()))?;
            group
                .into_iter()
                .zip(answers)
                .map(|(id, (status, body))| match status {
                    200 => Ok((id, Some(String::from_utf8_lossy(&body).into_owned()))),
                    404 => Ok((id, None)),
                    status_code => {
                        let message =
                            serde_json::from_slice::<serde_json::Value>(&body).ok().and_then(|v| v["message"].as_str().map(str::to_owned)).unwrap_or_default();
                        Err(self.error(action, bollard::errors::Error::DockerResponseServerError { status_code, message }))
                    }
                })
                .collect::<Result<Vec<_>>>()
        };
        let results = futures_util::future::try_join_all(groups.into_iter().map(fetch)).await?;
        Ok(results.into_iter().flatten().collect())
    }

    /// Turn a bollard error from talking to this host into a [`crate::Error`] that says what to do.
    fn error(&self, action: &str, err: bollard::errors::Error) -> Error {
        classify(&self.host, &self.endpoint, action, err)
    }

    /// Ping the daemon (`/_ping`), waiting as long as a request may.
    pub async fn ping(&self) -> Result<()> {
        self.docker.ping().await.map(drop).map_err(|e| self.error("answer a ping", e))
    }

    /// Ping the daemon: the round trip in milliseconds, or why it did not answer (within
    /// `PING_TIMEOUT`).
    pub async fn ping_rtt(&self) -> Result<f64> {
        let started = std::time::Instant::now();
        match tokio::time::timeout(PING_TIMEOUT, self.ping()).await {
            Ok(Ok(())) => Ok(started.elapsed().as_secs_f64() * 1000.0),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::Unreachable {
                host: self.host.clone(),
                url: self.endpoint.to_string(),
                reason: format!("no answer to a ping within {} s", PING_TIMEOUT.as_secs()),
            }),
        }
    }

    /// POST `path` (without the API version) with a JSON `body` and take the connection over, as
    /// Docker does for an attached exec: the raw bytes both ways, untouched. `None` for endpoints
    /// that go through bollard (TLS, named pipes).
    pub(crate) async fn hijack(&self, action: &str, path: &str, body: String) -> Option<Result<Hijacked>> {
        use bollard::errors::Error as B;
        use hyper::header::{CONNECTION, CONTENT_TYPE, HOST, UPGRADE};
        let stream = match self.raw.stream().await? {
            Ok(stream) => stream,
            Err(err) => return Some(Err(self.error(action, B::IOError { err }))),
        };
        let hijacked = async {
            let (mut sender, connection) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
            tokio::spawn(async move {
                if let Err(error) = connection.with_upgrades().await {
                    tracing::debug!(%error, "hijacked connection ended");
                }
            });
            let request = hyper::Request::post(format!("/v{}{path}", self.api_version))
                .header(HOST, "docker")
                .header(CONTENT_TYPE, "application/json")
                .header(CONNECTION, "Upgrade")
                .header(UPGRADE, "tcp")
                .body(http_body_util::Full::new(hyper::body::Bytes::from(body)))
                .expect("a valid request");
            let response = sender.send_request(request).await?;
            let status = response.status();
            if status != hyper::StatusCode::SWITCHING_PROTOCOLS {
                use http_body_util::BodyExt;
                let body = response.into_body().collect().await?.to_bytes();
                let message = message_of(&body);
                return Err(B::DockerResponseServerError { status_code: status.as_u16(), message });
            }
            Ok(hyper_util::rt::TokioIo::new(hyper::upgrade::on(response).await?))
        };
        Some(tokio::time::timeout(REQUEST_TIMEOUT, hijacked).await.unwrap_or(Err(B::RequestTimeoutError)).map_err(|e| self.error(action, e)))
    }
}

/// One connection per host for the whole process: the follower, actions, shells, logs and IPAM
/// all share it, so an SSH host has one session (with a channel per HTTP connection) whatever
/// runs at once. A host is dialled on first use; a dial that fails is not kept, so the next
/// caller dials again. An edited host (another configuration) is dialled anew.
#[derive(Default)]
pub struct Engines {
    slots: std::sync::Mutex<std::collections::HashMap<i64, EngineSlot>>,
}

/// A host's connection (with the configuration it was dialled for), dialled one at a time.
type EngineSlot = std::sync::Arc<tokio::sync::Mutex<Option<(crate::model::HostConfig, Engine)>>>;

impl Engines {
    pub fn new() -> Engines {
        Engines::default()
    }

    /// The host's connection, dialled now if it has none (one dial at a time per host).
    pub async fn get(&self, host: &Host) -> Result<Engine> {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            std::sync::Arc::clone(slots.entry(host.id).or_default())
        };
        let mut held = slot.lock().await;
        if let Some((config, engine)) = &*held {
            if *config == host.config {
                return Ok(engine.clone());
            }
        }
        let engine = connect(host).await?;
        *held = Some((host.config.clone(), engine.clone()));
        Ok(engine)
    }

    /// Drop the host's connection (it was removed or edited); work in flight on it finishes.
    pub fn forget(&self, host_id: i64) {
        self.slots.lock().unwrap_or_else(|p| p.into_inner()).remove(&host_id);
    }
}

impl Engine {
    /// SSH sessions this connection has dialled so far (1 until the first one ends); `None`
    /// for other transports.
    pub fn ssh_sessions(&self) -> Option<u64> {
        match &self.raw {
            #[cfg(unix)]
            Raw::Tunnel { link, .. } => Some(link.sessions.load(std::sync::atomic::Ordering::Relaxed)),
            _ => None,
        }
    }
}

/// A connection Docker has handed over to a process's streams.
pub(crate) type Hijacked = hyper_util::rt::TokioIo<hyper::upgrade::Upgraded>;

/// Dial the host and negotiate the API version; fails fast when the daemon does not answer.
pub async fn connect(host: &Host) -> Result<Engine> {
    let endpoint = &host.config.endpoint;
    let name = host.name();
    let unreachable = |reason: String| Error::Unreachable { host: name.to_owned(), url: endpoint.to_string(), reason };
    let timeout = REQUEST_TIMEOUT.as_secs();
    let version = bollard::API_DEFAULT_VERSION;
    let mut raw = None;
    let docker = match endpoint {
        Endpoint::Unix { path } => {
            if !path.exists() {
                return Err(unreachable(format!("no socket at {}; is dockerd running there?", path.display())));
            }
            pooled_unix(path.clone(), timeout)
        }
        #[cfg(windows)]
        Endpoint::NamedPipe { path } => Docker::connect_with_named_pipe(path, timeout, version),
        #[cfg(not(windows))]
        Endpoint::NamedPipe { .. } => return Err(unreachable("named pipes exist only on Windows; use unix:// or tcp:// here".into())),
        Endpoint::Tcp { host: address, port, tls: None } => pooled_http(&format!("http://{address}:{port}"), timeout),
        Endpoint::Tcp { host: address, port, tls: Some(tls) } => {
            Docker::connect_with_ssl(&format!("tcp://{address}:{port}"), &tls.key, &tls.cert, &tls.ca, timeout, version)
        }
        #[cfg(unix)]
        Endpoint::Ssh(ep) => {
            let link = std::sync::Arc::new(SshLink::dial(name, ep).await?);
            let mut builder = raw_builder();
            if !link.many_channels {
                builder.pool_max_idle_per_host(2);
            }
            let client = std::sync::Arc::new(builder.build(TunnelConnector(std::sync::Arc::clone(&link))));
            raw = Some(Raw::Tunnel { client, link: std::sync::Arc::clone(&link) });
            pooled_tunnel(link, timeout)
        }
        #[cfg(not(unix))]
        Endpoint::Ssh(_) => return Err(unreachable("SSH hosts are not supported on this platform yet".into())),
    }
    .map_err(|e| classify(name, endpoint, "accept a connection", e))?;
    let docker = docker.negotiate_version().await.map_err(|e| classify(name, endpoint, "negotiate the API version", e))?;
    let v = docker.client_version();
    Ok(Engine {
        docker,
        host: name.to_owned(),
        endpoint: endpoint.clone(),
        api_version: format!("{}.{}", v.major_version, v.minor_version),
        raw: raw.unwrap_or_else(|| Raw::for_endpoint(endpoint)),
    })
}

/// bollard's own transports open a new connection for every request; these keep connections
/// alive in a pool (one per request in flight), which saves a connect and the daemon's
/// per-connection set-up on every inspect of a snapshot.
#[cfg(unix)]
fn pooled_unix(socket: std::path::PathBuf, timeout: u64) -> Result<Docker, bollard::errors::Error> {
    use hyper_util::client::legacy::Client;
    let client = std::sync::Arc::new(Client::builder(hyper_util::rt::TokioExecutor::new()).build(hyperlocal::UnixConnector));
    let transport = move |mut request: bollard::BollardRequest| {
        let client = std::sync::Arc::clone(&client);
        let path = request.uri().path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "/".into());
        *request.uri_mut() = hyperlocal::Uri::new(&socket, &path).into();
        async move { client.request(request).await.map_err(bollard::errors::Error::from) }
    };
    Docker::connect_with_custom_transport(transport, Some("http://docker"), timeout, bollard::API_DEFAULT_VERSION)
}

#[cfg(not(unix))]
fn pooled_unix(socket: std::path::PathBuf, timeout: u64) -> Result<Docker, bollard::errors::Error> {
    Docker::connect_with_unix(&socket.to_string_lossy(), timeout, bollard::API_DEFAULT_VERSION)
}

/// A host's SSH session, dialled again when it has ended. Every connection Berth makes to the
/// host is a channel of this one session; a request that finds the session ended has not been
/// written anywhere yet, so it goes over a new session instead (the only retry there is: a
/// request the daemon may have seen is never sent twice).
#[cfg(unix)]
pub(crate) struct SshLink {
    host: String,
    endpoint: crate::endpoint::SshEndpoint,
    current: std::sync::Mutex<std::sync::Arc<tunnel::Tunnel>>,
    /// One redial at a time; the others wait for its tunnel (or its failure).
    redial: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// The last redial that failed, and when: requests that waited on it, and any within
    /// [`REDIAL_PAUSE`] after it, get its error instead of dialling again.
    last_failure: std::sync::Mutex<Option<(std::time::Instant, Error)>>,
    many_channels: bool,
    /// Sessions dialled in all (1 until the first one ends).
    sessions: std::sync::atomic::AtomicU64,
}

#[cfg(unix)]
impl SshLink {
    async fn dial(host: &str, endpoint: &crate::endpoint::SshEndpoint) -> Result<SshLink> {
        let tunnel = open_tunnel(host, endpoint).await?;
        Ok(SshLink {
            host: host.to_owned(),
            endpoint: endpoint.clone(),
            many_channels: tunnel.many_channels(),
            current: std::sync::Mutex::new(tunnel),
            redial: std::sync::Arc::default(),
            last_failure: std::sync::Mutex::new(None),
            sessions: std::sync::atomic::AtomicU64::new(1),
        })
    }

    fn current(&self) -> std::sync::Arc<tunnel::Tunnel> {
        std::sync::Arc::clone(&self.current.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// A new byte stream to the daemon over the live session, dialling a new one first when
    /// the last has ended.
    async fn open(self: &std::sync::Arc<Self>) -> std::io::Result<tokio::net::UnixStream> {
        let tunnel = self.current();
        if !tunnel.ended() {
            match tunnel.open().await {
                Ok(stream) => return Ok(stream),
                // Ended while we asked: nothing was sent on it.
                Err(_) if tunnel.ended() => {}
                Err(error) => return Err(error),
            }
        }
        let tunnel = self.redialled(&tunnel).await?;
        tunnel.open().await
    }

    /// Run `command` on the host over its own exec channel of the live session (dialling a
    /// new session first when the last has ended).
    async fn exec(self: &std::sync::Arc<Self>, command: &str) -> std::io::Result<tokio::net::UnixStream> {
        let tunnel = self.current();
        if !tunnel.ended() {
            match tunnel.exec(command).await {
                Ok(stream) => return Ok(stream),
                Err(_) if tunnel.ended() => {}
                Err(error) => return Err(error),
            }
        }
        let tunnel = self.redialled(&tunnel).await?;
        tunnel.exec(command).await
    }

    async fn redialled(self: &std::sync::Arc<Self>, ended: &std::sync::Arc<tunnel::Tunnel>) -> std::io::Result<std::sync::Arc<tunnel::Tunnel>> {
        let asked = std::time::Instant::now();
        let one = std::sync::Arc::clone(&self.redial).lock_owned().await;
        let now = self.current();
        if !std::sync::Arc::ptr_eq(&now, ended) && !now.ended() {
            return Ok(now); // another request dialled it meanwhile
        }
        if let Some(error) = self.recent_failure(asked) {
            return Err(std::io::Error::other(DialFailed(error)));
        }
        tracing::info!(host = %self.host, "the SSH session ended; dialling a new one");
        // The dial runs on its own, holding the redial lock: a caller that gives up (a ping's
        // timeout) neither stops it nor lets a second dial start beside it.
        let link = std::sync::Arc::clone(self);
        let dial = tokio::spawn(async move {
            let _one = one;
            match open_tunnel(&link.host, &link.endpoint).await {
                Ok(tunnel) => {
                    link.sessions.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    *link.current.lock().unwrap_or_else(|p| p.into_inner()) = std::sync::Arc::clone(&tunnel);
                    *link.last_failure.lock().unwrap_or_else(|p| p.into_inner()) = None;
                    Ok(tunnel)
                }
                Err(error) => {
                    let kept = error.again(&link.host, &link.endpoint.to_string());
                    *link.last_failure.lock().unwrap_or_else(|p| p.into_inner()) = Some((std::time::Instant::now(), kept));
                    Err(error)
                }
            }
        });
        dial.await.expect("SSH redial task panicked").map_err(|error| std::io::Error::other(DialFailed(error)))
    }

    /// The failure of a redial that ended after `asked` (this request waited on it) or less
    /// than [`REDIAL_PAUSE`] ago.
    fn recent_failure(&self, asked: std::time::Instant) -> Option<Error> {
        let failure = self.last_failure.lock().unwrap_or_else(|p| p.into_inner());
        let (at, error) = failure.as_ref()?;
        (*at >= asked || at.elapsed() < REDIAL_PAUSE).then(|| error.again(&self.host, &self.endpoint.to_string()))
    }
}

/// After a redial failed, how long further requests get its error instead of dialling again.
#[cfg(unix)]
const REDIAL_PAUSE: std::time::Duration = std::time::Duration::from_secs(1);

#[cfg(unix)]
async fn open_tunnel(host: &str, endpoint: &crate::endpoint::SshEndpoint) -> Result<std::sync::Arc<tunnel::Tunnel>> {
    let secrets = crate::credentials::ssh_secrets(host, endpoint);
    let (host, endpoint) = (host.to_owned(), endpoint.clone());
    tokio::task::spawn_blocking(move || ssh::open_tunnel(&host, &endpoint, &secrets)).await.expect("SSH connect task panicked")
}

/// Why a new SSH session could not be had, carried through hyper's connector as an I/O error
/// and taken out again by [`classify`] (host key changed, authentication failed, …).
#[derive(Debug)]
struct DialFailed(Error);

impl std::fmt::Display for DialFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for DialFailed {}

/// Opens HTTP connections as new channels of a host's SSH session.
#[cfg(unix)]
#[derive(Clone)]
struct TunnelConnector(std::sync::Arc<SshLink>);

#[cfg(unix)]
impl tower_service::Service<hyper::Uri> for TunnelConnector {
    type Response = hyper_util::rt::TokioIo<tokio::net::UnixStream>;
    type Error = std::io::Error;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: hyper::Uri) -> Self::Future {
        let link = std::sync::Arc::clone(&self.0);
        Box::pin(async move { link.open().await.map(hyper_util::rt::TokioIo::new) })
    }
}

#[cfg(unix)]
fn pooled_tunnel(link: std::sync::Arc<SshLink>, timeout: u64) -> Result<Docker, bollard::errors::Error> {
    let mut builder = raw_builder();
    if !link.many_channels {
        builder.pool_max_idle_per_host(2);
    }
    let client = std::sync::Arc::new(builder.build(TunnelConnector(link)));
    let transport = move |request: bollard::BollardRequest| {
        let client = std::sync::Arc::clone(&client);
        async move { client.request(request).await.map_err(bollard::errors::Error::from) }
    };
    Docker::connect_with_custom_transport(transport, Some("http://docker"), timeout, bollard::API_DEFAULT_VERSION)
}

fn pooled_http(base: &str, timeout: u64) -> Result<Docker, bollard::errors::Error> {
    use hyper_util::client::legacy::{connect::HttpConnector, Client};
    let client = std::sync::Arc::new(Client::builder(hyper_util::rt::TokioExecutor::new()).build(HttpConnector::new()));
    let transport = move |request: bollard::BollardRequest| {
        let client = std::sync::Arc::clone(&client);
        async move { client.request(request).await.map_err(bollard::errors::Error::from) }
    };
    Docker::connect_with_custom_transport(transport, Some(base), timeout, bollard::API_DEFAULT_VERSION)
}

/// Whether API `version` ("1.41") is at least `major.minor`.
pub(crate) fn api_at_least(version: &str, major: u32, minor: u32) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0)) >= (major, minor)
}

/// The daemon's words in an error answer (`{"message": …}`), else the body as text.
fn message_of(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_owned())
}

/// True when the daemon answered 404: the object is gone.
fn is_not_found(err: &bollard::errors::Error) -> bool {
    matches!(err, bollard::errors::Error::DockerResponseServerError { status_code: 404, .. })
}

fn classify(host: &str, endpoint: &Endpoint, action: &str, err: bollard::errors::Error) -> Error {
    use bollard::errors::Error as B;
    let unreachable = |reason: String| Error::Unreachable { host: host.to_owned(), url: endpoint.to_string(), reason };
    match &err {
        B::DockerResponseServerError { status_code: 400, message } if message.contains("HTTPS server") => {
            return unreachable("the daemon speaks TLS; add the host with --tls-ca, --tls-cert and --tls-key".into())
        }
        B::DockerResponseServerError { status_code, message } => {
            return Error::Docker { host: host.to_owned(), action: action.to_owned(), reason: format!("{message} (HTTP {status_code})") }
        }
        B::DockerStreamError { error } => return Error::Docker { host: host.to_owned(), action: action.to_owned(), reason: error.clone() },
        B::RequestTimeoutError => return unreachable(format!("no answer within {} s while trying to {action}", REQUEST_TIMEOUT.as_secs())),
        B::SocketNotFoundError(path) => return unreachable(format!("no socket at {path}; is dockerd running there?")),
        B::CertPathError { .. } | B::CertParseError { .. } | B::CertMultipleKeys { .. } | B::NoNativeCertsError { .. } => {
            return Error::invalid("TLS files", format!("host {host:?}: {err}; check --tls-ca/--tls-cert/--tls-key"))
        }
        _ => {}
    }
    // A new SSH session that could not be had says why itself; else the operating system's
    // word for it, if there is one.
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&err);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if let Some(DialFailed(dial)) = io.get_ref().and_then(|inner| inner.downcast_ref::<DialFailed>()) {
                return dial.again(host, &endpoint.to_string());
            }
            use std::io::ErrorKind as K;
            return match (io.kind(), endpoint) {
                (K::PermissionDenied, Endpoint::Unix { path }) => Error::PermissionDenied { host: host.to_owned(), path: path.clone() },
                (K::ConnectionRefused, _) => unreachable("connection refused; is dockerd running and listening there?".into()),
                (K::NotFound, _) => unreachable("the socket is gone; is dockerd running there?".into()),
                _ => unreachable(format!("{io} while trying to {action}")),
            };
        }
        source = e.source();
    }
    let mut reason = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(e) = source {
        reason.push_str(&format!(": {e}"));
        source = e.source();
    }
    if reason.to_ascii_lowercase().contains("certificate") || reason.contains("tls") {
        reason.push_str(" (check the host's TLS files and that the daemon runs with --tlsverify)");
    }
    unreachable(format!("{reason} (while trying to {action})"))
}
