//! The web shell in the real app (issue #5), one run, side by side:
//! - output throughput from an exec to the terminal on screen (xterm.js in the webview): the time
//!   from Enter to the marker after N MB of output showing, beside `docker exec -t` writing the
//!   same bytes to /dev/null;
//! - the memory (PSS) of the app with its WebKit processes with no shell, then with 10 open.
//!
//! Run: `cargo build --release -p berth-cli && cargo build --release -p berth-app --features custom-protocol
//! && cargo bench -p berth-e2e --bench webshell` (needs tauri-driver and webkit2gtk-driver, as `./x test` installs).

use std::time::{Duration, Instant};

use berth_e2e::webdriver::Session;
use berth_e2e::{Berth, Daemon, TEST_IMAGE};
use fantoccini::key::Key;

const MB: u64 = 20;

fn pss_mb(session: &Session) -> (f64, Vec<(String, f64)>) {
    let tree = session.app_memory();
    let total = tree.iter().map(|p| p.pss).sum::<u64>() as f64 / 1024.0 / 1024.0;
    (total, tree.iter().map(|p| (p.name.clone(), p.pss as f64 / 1024.0 / 1024.0)).collect())
}

/// xterm.js alone in the same webview: the app's own terminal (its lazily loaded chunk), fed
/// `MB` of 1 MiB writes with no IPC at all, timed to the write callback of the last one. The
/// ceiling any transport could reach here.
const XTERM_ALONE: &str = r#"
const done = arguments[arguments.length - 1];
(async () => {
  // The lazily loaded chunk (its name read from ui/dist, which the app embeds).
  const module = await import(new URL("/assets/" + arguments[1], location.href).href);
  const make = Object.values(module).find((f) => typeof f === "function" && f.length === 0);
  const element = document.createElement("div");
  element.style.cssText = "position:fixed;left:0;top:0;width:900px;height:600px;z-index:9999";
  document.body.append(element);
  const term = make();
  term.open(element);
  term.fit();
  const chunk = new Uint8Array(1 << 20).fill(120);
  const mb = arguments[0];
  const writes = Math.round((mb * 1e6) / chunk.length);
  const start = performance.now();
  await new Promise((resolve) => { for (let i = 0; i < writes; i++) term.write(chunk, i === writes - 1 ? resolve : undefined); });
  const seconds = (performance.now() - start) / 1000;
  term.dispose();
  element.remove();
  done((writes * chunk.length) / 1e6 / seconds);
})().catch((e) => done("error: " + e));
"#;

/// The file name of the app's xterm.js chunk in ui/dist/assets.
fn xterm_chunk() -> String {
    let assets = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/dist/assets");
    std::fs::read_dir(&assets)
        .unwrap_or_else(|e| panic!("{}: {e} (build the UI first)", assets.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with("xterm-") && n.ends_with(".js"))
        .expect("an xterm chunk in ui/dist/assets")
}

fn main() {
    let daemon = Daemon::start();
    daemon.docker(&["run", "-d", "--name", "bench-web", TEST_IMAGE, "sleep", "36000"]);
    let berth = Berth::new();
    berth.ok(&["host", "add", "local", &daemon.url()]);
    berth.ok(&["sync", "--once"]);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let ui = Session::start(&berth).await;
        ui.click("[data-testid=nav-containers]").await;
        ui.search("bench-web").await;
        ui.click("[data-testid=container-row][data-name=bench-web]").await;
        ui.wait_attr("[data-testid=container-detail]", "data-state", "running", Duration::from_secs(20)).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (no_shell, _) = pss_mb(&ui);

        ui.click("[data-testid=action-shell]").await;
        ui.wait_attr("[data-testid=shell-tab]", "data-state", "open", Duration::from_secs(20)).await;
        let keys = ui.find(".xterm-helper-textarea").await;
        let enter = char::from(Key::Enter);
        let mut rates = Vec::new();
        for round in 0..3 {
            let marker = format!("DONE-$((1000+{round}))");
            let shown = format!("DONE-{}", 1000 + round);
            let command = format!("head -c {} /dev/zero | tr '\\0' x; echo; echo {marker}{enter}", MB * 1_000_000);
            keys.send_keys(&command).await.unwrap();
            let t = Instant::now();
            ui.wait_text(".xterm-rows", &shown, Duration::from_secs(120)).await;
            rates.push(MB as f64 / t.elapsed().as_secs_f64());
            keys.send_keys(&format!("clear{enter}")).await.unwrap();
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        rates.sort_by(f64::total_cmp);
        let mut alone = Vec::new();
        for _ in 0..3 {
            let rate = ui.client.execute_async(XTERM_ALONE, vec![serde_json::json!(MB), serde_json::json!(xterm_chunk())]).await.unwrap();
            alone.push(rate.as_f64().unwrap_or_else(|| panic!("xterm alone: {rate}")));
        }
        alone.sort_by(f64::total_cmp);
        let t = Instant::now();
        let out = std::process::Command::new("docker")
            .args(["-H", &daemon.url(), "exec", "-t", "bench-web", "sh", "-c", &format!("head -c {} /dev/zero | tr '\\0' x", MB * 1_000_000)])
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(out.success());
        let docker = MB as f64 / t.elapsed().as_secs_f64();
        println!("output throughput, {MB} MB through a TTY (median of 3; goal ≥ 20 MB/s):");
        println!("  exec → xterm.js on screen     {:>6.1} MB/s   (runs: {})", rates[1], rates.iter().map(|r| format!("{r:.1}")).collect::<Vec<_>>().join(", "));
        println!(
            "  xterm.js alone, no IPC        {:>6.1} MB/s   (1 MiB writes to the write callback; runs: {})",
            alone[1],
            alone.iter().map(|r| format!("{r:.1}")).collect::<Vec<_>>().join(", ")
        );
        println!("  docker exec -t > /dev/null    {docker:>6.1} MB/s");

        for n in 2..=10 {
            ui.click("[data-testid=nav-containers]").await;
            ui.click("[data-testid=action-shell]").await;
            let css = format!("[data-testid=shell-tab]:nth-child({n})");
            ui.wait_attr(&css, "data-state", "open", Duration::from_secs(20)).await;
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
        let (ten, processes) = pss_mb(&ui);
        println!("\nmemory of the app (PSS, app + WebKit processes):");
        println!("  no shell open        {no_shell:>6.1} MB");
        println!("  10 shells open       {ten:>6.1} MB   (+{:.1} MB; one had printed {} MB)", ten - no_shell, 3 * MB);
        for (name, mb) in processes {
            println!("    {name:<18} {mb:>6.1} MB");
        }
        ui.client.close().await.unwrap();
    });
}
