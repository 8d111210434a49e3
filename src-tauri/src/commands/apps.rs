//! Apps for the Apps view: the list (with compose projects), an environment's plan and status,
//! revisions and history, and rollouts. A rollout (deploy, scale, rollback) answers when it
//! ends; its live progress per replica goes out as `apps://progress` events meanwhile.

use std::sync::Arc;

use berth_core::apps::plan::{AppPlan, PlannedReplica};
use berth_core::apps::rollout::{self, DeployOptions, RolloutOutcome};
use berth_core::apps::status::{AppStatus, HistoryEntry};
use berth_core::apps::AppRow;
use berth_core::containers::Removed;
use berth_core::store::apps::RevisionRow;
use tauri::{AppHandle, State};

use super::blocking;
use crate::error::IpcError;
use crate::events::{self, RolloutProgress};
use crate::AppState;

#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err(Debug))]
pub async fn apps(state: State<'_, AppState>) -> Result<Vec<AppRow>, IpcError> {
    blocking(&state, berth_core::apps::list).await
}

/// Where each replica of `env` would go, and why every other host is not used (changes nothing).
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err(Debug))]
pub async fn app_plan(state: State<'_, AppState>, name: String, env: String) -> Result<AppPlan, IpcError> {
    blocking(&state, move |store| berth_core::apps::plan::plan(store, &name, &env, None)).await
}

#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err(Debug))]
pub async fn app_status(state: State<'_, AppState>, name: String, env: String) -> Result<AppStatus, IpcError> {
    blocking(&state, move |store| berth_core::apps::status::status(store, &name, &env)).await
}

/// Every revision, newest first (the app file as applied).
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err(Debug))]
pub async fn app_revisions(state: State<'_, AppState>, name: String) -> Result<Vec<RevisionRow>, IpcError> {
    blocking(&state, move |store| store.app_revisions(&name)).await
}

#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err(Debug))]
pub async fn app_history(state: State<'_, AppState>, name: String) -> Result<Vec<HistoryEntry>, IpcError> {
    blocking(&state, move |store| berth_core::apps::status::history(store, &name)).await
}

/// Deploy the plan the view showed (`expect`): refused with `plan_changed` when the plan is no
/// longer the same, so the view shows the new one.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state, app, expect), err(Debug))]
pub async fn app_deploy(
    state: State<'_, AppState>,
    app: AppHandle,
    name: String,
    env: String,
    expect: Option<Vec<PlannedReplica>>,
) -> Result<RolloutOutcome, IpcError> {
    run(&state, app, name, env, DeployOptions { action: "deploy", expect, ..Default::default() }).await
}

#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state, app), err(Debug))]
pub async fn app_scale(state: State<'_, AppState>, app: AppHandle, name: String, env: String, replicas: u32) -> Result<RolloutOutcome, IpcError> {
    run(&state, app, name, env, DeployOptions { action: "scale", replicas: Some(replicas), ..Default::default() }).await
}

/// Back to revision `to` (`None`: the previous one).
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state, app), err(Debug))]
pub async fn app_rollback(state: State<'_, AppState>, app: AppHandle, name: String, env: String, to: Option<i64>) -> Result<RolloutOutcome, IpcError> {
    run(&state, app, name, env, DeployOptions { action: "rollback", revision: to, ..Default::default() }).await
}

#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err(Debug))]
pub async fn app_remove(state: State<'_, AppState>, name: String, env: String) -> Result<Vec<Removed>, IpcError> {
    Ok(rollout::remove(&state.fleet, &state.op(), &name, &env).await?)
}

async fn run(state: &AppState, app: AppHandle, name: String, env: String, options: DeployOptions) -> Result<RolloutOutcome, IpcError> {
    let (fleet, op) = (Arc::clone(&state.fleet), state.op());
    let (app_name, env_name) = (name.clone(), env.clone());
    let say = move |progress| events::rollout_progress(&app, RolloutProgress { app: app_name.clone(), env: env_name.clone(), progress });
    Ok(rollout::deploy(&fleet, &op, &name, &env, &options, &say).await?)
}
