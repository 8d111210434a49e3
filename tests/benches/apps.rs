//! The app rollout benchmark (issue #13), one run, side by side, on the test bed: three engines
//! in network namespaces (sh1, sh2 by socket; bj1 over SSH behind a 150 ms RTT relay), two
//! pools on two segments, an app of 6 replicas with a 5 MB package and a config file:
//! - `berth app deploy` (a new process, as a user types it) against the same six containers
//!   made with docker CLI commands, one replica after the other as a script does: `docker -H
//!   ssh://… create` (fixed address; this docker CLI refuses `--mac-address` with a network on
//!   API 1.41, so the baseline sets none), `docker cp` of the package and the config file,
//!   `docker start` (a local socket for sh1 and sh2, `ssh://` through the same relay for bj1);
//!   goal: berth ≤ 0.3× the docker CLI;
//! - a rolling update of the six (parallelism 2, stop-first): wall time and the longest gap in
//!   service of a replica (the old container's end to the new one's start, from the engine's
//!   own clock; its first health check follows within the 200 ms interval).
//!
//! Run: `cargo build --release -p berth-cli && cargo bench -p berth-e2e --bench apps`

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use berth_e2e::netns::RemoteHost;
use berth_e2e::ssh::{free_port, DelayRelay, Sshd};
use berth_e2e::Berth;

const ONE_WAY: Duration = Duration::from_millis(75);

const APP: &str = r#"
name = "bench"
image = "berth-test:latest"
command = ["sh", "/app/bin/start"]
replicas = 6
[package]
source = "pkg"
path = "/app"
[placement]
pools = ["lan-sh", "lan-bj"]
[health]
cmd = ["test", "-f", "/app/ready"]
interval = "200ms"
retries = 3
start_period = "0s"
[update]
parallelism = 2
order = "stop-first"
monitor = "0s"
[env.prod]
vars = { MODE = "MODE1" }
files = { "/app/conf/app.properties" = "conf/prod.properties" }
"#;

fn app_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let pkg = dir.path().join("pkg");
    std::fs::create_dir_all(pkg.join("bin")).unwrap();
    std::fs::create_dir_all(pkg.join("lib")).unwrap();
    std::fs::write(pkg.join("bin/start"), "trap 'exit 0' TERM\ntouch /app/ready\nwhile true; do sleep 1; done\n").unwrap();
    // 5 MB that does not compress (a jar's worth of classes).
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let bytes: Vec<u8> = (0..5 << 20)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    std::fs::write(pkg.join("lib/app.jar"), bytes).unwrap();
    std::fs::create_dir_all(dir.path().join("conf")).unwrap();
    std::fs::write(dir.path().join("conf/prod.properties"), "db=prod\n").unwrap();
    std::fs::write(dir.path().join("app.toml"), APP).unwrap();
    dir
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A folder with an `ssh` that adds the test key and skips host-key checks, for `docker -H
/// ssh://` (which runs the `ssh` it finds on PATH).
fn ssh_wrapper(key: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let script =
        format!("#!/bin/sh\nexec /usr/bin/ssh -i {} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \"$@\"\n", key.display());
    let path = dir.path().join("ssh");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    dir
}

fn main() {
    let hosts: BTreeMap<&str, RemoteHost> = ["sh1", "sh2", "bj1"].into_iter().map(|n| (n, RemoteHost::start())).collect();
    // A loopback sshd whose commands (docker system dial-stdio) and forwards reach bj1's engine.
    let sshd = Sshd::start_full(false, true, Some(hosts["bj1"].daemon.url()));
    let relay = DelayRelay::start(free_port(), sshd.port, ONE_WAY);
    let berth = Berth::new();
    berth.ok(&["host", "add", "sh1", &hosts["sh1"].daemon.url()]);
    berth.ok(&["host", "add", "sh2", &hosts["sh2"].daemon.url()]);
    let known_hosts = berth.dir.path().join("known_hosts");
    let bj_url = format!("ssh://root@127.0.0.1:{}{}", relay.port, hosts["bj1"].daemon.socket().display());
    berth.ok(&["host", "add", "bj1", &bj_url, "--identity", sshd.client_key.to_str().unwrap(), "--known-hosts", known_hosts.to_str().unwrap()]);
    berth.ok(&["host", "trust", "bj1", "--yes"]);
    let tag = std::process::id() % 100_000;
    berth.ok(&[
        "ipam",
        "pool",
        "add",
        "lan-sh",
        "--subnet",
        "10.91.0.0/24",
        "--segment",
        "sh",
        "--range",
        "10.91.0.0/28",
        "--host",
        "sh1,ip=10.91.0.251",
        "--host",
        "sh2,ip=10.91.0.252",
        "--bridge-name",
        &format!("ps{tag}"),
    ]);
    berth.ok(&[
        "ipam",
        "pool",
        "add",
        "lan-bj",
        "--subnet",
        "10.92.0.0/24",
        "--segment",
        "bj",
        "--range",
        "10.92.0.0/28",
        "--host",
        "bj1,ip=10.92.0.251",
        "--bridge-name",
        &format!("pb{tag}"),
    ]);
    berth.ok(&["net", "apply", "lan-sh"]);
    berth.ok(&["net", "apply", "lan-bj"]);
    berth.ok(&["sync", "--once"]);
    let dir = app_dir();
    berth.ok(&["app", "apply", dir.path().join("app.toml").to_str().unwrap()]);
    let plan = berth.json(&["app", "plan", "bench", "--env", "prod"]);
    println!("app: 6 replicas, package 5 MiB (+ a config file), health check every 200 ms; bj1 at {} ms RTT", ONE_WAY.as_millis() * 2);

    // The docker CLI, one replica after the other, on the same hosts and networks (addresses
    // outside the pools' ranges so that both sets can run).
    let wrapper = ssh_wrapper(&sshd.client_key);
    let path = format!("{}:{}", wrapper.path().display(), std::env::var("PATH").unwrap_or_default());
    let docker_url = |host: &str| if host == "bj1" { format!("ssh://root@127.0.0.1:{}", relay.port) } else { hosts[host].daemon.url() };
    // `docker cp` makes the destination folder, not its parents: the config in a folder of its own.
    std::fs::create_dir_all(dir.path().join("cliconf")).unwrap();
    std::fs::copy(dir.path().join("conf/prod.properties"), dir.path().join("cliconf/app.properties")).unwrap();
    let started = Instant::now();
    for p in plan["placements"].as_array().unwrap() {
        let (host, pool) = (p["host"].as_str().unwrap(), p["pool"].as_str().unwrap());
        let replica = p["replica"].as_u64().unwrap();
        let ip = format!("{}.{}", p["ip"].as_str().unwrap().rsplit_once('.').unwrap().0, 100 + replica);
        let name = format!("cli-{replica}");
        let url = docker_url(host);
        let docker = |args: &[&str]| {
            let mut cmd = Command::new("docker");
            cmd.env("PATH", &path).arg("-H").arg(&url).args(args);
            run(&mut cmd)
        };
        docker(&[
            "create",
            "--name",
            &name,
            "--network",
            pool,
            "--ip",
            &ip,
            "-e",
            "MODE=MODE1",
            "--health-cmd",
            "test -f /app/ready",
            "--health-interval",
            "200ms",
            "berth-test:latest",
            "sh",
            "/app/bin/start",
        ]);
        docker(&["cp", dir.path().join("pkg").to_str().unwrap(), &format!("{name}:/app")]);
        docker(&["cp", dir.path().join("cliconf").to_str().unwrap(), &format!("{name}:/app/conf")]);
        docker(&["start", &name]);
    }
    let cli = started.elapsed();

    let started = Instant::now();
    let out = berth.ok(&["app", "deploy", "bench", "--env", "prod"]);
    let deploy = started.elapsed();
    assert!(out.contains("6 replicas healthy"), "{out}");
    println!("deploy of 6 replicas: berth app deploy {:.2} s (healthy) vs docker CLI create/cp/cp/start per replica {:.2} s (not waiting for health): {:.2}× (goal ≤ 0.3×)", deploy.as_secs_f64(), cli.as_secs_f64(), deploy.as_secs_f64() / cli.as_secs_f64());

    // A rolling update: revision 2, parallelism 2, stop-first.
    let before = berth.json(&["app", "status", "bench", "--env", "prod"]);
    std::fs::write(dir.path().join("app.toml"), APP.replace("MODE1", "MODE2")).unwrap();
    berth.ok(&["app", "apply", dir.path().join("app.toml").to_str().unwrap()]);
    let started = Instant::now();
    let out = berth.ok(&["app", "deploy", "bench", "--env", "prod"]);
    let update = started.elapsed();
    assert!(out.contains("6 updated"), "{out}");
    let after = berth.json(&["app", "status", "bench", "--env", "prod"]);
    let mut longest = Duration::ZERO;
    for (old, new) in before["replicas"].as_array().unwrap().iter().zip(after["replicas"].as_array().unwrap()) {
        let host = old["host"].as_str().unwrap();
        let inspect = |name: &str, format: &str| hosts[host].daemon.docker(&["inspect", "-f", format, name]).trim().to_owned();
        let ended = inspect(old["container"].as_str().unwrap(), "{{.State.FinishedAt}}");
        // Docker keeps only a container's last 5 health checks, so the first healthy one may be
        // gone: the gap is measured to the new container's start (its first check follows
        // within the 200 ms interval).
        let first_healthy = inspect(new["container"].as_str().unwrap(), "{{.State.StartedAt}}");
        let parse = |t: &str| chrono::DateTime::parse_from_rfc3339(t).ok();
        let (Some(e), Some(h)) = (parse(&ended), parse(&first_healthy)) else { continue };
        let gap = (h - e).num_milliseconds() as f64 / 1000.0;
        longest = longest.max(Duration::from_secs_f64(gap.max(0.0)));
    }
    println!(
        "rolling update of 6 replicas (parallelism 2, stop-first, monitor 0 s): {:.2} s; longest gap in service of a replica {:.2} s (the old container's end to the new one's start, then its first health check within 200 ms)",
        update.as_secs_f64(),
        longest.as_secs_f64()
    );
}
