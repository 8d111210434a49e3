//! The one change path: a change Berth makes is in the mirror when the command returns (no
//! follower running), a request the daemon refused is sent once (the CLI's path and the app's,
//! over a kept connection), and every change is in the audit log, whose chain `audit verify`
//! checks.

use std::sync::Arc;
use std::time::Duration;

use berth_e2e::netns::RemoteHost;
use berth_e2e::{Berth, Daemon, TEST_IMAGE};
use serde_json::Value;

/// How many times the daemon was asked to kill container `id`, from its `--debug` log.
fn kill_requests(daemon: &Daemon, id: &str) -> usize {
    daemon.log().lines().filter(|l| l.contains("Calling POST") && l.contains(&format!("/containers/{id}/kill"))).count()
}

#[test]
fn a_container_berth_runs_is_in_the_mirror_at_once_and_rm_puts_its_address_in_quarantine() {
    let h1 = RemoteHost::start();
    let berth = Berth::new();
    berth.ok(&["host", "add", "h1", &h1.daemon.url()]);
    berth.ok(&["sync", "--once"]);
    let br = format!("c{}", std::process::id() % 100_000);
    berth.ok(&["ipam", "pool", "add", "lan", "--subnet", "10.78.0.0/24", "--host", "h1,ip=10.78.0.254", "--bridge-name", &br]);
    berth.ok(&["net", "apply", "lan"]);
    // The new network is in the mirror at once: the check finds nothing missing.
    let check = berth.json(&["ipam", "check"]);
    assert!(!check.to_string().contains("network_missing"), "{check}");
    // No follower runs: the mirror learns of web1 from `berth run` itself.
    let ran: Value =
        serde_json::from_str(&berth.ok(&["--json", "run", "--host", "h1", "--pool", "lan", "--name", "web1", TEST_IMAGE, "sleep", "600"])).unwrap();
    let rows = berth.json(&["ps", "--filter", "name=web1"]);
    assert_eq!(rows.as_array().unwrap().len(), 1, "{rows}");
    assert_eq!(rows[0]["state"], "running");
    assert_eq!(rows[0]["ips"]["lan"], ran["ip"]);
    // A stop right after, still with no follower: the mirror says exited.
    berth.ok(&["stop", "-t", "1", "web1"]);
    assert_eq!(berth.json(&["ps", "-a", "--filter", "name=web1"])[0]["state"], "exited");
    let removed = berth.ok(&["rm", "-f", "web1"]);
    assert!(removed.contains("removed h1/web1") && removed.contains("into quarantine"), "{removed}");
    assert_eq!(berth.json(&["ps", "-a", "--filter", "name=web1"]), serde_json::json!([]));
    let leases = berth.json(&["ipam", "leases", "lan"]);
    let lease = leases.as_array().unwrap().iter().find(|r| r["ip"] == ran["ip"]).expect("the address is still held");
    assert_eq!(lease["state"], "quarantined", "{leases}");
    // The app's Remove (the same core call its command makes) releases the address too.
    let ran2: Value =
        serde_json::from_str(&berth.ok(&["--json", "run", "--host", "h1", "--pool", "lan", "--name", "web2", TEST_IMAGE, "sleep", "600"])).unwrap();
    let store = Arc::new(berth_core::store::Store::open(&berth.db()).unwrap());
    let fleet = berth_core::fleet::Fleet::new(store);
    let op = berth_core::audit::Op::new(berth_core::audit::Via::App, None);
    let id = ran2["id"].as_str().unwrap();
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(berth_core::containers::act(&fleet, &op, "h1", id, berth_core::containers::ContainerAction::Remove, &Default::default()))
        .unwrap();
    let leases = berth.json(&["ipam", "leases", "lan"]);
    let lease = leases.as_array().unwrap().iter().find(|r| r["ip"] == ran2["ip"]).expect("the address is still held");
    assert_eq!(lease["state"], "quarantined", "{leases}");
    assert_eq!(berth.json(&["ps", "-a", "--filter", "name=web2"]), serde_json::json!([]));
    // Every step is in the audit log, as the CLI's, in one chain.
    let audit = berth.json(&["audit", "--via", "cli", "--limit", "1000"]);
    let actions: Vec<(&str, &str, &str)> =
        audit.as_array().unwrap().iter().map(|r| (r["kind"].as_str().unwrap(), r["action"].as_str().unwrap(), r["outcome"].as_str().unwrap())).collect();
    for want in [
        ("pool", "add", "ok"),
        ("network", "create", "ok"),
        ("lease", "lease", "ok"),
        ("container", "create", "ok"),
        ("container", "start", "ok"),
        ("container", "stop", "ok"),
        ("container", "remove", "ok"),
        ("lease", "release", "ok"),
    ] {
        assert!(actions.contains(&want), "{want:?} missing from {actions:?}");
    }
    berth.ok(&["audit", "verify"]);
}

#[test]
fn a_refused_kill_is_sent_once_and_says_docker_s_words() {
    let daemon = Daemon::start_with(&["--debug".to_owned()]);
    let berth = Berth::new();
    berth.ok(&["host", "add", "d", &daemon.url()]);
    let id = daemon.docker(&["create", "--name", "idle", TEST_IMAGE, "sleep", "600"]);
    let runner = daemon.docker(&["run", "-d", "--name", "busy", TEST_IMAGE, "sleep", "600"]);
    berth.ok(&["sync", "--once"]);

    // The CLI: a kill of a stopped container fails with Docker's words, after one request.
    let out = berth.run(&["kill", "idle"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("is not running"), "{stderr}");
    assert_eq!(kill_requests(&daemon, &id), 1, "the daemon was asked more than once:\n{}", daemon.log());
    // Docker's rule for the rest: a start of a running one and a stop of a stopped one are fine.
    berth.ok(&["start", "busy"]);
    berth.ok(&["stop", "-t", "0", "idle"]);
    // Several at once: each gets its line; one failure makes the exit code 1.
    let out = berth.run(&["pause", "busy", "nosuch"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nosuch"), "{out:?}");
    assert_eq!(daemon.docker(&["inspect", "-f", "{{.State.Status}}", "busy"]), "paused");
    let out = berth.run(&["pause", "busy"]);
    assert_eq!(out.status.code(), Some(1), "pausing a paused container fails, as with docker");

    // The app's path: the same call over a kept connection, twice; each refusal is one request.
    let store = Arc::new(berth_core::store::Store::open(&berth.db()).unwrap());
    let fleet = berth_core::fleet::Fleet::new(store);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let op = berth_core::audit::Op::new(berth_core::audit::Via::App, None);
    for round in 1..=2 {
        let error = runtime
            .block_on(berth_core::containers::act(&fleet, &op, "d", &id, berth_core::containers::ContainerAction::Kill, &Default::default()))
            .unwrap_err();
        assert_eq!(error.code(), "docker", "{error}");
        assert!(error.to_string().contains("is not running"), "{error}");
        assert_eq!(kill_requests(&daemon, &id), 1 + round, "round {round}:\n{}", daemon.log());
    }
    // Each refusal is in the audit log: asked, then failed with Docker's words.
    let rows = berth.json(&["audit", "--limit", "1000"]);
    let kills: Vec<&Value> = rows.as_array().unwrap().iter().filter(|r| r["action"] == "kill" && r["object"]["name"] == "idle").collect();
    assert_eq!(kills.iter().filter(|r| r["outcome"] == "failed").count(), 3, "{rows}");
    assert_eq!(kills.iter().filter(|r| r["outcome"] == "unknown").count(), 3, "{rows}");
    assert!(kills.iter().filter(|r| r["outcome"] == "failed").all(|r| r["error"].as_str().unwrap().contains("is not running")));
    assert_eq!(kills.iter().filter(|r| r["via"] == "app").count(), 4);
    let _ = runner;
}

#[test]
fn the_audit_log_records_who_why_and_catches_an_edited_row() {
    let daemon = Daemon::start();
    let berth = Berth::new();
    berth.ok(&["host", "add", "d", &daemon.url()]);
    daemon.docker(&["run", "-d", "--name", "web", TEST_IMAGE, "sleep", "600"]);
    berth.ok(&["sync", "--once"]);
    berth.ok(&["--reason", "maintenance window", "stop", "-t", "0", "web"]);

    let rows = berth.json(&["audit", "--host", "d", "--since", "10m"]);
    let stop: Vec<&Value> = rows.as_array().unwrap().iter().filter(|r| r["action"] == "stop").collect();
    assert_eq!(stop.len(), 2, "the request and its completion: {rows}");
    let (done, asked) = (stop[0], stop[1]);
    assert_eq!((asked["outcome"].as_str(), done["outcome"].as_str()), (Some("unknown"), Some("ok")));
    assert_eq!(done["request"], asked["id"]);
    assert_eq!(done["op"], asked["op"]);
    for row in [asked, done] {
        assert_eq!(row["via"], "cli");
        assert_eq!(row["kind"], "container");
        assert_eq!(row["object"]["name"], "web");
        assert_eq!(row["reason"], "maintenance window");
        assert_eq!(row["actor"].as_str().map(str::is_empty), Some(false));
    }
    assert_eq!(asked["before"]["state"], "running");
    assert_eq!(done["after"]["state"], "exited");
    // Filters and the other formats.
    assert_eq!(berth.json(&["audit", "--op", done["op"].as_str().unwrap()]).as_array().unwrap().len(), 2);
    assert_eq!(berth.json(&["audit", "--via", "external"]), serde_json::json!([]));
    let csv = berth.ok(&["audit", "--csv"]);
    assert!(csv.starts_with("id,op,time,actor,via,host,kind"), "{csv}");
    assert_eq!(csv.lines().count(), 4, "the header, the host added, the stop asked and done: {csv}");
    let added = audit_rows(&berth, |r| r["kind"] == "host");
    assert_eq!(added.len(), 1, "{added:?}");
    assert_eq!((added[0]["action"].as_str(), added[0]["outcome"].as_str(), added[0]["object"]["name"].as_str()), (Some("add"), Some("ok"), Some("d")));
    assert_eq!(added[0]["after"]["url"], daemon.url());
    assert!(berth.fails(&["audit", "--via", "carrier-pigeon"]).contains("via"));
    berth.ok(&["audit", "verify"]);

    // Someone edits a row with sqlite: verify names it and exits 1.
    let conn = rusqlite::Connection::open(berth.db()).unwrap();
    conn.execute("UPDATE audit SET action = 'start' WHERE id = ?1", [asked["id"].as_i64().unwrap()]).unwrap();
    drop(conn);
    let out = berth.run(&["audit", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains(&format!("row {}", asked["id"])), "{said}");
}

/// The audit rows `berth audit --json` prints that match `pred`.
fn audit_rows(berth: &Berth, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
    berth.json(&["audit", "--limit", "1000"]).as_array().unwrap().iter().filter(|r| pred(r)).cloned().collect()
}

#[test]
fn out_of_band_changes_are_recorded_as_external_and_berth_s_own_are_not_twice() {
    let daemon = Daemon::start();
    let berth = Berth::new();
    berth.ok(&["host", "add", "d", &daemon.url()]);
    daemon.docker(&["run", "-d", "--name", "victim", TEST_IMAGE, "sleep", "600"]);
    daemon.docker(&["run", "-d", "--name", "ours", TEST_IMAGE, "sleep", "600"]);
    let mut follower = berth.follow(&["d"]);
    berth_e2e::wait_for("the follower's snapshot", Duration::from_secs(20), || {
        let rows = berth.json(&["ps", "--filter", "name=victim"]);
        if rows.as_array().is_some_and(|r| r.len() == 1) {
            Ok(())
        } else {
            Err(rows)
        }
    });
    // The first snapshot of a host records nothing.
    assert_eq!(audit_rows(&berth, |r| r["via"] == "external"), Vec::<Value>::new());

    // A `docker kill` by hand: one external row, named kill, before running, after exited.
    daemon.docker(&["kill", "victim"]);
    let row = berth_e2e::wait_for("an external row for the kill", Duration::from_secs(20), || {
        let rows = audit_rows(&berth, |r| r["via"] == "external" && r["object"]["name"] == "victim");
        if rows.is_empty() {
            Err((rows, follower.log()))
        } else {
            Ok(rows)
        }
    });
    assert_eq!(row.len(), 1, "{row:?}");
    assert_eq!(row[0]["action"], "kill");
    assert_eq!((row[0]["before"]["state"].as_str(), row[0]["after"]["state"].as_str()), (Some("running"), Some("exited")));
    assert_eq!(row[0]["after"]["exit_code"], 137);
    assert_eq!(row[0]["host"], "d");

    // Berth's own stop while the follower runs: its request and completion, no external row.
    berth.ok(&["stop", "-t", "0", "ours"]);
    // The follower's events for it come and go; after that, its claim ends (a change to it
    // within the fold window would be taken for the stop's own).
    std::thread::sleep(Duration::from_millis(berth_core::audit::FOLD_AFTER_ANSWER_MS as u64 + 500));
    assert_eq!(audit_rows(&berth, |r| r["object"]["name"] == "ours" && r["via"] == "external"), Vec::<Value>::new());
    assert_eq!(audit_rows(&berth, |r| r["object"]["name"] == "ours" && r["action"] == "stop").len(), 2);

    // Changes while no follower watched: seen at the next resync.
    follower.stop();
    daemon.docker(&["rm", "-f", "victim"]);
    daemon.docker(&["start", "ours"]);
    daemon.docker(&["run", "-d", "--name", "newcomer", TEST_IMAGE, "sleep", "600"]);
    let _follower = berth.follow(&["d"]);
    let rows = berth_e2e::wait_for("the resync's rows", Duration::from_secs(20), || {
        let rows = audit_rows(&berth, |r| r["via"] == "external" && r["reason"] == "seen at a full resync");
        if rows.len() >= 3 {
            Ok(rows)
        } else {
            Err(rows)
        }
    });
    let mut seen: Vec<(String, String)> =
        rows.iter().map(|r| (r["object"]["name"].as_str().unwrap().to_owned(), r["action"].as_str().unwrap().to_owned())).collect();
    seen.sort();
    assert_eq!(seen, [("newcomer".to_owned(), "create".to_owned()), ("ours".into(), "start".into()), ("victim".into(), "destroy".into())]);

    // The daemon stops (its containers die with it) and comes back: recorded as external.
    let mut daemon = daemon;
    daemon.stop();
    daemon.start_again();
    berth_e2e::wait_for("the newcomer's death recorded", Duration::from_secs(60), || {
        let rows = audit_rows(&berth, |r| r["via"] == "external" && r["object"]["name"] == "newcomer" && r["after"]["state"] == "exited");
        if rows.is_empty() {
            Err(rows)
        } else {
            Ok(())
        }
    });
    berth.ok(&["audit", "verify"]);
}

#[test]
fn a_berth_killed_between_request_and_answer_leaves_an_unknown_row() {
    let daemon = Daemon::start_with(&["--debug".to_owned()]);
    let berth = Berth::new();
    berth.ok(&["host", "add", "d", &daemon.url()]);
    // `sleep` as PID 1 ignores SIGTERM: a stop waits its whole grace time.
    let id = daemon.docker(&["run", "-d", "--name", "stubborn", TEST_IMAGE, "sleep", "600"]);
    berth.ok(&["sync", "--once"]);
    let mut stop = berth.command(&["stop", "-t", "30", "stubborn"]).spawn().unwrap();
    berth_e2e::wait_for("the request row", Duration::from_secs(20), || {
        let rows = audit_rows(&berth, |r| r["action"] == "stop");
        if rows.is_empty() {
            Err(rows)
        } else {
            Ok(())
        }
    });
    // The daemon has the request (and waits out the grace time before it answers).
    berth_e2e::wait_for("the daemon to be asked to stop", Duration::from_secs(20), || {
        let asked = daemon.log().lines().any(|l| l.contains("Calling POST") && l.contains(&format!("/containers/{id}/stop")));
        if asked {
            Ok(())
        } else {
            Err(())
        }
    });
    stop.kill().unwrap(); // SIGKILL: no completion can be written
    stop.wait().unwrap();
    let rows = audit_rows(&berth, |r| r["action"] == "stop");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["outcome"], "unknown");
    assert_eq!(rows[0]["object"]["name"], "stubborn");
    berth.ok(&["audit", "verify"]);
}

#[test]
fn a_container_spec_is_created_as_written_on_api_1_41() {
    use berth_core::model::{ContainerSpec, MountKind, MountSpec, NetworkAttachment, Resources, RestartPolicy};
    let daemon = Daemon::start();
    let berth = Berth::new();
    berth.ok(&["host", "add", "d", &daemon.url()]);
    daemon.docker(&["network", "create", "--subnet", "10.79.0.0/24", "specnet"]);
    daemon.docker(&["network", "create", "--subnet", "10.79.1.0/24", "backnet"]);
    let spec = ContainerSpec {
        name: "spec1".into(),
        image: TEST_IMAGE.into(),
        cmd: vec!["sleep".into(), "600".into()],
        env: vec!["GREETING=hi".into()],
        labels: [("tier".to_owned(), "web".to_owned())].into(),
        restart: RestartPolicy::OnFailure(3),
        networks: vec![
            NetworkAttachment { network: "specnet".into(), ipv4: Some("10.79.0.42".parse().unwrap()), ..Default::default() },
            NetworkAttachment { network: "backnet".into(), aliases: vec!["db-client".into()], ..Default::default() },
        ],
        mac_address: Some("02:42:0a:4f:00:2a".into()),
        resources: Resources { memory_bytes: Some(64 << 20), nano_cpus: Some(500_000_000), pids_limit: Some(64) },
        mounts: vec![MountSpec { kind: MountKind::Tmpfs, source: String::new(), target: "/scratch".into(), read_only: false }],
        workdir: Some("/tmp".into()),
        ..Default::default()
    };
    let store = Arc::new(berth_core::store::Store::open(&berth.db()).unwrap());
    let fleet = berth_core::fleet::Fleet::new(Arc::clone(&store));
    let op = berth_core::audit::Op::new(berth_core::audit::Via::Cli, None);
    let host = store.host("d").unwrap();
    let id = tokio::runtime::Runtime::new().unwrap().block_on(berth_core::containers::create(&fleet, &op, &host, &spec)).unwrap();
    let inspect: Value = serde_json::from_str(&daemon.docker(&["inspect", &id])).unwrap();
    let c = &inspect[0];
    assert_eq!(c["Name"], "/spec1");
    assert_eq!(c["Config"]["Cmd"], serde_json::json!(["sleep", "600"]));
    assert!(c["Config"]["Env"].as_array().unwrap().contains(&Value::from("GREETING=hi")));
    assert_eq!(c["Config"]["Labels"]["tier"], "web");
    assert_eq!(c["Config"]["WorkingDir"], "/tmp");
    // API 1.41 honours only Config.MacAddress (the primary network's).
    assert_eq!(c["Config"]["MacAddress"], "02:42:0a:4f:00:2a", "{c}");
    assert_eq!(c["HostConfig"]["NetworkMode"], "specnet");
    assert_eq!(c["HostConfig"]["RestartPolicy"], serde_json::json!({"Name": "on-failure", "MaximumRetryCount": 3}));
    assert_eq!(c["HostConfig"]["Memory"], 64 << 20);
    assert_eq!(c["HostConfig"]["NanoCpus"], 500_000_000);
    assert_eq!(c["HostConfig"]["PidsLimit"], 64);
    assert_eq!(c["HostConfig"]["Mounts"][0]["Type"], "tmpfs");
    assert_eq!(c["HostConfig"]["Mounts"][0]["Target"], "/scratch");
    let networks = c["NetworkSettings"]["Networks"].as_object().unwrap();
    assert_eq!(networks["specnet"]["IPAMConfig"]["IPv4Address"], "10.79.0.42");
    assert!(networks["backnet"]["Aliases"].as_array().unwrap().contains(&Value::from("db-client")), "{networks:?}");
    // Started, it has the address and the MAC on the primary network.
    daemon.docker(&["start", "spec1"]);
    let running: Value = serde_json::from_str(&daemon.docker(&["inspect", "spec1"])).unwrap();
    let lan = &running[0]["NetworkSettings"]["Networks"]["specnet"];
    assert_eq!((lan["IPAddress"].as_str(), lan["MacAddress"].as_str()), (Some("10.79.0.42"), Some("02:42:0a:4f:00:2a")));
    // In the mirror at once, and recorded.
    assert_eq!(berth.json(&["ps", "-a", "--filter", "name=spec1"])[0]["id"], id.as_str());
    let created = audit_rows(&berth, |r| r["action"] == "create" && r["outcome"] == "ok");
    assert_eq!(created[0]["object"]["id"], id.as_str());
    // A name Docker refuses: Docker's words, nothing left behind.
    let taken = tokio::runtime::Runtime::new().unwrap().block_on(berth_core::containers::create(&fleet, &op, &host, &spec)).unwrap_err();
    assert_eq!(taken.code(), "docker");
    assert!(taken.to_string().contains("already in use"), "{taken}");
}

#[test]
fn two_followers_of_one_host_record_a_change_once() {
    let daemon = Daemon::start();
    let berth = Berth::new();
    berth.ok(&["host", "add", "d", &daemon.url()]);
    daemon.docker(&["run", "-d", "--name", "shared", TEST_IMAGE, "sleep", "600"]);
    berth.ok(&["sync", "--once"]);
    // Two processes on one store follow the same host, as the app and `berth sync` would.
    let _first = berth.follow(&["d"]);
    let _second = berth.follow(&["d"]);
    // Both have taken their snapshot (the `sync --once` took the first).
    let conn = rusqlite::Connection::open(berth.db()).unwrap();
    berth_e2e::wait_for("both followers' snapshots", Duration::from_secs(20), || {
        let syncs: i64 = conn.query_row("SELECT full_syncs FROM sync_state", [], |r| r.get(0)).unwrap();
        if syncs >= 3 {
            Ok(())
        } else {
            Err(syncs)
        }
    });
    daemon.docker(&["kill", "shared"]);
    berth_e2e::wait_for("the kill recorded", Duration::from_secs(20), || {
        let rows = audit_rows(&berth, |r| r["via"] == "external" && r["object"]["name"] == "shared");
        if rows.is_empty() {
            Err(rows)
        } else {
            Ok(())
        }
    });
    std::thread::sleep(Duration::from_secs(2)); // the slower follower has applied it too
    let rows = audit_rows(&berth, |r| r["via"] == "external" && r["object"]["name"] == "shared");
    assert_eq!(rows.len(), 1, "one row for one change, whichever follower stored it: {rows:?}");
    assert_eq!(rows[0]["action"], "kill");
    berth.ok(&["audit", "verify"]);
}
