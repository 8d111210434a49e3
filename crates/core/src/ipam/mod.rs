//! IP address management for LAN-bridged networks: pools ([`pool`]), their leases in the store
//! ([`crate::store::ipam`]), reconciliation against the mirror ([`check`]), and the Docker side:
//! the pool's network on each host, containers with fixed addresses, and rebuilding pools and
//! leases from the labels Berth writes on them ([`docker`]).

pub mod pool;

pub use pool::{Driver, PoolHost, PoolSpec, Reservation};

/// Label on a pool's Docker networks and on its containers: the pool's name.
pub const LABEL_POOL: &str = "berth.ipam.pool";
/// Label on a pool's Docker networks: the pool's definition as JSON ([`PoolSpec`]).
pub const LABEL_SPEC: &str = "berth.ipam.spec";
/// Label on a container: its leased address.
pub const LABEL_IP: &str = "berth.ipam.ip";

pub mod check;
pub mod docker;

use crate::error::Result;
use crate::store::Store;

/// Check every pool against the mirror (see [`check::check`]).
pub fn check(store: &Store) -> Result<check::CheckReport> {
    let pools: Vec<PoolSpec> = store.pools()?.into_iter().map(|p| p.spec).collect();
    let addresses = store.addresses(None)?;
    let mirror = check::MirrorView::from_rows(store.ipam_mirror()?);
    Ok(check::check(&pools, &addresses, &mirror))
}

/// Apply the safe repairs of a report: adopt the addresses of containers without a lease,
/// release the leases of containers that are gone. Each finding gets its own outcome.
pub fn repair(store: &Store, op: &crate::audit::Op, report: &check::CheckReport) -> Vec<(check::Finding, Result<()>)> {
    report.orphans.iter().chain(&report.conflicts).filter(|f| f.repair.is_some()).map(|f| (f.clone(), repair_one(store, op, f))).collect()
}

/// Apply the repair one finding offers, recorded as `op`'s.
pub fn repair_one(store: &Store, op: &crate::audit::Op, finding: &check::Finding) -> Result<()> {
    let ip = pool::parse_ip("address", &finding.ip)?;
    match &finding.repair {
        Some(check::Repair::Adopt { host, container }) => {
            let row = op.row(Some(host), "lease", Default::default(), "adopt");
            store.audited(&row).adopt_lease(&finding.pool, ip, host, container).map(drop)
        }
        Some(check::Repair::Release) => {
            let holder = finding.containers.first().map(|c| (c.host.as_str(), c.container.as_str()));
            let row = op.row(holder.map(|h| h.0), "lease", Default::default(), "release");
            store.audited(&row).release_held(&finding.pool, ip, holder).map(drop)
        }
        None => Err(crate::Error::invalid("repair", format!("{} has no safe repair; {}", finding.ip, finding.detail))),
    }
}
