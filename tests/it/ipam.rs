//! IPAM against real engines, each in its own network namespace (so the pools' bridges and
//! routes never touch the machine's own network): pools, their networks, fixed addresses that
//! survive restarts, quarantine, rebuilding from the hosts, conflicts across hosts, macvlan.

use std::time::Duration;

use berth_e2e::netns::RemoteHost;
use berth_e2e::{wait_for, Berth, TEST_IMAGE};
use serde_json::Value;

/// A short bridge name unique to this test process (Linux allows 15 characters).
fn bridge(tag: &str) -> String {
    format!("b{}{tag}", std::process::id() % 100_000)
}

fn ip_of(host: &RemoteHost, container: &str, network: &str) -> String {
    host.daemon.docker(&["inspect", "-f", &format!("{{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}}"), container])
}

/// `berth --json run ARGS…` (the flag goes first: everything after the image is its command).
fn run(berth: &Berth, args: &[&str]) -> Value {
    let mut full = vec!["--json", "run"];
    full.extend(args);
    serde_json::from_str(&berth.ok(&full)).expect("berth run printed JSON")
}

/// (pool, ip, state, host, container).
type Lease = (String, String, String, Option<String>, Option<String>);

/// `ipam leases --json` without the times, for comparing before and after a rebuild.
fn leases(berth: &Berth) -> Vec<Lease> {
    let rows = berth.json(&["ipam", "leases"]);
    let mut out: Vec<_> = rows
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["state"] != "quarantined")
        .map(|r| {
            (
                r["pool"].as_str().unwrap().to_owned(),
                r["ip"].as_str().unwrap().to_owned(),
                r["state"].as_str().unwrap().to_owned(),
                r["host"].as_str().map(str::to_owned),
                r["container"].as_str().map(str::to_owned),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn fixed_addresses_from_a_pool_survive_restarts_quarantine_and_a_lost_store() {
    let mut h1 = RemoteHost::start();
    let berth = Berth::new();
    berth.ok(&["host", "add", "h1", &h1.daemon.url()]);
    berth.ok(&["sync", "--once"]);
    let br = bridge("l");
    let pool = berth.json(&[
        "ipam",
        "pool",
        "add",
        "lan",
        "--subnet",
        "10.77.0.0/24",
        "--gateway",
        "10.77.0.1",
        "--range",
        "10.77.0.0/26",
        "--reserve",
        "10.77.0.10=printer",
        "--host",
        "h1,ip=10.77.0.254",
        "--bridge-name",
        &br,
    ]);
    assert_eq!((pool["name"].as_str(), pool["segment"].as_str(), pool["size"].as_u64()), (Some("lan"), Some("lan"), Some(63)));
    assert_eq!(pool["quarantine_seconds"], 3600);

    // The network, created once, then found matching.
    let applied = berth.json(&["net", "apply", "lan"]);
    assert_eq!(applied[0]["status"], "created", "{applied}");
    assert_eq!(berth.json(&["net", "apply", "lan"])[0]["status"], "ok");
    let network: Value = serde_json::from_str(&h1.daemon.docker(&["network", "inspect", "lan"])).unwrap();
    assert_eq!(network[0]["Options"]["com.docker.network.bridge.name"], br.as_str());
    assert_eq!(network[0]["IPAM"]["Config"][0]["Subnet"], "10.77.0.0/24");
    // The host's own address goes on the bridge; the router is the containers' default route.
    assert_eq!(network[0]["IPAM"]["Config"][0]["Gateway"], "10.77.0.254");
    assert_eq!(network[0]["IPAM"]["Config"][0]["AuxiliaryAddresses"]["DefaultGatewayIPv4"], "10.77.0.1");
    assert_eq!(network[0]["Labels"]["berth.ipam.pool"], "lan");

    // Containers with fixed addresses: the next free one (the gateway is reserved), and one asked for.
    let web1 = run(&berth, &["--host", "h1", "--pool", "lan", "--name", "web1", TEST_IMAGE, "sleep", "3600"]);
    assert_eq!(web1["ip"], "10.77.0.2", "{web1}");
    let web2 = run(&berth, &["--host", "h1", "--pool", "lan", "--ip", "10.77.0.20", "--name", "web2", TEST_IMAGE, "sleep", "3600"]);
    assert_eq!(web2["ip"], "10.77.0.20");
    assert_eq!(ip_of(&h1, "web1", "lan"), "10.77.0.2");
    // Taken, reserved or outside: refused with the reason, and no container made.
    for (ip, why) in [("10.77.0.20", "leased to container web2 on host h1"), ("10.77.0.10", "reserved (printer)"), ("10.78.0.5", "outside the pool's subnet")] {
        let err = berth.fails(&["run", "--host", "h1", "--pool", "lan", "--ip", ip, "--name", "nope", TEST_IMAGE, "sleep", "1"]);
        assert!(err.contains(why), "{ip}: {err}");
    }
    assert!(h1.daemon.docker(&["ps", "-aq", "--filter", "name=^nope$"]).is_empty());

    // A restart, then a daemon restart: the same addresses.
    h1.daemon.docker(&["restart", "-t", "0", "web1"]);
    assert_eq!(ip_of(&h1, "web1", "lan"), "10.77.0.2");
    h1.daemon.stop();
    h1.daemon.start_again();
    wait_for("web1 and web2 to run again after the daemon restart", Duration::from_secs(30), || {
        let running = h1.daemon.docker(&["ps", "--filter", "status=running", "--format", "{{.Names}}"]);
        if running.contains("web1") && running.contains("web2") {
            Ok(())
        } else {
            Err(running)
        }
    });
    assert_eq!((ip_of(&h1, "web1", "lan"), ip_of(&h1, "web2", "lan")), ("10.77.0.2".into(), "10.77.0.20".into()));

    berth.ok(&["sync", "--once"]);
    let check = berth.json(&["ipam", "check"]);
    assert_eq!((check["conflicts"].as_array().unwrap().len(), check["orphans"].as_array().unwrap().len()), (0, 0), "{check}");
    let before = leases(&berth);
    assert!(before.contains(&("lan".into(), "10.77.0.2".into(), "leased".into(), Some("h1".into()), Some("web1".into()))), "{before:?}");
    assert!(before.contains(&("lan".into(), "10.77.0.10".into(), "reserved".into(), None, None)));

    // The store is lost: a new one rebuilds the pool and its leases from the host alone.
    let spec_before = berth.json(&["ipam", "pool", "show", "lan"]);
    let fresh = Berth::new();
    fresh.ok(&["host", "add", "h1", &h1.daemon.url()]);
    fresh.ok(&["sync", "--once"]);
    let rebuilt = fresh.json(&["ipam", "rebuild"]);
    assert_eq!(rebuilt["pools_added"], serde_json::json!(["lan"]), "{rebuilt}");
    assert_eq!(leases(&fresh), before);
    let spec_after = fresh.json(&["ipam", "pool", "show", "lan"]);
    for field in ["subnet", "gateway", "ranges", "reserved", "segment", "hosts", "driver", "bridge_name", "quarantine_seconds", "size"] {
        assert_eq!(spec_after[field], spec_before[field], "{field}");
    }
    // Rebuilding again changes nothing.
    let again = fresh.json(&["ipam", "rebuild"]);
    assert_eq!((again["pools_kept"].clone(), again["leases_added"].as_array().unwrap().len()), (serde_json::json!(["lan"]), 0));

    // rm: the container goes, its address goes into quarantine and is not handed out again.
    let removed = berth.json(&["rm", "-f", "h1/web2"]);
    assert_eq!(removed["released"][0]["state"], "quarantined", "{removed}");
    assert!(h1.daemon.docker(&["ps", "-aq", "--filter", "name=^web2$"]).is_empty());
    let err = berth.fails(&["ipam", "lease", "lan", "--ip", "10.77.0.20"]);
    assert!(err.contains("in quarantine until"), "{err}");
    let next = berth.json(&["ipam", "lease", "lan"]);
    assert_eq!(next["ip"], "10.77.0.3", "the next free address, not the one just released");

    // A container made by hand on a pool address is an orphan; the repair adopts it.
    h1.daemon.docker(&["run", "-d", "--name", "stray", "--network", "lan", "--ip", "10.77.0.30", TEST_IMAGE, "sleep", "3600"]);
    berth.ok(&["sync", "--once"]);
    let check = berth.json(&["ipam", "check"]);
    let orphans = check["orphans"].as_array().unwrap();
    assert_eq!(orphans.len(), 1, "{check}");
    assert_eq!((orphans[0]["kind"].as_str(), orphans[0]["ip"].as_str()), (Some("unleased"), Some("10.77.0.30")));
    assert_eq!(orphans[0]["repair"]["action"], "adopt");
    berth.ok(&["ipam", "check", "--repair"]);
    assert!(leases(&berth).contains(&("lan".into(), "10.77.0.30".into(), "leased".into(), Some("h1".into()), Some("stray".into()))));
    let clean = berth.json(&["ipam", "check"]);
    assert!(clean["orphans"].as_array().unwrap().is_empty() && clean["conflicts"].as_array().unwrap().is_empty(), "{clean}");

    // Drift: the network removed by hand is created again; one with another subnet is reported.
    h1.daemon.docker(&["rm", "-f", "web1", "stray"]);
    h1.daemon.docker(&["network", "rm", "lan"]);
    h1.daemon.docker(&["network", "create", "--subnet", "10.99.0.0/24", "lan"]);
    let out = berth.run(&["net", "apply", "lan", "--json"]);
    assert_eq!(out.status.code(), Some(1), "drift is a failure for scripts");
    let drift: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(drift[0]["status"], "drift", "{drift}");
    let reasons = drift[0]["drift"].to_string();
    assert!(reasons.contains("not made by Berth") && reasons.contains("subnet is 10.99.0.0/24"), "{reasons}");
}

#[test]
fn one_address_on_two_hosts_of_a_segment_is_a_conflict() {
    let (a, b) = (RemoteHost::start(), RemoteHost::start());
    let berth = Berth::new();
    berth.ok(&["host", "add", "a", &a.daemon.url()]);
    // The other host over SSH, as a far datacenter would be.
    let known_hosts = berth.dir.path().join("known_hosts").to_string_lossy().into_owned();
    berth.ok(&["host", "add", "b", &b.url(), "--identity", &b.sshd.client_key.to_string_lossy(), "--known-hosts", &known_hosts]);
    berth.ok(&["host", "trust", "b", "--yes"]);
    berth.ok(&["ipam", "pool", "add", "seg", "--subnet", "10.78.0.0/24", "--segment", "vlan78", "--host", "a", "--host", "b", "--bridge-name", &bridge("s")]);
    let applied = berth.json(&["net", "apply", "seg"]);
    assert!(applied.as_array().unwrap().iter().all(|r| r["status"] == "created"), "{applied}");
    berth.ok(&["run", "--host", "a", "--pool", "seg", "--ip", "10.78.0.5", "--name", "api", TEST_IMAGE, "sleep", "3600"]);
    // On the other host someone starts a container on the same address by hand.
    b.daemon.docker(&["run", "-d", "--name", "copy", "--network", "seg", "--ip", "10.78.0.5", TEST_IMAGE, "sleep", "3600"]);
    berth.ok(&["sync", "--once"]);
    let check = berth.json(&["ipam", "check"]);
    let conflicts = check["conflicts"].as_array().unwrap();
    assert_eq!(conflicts.len(), 1, "{check}");
    let c = &conflicts[0];
    assert_eq!((c["kind"].as_str(), c["ip"].as_str(), c["segment"].as_str()), (Some("duplicate"), Some("10.78.0.5"), Some("vlan78")));
    let hosts: Vec<&str> = c["containers"].as_array().unwrap().iter().map(|r| r["host"].as_str().unwrap()).collect();
    assert_eq!(hosts, ["a", "b"]);
    assert!(c["repair"].is_null(), "a duplicate has no automatic repair");
    assert_eq!(berth.run(&["ipam", "check", "--exit-code"]).status.code(), Some(1));
    let text = berth.ok(&["ipam", "check"]);
    assert!(text.contains("10.78.0.5 is in use by 2 containers of segment vlan78: a/api, b/copy"), "{text}");
}

#[test]
fn macvlan_containers_on_a_veth_parent_reach_each_other() {
    let h = RemoteHost::start();
    // The parent: one end of a veth pair inside the host's namespace, never the machine's NIC.
    let ns = &h.netns.name;
    for args in [
        vec!["netns", "exec", ns, "ip", "link", "add", "mvp0", "type", "veth", "peer", "name", "mvp1"],
        vec!["netns", "exec", ns, "ip", "link", "set", "mvp0", "up"],
        vec!["netns", "exec", ns, "ip", "link", "set", "mvp1", "up"],
    ] {
        let out = std::process::Command::new("ip").args(&args).output().unwrap();
        assert!(out.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let berth = Berth::new();
    berth.ok(&["host", "add", "m", &h.daemon.url()]);
    berth.ok(&["ipam", "pool", "add", "mv", "--subnet", "10.79.0.0/24", "--gateway", "10.79.0.1", "--driver", "macvlan", "--parent", "mvp0", "--host", "m"]);
    assert_eq!(berth.json(&["net", "apply", "mv"])[0]["status"], "created");
    let one = run(&berth, &["--host", "m", "--pool", "mv", "--name", "one", TEST_IMAGE, "sleep", "3600"]);
    let two = run(&berth, &["--host", "m", "--pool", "mv", "--name", "two", TEST_IMAGE, "sleep", "3600"]);
    assert_eq!((one["ip"].as_str(), two["ip"].as_str()), (Some("10.79.0.2"), Some("10.79.0.3")));
    let network: Value = serde_json::from_str(&h.daemon.docker(&["network", "inspect", "mv"])).unwrap();
    assert_eq!((network[0]["Driver"].as_str(), network[0]["Options"]["parent"].as_str()), (Some("macvlan"), Some("mvp0")));
    let ping = h.daemon.docker(&["exec", "one", "ping", "-c", "2", "-W", "2", "10.79.0.3"]);
    assert!(ping.contains("2 packets received"), "{ping}");
}

#[test]
fn bad_pool_definitions_and_lease_requests_say_what_is_wrong_and_write_nothing() {
    let berth = Berth::new();
    berth.ok(&["host", "add", "x", "unix:///nowhere/docker.sock"]);
    berth.ok(&["ipam", "pool", "add", "a", "--subnet", "10.50.0.0/16", "--host", "x", "--segment", "s1"]);
    for (args, says) in [
        (vec!["--subnet", "10.50.3.0/24"], "overlaps pool \"a\""),
        (vec!["--subnet", "10.60.0.0/33"], "not a CIDR"),
        (vec!["--subnet", "10.60.0.1/24"], "did you mean 10.60.0.0/24"),
        (vec!["--subnet", "10.60.0.0/24", "--gateway", "10.61.0.1"], "outside the subnet"),
        (vec!["--subnet", "10.60.0.0/24", "--gateway", "10.60.0.255"], "broadcast"),
        (vec!["--subnet", "10.60.0.0/24", "--range", "10.61.0.0/28"], "not inside the subnet"),
        (vec!["--subnet", "10.60.0.0/24", "--reserve", "10.60.0.0=net"], "network or broadcast"),
        (vec!["--subnet", "10.60.0.0/24", "--host", "x", "--segment", "s1"], "already in pool \"a\" of segment \"s1\""),
        (vec!["--subnet", "10.60.0.0/24", "--host", "nohost"], "no host named \"nohost\""),
        (vec!["--subnet", "10.60.0.0/24", "--driver", "ipvlan"], "use bridge or macvlan"),
        (vec!["--subnet", "10.60.0.0/24", "--driver", "macvlan", "--host", "x"], "needs a parent interface"),
        (vec!["--subnet", "10.60.0.0/24", "--quarantine", "soon"], "write e.g. 1h"),
        (vec!["--subnet", "10.60.0.0/24", "--quarantine", "2years"], "longer than the most allowed"),
        (
            vec!["--subnet", "10.60.0.0/24", "--gateway", "10.60.0.1", "--bridge-name", "br-lan", "--host", "x", "--segment", "s2"],
            "needs its own address on the LAN bridge (x,ip=IP)",
        ),
    ] {
        let mut full = vec!["ipam", "pool", "add", "b"];
        full.extend(&args);
        let err = berth.fails(&full);
        assert!(err.contains(says), "{args:?}: {err}");
    }
    let pools = berth.json(&["ipam", "pool", "ls"]);
    assert_eq!(pools.as_array().unwrap().len(), 1, "nothing half-written: {pools}");

    assert!(berth.fails(&["ipam", "lease", "nopool"]).contains("no IP pool named \"nopool\""));
    assert!(berth.fails(&["ipam", "lease", "a", "--ip", "10.50.0.0"]).contains("network or broadcast"));
    assert!(berth.fails(&["ipam", "lease", "a", "--ip", "banana"]).contains("not an IPv4 or IPv6 address"));
    assert!(berth.fails(&["ipam", "release", "a", "10.50.0.9"]).contains("not leased"));
    assert!(berth.fails(&["ipam", "release", "a", "fd00::5"]).contains("outside the pool's subnet"));
    // No gateway given: Docker takes the first address, so Berth never hands it out.
    let first = berth.json(&["ipam", "leases", "a"]);
    assert_eq!((first[0]["ip"].as_str(), first[0]["state"].as_str()), (Some("10.50.0.1"), Some("reserved")), "{first}");
    berth.ok(&["ipam", "reserve", "a", "10.50.0.9", "--reason", "switch"]);
    assert!(berth.fails(&["ipam", "lease", "a", "--ip", "10.50.0.9"]).contains("reserved (switch)"));
    // Lifting a reservation frees the address at once.
    berth.ok(&["ipam", "release", "a", "10.50.0.9"]);
    assert_eq!(berth.json(&["ipam", "lease", "a", "--ip", "10.50.0.9"])["state"], "leased");
    assert!(berth.fails(&["ipam", "pool", "rm", "a"]).contains("still has 1 leased addresses"));
    berth.ok(&["ipam", "pool", "rm", "a", "--force"]);
    assert!(berth.json(&["ipam", "leases"]).as_array().unwrap().is_empty());
    assert!(berth.fails(&["net", "apply", "a"]).contains("no IP pool named"));
    assert!(berth.fails(&["run", "--host", "x", "--pool", "a", "--name", "web", "img"]).contains("no IP pool named"));
    assert!(berth.fails(&["run", "--host", "x", "--pool", "a", "--name", "web/1", "img"]).contains("invalid container name"));
    assert!(berth
        .fails(&["run", "--host", "x", "--pool", "a", "--name", "web", "--restart", "sometimes", "img"])
        .contains("use no, always, unless-stopped or on-failure"));
}
