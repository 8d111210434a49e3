//! A real image registry for tests (Debian's `docker-registry`, distribution 2.8) on 127.0.0.1
//! with htpasswd logins, and images of known layer sizes to put in it.
//!
//! Docker treats registries on 127.0.0.0/8 as insecure by default, so plain HTTP works from any
//! test daemon on this machine without `--insecure-registry`.

use std::io::{BufWriter, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime};

use crate::ssh::free_port;
use crate::{docker_cli, wait_for, Daemon, TEST_IMAGE};

const REGISTRY_BINARY: &str = "/usr/bin/docker-registry";

/// A private registry on 127.0.0.1 that asks for `user`/`password` (bcrypt htpasswd). Killed,
/// and its storage removed, on drop; killed if the test process dies.
pub struct Registry {
    pub port: u16,
    pub user: String,
    pub password: String,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Registry {
    /// One without logins (anyone may pull and push), as a LAN registry often is.
    pub fn open() -> Registry {
        Registry::start("", "")
    }

    /// Start one on a free port; returns once `GET /v2/` answers 401 (it wants a login), or
    /// 200 when `user` is empty (no logins).
    pub fn start(user: &str, password: &str) -> Registry {
        assert!(
            Path::new(REGISTRY_BINARY).exists(),
            "no {REGISTRY_BINARY} found: install Debian's docker-registry and apache2-utils (`apt-get install docker-registry apache2-utils`; ./x test does)"
        );
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let open = user.is_empty();
        let out = Command::new("htpasswd")
            // An open registry gets a file too (unused: its config names none).
            .args(if open { ["-Bbn", "nobody", "unused"] } else { ["-Bbn", user, password] })
            .output()
            .unwrap_or_else(|e| panic!("running htpasswd: {e}; install Debian's apache2-utils (`apt-get install apache2-utils`; ./x test does)"));
        assert!(out.status.success(), "htpasswd -Bbn failed: {}", String::from_utf8_lossy(&out.stderr));
        std::fs::write(d.join("htpasswd"), &out.stdout).unwrap();
        let port = free_port();
        let config = format!(
            "version: 0.1\nlog:\n  level: info\n  fields:\n    service: registry\n\
             storage:\n  filesystem:\n    rootdirectory: {d}/data\n  delete:\n    enabled: true\n\
             http:\n  addr: 127.0.0.1:{port}\n  secret: berth-test\n{auth}",
            d = d.display(),
            auth = if open { String::new() } else { format!("auth:\n  htpasswd:\n    realm: berth-test\n    path: {}/htpasswd\n", d.display()) },
        );
        std::fs::write(d.join("config.yml"), config).unwrap();
        let log = std::fs::File::create(d.join("registry.log")).unwrap();
        let mut cmd = Command::new(REGISTRY_BINARY);
        cmd.arg("serve").arg(d.join("config.yml")).stdin(Stdio::null()).stdout(log.try_clone().unwrap()).stderr(log);
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("starting {REGISTRY_BINARY}: {e}"));
        let log_path = d.join("registry.log");
        wait_for("the registry to answer GET /v2/ with 401", Duration::from_secs(15), || {
            if let Some(status) = child.try_wait().ok().flatten() {
                panic!("docker-registry exited with {status}; its log:\n{}", std::fs::read_to_string(&log_path).unwrap_or_default());
            }
            match v2_status(port) {
                Ok(401) if !open => Ok(()),
                Ok(200) if open => Ok(()),
                other => Err(other),
            }
        });
        Registry { port, user: user.to_owned(), password: password.to_owned(), dir, child: Some(child) }
    }

    /// Where clients reach it: `127.0.0.1:PORT`, the first part of its image references.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// What it logged (one line per request at level info).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Tag `image` (a `NAME[:TAG]` on `daemon`) as `ADDRESS/NAME:TAG`, log in and push it through
    /// `daemon`. Returns that full reference.
    pub fn push_from(&self, daemon: &Daemon, image: &str) -> String {
        assert!(!image.starts_with("sha256:"), "push_from needs an image name (NAME[:TAG]), not an ID: {image}");
        let has_tag = image.rsplit('/').next().is_some_and(|last| last.contains(':'));
        let reference = if has_tag { format!("{}/{image}", self.address()) } else { format!("{}/{image}:latest", self.address()) };
        daemon.docker(&["tag", image, &reference]);
        self.docker(daemon, &["push", &reference]);
        reference
    }

    /// Run the docker CLI against `daemon`, logged in to this registry (`docker login
    /// --password-stdin` first, into a private DOCKER_CONFIG, never ~/.docker); panics with its
    /// stderr on failure, returns its stdout.
    pub fn docker(&self, daemon: &Daemon, args: &[&str]) -> String {
        if !self.user.is_empty() {
            self.login(daemon);
        }
        let out = self.cli(daemon).args(args).output().expect("running the docker CLI");
        assert!(out.status.success(), "docker {args:?} failed: {}\nregistry log:\n{}", String::from_utf8_lossy(&out.stderr), self.log());
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    fn login(&self, daemon: &Daemon) {
        let mut login = self.cli(daemon);
        login
            .args(["login", "--username", &self.user, "--password-stdin", &self.address()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = login.spawn().expect("running docker login");
        child.stdin.take().unwrap().write_all(self.password.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "docker login {} failed: {}\nregistry log:\n{}", self.address(), String::from_utf8_lossy(&out.stderr), self.log());
    }

    fn cli(&self, daemon: &Daemon) -> Command {
        let config = self.docker_config();
        std::fs::create_dir_all(&config).unwrap();
        let mut cmd = Command::new(docker_cli());
        cmd.arg("-H").arg(daemon.url()).env("DOCKER_CONFIG", config).env("DOCKER_BUILDKIT", "0");
        cmd
    }

    /// The DOCKER_CONFIG folder its logins are stored in.
    pub fn docker_config(&self) -> PathBuf {
        self.dir.path().join("docker-config")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The HTTP status of `GET /v2/` on 127.0.0.1:`port`.
fn v2_status(port: u16) -> Result<u16, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    write!(stream, "GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n").map_err(|e| e.to_string())?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n") {
        match stream.read(&mut byte) {
            Ok(0) => break,
            Ok(_) => head.push(byte[0]),
            Err(e) => return Err(e.to_string()),
        }
    }
    let line = String::from_utf8_lossy(&head).into_owned();
    line.split_whitespace().nth(1).and_then(|code| code.parse().ok()).ok_or(line)
}

/// Build `tag` on `daemon` FROM the test image with one layer per entry of `layer_mb`, each a
/// file of that many MiB of incompressible pseudo-random bytes made from `seed` and the layer's
/// index: the same seed gives the same layers (the same diffIDs) on any daemon. Returns the
/// image ID (`sha256:…`). See [`build_image_layers`] for a seed per layer.
pub fn build_layered_image(daemon: &Daemon, tag: &str, layer_mb: &[u32], seed: &str) -> String {
    let layers: Vec<(u32, &str)> = layer_mb.iter().map(|&mb| (mb, seed)).collect();
    build_image_layers(daemon, tag, &layers)
}

/// [`build_layered_image`] with a seed per layer, `(MiB, seed)` from the bottom up: layer `i`
/// depends only on its size, its seed and `i`, so two images that differ only in the top seed
/// share every lower layer.
pub fn build_image_layers(daemon: &Daemon, tag: &str, layers: &[(u32, &str)]) -> String {
    let context = tempfile::tempdir().unwrap();
    let mut dockerfile = format!("FROM {TEST_IMAGE}\n");
    for (i, &(mb, seed)) in layers.iter().enumerate() {
        let name = format!("layer-{i}.bin");
        write_random_file(&context.path().join(&name), mb, seed, i);
        dockerfile.push_str(&format!("COPY {name} /{name}\n"));
    }
    std::fs::write(context.path().join("Dockerfile"), dockerfile).unwrap();
    let id = daemon.docker(&["build", "-q", "-t", tag, &context.path().to_string_lossy()]);
    assert!(id.starts_with("sha256:"), "docker build -q printed {id:?}, not an image ID");
    id
}

/// `mb` MiB from xorshift64* seeded by `seed` and `index`, with a fixed mtime (which the
/// layer's tar records).
fn write_random_file(path: &Path, mb: u32, seed: &str, index: usize) {
    // FNV-1a over the seed and the index: any change to either gives another stream.
    let mut state: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in seed.bytes().chain([0xff]).chain((index as u64).to_le_bytes()) {
        state = (state ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    if state == 0 {
        state = 1;
    }
    let file = std::fs::File::create(path).unwrap();
    let mut out = BufWriter::new(&file);
    let mut chunk = vec![0u8; 1024 * 1024];
    for _ in 0..mb {
        for word in chunk.chunks_exact_mut(8) {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            word.copy_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
        }
        out.write_all(&chunk).unwrap();
    }
    out.flush().unwrap();
    drop(out);
    file.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)).unwrap();
}
