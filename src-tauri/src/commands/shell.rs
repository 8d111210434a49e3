//! Shell sessions for the web shell: an exec with a TTY in any container, its output streamed to
//! the page over a per-session channel as raw bytes (coalesced by the core), keystrokes and
//! resizes back as commands. Container logs stream the same way, as batches of text.

use std::sync::Arc;

use berth_core::exec::{ExecSpec, LogSpec, SavedLog, TermSize};
use berth_core::shell::{Flow, LogEvent, LogSubscriber, ShellEvent, ShellInfo, Subscriber};
use serde::Deserialize;
use tauri::ipc::{Channel, InvokeResponseBody, JavaScriptChannelId};
use tauri::{State, Webview};

use crate::error::IpcError;
use crate::AppState;

/// Where a session's output goes: a `Channel` made in the page (passed as its `toJSON()` id).
/// Output arrives as `ArrayBuffer`s; the end as `{ ended: ExecEnd }` or `{ failed: string }`.
#[derive(Deserialize, specta::Type)]
pub struct ShellOpen {
    pub host: String,
    /// The container's id or name on that host.
    pub container: String,
    pub spec: ExecSpec,
    #[specta(type = String)]
    pub output: JavaScriptChannelId,
}

#[derive(Deserialize, specta::Type)]
pub struct ShellAttach {
    pub session: u32,
    #[specta(type = String)]
    pub output: JavaScriptChannelId,
}

fn subscriber(channel: Channel<InvokeResponseBody>) -> Subscriber {
    Arc::new(move |event| {
        let body = match event {
            ShellEvent::Output(bytes) => InvokeResponseBody::Raw(bytes.to_vec()),
            ShellEvent::Ended(end) => InvokeResponseBody::Json(serde_json::json!({ "ended": end }).to_string()),
            ShellEvent::Failed(message) => InvokeResponseBody::Json(serde_json::json!({ "failed": message }).to_string()),
        };
        if let Err(error) = channel.send(body) {
            tracing::debug!(%error, "a shell's page is gone");
        }
    })
}

/// Open a shell (default: bash if the image has it, else sh) and stream it to `request.output`.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip_all, fields(host = %request.host, container = %request.container), err(Debug))]
pub async fn shell_open(state: State<'_, AppState>, webview: Webview, request: ShellOpen) -> Result<u32, IpcError> {
    let output = subscriber(request.output.channel_on(webview));
    let engine = state.fleet.engine(&request.host).await?;
    Ok(state.shells.open(&engine, &request.container, request.spec, output, Flow::Acked).await?)
}

/// Send a session's output (its recent output first) to a new channel, e.g. after a reload.
#[tauri::command]
#[specta::specta]
pub async fn shell_attach(state: State<'_, AppState>, webview: Webview, request: ShellAttach) -> Result<(), IpcError> {
    Ok(state.shells.attach(request.session, subscriber(request.output.channel_on(webview)), Flow::Acked)?)
}

/// Keystrokes or pasted text.
#[tauri::command]
#[specta::specta]
pub async fn shell_input(state: State<'_, AppState>, session: u32, data: String) -> Result<(), IpcError> {
    Ok(state.shells.input(session, data.as_bytes()).await?)
}

/// The page has shown `bytes` more of a session's output (its terminal wrote them): the
/// session reads on while less than `ACK_WINDOW` is unacknowledged.
#[tauri::command]
#[specta::specta]
pub async fn shell_ack(state: State<'_, AppState>, session: u32, bytes: u32) -> Result<(), IpcError> {
    Ok(state.shells.ack(session, bytes as usize)?)
}

#[tauri::command]
#[specta::specta]
pub async fn shell_resize(state: State<'_, AppState>, session: u32, rows: u16, cols: u16) -> Result<(), IpcError> {
    Ok(state.shells.resize(session, TermSize::new(rows, cols)?).await?)
}

#[tauri::command]
#[specta::specta]
pub async fn shell_close(state: State<'_, AppState>, session: u32) -> Result<(), IpcError> {
    Ok(state.shells.close(session)?)
}

/// The open sessions (they outlive the page's views).
#[tauri::command]
#[specta::specta]
pub async fn shells(state: State<'_, AppState>) -> Result<Vec<ShellInfo>, IpcError> {
    Ok(state.shells.list())
}

/// Read a container's log (following it when `spec.follow`) into `output`, in batches.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state, spec, output), err(Debug))]
pub async fn logs_open(state: State<'_, AppState>, host: String, container: String, spec: LogSpec, output: Channel<LogEvent>) -> Result<u32, IpcError> {
    let engine = state.fleet.engine(&host).await?;
    let sink: LogSubscriber = Arc::new(move |event| {
        if let Err(error) = output.send(event) {
            tracing::debug!(%error, "a log's page is gone");
        }
    });
    Ok(state.logs.open(&engine, &container, &spec, sink))
}

#[tauri::command]
#[specta::specta]
pub async fn logs_close(state: State<'_, AppState>, stream: u32) -> Result<(), IpcError> {
    state.logs.close(stream);
    Ok(())
}

/// Save the part of a container's log that `spec` names to a new file in the Downloads folder,
/// read afresh from the host (so all of it, not only the lines the page keeps).
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state, spec), err(Debug))]
pub async fn logs_save(state: State<'_, AppState>, host: String, container: String, spec: LogSpec) -> Result<SavedLog, IpcError> {
    let dir = berth_core::paths::downloads_dir()?;
    let engine = state.fleet.engine(&host).await?;
    Ok(berth_core::exec::save_logs(&engine, &host, &container, &spec, &dir).await?)
}
