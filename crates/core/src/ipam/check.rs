//! Reconciliation: the pools' leases against what the mirror says the hosts run. Pure: it takes
//! the pools, the address rows and the mirror's containers ([`MirrorView`], made from the store's
//! rows by [`MirrorView::from_rows`]), and says what disagrees.
//!
//! - conflicts: one address in use by two containers of one segment (across hosts); a reserved
//!   address in use; a container on an address leased to another, or off its own lease;
//! - orphans: a container using a pool address without a lease (repair: adopt it), a lease
//!   whose container is gone (repair: release it into quarantine);
//! - network drift: a pool host without the pool's network, or with one on another subnet
//!   (`berth net apply` creates the missing ones and reports the rest).

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::PoolSpec;
use crate::store::ipam::{AddressRow, AddressState, IpamMirrorRows};

/// A container as the mirror has it, with what the check needs.
#[derive(Debug, Clone)]
pub struct SeenContainer {
    pub host: String,
    pub id: String,
    pub name: String,
    pub running: bool,
    /// (network, address) of each network it is on.
    pub ips: Vec<(String, IpAddr)>,
}

/// A network as the mirror has it: (host, name, subnets).
pub type SeenNetwork = (String, String, Vec<String>);

/// The mirror's side of a check.
#[derive(Debug, Clone, Default)]
pub struct MirrorView {
    pub containers: Vec<SeenContainer>,
    pub networks: Vec<SeenNetwork>,
    /// Per host, when the mirror last heard from it (a snapshot or an event), in ms.
    pub heard_ms: HashMap<String, i64>,
}

impl MirrorView {
    /// The view of the store's rows: a container's adjacent address rows make one container.
    pub fn from_rows(rows: IpamMirrorRows) -> MirrorView {
        let mut containers: Vec<SeenContainer> = Vec::new();
        for row in rows.addresses {
            let same = containers.last().is_some_and(|c| c.host == row.host && c.id == row.container_id);
            if !same {
                containers.push(SeenContainer { host: row.host, id: row.container_id, name: row.container, running: row.running, ips: Vec::new() });
            }
            if let Some(address) = row.address {
                containers.last_mut().expect("pushed above").ips.push(address);
            }
        }
        MirrorView { containers, networks: rows.networks, heard_ms: rows.synced_ms.into_iter().collect() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// One address in use by several containers of one segment.
    Duplicate,
    /// A reserved address (gateway, a host's bridge address, --reserve) in use by a container.
    ReservedInUse,
    /// A container on an address leased to another container, or off the address it leased.
    LeaseMismatch,
    /// A container using a pool address without a lease.
    Unleased,
    /// A lease whose container the host no longer has.
    LeaseWithoutContainer,
    /// A host of the pool without the pool's network (`ip` is the pool's subnet).
    NetworkMissing,
    /// A host whose network of the pool's name has another subnet (`ip` is the pool's subnet).
    NetworkDrift,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ContainerRef {
    pub host: String,
    pub container: String,
    pub id: Option<String>,
}

/// A safe fix, applied by `berth ipam check --repair` or the app's repair button.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Repair {
    /// Record a lease for the container that uses the address.
    Adopt { host: String, container: String },
    /// Release the lease into quarantine.
    Release,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Finding {
    pub kind: FindingKind,
    pub pool: String,
    pub segment: String,
    pub ip: String,
    /// The containers involved (for a duplicate, every user of the address).
    pub containers: Vec<ContainerRef>,
    pub detail: String,
    pub repair: Option<Repair>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct CheckReport {
    pub conflicts: Vec<Finding>,
    pub orphans: Vec<Finding>,
}

impl CheckReport {
    pub fn is_clean(&self) -> bool {
        self.conflicts.is_empty() && self.orphans.is_empty()
    }
}

/// How long after a lease a snapshot must be taken before its container's absence counts.
pub const SETTLE_MS: i64 = 60_000;

fn reference(c: &SeenContainer) -> ContainerRef {
    ContainerRef { host: c.host.clone(), container: c.name.clone(), id: Some(c.id.clone()) }
}

fn named(users: &[&SeenContainer]) -> String {
    users.iter().map(|c| format!("{}/{}", c.host, c.name)).collect::<Vec<_>>().join(", ")
}

/// Compare the pools' address rows with the mirror's containers.
pub fn check(pools: &[PoolSpec], addresses: &[AddressRow], mirror: &MirrorView) -> CheckReport {
    let mut report = CheckReport::default();
    let by_name: HashMap<&str, &PoolSpec> = pools.iter().map(|p| (p.name.as_str(), p)).collect();
    let rows: HashMap<(&str, IpAddr), &AddressRow> = addresses.iter().filter_map(|a| Some(((a.pool.as_str(), a.ip.parse().ok()?), a))).collect();

    // Which pool an address of a container belongs to: the pool whose subnet holds it, when
    // the container is on the pool's own network, or on a host of the pool on a network with
    // exactly the pool's subnet (one made by hand on the same LAN). An overlay or another
    // network that merely overlaps the subnet is not the pool's.
    let lan_networks: std::collections::HashSet<(&str, &str, ipnet::IpNet)> = mirror
        .networks
        .iter()
        .flat_map(|(host, name, subnets)| subnets.iter().filter_map(move |s| Some((host.as_str(), name.as_str(), s.parse().ok()?))))
        .collect();
    let pool_of = |c: &SeenContainer, network: &str, ip: &IpAddr| {
        pools.iter().find(|p| {
            p.subnet.contains(ip)
                && (p.network_name() == network || (p.host(&c.host).is_some() && lan_networks.contains(&(c.host.as_str(), network, p.subnet))))
        })
    };
    let mut users: BTreeMap<(String, IpAddr), (&PoolSpec, Vec<&SeenContainer>)> = BTreeMap::new();
    let mut by_container: HashMap<(&str, &str), &SeenContainer> = HashMap::new();
    for c in &mirror.containers {
        by_container.insert((c.host.as_str(), c.name.as_str()), c);
        by_container.insert((c.host.as_str(), c.id.as_str()), c);
        for (network, ip) in &c.ips {
            if let Some(pool) = pool_of(c, network, ip) {
                let entry = users.entry((pool.segment.clone(), *ip)).or_insert((pool, Vec::new()));
                if !entry.1.iter().any(|u| u.host == c.host && u.id == c.id) {
                    entry.1.push(c);
                }
            }
        }
    }

    for ((segment, ip), (pool, using)) in &users {
        let finding = |kind, containers: Vec<ContainerRef>, detail: String, repair| Finding {
            kind,
            pool: pool.name.clone(),
            segment: segment.clone(),
            ip: ip.to_string(),
            containers,
            detail,
            repair,
        };
        let row = rows.get(&(pool.name.as_str(), *ip)).copied();
        if using.len() > 1 {
            let holder = row
                .filter(|r| r.state == AddressState::Leased)
                .and_then(|r| Some(format!("; the lease is {}'s", format_args!("{}/{}", r.host.as_ref()?, r.container.as_ref()?))))
                .unwrap_or_default();
            report.conflicts.push(finding(
                FindingKind::Duplicate,
                using.iter().map(|c| reference(c)).collect(),
                format!("{ip} is in use by {} containers of segment {segment}: {}{holder}", using.len(), named(using)),
                None,
            ));
            continue;
        }
        let user = using[0];
        match row {
            None => report.orphans.push(finding(
                FindingKind::Unleased,
                vec![reference(user)],
                format!("{}/{} uses {ip} of pool {} without a lease", user.host, user.name, pool.name),
                Some(Repair::Adopt { host: user.host.clone(), container: user.name.clone() }),
            )),
            Some(r) if r.state == AddressState::Quarantined => report.orphans.push(finding(
                FindingKind::Unleased,
                vec![reference(user)],
                format!("{}/{} uses {ip} of pool {}, which is in quarantine", user.host, user.name, pool.name),
                Some(Repair::Adopt { host: user.host.clone(), container: user.name.clone() }),
            )),
            Some(r) if r.state == AddressState::Reserved => report.conflicts.push(finding(
                FindingKind::ReservedInUse,
                vec![reference(user)],
                format!("{}/{} uses {ip}, reserved in pool {} ({})", user.host, user.name, pool.name, r.reason.as_deref().unwrap_or("reserved")),
                None,
            )),
            Some(r) => match (&r.host, &r.container) {
                (Some(h), Some(c)) if !(h == &user.host && (c == &user.name || c == &user.id)) => report.conflicts.push(finding(
                    FindingKind::LeaseMismatch,
                    vec![reference(user), ContainerRef { host: h.clone(), container: c.clone(), id: None }],
                    format!("{}/{} uses {ip}, which pool {} leased to {h}/{c}", user.host, user.name, pool.name),
                    None,
                )),
                _ => {}
            },
        }
    }

    // Leases whose container is gone, or that run elsewhere.
    for r in addresses.iter().filter(|r| r.state == AddressState::Leased) {
        let (Some(host), Some(name), Some(pool)) = (&r.host, &r.container, by_name.get(r.pool.as_str())) else { continue };
        let Ok(ip) = r.ip.parse::<IpAddr>() else { continue };
        let finding = |kind, detail: String, repair| Finding {
            kind,
            pool: pool.name.clone(),
            segment: pool.segment.clone(),
            ip: r.ip.clone(),
            containers: vec![ContainerRef { host: host.clone(), container: name.clone(), id: None }],
            detail,
            repair,
        };
        match by_container.get(&(host.as_str(), name.as_str())) {
            None => {
                // Only once a snapshot of the host was taken well after the lease was made: a
                // container created a moment ago may not be mirrored yet.
                if mirror.heard_ms.get(host).is_some_and(|heard| *heard > r.since_ms + SETTLE_MS) {
                    report.orphans.push(finding(
                        FindingKind::LeaseWithoutContainer,
                        format!("{ip} of pool {} is leased to {host}/{name}, which the host no longer has", pool.name),
                        Some(Repair::Release),
                    ));
                }
            }
            Some(c) if c.running => {
                let uses: Vec<IpAddr> = c.ips.iter().map(|(_, a)| *a).filter(|a| pool.subnet.contains(a)).collect();
                if !uses.is_empty() && !uses.contains(&ip) {
                    let now = uses.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", ");
                    report.conflicts.push(finding(
                        FindingKind::LeaseMismatch,
                        format!("{host}/{name} leased {ip} of pool {} but runs on {now}", pool.name),
                        None,
                    ));
                }
            }
            Some(_) => {}
        }
    }
    // The pools' networks on their hosts, once the mirror has heard from the host at all.
    for pool in pools {
        for h in &pool.hosts {
            if mirror.heard_ms.get(&h.host).is_none_or(|heard| *heard <= 0) {
                continue;
            }
            let network = mirror.networks.iter().find(|(host, name, _)| host == &h.host && name == pool.network_name());
            let (kind, detail) = match network {
                None => (FindingKind::NetworkMissing, format!("host {} has no network {}; run `berth net apply {}`", h.host, pool.name, pool.name)),
                Some((_, _, subnets)) if !subnets.iter().any(|s| s.parse::<ipnet::IpNet>().is_ok_and(|n| n == pool.subnet)) => (
                    FindingKind::NetworkDrift,
                    format!(
                        "network {} on host {} has subnet {}, the pool's is {}",
                        pool.name,
                        h.host,
                        if subnets.is_empty() { "none".into() } else { subnets.join(", ") },
                        pool.subnet
                    ),
                ),
                Some(_) => continue,
            };
            report.conflicts.push(Finding {
                kind,
                pool: pool.name.clone(),
                segment: pool.segment.clone(),
                ip: pool.subnet.to_string(),
                containers: vec![],
                detail,
                repair: None,
            });
        }
    }
    report.conflicts.sort_by(|a, b| (a.kind, &a.pool, &a.ip).cmp(&(b.kind, &b.pool, &b.ip)));
    report.orphans.sort_by(|a, b| (a.kind, &a.pool, &a.ip).cmp(&(b.kind, &b.pool, &b.ip)));
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipam::pool::PoolHost;

    fn pool(name: &str, subnet: &str, segment: &str, hosts: &[&str]) -> PoolSpec {
        PoolSpec {
            segment: segment.into(),
            hosts: hosts.iter().map(|h| PoolHost { host: (*h).into(), parent: None, ip: None }).collect(),
            ..PoolSpec::new(name, subnet.parse().unwrap())
        }
    }

    fn seen(host: &str, name: &str, ip: &str) -> SeenContainer {
        SeenContainer { host: host.into(), id: format!("{name}-id"), name: name.into(), running: true, ips: vec![("lan".into(), ip.parse().unwrap())] }
    }

    fn row(pool: &str, ip: &str, state: AddressState, holder: Option<(&str, &str)>) -> AddressRow {
        AddressRow {
            pool: pool.into(),
            ip: ip.into(),
            state,
            host: holder.map(|h| h.0.into()),
            container: holder.map(|h| h.1.into()),
            reason: Some("why".into()),
            fixed: false,
            since_ms: 1_000,
            until_ms: None,
        }
    }

    #[test]
    fn a_containers_address_rows_make_one_container() {
        use crate::store::ipam::MirroredAddress;
        let address = |host: &str, id: &str, at: Option<(&str, &str)>| MirroredAddress {
            host: host.into(),
            container_id: id.into(),
            container: format!("{id}-name"),
            running: id != "stopped",
            address: at.map(|(network, ip)| (network.into(), ip.parse().unwrap())),
        };
        let rows = IpamMirrorRows {
            addresses: vec![
                address("a", "web", Some(("lan", "10.0.0.5"))),
                address("a", "web", Some(("back", "172.18.0.2"))),
                address("a", "stopped", None),
                address("b", "web", Some(("lan", "10.0.0.6"))),
            ],
            networks: vec![("a".into(), "lan".into(), vec!["10.0.0.0/24".into()])],
            synced_ms: vec![("a".into(), 5_000), ("b".into(), 0)],
        };
        let view = MirrorView::from_rows(rows);
        let seen: Vec<_> = view.containers.iter().map(|c| (c.host.as_str(), c.name.as_str(), c.running, c.ips.len())).collect();
        assert_eq!(seen, [("a", "web-name", true, 2), ("a", "stopped-name", false, 0), ("b", "web-name", true, 1)]);
        assert_eq!(view.containers[0].ips[1], ("back".to_owned(), "172.18.0.2".parse().unwrap()));
        assert_eq!(view.networks.len(), 1);
        assert_eq!(view.heard_ms, HashMap::from([("a".to_owned(), 5_000), ("b".to_owned(), 0)]));
    }

    #[test]
    fn a_clean_fleet_has_nothing_to_say() {
        let pools = [pool("lan", "10.0.0.0/24", "s", &["a", "b"])];
        let rows = [row("lan", "10.0.0.5", AddressState::Leased, Some(("a", "web")))];
        let mut mirror = MirrorView { containers: vec![seen("a", "web", "10.0.0.5"), seen("b", "other", "172.17.0.2")], ..Default::default() };
        mirror.networks = vec![("a".into(), "lan".into(), vec!["10.0.0.0/24".into()])];
        mirror.heard_ms.insert("a".into(), 5_000);
        assert!(check(&pools, &rows, &mirror).is_clean());
    }

    #[test]
    fn an_overlay_that_overlaps_a_pool_is_not_the_pools() {
        let pools = [pool("lan", "10.0.0.0/16", "s", &["a"])];
        let mut overlay = seen("a", "task", "10.0.0.5");
        overlay.ips = vec![("ingress".into(), "10.0.0.5".parse().unwrap())];
        let mut by_hand = seen("a", "hand", "10.0.3.3");
        by_hand.ips = vec![("lan-copy".into(), "10.0.3.3".parse().unwrap())];
        let mirror = MirrorView {
            containers: vec![overlay, by_hand],
            networks: vec![
                ("a".into(), "lan".into(), vec!["10.0.0.0/16".into()]),
                ("a".into(), "ingress".into(), vec!["10.0.0.0/24".into()]),
                ("a".into(), "lan-copy".into(), vec!["10.0.0.0/16".into()]),
            ],
            heard_ms: HashMap::from([("a".to_owned(), 5_000)]),
        };
        let report = check(&pools, &[], &mirror);
        let ips: Vec<_> = report.orphans.iter().map(|f| f.ip.as_str()).collect();
        assert_eq!(ips, ["10.0.3.3"], "the hand-made network on the pool's subnet counts, the overlay does not");
    }

    #[test]
    fn a_pool_host_without_the_pools_network_or_with_another_subnet_is_reported() {
        let pools = [pool("lan", "10.0.0.0/24", "s", &["a", "b", "c", "never"])];
        let mut mirror = MirrorView {
            networks: vec![("a".into(), "lan".into(), vec!["10.0.0.0/24".into()]), ("b".into(), "lan".into(), vec!["10.9.0.0/24".into()])],
            ..Default::default()
        };
        for h in ["a", "b", "c"] {
            mirror.heard_ms.insert(h.into(), 5_000);
        }
        let report = check(&pools, &[], &mirror);
        let found: Vec<_> = report.conflicts.iter().map(|f| (f.kind, f.detail.as_str())).collect();
        assert_eq!(
            found,
            [
                (FindingKind::NetworkMissing, "host c has no network lan; run `berth net apply lan`"),
                (FindingKind::NetworkDrift, "network lan on host b has subnet 10.9.0.0/24, the pool's is 10.0.0.0/24"),
            ]
        );
    }

    #[test]
    fn each_disagreement_is_named_with_its_repair() {
        let pools = [pool("lan", "10.0.0.0/24", "s", &["a", "b"]), pool("dmz", "10.9.0.0/24", "s", &["c"])];
        let rows = [
            row("lan", "10.0.0.5", AddressState::Leased, Some(("a", "web"))),
            row("lan", "10.0.0.6", AddressState::Leased, Some(("a", "gone"))),
            row("lan", "10.0.0.7", AddressState::Reserved, None),
            row("lan", "10.0.0.8", AddressState::Leased, Some(("b", "db"))),
            row("lan", "10.0.0.9", AddressState::Leased, Some(("b", "fresh"))),
        ];
        let mut mirror = MirrorView {
            containers: vec![
                seen("a", "web", "10.0.0.5"),
                seen("b", "copy", "10.0.0.5"),     // same address, other host, same segment
                seen("b", "squatter", "10.0.0.7"), // on a reserved address
                seen("b", "db", "10.0.0.20"),      // off its lease
                seen("a", "stray", "10.0.0.30"),   // no lease
            ],
            ..Default::default()
        };
        mirror.networks = vec![("a".into(), "lan".into(), vec!["10.0.0.0/24".into()]), ("b".into(), "lan".into(), vec!["10.0.0.0/24".into()])];
        mirror.heard_ms.insert("a".into(), 1_000 + SETTLE_MS + 1);
        mirror.heard_ms.insert("b".into(), 1_000 + SETTLE_MS); // not long enough after "fresh" was leased
        let report = check(&pools, &rows, &mirror);
        let kinds: Vec<_> = report.conflicts.iter().map(|f| (f.kind, f.ip.as_str())).collect();
        assert_eq!(kinds, [(FindingKind::Duplicate, "10.0.0.5"), (FindingKind::ReservedInUse, "10.0.0.7"), (FindingKind::LeaseMismatch, "10.0.0.8")]);
        assert!(report.conflicts[0].detail.contains("a/web, b/copy") && report.conflicts[0].detail.contains("the lease is a/web's"));
        let orphans: Vec<_> = report.orphans.iter().map(|f| (f.kind, f.ip.as_str(), f.repair.clone())).collect();
        assert_eq!(
            orphans,
            [
                (FindingKind::Unleased, "10.0.0.20", Some(Repair::Adopt { host: "b".into(), container: "db".into() })),
                (FindingKind::Unleased, "10.0.0.30", Some(Repair::Adopt { host: "a".into(), container: "stray".into() })),
                (FindingKind::LeaseWithoutContainer, "10.0.0.6", Some(Repair::Release)),
            ]
        );
    }
}
