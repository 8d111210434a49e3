//! Rollouts: deploy (create, repair, update), scale, rollback and remove an environment of an
//! app, through the one container path (`containers::create`, `act`, `remove_with`) and the
//! store's audited lease changes, so every step is an audit row under the caller's op.
//!
//! One replica's container is named `{app}-{env}-{replica}-r{revision}`. Its lease names the
//! container that serves the replica now: stop-first hands the lease (the same address, and the
//! same MAC) from the old container to the new one; start-first leases a second address for the
//! overlap and releases the old one into quarantine once the rollout is done. The previous
//! revision's containers stay stopped (stop-first), so a rollback to it is a start.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::plan::{self, AppPlan, Seen};
use super::spec::Effective;
use super::{replica_prefix, LABEL_APP, LABEL_DIGEST, LABEL_ENV, LABEL_MAC, LABEL_REPLICA, LABEL_REVISION, LABEL_SPEC};
use crate::audit::{AuditObject, Op};
use crate::containers::{self, ActOptions, ContainerAction, Found};
use crate::error::{Error, Result};
use crate::fleet::Fleet;
use crate::ipam::{LABEL_IP, LABEL_POOL};
use crate::model::{ContainerSpec, HealthCheck, Host, NetworkAttachment, Resources, RestartPolicy};
use crate::store::ipam::LeaseRequest;
use crate::store::mirror::LABEL_SECRET_ENV;
use crate::sync::blocking;

/// A step of one replica's rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Lease,
    Create,
    Upload,
    Start,
    Health,
    Monitor,
    Stop,
    Remove,
    Rollback,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Lease => "lease",
            Step::Create => "create",
            Step::Upload => "upload",
            Step::Start => "start",
            Step::Health => "health",
            Step::Monitor => "monitor",
            Step::Stop => "stop",
            Step::Remove => "remove",
            Step::Rollback => "rollback",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    Started,
    Done,
    Failed,
}

/// Live progress of one replica, for the app's rollout view and the CLI's lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Progress {
    pub replica: u32,
    pub host: String,
    pub step: Step,
    pub state: StepState,
    pub detail: Option<String>,
}

/// Which replica failed, where and at which step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Failure {
    pub replica: u32,
    pub host: String,
    pub step: Step,
    pub reason: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "replica {} on {} failed at {}: {}", self.replica, self.host, self.step.as_str(), self.reason)
    }
}

/// What a deploy, scale or rollback did.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct RolloutOutcome {
    pub app: String,
    pub env: String,
    /// The revision rolled out.
    pub revision: i64,
    /// The revision the environment ran before (none for a first deploy).
    pub previous: Option<i64>,
    /// Every replica healthy on `revision`.
    pub ok: bool,
    /// The failure undone by going back to the previous revision.
    pub rolled_back: bool,
    /// What the undo of a failure could not put back (empty when it all went back).
    pub undo_problems: Vec<String>,
    pub failed: Option<Failure>,
    /// The plan that was run.
    pub plan: AppPlan,
    pub created: u32,
    pub updated: u32,
    pub repaired: u32,
    pub removed: u32,
    pub unchanged: u32,
}

/// What to roll out.
#[derive(Debug, Clone, Default)]
pub struct DeployOptions {
    /// The revision to run (`None`: the latest; `rollback` picks the previous one).
    pub revision: Option<i64>,
    /// The replica count (`None`: the file's, or the count the environment was scaled to).
    pub replicas: Option<u32>,
    /// The placements a front end showed: refused when the plan has changed since.
    pub expect: Option<Vec<plan::PlannedReplica>>,
    /// The audit action: deploy, rollback or scale.
    pub action: &'static str,
}

/// The container name of a replica at a revision.
pub fn container_name(app: &str, env: &str, replica: u32, revision: i64) -> String {
    format!("{app}-{env}-{replica}-r{revision}")
}

/// A locally administered unicast MAC for a replica, the same on every deploy of it
/// (`salt` > 0: a second one for a start-first overlap).
pub fn mac_for(app: &str, env: &str, replica: u32, salt: i64) -> String {
    let hash = Sha256::digest(format!("{app}\0{env}\0{replica}\0{salt}").as_bytes());
    format!("02:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", hash[0], hash[1], hash[2], hash[3], hash[4])
}

/// How long a replica may take to turn healthy before the step fails.
fn health_deadline(effective: &Effective) -> Duration {
    match &effective.health {
        Some((_, interval, retries, start_period)) => *start_period + *interval * (*retries + 2) + Duration::from_secs(15),
        None => Duration::from_secs(10),
    }
}

/// What one replica's work changed, so that it can be undone.
#[derive(Debug, Clone)]
struct Change {
    replica: u32,
    host: Host,
    /// A container this rollout created (`name`, `id`).
    created: Option<(String, String)>,
    /// A stopped container of the target revision this rollout started (a rollback).
    started: Option<Seen>,
    /// The old container it stopped (to start again on undo).
    stopped: Option<Seen>,
    /// The old container to remove once the rollout is done (start-first).
    retire: Option<Seen>,
    lease: LeaseChange,
    /// A replace of an older revision (counts as updated), not a repair or a new replica.
    update: bool,
    repair: bool,
}

#[derive(Debug, Clone)]
enum LeaseChange {
    None,
    /// Leased for this rollout (`pool`, `ip`, holder).
    New(String, IpAddr, String),
    /// Handed from another container of the replica (`pool`, `ip`, from).
    Moved(String, IpAddr, String),
}

/// What to do for one replica.
#[derive(Debug, Clone)]
enum Work {
    /// A new replica at a planned place.
    Create { replica: u32, host: String, pool: String, ip: IpAddr },
    /// A stopped container of the target revision: start it.
    Start(Seen),
    /// A container of the target revision that drifted (unhealthy, off its address): replace it.
    Recreate(Seen),
    /// A container of another revision: update it, starting `reuse` (a stopped container of
    /// the target revision) when there is one.
    Replace { old: Box<Seen>, reuse: Option<Box<Seen>> },
}

impl Work {
    fn replica(&self) -> u32 {
        match self {
            Work::Create { replica, .. } => *replica,
            Work::Start(s) | Work::Recreate(s) => s.replica,
            Work::Replace { old, .. } => old.replica,
        }
    }

    fn host(&self) -> &str {
        match self {
            Work::Create { host, .. } => host,
            Work::Start(s) | Work::Recreate(s) => &s.host,
            Work::Replace { old, .. } => &old.host,
        }
    }

    fn needs_bundle(&self) -> bool {
        matches!(self, Work::Create { .. } | Work::Recreate(_) | Work::Replace { reuse: None, .. })
    }
}

struct Rollout<'a> {
    fleet: &'a Fleet,
    op: &'a Op,
    revision: i64,
    effective: Effective,
    spec_text: String,
    digest: String,
    env: Vec<String>,
    secret_names: Vec<String>,
    networks: BTreeMap<String, String>,
    bundle: Option<bytes::Bytes>,
    hosts: BTreeMap<String, Host>,
    progress: &'a (dyn Fn(Progress) + Send + Sync),
}

type Failed = (Change, Failure);

impl Rollout<'_> {
    fn say(&self, replica: u32, host: &str, step: Step, state: StepState, detail: Option<String>) {
        (self.progress)(Progress { replica, host: host.to_owned(), step, state, detail });
    }

    fn spec(&self, replica: u32, pool: &str, ip: IpAddr, mac: &str) -> ContainerSpec {
        let e = &self.effective;
        let mut labels = BTreeMap::from([
            (LABEL_APP.to_owned(), e.name.clone()),
            (LABEL_ENV.to_owned(), e.env.clone()),
            (LABEL_REPLICA.to_owned(), replica.to_string()),
            (LABEL_REVISION.to_owned(), self.revision.to_string()),
            (LABEL_POOL.to_owned(), pool.to_owned()),
            (LABEL_IP.to_owned(), ip.to_string()),
            (LABEL_MAC.to_owned(), mac.to_owned()),
            (LABEL_SPEC.to_owned(), self.spec_text.clone()),
            (LABEL_DIGEST.to_owned(), self.digest.clone()),
        ]);
        if !self.secret_names.is_empty() {
            labels.insert(LABEL_SECRET_ENV.to_owned(), self.secret_names.join(","));
        }
        ContainerSpec {
            name: container_name(&e.name, &e.env, replica, self.revision),
            image: e.image.clone(),
            cmd: e.command.clone(),
            env: self.env.clone(),
            labels,
            restart: RestartPolicy::UnlessStopped,
            networks: vec![NetworkAttachment::fixed(self.networks.get(pool).map_or(pool, String::as_str), ip, vec![e.name.clone()])],
            mac_address: Some(mac.to_owned()),
            resources: Resources {
                memory_bytes: (e.memory > 0).then_some(e.memory as i64),
                nano_cpus: (e.cpus > 0.0).then_some((e.cpus * 1e9) as i64),
                pids_limit: None,
            },
            health: e.health.as_ref().map(|(cmd, interval, retries, start_period)| HealthCheck {
                cmd: cmd.clone(),
                interval_ms: interval.as_millis() as u64,
                retries: *retries,
                start_period_ms: start_period.as_millis() as u64,
            }),
            ..Default::default()
        }
    }

    /// Lease the next free address of `pool` to `container` (a start-first overlap: replicas
    /// updated side by side each get their own).
    async fn lease_next(&self, pool: &str, host: &str, container: &str) -> Result<IpAddr> {
        let (pool, request) = (pool.to_owned(), LeaseRequest { ip: None, host: Some(host.to_owned()), container: Some(container.to_owned()) });
        let row = self.op.row(Some(host), "lease", AuditObject::default(), "lease");
        let leased = blocking(self.fleet.store(), move |s| s.audited(&row).lease(&pool, &request)).await?;
        leased.ip.parse().map_err(|_| Error::invalid("lease", format!("the store handed out {:?}, which is not an address", leased.ip)))
    }

    /// Make `ip` of `pool` leased to `container`, taking it from any other container of the same
    /// replica, recording how to undo it.
    async fn claim_at(&self, replica: u32, pool: &str, ip: IpAddr, host: &str, container: &str) -> Result<LeaseChange> {
        let kin = replica_prefix(&self.effective.name, &self.effective.env, replica);
        let (p, host_name, to) = (pool.to_owned(), host.to_owned(), container.to_owned());
        let row = self.op.row(Some(host), "lease", AuditObject::default(), "claim");
        let (_, before) = blocking(self.fleet.store(), move |s| s.audited(&row).claim_lease(&p, ip, &host_name, &to, &kin)).await?;
        Ok(match before {
            Some(from) if from == container => LeaseChange::None,
            Some(from) => LeaseChange::Moved(pool.to_owned(), ip, from),
            None => LeaseChange::New(pool.to_owned(), ip, container.to_owned()),
        })
    }

    /// [`Self::claim_at`] the address `seen`'s labels name.
    async fn claim(&self, seen: &Seen, container: &str) -> Result<LeaseChange> {
        let Ok((pool, ip)) = address_of(seen) else { return Ok(LeaseChange::None) };
        self.claim_at(seen.replica, &pool, ip, &seen.host, container).await
    }

    async fn release(&self, pool: &str, ip: IpAddr, host: &str, holder: &str) -> Result<()> {
        let (pool, host_name, holder) = (pool.to_owned(), host.to_owned(), holder.to_owned());
        let row = self.op.row(Some(host), "lease", AuditObject::default(), "release");
        blocking(self.fleet.store(), move |s| s.audited(&row).release_held(&pool, ip, Some((&host_name, &holder)))).await.map(drop)
    }

    async fn act(&self, host: &str, id: &str, action: ContainerAction) -> Result<()> {
        containers::act(self.fleet, self.op, host, id, action, &ActOptions::default()).await
    }

    /// Wait until the container runs and, with a health check, is healthy.
    async fn wait_healthy(&self, host: &Host, id: &str) -> std::result::Result<(), String> {
        let engine = self.fleet.engine_for(host).await.map_err(|e| e.to_string())?;
        let deadline = tokio::time::Instant::now() + health_deadline(&self.effective);
        let checked = self.effective.health.is_some();
        let mut running_since: Option<tokio::time::Instant> = None;
        let result = loop {
            let inspect = match engine.inspect_container_json(id).await {
                Ok(Some(text)) => serde_json::from_str::<serde_json::Value>(&text).unwrap_or_default(),
                Ok(None) => break Err("the container is gone".to_owned()),
                Err(e) => break Err(e.to_string()),
            };
            let state = &inspect["State"];
            if state["Running"] != serde_json::Value::Bool(true) {
                break Err(format!("the container stopped (exit code {})", state["ExitCode"].as_i64().unwrap_or(-1)));
            }
            if checked {
                match state["Health"]["Status"].as_str() {
                    Some("healthy") => break Ok(()),
                    Some("unhealthy") => {
                        let last = state["Health"]["Log"].as_array().and_then(|l| l.last()).cloned().unwrap_or_default();
                        let output = last["Output"].as_str().unwrap_or_default().trim().chars().take(200).collect::<String>();
                        break Err(format!(
                            "health check failed (exit code {}){}",
                            last["ExitCode"].as_i64().unwrap_or(-1),
                            if output.is_empty() { String::new() } else { format!(": {output}") }
                        ));
                    }
                    _ => {}
                }
            } else {
                // No health check: running a second without stopping counts.
                let since = *running_since.get_or_insert_with(tokio::time::Instant::now);
                if since.elapsed() >= Duration::from_secs(1) {
                    break Ok(());
                }
            }
            if tokio::time::Instant::now() >= deadline {
                break Err(format!("not healthy after {} s", health_deadline(&self.effective).as_secs()));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        let _ = containers::write_back(self.fleet, host, &engine, &[id.to_owned()]).await;
        result
    }

    /// Create, fill and start one container of the target revision for `replica`.
    async fn bring_up(&self, change: &mut Change, pool: &str, ip: IpAddr, mac: &str) -> std::result::Result<(), Failure> {
        let id = self.prepare(change, pool, ip, mac).await?;
        self.launch(change, &id).await
    }

    /// Create and fill one container of the target revision for the replica (not started:
    /// its address is taken only when it starts, so the old container may still run).
    async fn prepare(&self, change: &mut Change, pool: &str, ip: IpAddr, mac: &str) -> std::result::Result<String, Failure> {
        let host = change.host.clone();
        let (replica, host_name) = (change.replica, host.name().to_owned());
        let fail = |step: Step, reason: String| Failure { replica, host: host_name.clone(), step, reason };
        let spec = self.spec(replica, pool, ip, mac);
        self.say(replica, &host_name, Step::Create, StepState::Started, Some(spec.name.clone()));
        let id = containers::create(self.fleet, self.op, &host, &spec).await.map_err(|e| fail(Step::Create, e.to_string()))?;
        change.created = Some((spec.name.clone(), id.clone()));
        if let Some(tar) = &self.bundle {
            self.say(replica, &host_name, Step::Upload, StepState::Started, Some(format!("{} bytes", tar.len())));
            let found = Found { host: host.clone(), id: id.clone(), name: spec.name.clone() };
            crate::images::cp::upload_bundle(self.fleet, self.op, &found, tar.clone()).await.map_err(|e| fail(Step::Upload, e.to_string()))?;
        }
        Ok(id)
    }

    /// Start a prepared container and wait until it is healthy.
    async fn launch(&self, change: &Change, id: &str) -> std::result::Result<(), Failure> {
        let (replica, host_name) = (change.replica, change.host.name().to_owned());
        let fail = |step: Step, reason: String| Failure { replica, host: host_name.clone(), step, reason };
        self.say(replica, &host_name, Step::Start, StepState::Started, None);
        self.act(&host_name, id, ContainerAction::Start).await.map_err(|e| fail(Step::Start, e.to_string()))?;
        self.say(replica, &host_name, Step::Health, StepState::Started, None);
        self.wait_healthy(&change.host, id).await.map_err(|reason| fail(Step::Health, reason))
    }

    /// One replica's work; on failure, what it had changed so far.
    async fn run(&self, work: &Work) -> std::result::Result<Change, Failed> {
        let replica = work.replica();
        let host = self.hosts[work.host()].clone();
        let host_name = host.name().to_owned();
        let mut change = Change::new(replica, host.clone());
        let fail = |step: Step, reason: String| Failure { replica, host: host_name.clone(), step, reason };
        let app = &self.effective.name;
        let name = container_name(app, &self.effective.env, replica, self.revision);
        let result = async {
            match work {
                Work::Create { pool, ip, .. } => {
                    self.say(replica, &host_name, Step::Lease, StepState::Started, Some(format!("{ip} of {pool}")));
                    change.lease = self
                        .claim_at(replica, pool, *ip, &host_name, &name)
                        .await
                        .map_err(|e| fail(Step::Lease, format!("{e}; the address was taken since the plan was made: deploy again to re-plan")))?;
                    let mac = mac_for(app, &self.effective.env, replica, 0);
                    self.bring_up(&mut change, pool, *ip, &mac).await
                }
                Work::Start(seen) => {
                    change.repair = true;
                    change.lease = self.claim(seen, &seen.container).await.map_err(|e| fail(Step::Lease, e.to_string()))?;
                    self.say(replica, &host_name, Step::Start, StepState::Started, Some(seen.container.clone()));
                    self.act(&host_name, &seen.id, ContainerAction::Start).await.map_err(|e| fail(Step::Start, e.to_string()))?;
                    change.started = Some(seen.clone());
                    self.say(replica, &host_name, Step::Health, StepState::Started, None);
                    self.wait_healthy(&host, &seen.id).await.map_err(|reason| fail(Step::Health, reason))
                }
                Work::Recreate(seen) => {
                    change.repair = true;
                    let (pool, ip) = address_of(seen).map_err(|e| fail(Step::Create, e))?;
                    self.say(replica, &host_name, Step::Remove, StepState::Started, Some(seen.container.clone()));
                    let found = Found { host: host.clone(), id: seen.id.clone(), name: seen.container.clone() };
                    // The lease stays with the name, which the new container takes again.
                    containers::remove_with(self.fleet, self.op, &found, true, false).await.map_err(|e| fail(Step::Remove, e.to_string()))?;
                    change.lease = self.claim(seen, &seen.container).await.map_err(|e| fail(Step::Lease, e.to_string()))?;
                    let mac = seen.mac.clone().unwrap_or_else(|| mac_for(app, &self.effective.env, replica, 0));
                    self.bring_up(&mut change, &pool, ip, &mac).await
                }
                Work::Replace { old, reuse } => {
                    change.update = true;
                    let (pool, old_ip) = address_of(old).map_err(|e| fail(Step::Create, e))?;
                    let start_first = self.effective.start_first && reuse.is_none();
                    if !start_first {
                        // The new container is made and filled while the old one still serves;
                        // the gap in service is the stop, the start and the first health check.
                        let mac = old.mac.clone().unwrap_or_else(|| mac_for(app, &self.effective.env, replica, 0));
                        let prepared = match reuse {
                            None => Some(self.prepare(&mut change, &pool, old_ip, &mac).await?),
                            Some(_) => None,
                        };
                        self.say(replica, &host_name, Step::Stop, StepState::Started, Some(old.container.clone()));
                        self.act(&host_name, &old.id, ContainerAction::Stop).await.map_err(|e| fail(Step::Stop, e.to_string()))?;
                        change.stopped = Some((**old).clone());
                        if let Some(reuse) = reuse {
                            change.lease = self.claim(reuse, &reuse.container).await.map_err(|e| fail(Step::Lease, e.to_string()))?;
                            self.say(replica, &host_name, Step::Start, StepState::Started, Some(reuse.container.clone()));
                            self.act(&host_name, &reuse.id, ContainerAction::Start).await.map_err(|e| fail(Step::Start, e.to_string()))?;
                            change.started = Some((**reuse).clone());
                            self.say(replica, &host_name, Step::Health, StepState::Started, None);
                            return self.wait_healthy(&host, &reuse.id).await.map_err(|reason| fail(Step::Health, reason));
                        }
                        change.lease = self.claim_at(replica, &pool, old_ip, &host_name, &name).await.map_err(|e| fail(Step::Lease, e.to_string()))?;
                        let id = prepared.expect("prepared above when nothing is reused");
                        self.launch(&change, &id).await
                    } else {
                        // A second address (and MAC) for the overlap; the old one goes into quarantine at the end.
                        self.say(replica, &host_name, Step::Lease, StepState::Started, Some(format!("a second address of {pool}")));
                        let ip = self.lease_next(&pool, &host_name, &name).await.map_err(|e| {
                            fail(
                                Step::Lease,
                                format!("{e}; a start-first update needs a free address per replica for the overlap, or use order = \"stop-first\""),
                            )
                        })?;
                        change.lease = LeaseChange::New(pool.clone(), ip, name.clone());
                        let mac = mac_for(app, &self.effective.env, replica, self.revision);
                        self.bring_up(&mut change, &pool, ip, &mac).await?;
                        change.retire = Some((**old).clone());
                        Ok(())
                    }
                }
            }
        }
        .await;
        match result {
            Ok(()) => {
                self.say(replica, &host_name, Step::Health, StepState::Done, None);
                Ok(change)
            }
            Err(failure) => {
                self.say(replica, &host_name, failure.step, StepState::Failed, Some(failure.reason.clone()));
                Err((change, failure))
            }
        }
    }

    /// Undo one replica's change: its new container removed, its lease back where it was, the
    /// old container started again.
    async fn undo(&self, change: &Change) -> Vec<String> {
        let host_name = change.host.name().to_owned();
        let mut problems = Vec::new();
        self.say(change.replica, &host_name, Step::Rollback, StepState::Started, None);
        if let Some((name, id)) = &change.created {
            let found = Found { host: change.host.clone(), id: id.clone(), name: name.clone() };
            if let Err(e) = containers::remove_with(self.fleet, self.op, &found, true, false).await {
                problems.push(format!("{host_name}/{name} made by this rollout could not be removed ({e}); remove it by hand"));
            }
        }
        if let Some(started) = &change.started {
            if let Err(e) = self.act(&host_name, &started.id, ContainerAction::Stop).await {
                problems.push(format!("{host_name}/{} could not be stopped again ({e})", started.container));
            }
        }
        let undone = match &change.lease {
            LeaseChange::None => Ok(()),
            LeaseChange::New(pool, ip, holder) => self.release(pool, *ip, &host_name, holder).await,
            LeaseChange::Moved(pool, ip, from) => self.claim_at(change.replica, pool, *ip, &host_name, from).await.map(drop),
        };
        if let Err(e) = undone {
            problems.push(format!("the lease of replica {} could not be put back ({e}); `berth ipam check` finds it", change.replica));
        }
        if let Some(old) = &change.stopped {
            match self.act(&host_name, &old.id, ContainerAction::Start).await {
                Ok(()) => {
                    if let Err(e) = self.wait_healthy(&change.host, &old.id).await {
                        problems.push(format!("{host_name}/{} was started again but is not healthy ({e})", old.container));
                    }
                }
                Err(e) => problems.push(format!("{host_name}/{} could not be started again ({e}); start it by hand", old.container)),
            }
        }
        for problem in &problems {
            tracing::warn!(replica = change.replica, host = %host_name, "{problem}");
        }
        let state = if problems.is_empty() { StepState::Done } else { StepState::Failed };
        self.say(change.replica, &host_name, Step::Rollback, state, (!problems.is_empty()).then(|| problems.join("; ")));
        problems
    }

    /// After the monitor period: every replica of the batch still runs healthy.
    async fn still_healthy(&self, changes: &[Change]) -> std::result::Result<(), Failure> {
        for change in changes {
            let id = match (&change.created, &change.started) {
                (Some((_, id)), _) => id.clone(),
                (None, Some(started)) => started.id.clone(),
                _ => continue,
            };
            if let Err(reason) = self.wait_healthy(&change.host, &id).await {
                return Err(Failure { replica: change.replica, host: change.host.name().to_owned(), step: Step::Monitor, reason });
            }
        }
        Ok(())
    }
}

impl Change {
    fn new(replica: u32, host: Host) -> Change {
        Change { replica, host, created: None, started: None, stopped: None, retire: None, lease: LeaseChange::None, update: false, repair: false }
    }
}

fn address_of(seen: &Seen) -> std::result::Result<(String, IpAddr), String> {
    match (&seen.pool, seen.ip.as_deref().and_then(|ip| ip.parse().ok())) {
        (Some(pool), Some(ip)) => Ok((pool.clone(), ip)),
        _ => Err(format!("{} has no berth.ipam.pool/berth.ipam.ip labels; remove it and deploy again", seen.container)),
    }
}

/// Resolve `keyring:NAME` values: the variables as `KEY=VALUE` and the names of those that
/// came from the keyring.
fn resolve_vars(vars: &BTreeMap<String, String>) -> Result<(Vec<String>, Vec<String>)> {
    let mut env = Vec::new();
    let mut secret = Vec::new();
    for (key, value) in vars {
        match value.strip_prefix("keyring:") {
            Some(name) => {
                env.push(format!("{key}={}", crate::credentials::app_secret(name.trim())?));
                secret.push(key.clone());
            }
            None => env.push(format!("{key}={value}")),
        }
    }
    Ok((env, secret))
}

/// One rollout (or removal) of an environment at a time, across processes (the app and the
/// CLI alike): a lock file beside the store, held while the rollout runs and let go by the OS
/// if the process dies.
struct RolloutLock {
    _file: std::fs::File,
}

fn lock(store_path: &std::path::Path, app: &str, env: &str) -> Result<RolloutLock> {
    let dir = store_path.parent().filter(|d| !d.as_os_str().is_empty()).map(std::path::Path::to_path_buf).unwrap_or_else(std::env::temp_dir).join("locks");
    let hash = Sha256::digest(format!("{app}\0{env}").as_bytes());
    let path = dir.join(format!("app-{}.lock", hash.iter().take(8).map(|b| format!("{b:02x}")).collect::<String>()));
    let io = |source| Error::Io { context: format!("locking {app} ({env}) at {}", path.display()), source };
    std::fs::create_dir_all(&dir).map_err(io)?;
    let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(io)?;
    match file.try_lock() {
        Ok(()) => Ok(RolloutLock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::invalid(
            "app",
            format!("a rollout of {app} ({env}) is running already (in the app or another berth); wait for it to end, then try again"),
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(io(e)),
    }
}

/// Roll `env` of app `name` out: create the missing replicas, repair drifted ones, update those
/// on another revision in batches gated on health, remove those beyond the count; on a failure,
/// undo (and with `failure_action = "rollback"`, go back to the previous revision everywhere).
/// `Ok` with `ok: false` when a replica failed; `Err` when nothing could start (no such app, no
/// place for a replica, a missing secret or package, a changed plan).
pub async fn deploy(
    fleet: &Fleet,
    op: &Op,
    name: &str,
    env: &str,
    options: &DeployOptions,
    progress: &(dyn Fn(Progress) + Send + Sync),
) -> Result<RolloutOutcome> {
    let store = Arc::clone(fleet.store());
    let _lock = lock(store.path(), name, env)?;
    let (app, env_name) = (name.to_owned(), env.to_owned());
    let plan::Target { row, effective, replicas, deployment } = blocking(&store, {
        let (app, env, action, revision, replicas) = (app.clone(), env_name.clone(), options.action, options.revision, options.replicas);
        move |s| plan::target(s, &app, &env, action, revision, replicas)
    })
    .await?;
    let all = blocking(&store, {
        let (app, env) = (app.clone(), env_name.clone());
        move |s| plan::containers(s, &app, &env)
    })
    .await?;
    let the_plan = blocking(&store, {
        let (row, effective) = (row.clone(), effective.clone());
        move |s| plan::plan_for(s, &row, &effective, replicas)
    })
    .await?;
    if let Some(expected) = &options.expect {
        if *expected != the_plan.placements {
            return Err(Error::PlanChanged { app: app.clone(), env: env_name.clone() });
        }
    }
    if the_plan.unplaced > 0 {
        return Err(the_plan.unplaced_error());
    }
    let previous = deployment.as_ref().map(|d| d.revision).filter(|r| *r != row.revision);

    // What each replica needs.
    let mut work = Vec::new();
    let mut unchanged = 0;
    for planned in &the_plan.placements {
        let index = planned.replica;
        match plan::current(&all, index, Some(row.revision)) {
            None => work.push(Work::Create {
                replica: index,
                host: planned.host.clone(),
                pool: planned.pool.clone(),
                ip: planned.ip.parse().map_err(|_| Error::invalid("plan", "a planned address is not an address"))?,
            }),
            Some(seen) if seen.revision == row.revision => {
                // Another revision's container serving the replica (a rollback to a kept one).
                let serving = all.iter().find(|s| s.replica == index && s.revision != row.revision && s.host == seen.host && s.running());
                if let (false, Some(old)) = (seen.running(), serving) {
                    work.push(Work::Replace { old: Box::new(old.clone()), reuse: Some(Box::new(seen.clone())) });
                } else if !seen.running() {
                    work.push(Work::Start(seen.clone()));
                } else if seen.health.as_deref() == Some("unhealthy") || (seen.actual_ip.is_some() && seen.actual_ip != seen.ip) {
                    work.push(Work::Recreate(seen.clone()));
                } else {
                    unchanged += 1;
                }
            }
            Some(seen) => {
                let reuse = all.iter().find(|s| s.replica == index && s.revision == row.revision && s.host == seen.host && !s.running()).cloned();
                work.push(Work::Replace { old: Box::new(seen.clone()), reuse: reuse.map(Box::new) });
            }
        }
    }

    // Everything that can fail before a host is touched: secrets, the package, the hosts.
    let (env_vars, secret_names) = {
        let vars = effective.vars.clone();
        tokio::task::spawn_blocking(move || resolve_vars(&vars)).await.expect("keyring task panicked")?
    };
    let bundle = if work.iter().any(Work::needs_bundle) && (effective.package.is_some() || !effective.files.is_empty()) {
        // The bundle kept when the revision was applied: what that revision had, even when the
        // package on disk changed since (never packed again from the folder).
        let kept = super::bundle::kept_path(store.path(), name, &row.digest, env);
        let (revision, app) = (row.revision, name.to_owned());
        let rebuilt = row.source.is_none();
        let tar = tokio::task::spawn_blocking(move || {
            std::fs::read(&kept).map_err(|e| {
                let why = if rebuilt { "it was rebuilt from the hosts' labels".to_owned() } else { format!("{} ({e})", kept.display()) };
                Error::invalid(
                    "app package",
                    format!(
                        "the package of revision {revision} of {app} is not kept here: {why}; apply the app file again to make a new revision and deploy that"
                    ),
                )
            })
        })
        .await
        .expect("bundle task panicked")?;
        Some(bytes::Bytes::from(tar))
    } else {
        None
    };
    let hosts: BTreeMap<String, Host> = blocking(&store, |s| s.hosts()).await?.into_iter().map(|h| (h.name().to_owned(), h)).collect();
    if let Some(missing) = work.iter().find(|w| !hosts.contains_key(w.host())) {
        return Err(Error::HostNotFound { name: missing.host().to_owned() });
    }
    let networks: BTreeMap<String, String> =
        blocking(&store, |s| s.pools()).await?.into_iter().map(|p| (p.spec.name.clone(), p.spec.network_name().to_owned())).collect();

    let mut app_row = op.row(None, "app", AuditObject { id: Some(row.revision.to_string()), name: Some(app.clone()) }, options.action);
    app_row.after = Some(serde_json::json!({ "env": env_name, "revision": row.revision, "replicas": replicas, "previous": previous }));

    let rollout = Rollout {
        fleet,
        op,
        revision: row.revision,
        spec_text: row.spec.clone(),
        digest: row.digest.clone(),
        env: env_vars,
        secret_names,
        networks,
        bundle,
        hosts,
        progress,
        effective: effective.clone(),
    };
    let mut outcome = RolloutOutcome {
        app: app.clone(),
        env: env_name.clone(),
        revision: row.revision,
        previous,
        ok: false,
        rolled_back: false,
        undo_problems: Vec::new(),
        failed: None,
        plan: the_plan.clone(),
        created: 0,
        updated: 0,
        repaired: 0,
        removed: 0,
        unchanged,
    };

    // New and repaired replicas all at once; updates in batches of `parallelism`, each
    // healthy for `monitor` before the next.
    let (updates, fresh): (Vec<Work>, Vec<Work>) = work.into_iter().partition(|w| matches!(w, Work::Replace { .. }));
    let mut groups: Vec<(Vec<Work>, bool)> = Vec::new();
    if !fresh.is_empty() {
        groups.push((fresh, false));
    }
    for batch in updates.chunks(effective.parallelism.max(1) as usize) {
        groups.push((batch.to_vec(), true));
    }
    let mut done: Vec<Change> = Vec::new();
    let mut failure: Option<Failure> = None;
    let mut undo_problems: Vec<String> = Vec::new();
    for (group, monitored) in groups {
        let results = futures_util::future::join_all(group.iter().map(|w| rollout.run(w))).await;
        let mut batch = Vec::new();
        let mut failed_changes = Vec::new();
        for result in results {
            match result {
                Ok(change) => batch.push(change),
                Err((change, f)) => {
                    failed_changes.push(change);
                    failure.get_or_insert(f);
                }
            }
        }
        if failure.is_none() && monitored && !effective.monitor.is_zero() {
            for change in &batch {
                rollout.say(change.replica, change.host.name(), Step::Monitor, StepState::Started, Some(format!("{} s", effective.monitor.as_secs_f64())));
            }
            tokio::time::sleep(effective.monitor).await;
            if let Err(f) = rollout.still_healthy(&batch).await {
                rollout.say(f.replica, &f.host, Step::Monitor, StepState::Failed, Some(f.reason.clone()));
                failure = Some(f);
            }
        }
        for change in failed_changes {
            undo_problems.extend(rollout.undo(&change).await);
        }
        done.extend(batch);
        if failure.is_some() {
            break;
        }
    }

    if let Some(f) = failure {
        // Undo: with rollback, every replica this rollout touched goes back; with pause, what
        // succeeded stays.
        if effective.rollback {
            for change in done.iter().rev() {
                undo_problems.extend(rollout.undo(change).await);
            }
            outcome.rolled_back = true;
        }
        outcome.failed = Some(f.clone());
        app_row.outcome = crate::store::audit::Outcome::Failed;
        let mut error = if outcome.rolled_back { format!("{f}; rolled back") } else { f.to_string() };
        if !undo_problems.is_empty() {
            error.push_str(&format!("; the undo left: {}", undo_problems.join("; ")));
        }
        app_row.error = Some(error);
        outcome.undo_problems = undo_problems;
        blocking(&store, move |s| s.audit_append(&[app_row])).await?;
        return Ok(outcome);
    }

    // Done: retire start-first's old containers (their leases into quarantine), remove the
    // replicas beyond the count and every container of a revision older than the previous one.
    let keep: BTreeSet<i64> = [Some(row.revision), previous].into_iter().flatten().collect();
    let serving: BTreeSet<String> =
        done.iter().filter_map(|c| c.created.as_ref().map(|(n, _)| n.clone()).or_else(|| c.started.as_ref().map(|s| s.container.clone()))).collect();
    let mut to_remove: Vec<Seen> = done.iter().filter_map(|c| c.retire.clone()).collect();
    for seen in &all {
        let beyond = seen.replica >= replicas;
        let stale = !keep.contains(&seen.revision);
        if (beyond || stale) && !serving.contains(&seen.container) && !to_remove.iter().any(|r| r.id == seen.id) {
            to_remove.push(seen.clone());
        }
    }
    let mut gone = BTreeSet::new();
    let mut still: BTreeSet<(String, String)> = all.iter().map(|s| (s.host.clone(), s.container.clone())).collect();
    for seen in &to_remove {
        let Some(host) = rollout.hosts.get(&seen.host) else { continue };
        rollout.say(seen.replica, &seen.host, Step::Remove, StepState::Started, Some(seen.container.clone()));
        let found = Found { host: host.clone(), id: seen.id.clone(), name: seen.container.clone() };
        match containers::remove(fleet, op, &found, true).await {
            Ok(_) => {
                still.remove(&(seen.host.clone(), seen.container.clone()));
                if seen.replica >= replicas {
                    gone.insert(seen.replica);
                }
                rollout.say(seen.replica, &seen.host, Step::Remove, StepState::Done, None);
            }
            Err(e) => rollout.say(seen.replica, &seen.host, Step::Remove, StepState::Failed, Some(e.to_string())),
        }
    }
    release_leftovers(fleet, op, &app, &env_name, replicas, &still).await;
    outcome.removed = gone.len() as u32;
    for change in &done {
        if change.update {
            outcome.updated += 1;
        } else if change.repair {
            outcome.repaired += 1;
        } else {
            outcome.created += 1;
        }
    }
    {
        let (app, env, revision) = (app.clone(), env_name.clone(), row.revision);
        blocking(&store, move |s| s.audited(&app_row).set_deployment(&app, &env, revision, replicas)).await?;
    }
    outcome.ok = true;
    Ok(outcome)
}

/// Leases still held in the name of replicas `from..` of the environment whose containers are
/// gone (removed by hand, or a repair that failed): into quarantine, so no address leaks.
async fn release_leftovers(fleet: &Fleet, op: &Op, app: &str, env: &str, from: u32, still: &BTreeSet<(String, String)>) {
    let (a, e) = (app.to_owned(), env.to_owned());
    let leases = match blocking(fleet.store(), move |s| plan::replica_leases(s, &a, &e)).await {
        Ok(leases) => leases,
        Err(e) => {
            tracing::warn!(%e, "could not read the leases of an app's replicas");
            return;
        }
    };
    for (_, address) in leases.into_iter().filter(|(r, _)| *r >= from) {
        let (Ok(ip), Some(host), Some(holder)) = (address.ip.parse::<IpAddr>(), address.host.clone(), address.container.clone()) else { continue };
        if still.contains(&(host.clone(), holder.clone())) {
            continue;
        }
        let row = op.row(Some(&host), "lease", AuditObject::default(), "release");
        let pool = address.pool.clone();
        if let Err(e) = blocking(fleet.store(), move |s| s.audited(&row).release_held(&pool, ip, Some((&host, &holder)))).await {
            tracing::warn!(%e, "could not release a leftover lease of an app's replica");
        }
    }
}

/// `berth app rm NAME --env E`: every container of the environment removed (their leases into
/// quarantine) and its deployment forgotten. The app's revisions stay.
pub async fn remove(fleet: &Fleet, op: &Op, name: &str, env: &str) -> Result<Vec<containers::Removed>> {
    let store = Arc::clone(fleet.store());
    let _lock = lock(store.path(), name, env)?;
    let all = blocking(&store, {
        let (app, env) = (name.to_owned(), env.to_owned());
        move |s| {
            if s.app_revision(&app, None)?.is_none() {
                return Err(Error::invalid("app", format!("there is no app {app:?} (see `berth app ls`)")));
            }
            plan::containers(s, &app, &env)
        }
    })
    .await?;
    let hosts: BTreeMap<String, Host> = blocking(&store, |s| s.hosts()).await?.into_iter().map(|h| (h.name().to_owned(), h)).collect();
    let mut removed = Vec::new();
    let mut first_error = None;
    for seen in all {
        let Some(host) = hosts.get(&seen.host) else { continue };
        let found = Found { host: host.clone(), id: seen.id.clone(), name: seen.container.clone() };
        match containers::remove(fleet, op, &found, true).await {
            Ok(r) => removed.push(r),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    release_leftovers(fleet, op, name, env, 0, &BTreeSet::new()).await;
    let (app, env) = (name.to_owned(), env.to_owned());
    let row = op.row(None, "app", AuditObject::default(), "rm");
    blocking(&store, move |s| s.audited(&row).remove_deployment(&app, &env)).await?;
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replica_keeps_one_mac_and_an_overlap_gets_another() {
        let mac = mac_for("shop-web", "prod", 3, 0);
        assert_eq!(mac, mac_for("shop-web", "prod", 3, 0));
        assert!(mac.starts_with("02:") && mac.len() == 17, "{mac}");
        assert_ne!(mac, mac_for("shop-web", "prod", 4, 0));
        assert_ne!(mac, mac_for("shop-web", "prod", 3, 2));
        assert_eq!(container_name("shop-web", "prod", 3, 2), "shop-web-prod-3-r2");
        assert_eq!(super::super::replica_of("shop-web", "prod", "shop-web-prod-3-r2"), Some(3));
        assert!(super::super::replica_prefix("shop-web", "prod", 3).starts_with("shop-web-prod-3-r"));
        for other in ["shop-web-prod-3", "shop-web-prod-x-r2", "shop-web-test-3-r2", "shop-web-prod-3-rx", "db"] {
            assert_eq!(super::super::replica_of("shop-web", "prod", other), None, "{other}");
        }
    }
}
