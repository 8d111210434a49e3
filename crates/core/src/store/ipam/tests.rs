//! The IPAM store against a model: random sequences of lease / release / reserve never hand out
//! an address twice, and concurrent allocators (separate connections, as separate processes
//! would have) neither.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use proptest::prelude::*;

use super::*;
use crate::ipam::pool::PoolSpec;
use crate::model::HostConfig;

/// A pool whose gateway is its first address.
fn spec(name: &str, subnet: &str, quarantine_seconds: u64) -> PoolSpec {
    let net: ipnet::IpNet = subnet.parse().unwrap();
    let gateway = crate::ipam::pool::from_num(crate::ipam::pool::to_num(net.network()) + 1, &net);
    PoolSpec { gateway: Some(gateway), quarantine_seconds, ..PoolSpec::new(name, net) }
}

fn store_in(dir: &std::path::Path) -> Store {
    Store::open(&dir.join("berth.db")).unwrap()
}

#[derive(Debug, Clone)]
enum Op {
    LeaseNext,
    Lease(u8),
    Release(u8),
    Reserve(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::LeaseNext),
        2 => (0u8..16).prop_map(Op::Lease),
        3 => (0u8..16).prop_map(Op::Release),
        1 => (0u8..16).prop_map(Op::Reserve),
    ]
}

/// 10.0.0.0/28: 14 host addresses, .1 the gateway, so 13 to hand out: small enough to run out.
fn addr(i: u8) -> IpAddr {
    IpAddr::from([10, 0, 0, i])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_sequences_never_hand_out_an_address_twice(ops in proptest::collection::vec(op(), 1..120), quarantine in prop_oneof![Just(0u64), Just(3600u64)]) {
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(dir.path());
        store.add_pool(&spec("p", "10.0.0.0/28", quarantine)).unwrap();
        // The model: what is leased, quarantined, reserved (the gateway from the start).
        let (mut leased, mut held, mut reserved) = (BTreeSet::new(), BTreeSet::new(), BTreeSet::from([1u8]));
        let usable = |i: u8| (1..=14).contains(&i);
        for op in ops {
            match op {
                Op::LeaseNext => match store.lease("p", &LeaseRequest::default()) {
                    Ok(row) => {
                        let ip: IpAddr = row.ip.parse().unwrap();
                        let IpAddr::V4(v4) = ip else { unreachable!() };
                        let i = v4.octets()[3];
                        prop_assert!(usable(i), "handed out {ip}");
                        prop_assert!(!leased.contains(&i) && !held.contains(&i) && !reserved.contains(&i), "handed out {ip} twice");
                        leased.insert(i);
                    }
                    Err(Error::PoolExhausted { .. }) => {
                        let free = (1..=14u8).filter(|i| !leased.contains(i) && !held.contains(i) && !reserved.contains(i)).count();
                        prop_assert_eq!(free, 0, "exhausted with free addresses left");
                    }
                    Err(e) => prop_assert!(false, "{e}"),
                },
                Op::Lease(i) => {
                    let ok = usable(i) && !leased.contains(&i) && !held.contains(&i) && !reserved.contains(&i);
                    let got = store.lease("p", &LeaseRequest { ip: Some(addr(i)), ..Default::default() });
                    prop_assert_eq!(got.is_ok(), ok, "lease {} → {:?}", i, got);
                    if ok { leased.insert(i); }
                }
                Op::Release(i) => {
                    let got = store.release("p", addr(i));
                    let was_leased = leased.remove(&i);
                    let lifts = !was_leased && reserved.contains(&i) && i != 1;
                    prop_assert_eq!(got.is_ok(), was_leased || lifts, "release {} → {:?}", i, got);
                    if was_leased && quarantine > 0 { held.insert(i); }
                    if lifts { reserved.remove(&i); }
                }
                Op::Reserve(i) => {
                    let ok = usable(i) && !leased.contains(&i) && !held.contains(&i) && !reserved.contains(&i);
                    let got = store.reserve("p", addr(i), "test");
                    prop_assert_eq!(got.is_ok(), ok, "reserve {} → {:?}", i, got);
                    if ok { reserved.insert(i); }
                }
            }
        }
        // The store says exactly what the model says.
        let rows = store.addresses(Some("p")).unwrap();
        let of = |state: AddressState| -> BTreeSet<u8> {
            rows.iter().filter(|r| r.state == state).map(|r| match r.ip.parse::<IpAddr>().unwrap() { IpAddr::V4(v) => v.octets()[3], _ => unreachable!() }).collect()
        };
        prop_assert_eq!(of(AddressState::Leased), leased);
        prop_assert_eq!(of(AddressState::Quarantined), held);
        prop_assert_eq!(of(AddressState::Reserved), reserved);
    }
}

#[test]
fn concurrent_allocators_on_separate_connections_never_share_an_address() {
    let dir = tempfile::tempdir().unwrap();
    store_in(dir.path()).add_pool(&spec("wide", "10.8.0.0/22", 3600)).unwrap();
    let path = Arc::new(dir.path().to_owned());
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let path = Arc::clone(&path);
            std::thread::spawn(move || {
                let store = store_in(&path);
                let mut mine = Vec::new();
                for i in 0..150 {
                    mine.push(store.lease("wide", &LeaseRequest::default()).unwrap().ip);
                    // Some release as they go, so the cursor wraps over quarantined holes.
                    if i % 10 == 9 {
                        let ip = mine.remove(0);
                        store.release("wide", ip.parse().unwrap()).unwrap();
                    }
                }
                let _ = t;
                mine
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in threads {
        all.extend(t.join().unwrap());
    }
    let distinct: BTreeSet<_> = all.iter().collect();
    assert_eq!(distinct.len(), all.len(), "an address was handed out twice");
    let store = store_in(dir.path());
    let leased = store.addresses(Some("wide")).unwrap().into_iter().filter(|r| r.state == AddressState::Leased).count();
    assert_eq!(leased, all.len());
}

#[test]
fn next_free_moves_on_past_a_release_and_wraps_around() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(dir.path());
    store
        .add_host(&HostConfig { name: "h".into(), endpoint: crate::endpoint::Endpoint::parse("unix:///x.sock", None).unwrap(), labels: Default::default() })
        .unwrap();
    let mut s = spec("p", "10.0.0.0/29", 0); // .1 gateway, .2-.6 to hand out
    s.hosts = vec!["h".parse().unwrap()];
    store.add_pool(&s).unwrap();
    let lease = || store.lease("p", &LeaseRequest::default()).map(|r| r.ip);
    assert_eq!(lease().unwrap(), "10.0.0.2");
    assert_eq!(lease().unwrap(), "10.0.0.3");
    store.release("p", "10.0.0.2".parse().unwrap()).unwrap(); // no quarantine: free at once
                                                              // …but the cursor moves on before it comes back to .2.
    assert_eq!(lease().unwrap(), "10.0.0.4");
    assert_eq!(lease().unwrap(), "10.0.0.5");
    assert_eq!(lease().unwrap(), "10.0.0.6");
    assert_eq!(lease().unwrap(), "10.0.0.2");
    assert!(matches!(lease(), Err(Error::PoolExhausted { quarantined: 0, .. })));
    // A host in a second pool of the same segment is refused; another segment is fine.
    let mut other = spec("q", "10.1.0.0/24", 0);
    other.segment = "p".into();
    other.hosts = vec!["h".parse().unwrap()];
    assert!(store.add_pool(&other).unwrap_err().to_string().contains("one pool per segment"));
    other.segment = "elsewhere".into();
    store.add_pool(&other).unwrap();
    // Many at once: all of them or none.
    store.release("p", "10.0.0.4".parse().unwrap()).unwrap();
    store.release("p", "10.0.0.5".parse().unwrap()).unwrap();
    let error = store.lease_many("p", 3, &LeaseRequest::default()).unwrap_err().to_string();
    assert!(error.contains("has 2 free addresses, fewer than the 3 asked for"), "{error}");
    assert_eq!(store.addresses(Some("p")).unwrap().iter().filter(|r| r.state == AddressState::Leased).count(), 3, "nothing half-written");
    let two = store.lease_many("p", 2, &LeaseRequest::default()).unwrap();
    assert_eq!(two.iter().map(|r| r.ip.as_str()).collect::<Vec<_>>(), ["10.0.0.4", "10.0.0.5"]);
    // IPv6 too.
    store.add_pool(&spec("six", "fd00:1::/120", 0)).unwrap();
    assert_eq!(store.lease("six", &LeaseRequest::default()).unwrap().ip, "fd00:1::2");
}

#[test]
fn a_repair_releases_only_while_the_holder_is_unchanged_and_a_release_says_when_it_is_free() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(dir.path());
    store.add_pool(&spec("p", "10.0.0.0/24", 0)).unwrap();
    let web = LeaseRequest { ip: Some("10.0.0.5".parse().unwrap()), host: Some("h".into()), container: Some("web".into()) };
    store.lease("p", &web).unwrap();
    let ip: IpAddr = "10.0.0.5".parse().unwrap();
    // A finding about "old" on that address is stale: the address is web's now.
    let error = store.release_held("p", ip, Some(("h", "old"))).unwrap_err().to_string();
    assert!(error.contains("no longer leased to h/old"), "{error}");
    assert_eq!(store.addresses(Some("p")).unwrap().iter().filter(|r| r.state == AddressState::Leased).count(), 1);
    // With no quarantine the address is free at once, and the answer says so.
    assert_eq!(store.release_held("p", ip, Some(("h", "web"))).unwrap().state, AddressState::Free);
    // Another family's address with the same number is not this pool's.
    assert!(store.release("p", "::a00:5".parse().unwrap()).unwrap_err().to_string().contains("outside the pool's subnet"));
    // A batch is bounded.
    let error = store.lease_many("p", MAX_BATCH + 1, &LeaseRequest::default()).unwrap_err().to_string();
    assert!(error.contains("at once"), "{error}");
}

#[test]
fn a_replica_claims_its_address_from_any_of_its_containers_and_from_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(dir.path());
    store.add_pool(&spec("p", "10.0.0.0/24", 3600)).unwrap();
    let ip: IpAddr = "10.0.0.5".parse().unwrap();
    // ipam rebuild gave the address to the kept (stopped) container of revision 1.
    store.lease("p", &LeaseRequest { ip: Some(ip), host: Some("h".into()), container: Some("web-prod-0-r1".into()) }).unwrap();
    let (row, before) = store.claim_lease("p", ip, "h", "web-prod-0-r3", "web-prod-0-r").unwrap();
    assert_eq!((row.container.as_deref(), before.as_deref()), (Some("web-prod-0-r3"), Some("web-prod-0-r1")));
    // Another replica, another host or another container cannot take it.
    for (host, container, kin, why) in [
        ("h", "web-prod-1-r3", "web-prod-1-r", "leased to h/web-prod-0-r3"),
        ("g", "web-prod-0-r4", "web-prod-0-r", "leased to host h"),
        ("h", "db", "db-r", "leased to h/web-prod-0-r3"),
    ] {
        let error = store.claim_lease("p", ip, host, container, kin).unwrap_err().to_string();
        assert!(error.contains(why), "{error}");
    }
    // Claiming what one holds changes nothing; a quarantined address comes back to it.
    assert_eq!(store.claim_lease("p", ip, "h", "web-prod-0-r3", "web-prod-0-r").unwrap().1.as_deref(), Some("web-prod-0-r3"));
    store.release("p", ip).unwrap();
    let (row, before) = store.claim_lease("p", ip, "h", "web-prod-0-r1", "web-prod-0-r").unwrap();
    assert_eq!((row.state, before), (AddressState::Leased, None));
}
