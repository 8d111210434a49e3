//! The Docker side of a pool: its network on each of its hosts (created, or checked for drift),
//! containers run with a leased fixed address, removal into quarantine, and rebuilding pools
//! and leases from the labels Berth wrote on networks and containers.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::{PoolSpec, LABEL_IP, LABEL_POOL, LABEL_SPEC};
use crate::audit::{AuditObject, Op, Recorder};
use crate::containers::{self, ActOptions, ContainerAction};
use crate::error::{Error, Result};
use crate::fleet::Fleet;
use crate::model::{ContainerSpec, NetworkAttachment, NetworkSpec, RestartPolicy};
use crate::store::ipam::{AddressRow, LeaseRequest};
use crate::store::Store;

/// What `net apply` found or did on one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct NetReport {
    pub host: String,
    pub network: String,
    /// "created", "ok", "drift" or "failed".
    pub status: String,
    /// What differs from the pool's template (with "drift").
    pub drift: Vec<String>,
    pub error: Option<String>,
}

/// The Docker network a pool's template asks for on `host`.
pub fn network_request(spec: &PoolSpec, host: &str) -> NetworkSpec {
    let on_host = spec.host(host);
    let mut options = BTreeMap::new();
    let mut aux = BTreeMap::new();
    // Docker's "gateway" is an address Docker itself takes: on a bridge, the host's own
    // address on the LAN bridge (when given); the LAN's router is then the containers' default
    // route through DefaultGateway. macvlan takes no address: the gateway is the router.
    let gateway = match spec.driver {
        super::Driver::Bridge => {
            if let Some(name) = &spec.bridge_name {
                options.insert("com.docker.network.bridge.name".to_owned(), name.clone());
            }
            match (on_host.and_then(|h| h.ip), spec.gateway) {
                (Some(own), router) => {
                    if let Some(router) = router {
                        let key = if router.is_ipv4() { "DefaultGatewayIPv4" } else { "DefaultGatewayIPv6" };
                        aux.insert(key.to_owned(), router.to_string());
                    }
                    Some(own)
                }
                (None, router) => router,
            }
        }
        super::Driver::Macvlan => {
            if let Some(parent) = on_host.and_then(|h| h.parent.clone()).or_else(|| spec.parent.clone()) {
                options.insert("parent".to_owned(), parent);
            }
            spec.gateway
        }
    };
    let labels =
        BTreeMap::from([(LABEL_POOL.to_owned(), spec.name.clone()), (LABEL_SPEC.to_owned(), serde_json::to_string(spec).expect("a pool spec serialises"))]);
    NetworkSpec {
        name: spec.network_name().to_owned(),
        driver: spec.driver.as_str().to_owned(),
        subnet: spec.subnet.to_string(),
        gateway: gateway.map(|g| g.to_string()),
        aux_addresses: aux,
        ipv6: spec.subnet.network().is_ipv6(),
        options,
        labels,
    }
}

/// How an existing network differs from the template (empty: it matches).
pub fn drift(want: &NetworkSpec, have: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("").to_owned();
    match have["Labels"][LABEL_POOL].as_str() {
        None => out.push(format!("it exists but was not made by Berth (no {LABEL_POOL} label); remove or rename it")),
        Some(pool) if Some(pool) != want.labels.get(LABEL_POOL).map(String::as_str) => {
            out.push(format!("it was made by Berth for pool {pool:?}, not this one; remove or rename it"))
        }
        Some(_) => {}
    }
    let driver = text(&have["Driver"]);
    if driver != want.driver {
        out.push(format!("driver is {driver}, the pool wants {}", want.driver));
    }
    let configs = have["IPAM"]["Config"].as_array().cloned().unwrap_or_default();
    let same_family = configs.iter().find(|c| c["Subnet"].as_str() == Some(want.subnet.as_str()));
    match same_family {
        None => {
            let subnets: Vec<String> = configs.iter().map(|c| text(&c["Subnet"])).collect();
            out.push(format!("subnet is {}, the pool's is {}", if subnets.is_empty() { "unset".into() } else { subnets.join(", ") }, want.subnet));
        }
        Some(config) => {
            let have_gateway = text(&config["Gateway"]);
            if let Some(gateway) = &want.gateway {
                if &have_gateway != gateway {
                    out.push(format!("gateway is {}, the pool wants {gateway}", if have_gateway.is_empty() { "unset" } else { &have_gateway }));
                }
            }
        }
    }
    for (key, value) in &want.options {
        let have_value = text(&have["Options"][key]);
        if &have_value != value {
            out.push(format!("option {key} is {:?}, the pool wants {value:?}", have_value));
        }
    }
    out
}

/// Create the pool's network on each of its hosts, or check the one there. One host's failure
/// does not stop the others; each gets its line.
pub async fn apply(fleet: &Fleet, op: &Op, pool: &str) -> Result<Vec<NetReport>> {
    let spec = {
        let pool = pool.to_owned();
        crate::sync::blocking(fleet.store(), move |s| s.pool(&pool)).await?
    };
    if spec.hosts.is_empty() {
        return Err(Error::invalid("pool", format!("{pool:?} has no hosts; add the pool again with --host HOST")));
    }
    let mut reports = Vec::new();
    for h in &spec.hosts {
        let report = match apply_on(fleet, op, &spec, &h.host).await {
            Ok((status, drift)) => NetReport { host: h.host.clone(), network: spec.name.clone(), status: status.into(), drift, error: None },
            Err(e) => NetReport { host: h.host.clone(), network: spec.name.clone(), status: "failed".into(), drift: vec![], error: Some(e.to_string()) },
        };
        reports.push(report);
    }
    Ok(reports)
}

async fn apply_on(fleet: &Fleet, op: &Op, spec: &PoolSpec, host: &str) -> Result<(&'static str, Vec<String>)> {
    let engine = fleet.engine(host).await?;
    let want = network_request(spec, host);
    if let Some(have) = engine.network_json(spec.network_name()).await? {
        let drift = drift(&want, &have);
        return Ok((if drift.is_empty() { "ok" } else { "drift" }, drift));
    }
    let recorder = Recorder::new(std::sync::Arc::clone(fleet.store()));
    let mut row = op.row(Some(host), "network", AuditObject { id: None, name: Some(spec.network_name().to_owned()) }, "create");
    row.after = Some(serde_json::json!({"name": want.name, "driver": want.driver, "subnet": want.subnet, "gateway": want.gateway, "pool": spec.name}));
    let pending = recorder.request(row).await?;
    let result = engine.create_network(&want).await;
    recorder.complete(pending, &result, None, None).await;
    result?;
    // In the mirror at once, as every change Berth makes (`ipam check` reads it from there).
    match engine.network(spec.network_name()).await {
        Ok(Some(facts)) => {
            let name = host.to_owned();
            let written = crate::sync::blocking(fleet.store(), move |s| {
                let host_id = s.host(&name)?.id;
                s.apply_events(host_id, &[], &[crate::model::Change::UpsertNetwork(facts)])
            })
            .await;
            if let Err(error) = written {
                tracing::warn!(%error, host, "could not write a new network back to the mirror; the follower will");
            }
        }
        Ok(None) => {}
        Err(error) => tracing::warn!(%error, host, "could not re-inspect a new network; the follower will"),
    }
    Ok(("created", vec![]))
}

/// A container to run with a fixed address from a pool.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct RunSpec {
    pub host: String,
    pub pool: String,
    /// The address to lease; none: the pool's next free one.
    #[cfg_attr(feature = "specta", specta(type = Option<String>))]
    pub ip: Option<IpAddr>,
    pub name: String,
    pub image: String,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    /// Docker restart policy: no, always, unless-stopped (or empty: unless-stopped), on-failure.
    pub restart: String,
}

/// What `run` started.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct RunOutcome {
    pub host: String,
    pub name: String,
    pub id: String,
    pub pool: String,
    pub ip: String,
}

/// Lease an address (the one asked for or the next free), create the container on the pool's
/// network with that address fixed and start it, through the one container path. Any failure
/// undoes what was done: the container is removed and the lease forgotten (it was never used,
/// so no quarantine), unless a container may still hold the address.
pub async fn run(fleet: &Fleet, op: &Op, spec: &RunSpec) -> Result<RunOutcome> {
    let pool = {
        let (spec, store) = (spec.clone(), std::sync::Arc::clone(fleet.store()));
        tokio::task::spawn_blocking(move || spec.validate(&store)).await.expect("store task panicked")?
    };
    let restart = restart_policy(&spec.restart)?;
    let host = {
        let name = spec.host.clone();
        crate::sync::blocking(fleet.store(), move |s| s.host(&name)).await?
    };
    let engine = fleet.engine_for(&host).await?;
    // The network must be there before an address is taken for it.
    if engine.network_json(pool.network_name()).await?.is_none() {
        return Err(Error::invalid("pool network", format!("host {} has no network {}; run `berth net apply {}` first", spec.host, pool.name, pool.name)));
    }
    let lease = {
        let (pool, request) = (pool.name.clone(), LeaseRequest { ip: spec.ip, host: Some(spec.host.clone()), container: Some(spec.name.clone()) });
        let row = op.row(Some(&spec.host), "lease", AuditObject::default(), "lease");
        crate::sync::blocking(fleet.store(), move |s| s.audited(&row).lease(&pool, &request)).await?
    };
    let ip: IpAddr = lease.ip.parse().expect("a leased address");
    let container = ContainerSpec {
        name: spec.name.clone(),
        image: spec.image.clone(),
        cmd: spec.cmd.clone(),
        env: spec.env.clone(),
        labels: BTreeMap::from([(LABEL_POOL.to_owned(), pool.name.clone()), (LABEL_IP.to_owned(), lease.ip.clone())]),
        restart,
        networks: vec![NetworkAttachment::fixed(pool.network_name(), ip, vec![])],
        ..Default::default()
    };
    // Any failure undoes what was done. The lease is forgotten (it was never used) only once
    // no container can hold the address: one that may exist keeps it, and `ipam check`
    // releases it when the container is gone.
    let pool_name = pool.name.clone();
    let undo = |found: Option<containers::Found>| async move {
        let gone = match found {
            None => true,
            Some(found) => match containers::remove_with(fleet, op, &found, true, false).await {
                Ok(_) => true,
                Err(undo) => {
                    tracing::warn!(%undo, "could not remove a container that did not start; its lease stays");
                    false
                }
            },
        };
        if gone {
            let (pool, row) = (pool_name.clone(), op.row(Some(&spec.host), "lease", AuditObject::default(), "forget"));
            if let Err(undo) = crate::sync::blocking(fleet.store(), move |s| s.audited(&row).forget_lease(&pool, ip)).await {
                tracing::warn!(%undo, "could not take back the lease of a container that did not start");
            }
        }
    };
    let found = |id: String| containers::Found { host: host.clone(), id, name: spec.name.clone() };
    let id = match containers::create(fleet, op, &host, &container).await {
        Ok(id) => id,
        Err(error) => {
            // No answer: the daemon may have created it all the same.
            let maybe = if error.is_connection() {
                match engine.container(&spec.name).await {
                    Ok(Some(facts)) => Some(Some(found(facts.id))),
                    Ok(None) => Some(None),
                    Err(_) => None,
                }
            } else {
                Some(None)
            };
            match maybe {
                Some(existing) => undo(existing).await,
                None => tracing::warn!(%error, "cannot tell whether the container was created; its lease stays"),
            }
            return Err(error);
        }
    };
    if let Err(error) = containers::act(fleet, op, &spec.host, &id, ContainerAction::Start, &ActOptions::default()).await {
        undo(Some(found(id))).await;
        return Err(error);
    }
    Ok(RunOutcome { host: spec.host.clone(), name: spec.name.clone(), id, pool: pool.name.clone(), ip: lease.ip })
}

impl RunSpec {
    /// Everything that can be checked without the host: names, the image, the restart policy,
    /// the pool and that the host sits on its LAN. Returns the pool.
    pub fn validate(&self, store: &Store) -> Result<PoolSpec> {
        containers::validate_name(&self.name)?;
        if self.image.trim().is_empty() {
            return Err(Error::invalid("image", "give an image to run, e.g. shop/web:1.4"));
        }
        restart_policy(&self.restart)?;
        if let Some(bad) = self.env.iter().find(|e| !e.contains('=') || e.starts_with('=')) {
            return Err(Error::invalid("environment variable", format!("{bad:?}; write KEY=VALUE")));
        }
        let pool = store.pool(&self.pool)?;
        if pool.host(&self.host).is_none() {
            let hosts: Vec<&str> = pool.hosts.iter().map(|h| h.host.as_str()).collect();
            return Err(Error::invalid(
                "host",
                format!(
                    "{} is not on pool {}'s LAN (its hosts: {}); pick one of them",
                    self.host,
                    pool.name,
                    if hosts.is_empty() { "none".into() } else { hosts.join(", ") }
                ),
            ));
        }
        if let Some(ip) = self.ip {
            if !pool.subnet.contains(&ip) {
                return Err(Error::AddressUnavailable {
                    pool: pool.name.clone(),
                    ip: ip.to_string(),
                    reason: format!("outside the pool's subnet {}", pool.subnet),
                });
            }
        }
        Ok(pool)
    }
}

fn restart_policy(name: &str) -> Result<RestartPolicy> {
    match name {
        "" | "unless-stopped" => Ok(RestartPolicy::UnlessStopped),
        "no" => Ok(RestartPolicy::No),
        "always" => Ok(RestartPolicy::Always),
        "on-failure" => Ok(RestartPolicy::OnFailure(0)),
        _ => Err(Error::invalid("restart policy", format!("{name:?}; use no, always, unless-stopped or on-failure"))),
    }
}

/// What `rebuild` read back from the mirror of the hosts.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct RebuildReport {
    pub pools_added: Vec<String>,
    /// Pools the store had already, with the same definition.
    pub pools_kept: Vec<String>,
    pub leases_added: Vec<AddressRow>,
    /// What could not be taken back, and why.
    pub skipped: Vec<String>,
}

/// Pools from the labels of the networks Berth made, leases from the labels of the containers
/// it ran: what the mirror holds of every host (after `host add` and `sync`). Quarantines are
/// not on the hosts, so they are not rebuilt; leases made without a container neither.
pub fn rebuild(store: &Store, op: &Op) -> Result<RebuildReport> {
    let pool_row = op.row(None, "pool", AuditObject::default(), "rebuild");
    let lease_row = op.row(None, "lease", AuditObject::default(), "adopt");
    let mut report = RebuildReport::default();
    let (networks, containers) = store.ipam_labels()?;
    let mut specs: Vec<PoolSpec> = Vec::new();
    for (host, network, json) in networks {
        let spec: PoolSpec = match serde_json::from_str(&json) {
            Ok(spec) => spec,
            Err(e) => {
                report.skipped.push(format!("network {network} on {host}: its {LABEL_SPEC} label is not a pool definition ({e})"));
                continue;
            }
        };
        match specs.iter().find(|s| s.name == spec.name) {
            Some(seen) if *seen != spec => report
                .skipped
                .push(format!("network {network} on {host} defines pool {} differently from another host; the first one read was kept", spec.name)),
            Some(_) => {}
            None => specs.push(spec),
        }
    }
    let known: Vec<String> = store.hosts()?.into_iter().map(|h| h.config.name).collect();
    for mut spec in specs {
        match store.pool(&spec.name) {
            Ok(have) if have == spec => {
                report.pools_kept.push(spec.name.clone());
                continue;
            }
            Ok(_) => {
                report.skipped.push(format!("pool {}: the store has a different definition; it was kept", spec.name));
                continue;
            }
            Err(Error::PoolNotFound { .. }) => {}
            Err(e) => return Err(e),
        }
        let missing: Vec<super::PoolHost> = spec.hosts.iter().filter(|h| !known.contains(&h.host)).cloned().collect();
        if !missing.is_empty() {
            let names: Vec<&str> = missing.iter().map(|h| h.host.as_str()).collect();
            report.skipped.push(format!(
                "pool {}: hosts {} are not added here, so the pool was rebuilt without them (their bridge addresses stay reserved); to have them in it, add them, `berth ipam pool rm {}` and rebuild again",
                spec.name,
                names.join(", "),
                spec.name
            ));
            spec.hosts.retain(|h| known.contains(&h.host));
            // A host left out still owns its address on the LAN bridge: keep it out of reach.
            for h in missing {
                if let Some(ip) = h.ip {
                    spec.reserved.push(super::Reservation { ip, reason: format!("host {} on the bridge (not added here)", h.host) });
                }
            }
        }
        match store.audited(&pool_row).add_pool(&spec) {
            Ok(()) => report.pools_added.push(spec.name.clone()),
            Err(e) => report.skipped.push(format!("pool {}: {e}", spec.name)),
        }
    }
    let leased: Vec<AddressRow> = store.addresses(None)?;
    for (host, name, pool, ip) in containers {
        let Ok(addr) = ip.parse::<IpAddr>() else {
            report.skipped.push(format!("container {host}/{name}: {LABEL_IP}={ip:?} is not an address"));
            continue;
        };
        let same =
            leased.iter().any(|r| r.pool == pool && r.ip == addr.to_string() && r.host.as_deref() == Some(&host) && r.container.as_deref() == Some(&name));
        if same {
            continue;
        }
        match store.audited(&lease_row).adopt_lease(&pool, addr, &host, &name) {
            Ok(row) => report.leases_added.push(row),
            Err(e) => report.skipped.push(format!("container {host}/{name}: {e}")),
        }
    }
    Ok(report)
}
