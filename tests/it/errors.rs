//! Bad input and unreachable engines: clear errors, exit code ≠ 0, nothing half-written.

use std::os::unix::fs::PermissionsExt;

use berth_e2e::{Berth, Daemon};

use crate::host_entry;

#[test]
fn bad_host_urls_are_refused_and_nothing_is_written() {
    let berth = Berth::new();
    let cases = [
        ("http://10.0.0.1:2375", "tcp://HOST:PORT"),
        ("10.0.0.1:2375", "no scheme"),
        ("unix://docker.sock", "absolute"),
        ("tcp://:2375", "host"),
        ("tcp://h:70000", "port"),
        ("gopher://h", "unknown scheme"),
    ];
    for (url, says) in cases {
        let err = berth.fails(&["host", "add", "x", url]);
        assert!(err.contains(says), "{url}: {err}");
        assert!(err.starts_with("berth: "), "{err}");
    }
    let err = berth.fails(&["host", "add", "bad/name", "unix:///var/run/docker.sock"]);
    assert!(err.contains("host name"), "{err}");
    let err = berth.fails(&["host", "add", "x", "unix:///x.sock", "--label", "novalue"]);
    assert!(err.contains("KEY=VALUE"), "{err}");
    let err = berth.fails(&["host", "add", "x", "tcp://h:2376", "--tls-ca", "/nonexistent/ca.pem", "--tls-cert", "/x", "--tls-key", "/y"]);
    assert!(err.contains("--tls-ca") && err.contains("/nonexistent/ca.pem"), "{err}");
    let err = berth.fails(&["host", "add", "x", "tcp://h:2376", "--tls-ca", "/x"]);
    assert!(err.contains("--tls-cert"), "clap names the missing flags: {err}");
    assert_eq!(berth.json(&["host", "ls"]), serde_json::json!([]), "no host was half-added");

    berth.ok(&["host", "add", "x", "unix:///nowhere/docker.sock"]);
    let err = berth.fails(&["host", "add", "x", "unix:///elsewhere.sock"]);
    assert!(err.contains("already exists"), "{err}");
    let err = berth.fails(&["host", "rm", "y"]);
    assert!(err.contains("no host named \"y\""), "{err}");
    berth.ok(&["host", "rm", "x"]);
    let err = berth.fails(&["sync", "--once"]);
    assert!(err.contains("no hosts yet"), "{err}");
}

#[test]
fn unreachable_hosts_fail_sync_but_reads_still_answer() {
    let berth = Berth::new();
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    berth.ok(&["host", "add", "gone", "unix:///nowhere/docker.sock"]);
    berth.ok(&["host", "add", "refused", &format!("tcp://127.0.0.1:{closed_port}")]);
    assert_eq!(host_entry(&berth, "gone")["status"], "never");

    let out = berth.run(&["sync", "--once"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no socket at /nowhere/docker.sock"), "{err}");
    assert!(err.contains("connection refused"), "{err}");
    for name in ["gone", "refused"] {
        let host = host_entry(&berth, name);
        assert_eq!(host["status"], "offline", "{host}");
        assert!(host["last_sync"].is_null());
    }
    assert_eq!(berth.json(&["ps", "-a"]), serde_json::json!([]));
    let err = berth.fails(&["sync", "--once", "nosuch"]);
    assert!(err.contains("no host named"), "{err}");
}

#[test]
fn a_socket_without_permission_says_so() {
    let d = Daemon::shared();
    let berth = Berth::new();
    std::fs::set_permissions(berth.dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    berth.ok(&["host", "add", "locked", &d.url()]);
    std::fs::set_permissions(berth.db(), std::fs::Permissions::from_mode(0o666)).unwrap();
    // The engine's socket is root's (0660); run berth as nobody.
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(berth_e2e::berth_binary())
        .arg("--db")
        .arg(berth.db())
        .args(["sync", "--once"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("permission denied") && err.contains("docker"), "{err}");
    assert_eq!(host_entry(&berth, "locked")["status"], "offline");
}

#[test]
fn a_file_that_is_not_a_berth_database_is_left_alone() {
    let berth = Berth::new();
    std::fs::write(berth.db(), b"this is a shopping list, not a database\n").unwrap();
    let err = berth.fails(&["ps"]);
    assert!(err.contains("is not a Berth database") && err.contains("untouched"), "{err}");
    assert_eq!(std::fs::read(berth.db()).unwrap(), b"this is a shopping list, not a database\n");
    let err = berth.fails(&["host", "add", "x", "unix:///x.sock"]);
    assert!(err.contains("not a Berth database"), "{err}");
}

#[test]
fn bad_read_arguments_are_explained() {
    let berth = Berth::new();
    for (args, says) in [
        (&["ps", "--filter", "colour=red"][..], "unknown key"),
        (&["ps", "--filter", "state=sleeping"], "unknown state"),
        (&["ps", "--filter", "ip=10.1"], "not an IP"),
        (&["ps", "--host", "nosuch"], "no host named"),
        (&["inspect", "nosuch"], "no container matches"),
        (&["events", "--since", "last tuesday"], "RFC 3339"),
        (&["events", "--limit", "0"], "--limit"),
    ] {
        let err = berth.fails(args);
        assert!(err.contains(says), "{args:?}: {err}");
    }
}
