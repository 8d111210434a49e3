use berth_core::HostSummary;
use tauri::State;

use crate::error::IpcError;
use crate::AppState;

/// Every host in the store with its last known status and mirror size.
#[tauri::command]
#[tracing::instrument(skip(state), err(Debug))]
pub async fn list_hosts(state: State<'_, AppState>) -> Result<Vec<HostSummary>, IpcError> {
    Ok(berth_core::fleet::list_hosts(&state.store)?)
}
