//! Out-of-band changes made with the docker CLI show up while `berth sync` follows.

use std::time::Duration;

use berth_e2e::{wait_for, Berth, Daemon, TEST_IMAGE};
use serde_json::Value;

use crate::host_entry;

/// Deadline for a change to reach the mirror. The goal (well under a second) is measured by the
/// benchmark; the deadline only keeps a loaded CI machine from turning slowness into a failure.
const SHOWS_UP: Duration = Duration::from_secs(5);

fn row(berth: &Berth, name: &str) -> Option<Value> {
    let rows = berth.json(&["ps", "-a", "--filter", &format!("name={name}")]);
    rows.as_array().unwrap().iter().find(|r| r["name"] == name).cloned()
}

#[test]
fn hand_made_changes_reach_the_mirror_while_following() {
    let d = Daemon::shared();
    let berth = Berth::new();
    berth.ok(&["host", "add", "follow", &d.url()]);
    let mut follower = berth.follow(&[]);
    wait_for("the first snapshot", SHOWS_UP, || match host_entry(&berth, "follow")["status"].as_str() {
        Some("online") => Ok(()),
        other => Err(other.map(str::to_owned)),
    });

    let id = d.docker(&["run", "-d", "--name", "oob-a", "--label", "berth.test=oob", TEST_IMAGE, "sleep", "3600"]);
    let created = wait_for("the new container", SHOWS_UP, || match row(&berth, "oob-a") {
        Some(r) if r["state"] == "running" => Ok(r),
        other => Err(other),
    });
    assert_eq!(created["id"], id.as_str());
    assert_eq!(created["labels"]["berth.test"], "oob");

    d.docker(&["kill", "oob-a"]);
    wait_for("the kill", SHOWS_UP, || match row(&berth, "oob-a") {
        Some(r) if r["state"] == "exited" && r["exit_code"] == 137 => Ok(()),
        other => Err(other),
    });

    d.docker(&["rename", "oob-a", "oob-b"]);
    wait_for("the rename", SHOWS_UP, || match (row(&berth, "oob-a"), row(&berth, "oob-b")) {
        (None, Some(r)) if r["id"] == id.as_str() => Ok(()),
        other => Err(other),
    });

    d.docker(&["network", "create", "--subnet", "10.231.9.0/24", "oob-lan"]);
    d.docker(&["start", "oob-b"]);
    d.docker(&["network", "connect", "--ip", "10.231.9.5", "oob-lan", "oob-b"]);
    wait_for("the network connect", SHOWS_UP, || match row(&berth, "oob-b") {
        Some(r) if r["ips"]["oob-lan"] == "10.231.9.5" && r["state"] == "running" => Ok(()),
        other => Err(other),
    });

    d.docker(&["rm", "-f", "oob-b"]);
    wait_for("the removal", SHOWS_UP, || match row(&berth, "oob-b") {
        None => Ok(()),
        other => Err(other),
    });

    d.docker(&["create", "--name", "oob-c", TEST_IMAGE]);
    wait_for("a created container", SHOWS_UP, || match row(&berth, "oob-c") {
        Some(r) if r["state"] == "created" => Ok(()),
        other => Err(other),
    });

    // Every event was stored, in order.
    let events = berth.json(&["events", "--host", "follow", "--since", "10m", "--limit", "1000"]);
    let actions: Vec<&str> =
        events.as_array().unwrap().iter().filter(|e| e["type"] == "container" && e["actor_id"] == id.as_str()).map(|e| e["action"].as_str().unwrap()).collect();
    for wanted in ["create", "start", "kill", "die", "rename", "destroy"] {
        assert!(actions.contains(&wanted), "no {wanted} event stored: {actions:?}");
    }
    let table = berth.ok(&["events", "--host", "follow", "--limit", "5"]);
    assert!(table.starts_with("TIME (UTC)") && table.lines().count() == 6, "{table}");

    assert!(follower.stop().success(), "the follower exits cleanly on SIGTERM:\n{}", follower.log());
}
