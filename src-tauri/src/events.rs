//! Mirror updates to scoped UI events. The UI patches its state from these; it never reloads a
//! list because something changed.
//!
//! | event                    | payload             | when |
//! |--------------------------|---------------------|------|
//! | `host://{id}/containers` | [`ContainersPatch`] | a snapshot (`replace`), an event batch or a change Berth wrote back (the touched rows) |
//! | `host://{id}/status`     | `HostSummary`       | connecting, online (every ping, with its round trip), offline, or counts changed |
//! | `host://{id}/events`     | `EventRow[]`        | the events of a batch, oldest first |
//! | `host://{id}/objects`    | [`ObjectsChanged`]  | a snapshot, an event batch, or a change Berth made to images, networks or volumes: views of those reload the host |
//! | `fleet://hosts`          | `HostSummary[]`     | a host was added, edited or removed |
//! | `transfers://update`     | `Transfer`          | a pull, push or build progressed or ended (at most every 150 ms each) |
//! | `apps://progress`        | [`RolloutProgress`] | a step of one replica of a deploy, scale or rollback started, ended or failed |

use std::sync::Arc;

use berth_core::model::ContainerRow;
use berth_core::store::{ContainerFilter, EventQuery};
use berth_core::sync::{MirrorUpdate, Supervisor};
use serde::Serialize;
use tauri::{AppHandle, Emitter};
use tokio::sync::broadcast::error::RecvError;

/// Events of one batch sent to the UI at most (a burst beyond is in the store and the timeline's
/// next load).
const EVENTS_PER_BATCH: i64 = 2048;

/// Rows of one host to put into the UI's table.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct ContainersPatch {
    pub host_id: i64,
    /// `upsert` is the host's whole list: drop every row of it the UI holds first.
    pub replace: bool,
    pub upsert: Vec<ContainerRow>,
    /// Ids of containers that no longer exist.
    pub remove: Vec<String>,
}

/// The images, networks or volumes of one host may have changed.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct ObjectsChanged {
    pub host_id: i64,
    pub host: String,
}

/// One step of a rollout, for the Apps view's live progress per replica.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct RolloutProgress {
    pub app: String,
    pub env: String,
    pub progress: berth_core::apps::rollout::Progress,
}

pub fn rollout_progress(app: &AppHandle, progress: RolloutProgress) {
    if let Err(error) = app.emit("apps://progress", progress) {
        tracing::debug!(%error, "no page for a rollout's progress");
    }
}

/// Forward every transfer's progress to the UI.
pub fn forward_transfers(app: AppHandle, transfers: Arc<berth_core::images::Transfers>) {
    let mut updates = transfers.subscribe();
    tauri::async_runtime::spawn(async move {
        loop {
            match updates.recv().await {
                Ok(transfer) => {
                    if let Err(error) = app.emit("transfers://update", transfer) {
                        tracing::warn!(%error, "could not send a transfer update to the UI");
                    }
                }
                // Missed some: the next update of each transfer carries its whole state.
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return,
            }
        }
    });
}

/// Forward every mirror update as UI events until the supervisor goes away.
pub fn forward(app: AppHandle, supervisor: Arc<Supervisor>) {
    let mut updates = supervisor.subscribe();
    tauri::async_runtime::spawn(async move {
        loop {
            let update = match updates.recv().await {
                Ok(update) => Some(update),
                // Missed updates: the UI's rows can't be patched, so give it every host anew.
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "UI event forwarder lagged; resending every host");
                    None
                }
                Err(RecvError::Closed) => return,
            };
            let (app, supervisor) = (app.clone(), Arc::clone(&supervisor));
            let sent = tauri::async_runtime::spawn_blocking(move || match update {
                Some(update) => emit(&app, &supervisor, update),
                None => resend_all(&app, &supervisor),
            })
            .await;
            match sent {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::warn!(code = error.code(), %error, "could not forward a mirror update"),
                Err(error) => tracing::warn!(%error, "forwarding task failed"),
            }
        }
    });
}

fn emit(app: &AppHandle, supervisor: &Supervisor, update: MirrorUpdate) -> berth_core::Result<()> {
    let store = supervisor.store();
    let host_id = update.host_id();
    match update {
        MirrorUpdate::Snapshot { host, .. } => {
            send(app, host_id, "objects", ObjectsChanged { host_id, host: host.clone() });
            let rows = store.containers(&ContainerFilter { all: true, host: Some(host), ..Default::default() })?;
            send(app, host_id, "containers", ContainersPatch { host_id, replace: true, upsert: rows, remove: Vec::new() });
        }
        MirrorUpdate::Events { host, containers, oldest_event_ns, .. } => {
            send(app, host_id, "objects", ObjectsChanged { host_id, host: host.clone() });
            patch(app, store, host_id, &host, containers)?;
            let query = EventQuery { host: Some(host), since_ns: Some(oldest_event_ns), limit: EVENTS_PER_BATCH };
            send(app, host_id, "events", store.events(&query)?);
        }
        MirrorUpdate::Written { host, containers, .. } => patch(app, store, host_id, &host, containers)?,
        MirrorUpdate::Objects { host, .. } => send(app, host_id, "objects", ObjectsChanged { host_id, host }),
        MirrorUpdate::Status { .. } => {}
    }
    // Every update may change the host's status, counts or sync time.
    send(app, host_id, "status", supervisor.summary(host_id)?);
    Ok(())
}

/// The rows of `containers` as the mirror now has them; those it no longer has are removed.
fn patch(app: &AppHandle, store: &berth_core::store::Store, host_id: i64, host: &str, containers: Vec<String>) -> berth_core::Result<()> {
    if containers.is_empty() {
        return Ok(());
    }
    let filter = ContainerFilter { all: true, host: Some(host.to_owned()), ids: containers.clone(), ..Default::default() };
    let rows = store.containers(&filter)?;
    let remove = containers.into_iter().filter(|id| !rows.iter().any(|row| &row.id == id)).collect();
    send(app, host_id, "containers", ContainersPatch { host_id, replace: false, upsert: rows, remove });
    Ok(())
}

fn resend_all(app: &AppHandle, supervisor: &Supervisor) -> berth_core::Result<()> {
    for host in supervisor.summaries()? {
        let filter = ContainerFilter { all: true, host: Some(host.name.clone()), ..Default::default() };
        let rows = supervisor.store().containers(&filter)?;
        send(app, host.id, "containers", ContainersPatch { host_id: host.id, replace: true, upsert: rows, remove: Vec::new() });
        send(app, host.id, "status", host);
    }
    Ok(())
}

/// The whole fleet, after a host was added, edited or removed.
pub fn fleet_changed(app: &AppHandle, supervisor: &Supervisor) {
    match supervisor.summaries() {
        Ok(hosts) => {
            if let Err(error) = app.emit("fleet://hosts", hosts) {
                tracing::warn!(%error, "could not send the fleet to the UI");
            }
        }
        Err(error) => tracing::warn!(code = error.code(), %error, "could not list the fleet"),
    }
}

fn send<T: Serialize + Clone>(app: &AppHandle, host_id: i64, topic: &str, payload: T) {
    if let Err(error) = app.emit(&format!("host://{host_id}/{topic}"), payload) {
        tracing::warn!(%error, topic, "could not send an event to the UI");
    }
}
