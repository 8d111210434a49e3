//! The SSH benchmark (issue #3), one run, one daemon, side by side:
//! median per-request latency of `/_ping` and `/containers/json` through Berth's tunnel vs the
//! direct socket vs `docker -H ssh://`, on loopback and at 150 ms RTT (a delay relay); a burst of
//! 10 concurrent list requests at 150 ms after warm-up; a full `berth sync --once` of a
//! 100-container host at 150 ms.
//!
//! Run: `cargo build --release -p berth-cli && cargo bench -p berth-e2e --bench ssh`

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use berth_core::connect::Engine;
use berth_core::endpoint::{Endpoint, SshOptions};
use berth_core::model::{Host, HostConfig};
use berth_e2e::ssh::{free_port, DelayRelay, Sshd};
use berth_e2e::{berth_binary, Daemon, TEST_IMAGE};

const ONE_WAY: Duration = Duration::from_millis(75);

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:>8.1} ms", d.as_secs_f64() * 1000.0)
}

fn host(name: &str, url: &str, sshd: &Sshd, known_hosts: &std::path::Path) -> Host {
    let ssh = SshOptions { identity: Some(sshd.client_key.clone()), known_hosts: Some(known_hosts.to_owned()), ..Default::default() };
    let endpoint = Endpoint::parse_with(url, None, if url.starts_with("ssh") { ssh } else { SshOptions::default() }).unwrap();
    Host { id: 0, config: HostConfig { name: name.into(), endpoint, labels: BTreeMap::new() } }
}

async fn per_request(engine: &Engine, rounds: usize) -> (Duration, Duration) {
    for _ in 0..3 {
        engine.ping().await.unwrap();
    }
    let mut pings = Vec::new();
    let mut lists = Vec::new();
    for _ in 0..rounds {
        let t = Instant::now();
        engine.ping().await.unwrap();
        pings.push(t.elapsed());
        let t = Instant::now();
        engine.container_count().await.unwrap();
        lists.push(t.elapsed());
    }
    (median(pings), median(lists))
}

async fn burst(engine: &Engine) -> Duration {
    let t = Instant::now();
    let lists = (0..10).map(|_| engine.container_count());
    for result in futures_util::future::join_all(lists).await {
        result.unwrap();
    }
    t.elapsed()
}

fn main() {
    let daemon = Daemon::start();
    let rounds: usize = std::env::var("BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(15);
    println!("setting up 100 containers (20 running) ...");
    for i in 0..100 {
        let name = format!("far-{i:03}");
        if i < 20 {
            daemon.docker(&["run", "-d", "--name", &name, TEST_IMAGE, "sleep", "36000"]);
        } else {
            daemon.docker(&["create", "--name", &name, TEST_IMAGE]);
        }
    }
    let sshd = Sshd::start_full(false, true, Some(daemon.url()));
    let relay = DelayRelay::start(free_port(), sshd.port, ONE_WAY);
    let dir = tempfile::tempdir().unwrap();
    let known_hosts = dir.path().join("known_hosts");
    let socket = daemon.socket().display().to_string();
    let near_url = format!("ssh://root@127.0.0.1:{}{socket}", sshd.port);
    let far_url = format!("ssh://root@127.0.0.1:{}{socket}", relay.port);
    for url in [&near_url, &far_url] {
        let Endpoint::Ssh(ep) = host("trust", url, &sshd, &known_hosts).config.endpoint else { unreachable!() };
        let (key, known_as, _) = berth_core::connect::ssh::scan_host_key("trust", &ep).unwrap();
        berth_core::connect::ssh::record_host_key(&ep, &known_as, &key).unwrap();
    }

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (direct, near, far, far_burst) = runtime.block_on(async {
        let direct = berth_core::connect::connect(&host("direct", &daemon.url(), &sshd, &known_hosts)).await.unwrap();
        let near = berth_core::connect::connect(&host("near", &near_url, &sshd, &known_hosts)).await.unwrap();
        let far = berth_core::connect::connect(&host("far", &far_url, &sshd, &known_hosts)).await.unwrap();
        let d = per_request(&direct, rounds).await;
        let n = per_request(&near, rounds).await;
        let f = per_request(&far, rounds.min(10)).await;
        burst(&far).await; // warm-up: the pool now holds 10 connections
        let mut bursts = Vec::new();
        for _ in 0..3 {
            bursts.push(burst(&far).await);
        }
        (d, n, f, median(bursts))
    });

    // docker -H ssh://: the system ssh, told where our key and known_hosts are.
    let wrapper = dir.path().join("bin");
    std::fs::create_dir_all(&wrapper).unwrap();
    let config = dir.path().join("ssh_config");
    std::fs::write(
        &config,
        format!(
            "Host *\n  IdentityFile {}\n  UserKnownHostsFile {}\n  StrictHostKeyChecking yes\n  BatchMode yes\n",
            sshd.client_key.display(),
            known_hosts.display()
        ),
    )
    .unwrap();
    let script = wrapper.join("ssh");
    std::fs::write(&script, format!("#!/bin/sh\nexec /usr/bin/ssh -F {} \"$@\"\n", config.display())).unwrap();
    std::os::unix::fs::PermissionsExt::set_mode(&mut std::fs::metadata(&script).unwrap().permissions(), 0o755);
    Command::new("chmod").arg("755").arg(&script).status().unwrap();
    let path = format!("{}:{}", wrapper.display(), std::env::var("PATH").unwrap_or_default());
    let docker_cli = if std::path::Path::new("/usr/bin/docker").exists() { "/usr/bin/docker" } else { "docker" };
    let docker_ssh = |port: u16, runs: usize| {
        let url = format!("ssh://root@127.0.0.1:{port}");
        let samples = (0..runs)
            .map(|_| {
                let t = Instant::now();
                let out = Command::new(docker_cli).args(["-H", &url, "ps", "-aq"]).env("PATH", &path).output().unwrap();
                assert!(out.status.success(), "docker -H ssh: {}", String::from_utf8_lossy(&out.stderr));
                t.elapsed()
            })
            .collect();
        median(samples)
    };
    let cli_near = docker_ssh(sshd.port, 5);
    let cli_far = docker_ssh(relay.port, 3);

    // Full sync of the 100-container host at 150 ms RTT, the whole berth process.
    let mut syncs = Vec::new();
    for _ in 0..3 {
        let db = dir.path().join(format!("far-{}.db", syncs.len()));
        let berth = |args: &[&str]| {
            let out = Command::new(berth_binary()).arg("--db").arg(&db).args(args).output().unwrap();
            assert!(out.status.success(), "berth {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        berth(&["host", "add", "far", &far_url, "--identity", &sshd.client_key.to_string_lossy(), "--known-hosts", &known_hosts.to_string_lossy()]);
        let t = Instant::now();
        berth(&["sync", "--once"]);
        syncs.push(t.elapsed());
    }

    println!("\nmedian per-request latency ({rounds} rounds after warm-up):");
    println!("                                   /_ping    /containers/json (100)");
    println!("  direct socket               {}   {}", ms(direct.0), ms(direct.1));
    println!("  berth tunnel, loopback      {}   {}", ms(near.0), ms(near.1));
    println!("  berth tunnel, 150 ms RTT    {}   {}   (goal: 1 RTT, <= 160 ms)", ms(far.0), ms(far.1));
    println!("  docker -H ssh:// ps -aq, per command: loopback {}, 150 ms RTT {}", ms(cli_near), ms(cli_far));
    println!("\nburst of 10 concurrent list requests at 150 ms RTT, warm (median of 3): {} (goal <= 400 ms)", ms(far_burst));
    println!("berth sync --once, 100 containers at 150 ms RTT (median of 3, whole process): {} (goal <= 3 s)", ms(median(syncs)));
}
