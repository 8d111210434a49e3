// No console window next to the app on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod commands;
mod error;

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use berth_core::store::Store;
use tracing_subscriber::EnvFilter;

/// State shared by every command.
pub struct AppState {
    pub store: Arc<Store>,
}

fn main() -> ExitCode {
    init_tracing();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("berth-app: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let db_path = berth_core::paths::db_path_from_env().context("finding the database path")?;
    let store =
        Store::open(&db_path).with_context(|| format!("opening the Berth database at {}", db_path.display()))?;
    let store = Arc::new(store);
    tracing::info!(db = %db_path.display(), "opened the store");

    tauri::Builder::default()
        .manage(AppState { store: Arc::clone(&store) })
        .setup(move |_app| {
            tauri::async_runtime::spawn(async move {
                adopt_local_engine(Arc::clone(&store)).await;
                follow_hosts(store).await;
            });
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![commands::hosts::list_hosts])
        .run(tauri::generate_context!())
        .context("running the desktop app")
}

/// On a first start (empty store) add the local engine as host "local" if it answers.
/// Failure only costs the user that shortcut, so it is logged and the app carries on.
async fn adopt_local_engine(store: Arc<Store>) {
    match berth_core::fleet::adopt_local_engine(&store).await {
        Ok(Some(host)) => tracing::info!(host = %host.name, url = %host.url, "adopted the local engine"),
        Ok(None) => tracing::info!("local engine not adopted: the store already has hosts or no local engine answered"),
        Err(error) => tracing::warn!(code = error.code(), %error, "could not adopt the local engine"),
    }
}

/// Keep every host's mirror true while the app runs: one task per host, as `berth sync` does.
async fn follow_hosts(store: Arc<Store>) {
    let hosts = match store.hosts() {
        Ok(hosts) => hosts,
        Err(error) => return tracing::warn!(code = error.code(), %error, "cannot list hosts to follow"),
    };
    // The sender lives as long as this task, i.e. as long as the app: followers stop with it.
    let (_stop, shutdown) = tokio::sync::watch::channel(false);
    let (updates, _) = tokio::sync::broadcast::channel(1024);
    berth_core::sync::follow_all(store, hosts, shutdown, updates).await;
}

/// Logs go to stderr; `RUST_LOG` filters them (default `info`).
fn init_tracing() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}
