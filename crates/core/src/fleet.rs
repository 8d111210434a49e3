//! Fleet-level operations shared by the CLI and the desktop shell: each is one call for a front end.
//! [`Fleet`] is a process's handle on the whole fleet: the store, one connection per host and
//! the mirror's update stream, which every change path and the sync engine share.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;

use crate::audit::Op;
use crate::connect::{Engine, Engines};
use crate::sync::MirrorUpdate;

use crate::endpoint::{self, Endpoint, SshOptions, TlsFiles};
use crate::error::{Error, Result};
use crate::model::{Host, HostConfig, HostSpec, HostSummary};
use crate::store::Store;

/// Mirror updates buffered per subscriber before a slow one starts missing them (and must
/// reload what it shows).
const UPDATES_BUFFERED: usize = 4096;

/// One per process (the app, a `berth` command): the store, the connection kept for each host,
/// and the stream of mirror updates the app's views patch themselves from.
pub struct Fleet {
    store: Arc<Store>,
    engines: Engines,
    updates: broadcast::Sender<MirrorUpdate>,
    transfers: Arc<crate::images::Transfers>,
}

impl Fleet {
    pub fn new(store: Arc<Store>) -> Arc<Fleet> {
        let (updates, _) = broadcast::channel(UPDATES_BUFFERED);
        Arc::new(Fleet { store, engines: Engines::new(), updates, transfers: Arc::default() })
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The connection to `host` (by name), dialled on first use and kept.
    pub async fn engine(&self, host: &str) -> Result<Engine> {
        let store = Arc::clone(&self.store);
        let name = host.to_owned();
        let host = tokio::task::spawn_blocking(move || store.host(&name)).await.expect("store task panicked")?;
        self.engines.get(&host).await
    }

    /// The connection to a host already read from the store.
    pub async fn engine_for(&self, host: &Host) -> Result<Engine> {
        self.engines.get(host).await
    }

    /// The pulls, pushes and builds of this process, running and recently ended.
    pub fn transfers(&self) -> &Arc<crate::images::Transfers> {
        &self.transfers
    }

    /// Drop a host's kept connection (it was edited or removed).
    pub fn forget_engine(&self, host_id: i64) {
        self.engines.forget(host_id);
    }

    /// Every mirror update from now on. A receiver that lags must reload what it shows.
    pub fn subscribe(&self) -> broadcast::Receiver<MirrorUpdate> {
        self.updates.subscribe()
    }

    /// Tell subscribers the mirror changed (after the change is committed).
    pub(crate) fn publish(&self, update: MirrorUpdate) {
        let _ = self.updates.send(update);
    }
}

pub use crate::credentials::SecretKind;

/// The audit row of a change to host `name`, as `op`'s.
fn host_row(op: &Op, name: &str) -> crate::audit::NewAuditRow {
    op.row(Some(name), "host", crate::audit::AuditObject { id: None, name: Some(name.to_owned()) }, "")
}

/// Name given to the local engine when the desktop app adopts it.
pub const LOCAL_HOST_NAME: &str = "local";

/// Validate and add a host. Nothing is written when any part is wrong.
pub fn add_host(store: &Store, name: &str, url: &str, tls: Option<TlsFiles>, labels: BTreeMap<String, String>) -> Result<Host> {
    add_host_with(store, name, url, tls, SshOptions::default(), labels)
}

/// [`add_host`] with the options of `ssh://` hosts.
pub fn add_host_with(store: &Store, name: &str, url: &str, tls: Option<TlsFiles>, ssh: SshOptions, labels: BTreeMap<String, String>) -> Result<Host> {
    let endpoint = Endpoint::parse_with(url, tls, ssh)?;
    store.add_host(&HostConfig { name: name.to_owned(), endpoint, labels })
}

/// [`add_host_with`], then its password (when given) into the OS keyring. A keyring that refuses
/// the password takes the host away again: nothing is half-written.
#[allow(clippy::too_many_arguments, reason = "the fields of `berth host add`, each its own flag")]
pub fn add_host_with_secret(
    store: &Store,
    op: &Op,
    name: &str,
    url: &str,
    tls: Option<TlsFiles>,
    ssh: SshOptions,
    labels: BTreeMap<String, String>,
    password: Option<&str>,
) -> Result<Host> {
    let endpoint = Endpoint::parse_with(url, tls, ssh)?;
    let host = store.audited(&host_row(op, name)).add_host(&HostConfig { name: name.to_owned(), endpoint, labels })?;
    if let Some(password) = password {
        if let Err(e) = crate::credentials::store(&host.config.name, SecretKind::Password, password) {
            store.audited(&host_row(op, name)).remove_host(&host.config.name)?;
            return Err(e);
        }
    }
    Ok(host)
}

/// `Err(KeyringUnavailable)` when no OS keyring can keep host `name`'s secrets: a front end then
/// need not ask for one it has nowhere to put.
pub fn check_keyring(name: &str) -> Result<()> {
    crate::credentials::fetch(name, SecretKind::Password).map(|_| ())
}

/// Store an `ssh://` host's password or key passphrase in the OS keyring. `secret` is asked for
/// only once `name` is known to be an SSH host, so nobody types one in for nothing.
pub fn store_secret(store: &Store, name: &str, kind: SecretKind, secret: impl FnOnce() -> Result<String>) -> Result<()> {
    let host = store.host(name)?;
    if !matches!(host.config.endpoint, Endpoint::Ssh(_)) {
        return Err(Error::invalid("host", format!("{name:?} is not an ssh:// host")));
    }
    crate::credentials::store(name, kind, &secret()?)
}

/// A secret a host needs to connect that no keyring can give: it is to be typed in for this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretToAsk {
    pub host: String,
    pub kind: SecretKind,
    /// Why the keyring could not give it.
    pub reason: String,
}

/// The secrets connecting to `hosts` needs that must be typed in because there is no keyring to
/// hold them; each once, and none already given for this run.
pub fn secrets_to_ask(hosts: &[Host]) -> Result<Vec<SecretToAsk>> {
    let mut ask: Vec<SecretToAsk> = Vec::new();
    for host in hosts {
        let Endpoint::Ssh(ep) = &host.config.endpoint else { continue };
        for kind in crate::credentials::secrets_needed(ep) {
            if ask.iter().any(|a| a.host == host.name() && a.kind == kind) {
                continue;
            }
            match crate::credentials::fetch(host.name(), kind) {
                Ok(_) => {}
                Err(Error::KeyringUnavailable { reason }) => ask.push(SecretToAsk { host: host.name().to_owned(), kind, reason }),
                Err(e) => return Err(e),
            }
        }
    }
    Ok(ask)
}

/// Keep a secret typed in for host `name` (see [`secrets_to_ask`]) in memory until this process
/// ends; it is written nowhere.
pub fn use_secret_for_this_run(name: &str, kind: SecretKind, secret: String) {
    crate::credentials::use_for_this_run(name, kind, secret);
}

/// The configuration a [`HostSpec`] describes, validated (files exist, URL parses).
pub fn host_config(spec: &HostSpec) -> Result<HostConfig> {
    let endpoint = Endpoint::parse_with(spec.url.trim(), spec.tls.clone(), spec.ssh.clone().unwrap_or_default())?;
    Ok(HostConfig { name: spec.name.trim().to_owned(), endpoint, labels: spec.labels.clone() })
}

/// Add a host from a front end's form. Nothing is written when any part is wrong.
pub fn add_host_spec(store: &Store, op: &Op, spec: &HostSpec) -> Result<Host> {
    let config = host_config(spec)?;
    store.audited(&host_row(op, &config.name)).add_host(&config)
}

/// Replace host `name`'s configuration; a rename carries its keyring secrets along.
pub fn edit_host(store: &Store, op: &Op, name: &str, spec: &HostSpec) -> Result<Host> {
    let config = host_config(spec)?;
    let host = store.audited(&host_row(op, name)).update_host(name, &config)?;
    if config.name != name {
        crate::credentials::rename(name, &config.name);
    }
    Ok(host)
}

/// Remove a host, its mirror and its keyring secrets.
pub fn remove_host(store: &Store, op: &Op, name: &str) -> Result<Host> {
    let host = store.host(name)?;
    store.audited(&host_row(op, name)).remove_host(name)?;
    crate::credentials::forget(name);
    Ok(host)
}

/// The host key an SSH server showed, and what known_hosts says of it.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct HostKeyCheck {
    /// The name known_hosts files it under (`host` or `[host]:port`); a jump host's own name
    /// when it is the jump host's key that is not yet trusted.
    pub known_as: String,
    pub key_type: String,
    /// `SHA256:…` as OpenSSH prints it.
    pub fingerprint: String,
    pub verdict: HostKeyVerdict,
    pub known_hosts: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "lowercase")]
pub enum HostKeyVerdict {
    Trusted,
    Unknown,
    Changed,
}

/// What "test connection" found.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct TestResult {
    pub ok: bool,
    /// One line for the user: what answered, or what failed and what to do.
    pub message: String,
    /// The error's code when it failed, with its fields and the daemon's or the system's own
    /// words, for a front end to word it in its language (as an IPC error's).
    pub code: Option<String>,
    pub fields: BTreeMap<String, String>,
    pub detail: Option<String>,
    pub api_version: Option<String>,
    pub server_version: Option<String>,
    pub rtt_ms: Option<f64>,
    pub containers: Option<i64>,
    /// SSH only: the key that needs the user's word before anything is sent.
    pub host_key: Option<HostKeyCheck>,
}

impl TestResult {
    fn failed(error: &Error, host_key: Option<HostKeyCheck>) -> TestResult {
        TestResult {
            ok: false,
            message: error.to_string(),
            code: Some(error.code().to_owned()),
            fields: error.fields().into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            detail: error.detail(),
            api_version: None,
            server_version: None,
            rtt_ms: None,
            containers: None,
            host_key,
        }
    }
}

/// Try a host's settings without saving them: for SSH, check the host key first (an unknown or
/// changed key stops the test with the key in the result); then connect, ping, count containers.
/// Only a malformed spec is an `Err`; an unreachable host is an `Ok` with `ok: false`.
pub async fn test_connection(spec: &HostSpec) -> Result<TestResult> {
    let config = host_config(spec)?;
    crate::store::validate_host_name(&config.name)?;
    #[cfg(unix)]
    if let Endpoint::Ssh(ep) = &config.endpoint {
        let (name, ep) = (config.name.clone(), ep.clone());
        let scanned = tokio::task::spawn_blocking(move || crate::connect::ssh::scan_host_key(&name, &ep)).await.expect("host key scan panicked");
        match scanned {
            Err(e) => return Ok(TestResult::failed(&e, None)),
            Ok((key, known_as, verdict)) => {
                let check = |verdict, known_hosts: &std::path::Path| HostKeyCheck {
                    known_as: known_as.clone(),
                    key_type: key.kind.to_owned(),
                    fingerprint: key.fingerprint.clone(),
                    verdict,
                    known_hosts: known_hosts.display().to_string(),
                };
                let host_key = match &verdict {
                    Ok(()) => None,
                    Err(Error::HostKeyUnknown { known_hosts, .. }) => Some(check(HostKeyVerdict::Unknown, known_hosts)),
                    Err(Error::HostKeyChanged { known_hosts, .. }) => Some(check(HostKeyVerdict::Changed, known_hosts)),
                    Err(_) => None,
                };
                if let Err(e) = &verdict {
                    return Ok(TestResult::failed(e, host_key));
                }
            }
        }
    }
    let probe = Host { id: 0, config };
    let attempt = async {
        let engine = crate::connect::connect(&probe).await?;
        let started = std::time::Instant::now();
        engine.ping().await?;
        let rtt_ms = started.elapsed().as_secs_f64() * 1000.0;
        let version = engine.version().await?;
        let containers = engine.container_count().await?;
        Ok::<_, Error>(TestResult {
            ok: true,
            message: format!(
                "Docker {} answered in {rtt_ms:.0} ms (API {}), {containers} containers",
                version.version.as_deref().unwrap_or("?"),
                engine.api_version,
            ),
            code: None,
            fields: BTreeMap::new(),
            detail: None,
            api_version: Some(engine.api_version.clone()),
            server_version: version.version,
            rtt_ms: Some(rtt_ms),
            containers: Some(containers as i64),
            host_key: None,
        })
    };
    match tokio::time::timeout(TEST_TIMEOUT, attempt).await {
        Ok(Ok(result)) => Ok(result),
        Ok(Err(e)) => Ok(TestResult::failed(&e, None)),
        Err(_) => Ok(TestResult::failed(
            &Error::Unreachable {
                host: probe.config.name.clone(),
                url: probe.config.endpoint.to_string(),
                reason: format!("no answer within {} s", TEST_TIMEOUT.as_secs()),
            },
            None,
        )),
    }
}

/// How long "test connection" waits for a host in all.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(20);

/// Record the host key the server shows for `spec`, provided it is still the one the user saw
/// (`fingerprint`): a key that changed between the test and the click is refused.
pub async fn trust_host_key(spec: &HostSpec, fingerprint: &str) -> Result<()> {
    let config = host_config(spec)?;
    #[cfg(unix)]
    if let Endpoint::Ssh(ep) = config.endpoint {
        let (name, fingerprint) = (config.name, fingerprint.to_owned());
        return tokio::task::spawn_blocking(move || {
            use crate::connect::ssh;
            let (key, known_as, verdict) = ssh::scan_host_key(&name, &ep)?;
            match verdict {
                Ok(()) => Ok(()),
                Err(Error::HostKeyUnknown { .. }) if key.fingerprint == fingerprint => ssh::record_host_key(&ep, &known_as, &key).map(|_| ()),
                Err(Error::HostKeyUnknown { .. }) => Err(Error::invalid(
                    "host key",
                    format!(
                        "{known_as} now shows {} key {}, not the {fingerprint} you confirmed; nothing was recorded. Test the connection again and compare",
                        key.kind, key.fingerprint
                    ),
                )),
                Err(e) => Err(e),
            }
        })
        .await
        .expect("host key task panicked");
    }
    Err(Error::invalid("host key", format!("{} is not an ssh:// URL; only SSH hosts have host keys", spec.url)))
}

/// Parse `k=v` label arguments.
pub fn parse_labels<'a>(specs: impl IntoIterator<Item = &'a str>) -> Result<BTreeMap<String, String>> {
    let mut labels = BTreeMap::new();
    for spec in specs {
        match spec.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                labels.insert(k.trim().to_owned(), v.to_owned());
            }
            _ => return Err(Error::invalid("label", format!("{spec:?} is not KEY=VALUE"))),
        }
    }
    Ok(labels)
}

pub fn list_hosts(store: &Store) -> Result<Vec<HostSummary>> {
    store.host_summaries()
}

/// On a store with no hosts, add the local engine (`DOCKER_HOST`, else the platform default) as
/// `local` when it answers. Returns the added host; `None` when the store already had hosts or
/// nothing answered. The desktop app calls this once on start-up; the CLI never does.
pub async fn adopt_local_engine(fleet: &Fleet, op: &Op) -> Result<Option<HostSummary>> {
    let store = fleet.store();
    if !store.hosts()?.is_empty() {
        return Ok(None);
    }
    let endpoint = endpoint::local_default()?;
    let probe = Host { id: 0, config: HostConfig { name: LOCAL_HOST_NAME.into(), endpoint: endpoint.clone(), labels: BTreeMap::new() } };
    match tokio::time::timeout(Duration::from_secs(3), crate::connect::connect(&probe)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            tracing::info!(error = %e, "no local engine to adopt");
            return Ok(None);
        }
        Err(_) => return Ok(None),
    }
    match store.audited(&host_row(op, LOCAL_HOST_NAME)).add_host(&probe.config) {
        Ok(host) => {
            if let Err(e) = crate::sync::sync_once(fleet, &host).await {
                tracing::warn!(error = %e, "first sync of the local engine failed");
            }
        }
        // Another Berth process adopted it first.
        Err(Error::HostExists { .. }) => {}
        Err(e) => return Err(e),
    }
    Ok(store.host_summaries()?.into_iter().find(|h| h.name == LOCAL_HOST_NAME))
}

/// What `berth host import` did with one candidate.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ImportOutcome {
    pub name: String,
    pub url: String,
    /// Where it came from: `docker context NAME` or `DOCKER_HOST`.
    pub source: String,
    pub added: bool,
    /// Why it was not added.
    pub reason: Option<String>,
}

/// Docker contexts (`$DOCKER_CONFIG/contexts`, default `~/.docker/contexts`): (name, url, TLS files).
fn docker_contexts() -> Vec<(String, String, Option<TlsFiles>)> {
    let config = std::env::var_os("DOCKER_CONFIG").map(std::path::PathBuf::from).or_else(|| directories::BaseDirs::new().map(|d| d.home_dir().join(".docker")));
    let Some(config) = config else { return Vec::new() };
    let Ok(entries) = std::fs::read_dir(config.join("contexts/meta")) else { return Vec::new() };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let Ok(text) = std::fs::read_to_string(entry.path().join("meta.json")) else { continue };
        let Ok(meta) = serde_json::from_str::<serde_json::Value>(&text) else { continue };
        let (Some(name), Some(url)) = (meta["Name"].as_str(), meta["Endpoints"]["docker"]["Host"].as_str()) else { continue };
        let tls_dir = config.join("contexts/tls").join(entry.file_name()).join("docker");
        let tls = ["ca.pem", "cert.pem", "key.pem"].iter().all(|f| tls_dir.join(f).exists()).then(|| TlsFiles {
            ca: tls_dir.join("ca.pem"),
            cert: tls_dir.join("cert.pem"),
            key: tls_dir.join("key.pem"),
        });
        found.push((name.to_owned(), url.to_owned(), tls));
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

/// Add hosts from docker contexts and `DOCKER_HOST`; existing names and bad entries are reported,
/// not fatal.
pub fn import_hosts(store: &Store, op: &Op) -> Result<Vec<ImportOutcome>> {
    let mut candidates: Vec<(String, String, Option<TlsFiles>, String)> =
        docker_contexts().into_iter().map(|(name, url, tls)| (name.clone(), url, tls, format!("docker context {name}"))).collect();
    if let Ok(url) = std::env::var("DOCKER_HOST") {
        if !url.trim().is_empty() && !candidates.iter().any(|c| c.1 == url) {
            candidates.push(("docker-host".into(), url, None, "DOCKER_HOST".into()));
        }
    }
    let mut outcomes = Vec::new();
    for (name, url, tls, source) in candidates {
        // Docker names its built-in context "default"; keep it but make the name a valid host name.
        let name: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '-' }).collect();
        let result = Endpoint::parse_with(&url, tls, SshOptions::default())
            .and_then(|endpoint| store.audited(&host_row(op, &name)).add_host(&HostConfig { name: name.clone(), endpoint, labels: BTreeMap::new() }));
        let reason = match result {
            Ok(_) => None,
            Err(Error::HostExists { .. }) => Some("a host with this name exists".to_owned()),
            Err(e @ (Error::InvalidUrl { .. } | Error::InvalidInput { .. })) => Some(e.to_string()),
            Err(e) => return Err(e),
        };
        outcomes.push(ImportOutcome { name, url, source, added: reason.is_none(), reason });
    }
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_in(dir: &tempfile::TempDir) -> Store {
        Store::open(&dir.path().join("berth.db")).unwrap()
    }

    fn never_asked() -> Result<String> {
        panic!("a secret was asked for")
    }

    #[test]
    fn a_secret_is_asked_for_only_once_the_host_is_an_ssh_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(&dir);
        add_host(&store, "sock", "unix:///run/x.sock", None, BTreeMap::new()).unwrap();
        let not_ssh = store_secret(&store, "sock", SecretKind::Password, never_asked).unwrap_err();
        assert_eq!(not_ssh.to_string(), "invalid host: \"sock\" is not an ssh:// host");
        let missing = store_secret(&store, "nosuch", SecretKind::Passphrase, never_asked).unwrap_err();
        assert_eq!(missing.code(), "host_not_found");
    }

    #[test]
    fn hosts_that_need_no_secret_ask_for_none() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(&dir);
        let sock = add_host(&store, "sock", "unix:///run/x.sock", None, BTreeMap::new()).unwrap();
        let ssh = add_host_with_secret(
            &store,
            &Op::new(crate::audit::Via::Cli, None),
            "far",
            "ssh://root@far.example/run/docker.sock",
            None,
            SshOptions::default(),
            BTreeMap::new(),
            None,
        )
        .unwrap();
        assert_eq!(secrets_to_ask(&[sock, ssh]).unwrap(), vec![]);
    }
}
