//! The desktop app's footprint (issue #4): cold start to a painted fleet from a cached mirror of
//! 100 hosts / 10,000 containers, and the memory of the whole app (the Rust process plus WebKit's
//! web and network processes) once painted. Goals: ≤ 1.5 s and ≤ 150 MB.
//!
//! Memory is PSS, the proportional set size: each shared page is split among the processes that
//! map it, so the app's processes add up to what they take together (summing RSS would count
//! WebKit's shared libraries three times). RSS is printed beside it. The session's D-Bus daemon,
//! portals and keyring are not the app and are not counted.
//!
//! Every host is unreachable (a refused TCP port), so what is painted is the mirror alone, as on
//! a plane. The app logs "painted the fleet" with its own clock when the UI reports its first
//! paint with data (`ui_painted`); the wall clock from spawn is measured here too.
//!
//! Run: `cargo build --release -p berth-app --features custom-protocol && cargo bench -p berth-e2e --bench app`
//! (`BENCH_ROUNDS`, `BENCH_HOSTS`, `BENCH_PER_HOST` to vary it).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use berth_core::endpoint::Endpoint;
use berth_core::model::{ContainerFacts, EngineFacts, HostConfig, Snapshot};
use berth_core::store::Store;
use berth_e2e::desktop::{app_env, spawn_group, tree_memory, xvfb};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// An inspect document shaped like the daemon's (about 2.5 KB).
fn inspect(id: &str, name: &str, ip: &str) -> String {
    serde_json::json!({
        "Id": id, "Name": format!("/{name}"), "Created": "2026-11-20T10:00:00.000000000Z",
        "Path": "/bin/sh", "Args": ["-c", "exec shop-api --port 8080"],
        "State": {"Status": "running", "Running": true, "Pid": 4242, "ExitCode": 0,
                  "StartedAt": "2026-11-20T10:00:01.000000000Z", "FinishedAt": "0001-01-01T00:00:00Z"},
        "Image": "sha256:0b1c2d3e4f", "RestartCount": 0,
        "HostConfig": {"NetworkMode": "shop", "RestartPolicy": {"Name": "unless-stopped"}, "Memory": 268435456},
        "Mounts": [{"Type": "volume", "Name": "shop-data", "Source": "/var/lib/docker/volumes/shop-data/_data",
                    "Destination": "/data", "RW": true}],
        "Config": {"Hostname": &id[..12], "Image": "registry.local/shop/api:2.14.1",
                   "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "REGION=eu-west",
                           "SHOP_DB=postgres://shop@db:5432/shop", "LOG_LEVEL=info"],
                   "Cmd": ["shop-api", "--port", "8080"],
                   "Labels": {"app": "shop", "tier": "api", "com.docker.compose.project": "shop"}},
        "NetworkSettings": {"Networks": {"shop": {"IPAddress": ip, "Gateway": "10.20.0.1", "IPPrefixLen": 16,
                                                  "MacAddress": "02:42:0a:14:00:02"}}}
    })
    .to_string()
}

/// A store with `hosts` hosts of `per_host` containers each, every host unreachable.
fn build_store(path: &Path, hosts: usize, per_host: usize) {
    let store = Store::open(path).unwrap();
    let engine = EngineFacts { api_version: "1.41".into(), server_version: Some("20.10.24".into()), info: "{}".into() };
    let states = ["running", "running", "running", "exited", "created", "paused", "restarting", "exited"];
    for h in 0..hosts {
        let config = HostConfig {
            name: format!("dc{}-node{:03}", h % 4, h),
            endpoint: Endpoint::parse("tcp://127.0.0.1:1", None).unwrap(),
            labels: BTreeMap::from([("dc".to_owned(), format!("dc{}", h % 4))]),
        };
        let host = store.add_host(&config).unwrap();
        store.mark_online(host.id, &engine).unwrap();
        let containers = (0..per_host)
            .map(|c| {
                let id = format!("{:016x}{:048x}", h, c);
                let name = format!("shop-{}-{c}", ["api", "web", "worker", "cron"][c % 4]);
                let ip = format!("10.20.{}.{}", c / 250, c % 250 + 2);
                let state = states[c % states.len()];
                ContainerFacts {
                    inspect: inspect(&id, &name, &ip),
                    name,
                    image: "registry.local/shop/api:2.14.1".into(),
                    image_id: Some("sha256:0b1c2d3e4f".into()),
                    state: state.into(),
                    exit_code: Some(if state == "exited" { 137 } else { 0 }),
                    created_ms: 1_790_000_000_000 + c as i64,
                    started_ms: Some(1_790_000_001_000),
                    finished_ms: None,
                    health: None,
                    labels: BTreeMap::from([("app".to_owned(), "shop".to_owned()), ("tier".to_owned(), "api".to_owned())]),
                    ips: BTreeMap::from([("shop".to_owned(), ip)]),
                    id,
                }
            })
            .collect();
        let snapshot = Snapshot { engine: engine.clone(), containers, images: vec![], networks: vec![], volumes: vec![] };
        store.write_snapshot(host.id, &snapshot).unwrap();
        store.mark_offline(host.id, "connection refused").unwrap();
    }
}

/// A D-Bus session bus of its own, and its address.
fn session_bus(dir: &Path) -> (berth_e2e::desktop::Group, String) {
    let mut cmd = Command::new("dbus-daemon");
    cmd.args(["--session", "--nofork", "--print-address=1"]).stdout(Stdio::piped()).stderr(Stdio::null());
    cmd.env("HOME", dir).env("XDG_RUNTIME_DIR", dir);
    let mut group = spawn_group(&mut cmd);
    let mut address = String::new();
    BufReader::new(group.0.stdout.take().unwrap()).read_line(&mut address).unwrap();
    (group, address.trim().to_owned())
}

fn main() {
    let rounds = env_usize("BENCH_ROUNDS", 5);
    let hosts = env_usize("BENCH_HOSTS", 100);
    let per_host = env_usize("BENCH_PER_HOST", 100);
    let exe = std::env::current_exe().unwrap();
    let app = exe.parent().and_then(Path::parent).unwrap().parent().unwrap().join("release/berth-app");
    assert!(app.exists(), "{} is missing: cargo build --release -p berth-app --features custom-protocol", app.display());
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("fleet.db");
    let built = Instant::now();
    build_store(&db, hosts, per_host);
    println!("store: {hosts} hosts × {per_host} containers, built in {:.1} s", built.elapsed().as_secs_f64());
    let (_x, display) = xvfb();
    // One desktop session for every round, as on a desktop: its bus, and the portals and
    // accessibility bus the first round activates, are already up when the app starts.
    let (_bus, bus) = session_bus(dir.path());

    let mut painted_app = Vec::new();
    let mut painted_wall = Vec::new();
    let mut pss = Vec::new();
    let mut rss = Vec::new();
    for round in 0..=rounds {
        // Round 0 warms the page cache and WebKit's caches; it is not counted.
        let home = dir.path().join(format!("home{round}"));
        let mut cmd = Command::new(&app);
        cmd.env("DBUS_SESSION_BUS_ADDRESS", &bus).stdout(Stdio::null()).stderr(Stdio::piped()).env("RUST_LOG", "info,berth::startup=debug");
        app_env(&mut cmd, &display, &db, &home);
        let started = Instant::now();
        let mut group = spawn_group(&mut cmd);
        let stderr = group.0.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        let mut steps = Vec::new();
        // (The log has no colour codes: stderr is not a terminal.)
        let app_ms = loop {
            let line = lines.next().expect("the app exited before painting").unwrap();
            if line.contains("berth::startup") {
                steps.push(line.split("berth::startup:").nth(1).unwrap_or(&line).trim().to_owned());
            }
            if line.contains("painted the fleet") {
                let ms = line.split("ms=").nth(1).and_then(|s| s.split_whitespace().next()).unwrap();
                break ms.trim_matches('"').parse::<f64>().unwrap();
            }
        };
        let wall = started.elapsed();
        // Memory is taken with every row loaded: after the page has read the containers (which it
        // does once the overview is painted), and 3 s more for it to take them in.
        loop {
            let line = lines.next().expect("the app exited before reading its containers").unwrap();
            if line.contains("containers() read") {
                steps.push(line.split("berth::startup:").nth(1).unwrap_or(&line).trim().to_owned());
                break;
            }
        }
        std::thread::sleep(Duration::from_secs(3));
        let app_tree = tree_memory(group.pid());
        std::thread::spawn(move || lines.for_each(drop));
        drop(group);
        let mb = |bytes: u64| bytes as f64 / 1024.0 / 1024.0;
        let app_pss = mb(app_tree.iter().map(|p| p.pss).sum());
        let app_rss = mb(app_tree.iter().map(|p| p.rss).sum());
        if round > 0 {
            painted_app.push(app_ms);
            painted_wall.push(wall.as_secs_f64() * 1000.0);
            pss.push(app_pss);
            rss.push(app_rss);
        }
        println!(
            "round {round}{}: painted at {app_ms:.0} ms (app clock), {:.0} ms (wall from spawn); app PSS {app_pss:.1} MB (RSS {app_rss:.1} MB)",
            if round == 0 { " (warm-up)" } else { "" },
            wall.as_secs_f64() * 1000.0,
        );
        if round == 1 {
            for step in &steps {
                println!("    {step}");
            }
            for p in &app_tree {
                println!("    {:<22} PSS {:>6.1} MB  RSS {:>6.1} MB", p.name, mb(p.pss), mb(p.rss));
            }
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!();
    println!(
        "cold start to painted fleet (median of {rounds}): {:.0} ms app clock, {:.0} ms wall   goal ≤ 1500 ms",
        median(painted_app),
        median(painted_wall.clone())
    );
    println!("memory of the whole app once painted (median):   {:.1} MB PSS ({:.1} MB RSS)   goal ≤ 150 MB", median(pss), median(rss));
}
