//! Images, networks and volumes for their views, and the transfers (pulls, pushes, builds) that
//! run in the core: a pull, push or build returns its transfer ids at once and goes on there,
//! so leaving the view or reloading the page loses nothing (`transfers` lists them again;
//! `transfers://update` carries each change). Registry logins never cross IPC: they are made
//! with `berth registry login`, into the OS keyring.

use std::sync::Arc;

use berth_core::connect::Pruned;
use berth_core::images::{self, push, ImageRemoved, Transfer};
use berth_core::store::{ImageRow, NetworkRow, VolumeRow};
use berth_core::{resources, Result as CoreResult};
use tauri::State;

use super::blocking;
use crate::error::IpcError;
use crate::AppState;

/// Start `work` in the background and return once it has its transfer ids (or has failed
/// before it had them: a bad name, an unknown or unreachable host).
async fn started<T: Send + 'static>(
    work: impl FnOnce(tokio::sync::oneshot::Sender<Vec<u32>>) -> std::pin::Pin<Box<dyn std::future::Future<Output = CoreResult<T>> + Send>>,
) -> Result<Vec<u32>, IpcError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let task = tauri::async_runtime::spawn(work(tx));
    match rx.await {
        Ok(ids) => Ok(ids),
        Err(_) => match task.await {
            Ok(Err(e)) => Err(e.into()),
            Ok(Ok(_)) => Ok(Vec::new()),
            Err(e) => Err(IpcError::internal(format!("a transfer task failed: {e}"))),
        },
    }
}

/// Every mirrored image, one row per host and image (offline too).
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err(Debug))]
pub async fn images(state: State<'_, AppState>, host: Option<String>) -> Result<Vec<ImageRow>, IpcError> {
    blocking(&state, move |store| store.images(host.as_deref())).await
}

#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err(Debug))]
pub async fn image_pull(state: State<'_, AppState>, host: String, image: String) -> Result<u32, IpcError> {
    let (fleet, op) = (Arc::clone(&state.fleet), state.op());
    let ids = started(move |tx| Box::pin(async move { images::pull(&fleet, &op, &host, &image, |id| drop(tx.send(vec![id]))).await })).await?;
    ids.first().copied().ok_or_else(|| IpcError::internal("the pull had no transfer".into()))
}

/// Push `image` from `source` to `targets`, one transfer per target.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err(Debug))]
pub async fn image_push(state: State<'_, AppState>, source: String, image: String, targets: Vec<String>) -> Result<Vec<u32>, IpcError> {
    let (fleet, op) = (Arc::clone(&state.fleet), state.op());
    started(move |tx| Box::pin(async move { push::push(&fleet, &op, &source, &image, &targets, |ids| drop(tx.send(ids.to_vec()))).await })).await
}

#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err(Debug))]
pub async fn image_build(state: State<'_, AppState>, host: String, tag: String, dir: String) -> Result<u32, IpcError> {
    let (fleet, op) = (Arc::clone(&state.fleet), state.op());
    let ids = started(move |tx| {
        Box::pin(async move { images::build(&fleet, &op, &host, &tag, std::path::Path::new(&dir), None, |id| drop(tx.send(vec![id]))).await })
    })
    .await?;
    ids.first().copied().ok_or_else(|| IpcError::internal("the build had no transfer".into()))
}

#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err(Debug))]
pub async fn image_remove(state: State<'_, AppState>, host: String, image: String, force: bool) -> Result<ImageRemoved, IpcError> {
    Ok(images::remove(&state.fleet, &state.op(), &host, &image, force).await?)
}

#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err(Debug))]
pub async fn image_prune(state: State<'_, AppState>, host: String, all: bool) -> Result<Pruned, IpcError> {
    Ok(images::prune(&state.fleet, &state.op(), &host, all).await?)
}

/// The pulls, pushes and builds of this process, running and recently ended.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err(Debug))]
pub async fn transfers(state: State<'_, AppState>) -> Result<Vec<Transfer>, IpcError> {
    Ok(state.fleet.transfers().list())
}

#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err(Debug))]
pub async fn transfer_cancel(state: State<'_, AppState>, id: u32) -> Result<(), IpcError> {
    Ok(state.fleet.transfers().cancel(id)?)
}

#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err(Debug))]
pub async fn networks(state: State<'_, AppState>, host: Option<String>) -> Result<Vec<NetworkRow>, IpcError> {
    blocking(&state, move |store| resources::networks(store, host.as_deref())).await
}

#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err(Debug))]
pub async fn network_remove(state: State<'_, AppState>, host: String, name: String) -> Result<(), IpcError> {
    Ok(resources::remove_network(&state.fleet, &state.op(), &host, &name).await?)
}

#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err(Debug))]
pub async fn network_prune(state: State<'_, AppState>, host: String) -> Result<Pruned, IpcError> {
    Ok(resources::prune_networks(&state.fleet, &state.op(), &host).await?)
}

#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err(Debug))]
pub async fn volumes(state: State<'_, AppState>, host: Option<String>) -> Result<Vec<VolumeRow>, IpcError> {
    blocking(&state, move |store| resources::volumes(store, host.as_deref())).await
}

#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err(Debug))]
pub async fn volume_remove(state: State<'_, AppState>, host: String, name: String, force: bool) -> Result<(), IpcError> {
    Ok(resources::remove_volume(&state.fleet, &state.op(), &host, &name, force).await?)
}

#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err(Debug))]
pub async fn volume_prune(state: State<'_, AppState>, host: String) -> Result<Pruned, IpcError> {
    Ok(resources::prune_volumes(&state.fleet, &state.op(), &host).await?)
}
