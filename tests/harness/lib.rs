//! The test bed: real Docker engines started on private sockets and data roots, a busybox image
//! built `FROM scratch`, and a way to run the real `berth` binary. No mocks of Docker anywhere.
//!
//! An engine that cannot be started is a test failure with a message that says what to install,
//! never a silent skip.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub use tempfile::TempDir;

pub mod desktop;
pub mod netns;
pub mod registry;
pub mod ssh;
pub mod webdriver;

/// The busybox image every test daemon gets.
pub const TEST_IMAGE: &str = "berth-test:latest";

/// A private dockerd. Stopped (and its folder removed) on drop; killed if the test process dies.
pub struct Daemon {
    dir: PathBuf,
    socket: PathBuf,
    extra_args: Vec<String>,
    /// Run inside this network namespace (a "remote host").
    netns: Option<String>,
    child: Option<Child>,
}

fn docker_cli() -> &'static str {
    // Debian's client matches Debian's engine; another `docker` on PATH may be newer than its API.
    if Path::new("/usr/bin/docker").exists() {
        "/usr/bin/docker"
    } else {
        "docker"
    }
}

fn testbed_root() -> PathBuf {
    std::env::temp_dir().join("berth-testbed")
}

fn pid_alive(pid: i32) -> bool {
    unsafe { libc::kill(pid, 0) == 0 }
}

/// Remove folders of earlier test runs whose processes are gone.
fn sweep_stale_folders() {
    let Ok(entries) = std::fs::read_dir(testbed_root()) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let owner = name.split('-').next().and_then(|p| p.parse::<i32>().ok());
        let daemon_pid = std::fs::read_to_string(entry.path().join("docker.pid")).ok().and_then(|p| p.trim().parse().ok());
        if owner.is_some_and(|p| !pid_alive(p)) && !daemon_pid.is_some_and(pid_alive) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

impl Daemon {
    /// Start a fresh engine with the test image loaded.
    pub fn start() -> Daemon {
        Daemon::start_with(&[])
    }

    /// Start a fresh engine with more dockerd arguments (e.g. a TLS listener).
    pub fn start_with(extra_args: &[String]) -> Daemon {
        Daemon::start_in(extra_args, None)
    }

    /// Start a fresh engine inside the network namespace `netns` (see [`netns::Netns`]).
    pub fn start_in(extra_args: &[String], netns: Option<&str>) -> Daemon {
        static SWEEP: std::sync::Once = std::sync::Once::new();
        SWEEP.call_once(sweep_stale_folders);
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = testbed_root().join(format!("{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("creating the daemon folder");
        let mut daemon = Daemon { socket: dir.join("docker.sock"), dir, extra_args: extra_args.to_vec(), netns: netns.map(str::to_owned), child: None };
        daemon.launch(None);
        daemon.load_test_image();
        daemon
    }

    /// One engine shared by the tests of a binary that do not stop or restart it. Its dockerd
    /// is started from a thread that never ends, so it dies with the test process.
    pub fn shared() -> &'static Daemon {
        static SHARED: OnceLock<Daemon> = OnceLock::new();
        SHARED.get_or_init(|| {
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                tx.send(Daemon::start()).expect("handing over the shared daemon");
                loop {
                    std::thread::park();
                }
            });
            rx.recv().expect("the shared daemon failed to start (see the panic above)")
        })
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    pub fn url(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    pub fn folder(&self) -> &Path {
        &self.dir
    }

    /// (Re)start dockerd on these folders; `socket` overrides where it listens.
    fn launch(&mut self, socket: Option<&Path>) {
        let dockerd = ["/usr/sbin/dockerd", "/usr/bin/dockerd"].into_iter().find(|p| Path::new(p).exists()).unwrap_or_else(|| {
            panic!("no dockerd found: install Debian's docker.io (`apt-get install docker.io busybox-static`); the README's test command does")
        });
        let socket = socket.unwrap_or(&self.socket).to_owned();
        let _ = std::fs::remove_file(&socket);
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join("dockerd.log")).unwrap();
        let mut cmd = match &self.netns {
            None => Command::new(dockerd),
            Some(ns) => {
                // `ip netns exec` gives a private mount namespace with a fresh /sys and no
                // cgroups: mount the v1 hierarchies (and cgroup2) before dockerd starts.
                let mut cmd = Command::new("ip");
                cmd.args(["netns", "exec", ns, "sh", "-c", netns::CGROUP_MOUNTS, "sh", dockerd]).arg(format!("--cgroup-parent=/{ns}"));
                cmd
            }
        };
        cmd.arg("--host")
            .arg(format!("unix://{}", socket.display()))
            .arg("--data-root")
            .arg(self.dir.join("root"))
            .arg("--exec-root")
            .arg(self.dir.join("exec"))
            .arg("--pidfile")
            .arg(self.dir.join("docker.pid"))
            .args(["--bridge=none", "--iptables=false", "--ip-forward=false", "--ip-masq=false", "--log-level=warn"])
            .arg("--shutdown-timeout=2")
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        unsafe {
            cmd.pre_exec(|| {
                // Die with whoever started us, so no engine outlives a test run.
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let child = cmd.spawn().unwrap_or_else(|e| panic!("starting dockerd: {e}"));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ping = Command::new(docker_cli())
                .arg("-H")
                .arg(format!("unix://{}", socket.display()))
                .args(["version", "--format", "{{.Server.APIVersion}}"])
                .output();
            if ping.as_ref().is_ok_and(|o| o.status.success()) {
                return;
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("dockerd exited with {status}; its log:\n{}", self.log());
            }
            assert!(Instant::now() < deadline, "dockerd did not answer within 30 s; its log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default()
    }

    /// Stop dockerd and wait until it has exited.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            unsafe {
                libc::kill(child.id() as i32, libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if child.try_wait().ok().flatten().is_some() {
                    break;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// Start again on the same data, listening on the usual socket.
    pub fn start_again(&mut self) {
        self.launch(None);
    }

    /// Start again on the same data but listening on `socket`, out of sight of anyone who knows
    /// only the usual one.
    pub fn start_elsewhere(&mut self, socket: &Path) -> String {
        self.launch(Some(socket));
        format!("unix://{}", socket.display())
    }

    /// Run the docker CLI against this engine; panics with its stderr on failure.
    pub fn docker(&self, args: &[&str]) -> String {
        self.docker_at(&self.url(), args)
    }

    pub fn docker_at(&self, url: &str, args: &[&str]) -> String {
        let out = Command::new(docker_cli()).arg("-H").arg(url).args(args).env("DOCKER_BUILDKIT", "0").output().expect("running the docker CLI");
        assert!(out.status.success(), "docker {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    /// A bollard client on this engine, for bulk set-up.
    pub fn client(&self) -> bollard::Docker {
        bollard::Docker::connect_with_unix(&self.socket.to_string_lossy(), 60, bollard::API_DEFAULT_VERSION).unwrap()
    }

    fn load_test_image(&self) {
        let busybox = ["/bin/busybox", "/usr/bin/busybox"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .unwrap_or_else(|| panic!("no busybox found: install Debian's busybox-static"));
        let context = self.dir.join("image");
        std::fs::create_dir_all(&context).unwrap();
        std::fs::copy(busybox, context.join("busybox")).unwrap();
        std::fs::write(
            context.join("Dockerfile"),
            "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\nCMD [\"/bin/sh\"]\n",
        )
        .unwrap();
        self.docker(&["build", "-q", "-t", TEST_IMAGE, &context.to_string_lossy()]);
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The `berth` binary cargo built next to this test binary.
pub fn berth_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let target = exe.parent().and_then(Path::parent).expect("target folder");
    let berth = target.join("berth");
    assert!(berth.exists(), "{} is missing: build it first with `cargo build -p berth-cli`", berth.display());
    berth
}

/// A private database and a way to run `berth` on it.
pub struct Berth {
    pub dir: TempDir,
}

impl Default for Berth {
    fn default() -> Self {
        Self::new()
    }
}

impl Berth {
    pub fn new() -> Berth {
        Berth { dir: tempfile::tempdir().unwrap() }
    }

    pub fn db(&self) -> PathBuf {
        self.dir.path().join("berth.db")
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(berth_binary());
        cmd.arg("--db").arg(self.db()).args(args).env_remove("BERTH_DB").env_remove("DOCKER_HOST");
        cmd
    }

    /// Run and return the output, whatever the exit code.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("running berth")
    }

    /// Run, insist on success, return stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "berth {args:?} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Run, insist on failure, return stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(!out.status.success(), "berth {args:?} should have failed:\n{}", String::from_utf8_lossy(&out.stdout));
        String::from_utf8(out.stderr).unwrap()
    }

    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut args = args.to_vec();
        args.push("--json");
        serde_json::from_str(&self.ok(&args)).expect("berth printed JSON")
    }

    /// Start a `berth sync` follower; it is stopped with SIGTERM on drop.
    pub fn follow(&self, hosts: &[&str]) -> Follower {
        let mut args = vec!["sync"];
        args.extend_from_slice(hosts);
        let log = std::fs::File::create(self.dir.path().join("follower.log")).unwrap();
        let mut cmd = self.command(&args);
        cmd.env("BERTH_LOG", "info").stdout(Stdio::null()).stderr(log);
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        Follower { child: Some(cmd.spawn().expect("starting berth sync")), log: self.dir.path().join("follower.log") }
    }
}

pub struct Follower {
    child: Option<Child>,
    log: PathBuf,
}

impl Follower {
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then the exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("follower already stopped");
        unsafe {
            libc::kill(child.id() as i32, libc::SIGTERM);
        }
        child.wait().unwrap()
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.stop();
        }
    }
}

/// Poll `check` until it returns `Some`, or fail after `limit` with `what` and the last value seen.
pub fn wait_for<T, D: std::fmt::Debug>(what: &str, limit: Duration, mut check: impl FnMut() -> Result<T, D>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        match check() {
            Ok(value) => return value,
            Err(last) if Instant::now() > deadline => panic!("timed out after {limit:?} waiting for {what}; last seen: {last:?}"),
            Err(_) => std::thread::sleep(Duration::from_millis(25)),
        }
    }
}
