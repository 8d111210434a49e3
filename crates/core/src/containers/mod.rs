//! The one path for every change to a container, used by the CLI and the app alike: the verbs
//! (start, stop, restart, kill, pause, unpause), creation from a [`ContainerSpec`], and removal,
//! which always releases the container's leased addresses into quarantine.
//!
//! Each change is recorded in the audit log before it goes out and completed after the answer
//! ([`crate::audit::Recorder`]), is sent exactly once (the daemon's answer, whatever it is, is
//! final), and is written back: what it touched is re-inspected and stored before the call
//! returns, so `berth ps` right after `berth run` shows it, follower or not, and the app's views
//! patch at once. The follower's later events for it then change nothing.

use std::str::FromStr;
use std::sync::Arc;

use serde::Deserialize;

use crate::audit::{self, AuditObject, Op, Recorder};
use crate::connect::Engine;
use crate::error::{Error, Result};
use crate::fleet::Fleet;
use crate::model::{Change, ContainerFacts, ContainerSpec, Host};
use crate::store::ipam::AddressRow;
use crate::store::{ContainerFilter, Store};
use crate::sync::MirrorUpdate;

/// Seconds a stop or restart from the app gives the container before Docker kills it.
pub const STOP_GRACE_SECONDS: i32 = 10;
/// The longest grace time a stop or restart may ask for (an hour).
pub const MAX_GRACE_SECONDS: i32 = 3600;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "lowercase")]
pub enum ContainerAction {
    Start,
    Stop,
    Restart,
    Kill,
    Pause,
    Unpause,
    /// Remove, stopping it first if it runs (the front end confirms).
    Remove,
}

impl ContainerAction {
    pub const ALL: [ContainerAction; 7] = [
        ContainerAction::Start,
        ContainerAction::Stop,
        ContainerAction::Restart,
        ContainerAction::Kill,
        ContainerAction::Pause,
        ContainerAction::Unpause,
        ContainerAction::Remove,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ContainerAction::Start => "start",
            ContainerAction::Stop => "stop",
            ContainerAction::Restart => "restart",
            ContainerAction::Kill => "kill",
            ContainerAction::Pause => "pause",
            ContainerAction::Unpause => "unpause",
            ContainerAction::Remove => "remove",
        }
    }
}

impl FromStr for ContainerAction {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        ContainerAction::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| Error::invalid("action", format!("{s:?}; use start, stop, restart, kill, pause, unpause or remove")))
    }
}

/// How a verb is sent: `stop -t`, `kill -s`.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ActOptions {
    /// Seconds stop/restart wait after SIGTERM before killing (Docker's default: 10).
    #[serde(default)]
    pub grace_s: Option<i32>,
    /// The signal kill sends (Docker's default: SIGKILL).
    #[serde(default)]
    pub signal: Option<String>,
}

impl ActOptions {
    fn validate(&self) -> Result<()> {
        if self.grace_s.is_some_and(|t| !(0..=MAX_GRACE_SECONDS).contains(&t)) {
            return Err(Error::invalid("timeout", "give the seconds to wait, 0 or more"));
        }
        if let Some(signal) = &self.signal {
            let name = signal.trim().trim_start_matches("SIG");
            let ok =
                !name.is_empty() && (name.bytes().all(|b| b.is_ascii_digit()) || name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-'));
            if !ok {
                return Err(Error::invalid("signal", format!("{signal:?}; give a name like SIGTERM, TERM or HUP, or a number")));
            }
        }
        Ok(())
    }
}

/// A container found in the mirror: its host and ids.
#[derive(Debug, Clone)]
pub struct Found {
    pub host: Host,
    pub id: String,
    pub name: String,
}

/// Find a container as `berth inspect` does (id, id prefix, name or `HOST/NAME`).
pub fn find(store: &Store, query: &str) -> Result<Found> {
    let (host, id, inspect) = store.container_inspect(query)?;
    let name = serde_json::from_str::<serde_json::Value>(&inspect)
        .ok()
        .and_then(|v| v["Name"].as_str().map(|n| n.trim_start_matches('/').to_owned()))
        .unwrap_or_else(|| id.clone());
    Ok(Found { host: store.host(&host)?, id, name })
}

async fn blocking<T: Send + 'static>(fleet: &Fleet, f: impl FnOnce(&Store) -> Result<T> + Send + 'static) -> Result<T> {
    crate::sync::blocking(fleet.store(), f).await
}

/// The mirror's row of one container, for the audit log's "before".
async fn mirrored(fleet: &Fleet, host: &Host, id: &str) -> Result<Option<serde_json::Value>> {
    let filter = ContainerFilter { all: true, host: Some(host.name().to_owned()), ids: vec![id.to_owned()], ..Default::default() };
    let rows = blocking(fleet, move |s| s.containers(&filter)).await?;
    Ok(rows.first().map(audit::row_summary))
}

/// Apply `action` to container `id` (a full id or a name) on `host`, as `op`. The daemon's
/// refusal comes back as [`Error::Docker`] with its words; nothing is sent twice.
pub async fn act(fleet: &Fleet, op: &Op, host: &str, id: &str, action: ContainerAction, options: &ActOptions) -> Result<()> {
    options.validate()?;
    let found = {
        let (host, id) = (host.to_owned(), id.to_owned());
        blocking(fleet, move |s| {
            let host = s.host(&host)?;
            let query = format!("{}/{id}", host.name());
            Ok(match find(s, &query) {
                Ok(found) => found,
                // Not mirrored (yet): the daemon decides.
                Err(Error::ContainerNotFound { .. }) => Found { name: id.clone(), id, host },
                Err(e) => return Err(e),
            })
        })
        .await?
    };
    if action == ContainerAction::Remove {
        return remove(fleet, op, &found, true).await.map(drop);
    }
    let engine = fleet.engine_for(&found.host).await?;
    let recorder = Recorder::new(Arc::clone(fleet.store()));
    let mut row = op.row(Some(found.host.name()), "container", object(&found), action.as_str());
    row.before = mirrored(fleet, &found.host, &found.id).await?;
    // A stop waits out its grace time before Docker answers: the claim lasts that long more.
    let grace_ms = i64::from(options.grace_s.unwrap_or(0).max(0)) * 1000;
    let pending = recorder.request_for(row, grace_ms).await?;
    let result = send(&engine, &found.id, action, options).await;
    let after = write_back(fleet, &found.host, &engine, std::slice::from_ref(&found.id)).await;
    recorder.complete(pending, &result, after.first().cloned().flatten(), None).await;
    result
}

fn object(found: &Found) -> AuditObject {
    AuditObject { id: Some(found.id.clone()), name: Some(found.name.clone()) }
}

async fn send(engine: &Engine, id: &str, action: ContainerAction, options: &ActOptions) -> Result<()> {
    match action {
        ContainerAction::Start => engine.start_container(id).await,
        // Docker answers these two once the grace time is over; `connect` waits that long.
        ContainerAction::Stop => engine.stop_container(id, options.grace_s).await,
        ContainerAction::Restart => engine.restart_container(id, options.grace_s).await,
        ContainerAction::Kill => engine.kill_container(id, options.signal.as_deref()).await,
        ContainerAction::Pause => engine.pause_container(id).await,
        ContainerAction::Unpause => engine.unpause_container(id).await,
        ContainerAction::Remove => engine.remove_container(id, true).await.map(drop),
    }
}

/// Re-inspect the containers a change touched and write them to the mirror (deleting the ones
/// that are gone; never over a newer row a follower wrote meanwhile), then tell the app's views.
/// Returns each one's summary for the audit log (`None`: gone). A failure here is logged, not
/// returned: the change itself was made, and the follower (or the next sync) will write it.
pub async fn write_back(fleet: &Fleet, host: &Host, engine: &Engine, ids: &[String]) -> Vec<Option<serde_json::Value>> {
    // A follower may store newer events of these containers while we re-inspect: marks taken
    // first let the write skip those (its row is newer than ours).
    let marks = {
        let (host_id, wanted) = (host.id, ids.to_vec());
        match blocking(fleet, move |s| s.event_marks(host_id, &wanted)).await {
            Ok(marks) => marks,
            Err(error) => {
                tracing::warn!(%error, host = host.name(), "could not read event marks; the follower will write this change");
                return vec![None; ids.len()];
            }
        }
    };
    let found = match engine.containers(ids.to_vec()).await {
        Ok(found) => found,
        Err(error) => {
            tracing::warn!(%error, host = host.name(), "could not re-inspect what a change touched; the follower will");
            return vec![None; ids.len()];
        }
    };
    let summaries: Vec<Option<serde_json::Value>> = found.iter().map(|(_, facts)| facts.as_ref().map(audit::facts_summary)).collect();
    let changes: Vec<Change> = found
        .into_iter()
        .map(|(id, facts): (String, Option<ContainerFacts>)| match facts {
            Some(facts) => Change::UpsertContainer(facts),
            None => Change::RemoveContainer(id),
        })
        .collect();
    let host_id = host.id;
    match blocking(fleet, move |s| s.write_back(host_id, &changes, &marks)).await {
        Ok(written) if written.is_empty() => {}
        Ok(written) => fleet.publish(MirrorUpdate::Written { host_id, host: host.name().to_owned(), containers: written }),
        Err(error) => tracing::warn!(%error, host = host.name(), "could not write a change back to the mirror"),
    }
    summaries
}

/// Create the container `spec` describes on `host` (not started), recorded and written back;
/// its id.
pub async fn create(fleet: &Fleet, op: &Op, host: &Host, spec: &ContainerSpec) -> Result<String> {
    validate_spec(spec)?;
    let engine = fleet.engine_for(host).await?;
    let recorder = Recorder::new(Arc::clone(fleet.store()));
    let row = op.row(Some(host.name()), "container", AuditObject { id: None, name: Some(spec.name.clone()) }, "create");
    let pending = recorder.request(row).await?;
    let result = engine.create_container(spec).await;
    let after = match &result {
        Ok(id) => write_back(fleet, host, &engine, std::slice::from_ref(id)).await.pop().flatten(),
        Err(_) => None,
    };
    let object = result.as_ref().ok().map(|id| AuditObject { id: Some(id.clone()), name: Some(spec.name.clone()) });
    recorder.complete(pending, &result, after, object).await;
    result
}

/// What [`remove`] did.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Removed {
    pub host: String,
    pub id: String,
    pub name: String,
    /// Its leases, now in quarantine.
    pub released: Vec<AddressRow>,
}

/// Remove a container (`force`: even while it runs) and put its leases into quarantine; a
/// container already gone still has its leases released. Recorded and written back.
pub async fn remove(fleet: &Fleet, op: &Op, found: &Found, force: bool) -> Result<Removed> {
    remove_with(fleet, op, found, force, true).await
}

/// [`remove`], releasing the container's leases only when `release` (an undo that forgets a
/// lease never used keeps them for itself).
pub(crate) async fn remove_with(fleet: &Fleet, op: &Op, found: &Found, force: bool, release: bool) -> Result<Removed> {
    let engine = fleet.engine_for(&found.host).await?;
    let recorder = Recorder::new(Arc::clone(fleet.store()));
    let mut row = op.row(Some(found.host.name()), "container", object(found), "remove");
    row.before = mirrored(fleet, &found.host, &found.id).await?;
    let pending = recorder.request(row).await?;
    let result = engine.remove_container(&found.id, force).await;
    let _ = write_back(fleet, &found.host, &engine, std::slice::from_ref(&found.id)).await;
    recorder.complete(pending, &result, None, None).await;
    result?;
    let released = if release {
        let (host, names) = (found.host.name().to_owned(), [found.name.clone(), found.id.clone()]);
        let row = op.row(Some(&host), "lease", AuditObject::default(), "release");
        blocking(fleet, move |s| {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            s.audited(&row).release_container(&host, &names)
        })
        .await?
    } else {
        Vec::new()
    };
    Ok(Removed { host: found.host.name().to_owned(), id: found.id.clone(), name: found.name.clone(), released })
}

/// What can be checked without the host.
pub fn validate_spec(spec: &ContainerSpec) -> Result<()> {
    validate_name(&spec.name)?;
    if spec.image.trim().is_empty() {
        return Err(Error::invalid("image", "give an image to run, e.g. shop/web:1.4"));
    }
    if let Some(bad) = spec.env.iter().find(|e| !e.contains('=') || e.starts_with('=')) {
        return Err(Error::invalid("environment variable", format!("{bad:?}; write KEY=VALUE")));
    }
    if let Some(mac) = &spec.mac_address {
        let parts: Vec<&str> = mac.split(':').collect();
        if parts.len() != 6 || !parts.iter().all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit())) {
            return Err(Error::invalid("MAC address", format!("{mac:?}; write six hex pairs, e.g. 02:42:0a:00:00:05")));
        }
    }
    if let Some(bad) = spec.mounts.iter().find(|m| !m.target.starts_with('/')) {
        return Err(Error::invalid("mount", format!("target {:?} must be an absolute path in the container", bad.target)));
    }
    Ok(())
}

/// Docker's rule for container names.
pub fn validate_name(name: &str) -> Result<()> {
    let ok = name.len() >= 2
        && name.len() <= 128
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid("container name", format!("{name:?} must be 2-128 letters, digits, '_', '.' or '-', starting with a letter or digit")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_and_specs_refuse_nonsense() {
        for (options, ok) in [
            (ActOptions { grace_s: Some(5), signal: Some("SIGHUP".into()) }, true),
            (ActOptions { grace_s: None, signal: Some("9".into()) }, true),
            (ActOptions { grace_s: Some(-5), signal: None }, false),
            (ActOptions { grace_s: None, signal: Some("SIG TERM".into()) }, false),
            (ActOptions { grace_s: None, signal: Some("".into()) }, false),
        ] {
            assert_eq!(options.validate().is_ok(), ok, "{options:?}");
        }
        let good = ContainerSpec { name: "web1".into(), image: "busybox".into(), ..Default::default() };
        assert!(validate_spec(&good).is_ok());
        for bad in [
            ContainerSpec { name: "-x".into(), ..good.clone() },
            ContainerSpec { image: " ".into(), ..good.clone() },
            ContainerSpec { env: vec!["NOEQUALS".into()], ..good.clone() },
            ContainerSpec { mac_address: Some("02:42".into()), ..good.clone() },
        ] {
            assert!(validate_spec(&bad).is_err(), "{bad:?}");
        }
        assert_eq!("kill".parse::<ContainerAction>().unwrap(), ContainerAction::Kill);
        assert!("explode".parse::<ContainerAction>().unwrap_err().to_string().contains("start, stop"));
    }
}
