use berth_core::actions::ContainerAction;
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

/// Ask the container's host to start/stop/…; the outcome reaches the UI through the event stream.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err(Debug))]
pub async fn container_action(
    state: State<'_, AppState>,
    host: String,
    id: String,
    action: ContainerAction,
) -> Result<(), IpcError> {
    Ok(state.actions.container(&host, &id, action).await?)
}
