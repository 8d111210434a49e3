//! Networks and volumes on hosts, for both front ends: listed from the mirror with what uses
//! each, removed (refused while containers use them, naming them) and pruned, recorded in the
//! audit log and written back. Networks an IP pool made are removed only through IPAM.

use std::sync::Arc;

use crate::audit::{AuditObject, Op, Recorder};
use crate::connect::Pruned;
use crate::error::{Error, Result};
use crate::fleet::Fleet;
use crate::model::Change;
use crate::store::{NetworkRow, Store, VolumeRow};

async fn blocking<T: Send + 'static>(fleet: &Fleet, f: impl FnOnce(&Store) -> Result<T> + Send + 'static) -> Result<T> {
    crate::sync::blocking(fleet.store(), f).await
}

/// Every mirrored network (of one host), its users and the pool that made it.
pub fn networks(store: &Store, host: Option<&str>) -> Result<Vec<NetworkRow>> {
    let mut rows = store.networks(host)?;
    for row in &mut rows {
        row.pool = row.labels.get(crate::ipam::LABEL_POOL).cloned();
    }
    Ok(rows)
}

pub fn volumes(store: &Store, host: Option<&str>) -> Result<Vec<VolumeRow>> {
    store.volumes(host)
}

/// Remove network `name` (a name or id) from a host.
pub async fn remove_network(fleet: &Fleet, op: &Op, host: &str, name: &str) -> Result<()> {
    let (host_name, wanted) = (host.to_owned(), name.to_owned());
    let (host, row) = blocking(fleet, move |s| {
        let host = s.host(&host_name)?;
        let rows = networks(s, Some(&host_name))?;
        // An exact name or id first; else an id prefix that names one network only.
        let exact = rows.iter().position(|n| n.name == wanted || n.id == wanted);
        let prefixed: Vec<usize> = rows.iter().enumerate().filter(|(_, n)| n.id.starts_with(&wanted)).map(|(i, _)| i).collect();
        let found = exact.or(if prefixed.len() == 1 { Some(prefixed[0]) } else { None });
        Ok((host, found.map(|i| rows[i].clone())))
    })
    .await?;
    let engine = fleet.engine_for(&host).await?;
    // Not mirrored (yet): what the host says, with the same checks.
    let row = match row {
        Some(row) => Some(row),
        None => match engine.network(name).await? {
            Some(facts) => {
                let inspect: serde_json::Value = serde_json::from_str(&facts.inspect).unwrap_or_default();
                let pool = inspect["Labels"][crate::ipam::LABEL_POOL].as_str().map(str::to_owned);
                let users = inspect["Containers"]
                    .as_object()
                    .map(|c| c.values().filter_map(|v| v["Name"].as_str().map(|n| crate::store::NetworkUser { container: n.to_owned(), ip: None })).collect())
                    .unwrap_or_default();
                Some(NetworkRow {
                    host: host.name().to_owned(),
                    builtin: matches!(facts.name.as_str(), "bridge" | "host" | "none"),
                    id: facts.id,
                    name: facts.name,
                    driver: facts.driver,
                    scope: facts.scope,
                    subnets: facts.subnets,
                    labels: Default::default(),
                    containers: users,
                    pool,
                })
            }
            None => return Err(Error::invalid("network", format!("no network {name:?} on host {:?}", host.name()))),
        },
    };
    if let Some(row) = &row {
        if let Some(pool) = &row.pool {
            return Err(Error::PoolNetwork { host: host.name().to_owned(), network: row.name.clone(), pool: pool.clone() });
        }
        if row.builtin {
            return Err(Error::invalid("network", format!("{} is one of Docker's own networks; it cannot be removed", row.name)));
        }
        if !row.containers.is_empty() {
            return Err(Error::InUse {
                host: host.name().to_owned(),
                kind: "network",
                name: row.name.clone(),
                users: row.containers.iter().map(|c| c.container.clone()).collect(),
            });
        }
    }
    let recorder = Recorder::new(Arc::clone(fleet.store()));
    let mut audit = op.row(Some(host.name()), "network", AuditObject { id: row.as_ref().map(|r| r.id.clone()), name: Some(name.to_owned()) }, "remove");
    audit.before = row.as_ref().map(|r| serde_json::json!({ "name": r.name, "driver": r.driver, "subnets": r.subnets }));
    let pending = recorder.request(audit).await?;
    let result = engine.remove_network(row.as_ref().map(|r| r.id.as_str()).unwrap_or(name)).await;
    if result.is_ok() {
        if let Some(row) = &row {
            crate::images::write_changes(fleet, &host, vec![Change::RemoveNetwork(row.id.clone())]).await;
        }
    }
    recorder.complete(pending, &result, None, None).await;
    result
}

/// Remove the networks no container uses (never a pool's: Docker's prune would, so those are
/// left out by removing the others one by one).
pub async fn prune_networks(fleet: &Fleet, op: &Op, host: &str) -> Result<Pruned> {
    let host_name = host.to_owned();
    let (host, rows) = blocking(fleet, move |s| Ok((s.host(&host_name)?, networks(s, Some(&host_name))?))).await?;
    let engine = fleet.engine_for(&host).await?;
    let recorder = Recorder::new(Arc::clone(fleet.store()));
    let pending = recorder.request(op.row(Some(host.name()), "network", AuditObject::default(), "prune")).await?;
    let mut pruned = Pruned::default();
    let mut result = Ok(());
    for row in rows.iter().filter(|n| n.pool.is_none() && !n.builtin && n.containers.is_empty()) {
        match engine.remove_network(&row.id).await {
            Ok(()) => pruned.removed.push(row.name.clone()),
            // In use by something the mirror has not seen yet: left, as docker network prune does.
            Err(Error::Docker { reason, .. }) if reason.contains("active endpoints") || reason.contains("HTTP 404") => {}
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    let gone = rows.iter().filter(|r| pruned.removed.contains(&r.name)).map(|r| Change::RemoveNetwork(r.id.clone())).collect();
    crate::images::write_changes(fleet, &host, gone).await;
    let after = Some(serde_json::json!({ "removed": pruned.removed }));
    let result = result.map(|()| pruned);
    recorder.complete(pending, &result, after, None).await;
    result
}

/// Remove volume `name` from a host; refused while containers use it, unless `force`.
pub async fn remove_volume(fleet: &Fleet, op: &Op, host: &str, name: &str, force: bool) -> Result<()> {
    let (host_name, wanted) = (host.to_owned(), name.to_owned());
    let (host, row) = blocking(fleet, move |s| Ok((s.host(&host_name)?, s.volumes(Some(&host_name))?.into_iter().find(|v| v.name == wanted)))).await?;
    if let Some(row) = &row {
        if !row.containers.is_empty() && !force {
            return Err(Error::InUse { host: host.name().to_owned(), kind: "volume", name: name.to_owned(), users: row.containers.clone() });
        }
    }
    let engine = fleet.engine_for(&host).await?;
    let recorder = Recorder::new(Arc::clone(fleet.store()));
    let mut audit = op.row(Some(host.name()), "volume", AuditObject { id: None, name: Some(name.to_owned()) }, "remove");
    audit.before = row.as_ref().map(|r| serde_json::json!({ "driver": r.driver, "containers": r.containers }));
    let pending = recorder.request(audit).await?;
    let result = engine.remove_volume(name, force).await;
    if result.is_ok() {
        crate::images::write_changes(fleet, &host, vec![Change::RemoveVolume(name.to_owned())]).await;
    }
    recorder.complete(pending, &result, None, None).await;
    result
}

/// Remove the volumes no container uses (Docker's rule: anonymous ones only on API ≥ 1.42).
pub async fn prune_volumes(fleet: &Fleet, op: &Op, host: &str) -> Result<Pruned> {
    let host_name = host.to_owned();
    let host = blocking(fleet, move |s| s.host(&host_name)).await?;
    let engine = fleet.engine_for(&host).await?;
    let recorder = Recorder::new(Arc::clone(fleet.store()));
    let pending = recorder.request(op.row(Some(host.name()), "volume", AuditObject::default(), "prune")).await?;
    let result = engine.prune_volumes().await;
    if let Ok(pruned) = &result {
        crate::images::write_changes(fleet, &host, pruned.removed.iter().cloned().map(Change::RemoveVolume).collect()).await;
    }
    let after = result.as_ref().ok().map(|p| serde_json::json!({ "removed": p.removed, "bytes": p.bytes }));
    recorder.complete(pending, &result, after, None).await;
    result
}
