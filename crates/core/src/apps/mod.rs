//! Apps: a base image, an app package and per-environment config, placed on hosts by resources
//! and free addresses. The app file ([`spec`]) is stored as revisions ([`apply`]); [`plan`]
//! says where each replica goes (desired against the mirror, placed by the pure
//! [`crate::placement`]); [`rollout`] deploys, updates, scales, rolls back and removes;
//! [`status`] shows drift, compose projects, history and the rebuild from the hosts' labels;
//! [`bundle`] packs what goes into each container.

pub mod bundle;
pub mod plan;
pub mod rollout;
pub mod spec;
pub mod status;

use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::audit::Op;
use crate::error::{Error, Result};
use crate::store::apps::Applied;
use crate::store::{ContainerFilter, Store};

/// Labels every app container carries.
pub const LABEL_APP: &str = "berth.app";
pub const LABEL_ENV: &str = "berth.env";
pub const LABEL_REPLICA: &str = "berth.replica";
pub const LABEL_REVISION: &str = "berth.revision";
/// The replica's MAC address, kept across revisions.
pub const LABEL_MAC: &str = "berth.mac";
/// The app file of the revision, as applied: what a rebuild of the store reads back.
pub const LABEL_SPEC: &str = "berth.app.spec";
/// The revision's digest (the file and what it packs), for a rebuild to find kept bundles.
pub const LABEL_DIGEST: &str = "berth.app.digest";

/// The start of every container name of a replica, whatever its revision: `{app}-{env}-{replica}-r`.
pub fn replica_prefix(app: &str, env: &str, replica: u32) -> String {
    format!("{app}-{env}-{replica}-r")
}

/// The replica a container name of `env` of `app` stands for (`{app}-{env}-{replica}-r{revision}`).
pub fn replica_of(app: &str, env: &str, name: &str) -> Option<u32> {
    let rest = name.strip_prefix(app)?.strip_prefix('-')?.strip_prefix(env)?.strip_prefix('-')?;
    let (replica, revision) = rest.split_once("-r")?;
    revision.parse::<i64>().ok()?;
    replica.parse().ok()
}

/// `berth app apply FILE`: read and check the app file (its package and files beside it, its
/// pools in the store), then store it as a new revision, unless it is the latest one already.
/// Nothing is stored when anything is wrong.
pub fn apply(store: &Store, op: &Op, path: &Path) -> Result<Applied> {
    let (spec, base) = spec::AppSpec::load(path)?;
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io { context: format!("reading {}", path.display()), source })?;
    let known: Vec<String> = store.pools()?.into_iter().map(|p| p.spec.name).collect();
    let mut environments: Vec<String> = spec.env.keys().cloned().collect();
    if environments.is_empty() {
        environments.push("default".into());
    }
    for env in &environments {
        let effective = spec.for_env(env)?;
        if let Some(missing) = effective.pools.iter().find(|p| !known.contains(p)) {
            let key = if spec.env.get(env).is_some_and(|o| o.pools.is_some()) { format!("env.{env}.pools") } else { "placement.pools".to_owned() };
            return Err(Error::InvalidInput {
                what: "app file",
                reason: format!(
                    "{key}: there is no IP pool {missing:?}; add it first (the pools are {})",
                    if known.is_empty() { "none yet".to_owned() } else { known.join(", ") }
                ),
            });
        }
    }
    // A revision is the file and what it packs: the package and files of each environment,
    // built now and kept, so that a later deploy or rollback sends what was applied.
    let mut hasher = Sha256::new();
    hasher.update(text.as_bytes());
    let mut bundles = Vec::new();
    for env in &environments {
        let effective = spec.for_env(env)?;
        if effective.package.is_some() || !effective.files.is_empty() {
            let tar = bundle::bundle(&base, effective.package.as_ref(), &effective.files)?;
            hasher.update(env.as_bytes());
            hasher.update(Sha256::digest(&tar));
            bundles.push((env.clone(), tar));
        }
    }
    let digest = format!("sha256:{}", hasher.finalize().iter().map(|b| format!("{b:02x}")).collect::<String>());
    for (env, tar) in &bundles {
        let kept = bundle::kept_path(store.path(), &spec.name, &digest, env);
        if !kept.exists() {
            bundle::keep(&kept, tar)?;
        }
    }
    let row = op.row(None, "app", crate::audit::AuditObject::default(), "apply");
    let source = path.canonicalize().ok().map(|p| p.display().to_string());
    let applied = store.audited(&row).apply_app(&spec.name, &text, &digest, source.as_deref(), &op.actor)?;
    bundle::prune(store.path(), &spec.name, &kept_digests(store, &spec.name)?);
    Ok(applied)
}

/// The revisions whose bundles are kept: the last [`bundle::KEPT_REVISIONS`], every revision an
/// environment is meant to run, and every revision that still has containers (kept stopped for
/// a rollback).
fn kept_digests(store: &Store, name: &str) -> Result<Vec<String>> {
    let revisions = store.app_revisions(name)?;
    let filter = ContainerFilter { all: true, labels: vec![(LABEL_APP.to_owned(), Some(name.to_owned()))], ..Default::default() };
    let mut used: std::collections::BTreeSet<i64> =
        store.containers(&filter)?.iter().filter_map(|c| c.labels.get(LABEL_REVISION).and_then(|r| r.parse().ok())).collect();
    used.extend(store.deployments()?.into_iter().filter(|d| d.app == name).map(|d| d.revision));
    Ok(revisions.iter().enumerate().filter(|(i, r)| *i < bundle::KEPT_REVISIONS || used.contains(&r.revision)).map(|(_, r)| r.digest.clone()).collect())
}

/// One row of `berth app ls`: an app's environment with its replicas desired, running and
/// healthy; or a compose project (`kind: "compose"`, read-only, `env: "compose"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct AppRow {
    pub name: String,
    pub env: String,
    /// The latest revision applied.
    pub revision: i64,
    pub desired: u32,
    pub running: u32,
    pub healthy: u32,
    /// `app` (made by Berth) or `compose` (a compose project, shown read-only).
    pub kind: String,
    /// The revision the environment is meant to run; `None` until deployed.
    pub deployed: Option<i64>,
    /// A compose project's services.
    pub services: Vec<status::ComposeService>,
}

/// Every app and environment, from the store and the mirror (works offline), then the compose
/// projects.
pub fn list(store: &Store) -> Result<Vec<AppRow>> {
    let mut out = Vec::new();
    let deployments = store.deployments()?;
    for revision in store.latest_app_revisions()? {
        // A revision read back from a host's label may not parse: shown by the others, said in the log.
        let spec = match spec::AppSpec::parse(&revision.spec) {
            Ok(spec) => spec,
            Err(e) => {
                tracing::warn!(app = %revision.app, revision = revision.revision, %e, "an app revision that does not read");
                continue;
            }
        };
        let mut environments: Vec<String> = spec.env.keys().cloned().collect();
        if environments.is_empty() {
            environments.push("default".into());
        }
        for env in environments {
            let deployment = deployments.iter().find(|d| d.app == spec.name && d.env == env);
            let desired = deployment.map_or(spec.for_env(&env)?.replicas, |d| d.replicas);
            let filter = ContainerFilter {
                all: true,
                labels: vec![(LABEL_APP.to_owned(), Some(spec.name.clone())), (LABEL_ENV.to_owned(), Some(env.clone()))],
                ..Default::default()
            };
            let containers = store.containers(&filter)?;
            let running = containers.iter().filter(|c| c.state == "running").count() as u32;
            let healthy = containers.iter().filter(|c| c.state == "running" && c.health.as_deref().is_none_or(|h| h == "healthy")).count() as u32;
            out.push(AppRow {
                name: spec.name.clone(),
                env,
                revision: revision.revision,
                desired,
                running,
                healthy,
                kind: "app".into(),
                deployed: deployment.map(|d| d.revision),
                services: Vec::new(),
            });
        }
    }
    for project in status::compose(store)? {
        out.push(AppRow {
            name: project.name,
            env: "compose".into(),
            revision: 0,
            desired: project.containers,
            running: project.running,
            healthy: project.running,
            kind: "compose".into(),
            deployed: None,
            services: project.services,
        });
    }
    Ok(out)
}
