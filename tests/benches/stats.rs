//! The monitoring benchmark (issue 14), one run, one daemon, side by side:
//!
//! 1. 200 running containers: a full sample with Berth (`berth stats --no-stream`, the cgroup
//!    path and `--api`) against `docker stats --no-stream`, with the daemon's and containerd's
//!    CPU seconds per sample; and one collector tick (a reading of all 200) on each path;
//! 2. at 150 ms RTT over SSH: a tick of 50 containers on the cgroup path, in round trips;
//! 3. Berth's own CPU while collecting 200 containers every 10 s (ticks and history writes),
//!    the history write per tick, a 30-day chart query, and the store's size for 200
//!    containers × 30 days.
//!
//! Run: `cargo build --release -p berth-cli && cargo bench -p berth-e2e --bench stats`
//! (`BENCH_RUNNING` shrinks it).

use std::collections::HashMap;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_core::fleet::Fleet;
use berth_core::model::Figures;
use berth_core::monitor::sample::Sampler;
use berth_core::store::metrics::MetricSample;
use berth_core::store::Store;
use berth_e2e::ssh::{free_port, DelayRelay, Sshd};
use berth_e2e::{berth_binary, Berth, Daemon, TEST_IMAGE};
use bollard::models::ContainerCreateBody;
use bollard::query_parameters::CreateContainerOptions;
use futures_util::{stream, StreamExt, TryStreamExt};

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// CPU seconds so far of every process whose command line names `needle` (the daemon's folder).
fn cpu_seconds(needle: &str) -> f64 {
    let ticks = 100.0; // USER_HZ
    let mut total = 0.0;
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let path = entry.path();
        let Ok(cmdline) = std::fs::read(path.join("cmdline")) else { continue };
        if !String::from_utf8_lossy(&cmdline).contains(needle) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(path.join("stat")) else { continue };
        let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
        // utime and stime are fields 14 and 15 of stat; after the name, 12 and 13 (0-based 11, 12).
        if fields.len() > 12 {
            total += (fields[11].parse::<f64>().unwrap_or(0.0) + fields[12].parse::<f64>().unwrap_or(0.0)) / ticks;
        }
    }
    total
}

fn own_cpu_seconds() -> f64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(usage.ru_utime) + t(usage.ru_stime)
}

async fn populate(docker: &bollard::Docker, running: usize) {
    let ids: Vec<String> = stream::iter(0..running)
        .map(|i| {
            let docker = docker.clone();
            async move {
                let body = ContainerCreateBody {
                    image: Some(TEST_IMAGE.into()),
                    cmd: Some(vec!["sleep".into(), "36000".into()]),
                    labels: Some(HashMap::from([("bench".to_owned(), "stats".to_owned())])),
                    ..Default::default()
                };
                let options = CreateContainerOptions { name: Some(format!("s{i:03}")), ..Default::default() };
                docker.create_container(Some(options), body).await.map(|r| r.id)
            }
        })
        .buffered(8)
        .try_collect()
        .await
        .unwrap();
    stream::iter(ids.iter()).for_each_concurrent(4, |id| async move { docker.start_container(id, None).await.unwrap() }).await;
}

/// Run `cmd` `rounds` times: the median wall time and the mean CPU seconds of the daemon's processes.
fn timed(rounds: usize, daemon_dir: &str, mut cmd: impl FnMut()) -> (Duration, f64) {
    let mut times = Vec::new();
    let before = cpu_seconds(daemon_dir);
    for _ in 0..rounds {
        let started = Instant::now();
        cmd();
        times.push(started.elapsed());
    }
    (median(times), (cpu_seconds(daemon_dir) - before) / rounds as f64)
}

fn main() {
    let running: usize = std::env::var("BENCH_RUNNING").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    let rounds = 3;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let daemon = Daemon::start();
    let daemon_dir = daemon.folder().display().to_string();
    println!("starting {running} containers on a private dockerd ...");
    runtime.block_on(populate(&daemon.client(), running));
    std::thread::sleep(Duration::from_secs(2));

    // 1. A full sample of every running container.
    let berth = Berth::new();
    berth.ok(&["host", "add", "h", &daemon.url()]);
    let docker_cli = if std::path::Path::new("/usr/bin/docker").exists() { "/usr/bin/docker" } else { "docker" };
    let run = |args: &[&str]| {
        let out = Command::new(berth_binary()).args(["--db", berth.db().to_str().unwrap()]).args(args).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(rows.as_array().map(Vec::len), Some(running));
    };
    let (docker_time, docker_cpu) = timed(rounds, &daemon_dir, || {
        let out = Command::new(docker_cli).args(["-H", &daemon.url(), "stats", "--no-stream"]).output().unwrap();
        assert!(out.status.success());
    });
    let (cgroup_time, cgroup_cpu) = timed(rounds, &daemon_dir, || run(&["--json", "stats", "--no-stream"]));
    let (api_time, api_cpu) = timed(rounds, &daemon_dir, || run(&["--json", "stats", "--no-stream", "--api"]));
    println!("full sample of {running} running containers (median of {rounds}; daemon + containerd CPU per sample):");
    println!("  docker stats --no-stream            {}  ({docker_cpu:.2} CPU s)", secs(docker_time));
    println!(
        "  berth stats --no-stream (cgroup)    {}  ({cgroup_cpu:.2} CPU s): {:.2}× (goal ≤ 0.3×)",
        secs(cgroup_time),
        cgroup_time.as_secs_f64() / docker_time.as_secs_f64()
    );
    println!(
        "  berth stats --no-stream --api       {}  ({api_cpu:.2} CPU s): {:.2}× (goal ≤ 0.6× on Docker 20.10)",
        secs(api_time),
        api_time.as_secs_f64() / docker_time.as_secs_f64()
    );
    println!("  (berth's figure includes a snapshot of the host and two readings 0.5 s apart for the CPU %)");

    // One collector tick (a reading of every running container) on each path, in-process.
    let store = Arc::new(Store::open(&berth.db()).unwrap());
    let fleet = Fleet::new(Arc::clone(&store));
    let host = store.host("h").unwrap();
    let running_pairs = |store: &Store| -> Vec<(String, u32)> { store.running_with_pids("h").unwrap().into_iter().map(|(id, _, pid)| (id, pid)).collect() };
    let pairs = running_pairs(&store);
    for (label, api_only) in [("cgroup", false), ("api", true)] {
        let mut sampler = Sampler::new(api_only);
        let engine = runtime.block_on(fleet.engine_for(&host)).unwrap();
        let mut times = Vec::new();
        let before = cpu_seconds(&daemon_dir);
        for _ in 0..rounds {
            let started = Instant::now();
            let read = runtime.block_on(sampler.read(&engine, &pairs)).unwrap();
            times.push(started.elapsed());
            assert_eq!(read.len(), running);
        }
        println!(
            "  one collector tick ({label}): {} for {running} containers ({:.2} daemon CPU s)",
            secs(median(times)),
            (cpu_seconds(&daemon_dir) - before) / rounds as f64
        );
    }

    // 3. Berth's own CPU while collecting every 10 s, and the history write per tick.
    let mut sampler = Sampler::new(false);
    let engine = runtime.block_on(fleet.engine_for(&host)).unwrap();
    let ticks = 5;
    let (mut writes, own_before) = (Vec::new(), own_cpu_seconds());
    for i in 0..ticks {
        let read = runtime.block_on(sampler.read(&engine, &pairs)).unwrap();
        let samples: Vec<MetricSample> = read
            .iter()
            .map(|s| MetricSample { container: s.id.clone(), name: s.id[..12].to_owned(), app: None, env: None, figures: sampler.figures(s) })
            .collect();
        let started = Instant::now();
        store.record_samples(host.id, 1_800_000_000_000 + i * 10_000, &samples).unwrap();
        writes.push(started.elapsed());
    }
    let own = (own_cpu_seconds() - own_before) / ticks as f64;
    println!(
        "collecting {running} containers every 10 s: Berth's CPU {:.3} s per tick = {:.2}% of one core (goal ≤ 1%); history write per tick {:.1} ms (goal ≤ 5 ms)",
        own,
        own / 10.0 * 100.0,
        median(writes).as_secs_f64() * 1000.0
    );

    if std::env::var("BENCH_HISTORY").as_deref() == Ok("0") {
        println!("(the history figures skipped: BENCH_HISTORY=0)");
    } else {
        history_figures();
    }
    ssh_tick(&runtime, &berth, &daemon);
}

fn history_figures() {
    // A 30-day chart query, and the store's size for 200 containers × 30 days: the ten-minute
    // tier filled for 30 days (4,320 points a container); the finer tiers hold what they keep.
    let dir = tempfile::tempdir().unwrap();
    let history = Store::open(&dir.path().join("history.db")).unwrap();
    let history_host = history
        .add_host(&berth_core::model::HostConfig {
            name: "h".into(),
            endpoint: berth_core::endpoint::Endpoint::parse("unix:///run/x.sock", None).unwrap(),
            labels: Default::default(),
        })
        .unwrap();
    let figures = Figures {
        cpu_percent: 12.5,
        mem_used: 50_000_000,
        mem_limit: 1 << 30,
        mem_percent: 4.6,
        net_rx: 1 << 20,
        net_tx: 1 << 19,
        blk_read: 4096,
        blk_write: 8192,
        pids: 3,
    };
    let samples: Vec<MetricSample> =
        (0..200).map(|i| MetricSample { container: format!("{i:064x}"), name: format!("c{i:03}"), app: None, env: None, figures }).collect();
    let now = 1_800_000_000_000i64;
    let started = Instant::now();
    for step in (0..30 * 24 * 6).rev() {
        history.record_samples(history_host.id, now - step * 600_000, &samples).unwrap();
    }
    history.prune_points(now).unwrap();
    let fill = started.elapsed();
    let mut queries = Vec::new();
    for i in 0..5 {
        let started = Instant::now();
        let h = history.history(&format!("c{:03}", i * 37), now - 30 * 24 * 3_600_000, now).unwrap();
        queries.push(started.elapsed());
        assert!(h.points.len() >= 4_300, "{}", h.points.len());
    }
    history.checkpoint().unwrap();
    let bytes = std::fs::metadata(dir.path().join("history.db")).unwrap().len();
    let rows: i64 = history.metric_point_count().unwrap();
    let per_row = bytes as f64 / rows as f64;
    // Full tiers: 720 raw + 2,880 minute + 4,320 ten-minute points per container.
    let full = per_row * 200.0 * (720.0 + 2_880.0 + 4_320.0);
    println!(
        "30-day chart query: {:.1} ms (goal ≤ 50 ms); store: {rows} points in {:.1} MB ({per_row:.0} B a point; filled in {:.0} s) → 200 containers × 30 days with every tier full ≈ {:.0} MB",
        median(queries).as_secs_f64() * 1000.0,
        bytes as f64 / 1e6,
        fill.as_secs_f64(),
        full / 1e6
    );
}

/// 2. Over SSH at 150 ms RTT: a tick of 50 containers on the cgroup path.
fn ssh_tick(runtime: &tokio::runtime::Runtime, berth: &Berth, daemon: &Daemon) {
    let sshd = Sshd::start();
    let relay_port = free_port();
    let _relay = DelayRelay::start(relay_port, sshd.port, Duration::from_millis(75));
    let known_hosts = berth.dir.path().join("known_hosts");
    let url = format!("ssh://root@127.0.0.1:{relay_port}{}", daemon.socket().display());
    berth.ok(&["host", "add", "far", &url, "--identity", sshd.client_key.to_str().unwrap(), "--known-hosts", known_hosts.to_str().unwrap()]);
    berth.ok(&["host", "trust", "far", "--yes"]);
    berth.ok(&["sync", "--once", "far"]);
    let store = Arc::new(Store::open(&berth.db()).unwrap());
    let fleet = Fleet::new(Arc::clone(&store));
    let far = store.host("far").unwrap();
    let fifty: Vec<(String, u32)> = store.running_with_pids("far").unwrap().into_iter().take(50).map(|(id, _, pid)| (id, pid)).collect();
    let engine = runtime.block_on(fleet.engine_for(&far)).unwrap();
    let mut sampler = Sampler::new(false);
    runtime.block_on(sampler.read(&engine, &fifty)).unwrap(); // starts the reader (its own exec channel)
    let mut times = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let read = runtime.block_on(sampler.read(&engine, &fifty)).unwrap();
        times.push(started.elapsed());
        assert!(read.iter().all(|s| s.source == berth_core::monitor::sample::Source::Cgroup) && read.len() == 50);
    }
    let tick = median(times);
    println!(
        "a tick of 50 containers over SSH at 150 ms RTT (cgroup path): {:.0} ms = {:.2} RTT (goal ≤ 2 RTT)",
        tick.as_secs_f64() * 1000.0,
        tick.as_secs_f64() / 0.150
    );
}
