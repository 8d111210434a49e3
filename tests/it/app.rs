//! The desktop app under Xvfb: its window opens and, on a first start with an empty store, it
//! adopts the local engine (DOCKER_HOST) as host "local" and mirrors it.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use berth_e2e::{wait_for, Berth, Daemon};

use crate::host_entry;

fn app_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let app = exe.parent().and_then(Path::parent).unwrap().join("berth-app");
    assert!(app.exists(), "{} is missing: build it with `cargo build -p berth-app --features custom-protocol` (./x test does)", app.display());
    app
}

/// A process group that is killed (all of it) on drop.
struct Group(Child);

impl Drop for Group {
    fn drop(&mut self) {
        unsafe {
            libc::kill(-(self.0.id() as i32), libc::SIGTERM);
        }
        let _ = self.0.wait();
    }
}

fn spawn_group(cmd: &mut Command) -> Group {
    unsafe {
        cmd.pre_exec(|| {
            libc::setpgid(0, 0);
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    Group(cmd.spawn().unwrap_or_else(|e| panic!("starting {cmd:?}: {e} (./x test installs xvfb, dbus-x11 and xdotool)")))
}

/// An Xvfb on the first free display number.
fn xvfb() -> (Group, String) {
    for n in 90..140 {
        if Path::new(&format!("/tmp/.X11-unix/X{n}")).exists() || Path::new(&format!("/tmp/.X{n}-lock")).exists() {
            continue;
        }
        let display = format!(":{n}");
        let server = spawn_group(Command::new("Xvfb").args([display.as_str(), "-screen", "0", "1280x800x24", "-nolisten", "tcp"]).stderr(Stdio::null()));
        wait_for("Xvfb", Duration::from_secs(10), || if Path::new(&format!("/tmp/.X11-unix/X{n}")).exists() { Ok(()) } else { Err(()) });
        return (server, display);
    }
    panic!("no free X display between :90 and :139");
}

#[test]
fn the_app_opens_its_window_and_adopts_the_local_engine() {
    let app = app_binary();
    let d = Daemon::shared();
    let berth = Berth::new();
    let (_x, display) = xvfb();
    let home = berth.dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let log = std::fs::File::create(berth.dir.path().join("app.log")).unwrap();
    let _app = spawn_group(
        Command::new("dbus-run-session")
            .arg("--")
            .arg(&app)
            .env("DISPLAY", &display)
            .env("BERTH_DB", berth.db())
            .env("DOCKER_HOST", d.url())
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .stdout(Stdio::null())
            .stderr(log),
    );
    let app_log = || std::fs::read_to_string(berth.dir.path().join("app.log")).unwrap_or_default();

    wait_for("the Berth window", Duration::from_secs(60), || {
        let found = Command::new("xdotool")
            .args(["search", "--name", "^Berth$"])
            .env("DISPLAY", &display)
            .output()
            .unwrap_or_else(|e| panic!("running xdotool: {e} (./x test installs it)"));
        if found.status.success() { Ok(()) } else { Err(app_log()) }
    });
    let local = wait_for("the local engine to be adopted and mirrored", Duration::from_secs(30), || {
        if !berth.db().exists() {
            return Err(app_log());
        }
        let host = host_entry(&berth, "local");
        if host["status"] == "online" && host["last_sync"].is_string() { Ok(host) } else { Err(format!("{host}\n{}", app_log())) }
    });
    assert_eq!(local["url"], d.url().as_str());
    assert!(local["containers"].as_i64().is_some());

    // While it runs, the app follows its hosts: a container made by hand reaches the mirror.
    d.docker(&["run", "-d", "--name", "app-live", "--label", "berth.test=app", berth_e2e::TEST_IMAGE, "sleep", "3600"]);
    wait_for("the app to mirror a new container", Duration::from_secs(10), || {
        let rows = berth.json(&["ps", "--filter", "name=app-live"]);
        if rows.as_array().is_some_and(|r| r.len() == 1) { Ok(()) } else { Err(format!("{rows}\n{}", app_log())) }
    });
}
