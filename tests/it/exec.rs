//! `berth exec` and `berth logs` against a real engine, and the core's exec sessions directly
//! (resize, TTY bytes). The same over the SSH test bed is in `ssh.rs`.

use std::io::{Read, Write};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use berth_core::exec::{self, ExecSpec, TermSize};
use berth_e2e::{berth_binary, wait_for, Berth, Daemon, TEST_IMAGE};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

/// A berth with the shared engine as host "local", mirrored, and a fresh container `name`
/// running `sleep`.
fn setup(name: &str) -> (Berth, &'static Daemon) {
    let d = Daemon::shared();
    d.docker(&["run", "-d", "--name", name, "--label", "berth.test=exec", TEST_IMAGE, "sleep", "3600"]);
    let berth = Berth::new();
    berth.ok(&["host", "add", "local", &d.url()]);
    berth.ok(&["sync", "--once", "local"]);
    (berth, d)
}

/// The engine as a core `Host`, for tests of the core's sessions.
fn local_host(d: &Daemon) -> berth_core::model::Host {
    berth_core::model::Host {
        id: 0,
        config: berth_core::model::HostConfig {
            name: "local".into(),
            endpoint: berth_core::endpoint::Endpoint::parse(&d.url(), None).unwrap(),
            labels: Default::default(),
        },
    }
}

fn with_stdin(berth: &Berth, args: &[&str], input: &[u8]) -> Output {
    let mut child = berth.command(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// `berth ARGS` on a real terminal: a pty from util-linux `script`, 40 rows by 120 columns, that
/// nobody types into (its input stays open). `script -e` exits with berth's code. Returns that
/// code and everything the terminal showed (berth's stdout and stderr alike).
fn in_a_terminal(berth: &Berth, args: &[&str]) -> (Option<i32>, String) {
    let quote = |word: &str| format!("'{}'", word.replace('\'', r"'\''"));
    let mut words = vec![quote(&berth_binary().display().to_string()), "--db".into(), quote(&berth.db().display().to_string())];
    words.extend(args.iter().map(|a| quote(a)));
    let line = format!("stty rows 40 cols 120; exec {}", words.join(" "));
    let mut child = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env_remove("BERTH_DB")
        .env_remove("DOCKER_HOST")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running script (util-linux)");
    let _keyboard = child.stdin.take();
    let mut shown = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut shown).unwrap();
    let mut complaint = String::new();
    child.stderr.take().unwrap().read_to_string(&mut complaint).unwrap();
    let status = child.wait().unwrap();
    (status.code(), format!("{}{complaint}", String::from_utf8_lossy(&shown)))
}

/// busybox printf writes every byte value from these escapes (a NUL cannot be an argument).
fn every_byte_format() -> String {
    (0..=255u8).map(|b| format!("\\{b:03o}")).collect()
}

fn every_byte() -> Vec<u8> {
    (0..=255u8).collect()
}

#[test]
fn exec_runs_a_command_with_its_streams_and_exit_code() {
    let (berth, _d) = setup("exec-basic");
    // stdin in, stdout out: an echo round trip.
    let out = with_stdin(&berth, &["exec", "-i", "exec-basic", "--", "cat"], b"hello berth\n");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, b"hello berth\n");

    // stdout and stderr stay apart; the command's exit code is berth's.
    let out = berth.run(&["exec", "local/exec-basic", "--", "sh", "-c", "echo out; echo err >&2; exit 7"]);
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(out.stdout, b"out\n");
    assert_eq!(out.stderr, b"err\n");

    // User, working directory and environment reach the process.
    let out = berth.ok(&["exec", "--user", "1234", "--workdir", "/bin", "-e", "SHOP=eu", "exec-basic", "--", "sh", "-c", "id -u; pwd; echo $SHOP"]);
    assert_eq!(out, "1234\n/bin\neu\n");

    // Without -i the command's stdin is closed at once.
    let out = with_stdin(&berth, &["exec", "exec-basic", "--", "cat"], b"ignored\n");
    assert_eq!((out.status.code(), out.stdout.as_slice()), (Some(0), &b""[..]));
}

#[test]
fn exec_output_is_binary_safe_and_complete() {
    let (berth, _d) = setup("exec-bytes");
    let format = every_byte_format();
    let out = berth.run(&["exec", "exec-bytes", "--", "printf", &format]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(out.stdout, every_byte(), "every byte value, in order, without a TTY");

    // With a TTY in raw mode nothing is translated: the bytes come through as they are, even a
    // chunk that starts with 0, 1 or 2 (which a multiplexed-stream decoder would take for a header).
    let raw = format!("stty raw -echo; printf '{format}'");
    let out = berth.run(&["exec", "-t", "exec-bytes", "--", "sh", "-c", &raw]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(out.stdout, every_byte(), "every byte value, in order, through a TTY");

    // 10 MB arrive complete and in order.
    let out = berth.run(&["exec", "exec-bytes", "--", "seq", "1", "1400000"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.len() > 10_000_000, "{} bytes", out.stdout.len());
    let text = String::from_utf8(out.stdout).unwrap();
    for (expected, line) in (1..).zip(text.lines()) {
        assert_eq!(line.parse::<u64>().unwrap(), expected, "line {expected}");
    }
    assert_eq!(text.lines().count(), 1_400_000);
}

#[test]
fn a_tty_has_the_size_asked_for() {
    let (berth, _d) = setup("exec-tty");
    // Input flows only once the terminal has its size, so after a line is read `stty size` sees it.
    let out = with_stdin(&berth, &["exec", "-i", "-t", "--size", "33x101", "exec-tty", "--", "sh", "-c", "read go; stty size; exit 3"], b"go\n");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("33 101"), "{text:?}");
    assert_eq!(out.status.code(), Some(3), "{text:?}");

    // The default command is a shell (bash when the image has it; this one has sh).
    let out = with_stdin(&berth, &["exec", "-i", "exec-tty"], b"echo shell here\n");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "shell here\n");
}

#[test]
fn a_quick_command_on_a_real_terminal_keeps_its_output_and_exit_code() {
    let (berth, _d) = setup("exec-quick");
    // On API 1.41 the size is set by a resize after start, which comes after `ls` has ended.
    let it = ["exec", "-it", "exec-quick", "--", "ls", "/"];
    let sized = ["exec", "-t", "--size", "40x120", "exec-quick", "--", "ls", "/"];
    for round in 1..=10 {
        for args in [&it[..], &sized[..]] {
            let (code, shown) = in_a_terminal(&berth, args);
            assert_eq!(code, Some(0), "round {round}, {args:?}: {shown}");
            assert!(shown.contains("bin") && shown.contains("proc"), "round {round}, {args:?}: {shown}");
        }
    }
    // The code is berth's, which is the command's.
    let (code, shown) = in_a_terminal(&berth, &["exec", "-it", "exec-quick", "--", "sh", "-c", "ls /; exit 7"]);
    assert_eq!(code, Some(7), "{shown}");
    assert!(shown.contains("proc"), "{shown}");
}

#[test]
fn a_real_terminal_gives_the_command_its_size() {
    let (berth, _d) = setup("exec-term-size");
    let ask = "sleep 0.5; stty size; exit 3";
    for args in [&["exec", "-it", "exec-term-size", "--", "sh", "-c", ask][..], &["exec", "-t", "exec-term-size", "--", "sh", "-c", ask]] {
        let (code, shown) = in_a_terminal(&berth, args);
        assert!(shown.contains("40 120"), "{args:?}: {shown}");
        assert_eq!(code, Some(3), "{args:?}: {shown}");
    }
    // --size wins over the terminal's own.
    let (code, shown) = in_a_terminal(&berth, &["exec", "-it", "--size", "33x101", "exec-term-size", "--", "sh", "-c", "sleep 0.5; stty size"]);
    assert_eq!((code, shown.contains("33 101")), (Some(0), true), "{shown}");
}

#[test]
fn a_resize_after_the_process_ended_is_nothing_to_do() {
    let d = Daemon::shared();
    let id = d.docker(&["run", "-d", "--name", "exec-ended", TEST_IMAGE, "sleep", "3600"]);
    let host = local_host(d);
    let size = TermSize::new(40, 120).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let engine = berth_core::connect::connect(&host).await.unwrap();
        let cmd = vec!["sh".into(), "-c".into(), "echo quick; exit 5".into()];
        let quick = ExecSpec { cmd, tty: true, size: Some(size), ..Default::default() };
        let mut last = None;
        for round in 1..=10 {
            // (On API 1.41 `start` itself resizes, mostly after the command has ended.)
            let (session, mut output, _input) = exec::start(&engine, &id, &quick).await.unwrap();
            let mut seen = Vec::new();
            while let Some(chunk) = output.next().await {
                seen.extend_from_slice(chunk.unwrap().bytes());
            }
            assert!(String::from_utf8_lossy(&seen).contains("quick"), "round {round}: {seen:?}");
            session.resize(TermSize::new(50, 132).unwrap()).await.unwrap();
            assert_eq!(session.wait().await.unwrap().exit_code, Some(5), "round {round}");
            last = Some(session);
        }

        // A process that runs still hears of a refusal: here its container is paused.
        let sleeper = ExecSpec { cmd: vec!["sleep".into(), "30".into()], tty: true, size: Some(size), ..Default::default() };
        let (running, _output, _input) = exec::start(&engine, &id, &sleeper).await.unwrap();
        d.docker(&["pause", "exec-ended"]);
        let refused = running.resize(size).await;
        d.docker(&["unpause", "exec-ended"]);
        let refused = refused.expect_err("a paused container's exec is not resized").to_string();
        assert!(refused.contains("resize") && refused.contains("paused"), "{refused}");

        // The container, and with it its execs, gone: nothing to resize either.
        d.docker(&["rm", "-f", &id]);
        last.unwrap().resize(size).await.unwrap();
    });
}

#[test]
fn a_session_resizes_while_it_runs() {
    let d = Daemon::shared();
    let id = d.docker(&["run", "-d", "--name", "exec-resize", TEST_IMAGE, "sleep", "3600"]);
    let host = local_host(d);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let engine = berth_core::connect::connect(&host).await.unwrap();
        let spec = ExecSpec { tty: true, stdin: true, size: Some(TermSize::new(24, 80).unwrap()), ..Default::default() };
        let (session, mut output, mut input) = exec::start(&engine, &id, &spec).await.unwrap();
        let mut seen = Vec::new();
        // Ask, read the answer, resize, ask again.
        for (size, want) in [(None, "24 80"), (Some(TermSize::new(50, 132).unwrap()), "50 132")] {
            if let Some(size) = size {
                session.resize(size).await.unwrap();
            }
            input.write_all(b"stty size\n").await.unwrap();
            let deadline = Instant::now() + Duration::from_secs(10);
            while !String::from_utf8_lossy(&seen).contains(&format!("\n{want}")) {
                let chunk = tokio::time::timeout_at(deadline.into(), output.next()).await.expect("stty answers").unwrap().unwrap();
                seen.extend_from_slice(chunk.bytes());
            }
        }
        input.write_all(b"exit 0\n").await.unwrap();
        while output.next().await.is_some() {}
        assert_eq!(session.wait().await.unwrap().exit_code, Some(0));
    });
}

#[test]
fn a_container_killed_during_a_session_ends_it() {
    let (berth, d) = setup("exec-killed");
    let mut child = berth
        .command(&["exec", "-i", "exec-killed", "--", "sh", "-c", "echo started; exec sleep 600"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 8];
    stdout.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"started\n");
    d.docker(&["kill", "exec-killed"]);
    let status = wait_for("berth exec to end after the kill", Duration::from_secs(20), || match child.try_wait().unwrap() {
        Some(status) => Ok(status),
        None => Err("still running"),
    });
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert!(!status.success(), "the session failed with the container: {stderr}");
    // Docker reports the killed process's code (137), or none at all and berth says why.
    assert!(status.code() == Some(137) || stderr.contains("the container stopped"), "{status:?} {stderr}");
}

#[test]
fn logs_print_with_tail_since_follow_and_streams_apart() {
    let d = Daemon::shared();
    let script = "for i in 1 2 3 4 5; do echo line$i; done; echo oops >&2; i=6; while true; do echo line$i; i=$((i+1)); sleep 0.2; done";
    d.docker(&["run", "-d", "--name", "logs-demo", TEST_IMAGE, "sh", "-c", script]);
    let berth = Berth::new();
    berth.ok(&["host", "add", "local", &d.url()]);
    berth.ok(&["sync", "--once", "local"]);

    let out = berth.run(&["logs", "--tail", "all", "logs-demo"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("line1\nline2\nline3\nline4\nline5\n"), "{text}");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "oops\n");

    // The last line may be stdout's or, when Docker's stderr copier lags, "oops": one line in all.
    let out = berth.run(&["logs", "--tail", "1", "logs-demo"]);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!((out.status.code(), stdout.lines().count() + stderr.lines().count()), (Some(0), 1), "{stdout:?} {stderr:?}");

    let out = berth.ok(&["logs", "-t", "--tail", "2", "logs-demo"]);
    assert!(out.lines().all(|l| l.len() > 30 && l.as_bytes()[4] == b'-' && l.contains("T")), "timestamps: {out}");

    // Nothing was written in the future.
    let out = berth.run(&["logs", "--since", "2099-01-01T00:00:00Z", "logs-demo"]);
    assert_eq!((out.status.code(), out.stdout.len()), (Some(0), 0));

    // Following: new lines keep arriving until we stop.
    let mut child = berth.command(&["logs", "-f", "--tail", "0", "logs-demo"]).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while String::from_utf8_lossy(&seen).lines().count() < 3 {
        assert!(Instant::now() < deadline, "follow printed {:?}", String::from_utf8_lossy(&seen));
        let mut buf = [0u8; 256];
        let n = stdout.read(&mut buf).unwrap();
        assert!(n > 0, "the log ended while following");
        seen.extend_from_slice(&buf[..n]);
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let text = String::from_utf8_lossy(&seen);
    assert!(!text.contains("line1\n"), "--tail 0 starts at the end: {text}");
}

#[test]
fn exec_and_logs_refuse_bad_input_clearly() {
    let (berth, _d) = setup("exec-bad");
    for (args, says) in [
        (vec!["exec", "--size", "0x80", "exec-bad", "--", "true"], "terminal size"),
        (vec!["exec", "--size", "big", "exec-bad", "--", "true"], "ROWSxCOLS"),
        (vec!["exec", "-e", "NOEQUALS", "exec-bad", "--", "true"], "KEY=VALUE"),
        (vec!["exec", "no-such-container", "--", "true"], "no container matches"),
        (vec!["exec", "exec-bad", "--", "/no/such/program"], "/no/such/program"),
        (vec!["logs", "--tail", "many", "exec-bad"], "line count"),
        (vec!["logs", "--since", "yesterday-ish", "exec-bad"], "since"),
    ] {
        let out = berth.run(&args);
        // (Docker writes a failed exec's reason into the command's own output.)
        let err = format!("{}{}", String::from_utf8_lossy(&out.stderr), String::from_utf8_lossy(&out.stdout));
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

#[test]
fn a_shell_session_replays_its_output_to_a_late_subscriber_and_reports_its_end() {
    use berth_core::shell::{Flow, ShellEvent, Shells};
    use std::sync::{Arc, Mutex};
    let d = Daemon::shared();
    let id = d.docker(&["run", "-d", "--name", "shell-replay", TEST_IMAGE, "sleep", "3600"]);
    let host = local_host(d);
    let text = |events: &Mutex<Vec<ShellEvent>>| -> String {
        events.lock().unwrap().iter().filter_map(|e| if let ShellEvent::Output(b) = e { Some(String::from_utf8_lossy(b).into_owned()) } else { None }).collect()
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let engine = berth_core::connect::connect(&host).await.unwrap();
        let shells = Shells::new();
        let first: Arc<Mutex<Vec<ShellEvent>>> = Arc::default();
        let sink = Arc::clone(&first);
        let session = shells
            .open(&engine, &id, ExecSpec { cmd: vec!["sh".into()], ..Default::default() }, Arc::new(move |e| sink.lock().unwrap().push(e)), Flow::Unbounded)
            .await
            .unwrap();
        shells.input(session, b"echo replay-$((40+2))\n").await.unwrap();
        wait_for("the first subscriber to see the output", Duration::from_secs(10), || {
            if text(&first).contains("replay-42") {
                Ok(())
            } else {
                Err(text(&first))
            }
        });

        // A page that reloads attaches anew: it gets the recent output first, then what follows.
        let second: Arc<Mutex<Vec<ShellEvent>>> = Arc::default();
        let sink = Arc::clone(&second);
        shells.attach(session, Arc::new(move |e| sink.lock().unwrap().push(e)), Flow::Unbounded).unwrap();
        assert!(text(&second).contains("replay-42"), "{}", text(&second));
        let seen_by_first = first.lock().unwrap().len();
        shells.input(session, b"exit 9\n").await.unwrap();
        wait_for("the session to end", Duration::from_secs(10), || match second.lock().unwrap().last() {
            Some(ShellEvent::Ended(end)) => Ok(*end),
            other => Err(format!("{other:?}")),
        });
        assert_eq!(first.lock().unwrap().len(), seen_by_first, "the first subscriber hears nothing after the second attached");
        let ended = shells.list();
        assert_eq!(ended[0].ended.and_then(|e| e.exit_code), Some(9));
        // A subscriber attaching after the end still learns how it ended.
        let late: Arc<Mutex<Vec<ShellEvent>>> = Arc::default();
        let sink = Arc::clone(&late);
        shells.attach(session, Arc::new(move |e| sink.lock().unwrap().push(e)), Flow::Unbounded).unwrap();
        assert!(matches!(late.lock().unwrap().last(), Some(ShellEvent::Ended(_))));
        shells.close(session).unwrap();
        assert!(shells.list().is_empty());
        assert!(shells.input(session, b"x").await.unwrap_err().to_string().contains("not open"));
    });
}

#[test]
fn a_saved_log_is_whole_named_after_its_container_and_never_overwrites() {
    let d = Daemon::shared();
    let script = "echo oops >&2; i=0; while [ $i -lt 30000 ]; do echo line-$i; i=$((i+1)); done; echo log-complete; exec sleep 3600";
    let id = d.docker(&["run", "-d", "--name", "log-save", TEST_IMAGE, "sh", "-c", script]);
    wait_for("the container to write its log", Duration::from_secs(20), || {
        let log = d.docker(&["logs", "log-save"]);
        if log.ends_with("log-complete") {
            Ok(())
        } else {
            Err(log.len())
        }
    });
    let host = local_host(d);
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let engine = berth_core::connect::connect(&host).await.unwrap();
        // More lines than the app's view keeps (20,000): the file has them all, stderr too.
        let spec = exec::LogSpec { follow: true, ..Default::default() };
        let saved = exec::save_logs(&engine, "local", "log-save", &spec, dir.path()).await.unwrap();
        let text = std::fs::read_to_string(&saved.path).unwrap();
        assert_eq!(text.lines().filter(|l| l.starts_with("line-")).count(), 30_000);
        assert!(text.contains("line-0\n") && text.contains("line-29999\n") && text.contains("oops\n"));
        assert_eq!(saved.bytes, text.len() as u64);
        let name = std::path::Path::new(&saved.path).file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("local-log-save-") && name.ends_with(".log"), "{name}");

        // The same options twice in one second: a second file, the first untouched.
        let tail = exec::LogSpec { tail: Some(2), ..Default::default() };
        let again = exec::save_logs(&engine, "local", "log-save", &tail, dir.path()).await.unwrap();
        assert_ne!(again.path, saved.path);
        assert_eq!(std::fs::read_to_string(&saved.path).unwrap(), text);
        assert_eq!(std::fs::read_to_string(&again.path).unwrap().lines().count(), 2);

        // A container that is not there: an error naming it, and no file (whole or partial) left.
        let error = exec::save_logs(&engine, "local", "no-such-container", &tail, dir.path()).await.unwrap_err().to_string();
        assert!(error.contains("no-such-container"), "{error}");
        let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(files.len(), 2, "{files:?}");
    });
    d.docker(&["rm", "-f", &id]);
}

#[test]
fn a_flood_waits_for_a_subscriber_that_acknowledges_and_arrives_whole() {
    use berth_core::shell::{Flow, ShellEvent, Shells, ACK_WINDOW, MAX_MESSAGE};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    const FLOOD: usize = 24_000_000;
    let d = Daemon::shared();
    let id = d.docker(&["run", "-d", "--name", "shell-flow", TEST_IMAGE, "sleep", "3600"]);
    let host = local_host(d);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let engine = berth_core::connect::connect(&host).await.unwrap();
        let shells = Shells::new();
        let received = Arc::new(AtomicUsize::new(0));
        let ended: Arc<Mutex<Option<ShellEvent>>> = Arc::default();
        let (count, end) = (Arc::clone(&received), Arc::clone(&ended));
        let sink = Arc::new(move |e| match e {
            ShellEvent::Output(bytes) => drop(count.fetch_add(bytes.len(), Ordering::SeqCst)),
            other => *end.lock().unwrap() = Some(other),
        });
        let spec = ExecSpec { cmd: vec!["sh".into(), "-c".into(), format!("stty raw -echo; head -c {FLOOD} /dev/zero")], ..Default::default() };
        let session = shells.open(&engine, &id, spec, sink, Flow::Acked).await.unwrap();

        // Nothing acknowledged: the session stops reading at the window (plus one message).
        let stalled = || received.load(Ordering::SeqCst);
        wait_for("output up to the window", Duration::from_secs(20), || if stalled() >= ACK_WINDOW { Ok(()) } else { Err(stalled()) });
        tokio::time::sleep(Duration::from_millis(500)).await;
        let held = stalled();
        assert!(held < ACK_WINDOW + MAX_MESSAGE, "{held} bytes went out unacknowledged");
        assert!(ended.lock().unwrap().is_none(), "the flood cannot have ended while held back");

        // Acknowledging what arrives lets the rest through, whole.
        let mut acked = 0;
        let deadline = Instant::now() + Duration::from_secs(60);
        while ended.lock().unwrap().is_none() {
            assert!(Instant::now() < deadline, "the flood did not finish: {} of {FLOOD} bytes", stalled());
            let now = stalled();
            shells.ack(session, now - acked).unwrap();
            acked = now;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(stalled(), FLOOD);
        assert!(matches!(*ended.lock().unwrap(), Some(ShellEvent::Ended(_))));

        // An unknown session's ack is refused clearly.
        assert!(shells.ack(9999, 1).unwrap_err().to_string().contains("not open"));
    });
    d.docker(&["rm", "-f", &id]);
}
