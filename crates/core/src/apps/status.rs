//! What the store says of apps, offline: an environment's replicas against what it is meant to
//! run ([`status`], with drift), the compose projects people run beside them ([`compose`]),
//! an app's history from the audit log ([`history`]), and the apps read back from the hosts'
//! labels after the store was lost ([`rebuild`]).

use std::collections::BTreeMap;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::plan::{self, Seen};
use super::{LABEL_APP, LABEL_ENV, LABEL_REVISION, LABEL_SPEC};
use crate::audit::Op;
use crate::error::{Error, Result};
use crate::store::audit::AuditQuery;
use crate::store::{ContainerFilter, Store};

/// One replica as `berth app status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ReplicaStatus {
    pub replica: u32,
    pub host: Option<String>,
    pub container: Option<String>,
    pub ip: Option<String>,
    pub mac: Option<String>,
    pub revision: Option<i64>,
    /// Docker's state (`running`, `exited`, …); `missing` when there is no container.
    pub state: String,
    pub health: Option<String>,
    /// How it differs from what the environment is meant to run: `missing`, `stopped`,
    /// `unhealthy`, `revision` (another revision), `address` (off its leased address), `extra`
    /// (beyond the replica count); `None` when it is as meant.
    pub drift: Option<String>,
}

/// `berth app status NAME --env E`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct AppStatus {
    pub app: String,
    pub env: String,
    /// The revision the environment is meant to run (`None`: never deployed).
    pub revision: Option<i64>,
    pub latest: i64,
    pub desired: u32,
    pub replicas: Vec<ReplicaStatus>,
    /// Stopped containers of other revisions kept for a rollback, by revision ("1": 6).
    pub kept: BTreeMap<String, u32>,
}

fn replica_status(seen: &Seen, drift: Option<&str>) -> ReplicaStatus {
    ReplicaStatus {
        replica: seen.replica,
        host: Some(seen.host.clone()),
        container: Some(seen.container.clone()),
        ip: seen.ip.clone(),
        mac: seen.mac.clone(),
        revision: Some(seen.revision),
        state: seen.state.clone(),
        health: seen.health.clone(),
        drift: drift.map(str::to_owned),
    }
}

/// Desired against actual for `env` of app `name`, from the mirror.
pub fn status(store: &Store, name: &str, env: &str) -> Result<AppStatus> {
    let (latest, effective) = plan::revision(store, name, env, None)?;
    let deployment = store.deployments()?.into_iter().find(|d| d.app == name && d.env == env);
    let revision = deployment.as_ref().map(|d| d.revision);
    let desired = deployment.as_ref().map_or(effective.replicas, |d| d.replicas);
    let all = plan::containers(store, name, env)?;
    let mut replicas = Vec::new();
    for index in 0..desired {
        // A stopped container of another revision is kept for a rollback, not serving.
        let serving = plan::current(&all, index, revision).filter(|s| s.running() || Some(s.revision) == revision);
        match serving {
            None => replicas.push(ReplicaStatus {
                replica: index,
                host: None,
                container: None,
                ip: None,
                mac: None,
                revision: None,
                state: "missing".into(),
                health: None,
                drift: revision.is_some().then(|| "missing".to_owned()),
            }),
            Some(seen) => {
                let drift = if revision.is_none() {
                    None
                } else if Some(seen.revision) != revision {
                    Some("revision")
                } else if !seen.running() {
                    Some("stopped")
                } else if seen.health.as_deref() == Some("unhealthy") {
                    Some("unhealthy")
                } else if seen.actual_ip.is_some() && seen.actual_ip != seen.ip {
                    Some("address")
                } else {
                    None
                };
                replicas.push(replica_status(seen, drift));
            }
        }
    }
    for seen in all.iter().filter(|s| s.replica >= desired && s.running()) {
        replicas.push(replica_status(seen, Some("extra")));
    }
    let serving: Vec<&str> = replicas.iter().filter_map(|r| r.container.as_deref()).collect();
    let mut kept = BTreeMap::new();
    for seen in all.iter().filter(|s| !s.running() && !serving.contains(&s.container.as_str())) {
        *kept.entry(seen.revision.to_string()).or_insert(0) += 1;
    }
    Ok(AppStatus { app: name.to_owned(), env: env.to_owned(), revision, latest: latest.revision, desired, replicas, kept })
}

/// A service of a compose project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ComposeService {
    pub name: String,
    pub host: String,
    pub containers: u32,
    pub running: u32,
}

/// A compose project (`com.docker.compose.project` labels), shown as a read-only app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ComposeProject {
    pub name: String,
    pub hosts: Vec<String>,
    pub services: Vec<ComposeService>,
    pub containers: u32,
    pub running: u32,
}

pub const LABEL_COMPOSE_PROJECT: &str = "com.docker.compose.project";
pub const LABEL_COMPOSE_SERVICE: &str = "com.docker.compose.service";

/// The compose projects the mirror has, with their services.
pub fn compose(store: &Store) -> Result<Vec<ComposeProject>> {
    let filter = ContainerFilter { all: true, labels: vec![(LABEL_COMPOSE_PROJECT.to_owned(), None)], ..Default::default() };
    // project → (service, host) → (containers, running)
    type Counts = BTreeMap<(String, String), (u32, u32)>;
    let mut projects: BTreeMap<String, Counts> = BTreeMap::new();
    for row in store.containers(&filter)? {
        let Some(project) = row.labels.get(LABEL_COMPOSE_PROJECT) else { continue };
        let service = row.labels.get(LABEL_COMPOSE_SERVICE).cloned().unwrap_or_default();
        let counts = projects.entry(project.clone()).or_default().entry((service, row.host.clone())).or_default();
        counts.0 += 1;
        if row.state == "running" {
            counts.1 += 1;
        }
    }
    Ok(projects
        .into_iter()
        .map(|(name, services)| {
            let services: Vec<ComposeService> =
                services.into_iter().map(|((name, host), (containers, running))| ComposeService { name, host, containers, running }).collect();
            let mut hosts: Vec<String> = services.iter().map(|s| s.host.clone()).collect();
            hosts.dedup();
            ComposeProject { containers: services.iter().map(|s| s.containers).sum(), running: services.iter().map(|s| s.running).sum(), hosts, services, name }
        })
        .collect())
}

/// One change to an app, from the audit log.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct HistoryEntry {
    pub op: String,
    pub time: String,
    pub actor: String,
    /// apply, deploy, rollback, scale, rm, rebuild.
    pub action: String,
    pub env: Option<String>,
    pub revision: Option<i64>,
    /// ok, failed, or unknown (no answer recorded).
    pub outcome: String,
    pub error: Option<String>,
    /// The audit rows under the same op (containers, leases, copies).
    pub steps: u32,
}

/// `berth app history NAME`: newest first.
pub fn history(store: &Store, name: &str) -> Result<Vec<HistoryEntry>> {
    if store.app_revision(name, None)?.is_none() {
        return Err(Error::invalid("app", format!("there is no app {name:?} (see `berth app ls`)")));
    }
    let rows = store.audit(&AuditQuery {
        kind: Some("app".into()),
        object: Some(name.to_owned()),
        limit: crate::store::audit::MAX_AUDIT_LIMIT,
        ..Default::default()
    })?;
    let mut out: Vec<HistoryEntry> = Vec::new();
    for row in &rows {
        let after = row.after.clone().unwrap_or_default();
        let steps = store.audit(&AuditQuery { op: Some(row.op.clone()), limit: crate::store::audit::MAX_AUDIT_LIMIT, ..Default::default() })?.len() as u32;
        out.push(HistoryEntry {
            op: row.op.clone(),
            time: row.time.clone(),
            actor: row.actor.clone(),
            action: row.action.clone(),
            env: after["env"].as_str().map(str::to_owned),
            revision: after["revision"].as_i64().or_else(|| row.object.id.as_deref().and_then(|id| id.parse().ok())),
            outcome: row.outcome.as_str().to_owned(),
            error: row.error.clone(),
            steps,
        });
    }
    Ok(out)
}

/// What [`rebuild`] put back.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct AppRebuild {
    /// (app, revision) stored again from a container's label.
    pub revisions: Vec<(String, i64)>,
    /// (app, env, revision, replicas) deployments recorded again.
    pub deployments: Vec<(String, String, i64, u32)>,
    /// Containers with app labels but no app file label (made by an older Berth): cannot be rebuilt.
    pub unreadable: Vec<String>,
}

/// Read the apps back from the hosts' labels (as `ipam rebuild` reads the pools): each
/// revision's app file from `berth.app.spec`, each environment's revision and replica count
/// from its running replicas. Run `berth ipam rebuild` first for the leases.
pub fn rebuild(store: &Store, op: &Op) -> Result<AppRebuild> {
    let filter = ContainerFilter { all: true, labels: vec![(LABEL_APP.to_owned(), None)], ..Default::default() };
    let mut report = AppRebuild::default();
    let mut running: BTreeMap<(String, String), BTreeMap<i64, std::collections::BTreeSet<u32>>> = BTreeMap::new();
    let containers = store.containers(&filter)?;
    for row in &containers {
        let (Some(app), Some(env), Some(revision)) =
            (row.labels.get(LABEL_APP), row.labels.get(LABEL_ENV), row.labels.get(LABEL_REVISION).and_then(|r| r.parse::<i64>().ok()))
        else {
            continue;
        };
        let Some(spec) = row.labels.get(LABEL_SPEC) else {
            report.unreadable.push(format!("{}/{}", row.host, row.name));
            continue;
        };
        let digest = row
            .labels
            .get(super::LABEL_DIGEST)
            .cloned()
            .unwrap_or_else(|| format!("sha256:{}", Sha256::digest(spec.as_bytes()).iter().map(|b| format!("{b:02x}")).collect::<String>()));
        let audit = op.row(None, "app", crate::audit::AuditObject::default(), "rebuild");
        if store.audited(&audit).restore_app_revision(app, revision, spec, &digest, row.created_ms)? {
            report.revisions.push((app.clone(), revision));
        }
        if row.state == "running" {
            if let Some(replica) = row.labels.get(super::LABEL_REPLICA).and_then(|r| r.parse().ok()) {
                running.entry((app.clone(), env.clone())).or_default().entry(revision).or_default().insert(replica);
            }
        }
    }
    let known = store.deployments()?;
    for ((app, env), by_revision) in running {
        if known.iter().any(|d| d.app == app && d.env == env) {
            continue;
        }
        // The revision most replicas run; the replica count reaches the highest replica that
        // runs (a replica killed by hand is missing, not gone).
        let Some((&revision, _)) = by_revision.iter().max_by_key(|(r, set)| (set.len(), **r)) else { continue };
        let replicas = by_revision.values().flatten().max().map_or(0, |m| m + 1);
        let audit = op.row(None, "app", crate::audit::AuditObject::default(), "rebuild");
        store.audited(&audit).set_deployment(&app, &env, revision, replicas)?;
        report.deployments.push((app, env, revision, replicas));
    }
    Ok(report)
}
