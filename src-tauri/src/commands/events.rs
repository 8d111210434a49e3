use berth_core::model::EventRow;
use berth_core::store::EventQuery;
use tauri::State;

use super::blocking;
use crate::error::IpcError;
use crate::AppState;

/// Most events one call returns.
const EVENTS_MAX: u32 = 10_000;

/// The newest `limit` stored events of one host (or of the fleet), oldest first.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err(Debug))]
pub async fn events(state: State<'_, AppState>, host: Option<String>, limit: u32) -> Result<Vec<EventRow>, IpcError> {
    let query = EventQuery { host, since_ns: None, limit: i64::from(limit.min(EVENTS_MAX)) };
    blocking(&state, move |store| store.events(&query)).await
}
