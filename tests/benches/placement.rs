//! The placement benchmark (issue #13), pure: 10,000 replicas over 1,000 synthetic hosts on 50
//! pools, spread and binpack, median of 5 runs. Goal ≤ 0.2 s (Nomad's C2M placed ~1,500/s).
//!
//! Run: `cargo bench -p berth-e2e --bench placement`

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use berth_core::placement::{place, FleetView, HostView, Request, Strategy};

fn fleet() -> FleetView {
    let hosts = (0..1000)
        .map(|i| HostView {
            name: format!("h{i:04}"),
            online: i % 97 != 0,
            labels: BTreeMap::from([("dc".to_owned(), format!("dc{}", i % 5))]),
            cpus: 16.0,
            memory: 64 << 30,
            reserved_cpus: (i % 7) as f64,
            reserved_memory: ((i % 11) as u64) << 30,
            pools: BTreeSet::from([format!("pool{}", i % 50)]),
            replicas: 0,
        })
        .collect();
    let free = (0..50)
        .map(|p| {
            let ips = (0..400u32).map(|n| std::net::IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + (p << 16) + n + 1))).collect();
            (format!("pool{p}"), ips)
        })
        .collect();
    FleetView { hosts, free }
}

fn main() {
    let fleet = fleet();
    for strategy in [Strategy::Spread, Strategy::Binpack] {
        let request = Request {
            replicas: 10_000,
            cpus: 0.25,
            memory: 256 << 20,
            pools: (0..50).map(|p| format!("pool{p}")).collect(),
            constraints: Vec::new(),
            strategy,
            max_per_host: Some(20),
        };
        let mut times: Vec<Duration> = Vec::new();
        let mut placed = 0;
        for _ in 0..5 {
            let started = Instant::now();
            let plan = place(&request, &fleet).unwrap();
            times.push(started.elapsed());
            placed = plan.placements.len();
            assert_eq!(plan.placements.len() + plan.unplaced as usize, 10_000);
        }
        times.sort();
        println!(
            "placement {strategy:?}: 10,000 replicas over 1,000 hosts and 50 pools: median {:.3} s ({placed} placed; goal <= 0.2 s)",
            times[2].as_secs_f64()
        );
    }
}
