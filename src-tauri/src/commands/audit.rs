//! The audit log for the Activity view: every change, newest first, from the store (offline too).

use berth_core::audit::{AuditQuery, AuditRow};
use tauri::State;

use super::blocking;
use crate::error::IpcError;
use crate::AppState;

#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err(Debug))]
pub async fn audit(state: State<'_, AppState>, query: AuditQuery) -> Result<Vec<AuditRow>, IpcError> {
    blocking(&state, move |store| store.audit(&query)).await
}
