use berth_core::containers::{self, ActOptions, ContainerAction};
use berth_core::model::ContainerRow;
use berth_core::store::ContainerFilter;
use serde::Serialize;
use tauri::State;

use super::blocking;
use crate::error::IpcError;
use crate::AppState;

/// Every container of every host, in every state, from the mirror (works offline).
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err(Debug))]
pub async fn containers(state: State<'_, AppState>) -> Result<Vec<ContainerRow>, IpcError> {
    let rows = blocking(&state, |store| store.containers(&ContainerFilter { all: true, ..Default::default() })).await?;
    let ms = state.started.elapsed().as_secs_f64() * 1000.0;
    tracing::debug!(target: "berth::startup", ms = format!("{ms:.0}"), rows = rows.len(), "containers() read");
    Ok(rows)
}

/// A container's inspect document as its daemon last reported it.
#[derive(Debug, Serialize, specta::Type)]
pub struct ContainerDetail {
    pub host: String,
    pub id: String,
    /// The daemon's JSON text, verbatim.
    pub inspect: String,
}

#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err(Debug))]
pub async fn container_detail(state: State<'_, AppState>, host: String, id: String) -> Result<ContainerDetail, IpcError> {
    let (host, id, inspect) = blocking(&state, move |store| store.container_inspect(&format!("{host}/{id}"))).await?;
    Ok(ContainerDetail { host, id, inspect })
}

/// Ask the container's host to start/stop/…: recorded in the audit log, sent once, and the
/// container's row patched in the UI as soon as the host answers. A refusal carries Docker's words.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err(Debug))]
pub async fn container_action(state: State<'_, AppState>, host: String, id: String, action: ContainerAction) -> Result<(), IpcError> {
    Ok(containers::act(&state.fleet, &state.op(), &host, &id, action, &ActOptions { grace_s: Some(containers::STOP_GRACE_SECONDS), signal: None }).await?)
}
