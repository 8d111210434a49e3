//! SSH test hosts: a private sshd on loopback (own host key, authorized keys and config) and a
//! delay relay that turns a loopback link into an overseas one.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use crate::wait_for;

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// An ed25519 key pair made with ssh-keygen; `path` is the private key, `path.pub` the public.
pub fn keygen(path: &Path, passphrase: &str) -> PathBuf {
    let _ = std::fs::remove_file(path);
    let _ = std::fs::remove_file(path.with_extension("pub"));
    run(Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", passphrase, "-C", "berth-test", "-f"]).arg(path));
    path.to_owned()
}

/// `SHA256:…` of a public key file, as ssh-keygen -l prints it.
pub fn fingerprint(public_key: &Path) -> String {
    let line = run(Command::new("ssh-keygen").arg("-lf").arg(public_key));
    line.split_whitespace().nth(1).expect("a fingerprint").to_owned()
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A private sshd on 127.0.0.1.
pub struct Sshd {
    pub dir: tempfile::TempDir,
    pub port: u16,
    /// A key the server accepts for root.
    pub client_key: PathBuf,
    pub host_key: PathBuf,
    password_auth: bool,
    stream_forwarding: bool,
    docker_host: Option<String>,
    /// Listen inside this network namespace, on this address (else 127.0.0.1).
    netns: Option<(String, String)>,
    child: Option<Child>,
}

impl Sshd {
    pub fn start() -> Sshd {
        Sshd::start_with(false, true)
    }

    /// `password_auth`: also accept passwords; `stream_forwarding`: allow direct-streamlocal.
    pub fn start_with(password_auth: bool, stream_forwarding: bool) -> Sshd {
        Sshd::start_full(password_auth, stream_forwarding, None)
    }

    /// `docker_host`: DOCKER_HOST for remote commands (what `docker -H ssh://` runs there).
    pub fn start_full(password_auth: bool, stream_forwarding: bool, docker_host: Option<String>) -> Sshd {
        let sshd = ["/usr/sbin/sshd"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .unwrap_or_else(|| panic!("no sshd found: install Debian's openssh-server (./x test does)"));
        assert!(Path::new(sshd).exists());
        let (dir, client_key, host_key) = Sshd::keys();
        let mut server = Sshd { dir, port: free_port(), client_key, host_key, password_auth, stream_forwarding, docker_host, netns: None, child: None };
        server.launch();
        server
    }

    /// An sshd inside network namespace `ns`, listening on `address`:22.
    pub fn start_in(ns: &str, address: &str, docker_host: Option<String>) -> Sshd {
        let (dir, client_key, host_key) = Sshd::keys();
        let mut server = Sshd {
            dir,
            port: 22,
            client_key,
            host_key,
            password_auth: false,
            stream_forwarding: true,
            docker_host,
            netns: Some((ns.to_owned(), address.to_owned())),
            child: None,
        };
        server.launch();
        server
    }

    /// A folder with a host key and a client key that authorized_keys accepts.
    fn keys() -> (tempfile::TempDir, PathBuf, PathBuf) {
        std::fs::create_dir_all("/run/sshd").expect("creating /run/sshd (sshd's privilege separation folder)");
        let dir = tempfile::tempdir().unwrap();
        let client_key = keygen(&dir.path().join("client_key"), "");
        std::fs::copy(client_key.with_extension("pub"), dir.path().join("authorized_keys")).unwrap();
        let host_key = keygen(&dir.path().join("host_key"), "");
        (dir, client_key, host_key)
    }

    /// Where clients reach it.
    pub fn address(&self) -> &str {
        self.netns.as_ref().map(|(_, a)| a.as_str()).unwrap_or("127.0.0.1")
    }

    fn launch(&mut self) {
        let d = self.dir.path();
        let yes_no = |b: bool| if b { "yes" } else { "no" };
        let config = format!(
            "Port {port}\nListenAddress {listen}\nHostKey {hk}\nPidFile {d}/sshd.pid\nAuthorizedKeysFile {d}/authorized_keys\n\
             PermitRootLogin {root}\nPasswordAuthentication {pw}\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n\
             AllowStreamLocalForwarding {fwd}\nAllowTcpForwarding yes\nLogLevel INFO\n",
            port = self.port,
            listen = self.address(),
            hk = self.host_key.display(),
            d = d.display(),
            root = if self.password_auth { "yes" } else { "prohibit-password" },
            pw = yes_no(self.password_auth),
            fwd = yes_no(self.stream_forwarding),
        );
        let config = match &self.docker_host {
            Some(url) => format!("{config}SetEnv DOCKER_HOST={url}\n"),
            None => config,
        };
        std::fs::write(d.join("sshd_config"), config).unwrap();
        let log = std::fs::File::create(d.join("sshd.log")).unwrap();
        let mut cmd = match &self.netns {
            None => Command::new("/usr/sbin/sshd"),
            Some((ns, _)) => {
                let mut cmd = Command::new("ip");
                cmd.args(["netns", "exec", ns, "/usr/sbin/sshd"]);
                cmd
            }
        };
        cmd.args(["-D", "-e", "-f"]).arg(d.join("sshd_config")).stdin(Stdio::null()).stdout(Stdio::null()).stderr(log);
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        self.child = Some(cmd.spawn().expect("starting sshd"));
        let (address, port) = (self.address().to_owned(), self.port);
        wait_for("sshd to listen", Duration::from_secs(10), || TcpStream::connect((address.as_str(), port)).map(|_| ()).map_err(|e| e.to_string()));
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Restart on the same port with a brand-new host key (a re-installed host, or an impostor).
    pub fn change_host_key(&mut self) {
        self.stop();
        self.host_key = keygen(&self.dir.path().join("host_key"), "");
        self.launch();
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    pub fn host_fingerprint(&self) -> String {
        fingerprint(&self.host_key.with_extension("pub"))
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A TCP relay on 127.0.0.1 that holds every chunk for `one_way` before passing it on, in both
/// directions (75 ms each way ≈ a 150 ms round trip). It cannot simulate loss. It counts the
/// bytes it has passed on each way, over all its connections.
pub struct DelayRelay {
    pub port: u16,
    stop: Arc<AtomicBool>,
    streams: Arc<Mutex<Vec<TcpStream>>>,
    up: Arc<AtomicU64>,
    down: Arc<AtomicU64>,
}

impl DelayRelay {
    pub fn start(port: u16, target: u16, one_way: Duration) -> DelayRelay {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("binding the relay port");
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let streams: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (up, down): (Arc<AtomicU64>, Arc<AtomicU64>) = Default::default();
        let (stop2, streams2, up2, down2) = (Arc::clone(&stop), Arc::clone(&streams), Arc::clone(&up), Arc::clone(&down));
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else { continue };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                {
                    let mut list = streams2.lock().unwrap();
                    list.push(client.try_clone().unwrap());
                    list.push(server.try_clone().unwrap());
                }
                spawn_direction(client.try_clone().unwrap(), server.try_clone().unwrap(), one_way, Arc::clone(&up2));
                spawn_direction(server, client, one_way, Arc::clone(&down2));
            }
        });
        DelayRelay { port, stop, streams, up, down }
    }

    /// Bytes passed on from clients to the target so far, over all connections.
    pub fn bytes_up(&self) -> u64 {
        self.up.load(Ordering::SeqCst)
    }

    /// Bytes passed on from the target back to clients so far, over all connections.
    pub fn bytes_down(&self) -> u64 {
        self.down.load(Ordering::SeqCst)
    }

    /// Cut every link and stop listening, as a dead overseas line would.
    pub fn kill(&self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port)); // wake the accept loop
        for stream in self.streams.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
        // Give the listener a moment to close so the port can be bound again.
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline && TcpListener::bind(("127.0.0.1", self.port)).is_err() {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for DelayRelay {
    fn drop(&mut self) {
        if !self.stop.load(Ordering::SeqCst) {
            self.kill();
        }
    }
}

/// Pass `from`'s bytes on to `to` after `one_way`, adding each chunk written to `forwarded`.
fn spawn_direction(mut from: TcpStream, mut to: TcpStream, one_way: Duration, forwarded: Arc<AtomicU64>) {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    std::thread::spawn(move || {
        let mut buf = [0u8; 64 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if tx.send((Instant::now() + one_way, buf[..n].to_vec())).is_err() {
                        return;
                    }
                }
            }
        }
    });
    std::thread::spawn(move || {
        for (due, chunk) in rx {
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            if to.write_all(&chunk).is_err() {
                return;
            }
            forwarded.fetch_add(chunk.len() as u64, Ordering::SeqCst);
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}
