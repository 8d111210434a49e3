use std::sync::atomic::Ordering;

use serde::Deserialize;
use tauri::State;

use crate::error::IpcError;
use crate::AppState;

/// A step of the page's start-up, by its own clock.
#[derive(Debug, Deserialize, specta::Type)]
pub struct UiStep {
    pub name: String,
    /// Milliseconds since the page began to load (`performance.now()`).
    pub ms: f64,
}

/// The UI painted the fleet for the first time: log how long that took from process start (the
/// start-up benchmark reads this line), and the page's own steps at debug level.
#[tauri::command]
#[specta::specta]
pub async fn ui_painted(state: State<'_, AppState>, steps: Vec<UiStep>) -> Result<(), IpcError> {
    if !state.painted.swap(true, Ordering::Relaxed) {
        for step in steps.iter().take(32) {
            tracing::debug!(target: "berth::startup", page_ms = format!("{:.0}", step.ms), "page: {:.40}", step.name);
        }
        let ms = state.started.elapsed().as_secs_f64() * 1000.0;
        tracing::info!(target: "berth::startup", ms = format!("{ms:.0}"), "painted the fleet");
    }
    Ok(())
}
