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
