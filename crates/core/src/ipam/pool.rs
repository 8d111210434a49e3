//! A pool's definition and its validation: subnet, gateway, allocatable ranges, reservations,
//! segment, hosts and the Docker network template. Pure: no store, no network.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How long a released address waits before it is handed out again, unless the pool says.
pub const DEFAULT_QUARANTINE: Duration = Duration::from_secs(3600);
/// The longest quarantine a pool may ask for (a year).
pub const MAX_QUARANTINE: Duration = Duration::from_secs(365 * 24 * 3600);

/// The Docker network driver of a pool's networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "lowercase")]
pub enum Driver {
    /// A bridge, usually bound to a named Linux bridge that carries the LAN.
    Bridge,
    /// macvlan on a parent interface: containers appear on the LAN with their own MAC.
    Macvlan,
}

impl Driver {
    pub fn as_str(self) -> &'static str {
        match self {
            Driver::Bridge => "bridge",
            Driver::Macvlan => "macvlan",
        }
    }
}

impl FromStr for Driver {
    type Err = Error;

    fn from_str(s: &str) -> Result<Driver> {
        match s {
            "bridge" => Ok(Driver::Bridge),
            "macvlan" => Ok(Driver::Macvlan),
            _ => Err(Error::invalid("driver", format!("{s:?}; use bridge or macvlan"))),
        }
    }
}

/// A reserved address: never handed out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Reservation {
    #[cfg_attr(feature = "specta", specta(type = String))]
    pub ip: IpAddr,
    pub reason: String,
}

/// A host on the pool's LAN, with what differs from the pool's template on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct PoolHost {
    pub host: String,
    /// macvlan: this host's parent interface, when not the pool's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// bridge: this host's own address on the LAN bridge (Docker's gateway for the network on
    /// that host; the pool's gateway is then the containers' default route). Reserved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "specta", specta(type = Option<String>))]
    pub ip: Option<IpAddr>,
}

impl FromStr for PoolHost {
    type Err = Error;

    /// `HOST`, `HOST,parent=IFACE`, `HOST,ip=IP`.
    fn from_str(s: &str) -> Result<PoolHost> {
        let mut parts = s.split(',');
        let host = parts.next().unwrap_or_default().trim().to_owned();
        crate::store::validate_host_name(&host)?;
        let mut out = PoolHost { host, parent: None, ip: None };
        for part in parts {
            match part.split_once('=') {
                Some(("parent", iface)) => out.parent = Some(validate_interface(iface)?.to_owned()),
                Some(("ip", ip)) => out.ip = Some(parse_ip("host address", ip)?),
                _ => return Err(Error::invalid("pool host", format!("{part:?} in {s:?}; write HOST, HOST,parent=IFACE or HOST,ip=IP"))),
            }
        }
        Ok(out)
    }
}

/// Everything that defines a pool. Written as a label on the Docker networks made for it, so
/// that another Berth can rebuild it from the hosts alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct PoolSpec {
    pub name: String,
    #[cfg_attr(feature = "specta", specta(type = String))]
    pub subnet: IpNet,
    /// The LAN's router: the containers' default route.
    #[serde(default)]
    #[cfg_attr(feature = "specta", specta(type = Option<String>))]
    pub gateway: Option<IpAddr>,
    /// Where "next free" looks; empty: the whole subnet. Specific addresses may be leased
    /// anywhere in the subnet.
    #[serde(default)]
    #[cfg_attr(feature = "specta", specta(type = Vec<String>))]
    pub ranges: Vec<IpNet>,
    #[serde(default)]
    pub reserved: Vec<Reservation>,
    /// The L2 segment (VLAN) the pool sits on: addresses must be unique across a segment.
    pub segment: String,
    #[serde(default)]
    pub hosts: Vec<PoolHost>,
    pub driver: Driver,
    /// bridge: the Linux bridge the network binds to (`com.docker.network.bridge.name`).
    #[serde(default)]
    pub bridge_name: Option<String>,
    /// macvlan: the parent interface on every host that does not name its own.
    #[serde(default)]
    pub parent: Option<String>,
    /// Seconds a released address waits before reuse.
    pub quarantine_seconds: u64,
}

impl PoolSpec {
    /// A bridge pool over the whole of `subnet`, its own segment, with the default quarantine
    /// and nothing else: the rest is set field by field.
    pub fn new(name: &str, subnet: IpNet) -> PoolSpec {
        PoolSpec {
            name: name.to_owned(),
            subnet,
            gateway: None,
            ranges: vec![],
            reserved: vec![],
            segment: name.to_owned(),
            hosts: vec![],
            driver: Driver::Bridge,
            bridge_name: None,
            parent: None,
            quarantine_seconds: DEFAULT_QUARANTINE.as_secs(),
        }
    }

    /// The Docker network's name on each host: the pool's name.
    pub fn network_name(&self) -> &str {
        &self.name
    }

    /// Checks the definition on its own (overlaps with other pools are the store's check).
    pub fn validate(&self) -> Result<()> {
        validate_pool_name(&self.name)?;
        let invalid = |what: &'static str, reason: String| Err(Error::invalid(what, reason));
        let subnet = self.subnet;
        if subnet != subnet.trunc() {
            return invalid("subnet", format!("{subnet} has host bits set; did you mean {}?", subnet.trunc()));
        }
        if matches!(subnet, IpNet::V4(n) if n.prefix_len() > 30) || matches!(subnet, IpNet::V6(n) if n.prefix_len() > 126) {
            return invalid("subnet", format!("{subnet} is too small for containers; use at most /30 (IPv4) or /126 (IPv6)"));
        }
        if self.quarantine_seconds > MAX_QUARANTINE.as_secs() {
            return invalid(
                "quarantine",
                format!("{} is longer than the most allowed, {}", format_seconds(self.quarantine_seconds), format_seconds(MAX_QUARANTINE.as_secs())),
            );
        }
        if self.segment.trim().is_empty() || self.segment.len() > 64 {
            return invalid("segment", format!("{:?} must be 1-64 characters", self.segment));
        }
        if let Some(gateway) = self.gateway {
            self.check_usable("gateway", gateway)?;
        }
        for range in &self.ranges {
            if *range != range.trunc() {
                return invalid("range", format!("{range} has host bits set; did you mean {}?", range.trunc()));
            }
            if !subnet.contains(range) {
                return invalid("range", format!("{range} is not inside the subnet {subnet}"));
            }
        }
        for (i, a) in self.ranges.iter().enumerate() {
            if let Some(b) = self.ranges[i + 1..].iter().find(|b| a.contains(*b) || b.contains(a)) {
                return invalid("range", format!("{a} and {b} overlap; give each address once"));
            }
        }
        let mut seen = BTreeSet::new();
        for r in &self.reserved {
            self.check_usable("reserved address", r.ip)?;
            if Some(r.ip) == self.gateway {
                return invalid("reserved address", format!("{} is the gateway, which is reserved already", r.ip));
            }
            if !seen.insert(r.ip) {
                return invalid("reserved address", format!("{} is reserved twice", r.ip));
            }
        }
        let mut hosts = BTreeSet::new();
        for h in &self.hosts {
            if !hosts.insert(h.host.as_str()) {
                return invalid("pool host", format!("{} is named twice", h.host));
            }
            if let Some(ip) = h.ip {
                self.check_usable("host address", ip)?;
                if Some(ip) == self.gateway || !seen.insert(ip) {
                    return invalid("host address", format!("{ip} of host {} is already the gateway or reserved", h.host));
                }
                if self.driver != Driver::Bridge {
                    return invalid("host address", format!("ip= is for bridge pools; {} is a macvlan pool", self.name));
                }
            }
            if h.parent.is_some() && self.driver != Driver::Macvlan {
                return invalid("pool host", format!("parent= is for macvlan pools; {} is a bridge pool", self.name));
            }
        }
        match self.driver {
            Driver::Bridge => {
                // Docker puts its network's gateway on the bridge. On a LAN bridge that must be
                // the host's own address, never the router's.
                if let (Some(_), Some(gateway)) = (&self.bridge_name, self.gateway) {
                    if let Some(h) = self.hosts.iter().find(|h| h.ip.is_none()) {
                        return invalid(
                            "pool host",
                            format!(
                                "host {} needs its own address on the LAN bridge ({},ip=IP): Docker puts the network's gateway on the bridge, and without one it would take the router's address {gateway}",
                                h.host, h.host
                            ),
                        );
                    }
                }
                if self.parent.is_some() {
                    return invalid("parent", "--parent is for macvlan pools; use --bridge-name for a bridge".into());
                }
                if let Some(name) = &self.bridge_name {
                    validate_interface(name)?;
                }
            }
            Driver::Macvlan => {
                if self.bridge_name.is_some() {
                    return invalid("bridge name", "--bridge-name is for bridge pools; use --parent for macvlan".into());
                }
                if let Some(parent) = &self.parent {
                    validate_interface(parent)?;
                }
                if let Some(h) = self.hosts.iter().find(|h| h.parent.is_none() && self.parent.is_none()) {
                    return invalid(
                        "parent",
                        format!("macvlan needs a parent interface on host {}; give --parent IFACE or --host {},parent=IFACE", h.host, h.host),
                    );
                }
            }
        }
        Ok(())
    }

    /// `what` must be a host address of the subnet (not its network or broadcast address).
    fn check_usable(&self, what: &'static str, ip: IpAddr) -> Result<()> {
        if !self.subnet.contains(&ip) {
            return Err(Error::invalid(what, format!("{ip} is outside the subnet {}", self.subnet)));
        }
        if let IpNet::V4(net) = self.subnet {
            if ip == IpAddr::V4(net.network()) || ip == IpAddr::V4(net.broadcast()) {
                return Err(Error::invalid(what, format!("{ip} is the network or broadcast address of {}", self.subnet)));
            }
        } else if ip == self.subnet.network() {
            return Err(Error::invalid(what, format!("{ip} is the subnet-router anycast address of {}", self.subnet)));
        }
        Ok(())
    }

    /// The addresses "next free" hands out, as inclusive `[first, last]` number intervals in
    /// order: the ranges (or the whole subnet) without the network, broadcast (IPv4) or anycast
    /// (IPv6) address. Reservations and the gateway are rows in the store, not holes here.
    pub fn intervals(&self) -> Vec<(u128, u128)> {
        let nets = if self.ranges.is_empty() { vec![self.subnet] } else { self.ranges.clone() };
        let (low, high) = usable(self.subnet);
        let mut out: Vec<(u128, u128)> = nets.iter().map(|n| (to_num(n.network()).max(low), to_num(n.broadcast()).min(high))).filter(|(a, b)| a <= b).collect();
        out.sort();
        out
    }

    /// How many addresses "next free" can hand out, before reservations.
    pub fn allocatable(&self) -> u128 {
        self.intervals().iter().map(|(a, b)| b - a + 1).sum()
    }

    /// The addresses that are reserved by the definition itself: the gateway, each host's
    /// bridge address and the reservations, with why.
    pub fn fixed_reservations(&self) -> Vec<Reservation> {
        let mut out = Vec::new();
        if let Some(gateway) = self.gateway {
            out.push(Reservation { ip: gateway, reason: "gateway".into() });
        } else if self.driver == Driver::Macvlan || self.hosts.iter().any(|h| h.ip.is_none()) {
            // With no gateway given, Docker takes the subnet's first address for its own.
            let first = from_num(to_num(self.subnet.network()) + 1, &self.subnet);
            let taken = self.hosts.iter().any(|h| h.ip == Some(first)) || self.reserved.iter().any(|r| r.ip == first);
            if !taken {
                out.push(Reservation { ip: first, reason: "Docker's gateway (the pool names none)".into() });
            }
        }
        for h in &self.hosts {
            if let Some(ip) = h.ip {
                out.push(Reservation { ip, reason: format!("host {} on the bridge", h.host) });
            }
        }
        out.extend(self.reserved.iter().cloned());
        out
    }

    pub fn host(&self, name: &str) -> Option<&PoolHost> {
        self.hosts.iter().find(|h| h.host == name)
    }

    pub fn quarantine(&self) -> Duration {
        Duration::from_secs(self.quarantine_seconds)
    }
}

/// First and last host address of `subnet`.
fn usable(subnet: IpNet) -> (u128, u128) {
    let (first, last) = (to_num(subnet.network()), to_num(subnet.broadcast()));
    match subnet {
        IpNet::V4(_) => (first + 1, last - 1),
        IpNet::V6(_) => (first + 1, last),
    }
}

/// An address as a number (IPv4 in the low 32 bits).
pub fn to_num(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u32::from(v4) as u128,
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// The address `n` in the family of `like`.
pub fn from_num(n: u128, like: &IpNet) -> IpAddr {
    match like {
        IpNet::V4(_) => IpAddr::V4((n as u32).into()),
        IpNet::V6(_) => IpAddr::V6(n.into()),
    }
}

pub fn validate_pool_name(name: &str) -> Result<()> {
    crate::store::validate_name("pool name", name, 48, " (it names the Docker network)")
}

fn validate_interface(name: &str) -> Result<&str> {
    // Linux: at most 15 bytes, no '/', no whitespace; VLAN sub-interfaces (eth0.100) are fine.
    let ok = !name.is_empty() && name.len() <= 15 && !name.contains(['/', ' ', '\t', ',', '=']) && name != "." && name != "..";
    if ok {
        Ok(name)
    } else {
        Err(Error::invalid("interface name", format!("{name:?} is not a Linux interface name (1-15 characters, no '/' or spaces)")))
    }
}

pub fn parse_ip(what: &'static str, s: &str) -> Result<IpAddr> {
    s.trim().parse().map_err(|_| Error::invalid(what, format!("{s:?} is not an IPv4 or IPv6 address")))
}

pub fn parse_cidr(what: &'static str, s: &str) -> Result<IpNet> {
    s.trim().parse().map_err(|_| Error::invalid(what, format!("{s:?} is not a CIDR such as 10.20.0.0/16 or fd00::/64")))
}

/// A quarantine such as `1h`, `30m` or `0s`, in seconds.
pub fn parse_quarantine(s: &str) -> Result<u64> {
    humantime::parse_duration(s.trim()).map(|d| d.as_secs()).map_err(|e| Error::invalid("quarantine", format!("{s:?}: {e}; write e.g. 1h, 30m or 0s")))
}

/// Seconds as `1h 30m`.
pub fn format_seconds(seconds: u64) -> String {
    humantime::format_duration(Duration::from_secs(seconds)).to_string()
}

/// `IP` or `IP=REASON`.
pub fn parse_reservation(s: &str) -> Result<Reservation> {
    let (ip, reason) = s.split_once('=').unwrap_or((s, ""));
    let reason = if reason.trim().is_empty() { "reserved".to_owned() } else { reason.trim().to_owned() };
    Ok(Reservation { ip: parse_ip("reserved address", ip)?, reason })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(subnet: &str) -> PoolSpec {
        PoolSpec::new("lan", subnet.parse().unwrap())
    }

    fn refused(s: &PoolSpec) -> String {
        s.validate().unwrap_err().to_string()
    }

    #[test]
    fn a_good_pool_passes_and_counts_its_addresses() {
        let mut s = spec("10.20.0.0/16");
        s.gateway = Some("10.20.0.1".parse().unwrap());
        s.reserved.push(parse_reservation("10.20.0.2=dns").unwrap());
        s.validate().unwrap();
        assert_eq!(s.allocatable(), 65_534);
        s.ranges = vec!["10.20.1.0/24".parse().unwrap(), "10.20.0.0/30".parse().unwrap()];
        s.validate().unwrap();
        // The network address of the subnet is not handed out, even when a range starts there.
        assert_eq!(
            s.intervals(),
            vec![
                (to_num("10.20.0.1".parse().unwrap()), to_num("10.20.0.3".parse().unwrap())),
                (to_num("10.20.1.0".parse().unwrap()), to_num("10.20.1.255".parse().unwrap()))
            ]
        );
        let v6 = spec("fd00:1::/120");
        v6.validate().unwrap();
        assert_eq!(v6.allocatable(), 255);
    }

    #[test]
    fn bad_definitions_say_what_is_wrong() {
        assert!(refused(&spec("10.20.0.1/16")).contains("did you mean 10.20.0.0/16"));
        assert!(refused(&spec("10.20.0.0/31")).contains("too small"));
        let mut s = spec("10.20.0.0/24");
        s.gateway = Some("10.30.0.1".parse().unwrap());
        assert!(refused(&s).contains("outside the subnet"));
        s.gateway = Some("10.20.0.255".parse().unwrap());
        assert!(refused(&s).contains("broadcast"));
        s.gateway = Some("10.20.0.0".parse().unwrap());
        assert!(refused(&s).contains("network or broadcast"));
        s.gateway = None;
        s.ranges = vec!["10.20.1.0/28".parse().unwrap()];
        assert!(refused(&s).contains("not inside the subnet"));
        s.ranges = vec!["10.20.0.0/25".parse().unwrap(), "10.20.0.64/26".parse().unwrap()];
        assert!(refused(&s).contains("overlap"));
        s.ranges = vec![];
        s.reserved = vec![parse_reservation("10.20.0.9").unwrap(), parse_reservation("10.20.0.9=again").unwrap()];
        assert!(refused(&s).contains("twice"));
        s.reserved = vec![];
        s.driver = Driver::Macvlan;
        s.hosts = vec!["edge-1".parse().unwrap()];
        assert!(refused(&s).contains("needs a parent interface on host edge-1"));
        s.hosts = vec!["edge-1,parent=eth0.100".parse().unwrap()];
        s.validate().unwrap();
        s.hosts.push("edge-1".parse().unwrap());
        assert!(refused(&s).contains("named twice"));
        assert!("edge-1,vlan=3".parse::<PoolHost>().unwrap_err().to_string().contains("HOST,parent=IFACE"));
        assert!("edge-1,parent=a/b".parse::<PoolHost>().is_err());
        let mut named = spec("10.0.0.0/24");
        named.name = "bad name".into();
        assert!(refused(&named).contains("pool name"));
    }
}
