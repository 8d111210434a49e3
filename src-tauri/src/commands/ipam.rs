//! IP pools for the IPAM view: the pools with how full they are, a pool's addresses, the check
//! against the mirror, and the one-click repair of a finding.

use berth_core::ipam::check::{CheckReport, Finding};
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
    blocking(&state, move |store| berth_core::ipam::repair_one(store, &finding)).await
}
