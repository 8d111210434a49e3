//! `berth exec` and `berth logs`: a command in a container on any host, and its log, over the
//! core's exec and log streams. Bytes pass through untouched; the command's exit code becomes
//! berth's.

use std::io::IsTerminal as _;
use std::process::ExitCode;

use berth_core::exec::{self, ExecSpec, LogSpec, Output, TermSize};
use berth_core::store::Store;
use berth_core::Error;
use chrono::{DateTime, Utc};
use clap::Args;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use crate::{prompt, runtime};

/// The exit code when the session ends without one from the command (as `docker exec` uses 125
/// for its own failures).
const NO_EXIT_CODE: u8 = 125;

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Send standard input to the command
    #[arg(short, long)]
    interactive: bool,
    /// Give the command a pseudo-terminal
    #[arg(short, long)]
    tty: bool,
    /// The terminal's size, ROWSxCOLS [default: this terminal's]
    #[arg(long, value_name = "ROWSxCOLS", value_parser = parse_size)]
    size: Option<TermSize>,
    /// Run as this user (name or UID[:GID])
    #[arg(short, long, value_name = "USER")]
    user: Option<String>,
    /// Run in this directory inside the container
    #[arg(short, long, value_name = "DIR")]
    workdir: Option<String>,
    /// Set an environment variable, KEY=VALUE (repeatable)
    #[arg(short, long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// Id, id prefix, name, or HOST/NAME
    container: String,
    /// The command and its arguments, after `--` [default: bash if the image has it, else sh]
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "CMD")]
    cmd: Vec<String>,
}

impl ExecArgs {
    /// The container and what to run in it.
    pub fn into_spec(self) -> (String, ExecSpec) {
        let spec = ExecSpec {
            cmd: crate::trailing_command(self.cmd),
            user: self.user,
            workdir: self.workdir,
            env: self.env,
            tty: self.tty,
            stdin: self.interactive,
            size: self.size,
        };
        (self.container, spec)
    }
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Keep printing as the container writes
    #[arg(short, long)]
    follow: bool,
    /// Only the last N lines ("all" for every line)
    #[arg(long, value_name = "N", value_parser = parse_tail)]
    tail: Option<Tail>,
    /// Only lines since a duration back from now (10m, 2h, 1d) or an RFC 3339 time
    #[arg(long, value_name = "WHEN")]
    since: Option<String>,
    /// Prefix each line with its time
    #[arg(short, long)]
    timestamps: bool,
    /// Id, id prefix, name, or HOST/NAME
    container: String,
}

impl LogsArgs {
    /// The container and which part of its log, `--since` counted back from `now`.
    pub fn into_spec(self, now: DateTime<Utc>) -> Result<(String, LogSpec), Error> {
        let since = self.since.map(|s| berth_core::time::parse_since(&s, now)).transpose()?.map(|ns| ns.div_euclid(1_000_000_000));
        let tail = match self.tail {
            Some(Tail::Last(n)) => Some(n),
            Some(Tail::All) | None => None,
        };
        Ok((self.container, LogSpec { follow: self.follow, tail, since, timestamps: self.timestamps }))
    }
}

#[derive(Debug, Clone, Copy)]
enum Tail {
    All,
    Last(u64),
}

fn parse_size(s: &str) -> Result<TermSize, String> {
    s.parse().map_err(|e: Error| e.to_string())
}

fn parse_tail(s: &str) -> Result<Tail, String> {
    match s {
        "all" => Ok(Tail::All),
        _ => s.parse().map(Tail::Last).map_err(|_| format!("{s:?} is not a line count; give a number or \"all\"")),
    }
}

pub fn exec_command(store: &Store, args: ExecArgs) -> Result<ExitCode, Error> {
    let (container, mut spec) = args.into_spec();
    let (host_name, id, _) = store.container_inspect(&container)?;
    let host = store.host(&host_name)?;
    prompt::secrets_for_this_run(std::slice::from_ref(&host))?;
    let terminal = spec.tty && std::io::stdout().is_terminal();
    if spec.tty && spec.size.is_none() {
        spec.size = if terminal { terminal_size() } else { None };
    }
    let runtime = runtime::start()?;
    // Raw mode only for a terminal the user types into; restored when the guard drops.
    let raw = (spec.tty && spec.stdin && std::io::stdin().is_terminal()).then(RawMode::enable).flatten();
    let outcome = runtime.block_on(session(&host, &id, spec, terminal && raw.is_some()));
    drop(raw);
    // A read of our stdin may still be blocked in its thread: do not wait for it.
    runtime.shutdown_background();
    let end = outcome?;
    match end.exit_code {
        Some(code) => Ok(ExitCode::from(u8::try_from(code.clamp(0, 255)).unwrap_or(NO_EXIT_CODE))),
        None => {
            let why = if end.container_running { "Docker did not record an exit code" } else { "the container stopped" };
            eprintln!("berth: the session in {} on {host_name} ended without an exit code: {why}", short(&id));
            Ok(ExitCode::from(NO_EXIT_CODE))
        }
    }
}

#[cfg_attr(not(unix), allow(unused_variables))]
async fn session(host: &berth_core::model::Host, id: &str, spec: ExecSpec, follow_window: bool) -> Result<exec::ExecEnd, Error> {
    let engine = berth_core::connect::connect(host).await?;
    let (session, mut output, mut input) = exec::start(&engine, id, &spec).await?;
    if spec.stdin {
        // Keystrokes and piped bytes go in as they come. At the end of our input the process's
        // stdin is closed, except on a TTY: closing it hangs the terminal up under the process,
        // which could lose its last output. A TTY session ends when its process does.
        let tty = spec.tty;
        tokio::spawn(async move {
            let mut stdin = tokio::io::stdin();
            if tokio::io::copy(&mut stdin, &mut input).await.is_ok() && !tty {
                let _ = input.shutdown().await;
            }
        });
    } else {
        drop(input);
    }
    #[cfg(unix)]
    if follow_window {
        let session = session.clone();
        tokio::spawn(async move {
            let Ok(mut changes) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change()) else {
                return;
            };
            while changes.recv().await.is_some() {
                if let Some(size) = terminal_size() {
                    if let Err(error) = session.resize(size).await {
                        tracing::debug!(%error, "could not resize the exec's terminal");
                    }
                }
            }
        });
    }
    pump(&mut output, "writing the command's output").await?;
    session.wait().await
}

/// Copies a container's output to ours, stdout and stderr apart, flushing as it comes. A closed
/// pipe on our side (`berth exec … | head`) ends it quietly, as with docker.
async fn pump(output: &mut exec::OutputStream, what: &str) -> Result<(), Error> {
    let mut stdout = tokio::io::stdout();
    let mut stderr = tokio::io::stderr();
    while let Some(chunk) = output.next().await {
        let written = match chunk? {
            Output::Stdout(bytes) => stdout.write_all(&bytes).await.and(stdout.flush().await),
            Output::Stderr(bytes) => stderr.write_all(&bytes).await.and(stderr.flush().await),
        };
        match written {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => break,
            Err(source) => return Err(Error::Io { context: what.into(), source }),
        }
    }
    Ok(())
}

pub fn logs_command(store: &Store, args: LogsArgs) -> Result<ExitCode, Error> {
    let (container, spec) = args.into_spec(Utc::now())?;
    let (host_name, id, _) = store.container_inspect(&container)?;
    let host = store.host(&host_name)?;
    prompt::secrets_for_this_run(std::slice::from_ref(&host))?;
    runtime::start()?.block_on(async {
        let engine = berth_core::connect::connect(&host).await?;
        pump(&mut exec::logs(&engine, &id, &spec), "writing the log").await?;
        Ok(ExitCode::SUCCESS)
    })
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

/// Our terminal's size, from standard output.
#[cfg(unix)]
fn terminal_size() -> Option<TermSize> {
    // SAFETY: TIOCGWINSZ fills the winsize we pass; a failure leaves it unused.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
    (ok && size.ws_row > 0 && size.ws_col > 0).then(|| TermSize::new(size.ws_row, size.ws_col).ok()).flatten()
}

#[cfg(not(unix))]
fn terminal_size() -> Option<TermSize> {
    None
}

/// The terminal in raw mode (keys pass straight to the container's TTY) until dropped.
#[cfg(unix)]
struct RawMode(libc::termios);

/// (Raw mode is not wired on Windows yet: keys are sent line by line.)
#[cfg(not(unix))]
struct RawMode;

#[cfg(not(unix))]
impl RawMode {
    fn enable() -> Option<RawMode> {
        None
    }
}

#[cfg(unix)]
impl RawMode {
    fn enable() -> Option<RawMode> {
        // SAFETY: tcgetattr/tcsetattr on our own stdin with a termios they fill or read.
        unsafe {
            let mut saved: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(libc::STDIN_FILENO, &mut saved) != 0 {
                return None;
            }
            let mut raw = saved;
            libc::cfmakeraw(&mut raw);
            (libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &raw) == 0).then_some(RawMode(saved))
        }
    }
}

#[cfg(unix)]
impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: puts back the settings read in `enable`.
        unsafe {
            libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &self.0);
        }
    }
}
