//! Apps (issue 13, in progress): a base image, an app package and per-environment config, placed
//! on hosts by resources and free addresses. So far: the app file ([`spec`]); placement is the
//! pure [`crate::placement`]. Revisions, plans and rollouts come next.

pub mod spec;

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

/// `berth app apply FILE`: read and check the app file (its package and files beside it, its
/// pools in the store), then store it as a new revision, unless it is the latest one already.
/// Nothing is stored when anything is wrong.
pub fn apply(store: &Store, op: &Op, path: &Path) -> Result<Applied> {
    let (spec, _base) = spec::AppSpec::load(path)?;
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
    let digest = format!("sha256:{}", Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect::<String>());
    let row = op.row(None, "app", crate::audit::AuditObject::default(), "apply");
    let source = path.canonicalize().ok().map(|p| p.display().to_string());
    store.audited(&row).apply_app(&spec.name, &text, &digest, source.as_deref(), &op.actor)
}

/// One row of `berth app ls`: an app's environment with its replicas desired, running and healthy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct AppRow {
    pub name: String,
    pub env: String,
    pub revision: i64,
    pub desired: u32,
    pub running: u32,
    pub healthy: u32,
}

/// Every app and environment, from the store and the mirror (works offline).
pub fn list(store: &Store) -> Result<Vec<AppRow>> {
    let mut out = Vec::new();
    for revision in store.latest_app_revisions()? {
        let spec = spec::AppSpec::parse(&revision.spec)?;
        let mut environments: Vec<String> = spec.env.keys().cloned().collect();
        if environments.is_empty() {
            environments.push("default".into());
        }
        for env in environments {
            let desired = spec.for_env(&env)?.replicas;
            let filter = ContainerFilter {
                all: true,
                labels: vec![(LABEL_APP.to_owned(), Some(spec.name.clone())), (LABEL_ENV.to_owned(), Some(env.clone()))],
                ..Default::default()
            };
            let containers = store.containers(&filter)?;
            let running = containers.iter().filter(|c| c.state == "running").count() as u32;
            let healthy = containers.iter().filter(|c| c.state == "running" && c.health.as_deref().is_none_or(|h| h == "healthy")).count() as u32;
            out.push(AppRow { name: spec.name.clone(), env, revision: revision.revision, desired, running, healthy });
        }
    }
    Ok(out)
}
