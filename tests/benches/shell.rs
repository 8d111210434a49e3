//! The web shell's core path (issue #5), one run, one daemon, side by side:
//! - keystroke echo latency (p50/p99) through a shell session (`Shells`, as the app uses it), on
//!   the local socket and through the SSH tunnel at 150 ms RTT, beside a `/_ping` round trip on
//!   the same link (one round trip is the floor);
//! - output throughput from an exec to the session's subscriber, beside `docker exec` writing the
//!   same bytes to /dev/null;
//! - the memory 10 open sessions hold (process RSS, and their replay buffers).
//!
//! Run: `cargo bench -p berth-e2e --bench shell`

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_core::endpoint::{Endpoint, SshOptions};
use berth_core::exec::{ExecSpec, TermSize};
use berth_core::model::{Host, HostConfig};
use berth_core::shell::{Flow, ShellEvent, Shells};
use berth_e2e::ssh::{free_port, DelayRelay, Sshd};
use berth_e2e::{Daemon, TEST_IMAGE};
use tokio::sync::mpsc;

const ONE_WAY: Duration = Duration::from_millis(75);
const BYTES: u64 = 200 * 1024 * 1024;

fn host(name: &str, url: &str, sshd: &Sshd, known_hosts: &std::path::Path) -> Host {
    let ssh = SshOptions { identity: Some(sshd.client_key.clone()), known_hosts: Some(known_hosts.to_owned()), ..Default::default() };
    let endpoint = Endpoint::parse_with(url, None, if url.starts_with("ssh") { ssh } else { SshOptions::default() }).unwrap();
    Host { id: 0, config: HostConfig { name: name.into(), endpoint, labels: BTreeMap::new() } }
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    samples[((samples.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:>7.1} ms", d.as_secs_f64() * 1000.0)
}

/// A session whose events arrive on a channel; it acknowledges output as the app's page does
/// (`Flow::Acked`), so the bench pays for the flow control too.
async fn open(shells: &Shells, engine: &berth_core::connect::Engine, container: &str, cmd: &[&str]) -> (u32, mpsc::UnboundedReceiver<ShellEvent>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let spec = ExecSpec { cmd: cmd.iter().map(|s| (*s).to_owned()).collect(), size: Some(TermSize::new(40, 120).unwrap()), ..Default::default() };
    let id = shells.open(engine, container, spec, Arc::new(move |e| drop(tx.send(e))), Flow::Acked).await.unwrap();
    (id, rx)
}

/// Reads output into `seen` until it holds `what`.
async fn read_until(events: &mut mpsc::UnboundedReceiver<ShellEvent>, seen: &mut Vec<u8>, what: &[u8]) {
    while !seen.windows(what.len()).any(|w| w == what) {
        match events.recv().await.unwrap() {
            ShellEvent::Output(bytes) => seen.extend_from_slice(&bytes),
            other => panic!("the shell ended before its prompt: {other:?}"),
        }
    }
}

/// Type one key at a time into a shell and time until its echo comes back.
async fn echo_latency(shells: &Shells, engine: &berth_core::connect::Engine, container: &str, keys: usize) -> (Duration, Duration) {
    let (id, mut events) = open(shells, engine, container, &["sh"]).await;
    // Wait for the prompt. Busybox ash follows it with a cursor-position query (ESC[6n), gives
    // up on the answer after a moment and draws the prompt again: wait for that second prompt
    // (a build of ash without the query is waited for a second at most).
    let mut prompt = Vec::new();
    if tokio::time::timeout(Duration::from_secs(10), read_until(&mut events, &mut prompt, b"# ")).await.is_err() {
        panic!("no prompt within 10 s; the shell wrote {:?}", String::from_utf8_lossy(&prompt));
    }
    if tokio::time::timeout(Duration::from_secs(1), read_until(&mut events, &mut prompt, b"\x1b[6n")).await.is_ok() {
        let query = prompt.windows(4).position(|w| w == b"\x1b[6n").expect("just read");
        let mut after = prompt.split_off(query + 4);
        read_until(&mut events, &mut after, b"# ").await;
    }
    while events.try_recv().is_ok() {}
    let mut samples = Vec::new();
    for i in 0..keys {
        let key = [b'a' + (i % 26) as u8];
        let t = Instant::now();
        shells.input(id, &key).await.unwrap();
        loop {
            let next = tokio::time::timeout(Duration::from_secs(5), events.recv()).await;
            let Ok(next) = next else { panic!("no echo of {:?} within 5 s (key {i})", key[0] as char) };
            match next.unwrap() {
                ShellEvent::Output(bytes) if bytes.contains(&key[0]) => break,
                ShellEvent::Output(_) => {}
                other => panic!("the shell ended: {other:?}"),
            }
        }
        samples.push(t.elapsed());
        if i % 40 == 39 {
            shells.input(id, b"\x15").await.unwrap(); // ^U: clear the line
            tokio::time::sleep(Duration::from_millis(50)).await;
            while events.try_recv().is_ok() {}
        }
    }
    shells.close(id).unwrap();
    (percentile(&mut samples, 0.5), percentile(&mut samples, 0.99))
}

async fn ping(engine: &berth_core::connect::Engine, rounds: usize) -> Duration {
    engine.ping().await.unwrap();
    let mut samples = Vec::new();
    for _ in 0..rounds {
        let t = Instant::now();
        engine.ping().await.unwrap();
        samples.push(t.elapsed());
    }
    percentile(&mut samples, 0.5)
}

/// MB/s from a TTY exec writing BYTES to the session's subscriber.
async fn throughput(shells: &Shells, engine: &berth_core::connect::Engine, container: &str) -> (f64, usize) {
    let count = format!("head -c {BYTES} /dev/zero; exit 0");
    let t = Instant::now();
    let (id, mut events) = open(shells, engine, container, &["sh", "-c", &format!("stty raw -echo; {count}")]).await;
    let (mut got, mut messages) = (0u64, 0usize);
    loop {
        match events.recv().await.unwrap() {
            ShellEvent::Output(bytes) => {
                shells.ack(id, bytes.len()).unwrap();
                got += bytes.len() as u64;
                messages += 1;
            }
            ShellEvent::Ended(_) => break,
            ShellEvent::Failed(e) => panic!("{e}"),
        }
    }
    assert!(got >= BYTES, "got {got} bytes");
    (got as f64 / 1e6 / t.elapsed().as_secs_f64(), messages)
}

fn rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")).unwrap().trim().trim_end_matches("kB").trim().parse().unwrap()
}

fn main() {
    let daemon = Daemon::start();
    let container = daemon.docker(&["run", "-d", "--name", "bench-shell", TEST_IMAGE, "sleep", "36000"]);
    let sshd = Sshd::start_full(false, true, Some(daemon.url()));
    let relay = DelayRelay::start(free_port(), sshd.port, ONE_WAY);
    let dir = tempfile::tempdir().unwrap();
    let known_hosts = dir.path().join("known_hosts");
    let far_url = format!("ssh://root@127.0.0.1:{}{}", relay.port, daemon.socket().display());
    let Endpoint::Ssh(ep) = host("trust", &far_url, &sshd, &known_hosts).config.endpoint else { unreachable!() };
    let (key, known_as, _) = berth_core::connect::ssh::scan_host_key("trust", &ep).unwrap();
    berth_core::connect::ssh::record_host_key(&ep, &known_as, &key).unwrap();

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let shells = Shells::new();
    let (local, far) = runtime.block_on(async {
        let local = berth_core::connect::connect(&host("local", &daemon.url(), &sshd, &known_hosts)).await.unwrap();
        let far = berth_core::connect::connect(&host("far", &far_url, &sshd, &known_hosts)).await.unwrap();
        (local, far)
    });

    println!("keystroke echo through a shell session (one key at a time, p50 / p99), beside one /_ping:");
    let (p50, p99) = runtime.block_on(echo_latency(&shells, &local, &container, 200));
    let floor = runtime.block_on(ping(&local, 50));
    println!("  local socket        {} / {}    ping {}", ms(p50), ms(p99), ms(floor));
    let (p50, p99) = runtime.block_on(echo_latency(&shells, &far, &container, 40));
    let floor = runtime.block_on(ping(&far, 10));
    println!("  SSH at 150 ms RTT   {} / {}    ping {}", ms(p50), ms(p99), ms(floor));

    println!("\noutput throughput, {} MB from `head -c` through a TTY:", BYTES / 1_000_000);
    let (mbps, messages) = runtime.block_on(throughput(&shells, &local, &container));
    println!("  berth session → subscriber   {mbps:>7.1} MB/s  ({messages} messages, {:.0} KB each on average)", BYTES as f64 / 1024.0 / messages as f64);
    let t = Instant::now();
    let out = Command::new("docker")
        .args(["-H", &daemon.url(), "exec", "-t", &container, "sh", "-c", &format!("stty raw -echo; head -c {BYTES} /dev/zero")])
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(out.success());
    println!("  docker exec -t > /dev/null   {:>7.1} MB/s", BYTES as f64 / 1e6 / t.elapsed().as_secs_f64());

    println!("\nmemory held by 10 open sessions (each has printed 2 MB, so each replay buffer is full):");
    let before = rss_kb();
    let sessions = runtime.block_on(async {
        let mut open_ones = Vec::new();
        for _ in 0..10 {
            let (id, events) = open(&shells, &local, &container, &["sh", "-c", "head -c 2000000 /dev/zero; exec sleep 3600"]).await;
            open_ones.push((id, events));
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        open_ones
    });
    let after = rss_kb();
    println!(
        "  process RSS +{:.1} MB; replay buffers {:.1} MB (bound {} × 1 MiB)",
        (after.saturating_sub(before)) as f64 / 1024.0,
        shells.replay_bytes() as f64 / 1024.0 / 1024.0,
        sessions.len()
    );
    let _inside = runtime.enter();
    for (id, _) in &sessions {
        shells.close(*id).unwrap();
    }
}
