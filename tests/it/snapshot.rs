//! A snapshot equals what `docker ps -a` / `docker inspect` say, for containers in mixed states.

use berth_e2e::{Berth, Daemon, TEST_IMAGE};
use serde_json::Value;

use crate::{host_entry, same_as_truth, truth};

#[test]
fn snapshot_matches_docker_for_mixed_states() {
    let d = Daemon::shared();
    let tag = "snap";
    let label = format!("berth.test={tag}");
    d.docker(&["network", "create", "--subnet", "10.231.7.0/24", "snap-lan"]);
    let run = |extra: &[&str], cmd: &[&str]| {
        let mut args = vec!["run", "-d", "--label", label.as_str()];
        args.extend_from_slice(extra);
        args.push(TEST_IMAGE);
        args.extend_from_slice(cmd);
        d.docker(&args)
    };
    for i in 0..10 {
        let (name, ip) = (format!("snap-web-{i}"), format!("10.231.7.{}", 10 + i));
        run(&["--name", &name, "--network", "snap-lan", "--ip", &ip, "--label", "tier=web"], &["sleep", "3600"]);
    }
    for i in 0..6 {
        run(&["--name", &format!("snap-worker-{i}"), "--label", "tier=worker"], &["sleep", "3600"]);
    }
    for i in 0..8 {
        let code = format!("exit {}", i % 4);
        let id = run(&["--name", &format!("snap-job-{i}")], &["sh", "-c", &code]);
        d.docker(&["wait", &id]);
    }
    for i in 0..6 {
        d.docker(&["create", "--name", &format!("snap-new-{i}"), "--label", &label, TEST_IMAGE]);
    }
    for i in 0..4 {
        let id = run(&["--name", &format!("snap-paused-{i}")], &["sleep", "3600"]);
        d.docker(&["pause", &id]);
    }
    let truth_now = truth(d, &d.url(), tag);
    assert_eq!(truth_now.len(), 34);

    let berth = Berth::new();
    berth.ok(&["host", "add", "snaphost", &d.url(), "--label", "dc=test"]);
    berth.ok(&["sync", "--once", "snaphost"]);
    assert_eq!(same_as_truth(d, &d.url(), &berth, tag), Ok(34));

    let host = host_entry(&berth, "snaphost");
    assert_eq!(host["status"], "online");
    assert!(host["last_sync"].is_string());
    let all_on_daemon = d.docker(&["ps", "-aq"]).lines().count() as i64;
    assert!(host["containers"].as_i64().unwrap() >= 34 && host["containers"].as_i64().unwrap() <= all_on_daemon);
    assert!(host["api_version"].as_str().unwrap().starts_with("1."));

    // Filters agree with Docker's own.
    let count = |args: &[&str]| berth.json(args).as_array().unwrap().len();
    let lf = format!("label={label}");
    assert_eq!(count(&["ps", "--filter", &lf]), 20, "running and paused");
    assert_eq!(count(&["ps", "-a", "--filter", &lf, "--filter", "state=exited"]), 8);
    assert_eq!(count(&["ps", "-a", "--filter", &lf, "--filter", "state=created"]), 6);
    assert_eq!(count(&["ps", "-a", "--filter", &lf, "--filter", "state=paused"]), 4);
    assert_eq!(count(&["ps", "--filter", "label=tier=web", "--filter", "name=snap-web"]), 10);
    let by_ip = berth.json(&["ps", "--filter", "ip=10.231.7.13"]);
    assert_eq!(by_ip[0]["name"], "snap-web-3");
    assert_eq!(by_ip[0]["ips"]["snap-lan"], "10.231.7.13");
    let exited = berth.json(&["ps", "-a", "--filter", "name=snap-job-3"]);
    assert_eq!(exited[0]["exit_code"], 3);
    assert!(exited[0]["status"].as_str().unwrap().starts_with("Exited (3)"), "{}", exited[0]["status"]);
    for key in ["host", "id", "name", "image", "state", "status", "exit_code", "ips", "labels", "created", "synced_at"] {
        assert!(exited[0].get(key).is_some(), "ps --json lacks {key}");
    }

    // inspect by name, HOST/NAME and id prefix prints the stored inspect JSON.
    let docker_view: Vec<Value> = serde_json::from_str(&d.docker(&["inspect", "snap-web-3"])).unwrap();
    let id = docker_view[0]["Id"].as_str().unwrap();
    for query in ["snap-web-3", "snaphost/snap-web-3", &id[..10]] {
        let stored: Value = serde_json::from_str(&berth.ok(&["inspect", query])).unwrap();
        assert_eq!(stored["Id"], docker_view[0]["Id"], "{query}");
        assert_eq!(stored["State"]["Status"], "running");
        assert_eq!(stored["Config"]["Labels"], docker_view[0]["Config"]["Labels"]);
        assert_eq!(stored["NetworkSettings"]["Networks"]["snap-lan"]["IPAddress"], "10.231.7.13");
    }

    // Human output: a table with the host's freshness under it.
    let table = berth.ok(&["ps", "--filter", "name=snap-web-1"]);
    assert!(table.starts_with("HOST"), "{table}");
    assert!(table.contains("snap-web-1") && table.contains("snap-lan=10.231.7.11"), "{table}");
    assert!(table.contains("# snaphost: online, synced"), "{table}");
    let hosts = berth.ok(&["host", "ls"]);
    assert!(hosts.contains("snaphost") && hosts.contains("online"), "{hosts}");
}
