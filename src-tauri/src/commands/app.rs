use std::sync::atomic::Ordering;

use tauri::State;

use crate::error::IpcError;
use crate::AppState;

/// The UI painted the fleet for the first time: log how long that took from process start (the
/// start-up benchmark reads this line).
#[tauri::command]
#[specta::specta]
pub async fn ui_painted(state: State<'_, AppState>) -> Result<(), IpcError> {
    if !state.painted.swap(true, Ordering::Relaxed) {
        let ms = state.started.elapsed().as_secs_f64() * 1000.0;
        tracing::info!(target: "berth::startup", ms = format!("{ms:.0}"), "painted the fleet");
    }
    Ok(())
}
