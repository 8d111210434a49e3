use berth_core::fleet::{self, TestResult};
use berth_core::model::{Host, HostSpec, HostSummary};
use tauri::{AppHandle, State};

use super::blocking;
use crate::error::IpcError;
use crate::{events, AppState};

/// Every host with its live status, latency, counts by state and mirror age.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err(Debug))]
pub async fn fleet(state: State<'_, AppState>) -> Result<Vec<HostSummary>, IpcError> {
    state.startup_step("fleet() asked");
    let supervisor = std::sync::Arc::clone(&state.supervisor);
    let hosts = super::off_thread(move || supervisor.summaries()).await?;
    state.startup_step("fleet() read");
    Ok(hosts)
}

/// Add a host and start following it.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state, app), err(Debug))]
pub async fn add_host(state: State<'_, AppState>, app: AppHandle, spec: HostSpec) -> Result<HostSummary, IpcError> {
    let op = state.op();
    let host = blocking(&state, move |store| fleet::add_host_spec(store, &op, &spec)).await?;
    follow(&state, &app, host)
}

/// Replace a host's settings (it may be renamed) and restart its follower.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state, app), err(Debug))]
pub async fn edit_host(state: State<'_, AppState>, app: AppHandle, name: String, spec: HostSpec) -> Result<HostSummary, IpcError> {
    let op = state.op();
    let host = blocking(&state, move |store| fleet::edit_host(store, &op, &name, &spec)).await?;
    follow(&state, &app, host)
}

/// (Re)start a host's follower and tell the UI the fleet changed.
fn follow(state: &AppState, app: &AppHandle, host: Host) -> Result<HostSummary, IpcError> {
    let id = host.id;
    state.supervisor.follow(host);
    events::fleet_changed(app, &state.supervisor);
    Ok(state.supervisor.summary(id)?)
}

/// Remove a host, its mirror and its secrets.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state, app), err(Debug))]
pub async fn remove_host(state: State<'_, AppState>, app: AppHandle, name: String) -> Result<(), IpcError> {
    let op = state.op();
    let host = blocking(&state, move |store| fleet::remove_host(store, &op, &name)).await?;
    state.supervisor.unfollow(host.id);
    events::fleet_changed(&app, &state.supervisor);
    Ok(())
}

/// Try settings without saving them (SSH: stops at an untrusted host key, returning it).
#[tauri::command]
#[specta::specta]
#[tracing::instrument(err(Debug))]
pub async fn test_connection(spec: HostSpec) -> Result<TestResult, IpcError> {
    Ok(fleet::test_connection(&spec).await?)
}

/// Record the SSH host key the user confirmed, if the server still shows that fingerprint.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(err(Debug))]
pub async fn trust_host_key(spec: HostSpec, fingerprint: String) -> Result<(), IpcError> {
    Ok(fleet::trust_host_key(&spec, &fingerprint).await?)
}
