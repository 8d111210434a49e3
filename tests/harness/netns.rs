//! "Remote hosts" on one machine: a network namespace per host, joined to the root namespace by
//! a veth pair with addresses of our own (10.213.N.1 here, 10.213.N.2 there) and no default
//! route inside, so nothing can leave the machine. Each gets its own dockerd and sshd.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::ssh::Sshd;
use crate::Daemon;

/// Run before dockerd inside `ip netns exec`: mount the cgroup hierarchies it needs.
pub const CGROUP_MOUNTS: &str = r#"set -e
mount -t tmpfs cgroup /sys/fs/cgroup
for h in cpu cpuacct cpuset memory devices freezer blkio pids; do
  mkdir -p /sys/fs/cgroup/$h && mount -t cgroup -o $h cgroup /sys/fs/cgroup/$h
done
mkdir -p /sys/fs/cgroup/systemd && mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd
mkdir -p /sys/fs/cgroup/unified && mount -t cgroup2 none /sys/fs/cgroup/unified
exec "$@""#;

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap_or_else(|e| panic!("running ip {args:?}: {e} (install iproute2)"));
    assert!(out.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A network namespace and its veth link, removed on drop.
pub struct Netns {
    pub name: String,
    host_side: String,
    /// The namespace's address, reachable from the root namespace.
    pub address: String,
}

impl Netns {
    pub fn create() -> Netns {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let subnet = 10 + (pid % 40) * 6 + n; // distinct per test process, < 256
        let name = format!("berth-{pid}-{n}");
        let (host_side, ns_side) = (format!("bh{}x{n}", pid % 100_000), format!("bn{}x{n}", pid % 100_000));
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        ip(&["netns", "add", &name]);
        let netns = Netns { name: name.clone(), host_side: host_side.clone(), address: format!("10.213.{subnet}.2") };
        ip(&["link", "add", &host_side, "type", "veth", "peer", "name", &ns_side]);
        ip(&["link", "set", &ns_side, "netns", &name]);
        ip(&["addr", "add", &format!("10.213.{subnet}.1/24"), "dev", &host_side]);
        ip(&["link", "set", &host_side, "up"]);
        ip(&["netns", "exec", &name, "ip", "addr", "add", &format!("{}/24", netns.address), "dev", &ns_side]);
        ip(&["netns", "exec", &name, "ip", "link", "set", &ns_side, "up"]);
        ip(&["netns", "exec", &name, "ip", "link", "set", "lo", "up"]);
        netns
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.host_side]).output();
        let _ = Command::new("ip").args(["netns", "del", &self.name]).output();
    }
}

/// A remote Docker host: its namespace, engine and sshd (fields drop in this order: sshd and
/// engine first, the namespace last).
pub struct RemoteHost {
    pub sshd: Sshd,
    pub daemon: Daemon,
    pub netns: Netns,
}

impl RemoteHost {
    pub fn start() -> RemoteHost {
        RemoteHost::start_with(&[])
    }

    /// [`RemoteHost::start`] with more dockerd arguments (`--debug` logs every API call).
    pub fn start_with(daemon_args: &[String]) -> RemoteHost {
        let netns = Netns::create();
        let daemon = Daemon::start_in(daemon_args, Some(&netns.name));
        let sshd = Sshd::start_in(&netns.name, &netns.address, Some(daemon.url()));
        RemoteHost { sshd, daemon, netns }
    }

    /// `ssh://root@ADDRESS/path/to/its/docker.sock`
    pub fn url(&self) -> String {
        format!("ssh://root@{}{}", self.netns.address, self.daemon.socket().display())
    }
}
