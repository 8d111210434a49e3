//! IP pools for the IPAM view: the pools with how full they are, a pool's addresses, the check
//! against the mirror, and the one-click repair of a finding.

use berth_core::ipam::check::{CheckReport, Finding};
use berth_core::ipam::docker::{NetReport, RunOutcome, RunSpec};
use berth_core::store::ipam::{AddressRow, PoolSummary};
use tauri::State;

use super::blocking;
use crate::error::IpcError;
use crate::AppState;

#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err(Debug))]
pub async fn ipam_pools(state: State<'_, AppState>) -> Result<Vec<PoolSummary>, IpcError> {
    blocking(&state, |store| store.pools()).await
}

/// The addresses of `pool` that are not free (leased, quarantined, reserved).
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err(Debug))]
pub async fn ipam_addresses(state: State<'_, AppState>, pool: String) -> Result<Vec<AddressRow>, IpcError> {
    blocking(&state, move |store| store.addresses(Some(&pool))).await
}

/// Conflicts and orphans of every pool against the mirror.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err(Debug))]
pub async fn ipam_check(state: State<'_, AppState>) -> Result<CheckReport, IpcError> {
    blocking(&state, berth_core::ipam::check).await
}

/// Apply the safe repair a finding offers (adopt the address, or release the lease).
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err(Debug))]
pub async fn ipam_repair(state: State<'_, AppState>, finding: Finding) -> Result<(), IpcError> {
    let op = state.op();
    blocking(&state, move |store| berth_core::ipam::repair_one(store, &op, &finding)).await
}

/// Create the pool's network on each of its hosts, or report how the one there differs.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err(Debug))]
pub async fn ipam_net_apply(state: State<'_, AppState>, pool: String) -> Result<Vec<NetReport>, IpcError> {
    Ok(berth_core::ipam::docker::apply(&state.fleet, &state.op(), &pool).await?)
}

/// Run a container on a pool's host with a fixed address leased from the pool.
#[tauri::command]
#[specta::specta]
#[tracing::instrument(skip(state), err(Debug))]
pub async fn ipam_run(state: State<'_, AppState>, spec: RunSpec) -> Result<RunOutcome, IpcError> {
    Ok(berth_core::ipam::docker::run(&state.fleet, &state.op(), &spec).await?)
}
