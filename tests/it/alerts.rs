//! Alerts from events through the real `berth` binary: a crash while followed (with its exit
//! code and last lines), an OOM kill, a restart loop; a stop someone asked for is none; a
//! crash clears when the container starts again; acknowledgement and muting.

use std::time::Duration;

use berth_e2e::{wait_for, Berth, Daemon, TEST_IMAGE};
use serde_json::Value;

fn alert(berth: &Berth, container: &str, kind: &str) -> Result<Value, Value> {
    let alerts = berth.json(&["alerts", "--all"]);
    alerts.as_array().unwrap().iter().find(|a| a["container"] == container && a["kind"] == kind).cloned().ok_or(alerts)
}

#[test]
fn crashes_oom_kills_and_restart_loops_raise_alerts_while_followed() {
    let daemon = Daemon::start();
    let berth = Berth::new();
    berth.ok(&["host", "add", "h", &daemon.url()]);
    let follower = berth.follow(&[]);
    wait_for("the follower's snapshot", Duration::from_secs(30), || if follower.log().contains("snapshot written") { Ok(()) } else { Err(follower.log()) });

    daemon.docker(&["run", "-d", "--name", "crash", TEST_IMAGE, "sh", "-c", "echo starting; echo about to fail >&2; sleep 1; exit 3"]);
    daemon.docker(&["run", "-d", "--name", "calm", TEST_IMAGE, "sleep", "3600"]);
    daemon.docker(&["stop", "-t", "1", "calm"]);
    daemon.docker(&[
        "run",
        "-d",
        "--name",
        "hog",
        "--memory",
        "16m",
        "--memory-swap",
        "16m",
        "--shm-size",
        "128m",
        TEST_IMAGE,
        "sh",
        "-c",
        "dd if=/dev/zero of=/dev/shm/fill bs=1M count=64; sleep 3600",
    ]);
    daemon.docker(&["run", "-d", "--name", "loop", "--restart", "always", TEST_IMAGE, "sh", "-c", "exit 1"]);

    let crash = wait_for("an exit alert for crash", Duration::from_secs(60), || alert(&berth, "crash", "exit"));
    assert_eq!((crash["exit_code"].as_i64(), crash["open"].as_bool(), crash["host"].as_str()), (Some(3), Some(true), Some("h")), "{crash}");
    assert!(crash["detail"].as_str().unwrap().contains("code 3"), "{crash}");
    let logs = crash["logs"].as_str().unwrap_or_default();
    assert!(logs.contains("starting") && logs.contains("about to fail"), "its last lines, stderr too: {crash}");
    for key in ["id", "time", "kind"] {
        assert!(!crash[key].is_null(), "{key}");
    }
    wait_for("an oom alert for hog", Duration::from_secs(60), || alert(&berth, "hog", "oom"));
    wait_for("a restart loop alert", Duration::from_secs(90), || alert(&berth, "loop", "restart_loop"));
    assert!(alert(&berth, "calm", "exit").is_err(), "a stop someone asked for is no crash: {}", berth.ok(&["alerts", "--all"]));

    // The crash clears when the container runs again; an alert can be acknowledged and muted.
    let id = crash["id"].as_i64().unwrap().to_string();
    assert!(berth.ok(&["alert", "ack", &id]).contains("acknowledged"));
    assert!(berth.ok(&["alert", "mute", &id, "--for", "2h"]).contains("muted until"));
    daemon.docker(&["start", "crash"]);
    wait_for("the crash alert to close", Duration::from_secs(30), || {
        let alerts = berth.json(&["alerts", "--all"]);
        let a = alerts.as_array().unwrap().iter().find(|a| a["id"] == crash["id"]).cloned().ok_or(alerts)?;
        if a["open"] == false && a["acked"] == true {
            Ok(())
        } else {
            Err(a)
        }
    });
    let open = berth.json(&["alerts"]);
    assert!(open.as_array().unwrap().iter().all(|a| a["open"] == true && a["id"] != crash["id"]), "only open ones: {open}");
    let table = berth.ok(&["alerts", "--all"]);
    assert!(table.contains("KIND") && table.contains("restart_loop"), "{table}");
    assert!(berth.fails(&["alert", "ack", "99999"]).contains("no alert 99999"));
    assert!(berth.fails(&["alert", "mute", &id, "--for", "soon"]).contains("not a duration"));
}

#[test]
fn a_crash_while_no_berth_watched_is_found_at_the_next_sync() {
    let daemon = Daemon::start();
    let berth = Berth::new();
    berth.ok(&["host", "add", "h", &daemon.url()]);
    daemon.docker(&["run", "-d", "--name", "later", TEST_IMAGE, "sh", "-c", "echo last words; sleep 2; exit 5"]);
    daemon.docker(&["run", "-d", "--name", "stopped", TEST_IMAGE, "sleep", "3600"]);
    berth.ok(&["sync", "--once"]);
    // No Berth runs while one crashes and the other is stopped.
    daemon.docker(&["stop", "-t", "1", "stopped"]);
    wait_for("later to exit", Duration::from_secs(30), || {
        let state = daemon.docker(&["inspect", "-f", "{{.State.Status}}", "later"]);
        if state.trim() == "exited" {
            Ok(())
        } else {
            Err(state)
        }
    });
    assert_eq!(berth.json(&["alerts"]), serde_json::json!([]), "nothing is known yet");
    berth.ok(&["sync", "--once"]);
    let found = alert(&berth, "later", "exit").unwrap_or_else(|all| panic!("{all}"));
    assert_eq!(found["exit_code"].as_i64(), Some(5), "{found}");
    assert!(found["detail"].as_str().unwrap().contains("found at the resync"), "{found}");
    assert!(found["logs"].as_str().unwrap_or_default().contains("last words"), "{found}");
    assert!(alert(&berth, "stopped", "exit").is_err(), "a stop is no crash");
    // Seen once: the next sync raises nothing new.
    berth.ok(&["sync", "--once"]);
    assert_eq!(berth.json(&["alerts", "--all"]).as_array().map(Vec::len), Some(1));
}

#[test]
fn rules_raise_thresholds_from_the_history_and_a_host_offline_too_long() {
    let mut daemon = Daemon::start();
    let berth = Berth::new();
    berth.ok(&["host", "add", "h", &daemon.url()]);
    daemon.docker(&["run", "-d", "--name", "spin", TEST_IMAGE, "sh", "-c", "while :; do :; done"]);
    let told = berth.dir.path().join("told.json");
    let command = format!("printf '%s' \"$BERTH_ALERT\" > {}", told.display());
    let rule = berth.ok(&["alert", "rule", "add", "--cpu", "30", "--for", "10s", "--container", "spin", "--command", &command]);
    assert!(rule.starts_with("rule "), "{rule}");
    berth.ok(&["alert", "rule", "add", "--host-offline", "--for", "10s", "--host", "h"]);
    let rules = berth.json(&["alert", "rule", "ls"]);
    assert_eq!(rules.as_array().map(Vec::len), Some(2), "{rules}");
    assert!(berth.fails(&["alert", "rule", "add", "--cpu=-5", "--for", "1m"]).contains("not a percentage"));
    assert!(berth.fails(&["alert", "rule", "add", "--memory", "50", "--for", "1s"]).contains("outside 10s to 30 days"));
    assert!(berth.fails(&["alert", "rule", "add", "--host-offline", "--for", "1m", "--host", "nosuch"]).contains("nosuch"));

    let follower = berth.follow(&["--sample-every", "1s"]);
    let hot = wait_for("a threshold alert", Duration::from_secs(60), || alert(&berth, "spin", "threshold"));
    assert!(hot["detail"].as_str().unwrap().contains("CPU above 30%"), "{hot}");
    let sent: Value =
        wait_for("the rule's command", Duration::from_secs(10), || std::fs::read_to_string(&told).ok().and_then(|t| serde_json::from_str(&t).ok()).ok_or(()));
    assert_eq!((sent["kind"].as_str(), sent["container"].as_str()), (Some("threshold"), Some("spin")), "{sent}");
    // The condition clears: the alert closes.
    daemon.docker(&["stop", "-t", "1", "spin"]);
    wait_for("the threshold alert to close", Duration::from_secs(60), || {
        let a = alert(&berth, "spin", "threshold")?;
        if a["open"] == false {
            Ok(())
        } else {
            Err(a)
        }
    });
    // The host goes away for longer than its rule allows.
    daemon.stop();
    let gone = wait_for("a host_offline alert", Duration::from_secs(90), || {
        let alerts = berth.json(&["alerts"]);
        alerts.as_array().unwrap().iter().find(|a| a["kind"] == "host_offline" && a["host"] == "h").cloned().ok_or(alerts)
    });
    assert!(gone["detail"].as_str().unwrap().contains("10 s"), "{gone}");
    drop(follower);
    let id = rules[0]["id"].as_i64().unwrap().to_string();
    berth.ok(&["alert", "rule", "rm", &id]);
    assert!(berth.fails(&["alert", "rule", "rm", &id]).contains("no rule"));
}
