//! The sync benchmark (issue #2). One run, one daemon, side by side:
//!
//! 1. full `berth sync --once` of 1,000 containers (200 running) into an empty store, against
//!    (a) `docker ps -aq | xargs docker inspect` and (b) a plain list + inspect loop over one
//!    keep-alive connection;
//! 2. event → stored row latency (p50/p99) for `docker kill` while following;
//! 3. `berth ps --filter name=` over 10,000 stored containers.
//!
//! Run: `cargo build --release -p berth-cli && cargo bench -p berth-e2e --bench sync`
//! (`BENCH_CONTAINERS`, `BENCH_RUNNING`, `BENCH_ROUNDS` shrink it for a quick look).

use std::collections::HashMap;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_core::model::{ContainerFacts, EngineFacts, HostConfig, Snapshot};
use berth_core::store::Store;
use berth_core::sync::MirrorUpdate;
use berth_e2e::{berth_binary, Daemon, TEST_IMAGE};
use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{CreateContainerOptions, KillContainerOptions};
use futures_util::{stream, StreamExt, TryStreamExt};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let containers = env_usize("BENCH_CONTAINERS", 1000);
    let running = env_usize("BENCH_RUNNING", 200);
    let rounds = env_usize("BENCH_ROUNDS", 5);
    let berth = berth_binary();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let daemon = Daemon::start();
    let docker = daemon.client();

    println!("setting up {containers} containers ({running} running) on a private dockerd ...");
    let setup = Instant::now();
    let ids = runtime.block_on(populate(&docker, containers, running));
    println!("  set up in {:.1} s", setup.elapsed().as_secs_f64());

    // 1. Full snapshot.
    let docker_cli = if std::path::Path::new("/usr/bin/docker").exists() { "/usr/bin/docker" } else { "docker" };
    let cli_pipeline = format!("{docker_cli} -H {url} ps -aq | xargs {docker_cli} -H {url} inspect > /dev/null", url = daemon.url());
    let mut a = Vec::new();
    let mut b = Vec::new();
    let mut ours = Vec::new();
    for round in 0..rounds {
        let t = Instant::now();
        let status = Command::new("sh").arg("-c").arg(&cli_pipeline).status().unwrap();
        assert!(status.success());
        a.push(t.elapsed());

        let t = Instant::now();
        let fetched = runtime.block_on(keep_alive_loop(daemon.socket()));
        b.push(t.elapsed());
        assert_eq!(fetched, containers);

        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("bench.db");
        let run = |args: &[&str]| {
            let out = Command::new(&berth).arg("--db").arg(&db).args(args).output().unwrap();
            assert!(out.status.success(), "berth {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        run(&["host", "add", "bench", &daemon.url()]);
        let t = Instant::now();
        run(&["sync", "--once"]);
        ours.push(t.elapsed());
        if round == 0 {
            let store = Store::open(&db).unwrap();
            let rows = store.containers(&berth_core::store::ContainerFilter { all: true, ..Default::default() }).unwrap();
            assert_eq!(rows.len(), containers, "berth mirrored every container");
        }
    }
    let (a, b, ours) = (median(a), median(b), median(ours));
    println!("\nfull snapshot of {containers} containers ({running} running), median of {rounds}:");
    println!("  (a) docker ps -aq | xargs docker inspect      {:>10}", ms(a));
    println!("  (b) list + inspect loop, one keep-alive conn  {:>10}", ms(b));
    println!("  berth sync --once (into an empty store)       {:>10}", ms(ours));
    println!("  berth / (a) = {:.2}  (goal <= 0.60)", ours.as_secs_f64() / a.as_secs_f64());
    println!("  berth / (b) = {:.2}  (goal <= 1.00)", ours.as_secs_f64() / b.as_secs_f64());

    // 2. Event → stored row latency while following.
    let kills = running.min(200);
    let latencies = runtime.block_on(kill_latency(&daemon, &docker, &ids[..kills]));
    println!("\nevent -> stored row latency, docker kill while following ({} batches over {kills} kills):", latencies.len());
    println!(
        "  p50 {}   p99 {}   max {}  (goal p99 <= 50 ms)",
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99)),
        ms(*latencies.last().unwrap())
    );

    // 3. ps --filter name= over 10k stored containers.
    let (query_median, query_p95) = ps_over_stored(&daemon, &berth, 10_000);
    println!("\nberth ps --filter name= over 10,000 stored containers (whole process, 30 runs):");
    println!("  median {}   p95 {}  (goal <= 20 ms)", ms(query_median), ms(query_p95));
}

/// Create `total` containers, 8 requests at a time, and start the first `running`.
async fn populate(docker: &bollard::Docker, total: usize, running: usize) -> Vec<String> {
    let labels = HashMap::from([("app".to_owned(), "shop".to_owned()), ("tier".to_owned(), "web".to_owned())]);
    let ids: Vec<String> = stream::iter(0..total)
        .map(|i| {
            let (docker, labels) = (docker.clone(), labels.clone());
            async move {
                let body = ContainerCreateBody {
                    image: Some(TEST_IMAGE.into()),
                    cmd: Some(vec!["sleep".into(), "36000".into()]),
                    labels: Some(labels),
                    ..Default::default()
                };
                let options = CreateContainerOptions { name: Some(format!("bench-{i:04}")), ..Default::default() };
                docker.create_container(Some(options), body).await.map(|r| r.id)
            }
        })
        .buffered(8)
        .try_collect()
        .await
        .unwrap();
    stream::iter(ids.iter().take(running))
        .for_each_concurrent(4, |id| {
            let docker = docker.clone();
            async move { docker.start_container(id, None).await.unwrap() }
        })
        .await;
    ids
}

/// Baseline (b): one HTTP/1.1 keep-alive connection, list then inspect each container in turn.
async fn keep_alive_loop(socket: &std::path::Path) -> usize {
    let stream = tokio::net::UnixStream::connect(socket).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.unwrap();
    tokio::spawn(connection);
    let mut get = async |path: String| -> Bytes {
        let request = hyper::Request::get(path).header("host", "docker").body(Empty::<Bytes>::new()).unwrap();
        sender.ready().await.unwrap();
        let response = sender.send_request(request).await.unwrap();
        assert!(response.status().is_success());
        response.into_body().collect().await.unwrap().to_bytes()
    };
    let list: Vec<serde_json::Value> = serde_json::from_slice(&get("/containers/json?all=1".into()).await).unwrap();
    for container in &list {
        let body = get(format!("/containers/{}/json", container["Id"].as_str().unwrap())).await;
        assert!(!body.is_empty());
    }
    list.len()
}

/// Follow in-process; kill containers one at a time; for every applied batch that touched a
/// killed container, the time from the batch's oldest event (daemon clock) to the commit.
async fn kill_latency(daemon: &Daemon, docker: &bollard::Docker, ids: &[String]) -> Vec<Duration> {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("follow.db")).unwrap());
    let host = berth_core::fleet::add_host(&store, "bench", &daemon.url(), None, Default::default()).unwrap();
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let fleet = berth_core::fleet::Fleet::new(Arc::clone(&store));
    let mut seen = fleet.subscribe();
    let follower = tokio::spawn(berth_core::sync::follow(fleet, host, shutdown));
    loop {
        if let Ok(MirrorUpdate::Snapshot { .. }) = seen.recv().await {
            break;
        }
    }
    let mut latencies = Vec::new();
    for id in ids {
        docker.kill_container(id, None::<KillContainerOptions>).await.unwrap();
        // Wait until the row says exited: that is the `die` event's batch.
        loop {
            let update = tokio::time::timeout(Duration::from_secs(10), seen.recv()).await.expect("an update").unwrap();
            let now_ns = chrono::Utc::now().timestamp_nanos_opt().unwrap();
            if let MirrorUpdate::Events { containers, oldest_event_ns, .. } = update {
                if containers.contains(id) {
                    latencies.push(Duration::from_nanos((now_ns - oldest_event_ns).max(0) as u64));
                    let store = Arc::clone(&store);
                    let filter = berth_core::store::ContainerFilter { all: true, ..Default::default() };
                    let id = id.clone();
                    let exited = tokio::task::spawn_blocking(move || store.containers(&filter).unwrap().iter().any(|c| c.id == id && c.state == "exited"))
                        .await
                        .unwrap();
                    if exited {
                        break;
                    }
                }
            }
        }
    }
    let _ = stop.send(true);
    follower.await.unwrap();
    latencies.sort();
    latencies
}

/// Fill a store with `count` containers (copies of a real inspect document) across 5 hosts,
/// then time the real `berth ps --filter name=` process against it.
fn ps_over_stored(daemon: &Daemon, berth: &std::path::Path, count: usize) -> (Duration, Duration) {
    let sample = daemon.docker(&["inspect", "bench-0000"]);
    let sample: serde_json::Value = serde_json::from_str::<Vec<serde_json::Value>>(&sample).unwrap().remove(0);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("big.db");
    let store = Store::open(&db).unwrap();
    let engine = EngineFacts { api_version: "1.41".into(), server_version: None, info: "{}".into() };
    for h in 0..5 {
        let config = HostConfig {
            name: format!("dc{h}"),
            endpoint: berth_core::endpoint::Endpoint::parse("unix:///run/none.sock", None).unwrap(),
            labels: Default::default(),
        };
        let host = store.add_host(&config).unwrap();
        let containers: Vec<ContainerFacts> = (0..count / 5)
            .map(|i| {
                let mut doc = sample.clone();
                let id = format!("{h:02x}{i:062x}");
                let name = format!("svc-{h}-{i:05}");
                doc["Id"] = id.clone().into();
                doc["Name"] = format!("/{name}").into();
                ContainerFacts {
                    id,
                    name,
                    image: TEST_IMAGE.into(),
                    image_id: None,
                    state: if i % 3 == 0 { "exited".into() } else { "running".into() },
                    exit_code: Some(0),
                    created_ms: 1_700_000_000_000 + i as i64,
                    started_ms: Some(1_700_000_000_000),
                    finished_ms: None,
                    health: None,
                    labels: [("app".to_owned(), format!("app{}", i % 40))].into(),
                    ips: [("lan".to_owned(), format!("10.{h}.{}.{}", i / 250, i % 250))].into(),
                    inspect: doc.to_string(),
                }
            })
            .collect();
        let snapshot = Snapshot { engine: engine.clone(), containers, images: vec![], networks: vec![], volumes: vec![] };
        store.write_snapshot(host.id, &snapshot).unwrap();
    }
    drop(store);
    let mut samples = Vec::new();
    for i in 0..30 {
        let needle = format!("name=svc-{}-{:05}", i % 5, i * 37 % (count / 5));
        let t = Instant::now();
        let out = Command::new(berth).arg("--db").arg(&db).args(["ps", "-a", "--filter", &needle, "--json"]).output().unwrap();
        samples.push(t.elapsed());
        assert!(out.status.success());
        let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(rows.len(), 1, "{needle}");
    }
    samples.sort();
    (percentile(&samples, 0.5), percentile(&samples, 0.95))
}
