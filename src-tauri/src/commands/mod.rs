//! IPC commands, one module per domain. Each is glue: managed state in, one core call, error out.
//! They are registered in the single `collect_commands!` list in `bindings.rs`.

pub mod app;
pub mod apps;
pub mod audit;
pub mod containers;
pub mod events;
pub mod hosts;
pub mod images;
pub mod ipam;
pub mod shell;

use crate::error::IpcError;
use crate::AppState;

/// Run a store call off the async threads (SQLite calls block).
pub async fn blocking<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&berth_core::store::Store) -> berth_core::Result<T> + Send + 'static,
) -> Result<T, IpcError> {
    let store = std::sync::Arc::clone(state.supervisor.store());
    off_thread(move || f(&store)).await
}

/// Run a blocking core call (one that reads the store) off the async threads.
pub async fn off_thread<T: Send + 'static>(f: impl FnOnce() -> berth_core::Result<T> + Send + 'static) -> Result<T, IpcError> {
    tauri::async_runtime::spawn_blocking(f).await.map_err(|e| IpcError::internal(format!("a store task failed: {e}")))?.map_err(IpcError::from)
}
