//! The desktop app under a private X server: its binary, Xvfb, and process groups that die with
//! the test. Shared by the app tests, the WebDriver tests and the start-up benchmark.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::wait_for;

/// `target/<profile>/berth-app`, beside the test binary's folder.
pub fn app_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let app = exe.parent().and_then(Path::parent).unwrap().join("berth-app");
    assert!(app.exists(), "{} is missing: build it with `cargo build -p berth-app --features custom-protocol` (./x test does)", app.display());
    app
}

/// A process group that is sent SIGTERM (all of it) on drop, then reaped.
pub struct Group(pub Child);

impl Group {
    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        unsafe {
            libc::kill(-(self.0.id() as i32), libc::SIGTERM);
        }
        let _ = self.0.wait();
    }
}

/// Start `cmd` as the leader of a new process group that also dies with the test process.
pub fn spawn_group(cmd: &mut Command) -> Group {
    unsafe {
        cmd.pre_exec(|| {
            libc::setpgid(0, 0);
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    Group(cmd.spawn().unwrap_or_else(|e| panic!("starting {cmd:?}: {e} (./x test installs xvfb, dbus-x11, xdotool, webkit2gtk-driver and tauri-driver)")))
}

/// An Xvfb on the first free display number.
pub fn xvfb() -> (Group, String) {
    for n in 90..140 {
        if Path::new(&format!("/tmp/.X11-unix/X{n}")).exists() || Path::new(&format!("/tmp/.X{n}-lock")).exists() {
            continue;
        }
        let display = format!(":{n}");
        let server = spawn_group(Command::new("Xvfb").args([display.as_str(), "-screen", "0", "1440x900x24", "-nolisten", "tcp"]).stderr(Stdio::null()));
        wait_for("Xvfb", Duration::from_secs(10), || if Path::new(&format!("/tmp/.X11-unix/X{n}")).exists() { Ok(()) } else { Err(()) });
        return (server, display);
    }
    panic!("no free X display between :90 and :139");
}

/// The environment an app run gets: its own display, store, home and XDG folders, so it touches
/// nothing of the machine's user.
pub fn app_env(cmd: &mut Command, display: &str, db: &Path, home: &Path) {
    std::fs::create_dir_all(home).unwrap();
    cmd.env("DISPLAY", display)
        .env("BERTH_DB", db)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .env("XDG_RUNTIME_DIR", home.join(".run"));
    // Software rendering under Xvfb, no GPU here: compositing off, unless the caller's
    // environment says otherwise (`WEBKIT_DISABLE_COMPOSITING_MODE=0` to measure with it on).
    match std::env::var("WEBKIT_DISABLE_COMPOSITING_MODE").as_deref() {
        Ok("0") => cmd.env_remove("WEBKIT_DISABLE_COMPOSITING_MODE"),
        Ok(_) => cmd,
        Err(_) => cmd.env("WEBKIT_DISABLE_COMPOSITING_MODE", "1"),
    };
    std::fs::create_dir_all(home.join(".run")).unwrap();
}

/// The memory of one process.
#[derive(Debug, Clone)]
pub struct ProcessMemory {
    pub pid: u32,
    pub name: String,
    /// Resident pages, shared ones counted in full.
    pub rss: u64,
    /// Proportional set size: each shared page divided among the processes mapping it, so the
    /// sum over processes is what they take together.
    pub pss: u64,
}

/// `root` and every process descended from it, with their memory, in bytes.
pub fn tree_memory(root: u32) -> Vec<ProcessMemory> {
    // Parents from /proc/*/stat: `task/*/children` misses children forked by other threads.
    let mut children: std::collections::HashMap<u32, Vec<u32>> = std::collections::HashMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        let ppid = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok());
        if let Some(ppid) = ppid {
            children.entry(ppid).or_default().push(pid);
        }
    }
    let kb = |text: &str, key: &str| {
        text.lines().find_map(|l| l.strip_prefix(key)).and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok()).unwrap_or(0) * 1024
    };
    let mut found = Vec::new();
    let mut stack = vec![root];
    while let Some(pid) = stack.pop() {
        let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
        let name = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default().trim().to_owned();
        found.push(ProcessMemory { pid, name, rss: kb(&rollup, "Rss:"), pss: kb(&rollup, "Pss:") });
        stack.extend(children.get(&pid).into_iter().flatten());
    }
    found
}
