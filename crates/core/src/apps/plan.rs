//! Desired against actual, from the store alone (works offline): which replicas an environment
//! of an app has on which host, and where the missing ones would go ([`plan`], placed by the
//! pure [`crate::placement::place`] on a [`FleetView`] made from the mirror).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::spec::{AppSpec, Effective};
use super::{LABEL_APP, LABEL_ENV, LABEL_MAC, LABEL_REPLICA, LABEL_REVISION};
use crate::error::{Error, Result};
use crate::ipam::{LABEL_IP, LABEL_POOL};
use crate::model::{ContainerRow, Reachability};
use crate::placement::{self, FleetView, HostView, Reason, Request, MAX_REPLICAS};
use crate::store::apps::{DeploymentRow, RevisionRow};
use crate::store::ipam::{AddressRow, AddressState};
use crate::store::{ContainerFilter, Store};

/// One container of an app's environment, as the mirror has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Seen {
    pub replica: u32,
    pub revision: i64,
    pub host: String,
    pub container: String,
    pub id: String,
    pub pool: Option<String>,
    pub ip: Option<String>,
    pub mac: Option<String>,
    pub state: String,
    pub health: Option<String>,
    /// The address it actually has on the pool's network (when running).
    pub actual_ip: Option<String>,
}

impl Seen {
    pub fn running(&self) -> bool {
        self.state == "running"
    }

    /// Running, and healthy when it has a health check.
    pub fn healthy(&self) -> bool {
        self.running() && self.health.as_deref().is_none_or(|h| h == "healthy")
    }
}

fn seen(row: &ContainerRow, networks: &BTreeMap<String, String>) -> Option<Seen> {
    let replica = row.labels.get(LABEL_REPLICA)?.parse().ok()?;
    let revision = row.labels.get(LABEL_REVISION)?.parse().ok()?;
    let pool = row.labels.get(LABEL_POOL).cloned();
    let actual_ip = pool.as_ref().and_then(|p| networks.get(p)).and_then(|net| row.ips.get(net)).cloned();
    Some(Seen {
        replica,
        revision,
        host: row.host.clone(),
        container: row.name.clone(),
        id: row.id.clone(),
        pool,
        ip: row.labels.get(LABEL_IP).cloned(),
        mac: row.labels.get(LABEL_MAC).cloned(),
        state: row.state.clone(),
        health: row.health.clone(),
        actual_ip: actual_ip.filter(|ip| !ip.is_empty()),
    })
}

/// Every container the mirror has for `env` of app `name`, by replica and revision.
pub fn containers(store: &Store, name: &str, env: &str) -> Result<Vec<Seen>> {
    let filter = ContainerFilter {
        all: true,
        labels: vec![(LABEL_APP.to_owned(), Some(name.to_owned())), (LABEL_ENV.to_owned(), Some(env.to_owned()))],
        ..Default::default()
    };
    let networks: BTreeMap<String, String> = store.pools()?.into_iter().map(|p| (p.spec.name.clone(), p.spec.network_name().to_owned())).collect();
    let mut out: Vec<Seen> = store.containers(&filter)?.iter().filter_map(|row| seen(row, &networks)).collect();
    out.sort_by(|a, b| (a.replica, a.revision, &a.host).cmp(&(b.replica, b.revision, &b.host)));
    Ok(out)
}

/// The container that stands for replica `index`: the one on `revision` if any (running first),
/// else a running one, else the newest.
pub fn current(all: &[Seen], index: u32, revision: Option<i64>) -> Option<&Seen> {
    let best = |keep: &dyn Fn(&Seen) -> bool| all.iter().filter(|s| s.replica == index && keep(s)).max_by_key(|s| (s.running(), s.revision));
    best(&|s| Some(s.revision) == revision).or_else(|| best(&|s| s.running())).or_else(|| best(&|_| true))
}

/// One replica in a plan: kept where it is, or placed anew.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct PlannedReplica {
    pub replica: u32,
    pub host: String,
    pub pool: String,
    pub ip: String,
    /// True when the replica exists already and keeps its host and address.
    pub existing: bool,
}

/// A host the plan does not use, with every reason.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct RejectedHost {
    pub host: String,
    /// Said in words ("pool lan-bj has no free address").
    pub reasons: Vec<String>,
    /// The same, as data (for the app to say in its language).
    pub details: Vec<Reason>,
}

/// `berth app plan`: where each replica of the environment goes. Changes nothing.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct AppPlan {
    pub app: String,
    pub env: String,
    pub revision: i64,
    pub replicas: u32,
    pub placements: Vec<PlannedReplica>,
    pub rejected: Vec<RejectedHost>,
    /// Replicas that found no place.
    pub unplaced: u32,
    /// Replicas beyond the count asked for, to be removed.
    pub remove: Vec<u32>,
}

impl AppPlan {
    /// Why the missing replicas found no place, in words: "2 of 6 replicas find no place: a: …; b: …".
    pub fn unplaced_error(&self) -> Error {
        let why: Vec<String> = self.rejected.iter().map(|r| format!("{}: {}", r.host, r.reasons.join(", "))).collect();
        Error::invalid(
            "placement",
            format!(
                "{} of {} replicas of {} ({}) find no place{}; free addresses, add a host to the pools, or lower the replicas",
                self.unplaced,
                self.replicas,
                self.app,
                self.env,
                if why.is_empty() { " (no hosts)".to_owned() } else { format!(": {}", why.join("; ")) }
            ),
        )
    }
}

/// The revision to work from (`None`: the latest) and its effective spec for `env`.
pub fn revision(store: &Store, name: &str, env: &str, revision: Option<i64>) -> Result<(RevisionRow, Effective)> {
    let row = store.app_revision(name, revision)?.ok_or_else(|| match revision {
        None => Error::invalid("app", format!("there is no app {name:?}; store it with `berth app apply FILE` (see `berth app ls`)")),
        Some(r) => Error::invalid("revision", format!("app {name} has no revision {r}; `berth app history {name}` lists them")),
    })?;
    let spec = AppSpec::parse(&row.spec)?;
    if spec.env.is_empty() && env != "default" {
        return Err(Error::invalid("environment", format!("app {name} has no [env.*] sections, so its one environment is \"default\"; leave out --env")));
    }
    if !spec.env.is_empty() && !spec.env.contains_key(env) {
        let known: Vec<&str> = spec.env.keys().map(String::as_str).collect();
        return Err(Error::invalid("environment", format!("app {name} has no environment {env:?}; its environments are {}", known.join(", "))));
    }
    let effective = spec.for_env(env)?;
    Ok((row, effective))
}

/// The fleet as the mirror has it, for placing `effective`'s replicas: capacity from `/info`
/// minus what running containers reserve, the pools each host sits on, and up to `want` free
/// addresses per allowed pool.
pub fn fleet_view(store: &Store, effective: &Effective, placed: &BTreeMap<String, u32>, want: usize) -> Result<FleetView> {
    let pools = store.pools()?;
    let mut on: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for pool in &pools {
        for host in &pool.spec.hosts {
            on.entry(host.host.clone()).or_default().insert(pool.spec.name.clone());
        }
    }
    let capacity: BTreeMap<String, (Option<String>, i64, i64)> =
        store.host_capacity()?.into_iter().map(|(h, info, cpus, memory)| (h, (info, cpus, memory))).collect();
    let mut hosts = Vec::new();
    for summary in store.host_summaries()? {
        let (info, nano, memory) = capacity.get(&summary.name).cloned().unwrap_or_default();
        let info: serde_json::Value = info.and_then(|i| serde_json::from_str(&i).ok()).unwrap_or_default();
        hosts.push(HostView {
            online: summary.status == Reachability::Online,
            labels: summary.labels.clone(),
            cpus: info["NCPU"].as_f64().unwrap_or(0.0),
            memory: info["MemTotal"].as_u64().unwrap_or(0),
            reserved_cpus: nano as f64 / 1e9,
            reserved_memory: memory.max(0) as u64,
            pools: on.get(&summary.name).cloned().unwrap_or_default(),
            replicas: placed.get(&summary.name).copied().unwrap_or(0),
            name: summary.name,
        });
    }
    let mut free = BTreeMap::new();
    for pool in &effective.pools {
        free.insert(pool.clone(), if want == 0 { Vec::new() } else { store.free_addresses(pool, want)? });
    }
    Ok(FleetView { hosts, free })
}

/// What a rollout of an environment works towards: the revision, its effective spec, the
/// replica count, and what the environment was meant to run before.
#[derive(Debug, Clone)]
pub struct Target {
    pub row: RevisionRow,
    pub effective: Effective,
    pub replicas: u32,
    pub deployment: Option<DeploymentRow>,
}

/// The one choice of revision and replica count, shared by `plan`, `deploy`, `scale` and
/// `rollback` (so that a plan shown is the plan a deploy runs):
/// - deploy: `revision` or the latest; the count the environment was scaled to while it stays
///   on the same revision, else the file's;
/// - scale: the revision deployed (the latest when never deployed) at `replicas`;
/// - rollback: `revision` or the one before the deployed one that still has containers (else
///   the revision before it), at the deployed count.
pub fn target(store: &Store, name: &str, env: &str, action: &str, revision_wanted: Option<i64>, replicas: Option<u32>) -> Result<Target> {
    if let Some(n) = replicas {
        if n > MAX_REPLICAS {
            return Err(Error::invalid("replicas", format!("{n} is more than the {MAX_REPLICAS} one app may have")));
        }
    }
    let deployment = store.deployments()?.into_iter().find(|d| d.app == name && d.env == env);
    let wanted = match (action, revision_wanted) {
        ("rollback", None) => {
            let now = deployment.as_ref().map(|d| d.revision).ok_or_else(|| Error::invalid("rollback", format!("{name} ({env}) was never deployed")))?;
            let before: BTreeSet<i64> = containers(store, name, env)?.iter().map(|s| s.revision).filter(|r| *r < now).collect();
            match before.last() {
                Some(r) => Some(*r),
                None if now > 1 => Some(now - 1),
                None => return Err(Error::invalid("rollback", format!("{name} ({env}) has no revision before {now} to go back to"))),
            }
        }
        ("scale", None) => deployment.as_ref().map(|d| d.revision),
        (_, r) => r,
    };
    let (row, effective) = revision(store, name, env, wanted)?;
    let replicas = replicas.unwrap_or_else(|| match &deployment {
        Some(d) if d.revision == row.revision || action == "rollback" => d.replicas,
        _ => effective.replicas,
    });
    Ok(Target { row, effective, replicas, deployment })
}

/// Plan a deploy of `env` of app `name` at `revision` (`None`: the latest), with the replica
/// count a deploy would use: the replicas that exist keep their host and address; the missing
/// ones are placed; those beyond the count are to go.
pub fn plan(store: &Store, name: &str, env: &str, revision_wanted: Option<i64>) -> Result<AppPlan> {
    let t = target(store, name, env, "deploy", revision_wanted, None)?;
    plan_for(store, &t.row, &t.effective, t.replicas)
}

/// Every lease held by a container of `env` of app `name`, by replica (whatever its revision,
/// and whether or not the container still exists).
pub fn replica_leases(store: &Store, name: &str, env: &str) -> Result<Vec<(u32, AddressRow)>> {
    Ok(store
        .addresses(None)?
        .into_iter()
        .filter(|a| a.state == AddressState::Leased)
        .filter_map(|a| a.container.as_deref().and_then(|c| super::replica_of(name, env, c)).map(|r| (r, a)))
        .collect())
}

/// [`plan`] for a given revision row and replica count (a scale).
pub fn plan_for(store: &Store, row: &RevisionRow, effective: &Effective, replicas: u32) -> Result<AppPlan> {
    let all = containers(store, &row.app, &effective.env)?;
    let mut placements = Vec::new();
    let mut missing = Vec::new();
    let mut placed: BTreeMap<String, u32> = BTreeMap::new();
    for index in 0..replicas {
        match current(&all, index, Some(row.revision)) {
            Some(s) if s.pool.is_some() && s.ip.is_some() => {
                *placed.entry(s.host.clone()).or_default() += 1;
                placements.push(PlannedReplica {
                    replica: index,
                    host: s.host.clone(),
                    pool: s.pool.clone().unwrap_or_default(),
                    ip: s.ip.clone().unwrap_or_default(),
                    existing: true,
                });
            }
            _ => missing.push(index),
        }
    }
    // A missing replica whose address is still leased to one of its containers (removed by
    // hand, or a repair that failed) gets that address back, on that host, if it still can.
    if !missing.is_empty() {
        let leases = replica_leases(store, &row.app, &effective.env)?;
        let online: BTreeSet<String> = store.host_summaries()?.into_iter().filter(|h| h.status == Reachability::Online).map(|h| h.name).collect();
        let pools = store.pools()?;
        let on_pool = |host: &str, pool: &str| pools.iter().any(|p| p.spec.name == pool && p.spec.hosts.iter().any(|h| h.host == host));
        missing.retain(|index| {
            let usable = leases.iter().find(|(r, a)| {
                *r == *index
                    && effective.pools.contains(&a.pool)
                    && a.host.as_deref().is_some_and(|h| online.contains(h) && on_pool(h, &a.pool))
                    && effective.max_per_host.is_none_or(|m| placed.get(a.host.as_deref().unwrap_or_default()).copied().unwrap_or(0) < m)
            });
            let Some((_, address)) = usable else { return true };
            let host = address.host.clone().unwrap_or_default();
            *placed.entry(host.clone()).or_default() += 1;
            placements.push(PlannedReplica { replica: *index, host, pool: address.pool.clone(), ip: address.ip.clone(), existing: false });
            false
        });
    }
    let remove: BTreeSet<u32> = all.iter().map(|s| s.replica).filter(|r| *r >= replicas).collect();
    // At least one free address per pool, so that the hosts not used say why truly.
    let fleet = fleet_view(store, effective, &placed, missing.len().max(1))?;
    let request = Request {
        replicas: missing.len() as u32,
        cpus: effective.cpus,
        memory: effective.memory,
        pools: effective.pools.clone(),
        constraints: effective.constraints.clone(),
        strategy: effective.strategy,
        max_per_host: effective.max_per_host,
    };
    let placed_now = placement::place(&request, &fleet)?;
    for p in placed_now.placements {
        placements.push(PlannedReplica { replica: missing[p.replica as usize], host: p.host, pool: p.pool, ip: p.ip, existing: false });
    }
    placements.sort_by_key(|p| p.replica);
    let rejected = placed_now
        .rejected
        .into_iter()
        .filter(|r| !placements.iter().any(|p| p.host == r.host))
        .map(|r| RejectedHost { host: r.host, reasons: r.reasons.iter().map(ToString::to_string).collect(), details: r.reasons })
        .collect();
    Ok(AppPlan {
        app: row.app.clone(),
        env: effective.env.clone(),
        revision: row.revision,
        replicas,
        placements,
        rejected,
        unplaced: placed_now.unplaced,
        remove: remove.into_iter().collect(),
    })
}
