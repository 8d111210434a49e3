//! Fleet-level operations shared by the CLI and the desktop shell: each is one call for a front end.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::endpoint::{self, Endpoint, SshOptions, TlsFiles};
use crate::error::{Error, Result};
use crate::model::{Host, HostConfig, HostSummary};
use crate::store::Store;

/// Name given to the local engine when the desktop app adopts it.
pub const LOCAL_HOST_NAME: &str = "local";

/// Validate and add a host. Nothing is written when any part is wrong.
pub fn add_host(
    store: &Store,
    name: &str,
    url: &str,
    tls: Option<TlsFiles>,
    labels: BTreeMap<String, String>,
) -> Result<Host> {
    add_host_with(store, name, url, tls, SshOptions::default(), labels)
}

/// [`add_host`] with the options of `ssh://` hosts.
pub fn add_host_with(
    store: &Store,
    name: &str,
    url: &str,
    tls: Option<TlsFiles>,
    ssh: SshOptions,
    labels: BTreeMap<String, String>,
) -> Result<Host> {
    let endpoint = Endpoint::parse_with(url, tls, ssh)?;
    store.add_host(&HostConfig { name: name.to_owned(), endpoint, labels })
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
pub async fn adopt_local_engine(store: &Arc<Store>) -> Result<Option<HostSummary>> {
    if !store.hosts()?.is_empty() {
        return Ok(None);
    }
    let endpoint = endpoint::local_default()?;
    let probe = Host {
        id: 0,
        config: HostConfig { name: LOCAL_HOST_NAME.into(), endpoint: endpoint.clone(), labels: BTreeMap::new() },
    };
    match tokio::time::timeout(Duration::from_secs(3), crate::connect::connect(&probe)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            tracing::info!(error = %e, "no local engine to adopt");
            return Ok(None);
        }
        Err(_) => return Ok(None),
    }
    match store.add_host(&probe.config) {
        Ok(host) => {
            if let Err(e) = crate::sync::sync_once(store, &host).await {
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
    let config = std::env::var_os("DOCKER_CONFIG")
        .map(std::path::PathBuf::from)
        .or_else(|| directories::BaseDirs::new().map(|d| d.home_dir().join(".docker")));
    let Some(config) = config else { return Vec::new() };
    let Ok(entries) = std::fs::read_dir(config.join("contexts/meta")) else { return Vec::new() };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let Ok(text) = std::fs::read_to_string(entry.path().join("meta.json")) else { continue };
        let Ok(meta) = serde_json::from_str::<serde_json::Value>(&text) else { continue };
        let (Some(name), Some(url)) = (meta["Name"].as_str(), meta["Endpoints"]["docker"]["Host"].as_str()) else { continue };
        let tls_dir = config.join("contexts/tls").join(entry.file_name()).join("docker");
        let tls = ["ca.pem", "cert.pem", "key.pem"]
            .iter()
            .all(|f| tls_dir.join(f).exists())
            .then(|| TlsFiles { ca: tls_dir.join("ca.pem"), cert: tls_dir.join("cert.pem"), key: tls_dir.join("key.pem") });
        found.push((name.to_owned(), url.to_owned(), tls));
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

/// Add hosts from docker contexts and `DOCKER_HOST`; existing names and bad entries are reported,
/// not fatal.
pub fn import_hosts(store: &Store) -> Result<Vec<ImportOutcome>> {
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
        let result = add_host(store, &name, &url, tls, BTreeMap::new());
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
