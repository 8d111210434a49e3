//! ssh:// hosts against a real sshd on loopback: strict host keys, key auth, one tunnel per host
//! carrying snapshots and the event stream, remote errors verbatim, and a link that dies.

use std::time::Duration;

use berth_e2e::ssh::{free_port, keygen, DelayRelay, Sshd};
use berth_e2e::{wait_for, Berth, Daemon, TEST_IMAGE};

use crate::{host_entry, same_as_truth};

fn ssh_url(port: u16, daemon: &Daemon) -> String {
    format!("ssh://root@127.0.0.1:{port}{}", daemon.socket().display())
}

/// Add `name` over SSH with the server's accepted key and a private known_hosts, and trust it.
fn add_trusted(berth: &Berth, name: &str, url: &str, sshd: &Sshd) -> String {
    let known_hosts = berth.dir.path().join("known_hosts");
    let (key, kh) = (sshd.client_key.to_string_lossy().into_owned(), known_hosts.to_string_lossy().into_owned());
    berth.ok(&["host", "add", name, url, "--identity", &key, "--known-hosts", &kh]);
    let out = berth.ok(&["host", "trust", name, "--yes"]);
    assert!(out.contains(&sshd.host_fingerprint()), "{out}");
    kh
}

#[test]
fn unknown_host_keys_are_refused_until_trusted_then_everything_flows_over_ssh() {
    let d = Daemon::shared();
    let sshd = Sshd::start();
    let berth = Berth::new();
    let url = ssh_url(sshd.port, d);
    let known_hosts = berth.dir.path().join("known_hosts");
    let key = sshd.client_key.to_string_lossy().into_owned();
    berth.ok(&["host", "add", "overseas", &url, "--identity", &key, "--known-hosts", &known_hosts.to_string_lossy()]);

    // Unknown key: refused, with the fingerprint to check.
    let out = berth.run(&["sync", "--once", "overseas"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not known") && err.contains(&sshd.host_fingerprint()) && err.contains("berth host trust overseas"), "{err}");
    assert!(!known_hosts.exists(), "nothing is trusted without the user");

    let out = berth.ok(&["host", "trust", "overseas", "--yes"]);
    assert!(out.contains(&sshd.host_fingerprint()), "{out}");
    assert!(std::fs::read_to_string(&known_hosts).unwrap().contains(&format!("[127.0.0.1]:{}", sshd.port)));
    assert!(berth.ok(&["host", "trust", "overseas", "--yes"]).contains("is trusted"));

    let tag = "over-ssh";
    for i in 0..3 {
        d.docker(&["run", "-d", "--name", &format!("ssh-{i}"), "--label", &format!("berth.test={tag}"), TEST_IMAGE, "sleep", "3600"]);
    }
    berth.ok(&["sync", "--once", "overseas"]);
    assert_eq!(same_as_truth(d, &d.url(), &berth, tag), Ok(3));
    assert_eq!(host_entry(&berth, "overseas")["status"], "online");
    let stored: serde_json::Value = serde_json::from_str(&berth.ok(&["inspect", "overseas/ssh-1"])).unwrap();
    assert_eq!(stored["Name"], "/ssh-1");

    // A command in a container on the far side, and its log: the exit code comes back.
    let out = berth.run(&["exec", "overseas/ssh-1", "--", "sh", "-c", "echo over ssh; echo err >&2; exit 4"]);
    assert_eq!((out.status.code(), out.stdout.as_slice(), out.stderr.as_slice()), (Some(4), &b"over ssh\n"[..], &b"err\n"[..]));
    assert_eq!(berth.run(&["logs", "overseas/ssh-1"]).status.code(), Some(0));

    // Following over the tunnel: the event stream and re-inspects share one SSH session.
    let _follower = berth.follow(&["overseas"]);
    d.docker(&["kill", "ssh-0"]);
    d.docker(&["run", "-d", "--name", "ssh-3", "--label", &format!("berth.test={tag}"), TEST_IMAGE, "sleep", "3600"]);
    wait_for("changes over SSH", Duration::from_secs(10), || {
        same_as_truth(d, &d.url(), &berth, tag).and_then(|n| if n == 4 { Ok(()) } else { Err(format!("{n}")) })
    });
    let rows = berth.json(&["ps", "-a", "--filter", "name=ssh-0"]);
    assert_eq!(rows[0]["state"], "exited");
}

#[test]
fn a_changed_host_key_is_refused() {
    let d = Daemon::shared();
    let mut sshd = Sshd::start();
    let berth = Berth::new();
    add_trusted(&berth, "moved", &ssh_url(sshd.port, d), &sshd);
    berth.ok(&["sync", "--once", "moved"]);
    sshd.change_host_key();
    let out = berth.run(&["sync", "--once", "moved"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("CHANGED") && err.contains(&sshd.host_fingerprint()) && err.contains("nothing was sent"), "{err}");
    let err = berth.fails(&["host", "trust", "moved", "--yes"]);
    assert!(err.contains("CHANGED"), "trust does not paper over a changed key: {err}");
    assert_eq!(host_entry(&berth, "moved")["status"], "offline");
}

#[test]
fn a_key_the_server_does_not_accept_fails_authentication() {
    let d = Daemon::shared();
    let sshd = Sshd::start();
    let berth = Berth::new();
    let stranger = keygen(&berth.dir.path().join("stranger"), "");
    let known_hosts = add_trusted(&berth, "strict", &ssh_url(sshd.port, d), &sshd);
    berth.ok(&["host", "rm", "strict"]);
    berth.ok(&["host", "add", "strict", &ssh_url(sshd.port, d), "--identity", &stranger.to_string_lossy(), "--known-hosts", &known_hosts]);
    let err = berth.fails(&["sync", "--once", "strict"]);
    assert!(err.contains("authentication as \"root\"") && err.contains("stranger"), "{err}");
}

#[test]
fn remote_errors_reach_the_user_verbatim() {
    let d = Daemon::shared();
    let sshd = Sshd::start_with(false, false); // no stream forwarding
    let berth = Berth::new();
    let url = format!("ssh://root@127.0.0.1:{}/nonexistent/docker.sock", sshd.port);
    add_trusted(&berth, "broken", &url, &sshd);
    let err = berth.fails(&["sync", "--once", "broken"]);
    assert!(err.contains("Channel open failure") && err.contains("/nonexistent/docker.sock"), "{err}");
    assert!(err.contains("dial-stdio"), "the fallback was tried and its error shown: {err}");

    // Without stream forwarding, `docker system dial-stdio` on the remote still gets through.
    let url = ssh_url(sshd.port, d);
    berth.ok(&["host", "rm", "broken"]);
    add_trusted(&berth, "fallback", &url, &sshd);
    berth.ok(&["sync", "--once", "fallback"]);
    assert_eq!(host_entry(&berth, "fallback")["status"], "online");
}

#[test]
fn a_dead_link_goes_offline_and_its_return_resyncs() {
    let d = Daemon::shared();
    let sshd = Sshd::start();
    let relay_port = free_port();
    let relay = DelayRelay::start(relay_port, sshd.port, Duration::from_millis(20));
    let berth = Berth::new();
    add_trusted(&berth, "link", &ssh_url(relay_port, d), &sshd);
    let tag = "link";
    let label = format!("berth.test={tag}");
    d.docker(&["run", "-d", "--name", "link-0", "--label", &label, TEST_IMAGE, "sleep", "3600"]);
    let _follower = berth.follow(&["link"]);
    wait_for("online over the relay", Duration::from_secs(15), || {
        same_as_truth(d, &d.url(), &berth, tag).and_then(|n| if n == 1 { Ok(()) } else { Err(format!("{n}")) })
    });

    relay.kill();
    wait_for("the host to go offline", Duration::from_secs(10), || {
        let host = host_entry(&berth, "link");
        if host["status"] == "offline" {
            Ok(())
        } else {
            Err(host)
        }
    });
    assert_eq!(berth.json(&["ps", "-a", "--filter", &format!("label={label}")]).as_array().unwrap().len(), 1, "rows kept");
    d.docker(&["rm", "-f", "link-0"]);
    for i in 1..4 {
        d.docker(&["create", "--name", &format!("link-{i}"), "--label", &label, TEST_IMAGE]);
    }

    let _relay = DelayRelay::start(relay_port, sshd.port, Duration::from_millis(20));
    wait_for("the resync after the link returns", Duration::from_secs(30), || {
        same_as_truth(d, &d.url(), &berth, tag).and_then(|n| if n == 3 { Ok(()) } else { Err(format!("{n}")) })
    });
    assert_eq!(host_entry(&berth, "link")["status"], "online");
}

#[test]
fn only_encrypted_keys_ask_the_keyring_for_a_passphrase() {
    let dir = tempfile::tempdir().unwrap();
    let plain = keygen(&dir.path().join("plain"), "");
    let locked = keygen(&dir.path().join("locked"), "correct horse");
    assert!(!berth_core::credentials::key_is_encrypted(&plain));
    assert!(berth_core::credentials::key_is_encrypted(&locked));
}

/// A local account sshd can check a password against, allowed on the engine's socket (group docker).
fn password_user(password: &str) -> &'static str {
    let user = "berth-ssh-test";
    let sh = |script: &str| {
        let out = std::process::Command::new("sh").arg("-c").arg(script).output().unwrap();
        assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
    };
    sh(&format!("getent group docker >/dev/null || groupadd --system docker; id {user} >/dev/null 2>&1 || useradd --system --no-create-home --shell /bin/sh --groups docker {user}"));
    let mut chpasswd = std::process::Command::new("chpasswd").stdin(std::process::Stdio::piped()).spawn().unwrap();
    std::io::Write::write_all(chpasswd.stdin.as_mut().unwrap(), format!("{user}:{password}\n").as_bytes()).unwrap();
    assert!(chpasswd.wait().unwrap().success());
    user
}

#[test]
fn passwords_live_in_the_keyring_and_nowhere_else() {
    let d = Daemon::shared();
    let secret = format!("Pw-{}-never-leaks", std::process::id());
    let user = password_user(&secret);
    let sshd = Sshd::start_with(true, true);
    let berth = Berth::new();
    let home = berth.dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let known_hosts = berth.dir.path().join("known_hosts");
    let url = format!("ssh://{user}@127.0.0.1:{}{}", sshd.port, d.socket().display());
    let berth_cmd = format!("{} --db {}", berth_e2e::berth_binary().display(), berth.db().display());

    // No keyring: the secret is not stored; the host is added and the password asked per use.
    let out = berth
        .command(&["host", "add", "nokeyring", &url, "--password", "--known-hosts", &known_hosts.to_string_lossy()])
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env("HOME", &home)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && err.contains("keyring is not available") && err.contains("asked each time"), "{err}");
    berth.ok(&["host", "trust", "nokeyring", "--yes"]);
    let err = berth.fails(&["sync", "--once", "nokeyring"]);
    assert!(err.contains("no terminal to ask on"), "without a terminal there is no one to ask: {err}");
    // With a terminal (script(1) gives one), the password is asked and used for this run only.
    let sync = format!("{berth_cmd} sync --once nokeyring");
    let mut script = std::process::Command::new("script")
        .args(["-qec", &sync, "/dev/null"])
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env("HOME", &home)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("running script(1) from util-linux");
    // Type the password only once the prompt is up (echo is off by then), as a person would.
    let mut screen = Vec::new();
    let mut stdout = script.stdout.take().unwrap();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&screen).contains("SSH password for nokeyring: ") {
        let n = std::io::Read::read(&mut stdout, &mut buf).unwrap();
        assert!(n > 0, "berth ended before asking: {}", String::from_utf8_lossy(&screen));
        screen.extend_from_slice(&buf[..n]);
    }
    std::io::Write::write_all(script.stdin.as_mut().unwrap(), format!("{secret}\n").as_bytes()).unwrap();
    std::io::Read::read_to_end(&mut stdout, &mut screen).unwrap();
    let status = script.wait().unwrap();
    let typed = String::from_utf8_lossy(&screen).into_owned();
    assert!(status.success(), "{typed}");
    assert!(typed.contains("for this run only"), "{typed}");
    assert_eq!(host_entry(&berth, "nokeyring")["status"], "online");
    berth.ok(&["host", "rm", "nokeyring"]);

    // A real Secret Service (gnome-keyring) in a private D-Bus session.
    let script = format!(
        "set -e
         printf unlock | gnome-keyring-daemon --unlock --components=secrets >/dev/null
         printf '%s\\n' \"$SECRET\" | {berth_cmd} host add far {url} --password --known-hosts {kh}
         {berth_cmd} host trust far --yes
         {berth_cmd} sync --once far
         {berth_cmd} host ls --json",
        kh = known_hosts.display(),
    );
    let out = std::process::Command::new("dbus-run-session")
        .args(["--", "sh", "-c", &script])
        .env("SECRET", &secret)
        .env("HOME", &home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_RUNTIME_DIR", &home)
        .env("BERTH_LOG", "debug")
        .output()
        .expect("running dbus-run-session (./x test installs dbus-x11 and gnome-keyring)");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}\nsshd: {}", sshd.log());
    assert!(stdout.contains("\"status\": \"online\""), "{stdout}");

    // The secret is in no file Berth wrote and in no log line.
    for entry in std::fs::read_dir(berth.dir.path()).unwrap().flatten() {
        if entry.path().is_file() {
            let bytes = std::fs::read(entry.path()).unwrap();
            assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()), "{} holds the secret", entry.path().display());
        }
    }
    assert!(!stdout.contains(&secret) && !stderr.contains(&secret), "a log holds the secret");
    assert!(!typed.contains(&secret), "the prompt echoed the secret");
}

#[test]
fn proxy_jump_reaches_the_target_through_the_bastion() {
    let d = Daemon::shared();
    let bastion = Sshd::start();
    let target = Sshd::start();
    // The bastion accepts the target's client key too: one identity for both hops, as with ssh -J.
    let key = std::fs::read_to_string(target.client_key.with_extension("pub")).unwrap();
    std::fs::write(bastion.dir.path().join("authorized_keys"), key).unwrap();
    let bastion_link = DelayRelay::start(free_port(), bastion.port, Duration::ZERO);
    let berth = Berth::new();
    let known_hosts = berth.dir.path().join("known_hosts");
    let url = ssh_url(target.port, d);
    let jump = format!("root@127.0.0.1:{}", bastion_link.port);
    let identity = target.client_key.to_string_lossy().into_owned();
    berth.ok(&["host", "add", "inner", &url, "--identity", &identity, "--known-hosts", &known_hosts.to_string_lossy(), "--proxy-jump", &jump]);

    // Both keys are shown and trusted in turn: the bastion's, then the target's through it.
    let out = berth.ok(&["host", "trust", "inner", "--yes"]);
    assert!(out.contains(&bastion.host_fingerprint()) && out.contains(&target.host_fingerprint()), "{out}");
    berth.ok(&["sync", "--once", "inner"]);
    assert_eq!(host_entry(&berth, "inner")["status"], "online");

    // The bastion path is the only one used: without it the target is out of reach.
    bastion_link.kill();
    let err = berth.fails(&["sync", "--once", "inner"]);
    assert!(err.contains(&format!("127.0.0.1:{}", bastion_link.port)), "{err}");
}

#[test]
fn ssh_config_aliases_fill_in_host_port_user_and_identity() {
    let d = Daemon::shared();
    let sshd = Sshd::start();
    let berth = Berth::new();
    let home = berth.dir.path().join("home");
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    std::fs::write(
        home.join(".ssh/config"),
        format!("Host shop-fra\n  HostName 127.0.0.1\n  Port {}\n  User root\n  IdentityFile {}\n", sshd.port, sshd.client_key.display()),
    )
    .unwrap();
    let known_hosts = berth.dir.path().join("known_hosts");
    let run = |args: &[&str]| {
        let out = berth.command(args).env("HOME", &home).env_remove("SSH_AUTH_SOCK").output().unwrap();
        assert!(out.status.success(), "berth {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let url = format!("ssh://shop-fra{}", d.socket().display());
    run(&["host", "add", "fra", &url, "--known-hosts", &known_hosts.to_string_lossy()]);
    let trusted = run(&["host", "trust", "fra", "--yes"]);
    assert!(trusted.contains(&format!("[127.0.0.1]:{}", sshd.port)), "known_hosts names the real host: {trusted}");
    run(&["sync", "--once", "fra"]);
    assert_eq!(host_entry(&berth, "fra")["status"], "online");
}

#[test]
fn exec_sessions_stream_through_the_tunnel() {
    use futures_util::StreamExt;
    let d = Daemon::shared();
    let sshd = Sshd::start();
    let dir = tempfile::tempdir().unwrap();
    let options =
        berth_core::endpoint::SshOptions { identity: Some(sshd.client_key.clone()), known_hosts: Some(dir.path().join("known_hosts")), ..Default::default() };
    let endpoint = berth_core::endpoint::Endpoint::parse_with(&ssh_url(sshd.port, d), None, options).unwrap();
    let berth_core::endpoint::Endpoint::Ssh(ep) = &endpoint else { unreachable!() };
    let (key, known_as, _) = berth_core::connect::ssh::scan_host_key("exec", ep).unwrap();
    berth_core::connect::ssh::record_host_key(ep, &known_as, &key).unwrap();
    let host = berth_core::model::Host { id: 0, config: berth_core::model::HostConfig { name: "exec".into(), endpoint, labels: Default::default() } };
    let id = d.docker(&["run", "-d", "--name", "ssh-exec", TEST_IMAGE, "sleep", "3600"]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        use berth_core::exec::{self, ExecSpec, Output, TermSize};
        use tokio::io::AsyncWriteExt;
        let engine = berth_core::connect::connect(&host).await.unwrap();

        // Streams apart and the exit code, through the tunnel.
        let cmd = ["sh", "-c", "echo hello from $(hostname); echo oops >&2; exit 5"].map(String::from).to_vec();
        let (session, mut output, _input) = exec::start(&engine, &id, &ExecSpec { cmd, ..Default::default() }).await.unwrap();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        while let Some(chunk) = output.next().await {
            match chunk.unwrap() {
                Output::Stdout(b) => out.extend_from_slice(&b),
                Output::Stderr(b) => err.extend_from_slice(&b),
            }
        }
        assert_eq!(String::from_utf8_lossy(&out), format!("hello from {}\n", &id[..12]));
        assert_eq!(err, b"oops\n");
        assert_eq!(session.wait().await.unwrap().exit_code, Some(5));

        // A TTY: every byte value raw, then the size after a resize.
        let spec = ExecSpec { tty: true, stdin: true, size: Some(TermSize::new(24, 80).unwrap()), ..Default::default() };
        let (session, mut output, mut input) = exec::start(&engine, &id, &spec).await.unwrap();
        session.resize(TermSize::new(40, 100).unwrap()).await.unwrap();
        input.write_all(b"stty size; exit 0\n").await.unwrap();
        let mut seen = Vec::new();
        while let Some(chunk) = output.next().await {
            seen.extend_from_slice(chunk.unwrap().bytes());
        }
        assert!(String::from_utf8_lossy(&seen).contains("\n40 100"), "{:?}", String::from_utf8_lossy(&seen));
        let every: String = (0..=255u8).map(|b| format!("\\{b:03o}")).collect();
        let cmd = vec!["sh".into(), "-c".into(), format!("stty raw -echo; printf '{every}'")];
        let (_, mut output, _input) = exec::start(&engine, &id, &ExecSpec { cmd, tty: true, ..Default::default() }).await.unwrap();
        let mut bytes = Vec::new();
        while let Some(chunk) = output.next().await {
            bytes.extend_from_slice(chunk.unwrap().bytes());
        }
        assert_eq!(bytes, (0..=255u8).collect::<Vec<_>>());
    });
}

#[test]
fn one_ssh_session_per_host_carries_following_acting_shells_and_logs_at_once() {
    use std::sync::{Arc, Mutex};
    let d = Daemon::shared();
    let sshd = Sshd::start();
    let berth = Berth::new();
    add_trusted(&berth, "one", &ssh_url(sshd.port, d), &sshd);
    let name = format!("one-session-{}", std::process::id());
    let id =
        d.docker(&["run", "-d", "--name", &name, "--label", "berth.test=one-session", TEST_IMAGE, "sh", "-c", "while true; do echo tick; sleep 0.2; done"]);
    // sshd logs each authenticated connection once.
    let sessions = || sshd.log().matches("Accepted publickey").count();

    // `berth sync`: one session while it follows.
    let before = sessions();
    {
        let _follower = berth.follow(&["one"]);
        wait_for("the follower online", Duration::from_secs(20), || {
            let hosts = berth.json(&["host", "ls"]);
            if hosts[0]["status"] == "online" {
                Ok(())
            } else {
                Err(hosts)
            }
        });
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(sessions(), before + 1, "{}", sshd.log());
    }

    // The app's make-up: one Fleet under the follower, an action, a shell and a log at once.
    let before = sessions();
    let store = Arc::new(berth_core::store::Store::open(&berth.db()).unwrap());
    let fleet = berth_core::fleet::Fleet::new(store);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let supervisor = berth_core::sync::Supervisor::new(Arc::clone(&fleet));
        let mut updates = fleet.subscribe();
        supervisor.follow_all().unwrap();
        loop {
            if let Ok(berth_core::sync::MirrorUpdate::Snapshot { .. }) = updates.recv().await {
                break;
            }
        }
        let op = berth_core::audit::Op::new(berth_core::audit::Via::App, None);
        let action = berth_core::containers::ContainerAction::Start;
        berth_core::containers::act(&fleet, &op, "one", &id, action, &Default::default()).await.unwrap();
        let engine = fleet.engine("one").await.unwrap();
        let shells = berth_core::shell::Shells::new();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        let subscriber: berth_core::shell::Subscriber = Arc::new(move |event| {
            if let berth_core::shell::ShellEvent::Output(bytes) = event {
                sink.lock().unwrap().extend_from_slice(&bytes);
            }
        });
        let spec = berth_core::exec::ExecSpec { tty: true, stdin: true, ..Default::default() };
        let shell = shells.open(&engine, &id, spec, subscriber, berth_core::shell::Flow::Unbounded).await.unwrap();
        let logs = Arc::new(berth_core::shell::LogStreams::new());
        let lines = Arc::new(Mutex::new(0usize));
        let count = Arc::clone(&lines);
        let log_sink: berth_core::shell::LogSubscriber = Arc::new(move |event| {
            if let berth_core::shell::LogEvent::Lines(pieces) = event {
                *count.lock().unwrap() += pieces.len();
            }
        });
        let log_spec = berth_core::exec::LogSpec { follow: true, tail: Some(5), ..Default::default() };
        let stream = logs.open(&engine, &id, &log_spec, log_sink);
        shells.input(shell, b"echo one-$((40+2))\n").await.unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !String::from_utf8_lossy(&seen.lock().unwrap()).contains("one-42") || *lines.lock().unwrap() < 3 {
            assert!(std::time::Instant::now() < deadline, "shell or log silent");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(engine.ssh_sessions(), Some(1));
        assert_eq!(sessions(), before + 1, "one SSH session for everything:\n{}", sshd.log());
        logs.close(stream);
        shells.close(shell).unwrap();
        supervisor.stop_all();
    });
    d.docker(&["rm", "-f", &name]);
}
