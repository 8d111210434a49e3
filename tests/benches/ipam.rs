//! IPAM speed (issue #6), one run:
//! - allocate every address of a /16 (65,534 leases), one transaction each, as `berth ipam
//!   lease` and `berth run` take them (goal ≤ 1 s);
//! - `ipam check` over a mirror of 10,000 containers on 100 hosts in 10 pools (goal ≤ 100 ms),
//!   in the core and as the CLI (`berth ipam check --json`, process start included).
//!
//! Run: `cargo bench -p berth-e2e --bench ipam`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use berth_core::endpoint::Endpoint;
use berth_core::ipam::{PoolHost, PoolSpec};
use berth_core::model::{ContainerFacts, EngineFacts, HostConfig, NetworkFacts, Snapshot};
use berth_core::store::ipam::LeaseRequest;
use berth_core::store::Store;

fn pool(name: &str, subnet: &str, hosts: Vec<PoolHost>) -> PoolSpec {
    PoolSpec { hosts, ..PoolSpec::new(name, subnet.parse().unwrap()) }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Every address of a /16 leased at once (`berth ipam lease POOL --count 65534`).
fn fill_a_slash_16_at_once(dir: &Path) -> (Duration, usize) {
    let store = Store::open(&dir.join("batch.db")).unwrap();
    store.add_pool(&pool("wide", "10.20.0.0/16", vec![])).unwrap();
    let started = Instant::now();
    let rows = store.lease_many("wide", 65_534, &LeaseRequest::default()).unwrap();
    let took = started.elapsed();
    assert!(matches!(store.lease("wide", &LeaseRequest::default()), Err(berth_core::Error::PoolExhausted { .. })));
    (took, rows.len())
}

/// Every address of a /16 leased one call at a time, as `berth run` takes them.
fn fill_a_slash_16(dir: &Path) -> (Duration, usize) {
    let store = Store::open(&dir.join("fill.db")).unwrap();
    store.add_pool(&pool("wide", "10.20.0.0/16", vec![])).unwrap();
    let started = Instant::now();
    let mut n = 0;
    loop {
        match store.lease("wide", &LeaseRequest::default()) {
            Ok(_) => n += 1,
            Err(berth_core::Error::PoolExhausted { .. }) => break,
            Err(e) => panic!("{e}"),
        }
    }
    (started.elapsed(), n)
}

/// 100 hosts × 100 containers, 10 pools of 10 hosts; 95 % of the addresses leased, the rest
/// used without a lease, and 10 addresses used twice.
fn fleet(path: &Path) -> Store {
    let store = Store::open(path).unwrap();
    let engine = EngineFacts { api_version: "1.41".into(), server_version: None, info: "{}".into() };
    let mut hosts_of_pool: BTreeMap<usize, Vec<PoolHost>> = BTreeMap::new();
    let mut uses = Vec::new();
    for h in 0..100usize {
        let name = format!("node{h:03}");
        let host =
            store.add_host(&HostConfig { name: name.clone(), endpoint: Endpoint::parse("tcp://127.0.0.1:1", None).unwrap(), labels: BTreeMap::new() }).unwrap();
        store.mark_online(host.id, &engine).unwrap();
        let p = h / 10;
        hosts_of_pool.entry(p).or_default().push(PoolHost { host: name.clone(), parent: None, ip: None });
        let containers = (0..100usize)
            .map(|c| {
                // Ten containers of node000 take an address of node001's.
                let index = if h == 0 && c < 10 { 100 + c } else { (h % 10) * 100 + c };
                let ip = format!("10.{}.{}.{}", 100 + p, index / 250, index % 250 + 2);
                let id = format!("{h:016x}{c:048x}");
                let cname = format!("svc-{h}-{c}");
                uses.push((p, name.clone(), cname.clone(), ip.clone(), !(c % 20 == 19 || (h == 0 && c < 10))));
                ContainerFacts {
                    inspect: "{}".into(),
                    name: cname,
                    image: "shop/api:1".into(),
                    image_id: None,
                    state: "running".into(),
                    exit_code: Some(0),
                    created_ms: 1_790_000_000_000,
                    started_ms: None,
                    finished_ms: None,
                    health: None,
                    labels: BTreeMap::from([("app".to_owned(), "shop".to_owned())]),
                    ips: BTreeMap::from([(format!("pool{p}"), ip)]),
                    id,
                }
            })
            .collect();
        let network = NetworkFacts {
            id: format!("{h:064x}"),
            name: format!("pool{p}"),
            driver: Some("bridge".into()),
            scope: Some("local".into()),
            subnets: vec![format!("10.{}.0.0/16", 100 + p)],
            inspect: "{}".into(),
        };
        let snapshot = Snapshot { engine: engine.clone(), containers, images: vec![], networks: vec![network], volumes: vec![] };
        store.write_snapshot(host.id, &snapshot).unwrap();
    }
    for (p, hosts) in hosts_of_pool {
        store.add_pool(&pool(&format!("pool{p}"), &format!("10.{}.0.0/16", 100 + p), hosts)).unwrap();
    }
    for (p, host, container, ip, leased) in uses {
        if leased {
            let request = LeaseRequest { ip: Some(ip.parse().unwrap()), host: Some(host), container: Some(container) };
            store.lease(&format!("pool{p}"), &request).unwrap();
        }
    }
    store
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    println!("allocate every address of a /16 (goal ≤ 1 s):");
    let (took, n) = fill_a_slash_16_at_once(dir.path());
    println!(
        "  {n} leases in one transaction          {:>8.3} s   ({:.1} µs a lease; `ipam lease --count`)",
        took.as_secs_f64(),
        took.as_secs_f64() * 1e6 / n as f64
    );
    let (took, n) = fill_a_slash_16(dir.path());
    println!(
        "  {n} leases, one transaction each       {:>8.3} s   ({:.1} µs a lease; `ipam lease`, `run`)",
        took.as_secs_f64(),
        took.as_secs_f64() * 1e6 / n as f64
    );

    let db = dir.path().join("fleet.db");
    let store = fleet(&db);
    let mut runs = Vec::new();
    let mut report = None;
    for _ in 0..7 {
        let t = Instant::now();
        report = Some(berth_core::ipam::check(&store).unwrap());
        runs.push(t.elapsed());
    }
    let report = report.unwrap();
    println!("\nipam check, 10,000 containers on 100 hosts in 10 pools (goal ≤ 100 ms):");
    println!(
        "  core (store reads + reconciliation)   {:>9}   median of 7; {} conflicts, {} orphans found",
        ms(median(runs)),
        report.conflicts.len(),
        report.orphans.len()
    );
    assert_eq!(report.conflicts.len(), 10, "the ten duplicated addresses");
    let berth = std::env::current_exe().unwrap().parent().unwrap().parent().unwrap().join("berth");
    let mut cli = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let out = std::process::Command::new(&berth).args(["--db", &db.to_string_lossy(), "ipam", "check", "--json"]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        cli.push(t.elapsed());
    }
    println!("  berth ipam check --json (a process)   {:>9}   median of 5", ms(median(cli)));
}
