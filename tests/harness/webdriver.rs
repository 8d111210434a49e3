//! The desktop app driven like a user would, through WebDriver: tauri-driver in front of Debian's
//! WebKitWebDriver, the real app under Xvfb. Shared by the UI test and the web shell bench.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};

use crate::desktop::{app_binary, app_env, spawn_group, xvfb, Group};
use crate::Berth;

pub fn tauri_driver() -> PathBuf {
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

pub fn screenshots_dir() -> PathBuf {
    let dir = std::env::var_os("BERTH_SCREENSHOTS").map(PathBuf::from).unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The app behind a WebDriver session.
pub struct Session {
    pub client: Client,
    _driver: Group,
    _x: Group,
    log: PathBuf,
}

impl Session {
    /// The app (from `app_binary`) under Xvfb and its own D-Bus session, driven through
    /// tauri-driver; it reads `berth`'s database. No local engine to adopt: hosts come from the test.
    pub async fn start(berth: &Berth) -> Session {
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

    /// The app's process and its WebKit processes, with their memory now.
    pub fn app_memory(&self) -> Vec<crate::desktop::ProcessMemory> {
        let session = crate::desktop::tree_memory(self._driver.pid());
        let app = session.iter().find(|p| p.name == "berth-app").expect("the app runs under tauri-driver");
        crate::desktop::tree_memory(app.pid)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub async fn find(&self, css: &str) -> Element {
        step(format_args!("find {css}"));
        match self.client.wait().at_most(Duration::from_secs(30)).for_element(Locator::Css(css)).await {
            Ok(element) => element,
            Err(e) => panic!("no element {css}: {e}\napp log:\n{}", self.log()),
        }
    }

    pub async fn click(&self, css: &str) {
        step(format_args!("click {css}"));
        self.find(css).await.click().await.unwrap_or_else(|e| panic!("clicking {css}: {e}"));
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.unwrap();
        if text.is_empty() {
            // Clearing alone fires no input event; tell the page the field is empty now.
            let field = serde_json::to_value(&field).unwrap();
            self.client.execute("arguments[0].dispatchEvent(new Event('input', { bubbles: true }))", vec![field]).await.unwrap();
        } else {
            field.send_keys(text).await.unwrap();
        }
    }

    /// Click `css` until `then` shows (a click that lands while the panel re-renders is lost).
    pub async fn click_until(&self, css: &str, then: &str) -> Element {
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
    pub async fn wait_attr(&self, css: &str, name: &str, value: &str, limit: Duration) {
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
    pub async fn wait_text(&self, css: &str, text: &str, limit: Duration) {
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

    pub async fn screenshot(&self, name: &str) {
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
    pub async fn search(&self, text: &str) {
        self.type_into("[data-testid=container-search]", text).await;
    }
}

/// Where the walk is, on stderr: when a WebDriver call stops answering, the last line says which.
pub fn step(what: std::fmt::Arguments) {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let start = *START.get_or_init(Instant::now);
    eprintln!("ui {:>7.2}s {what}", start.elapsed().as_secs_f64());
}
