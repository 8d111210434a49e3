//! The desktop app under Xvfb: its window opens and, on a first start with an empty store, it
//! adopts the local engine (DOCKER_HOST) as host "local" and mirrors it.

use std::process::{Command, Stdio};
use std::time::Duration;

use berth_e2e::desktop::{app_binary, app_env, spawn_group, xvfb};
use berth_e2e::{wait_for, Berth, Daemon};

use crate::host_entry;

#[test]
fn the_app_opens_its_window_and_adopts_the_local_engine() {
    let app = app_binary();
    let d = Daemon::shared();
    let berth = Berth::new();
    let (_x, display) = xvfb();
    let log = std::fs::File::create(berth.dir.path().join("app.log")).unwrap();
    let mut cmd = Command::new("dbus-run-session");
    cmd.arg("--").arg(&app).env("DOCKER_HOST", d.url()).stdout(Stdio::null()).stderr(log);
    app_env(&mut cmd, &display, &berth.db(), &berth.dir.path().join("home"));
    let _app = spawn_group(&mut cmd);
    let app_log = || std::fs::read_to_string(berth.dir.path().join("app.log")).unwrap_or_default();

    wait_for("the Berth window", Duration::from_secs(60), || {
        let found = Command::new("xdotool")
            .args(["search", "--name", "^Berth$"])
            .env("DISPLAY", &display)
            .output()
            .unwrap_or_else(|e| panic!("running xdotool: {e} (./x test installs it)"));
        if found.status.success() {
            Ok(())
        } else {
            Err(app_log())
        }
    });
    let local = wait_for("the local engine to be adopted and mirrored", Duration::from_secs(30), || {
        if !berth.db().exists() {
            return Err(app_log());
        }
        let host = host_entry(&berth, "local");
        if host["status"] == "online" && host["last_sync"].is_string() {
            Ok(host)
        } else {
            Err(format!("{host}\n{}", app_log()))
        }
    });
    assert_eq!(local["url"], d.url().as_str());
    assert!(local["containers"].as_i64().is_some());

    // While it runs, the app follows its hosts: a container made by hand reaches the mirror.
    d.docker(&["run", "-d", "--name", "app-live", "--label", "berth.test=app", berth_e2e::TEST_IMAGE, "sleep", "3600"]);
    wait_for("the app to mirror a new container", Duration::from_secs(10), || {
        let rows = berth.json(&["ps", "--filter", "name=app-live"]);
        if rows.as_array().is_some_and(|r| r.len() == 1) {
            Ok(())
        } else {
            Err(format!("{rows}\n{}", app_log()))
        }
    });
}
