// No console window next to the app on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod bindings;
mod commands;
mod error;
mod events;

use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use berth_core::audit::{Op, Via};
use berth_core::fleet::Fleet;
use berth_core::store::Store;
use berth_core::sync::Supervisor;
use tauri::Manager;
use tracing_subscriber::EnvFilter;

/// State shared by every command.
pub struct AppState {
    /// The store, one connection per host (shared by the followers, actions, shells and logs)
    /// and the mirror's updates.
    pub fleet: Arc<Fleet>,
    pub supervisor: Arc<Supervisor>,
    /// Web shell sessions; they outlive the page's views.
    pub shells: berth_core::shell::Shells,
    /// Followed container logs.
    pub logs: Arc<berth_core::shell::LogStreams>,
    /// When the process started, for the start-up figure logged by `ui_painted`.
    pub started: Instant,
    pub painted: AtomicBool,
}

impl AppState {
    /// One click: an op of its own in the audit log.
    pub fn op(&self) -> Op {
        Op::new(Via::App, None)
    }

    /// A step of start-up, until the first paint: `RUST_LOG=berth::startup=debug` shows them.
    pub fn startup_step(&self, step: &str) {
        if !self.painted.load(std::sync::atomic::Ordering::Relaxed) {
            startup_step(self.started, step);
        }
    }
}

fn startup_step(started: Instant, step: &str) {
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    tracing::debug!(target: "berth::startup", ms = format!("{ms:.0}"), "{step}");
}

fn main() -> ExitCode {
    let started = Instant::now();
    init_tracing();
    match run(started) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("berth-app: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(started: Instant) -> anyhow::Result<()> {
    let db_path = berth_core::paths::db_path_from_env().context("finding the database path")?;
    let store = Store::open(&db_path).with_context(|| format!("opening the Berth database at {}", db_path.display()))?;
    let store = Arc::new(store);
    tracing::info!(db = %db_path.display(), "opened the store");
    startup_step(started, "store opened");
    // The supervisor's tasks run on Tauri's Tokio runtime.
    let fleet = Fleet::new(Arc::clone(&store));
    let supervisor = tauri::async_runtime::block_on(async { Supervisor::new(Arc::clone(&fleet)) });
    let bindings = bindings::builder();

    tauri::Builder::default()
        .manage(AppState {
            fleet: Arc::clone(&fleet),
            supervisor: Arc::clone(&supervisor),
            shells: berth_core::shell::Shells::new(),
            logs: Arc::new(berth_core::shell::LogStreams::new()),
            started,
            painted: AtomicBool::new(false),
        })
        .invoke_handler(bindings.invoke_handler())
        .on_page_load(|webview, payload| {
            let step = match payload.event() {
                tauri::webview::PageLoadEvent::Started => "page load started",
                tauri::webview::PageLoadEvent::Finished => "page load finished",
            };
            webview.state::<AppState>().startup_step(step);
        })
        .setup(move |app| {
            startup_step(started, "window set up");
            bindings.mount_events(app);
            let handle = app.handle().clone();
            events::forward(handle.clone(), Arc::clone(&supervisor));
            events::forward_transfers(handle.clone(), Arc::clone(fleet.transfers()));
            tauri::async_runtime::spawn(async move {
                adopt_local_engine(&supervisor).await;
                if let Err(error) = supervisor.follow_all() {
                    tracing::warn!(code = error.code(), %error, "cannot list hosts to follow");
                }
                events::fleet_changed(&handle, &supervisor);
            });
            Ok(())
        })
        .on_window_event(|window, event| {
            if let tauri::WindowEvent::Destroyed = event {
                window.state::<AppState>().supervisor.stop_all();
            }
        })
        .run(tauri::generate_context!())
        .context("running the desktop app")
}

/// On a first start (empty store) add the local engine as host "local" if it answers.
/// Failure only costs the user that shortcut, so it is logged and the app carries on.
async fn adopt_local_engine(supervisor: &Supervisor) {
    match berth_core::fleet::adopt_local_engine(supervisor.fleet(), &Op::new(Via::App, None)).await {
        Ok(Some(host)) => tracing::info!(host = %host.name, url = %host.url, "adopted the local engine"),
        Ok(None) => tracing::info!("local engine not adopted: the store already has hosts or no local engine answered"),
        Err(error) => tracing::warn!(code = error.code(), %error, "could not adopt the local engine"),
    }
}

/// Logs go to stderr, coloured only on a terminal; `RUST_LOG` filters them (default `info`).
fn init_tracing() {
    use std::io::IsTerminal as _;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(std::io::stderr().is_terminal()).init();
}
