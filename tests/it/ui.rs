//! The desktop app driven like a user would, through WebDriver: tauri-driver in front of Debian's
//! WebKitWebDriver, the real app under Xvfb, a real dockerd behind it.
//!
//! Add the engine as a host from the dialog, see its containers, stop one from the detail panel
//! (Docker reports it stopped), type a command into a web shell and read its output, read a
//! container's log, kill one
//! with the docker CLI (the row changes), stop the daemon (the offline banner shows while the
//! rows stay). Screenshots of the main views go to
//! `$BERTH_SCREENSHOTS` (default `target/screenshots`).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use berth_e2e::desktop::{app_binary, app_env, spawn_group, xvfb, Group};
use berth_e2e::{wait_for, Berth, Daemon, TEST_IMAGE};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};

fn tauri_driver() -> PathBuf {
    let home_bin = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .map(|c| c.join("bin/tauri-driver"));
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).map(|p| p.join("tauri-driver")).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain(home_bin)
        .find(|p| p.exists());
    found.unwrap_or_else(|| {
        panic!("tauri-driver is missing: `cargo install tauri-driver --version ^2 --locked` and `apt-get install webkit2gtk-driver` (./x test does both)")
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn screenshots_dir() -> PathBuf {
    let dir = std::env::var_os("BERTH_SCREENSHOTS").map(PathBuf::from).unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots")
    });
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The app behind a WebDriver session.
struct Session {
    client: Client,
    _driver: Group,
    _x: Group,
    log: PathBuf,
}

impl Session {
    async fn start(berth: &Berth) -> Session {
        let (x, display) = xvfb();
        let (port, native_port) = (free_port(), free_port());
        let log = berth.dir.path().join("driver.log");
        step(format_args!("starting the app"));
        let mut cmd = Command::new("dbus-run-session");
        cmd.arg("--")
            .arg(tauri_driver())
            .args(["--port", &port.to_string(), "--native-port", &native_port.to_string()])
            .args(["--native-driver", "/usr/bin/WebKitWebDriver"])
            // No local engine to adopt: the test adds its host through the UI.
            .env("DOCKER_HOST", format!("unix://{}/no-engine.sock", berth.dir.path().display()))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        app_env(&mut cmd, &display, &berth.db(), &berth.dir.path().join("home"));
        let driver = spawn_group(&mut cmd);
        let url = format!("http://127.0.0.1:{port}");
        let caps: serde_json::Map<String, serde_json::Value> = serde_json::from_value(serde_json::json!({
            "browserName": "wry",
            "tauri:options": { "application": app_binary() },
        }))
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        let client = loop {
            match ClientBuilder::native().capabilities(caps.clone()).connect(&url).await {
                Ok(client) => break client,
                // tauri-driver takes a moment to listen.
                Err(_) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(200)).await,
                Err(e) => panic!("no WebDriver session: {e}\n{}", std::fs::read_to_string(&log).unwrap_or_default()),
            }
        };
        Session { client, _driver: driver, _x: x, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn find(&self, css: &str) -> Element {
        step(format_args!("find {css}"));
        match self.client.wait().at_most(Duration::from_secs(30)).for_element(Locator::Css(css)).await {
            Ok(element) => element,
            Err(e) => panic!("no element {css}: {e}\napp log:\n{}", self.log()),
        }
    }

    async fn click(&self, css: &str) {
        step(format_args!("click {css}"));
        self.find(css).await.click().await.unwrap_or_else(|e| panic!("clicking {css}: {e}"));
    }

    async fn type_into(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.unwrap();
        if text.is_empty() {
            // Clearing alone fires no input event; tell the page the field is empty now.
            let field = serde_json::to_value(&field).unwrap();
            self.client
                .execute("arguments[0].dispatchEvent(new Event('input', { bubbles: true }))", vec![field])
                .await
                .unwrap();
        } else {
            field.send_keys(text).await.unwrap();
        }
    }

    /// Click `css` until `then` shows (a click that lands while the panel re-renders is lost).
    async fn click_until(&self, css: &str, then: &str) -> Element {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            self.click(css).await;
            if let Ok(found) = self.client.wait().at_most(Duration::from_secs(2)).for_element(Locator::Css(then)).await {
                return found;
            }
            assert!(Instant::now() < deadline, "clicking {css} never showed {then}\napp log:\n{}", self.log());
        }
    }

    /// Wait until `css` matches an element whose attribute `name` is `value`.
    async fn wait_attr(&self, css: &str, name: &str, value: &str, limit: Duration) {
        step(format_args!("wait for {css} {name}={value}"));
        let deadline = Instant::now() + limit;
        let mut last = None;
        while Instant::now() < deadline {
            if let Ok(element) = self.client.find(Locator::Css(css)).await {
                last = element.attr(name).await.ok().flatten();
                if last.as_deref() == Some(value) {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{css} never had {name}={value:?} within {limit:?} (last: {last:?})\napp log:\n{}", self.log());
    }

    /// WebKitGTK's automation takes a screenshot after the page's next presentation update, and a
    /// page with nothing changing (compositing is off under Xvfb) never presents one: the call
    /// would wait forever. So a pixel in the corner flickers between two near-identical shades for
    /// a few seconds, which gives the screenshot the repaint it waits for.
    /// Wait until the text of `css` contains `text`.
    async fn wait_text(&self, css: &str, text: &str, limit: Duration) {
        step(format_args!("wait for {css} to show {text:?}"));
        let deadline = Instant::now() + limit;
        let mut last = String::new();
        while Instant::now() < deadline {
            if let Ok(element) = self.client.find(Locator::Css(css)).await {
                last = element.text().await.unwrap_or_default();
                if last.contains(text) {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{css} never showed {text:?} within {limit:?} (last: {last:?})\napp log:\n{}", self.log());
    }

    async fn screenshot(&self, name: &str) {
        step(format_args!("screenshot {name}"));
        const REPAINT: &str = "
            const dot = document.createElement('div');
            dot.style.cssText = 'position:fixed;right:0;bottom:0;width:1px;height:1px;pointer-events:none;z-index:2147483647';
            document.body.appendChild(dot);
            let frame = 0;
            const tick = setInterval(() => { dot.style.background = frame++ % 2 ? 'rgba(0,0,0,0.01)' : 'rgba(0,0,0,0.02)'; }, 50);
            setTimeout(() => { clearInterval(tick); dot.remove(); }, 5000);";
        self.client.execute(REPAINT, vec![]).await.unwrap();
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(screenshots_dir().join(format!("{name}.png")), png).unwrap();
    }

    /// Show only the containers matching `text` in the table.
    async fn search(&self, text: &str) {
        self.type_into("[data-testid=container-search]", text).await;
    }
}

/// Where the walk is, on stderr: when a WebDriver call stops answering, the last line says which.
fn step(what: std::fmt::Arguments) {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let start = *START.get_or_init(Instant::now);
    eprintln!("ui {:>7.2}s {what}", start.elapsed().as_secs_f64());
}

fn docker_state(daemon: &Daemon, name: &str) -> String {
    daemon.docker(&["inspect", "-f", "{{.State.Status}}", name])
}

#[test]
fn a_user_adds_a_host_acts_on_containers_and_sees_it_go_offline() {
    let mut daemon = Daemon::start();
    for name in ["ui-web", "ui-worker", "ui-cron"] {
        daemon.docker(&["run", "-d", "--name", name, "--label", "berth.test=ui", "--label", "app=shop", TEST_IMAGE, "sleep", "3600"]);
    }
    daemon.docker(&["create", "--name", "ui-idle", "--label", "berth.test=ui", TEST_IMAGE, "true"]);
    daemon.docker(&["run", "-d", "--name", "ui-talk", TEST_IMAGE, "sh", "-c", "echo hello-log; echo warn-log >&2; exec sleep 3600"]);
    let berth = Berth::new();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    // A WebDriver call that never answers must fail the test, not hang the suite.
    let walk = async {
        let ui = Session::start(&berth).await;
        ui.find("[data-testid=nav-fleet]").await;
        let title = ui.client.title().await.unwrap();
        assert_eq!(title, "Berth");

        // Add the engine as a host; test the connection first.
        ui.click("[data-testid=add-host]").await;
        ui.type_into("[data-testid=host-name]", "ui-e2e").await;
        ui.type_into("[data-testid=host-url]", &daemon.url()).await;
        ui.click("[data-testid=host-test]").await;
        ui.wait_attr("[data-testid=host-test-result]", "data-ok", "true", Duration::from_secs(20)).await;
        ui.click("[data-testid=host-save]").await;
        ui.wait_attr("[data-testid=host-row][data-host=ui-e2e]", "data-status", "online", Duration::from_secs(30)).await;
        let stored = berth.json(&["host", "ls"]);
        assert_eq!(stored[0]["name"], "ui-e2e", "the CLI sees the host the window added: {stored}");
        ui.screenshot("fleet").await;

        // Its containers, across the one host.
        ui.click("[data-testid=nav-containers]").await;
        for name in ["ui-web", "ui-worker", "ui-cron", "ui-idle"] {
            ui.search(name).await;
            let row = format!("[data-testid=container-row][data-name={name}]");
            let want = if name == "ui-idle" { "created" } else { "running" };
            ui.wait_attr(&row, "data-state", want, Duration::from_secs(20)).await;
            assert_eq!(ui.find(&row).await.attr("data-host").await.unwrap().as_deref(), Some("ui-e2e"));
        }
        ui.search("").await;
        ui.screenshot("containers").await;

        // Stop one from its detail panel, confirming; Docker reports it stopped.
        ui.search("ui-worker").await;
        ui.click("[data-testid=container-row][data-name=ui-worker]").await;
        ui.wait_attr("[data-testid=container-detail]", "data-state", "running", Duration::from_secs(10)).await;
        ui.click_until("[data-testid=action-stop]", "[data-testid=confirm-yes]").await.click().await.unwrap();
        wait_for("Docker to report ui-worker stopped", Duration::from_secs(30), || {
            let state = docker_state(&daemon, "ui-worker");
            if state == "exited" { Ok(()) } else { Err(state) }
        });
        ui.wait_attr("[data-testid=container-row][data-name=ui-worker]", "data-state", "exited", Duration::from_secs(15)).await;
        ui.wait_attr("[data-testid=container-detail]", "data-state", "exited", Duration::from_secs(15)).await;
        ui.find("[data-testid=raw-json]").await;
        ui.screenshot("detail").await;

        // A web shell into a running container: type a command into the terminal, read its output.
        ui.search("ui-cron").await;
        ui.click("[data-testid=container-row][data-name=ui-cron]").await;
        ui.wait_attr("[data-testid=container-detail]", "data-state", "running", Duration::from_secs(10)).await;
        ui.click("[data-testid=action-shell]").await;
        ui.wait_attr("[data-testid=shell-tab]", "data-state", "open", Duration::from_secs(20)).await;
        let keys = ui.find(".xterm-helper-textarea").await;
        keys.send_keys(&format!("echo berth-$((6*7)){}", char::from(fantoccini::key::Key::Enter))).await.unwrap();
        ui.wait_text(".xterm-rows", "berth-42", Duration::from_secs(15)).await;
        ui.screenshot("shell").await;

        // A container's log, stdout and stderr apart.
        ui.click("[data-testid=nav-containers]").await;
        ui.search("ui-talk").await;
        ui.click("[data-testid=container-row][data-name=ui-talk]").await;
        ui.click("[data-testid=action-logs]").await;
        ui.wait_text("[data-testid=log-line][data-stream=stdout]", "hello-log", Duration::from_secs(15)).await;
        ui.wait_text("[data-testid=log-line][data-stream=stderr]", "warn-log", Duration::from_secs(15)).await;
        ui.screenshot("logs").await;
        ui.click("[data-testid=nav-containers]").await;

        // Kill one by hand: the row follows Docker's event.
        ui.search("ui-web").await;
        ui.wait_attr("[data-testid=container-row][data-name=ui-web]", "data-state", "running", Duration::from_secs(10)).await;
        daemon.docker(&["kill", "ui-web"]);
        ui.wait_attr("[data-testid=container-row][data-name=ui-web]", "data-state", "exited", Duration::from_secs(15)).await;

        // The timeline shows the kill's abnormal exit (137).
        ui.click("[data-testid=nav-events]").await;
        ui.find("[data-testid=event-row][data-abnormal=true]").await;
        ui.screenshot("events").await;

        // The engine goes away: a banner says so, the rows stay, actions are disabled.
        daemon.stop();
        step(format_args!("daemon stopped"));
        ui.click("[data-testid=nav-containers]").await;
        ui.wait_attr("[data-testid=offline-host]", "data-host", "ui-e2e", Duration::from_secs(20)).await;
        ui.find("[data-testid=offline-banner]").await;
        // (dockerd stops its containers on the way down, so the rows say exited: Docker's last word.)
        ui.search("ui-").await;
        for name in ["ui-web", "ui-worker", "ui-cron", "ui-idle"] {
            ui.find(&format!("[data-testid=container-row][data-name={name}][data-host=ui-e2e]")).await;
        }
        ui.click("[data-testid=container-row][data-name=ui-cron]").await;
        ui.find("[data-testid=actions-disabled-reason]").await;
        let stop = ui.find("[data-testid=action-stop]").await;
        assert!(!stop.is_enabled().await.unwrap(), "actions must be disabled while the host is offline");
        ui.screenshot("offline").await;

        // Simplified Chinese: the same views, other words.
        let fleet_label = ui.find("[data-testid=nav-fleet]").await.text().await.unwrap();
        ui.find("[data-testid=lang-switch]").await.select_by_value("zh-CN").await.unwrap();
        let translated = ui.find("[data-testid=nav-fleet]").await.text().await.unwrap();
        assert_ne!(fleet_label, translated, "the language switch changes the navigation");
        ui.click("[data-testid=nav-fleet]").await;
        ui.screenshot("fleet-zh").await;

        ui.client.close().await.unwrap();
    };
    let log = berth.dir.path().join("driver.log");
    runtime.block_on(async {
        if tokio::time::timeout(Duration::from_secs(100), walk).await.is_err() {

            panic!(
                "the walk through the app did not finish within 240 s (the last `ui` line on stderr is the step that hung)\napp log:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
    });
}
