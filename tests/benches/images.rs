//! The image delivery benchmark (issue #12), one run, side by side: an image of about 60 MB in
//! 3 layers on the busybox base, and a version 2 whose top layer (5 MB) changed, sent to hosts
//! at 150 ms RTT (a delay relay in front of each host's sshd; the engines live in network
//! namespaces):
//! - version 1 to a host without it: `berth image push` vs `docker save | ssh HOST docker load`;
//! - version 2: the bytes on the wire (counted at the relay) against the changed layer, and the
//!   time against the same pipe;
//! - version 2 to 3 hosts at once against 1 host;
//! - version 2 again with the export kept from the first push (a second wave of hosts, a retry);
//! - version 2 again with the connection already held (as the app holds one per host), through
//!   the core, beside the cold `berth image push` (a new process: SSH connect and all), with the
//!   push's steps as it logs them.
//!
//! Run: `cargo build --release -p berth-cli && cargo bench -p berth-e2e --bench images`

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use berth_e2e::netns::RemoteHost;
use berth_e2e::registry::build_image_layers;
use berth_e2e::ssh::{free_port, DelayRelay, Sshd};
use berth_e2e::{Berth, Daemon};

const ONE_WAY: Duration = Duration::from_millis(75);
const MB: u64 = 1 << 20;

struct Target {
    remote: RemoteHost,
    sshd: Sshd,
    relay: DelayRelay,
    name: String,
}

fn target(berth: &Berth, name: &str) -> Target {
    let remote = RemoteHost::start();
    // A loopback sshd whose `docker` commands and stream forwards reach the namespaced engine.
    let sshd = Sshd::start_full(false, true, Some(remote.daemon.url()));
    let relay = DelayRelay::start(free_port(), sshd.port, ONE_WAY);
    let known_hosts = berth.dir.path().join("known_hosts");
    let url = format!("ssh://root@127.0.0.1:{}{}", relay.port, remote.daemon.socket().display());
    berth.ok(&["host", "add", name, &url, "--identity", sshd.client_key.to_str().unwrap(), "--known-hosts", known_hosts.to_str().unwrap()]);
    berth.ok(&["host", "trust", name, "--yes"]);
    Target { remote, sshd, relay, name: name.to_owned() }
}

/// Forget the test image on a target (and its layers), so it is "a host without it" again.
fn forget(t: &Target, tag: &str) {
    let _ = Command::new("docker").args(["-H", &t.remote.daemon.url(), "rmi", "-f", tag]).output();
}

/// `docker save TAG | ssh -p RELAY root@127.0.0.1 docker load`: the baseline, on the same link.
fn save_ssh_load(src: &Daemon, t: &Target, tag: &str) -> (Duration, u64) {
    let up = t.relay.bytes_up();
    let started = Instant::now();
    let mut save = Command::new("docker").args(["-H", &src.url(), "save", tag]).stdout(Stdio::piped()).spawn().unwrap();
    let port = t.relay.port.to_string();
    let key = t.sshd.client_key.to_str().unwrap().to_owned();
    let load = Command::new("ssh")
        .args([
            "-p",
            &port,
            "-i",
            &key,
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "LogLevel=ERROR",
            "root@127.0.0.1",
            "docker",
            "load",
            "-q",
        ])
        .stdin(save.stdout.take().unwrap())
        .output()
        .unwrap();
    assert!(save.wait().unwrap().success() && load.status.success(), "save | ssh load failed: {}", String::from_utf8_lossy(&load.stderr));
    (started.elapsed(), t.relay.bytes_up() - up)
}

/// `berth image push src/TAG --to NAMES`: its time, and the bytes that crossed each target's link.
fn berth_push(berth: &Berth, tag: &str, targets: &[&Target]) -> (Duration, Vec<u64>, serde_json::Value) {
    let before: Vec<u64> = targets.iter().map(|t| t.relay.bytes_up()).collect();
    let names: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();
    let started = Instant::now();
    let json = berth.json(&["image", "push", &format!("src/{tag}"), "--to", &names.join(",")]);
    let took = started.elapsed();
    for result in json.as_array().unwrap() {
        assert!(result["error"].is_null(), "{result}");
    }
    (took, targets.iter().zip(before).map(|(t, b)| t.relay.bytes_up() - b).collect(), json)
}

/// The core's push in this process, over a fleet whose connection to `t` is already up.
fn warm_push(berth: &Berth, t: &Target, tag: &str) -> Duration {
    use berth_core::audit::{Op, Via};
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let store = std::sync::Arc::new(berth_core::store::Store::open(&berth.db()).unwrap());
        let fleet = berth_core::fleet::Fleet::new(store);
        for host in ["src", t.name.as_str()] {
            fleet.engine(host).await.unwrap().ping().await.unwrap();
        }
        let started = Instant::now();
        let results = berth_core::images::push::push(&fleet, &Op::new(Via::Cli, None), "src", tag, std::slice::from_ref(&t.name), |_| {}).await.unwrap();
        assert!(results[0].error.is_none(), "{:?}", results[0].error);
        started.elapsed()
    })
}

/// `berth image push` with the push's steps logged: its stderr lines that name them.
fn traced_push(berth: &Berth, tag: &str, t: &Target) -> Vec<String> {
    let out = berth.command(&["image", "push", &format!("src/{tag}"), "--to", &t.name]).env("BERTH_LOG", "berth_core::images=debug").output().unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stderr).lines().filter(|l| l.contains("push:")).map(|l| l.split("DEBUG ").last().unwrap_or(l).to_owned()).collect()
}

fn secs(d: Duration) -> String {
    format!("{:>7.2} s", d.as_secs_f64())
}

fn main() {
    let src = Daemon::start();
    let berth = Berth::new();
    berth.ok(&["host", "add", "src", &src.url()]);
    let targets = [target(&berth, "t1"), target(&berth, "t2"), target(&berth, "t3")];
    // About 60 MB in 3 layers (on the 2 MB busybox base); version 2 changes the top 5 MB.
    let v1 = build_image_layers(&src, "bench:1", &[(35, "b-a"), (20, "b-b"), (5, "b-top1")]);
    let v2 = build_image_layers(&src, "bench:2", &[(35, "b-a"), (20, "b-b"), (5, "b-top2")]);
    println!("image: 3 layers of 35, 20 and 5 MiB on busybox; v1 {}, v2 {}", &v1[7..19], &v2[7..19]);
    berth.ok(&["sync", "--once"]);

    let t1 = &targets[0];
    // Warm the link (the SSH session, the pooled connection) the way a user's earlier work would.
    berth.ok(&["sync", "--once", "t1"]);

    // Version 1 to a host without it, three times each, alternating.
    let (mut pipe_v1, mut berth_v1) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        forget(t1, "bench:1");
        pipe_v1.push(save_ssh_load(&src, t1, "bench:1"));
        forget(t1, "bench:1");
        berth.ok(&["sync", "--once", "t1"]);
        let (took, bytes, _) = berth_push(&berth, "bench:1", &[t1]);
        berth_v1.push((took, bytes[0]));
    }
    let median = |mut v: Vec<(Duration, u64)>| {
        v.sort();
        v[v.len() / 2]
    };
    let (pipe_t, pipe_b) = median(pipe_v1);
    let (berth_t, berth_b) = median(berth_v1);
    println!(
        "v1 to an empty host     save|ssh load {} {:>6} MB   berth push {} {:>6} MB   ratio {:.2} (goal <= 1.0)",
        secs(pipe_t),
        pipe_b / MB,
        secs(berth_t),
        berth_b / MB,
        berth_t.as_secs_f64() / pipe_t.as_secs_f64()
    );

    // Version 2 to a host that has version 1.
    berth.ok(&["sync", "--once", "t1"]);
    let (pipe2_t, pipe2_b) = save_ssh_load(&src, t1, "bench:2");
    forget(t1, "bench:2");
    berth.ok(&["sync", "--once", "t1"]);
    let (one_t, one_b, one_json) = berth_push(&berth, "bench:2", &[t1]);
    let changed = 5 * MB;
    println!(
        "v2 to a host with v1     save|ssh load {} {:>6} MB   berth push {} {:>6.2} MB on the wire ({:.2}x the 5 MiB layer, goal <= 1.1)   time ratio {:.2} (goal <= 0.2)",
        secs(pipe2_t),
        pipe2_b / MB,
        secs(one_t),
        one_b[0] as f64 / MB as f64,
        one_b[0] as f64 / changed as f64,
        one_t.as_secs_f64() / pipe2_t.as_secs_f64()
    );
    println!("  berth says: {}", one_json[0]);
    forget(t1, "bench:2");
    berth.ok(&["sync", "--once", "t1"]);
    let (kept_t, kept_b, _) = berth_push(&berth, "bench:2", &[t1]);
    println!(
        "v2 again, the export kept from that push (a second wave, a retry)   berth push {} {:>6.2} MB   time ratio {:.2} (goal <= 0.2)",
        secs(kept_t),
        kept_b[0] as f64 / MB as f64,
        kept_t.as_secs_f64() / pipe2_t.as_secs_f64()
    );
    let save_started = Instant::now();
    let save = Command::new("docker").args(["-H", &src.url(), "save", "bench:2"]).stdout(Stdio::null()).output().unwrap();
    assert!(save.status.success());
    println!("  the source's own docker save of v2 (local, to /dev/null): {}", secs(save_started.elapsed()));
    forget(t1, "bench:2");
    berth.ok(&["sync", "--once", "t1"]);
    for line in traced_push(&berth, "bench:2", t1) {
        println!("  step: {line}");
    }
    forget(t1, "bench:2");
    berth.ok(&["sync", "--once", "t1"]);
    let warm = warm_push(&berth, t1, "bench:2");
    println!(
        "v2 over a held connection (the app's case), export kept   berth push {}   time ratio {:.2} to save|ssh load (goal <= 0.2)",
        secs(warm),
        warm.as_secs_f64() / pipe2_t.as_secs_f64()
    );

    // Version 2 to three hosts at once, each with version 1.
    for t in &targets[1..] {
        berth_push(&berth, "bench:1", &[t]);
    }
    forget(t1, "bench:2");
    berth.ok(&["sync", "--once"]);
    let (one_again, _, _) = berth_push(&berth, "bench:2", &[t1]);
    forget(t1, "bench:2");
    berth.ok(&["sync", "--once"]);
    let all: Vec<&Target> = targets.iter().collect();
    let (three_t, three_b, _) = berth_push(&berth, "bench:2", &all);
    println!(
        "v2 to 3 hosts at once    one host {}   three hosts {}   ratio {:.2} (goal <= 1.3)   bytes per link {:?} MB",
        secs(one_again),
        secs(three_t),
        three_t.as_secs_f64() / one_again.as_secs_f64(),
        three_b.iter().map(|b| format!("{:.2}", *b as f64 / MB as f64)).collect::<Vec<_>>()
    );
}
