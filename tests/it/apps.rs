//! Apps through the real `berth` binary: app files applied as revisions (bad files refused with
//! the key named and nothing stored); placement, deploys, rolling updates with rollback, drift,
//! scaling and a rebuild on the test bed of three namespaced engines over two segments, one of
//! them over SSH behind a 150 ms relay; compose projects shown as apps.

use std::collections::BTreeMap;
use std::time::Duration;

use berth_e2e::netns::RemoteHost;
use berth_e2e::ssh::{free_port, DelayRelay, Sshd};
use berth_e2e::{Berth, Daemon, TEST_IMAGE};
use serde_json::Value;

const APP: &str = r#"
name = "shop-web"
image = "base/jre:8"
command = ["sh", "-c", "exec /app/bin/start"]
replicas = 3
[package]
source = "dist/shop-web.tar.gz"
path = "/app"
[resources]
cpus = 0.5
memory = "256MiB"
[placement]
pools = ["lan-sh"]
strategy = "spread"
[env.prod]
vars = { DB_URL = "jdbc:mysql://10.20.0.9/shop", DB_PASSWORD = "keyring:shop-db" }
files = { "/app/conf/app.properties" = "conf/prod.properties" }
[env.test]
replicas = 1
"#;

fn app_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("dist")).unwrap();
    std::fs::create_dir_all(dir.path().join("conf")).unwrap();
    std::fs::write(dir.path().join("start"), b"exec sleep 3600\n").unwrap();
    let tar = std::process::Command::new("tar").args(["-czf", "dist/shop-web.tar.gz", "start"]).current_dir(dir.path()).status().unwrap();
    assert!(tar.success());
    std::fs::write(dir.path().join("conf/prod.properties"), b"k=v\n").unwrap();
    std::fs::write(dir.path().join("shop.toml"), APP).unwrap();
    dir
}

#[test]
fn an_app_file_is_applied_as_revisions_and_listed_per_environment() {
    let berth = Berth::new();
    berth.ok(&["ipam", "pool", "add", "lan-sh", "--subnet", "10.20.0.0/24"]);
    let dir = app_dir();
    let file = dir.path().join("shop.toml");
    let file = file.to_str().unwrap();
    assert_eq!(berth.ok(&["app", "apply", file]).trim(), "shop-web: revision 1");
    let again = berth.json(&["app", "apply", file]);
    assert_eq!((again["revision"].as_i64(), again["new"].as_bool()), (Some(1), Some(false)), "the same file is no new revision");
    std::fs::write(dir.path().join("shop.toml"), APP.replace("replicas = 3", "replicas = 4")).unwrap();
    assert_eq!(berth.ok(&["app", "apply", file]).trim(), "shop-web: revision 2");
    let rows = berth.json(&["app", "ls"]);
    assert_eq!(
        rows,
        serde_json::json!([
            {"name": "shop-web", "env": "prod", "revision": 2, "desired": 4, "running": 0, "healthy": 0, "kind": "app", "deployed": null, "services": []},
            {"name": "shop-web", "env": "test", "revision": 2, "desired": 1, "running": 0, "healthy": 0, "kind": "app", "deployed": null, "services": []},
        ])
    );
    let audit = berth.json(&["audit", "--kind", "app"]);
    assert_eq!(audit.as_array().unwrap().len(), 2, "one row per new revision: {audit}");
    assert!(!berth.ok(&["audit", "--kind", "app", "--json"]).contains("jdbc:mysql"), "the audit log holds no variable's value");
}

#[test]
fn bad_app_files_name_the_key_and_store_nothing() {
    let berth = Berth::new();
    berth.ok(&["ipam", "pool", "add", "lan-sh", "--subnet", "10.20.0.0/24"]);
    let dir = app_dir();
    let file = dir.path().join("shop.toml");
    for (text, expected) in [
        (APP.replace("replicas = 3", "replicas = 3\ncolour = \"red\""), "unknown field `colour`"),
        (APP.replace("\"256MiB\"", "\"lots\""), "resources.memory: \"lots\" is not a size"),
        (APP.replace("[\"lan-sh\"]", "[\"lan-xx\"]"), "placement.pools: there is no IP pool \"lan-xx\""),
        (APP.replace("dist/shop-web.tar.gz", "dist/missing.tar.gz"), "package.source"),
        (APP.replace("replicas = 3", "replicas = 1000000000"), "is more than the 100000"),
    ] {
        std::fs::write(&file, &text).unwrap();
        let err = berth.fails(&["app", "apply", file.to_str().unwrap()]);
        assert!(err.contains(expected), "{expected}: {err}");
    }
    // A package that is not the tar.gz it says it is.
    std::fs::write(&file, APP).unwrap();
    std::fs::write(dir.path().join("dist/shop-web.tar.gz"), b"not a tar").unwrap();
    let err = berth.fails(&["app", "apply", file.to_str().unwrap()]);
    assert!(err.contains("package.source") && err.contains("not a readable tar"), "{err}");
    assert_eq!(berth.json(&["app", "ls"]), serde_json::json!([]), "nothing was stored");
    let err = berth.fails(&["app", "apply", "/no/such/app.toml"]);
    assert!(err.contains("/no/such/app.toml"), "{err}");
}

/// The rollout app: a package (tar.gz) whose start script marks the replica ready, and a
/// config file per environment.
const SHOP: &str = r#"
name = "shop"
image = "berth-test:latest"
command = ["sh", "/app/bin/start"]
replicas = 6
[package]
source = "dist/shop.tar.gz"
path = "/app"
[resources]
memory = "64MiB"
[placement]
pools = ["lan-sh", "lan-bj"]
strategy = "spread"
[health]
cmd = ["test", "-f", "/app/ready"]
interval = "1s"
retries = 2
start_period = "1s"
[update]
parallelism = 2
order = "stop-first"
failure_action = "rollback"
monitor = "1s"
[env.prod]
vars = { MODE = "prod" }
files = { "/app/conf/app.properties" = "conf/prod.properties" }
[env.test]
replicas = 1
vars = { MODE = "test" }
files = { "/app/conf/app.properties" = "conf/test.properties" }
"#;

fn shop_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let pkg = dir.path().join("pkg");
    std::fs::create_dir_all(pkg.join("bin")).unwrap();
    std::fs::write(pkg.join("bin/start"), "trap 'exit 0' TERM\ntouch /app/ready\nwhile true; do sleep 1; done\n").unwrap();
    std::fs::write(pkg.join("VERSION"), "1.0\n").unwrap();
    std::fs::create_dir_all(dir.path().join("dist")).unwrap();
    let tar = std::process::Command::new("tar").args(["-czf", "dist/shop.tar.gz", "-C", "pkg", "."]).current_dir(dir.path()).status().unwrap();
    assert!(tar.success());
    std::fs::create_dir_all(dir.path().join("conf")).unwrap();
    std::fs::write(dir.path().join("conf/prod.properties"), "db=prod\n").unwrap();
    std::fs::write(dir.path().join("conf/test.properties"), "db=test\n").unwrap();
    std::fs::write(dir.path().join("shop.toml"), SHOP).unwrap();
    dir
}

/// The test bed: sh1 and sh2 on segment sh (pool lan-sh), bj1 on segment bj (pool lan-bj)
/// over SSH behind a 150 ms relay.
struct Bed {
    hosts: BTreeMap<&'static str, RemoteHost>,
    _sshd: Sshd,
    _relay: DelayRelay,
    berth: Berth,
}

/// sh1 and sh2 by socket, bj1 over SSH through the relay on `relay_port`.
fn add_hosts(berth: &Berth, hosts: &BTreeMap<&str, RemoteHost>, sshd: &Sshd, relay_port: u16) {
    berth.ok(&["host", "add", "sh1", &hosts["sh1"].daemon.url(), "--label", "dc=sh"]);
    berth.ok(&["host", "add", "sh2", &hosts["sh2"].daemon.url(), "--label", "dc=sh"]);
    let known_hosts = berth.dir.path().join("known_hosts");
    let bj_url = format!("ssh://root@127.0.0.1:{relay_port}{}", hosts["bj1"].daemon.socket().display());
    let (key, known) = (sshd.client_key.to_str().unwrap(), known_hosts.to_str().unwrap());
    berth.ok(&["host", "add", "bj1", &bj_url, "--identity", key, "--known-hosts", known, "--label", "dc=bj"]);
}

fn bed() -> Bed {
    let hosts: BTreeMap<&str, RemoteHost> = ["sh1", "sh2", "bj1"].into_iter().map(|n| (n, RemoteHost::start())).collect();
    let sshd = Sshd::start();
    let relay_port = free_port();
    let relay = DelayRelay::start(relay_port, sshd.port, Duration::from_millis(75));
    let berth = Berth::new();
    add_hosts(&berth, &hosts, &sshd, relay_port);
    berth.ok(&["host", "trust", "bj1", "--yes"]);
    let tag = std::process::id() % 100_000;
    berth.ok(&[
        "ipam",
        "pool",
        "add",
        "lan-sh",
        "--subnet",
        "10.81.0.0/24",
        "--segment",
        "sh",
        "--range",
        "10.81.0.0/28",
        "--host",
        "sh1,ip=10.81.0.251",
        "--host",
        "sh2,ip=10.81.0.252",
        "--bridge-name",
        &format!("bs{tag}"),
    ]);
    berth.ok(&[
        "ipam",
        "pool",
        "add",
        "lan-bj",
        "--subnet",
        "10.82.0.0/24",
        "--segment",
        "bj",
        "--range",
        "10.82.0.0/28",
        "--host",
        "bj1,ip=10.82.0.251",
        "--bridge-name",
        &format!("bb{tag}"),
    ]);
    berth.ok(&["net", "apply", "lan-sh"]);
    berth.ok(&["net", "apply", "lan-bj"]);
    berth.ok(&["sync", "--once"]);
    Bed { hosts, _sshd: sshd, _relay: relay, berth }
}

impl Bed {
    fn docker(&self, host: &str, args: &[&str]) -> String {
        self.hosts[host].daemon.docker(args)
    }

    /// (replica → (host, container, ip, mac, revision)) from `app status --json`, with no drift.
    fn replicas(&self, env: &str) -> BTreeMap<u64, (String, String, String, String, i64)> {
        let status = self.berth.json(&["app", "status", "shop", "--env", env]);
        status["replicas"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                assert!(r["drift"].is_null(), "no drift: {status}");
                let s = |k: &str| r[k].as_str().unwrap_or_else(|| panic!("{k} in {r}")).to_owned();
                (r["replica"].as_u64().unwrap(), (s("host"), s("container"), s("ip"), s("mac"), r["revision"].as_i64().unwrap()))
            })
            .collect()
    }

    /// The address and MAC a container really has on its pool's network.
    fn address_of(&self, host: &str, container: &str, network: &str) -> (String, String) {
        let out = self.docker(
            host,
            &[
                "inspect",
                "-f",
                &format!("{{{{with index .NetworkSettings.Networks \"{network}\"}}}}{{{{.IPAddress}}}} {{{{.MacAddress}}}}{{{{end}}}}"),
                container,
            ],
        );
        let mut parts = out.split_whitespace().map(str::to_owned);
        (parts.next().unwrap_or_default(), parts.next().unwrap_or_default())
    }
}

fn deploy(berth: &Berth, env: &str) -> (bool, String, String) {
    let out = berth.run(&["app", "deploy", "shop", "--env", env]);
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn apps_deploy_update_roll_back_repair_scale_and_rebuild_on_two_segments() {
    let bed = bed();
    let berth = &bed.berth;
    let dir = shop_dir();
    let file = dir.path().join("shop.toml");
    let file = file.to_str().unwrap();
    assert_eq!(berth.ok(&["app", "apply", file]).trim(), "shop: revision 1");

    // The plan: six replicas spread over three hosts, each with an address of a pool its host is on.
    let plan = berth.json(&["app", "plan", "shop", "--env", "prod"]);
    let placements = plan["placements"].as_array().unwrap();
    assert_eq!(placements.len(), 6, "{plan}");
    for p in placements {
        let (host, pool, ip) = (p["host"].as_str().unwrap(), p["pool"].as_str().unwrap(), p["ip"].as_str().unwrap());
        assert_eq!(pool, if host == "bj1" { "lan-bj" } else { "lan-sh" }, "{p}");
        assert!(ip.starts_with(if pool == "lan-bj" { "10.82.0." } else { "10.81.0." }), "{p}");
        assert!(p.get("replica").is_some());
    }
    let per_host = |host: &str| placements.iter().filter(|p| p["host"] == host).count();
    assert_eq!((per_host("sh1"), per_host("sh2"), per_host("bj1")), (2, 2, 2), "spread: {plan}");
    assert_eq!(plan["rejected"], serde_json::json!([]), "every host is used");
    assert!(berth.json(&["app", "ls"])[0]["deployed"].is_null(), "a plan changes nothing");

    // Deploy prod (six replicas) and test (one): healthy, package and config inside, env per environment.
    let (ok, stdout, stderr) = deploy(berth, "prod");
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains("6 replicas healthy on revision 1"), "{stdout}");
    let (ok, _, stderr) = deploy(berth, "test");
    assert!(ok, "{stderr}");
    let prod = bed.replicas("prod");
    assert_eq!(prod.len(), 6);
    let mut ips = std::collections::BTreeSet::new();
    for (host, container, ip, mac, revision) in prod.values() {
        assert_eq!(*revision, 1);
        let network = if host == "bj1" { "lan-bj" } else { "lan-sh" };
        assert_eq!(bed.address_of(host, container, network), (ip.clone(), mac.clone()), "{container}: the leased address and the replica's MAC");
        assert!(ips.insert(ip.clone()), "one address per replica");
        assert_eq!(bed.docker(host, &["exec", container, "cat", "/app/VERSION"]).trim(), "1.0", "the package is inside");
        assert_eq!(bed.docker(host, &["exec", container, "cat", "/app/conf/app.properties"]).trim(), "db=prod", "the environment's file");
        assert_eq!(bed.docker(host, &["exec", container, "sh", "-c", "echo $MODE"]).trim(), "prod");
    }
    let test = bed.replicas("test");
    let (host, container, ..) = &test[&0];
    assert_eq!(bed.docker(host, &["exec", container, "sh", "-c", "echo $MODE; cat /app/conf/app.properties"]).trim(), "test\ndb=test");
    let leases = berth.json(&["ipam", "leases"]);
    for (host, container, ip, ..) in prod.values() {
        assert!(
            leases
                .as_array()
                .unwrap()
                .iter()
                .any(|l| l["ip"] == ip.as_str() && l["host"] == host.as_str() && l["container"] == container.as_str() && l["state"] == "leased"),
            "{container} holds the lease of {ip}: {leases}"
        );
    }
    let ls = berth.json(&["app", "ls"]);
    let row = ls.as_array().unwrap().iter().find(|r| r["env"] == "prod").unwrap();
    assert_eq!(
        (row["desired"].as_u64(), row["running"].as_u64(), row["healthy"].as_u64(), row["deployed"].as_i64()),
        (Some(6), Some(6), Some(6), Some(1)),
        "{ls}"
    );

    // Revision 2 never turns healthy: the first batch fails at health, and every replica goes
    // back to revision 1 with the same address and MAC; exit 1 names the replica and the step.
    std::fs::write(dir.path().join("shop.toml"), SHOP.replace("\"/app/ready\"", "\"/app/never\"").replace("retries = 2", "retries = 1")).unwrap();
    assert_eq!(berth.ok(&["app", "apply", file]).trim(), "shop: revision 2");
    let (ok, stdout, stderr) = deploy(berth, "prod");
    assert!(!ok, "{stdout}{stderr}");
    assert!(stderr.contains("failed at health") && stderr.contains("replica "), "{stderr}");
    assert!(stderr.contains("back on revision 1"), "{stderr}");
    assert_eq!(bed.replicas("prod"), prod, "every replica is back on revision 1 at its address, with its MAC");
    for (host, container, ip, mac, _) in prod.values() {
        let network = if host == "bj1" { "lan-bj" } else { "lan-sh" };
        assert_eq!(bed.address_of(host, container, network), (ip.clone(), mac.clone()));
    }
    let history = berth.json(&["app", "history", "shop"]);
    let actions: Vec<(&str, &str)> = history
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["env"] == "prod" || e["action"] == "apply")
        .map(|e| (e["action"].as_str().unwrap(), e["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(actions, [("deploy", "failed"), ("apply", "ok"), ("deploy", "ok"), ("apply", "ok")], "{history}");

    // Revision 3 is healthy: a rolling update in place (stop-first), same addresses and MACs.
    std::fs::write(dir.path().join("shop.toml"), SHOP.replace("MODE = \"prod\"", "MODE = \"prod3\"")).unwrap();
    assert_eq!(berth.ok(&["app", "apply", file]).trim(), "shop: revision 3");
    let (ok, stdout, stderr) = deploy(berth, "prod");
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains("6 updated"), "{stdout}");
    let updated = bed.replicas("prod");
    for (replica, (host, container, ip, mac, revision)) in &updated {
        assert_eq!(*revision, 3);
        let before = &prod[replica];
        assert_eq!((host, ip, mac), (&before.0, &before.2, &before.3), "replica {replica} kept its host, address and MAC");
        assert_eq!(bed.docker(host, &["exec", container, "sh", "-c", "echo $MODE"]).trim(), "prod3");
    }
    // The previous revision stays stopped, so a rollback is a start.
    let status = berth.json(&["app", "status", "shop", "--env", "prod"]);
    assert_eq!(status["kept"]["1"], 6, "{status}");
    let out = berth.ok(&["app", "rollback", "shop", "--env", "prod"]);
    assert!(out.contains("healthy on revision 1"), "{out}");
    let back = bed.replicas("prod");
    assert_eq!(back, prod, "the rollback started revision 1's own containers again");

    // A replica removed by hand is drift; deploy repairs it.
    let (host, container, ..) = back[&4].clone();
    bed.docker(&host, &["rm", "-f", &container]);
    berth.ok(&["sync", "--once"]);
    let status = berth.json(&["app", "status", "shop", "--env", "prod"]);
    let drift: Vec<&Value> = status["replicas"].as_array().unwrap().iter().filter(|r| !r["drift"].is_null()).collect();
    assert_eq!(drift.len(), 1, "{status}");
    assert_eq!((drift[0]["replica"].as_u64(), drift[0]["drift"].as_str()), (Some(4), Some("missing")), "{status}");
    // deploy goes to the latest revision (3); the repaired replica 4 comes up with it.
    let (ok, stdout, stderr) = deploy(berth, "prod");
    assert!(ok, "{stdout}{stderr}");
    let repaired = bed.replicas("prod");
    assert_eq!(repaired.len(), 6);
    assert!(repaired.values().all(|r| r.4 == 3), "{repaired:?}");

    // Scale 6 → 2: down releases addresses into quarantine; the plan after it is the scale's,
    // so the deploy that shows it runs it.
    let out = berth.ok(&["app", "scale", "shop", "--env", "prod", "2"]);
    assert!(out.contains("4 removed"), "{out}");
    assert_eq!(bed.replicas("prod").len(), 2);
    let quarantined = berth.json(&["ipam", "leases"]).as_array().unwrap().iter().filter(|l| l["state"] == "quarantined").count();
    assert!(quarantined >= 4, "the removed replicas' addresses are in quarantine: {}", berth.ok(&["ipam", "leases"]));
    let plan = berth.json(&["app", "plan", "shop", "--env", "prod"]);
    assert_eq!((plan["replicas"].as_u64(), plan["placements"].as_array().map(Vec::len)), (Some(2), Some(2)), "{plan}");
    let (ok, stdout, stderr) = deploy(berth, "prod");
    assert!(ok && stdout.contains("2 replicas healthy on revision 3"), "{stdout}{stderr}");

    // A newer revision applied but not deployed: scale stays on the deployed one.
    std::fs::write(dir.path().join("shop.toml"), SHOP.replace("MODE = \"prod\"", "MODE = \"prod4\"")).unwrap();
    assert_eq!(berth.ok(&["app", "apply", file]).trim(), "shop: revision 4");
    berth.ok(&["app", "scale", "shop", "--env", "prod", "6"]);
    let scaled = bed.replicas("prod");
    assert_eq!(scaled.len(), 6);
    assert!(scaled.values().all(|r| r.4 == 3), "scaled on the deployed revision: {scaled:?}");
    assert_eq!(scaled[&0], repaired[&0], "the replicas kept stay as they were");

    // The serving container of replica 1 removed by hand while revision 1's is kept stopped:
    // the update to revision 4 takes the replica's address from the gone container, so the
    // replica keeps its address and MAC, and no lease is left to a container that is gone.
    let (host, container, ip, mac, _) = scaled[&1].clone();
    bed.docker(&host, &["rm", "-f", &container]);
    berth.ok(&["sync", "--once"]);
    let (ok, stdout, stderr) = deploy(berth, "prod");
    assert!(ok && stdout.contains("6 replicas healthy on revision 4"), "{stdout}{stderr}");
    let four = bed.replicas("prod");
    assert_eq!((&four[&1].0, &four[&1].2, &four[&1].3, four[&1].4), (&host, &ip, &mac, 4), "{four:?}");
    let leases = berth.json(&["ipam", "leases"]);
    let held: Vec<String> = leases
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["state"] == "leased" && l["container"].as_str().is_some_and(|c| c.starts_with("shop-prod-")))
        .map(|l| l["container"].as_str().unwrap().to_owned())
        .collect();
    let mut serving: Vec<String> = four.values().map(|r| r.1.clone()).collect();
    let mut held_sorted = held.clone();
    serving.sort();
    held_sorted.sort();
    assert_eq!(held_sorted, serving, "one lease per replica, each held by the container serving it: {leases}");

    // The store is lost: hosts added again, pools and apps rebuilt from the hosts' labels.
    let before_status = berth.json(&["app", "status", "shop", "--env", "prod"]);
    let pools: Value = berth.json(&["ipam", "pool", "ls"]);
    std::fs::remove_file(berth.db()).unwrap();
    add_hosts(berth, &bed.hosts, &bed._sshd, bed._relay.port);
    berth.ok(&["sync", "--once"]);
    berth.ok(&["ipam", "rebuild"]);
    let rebuilt = berth.ok(&["app", "rebuild"]);
    assert!(rebuilt.contains("shop (prod): revision 4, 6 replicas"), "{rebuilt}");
    assert_eq!(berth.json(&["ipam", "pool", "ls"]).as_array().map(Vec::len), pools.as_array().map(Vec::len));
    let after_status = berth.json(&["app", "status", "shop", "--env", "prod"]);
    assert_eq!(after_status["replicas"], before_status["replicas"], "the same replicas, no drift");
    assert_eq!(after_status["revision"], 4);

    // A pool with one free address and max_per_host = 1: the plan places what fits and says why not the rest.
    berth.ok(&["ipam", "pool", "add", "tiny", "--subnet", "10.83.0.0/24", "--range", "10.83.0.8/30", "--host", "sh1", "--host", "sh2", "--host", "bj1"]);
    for ip in ["10.83.0.8", "10.83.0.9", "10.83.0.10"] {
        berth.ok(&["ipam", "reserve", "tiny", ip]);
    }
    std::fs::write(
        dir.path().join("tiny.toml"),
        "name = \"tiny\"\nimage = \"berth-test:latest\"\nreplicas = 3\n[placement]\npools = [\"tiny\"]\nmax_per_host = 1\n",
    )
    .unwrap();
    berth.ok(&["app", "apply", dir.path().join("tiny.toml").to_str().unwrap()]);
    let out = berth.run(&["--json", "app", "plan", "tiny"]);
    assert!(!out.status.success(), "two replicas find no place");
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["placements"].as_array().unwrap().len(), 1, "{plan}");
    assert_eq!(plan["placements"][0]["ip"], "10.83.0.11");
    let rejected = plan["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 2, "the counts reconcile to three hosts: {plan}");
    for r in rejected {
        let reasons: Vec<&str> = r["reasons"].as_array().unwrap().iter().map(|x| x.as_str().unwrap()).collect();
        assert!(reasons.iter().any(|x| x.contains("no free address")), "{r}");
    }
    let err = berth.fails(&["app", "deploy", "tiny"]);
    assert!(err.contains("2 of 3 replicas of tiny") && err.contains("no free address"), "{err}");

    // Start-first in batches of two: each replica of a batch takes its own second address for
    // the overlap, and the old ones go into quarantine; `app rm` leaves no lease behind.
    let duo = |mode: &str| {
        format!(
            "name = \"duo\"\nimage = \"berth-test:latest\"\ncommand = [\"sleep\", \"3600\"]\nreplicas = 2\n\
             [env.default]\nvars = {{ MODE = \"{mode}\" }}\n[placement]\npools = [\"lan-sh\"]\nconstraints = [\"dc==sh\"]\n\
             [update]\nparallelism = 2\norder = \"start-first\"\nmonitor = \"0s\"\n"
        )
    };
    let duo_file = dir.path().join("duo.toml");
    std::fs::write(&duo_file, duo("a")).unwrap();
    berth.ok(&["app", "apply", duo_file.to_str().unwrap()]);
    berth.ok(&["app", "deploy", "duo"]);
    let address = |berth: &Berth| -> BTreeMap<u64, String> {
        let status = berth.json(&["app", "status", "duo"]);
        status["replicas"].as_array().unwrap().iter().map(|r| (r["replica"].as_u64().unwrap(), r["ip"].as_str().unwrap().to_owned())).collect()
    };
    let first = address(berth);
    std::fs::write(&duo_file, duo("b")).unwrap();
    berth.ok(&["app", "apply", duo_file.to_str().unwrap()]);
    let out = berth.ok(&["app", "deploy", "duo"]);
    assert!(out.contains("2 updated"), "{out}");
    let second = address(berth);
    let all: std::collections::BTreeSet<&String> = first.values().chain(second.values()).collect();
    assert_eq!(all.len(), 4, "two replicas, each with its own overlap address: {first:?} {second:?}");
    let leases = berth.json(&["ipam", "leases"]);
    for ip in first.values() {
        assert!(leases.as_array().unwrap().iter().any(|l| l["ip"] == ip.as_str() && l["state"] == "quarantined"), "{ip} in quarantine: {leases}");
    }
    berth.ok(&["app", "rm", "duo"]);
    let leases = berth.json(&["ipam", "leases"]);
    assert!(!leases.as_array().unwrap().iter().any(|l| l["state"] == "leased" && l["container"].as_str().is_some_and(|c| c.starts_with("duo-"))), "{leases}");
}

#[test]
fn a_compose_project_shows_as_a_read_only_app_with_its_services() {
    let daemon = Daemon::start();
    let berth = Berth::new();
    berth.ok(&["host", "add", "local", &daemon.url()]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("docker-compose.yml"),
        format!("version: \"2.4\"\nservices:\n  web:\n    image: {TEST_IMAGE}\n    command: sleep 3600\n  worker:\n    image: {TEST_IMAGE}\n    command: sleep 3600\n    scale: 2\n"),
    )
    .unwrap();
    let compose = std::process::Command::new("docker-compose")
        .args(["-H", &daemon.url(), "-p", "shopfront", "up", "-d"])
        .current_dir(dir.path())
        .output()
        .expect("docker-compose runs (Debian's docker-compose)");
    assert!(compose.status.success(), "{}", String::from_utf8_lossy(&compose.stderr));
    berth.ok(&["sync", "--once"]);
    let ls = berth.json(&["app", "ls"]);
    let row = ls.as_array().unwrap().iter().find(|r| r["name"] == "shopfront").unwrap_or_else(|| panic!("{ls}"));
    assert_eq!((row["kind"].as_str(), row["running"].as_u64(), row["desired"].as_u64()), (Some("compose"), Some(3), Some(3)), "{row}");
    let services: Vec<(&str, u64)> =
        row["services"].as_array().unwrap().iter().map(|s| (s["name"].as_str().unwrap(), s["running"].as_u64().unwrap())).collect();
    assert_eq!(services, [("web", 1), ("worker", 2)]);
}

#[test]
fn a_keyring_value_reaches_the_container_and_nothing_else() {
    use crate::images::{files_hold, with_keyring};
    let remote = RemoteHost::start();
    let berth = Berth::new();
    berth.ok(&["host", "add", "kr", &remote.daemon.url()]);
    let tag = std::process::id() % 100_000;
    berth.ok(&["ipam", "pool", "add", "kr-lan", "--subnet", "10.84.0.0/24", "--host", "kr,ip=10.84.0.254", "--bridge-name", &format!("bk{tag}")]);
    berth.ok(&["net", "apply", "kr-lan"]);
    berth.ok(&["sync", "--once"]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kr.toml");
    std::fs::write(
        &file,
        format!("name = \"kr\"\nimage = \"{TEST_IMAGE}\"\ncommand = [\"sleep\", \"3600\"]\nreplicas = 1\n[placement]\npools = [\"kr-lan\"]\n[env.prod]\nvars = {{ DB_PASSWORD = \"keyring:kr-db\", DB_USER = \"shop\" }}\n"),
    )
    .unwrap();
    berth.ok(&["app", "apply", file.to_str().unwrap()]);
    // Without the secret in the keyring: refused before anything is made, saying how to store it.
    let (ok, _, stderr) = with_keyring(&berth, "$BERTH app deploy kr --env prod", "");
    assert!(!ok && stderr.contains("berth app secret kr-db"), "{stderr}");
    assert!(remote.daemon.docker(&["ps", "-aq"]).is_empty(), "nothing was created");
    let secret = "s3cr3t-kr-7781";
    let (ok, stdout, stderr) = with_keyring(&berth, "printf %s \"$SECRET\" | $BERTH app secret kr-db\n$BERTH app deploy kr --env prod", secret);
    assert!(ok, "{stdout}{stderr}");
    assert!(!stdout.contains(secret) && !stderr.contains(secret), "the secret is not printed");
    assert_eq!(remote.daemon.docker(&["exec", "kr-prod-0-r1", "sh", "-c", "echo $DB_PASSWORD $DB_USER"]), format!("{secret} shop"));
    // The mirror has the name, not the value; the audit log and the store's files have neither.
    let inspect = berth.ok(&["inspect", "kr/kr-prod-0-r1"]);
    assert!(inspect.contains("DB_PASSWORD=<keyring>") && inspect.contains("DB_USER=shop"), "{inspect}");
    assert!(!berth.ok(&["audit", "--json", "--limit", "1000"]).contains(secret));
    assert_eq!(files_hold(berth.dir.path(), secret), Vec::<String>::new(), "no file beside the store holds the secret");
}
