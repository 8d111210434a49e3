//! Exec sessions and logs: a command run inside a container through Docker exec (create, start
//! attached, resize), the same way over a local socket, TCP or an SSH tunnel. The app's web shell
//! and `berth exec` both stand on this; `berth logs` and the app's log view on [`logs`].
//!
//! The attached start is hijacked (`Engine::hijack`): with a TTY, Docker sends the process's
//! bytes raw, and raw bytes must stay raw (a shell can print anything), so this module reads the
//! TTY stream as it is and decodes only the non-TTY stream's frames. TLS and named-pipe hosts,
//! which the hijack cannot reach, fall back to `Engine::start_exec_attached` (whose decoder may
//! take a TTY chunk for a stream header). The requests themselves are [`crate::connect`]'s.

use std::str::FromStr;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::connect::{Engine, ExecCreate, ExecState, LogQuery};
pub use crate::connect::{InputSink, Output, OutputStream};
use crate::error::{Error, Result};

/// What `ExecSpec::cmd` runs when it is empty: bash when the image has it, else sh.
pub const DEFAULT_SHELL: [&str; 3] = ["/bin/sh", "-c", "command -v bash >/dev/null 2>&1 && exec bash; exec sh"];

/// A terminal's size in character cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct TermSize {
    pub rows: u16,
    pub cols: u16,
}

impl TermSize {
    /// Docker and terminals take sizes up to this many cells a side.
    pub const MAX: u16 = 4096;

    pub fn new(rows: u16, cols: u16) -> Result<TermSize> {
        if rows == 0 || cols == 0 || rows > Self::MAX || cols > Self::MAX {
            return Err(Error::invalid("terminal size", format!("{rows}x{cols}: rows and columns must be between 1 and {}", Self::MAX)));
        }
        Ok(TermSize { rows, cols })
    }
}

impl FromStr for TermSize {
    type Err = Error;

    /// `ROWSxCOLS`, e.g. `40x120`.
    fn from_str(s: &str) -> Result<TermSize> {
        let bad = || Error::invalid("terminal size", format!("{s:?}; write ROWSxCOLS, e.g. 40x120"));
        let (rows, cols) = s.trim().split_once(['x', 'X']).ok_or_else(bad)?;
        TermSize::new(rows.trim().parse().map_err(|_| bad())?, cols.trim().parse().map_err(|_| bad())?)
    }
}

/// What to run and how.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ExecSpec {
    /// The command and its arguments; empty: [`DEFAULT_SHELL`].
    #[serde(default)]
    pub cmd: Vec<String>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub workdir: Option<String>,
    /// `KEY=VALUE` entries added to the container's environment.
    #[serde(default)]
    pub env: Vec<String>,
    /// Give the process a pseudo-terminal (output then comes as one raw stream).
    #[serde(default)]
    pub tty: bool,
    /// Wire the process's standard input.
    #[serde(default)]
    pub stdin: bool,
    /// The terminal's size at start (with `tty`).
    #[serde(default)]
    pub size: Option<TermSize>,
}

impl ExecSpec {
    fn command(&self) -> Vec<String> {
        if self.cmd.is_empty() {
            DEFAULT_SHELL.iter().map(|s| (*s).to_owned()).collect()
        } else {
            self.cmd.clone()
        }
    }

    fn validate(&self) -> Result<()> {
        if let Some(bad) = self.env.iter().find(|e| !e.contains('=') || e.starts_with('=')) {
            return Err(Error::invalid("environment entry", format!("{bad:?}; write KEY=VALUE")));
        }
        if self.cmd.first().is_some_and(|c| c.is_empty()) {
            return Err(Error::invalid("command", "the program name is empty"));
        }
        Ok(())
    }
}

/// A started exec: its id on the daemon, for resizing it and reading how it ended.
#[derive(Clone)]
pub struct Exec {
    engine: Engine,
    pub id: String,
    /// The container's id or name as given.
    pub container: String,
    pub tty: bool,
}

/// How an exec ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ExecEnd {
    /// The process's exit code; `None` when Docker never learnt it (the container died with it).
    pub exit_code: Option<i64>,
    /// Whether the container still runs.
    pub container_running: bool,
}

/// Create and start `spec` in `container`, attached: its output, and its input when
/// `spec.stdin` (dropping or shutting down the input closes the process's stdin).
pub async fn start(engine: &Engine, container: &str, spec: &ExecSpec) -> Result<(Exec, OutputStream, InputSink)> {
    spec.validate()?;
    let action = format!("start an exec in container {container}");
    let id = engine.create_exec(container, &exec_create(spec, &engine.api_version)).await?;
    let exec = Exec { engine: engine.clone(), id, container: container.to_owned(), tty: spec.tty };

    let body = serde_json::json!({ "Detach": false, "Tty": spec.tty });
    let (output, input): (OutputStream, InputSink) = match engine.hijack(&action, &format!("/exec/{}/start", exec.id), body.to_string()).await {
        Some(hijacked) => {
            let (read, write) = tokio::io::split(hijacked?);
            (read_output(read, spec.tty), Box::pin(write))
        }
        None => engine.start_exec_attached(&exec.id, spec.tty, &action).await?,
    };
    if let (Some(size), true) = (spec.size, spec.tty && !sizes_at_create(&engine.api_version)) {
        // The process runs already and may have ended (`ls`): then this is nothing to do, and its
        // output, buffered in the attached stream, is still there to read.
        exec.resize(size).await?;
    }
    Ok((exec, output, input))
}

/// Docker takes a TTY's size at exec create from API 1.42 (`ConsoleSize`); before that only a
/// resize once the process runs can set it.
fn sizes_at_create(api_version: &str) -> bool {
    crate::connect::api_at_least(api_version, 1, 42)
}

/// The exec create request for `spec` on a daemon speaking `api_version`.
fn exec_create(spec: &ExecSpec, api_version: &str) -> ExecCreate {
    let console_size = spec.size.filter(|_| spec.tty && sizes_at_create(api_version));
    ExecCreate {
        cmd: spec.command(),
        env: spec.env.clone(),
        user: spec.user.clone(),
        workdir: spec.workdir.clone(),
        tty: spec.tty,
        stdin: spec.stdin,
        console_size: console_size.map(|size| (size.rows, size.cols)),
    }
}

impl Exec {
    /// Tell the process its terminal is now `size`. A process that has ended has no terminal to
    /// resize: that is not an error, there is nothing to do.
    ///
    /// Docker refuses such a resize (API 1.41: HTTP 500 "cannot resize a stopped container", from
    /// containerd; or the container has stopped, or the exec is gone with its container). Which
    /// answer comes depends on timing and version, so a refusal is not read: Docker is asked
    /// whether the process still runs, and only a process it says runs gets the error (about a
    /// second late: see [`Exec::inspect_settled`]).
    pub async fn resize(&self, size: TermSize) -> Result<()> {
        match self.engine.resize_exec(&self.id, size.rows, size.cols).await {
            Ok(()) => Ok(()),
            Err(error) => match self.inspect_settled().await {
                Ok(None) => Ok(()),
                Ok(Some(state)) if !state.running => {
                    tracing::debug!(exec = %self.id, %error, "no resize: the process has ended");
                    Ok(())
                }
                _ => Err(error),
            },
        }
    }

    /// How the exec ended, once its output has ended (Docker may take a moment to record it).
    pub async fn wait(&self) -> Result<ExecEnd> {
        match self.inspect_settled().await? {
            Some(state) => {
                let container_running = self.engine.container_running(&self.container).await;
                Ok(ExecEnd { exit_code: state.exit_code, container_running })
            }
            None => Ok(ExecEnd { exit_code: None, container_running: false }),
        }
    }

    /// Docker's record of the exec, asked again every 20 ms for up to a second while it says the
    /// process runs: Docker records an exit a moment after the process ends (the exit travels
    /// from containerd's shim). `None`: the exec is gone (with its container).
    async fn inspect_settled(&self) -> Result<Option<ExecState>> {
        let mut tries = 0;
        loop {
            match self.engine.inspect_exec(&self.id).await? {
                Some(state) if state.running && tries < 50 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                settled => return Ok(settled),
            }
        }
    }
}

/// Docker's output: raw with a TTY, else frames of an 8-byte header (stream, 0, 0, 0, length
/// big-endian) and the payload.
fn read_output<R: AsyncRead + Send + Unpin + 'static>(reader: R, tty: bool) -> OutputStream {
    let state = (reader, BytesMut::with_capacity(64 * 1024), false);
    Box::pin(futures_util::stream::unfold(state, move |(mut reader, mut buf, done)| async move {
        if done {
            return None;
        }
        loop {
            if tty {
                if !buf.is_empty() {
                    let chunk = buf.split().freeze();
                    return Some((Ok(Output::Stdout(chunk)), (reader, buf, false)));
                }
            } else if let Some(frame) = take_frame(&mut buf) {
                return Some((Ok(frame), (reader, buf, false)));
            }
            if buf.capacity() - buf.len() < 16 * 1024 {
                buf.reserve(64 * 1024);
            }
            match reader.read_buf(&mut buf).await {
                Ok(0) if buf.is_empty() => return None,
                Ok(0) => {
                    // A frame cut short by the end of the stream: hand over what there is.
                    let rest = buf.split().freeze();
                    return Some((Ok(Output::Stdout(rest)), (reader, buf, true)));
                }
                Ok(_) => {}
                Err(err) => {
                    let error = Error::Io { context: "reading an exec's output".into(), source: err };
                    return Some((Err(error), (reader, buf, true)));
                }
            }
        }
    }))
}

fn take_frame(buf: &mut BytesMut) -> Option<Output> {
    loop {
        if buf.len() < 8 {
            return None;
        }
        let length = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]) as usize;
        if buf.len() < 8 + length {
            return None;
        }
        let stream = buf[0];
        buf.advance(8);
        let payload = buf.split_to(length).freeze();
        match stream {
            2 => return Some(Output::Stderr(payload)),
            // 0 (stdin echo) and 1 are output to show; an empty frame carries nothing.
            _ if payload.is_empty() => continue,
            _ => return Some(Output::Stdout(payload)),
        }
    }
}

/// Which part of a container's log to read.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct LogSpec {
    /// Keep reading as the container writes.
    #[serde(default)]
    pub follow: bool,
    /// Only the last N lines (before following).
    #[serde(default)]
    pub tail: Option<u64>,
    /// Only lines written at or after this time (Unix seconds).
    #[serde(default)]
    pub since: Option<i64>,
    /// Prefix each line with Docker's RFC 3339 timestamp.
    #[serde(default)]
    pub timestamps: bool,
}

/// A container's log as Docker keeps it, stdout and stderr apart.
pub fn logs(engine: &Engine, container: &str, spec: &LogSpec) -> OutputStream {
    let query = LogQuery { follow: spec.follow, tail: spec.tail, since_s: spec.since, timestamps: spec.timestamps };
    engine.logs(container, &query)
}

/// A log written to a file by [`save_logs`].
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct SavedLog {
    pub path: String,
    pub bytes: u64,
}

/// Write the part of a container's log that `spec` names (never following) to a new file in
/// `dir`, named after the host, the container and the time. The log streams straight to disk, so
/// a long log costs no memory; the file appears only once it is whole (it is written under a
/// temporary name, then renamed), and nothing is left behind on failure.
pub async fn save_logs(engine: &Engine, host: &str, container: &str, spec: &LogSpec, dir: &std::path::Path) -> Result<SavedLog> {
    use tokio::io::AsyncWriteExt;
    let io = |context: String| move |source| Error::Io { context, source };
    tokio::fs::create_dir_all(dir).await.map_err(io(format!("creating the folder {}", dir.display())))?;
    let stem = format!("{host}-{container}-{}", chrono::Local::now().format("%Y%m%d-%H%M%S"));
    let path = crate::paths::unused_file_name(dir, &stem, "log");
    let part = path.with_extension("log.part");
    let spec = LogSpec { follow: false, ..spec.clone() };
    let written = async {
        let mut file = tokio::fs::File::create(&part).await.map_err(io(format!("creating {}", part.display())))?;
        let mut stream = logs(engine, container, &spec);
        let mut bytes = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            bytes += chunk.bytes().len() as u64;
            file.write_all(chunk.bytes()).await.map_err(io(format!("writing {}", part.display())))?;
        }
        file.flush().await.map_err(io(format!("writing {}", part.display())))?;
        file.sync_all().await.map_err(io(format!("writing {}", part.display())))?;
        tokio::fs::rename(&part, &path).await.map_err(io(format!("renaming {} to {}", part.display(), path.display())))?;
        Ok(bytes)
    }
    .await;
    match written {
        Ok(bytes) => Ok(SavedLog { path: path.display().to_string(), bytes }),
        Err(error) => {
            let _ = tokio::fs::remove_file(&part).await;
            Err(error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn sizes_parse_and_refuse_nonsense() {
        assert_eq!("40x120".parse::<TermSize>().unwrap(), TermSize { rows: 40, cols: 120 });
        assert_eq!(" 24X80 ".parse::<TermSize>().unwrap(), TermSize { rows: 24, cols: 80 });
        for bad in ["", "40", "x80", "40x", "0x80", "40x0", "40x99999", "-1x80", "axb"] {
            let error = bad.parse::<TermSize>().unwrap_err().to_string();
            assert!(error.contains("terminal size"), "{bad:?}: {error}");
        }
    }

    #[test]
    fn frames_split_streams_and_wait_for_whole_payloads() {
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 3]);
        buf.extend_from_slice(b"abc");
        buf.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0, 2]);
        buf.extend_from_slice(b"e");
        assert_eq!(take_frame(&mut buf), Some(Output::Stdout(Bytes::from_static(b"abc"))));
        assert_eq!(take_frame(&mut buf), None, "half a payload waits");
        buf.extend_from_slice(b"r");
        assert_eq!(take_frame(&mut buf), Some(Output::Stderr(Bytes::from_static(b"er"))));
        assert!(buf.is_empty());
    }

    #[test]
    fn tty_output_stays_raw_whatever_its_first_byte() {
        let bytes: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let got = runtime.block_on(async {
            let mut out = Vec::new();
            let mut stream = read_output(std::io::Cursor::new(bytes.clone()), true);
            while let Some(chunk) = stream.next().await {
                out.extend_from_slice(chunk.unwrap().bytes());
            }
            out
        });
        assert_eq!(got, bytes);
    }

    #[test]
    fn api_versions_compare_by_number() {
        assert!(crate::connect::api_at_least("1.42", 1, 42));
        assert!(crate::connect::api_at_least("1.100", 1, 42));
        assert!(!crate::connect::api_at_least("1.41", 1, 42));
    }

    #[test]
    fn a_tty_size_goes_in_at_create_from_api_1_42() {
        let size = Some(TermSize { rows: 40, cols: 120 });
        for (api, tty, size, console_size) in [
            ("1.42", true, size, Some((40, 120))),
            ("1.51", true, size, Some((40, 120))),
            // Older daemons have no such field: a resize after start sets the size.
            ("1.41", true, size, None),
            ("1.42", false, size, None),
            ("1.42", true, None, None),
        ] {
            let spec = ExecSpec { tty, size, ..Default::default() };
            assert_eq!(exec_create(&spec, api).console_size, console_size, "{api} tty={tty} {size:?}");
        }
        assert!(sizes_at_create("1.42") && !sizes_at_create("1.41"));
    }

    #[test]
    fn env_entries_need_a_key_and_an_equals_sign() {
        let spec = ExecSpec { env: vec!["A=1".into(), "B".into()], ..Default::default() };
        assert!(spec.validate().unwrap_err().to_string().contains("\"B\""));
        assert!(ExecSpec { env: vec!["=x".into()], ..Default::default() }.validate().is_err());
        assert_eq!(ExecSpec::default().command()[0], "/bin/sh");
    }
}
