//! Placement, pure: which host (and pool, and address) each replica of an app goes to, from the
//! request and the fleet as mirrored; or, for every host not used, every reason. Same input,
//! same plan. No store, no network: the deploy path (issue 13) gathers a [`FleetView`] and calls
//! [`place`]; its tests are tables of cases.
//!
//! - Filters, per host: online; the label constraints (`key==value`, `key!=value`); sits on at
//!   least one allowed pool; capacity (CPUs and memory from `/info`, less what running
//!   containers reserve and what this plan has placed); `max_per_host`; a free address in one of
//!   its allowed pools (pools are shared: an address taken on one host is gone for all).
//! - `spread` puts the next replica on the host with the fewest of this app's replicas (then the
//!   most free memory, then the name); `binpack` on the fullest host that still fits (then the
//!   name).
//! - The pool is the first allowed pool (in the request's order) the host sits on that has a free
//!   address; the address is that pool's lowest free one.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::error::{Error, Result};

/// The most replicas one plan may ask for.
pub const MAX_REPLICAS: u32 = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    Spread,
    Binpack,
}

/// A label constraint: `key==value` or `key!=value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constraint {
    pub key: String,
    pub equal: bool,
    pub value: String,
}

impl Constraint {
    pub fn parse(text: &str) -> Result<Constraint> {
        let (key, value, equal) = if let Some((k, v)) = text.split_once("==") {
            (k, v, true)
        } else if let Some((k, v)) = text.split_once("!=") {
            (k, v, false)
        } else {
            return Err(Error::invalid("constraint", format!("{text:?}; write LABEL==VALUE or LABEL!=VALUE, e.g. dc==sh")));
        };
        let (key, value) = (key.trim(), value.trim());
        if key.is_empty() || value.contains("==") || value.contains("!=") {
            return Err(Error::invalid("constraint", format!("{text:?}; write LABEL==VALUE or LABEL!=VALUE, e.g. dc==sh")));
        }
        Ok(Constraint { key: key.to_owned(), equal, value: value.to_owned() })
    }

    fn holds(&self, labels: &BTreeMap<String, String>) -> bool {
        (labels.get(&self.key) == Some(&self.value)) == self.equal
    }
}

impl std::fmt::Display for Constraint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}{}", self.key, if self.equal { "==" } else { "!=" }, self.value)
    }
}

/// What a plan is asked to place.
#[derive(Debug, Clone)]
pub struct Request {
    pub replicas: u32,
    /// Reserved per replica: CPUs (0.5 = half a CPU) and bytes of memory.
    pub cpus: f64,
    pub memory: u64,
    /// Allowed pools, in order of preference.
    pub pools: Vec<String>,
    pub constraints: Vec<Constraint>,
    pub strategy: Strategy,
    pub max_per_host: Option<u32>,
}

/// One host as placement sees it.
#[derive(Debug, Clone)]
pub struct HostView {
    pub name: String,
    pub online: bool,
    pub labels: BTreeMap<String, String>,
    /// Capacity from `/info`.
    pub cpus: f64,
    pub memory: u64,
    /// What running containers already reserve.
    pub reserved_cpus: f64,
    pub reserved_memory: u64,
    /// The pools it sits on.
    pub pools: BTreeSet<String>,
    /// Replicas of this app it already runs (counted for spread and max per host).
    pub replicas: u32,
}

/// The fleet as mirrored: its hosts and each pool's free addresses, lowest first.
#[derive(Debug, Clone, Default)]
pub struct FleetView {
    pub hosts: Vec<HostView>,
    pub free: BTreeMap<String, Vec<std::net::IpAddr>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Placement {
    pub replica: u32,
    pub host: String,
    pub pool: String,
    pub ip: String,
}

/// Why a host got no replica. Every reason that applies is given.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Reason {
    Offline,
    /// A constraint it does not meet.
    Constraint {
        constraint: String,
    },
    /// It sits on none of the allowed pools.
    NoPool,
    /// Its allowed pools have no free address left.
    NoFreeAddress {
        pools: Vec<String>,
    },
    Memory {
        reserved: u64,
        capacity: u64,
        needed: u64,
    },
    Cpus {
        reserved: f64,
        capacity: f64,
        needed: f64,
    },
    MaxPerHost {
        max: u32,
    },
    /// It could take one, but every replica was placed elsewhere first.
    NotNeeded,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const GIB: f64 = (1u64 << 30) as f64;
        match self {
            Reason::Offline => write!(f, "offline"),
            Reason::Constraint { constraint } => write!(f, "label constraint {constraint} not met"),
            Reason::NoPool => write!(f, "not on any allowed pool"),
            Reason::NoFreeAddress { pools } => write!(f, "pool {} has no free address", pools.join(", ")),
            Reason::Memory { reserved, capacity, .. } => write!(f, "memory {:.1} of {:.1} GiB reserved", *reserved as f64 / GIB, *capacity as f64 / GIB),
            Reason::Cpus { reserved, capacity, .. } => write!(f, "CPUs {reserved:.2} of {capacity:.2} reserved"),
            Reason::MaxPerHost { max } => write!(f, "max per host ({max}) reached"),
            Reason::NotNeeded => write!(f, "not needed: every replica was placed"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rejected {
    pub host: String,
    pub reasons: Vec<Reason>,
}

/// A replica → (host, pool, address) plan; the hosts not used, each with every reason; and how
/// many replicas found no place.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub placements: Vec<Placement>,
    pub rejected: Vec<Rejected>,
    pub unplaced: u32,
}

/// Place `request` on `fleet`.
pub fn place(request: &Request, fleet: &FleetView) -> Result<Plan> {
    if request.replicas > MAX_REPLICAS {
        return Err(Error::invalid("replicas", format!("{} is more than the {MAX_REPLICAS} one app may have", request.replicas)));
    }
    if !(request.cpus.is_finite() && request.cpus >= 0.0) {
        return Err(Error::invalid("cpus", "give a number of CPUs, 0 or more (0.5 is half a CPU)"));
    }
    let mut hosts: Vec<&HostView> = fleet.hosts.iter().collect();
    hosts.sort_by(|a, b| a.name.cmp(&b.name));
    // Static reasons: never change during the plan.
    let static_reasons: Vec<Vec<Reason>> = hosts
        .iter()
        .map(|h| {
            let mut reasons = Vec::new();
            if !h.online {
                reasons.push(Reason::Offline);
            }
            for c in request.constraints.iter().filter(|c| !c.holds(&h.labels)) {
                reasons.push(Reason::Constraint { constraint: c.to_string() });
            }
            if !request.pools.iter().any(|p| h.pools.contains(p)) {
                reasons.push(Reason::NoPool);
            }
            reasons
        })
        .collect();
    let mut free: BTreeMap<&str, std::collections::VecDeque<std::net::IpAddr>> =
        request.pools.iter().map(|p| (p.as_str(), fleet.free.get(p).map(|ips| ips.iter().copied().collect()).unwrap_or_default())).collect();
    // Each host's allowed pools, in the request's order, as indexes into `pool_free`.
    let pool_names: Vec<&str> = request.pools.iter().map(String::as_str).collect();
    let mut pool_free: Vec<std::collections::VecDeque<std::net::IpAddr>> = pool_names.iter().map(|p| free.remove(p).unwrap_or_default()).collect();
    let host_pools: Vec<Vec<usize>> = hosts.iter().map(|h| (0..pool_names.len()).filter(|&p| h.pools.contains(pool_names[p])).collect()).collect();
    let mut used_cpus: Vec<f64> = hosts.iter().map(|h| h.reserved_cpus).collect();
    let mut used_memory: Vec<u64> = hosts.iter().map(|h| h.reserved_memory).collect();
    let mut count: Vec<u32> = hosts.iter().map(|h| h.replicas).collect();
    let mut placed_here = vec![0u32; hosts.len()];
    // A host that cannot take a replica now never can later in this plan (what it has left and
    // the pools' free addresses only shrink), so each host is kept in a heap by the strategy's
    // order, taken from the top, and dropped once it cannot take one.
    #[derive(PartialEq, Eq, PartialOrd, Ord)]
    enum Key {
        // Fewest replicas, then the most free memory, then the name: the smallest first.
        Spread(std::cmp::Reverse<(u32, std::cmp::Reverse<u64>, usize)>),
        // The fullest (memory reserved per million), then the name.
        Binpack((u64, std::cmp::Reverse<usize>)),
    }
    let key = |i: usize, used_memory: &[u64], count: &[u32]| match request.strategy {
        Strategy::Spread => Key::Spread(std::cmp::Reverse((count[i], std::cmp::Reverse(hosts[i].memory.saturating_sub(used_memory[i])), i))),
        Strategy::Binpack => {
            let fill = if hosts[i].memory == 0 { 0 } else { (used_memory[i] as u128 * 1_000_000 / hosts[i].memory as u128) as u64 };
            Key::Binpack((fill, std::cmp::Reverse(i)))
        }
    };
    let index_of = |k: &Key| match k {
        Key::Spread(std::cmp::Reverse((_, _, i))) => *i,
        Key::Binpack((_, std::cmp::Reverse(i))) => *i,
    };
    let mut heap: std::collections::BinaryHeap<Key> =
        (0..hosts.len()).filter(|&i| static_reasons[i].is_empty()).map(|i| key(i, &used_memory, &count)).collect();
    let mut placements = Vec::with_capacity(request.replicas as usize);
    let mut unplaced = 0;
    for replica in 0..request.replicas {
        let chosen = loop {
            let Some(top) = heap.pop() else { break None };
            let i = index_of(&top);
            let h = hosts[i];
            let fits = used_memory[i].saturating_add(request.memory) <= h.memory
                && used_cpus[i] + request.cpus <= h.cpus + 1e-9
                && request.max_per_host.is_none_or(|max| count[i] < max);
            if !fits {
                continue;
            }
            if let Some(&pool) = host_pools[i].iter().find(|&&p| !pool_free[p].is_empty()) {
                break Some((i, pool));
            }
        };
        let Some((i, pool)) = chosen else {
            unplaced = request.replicas - replica;
            break;
        };
        let ip = pool_free[pool].pop_front().expect("the chosen pool has a free address");
        used_cpus[i] += request.cpus;
        used_memory[i] += request.memory;
        count[i] += 1;
        placed_here[i] += 1;
        placements.push(Placement { replica, host: hosts[i].name.clone(), pool: pool_names[pool].to_owned(), ip: ip.to_string() });
        heap.push(key(i, &used_memory, &count));
    }
    let free: BTreeMap<&str, std::collections::VecDeque<std::net::IpAddr>> = pool_names.iter().copied().zip(pool_free).collect();
    Ok(finish(request, &hosts, static_reasons, placements, &placed_here, &free, &used_cpus, &used_memory, &count, unplaced))
}

#[allow(clippy::too_many_arguments)]
fn finish(
    request: &Request,
    hosts: &[&HostView],
    static_reasons: Vec<Vec<Reason>>,
    placements: Vec<Placement>,
    placed_here: &[u32],
    free: &BTreeMap<&str, std::collections::VecDeque<std::net::IpAddr>>,
    used_cpus: &[f64],
    used_memory: &[u64],
    count: &[u32],
    unplaced: u32,
) -> Plan {
    let mut rejected = Vec::new();
    for (i, mut reasons) in static_reasons.into_iter().enumerate() {
        if placed_here[i] > 0 {
            continue;
        }
        let h = hosts[i];
        if reasons.is_empty() || reasons.iter().all(|r| matches!(r, Reason::Offline | Reason::Constraint { .. })) {
            // What else stands in the way, as of the end of the plan.
            let on: Vec<String> = request.pools.iter().filter(|p| h.pools.contains(*p)).cloned().collect();
            if !on.is_empty() && on.iter().all(|p| free.get(p.as_str()).is_none_or(|f| f.is_empty())) {
                reasons.push(Reason::NoFreeAddress { pools: on });
            }
            if used_memory[i].saturating_add(request.memory) > h.memory {
                reasons.push(Reason::Memory { reserved: used_memory[i], capacity: h.memory, needed: request.memory });
            }
            if used_cpus[i] + request.cpus > h.cpus + 1e-9 {
                reasons.push(Reason::Cpus { reserved: used_cpus[i], capacity: h.cpus, needed: request.cpus });
            }
            if let Some(max) = request.max_per_host.filter(|max| count[i] >= *max) {
                reasons.push(Reason::MaxPerHost { max });
            }
        }
        if reasons.is_empty() {
            reasons.push(Reason::NotNeeded);
        }
        rejected.push(Rejected { host: h.name.clone(), reasons });
    }
    Plan { placements, rejected, unplaced }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    fn host(name: &str, pools: &[&str], memory_gib: u64, reserved_gib: f64) -> HostView {
        HostView {
            name: name.into(),
            online: true,
            labels: BTreeMap::from([("dc".to_owned(), if name.starts_with("sh") { "sh" } else { "bj" }.to_owned())]),
            cpus: 4.0,
            memory: memory_gib * GIB,
            reserved_cpus: 0.0,
            reserved_memory: (reserved_gib * GIB as f64) as u64,
            pools: pools.iter().map(|p| p.to_string()).collect(),
            replicas: 0,
        }
    }

    fn ips(base: &str, n: u8) -> Vec<std::net::IpAddr> {
        (1..=n).map(|i| format!("{base}.{i}").parse().unwrap()).collect()
    }

    fn request(replicas: u32) -> Request {
        Request {
            replicas,
            cpus: 0.5,
            memory: 256 << 20,
            pools: vec!["lan-sh".into(), "lan-bj".into()],
            constraints: Vec::new(),
            strategy: Strategy::Spread,
            max_per_host: None,
        }
    }

    fn fleet() -> FleetView {
        FleetView {
            hosts: vec![host("sh-1", &["lan-sh"], 4, 0.0), host("sh-2", &["lan-sh"], 4, 3.9), host("bj-1", &["lan-bj"], 8, 0.0), host("bj-2", &[], 8, 0.0)],
            free: BTreeMap::from([("lan-sh".into(), ips("10.20.0", 10)), ("lan-bj".into(), ips("10.30.0", 1))]),
        }
    }

    fn summary(plan: &Plan) -> (Vec<String>, Vec<String>) {
        let placed = plan.placements.iter().map(|p| format!("{}:{}@{}/{}", p.replica, p.host, p.ip, p.pool)).collect();
        let rejected =
            plan.rejected.iter().map(|r| format!("{}: {}", r.host, r.reasons.iter().map(|x| x.to_string()).collect::<Vec<_>>().join("; "))).collect();
        (placed, rejected)
    }

    #[test]
    fn spread_puts_replicas_on_distinct_hosts_first_and_names_every_reason() {
        let plan = place(&request(3), &fleet()).unwrap();
        let (placed, rejected) = summary(&plan);
        assert_eq!(placed, ["0:bj-1@10.30.0.1/lan-bj", "1:sh-1@10.20.0.1/lan-sh", "2:sh-1@10.20.0.2/lan-sh"]);
        assert_eq!(rejected, ["bj-2: not on any allowed pool", "sh-2: memory 3.9 of 4.0 GiB reserved"]);
        assert_eq!(plan.unplaced, 0);
        // The counts reconcile to the number of hosts.
        let used: BTreeSet<&str> = plan.placements.iter().map(|p| p.host.as_str()).collect();
        assert_eq!(used.len() + plan.rejected.len(), fleet().hosts.len());
    }

    #[test]
    fn a_full_pool_and_max_per_host_are_named() {
        let mut r = request(4);
        r.max_per_host = Some(1);
        let mut f = fleet();
        f.hosts[1].reserved_memory = 0;
        f.free.insert("lan-sh".into(), ips("10.20.0", 1));
        let plan = place(&r, &f).unwrap();
        let (placed, rejected) = summary(&plan);
        assert_eq!(placed, ["0:bj-1@10.30.0.1/lan-bj", "1:sh-1@10.20.0.1/lan-sh"]);
        assert_eq!(rejected, ["bj-2: not on any allowed pool", "sh-2: pool lan-sh has no free address"]);
        assert_eq!(plan.unplaced, 2);
        let mut r = request(4);
        r.max_per_host = Some(1);
        let plan = place(&r, &fleet()).unwrap();
        assert!(summary(&plan).1.contains(&"sh-2: memory 3.9 of 4.0 GiB reserved".to_owned()));
        assert_eq!(plan.unplaced, 2, "bj-1 and sh-1 take one each, then max per host");
    }

    #[test]
    fn binpack_fills_the_fullest_host_that_fits() {
        let mut r = request(3);
        r.strategy = Strategy::Binpack;
        r.pools = vec!["lan-sh".into()];
        let mut f = fleet();
        f.hosts[1].reserved_memory = 2 * GIB;
        let (placed, rejected) = summary(&place(&r, &f).unwrap());
        assert_eq!(placed, ["0:sh-2@10.20.0.1/lan-sh", "1:sh-2@10.20.0.2/lan-sh", "2:sh-2@10.20.0.3/lan-sh"]);
        assert_eq!(rejected, ["bj-1: not on any allowed pool", "bj-2: not on any allowed pool", "sh-1: not needed: every replica was placed"]);
    }

    #[test]
    fn constraints_offline_hosts_and_determinism() {
        let mut r = request(2);
        r.constraints = vec![Constraint::parse("dc==sh").unwrap()];
        let mut f = fleet();
        f.hosts[0].online = false;
        let plan = place(&r, &f).unwrap();
        let (placed, rejected) = summary(&plan);
        assert_eq!(placed, Vec::<String>::new());
        assert_eq!(
            rejected,
            [
                "bj-1: label constraint dc==sh not met",
                "bj-2: label constraint dc==sh not met; not on any allowed pool",
                "sh-1: offline",
                "sh-2: memory 3.9 of 4.0 GiB reserved"
            ]
        );
        assert_eq!(plan.unplaced, 2);
        assert_eq!(place(&request(5), &fleet()).unwrap(), place(&request(5), &fleet()).unwrap(), "same state, same plan");
        for bad in ["dc", "==sh", "dc=sh"] {
            assert!(Constraint::parse(bad).is_err(), "{bad}");
        }
        assert!(!Constraint::parse("dc!=sh").unwrap().equal);
        let mut huge = request(MAX_REPLICAS + 1);
        assert!(place(&huge, &fleet()).unwrap_err().to_string().contains("100000"));
        huge.replicas = 1;
        huge.cpus = f64::NAN;
        assert!(place(&huge, &fleet()).is_err());
    }
}
