//! Exec and log requests, as plain data both ways: create an exec, start it attached through
//! bollard (the fallback for TLS and named pipes, which [`Engine::hijack`] cannot reach), resize
//! its terminal, read its state; a container's log; whether a container runs. The sessions built
//! on them, and the decoding of the hijacked stream, are [`crate::exec`]'s.

use std::pin::Pin;

use bollard::container::LogOutput;
use bollard::exec::{StartExecOptions, StartExecResults};
use bollard::models::ExecConfig;
use bollard::query_parameters::{LogsOptionsBuilder, ResizeExecOptions};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tokio::io::AsyncWrite;

use super::{is_not_found, Engine};
use crate::error::Result;

/// A piece of a process's output. With a TTY everything is `Stdout`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Stdout(Bytes),
    Stderr(Bytes),
}

impl Output {
    pub fn bytes(&self) -> &Bytes {
        match self {
            Output::Stdout(b) | Output::Stderr(b) => b,
        }
    }
}

pub type OutputStream = Pin<Box<dyn Stream<Item = Result<Output>> + Send>>;
pub type InputSink = Pin<Box<dyn AsyncWrite + Send>>;

/// An exec's create request (`POST /containers/{id}/exec`), as Docker takes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecCreate {
    /// The command and its arguments, as run.
    pub cmd: Vec<String>,
    /// `KEY=VALUE` entries added to the container's environment.
    pub env: Vec<String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub tty: bool,
    pub stdin: bool,
    /// (rows, cols) of the TTY at create (`ConsoleSize`, API 1.42 on: the caller decides).
    pub console_size: Option<(u16, u16)>,
}

/// What Docker says of an exec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecState {
    pub running: bool,
    /// The process's exit code, once Docker has recorded one.
    pub exit_code: Option<i64>,
}

/// Which part of a container's log to read (`GET /containers/{id}/logs`, stdout and stderr).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogQuery {
    pub follow: bool,
    /// The last N lines; `None`: all.
    pub tail: Option<u64>,
    /// Lines written at or after this time (Unix seconds).
    pub since_s: Option<i64>,
    pub timestamps: bool,
}

impl Engine {
    /// Create an exec in `container` (id or name): the exec's id.
    pub async fn create_exec(&self, container: &str, request: &ExecCreate) -> Result<String> {
        let action = format!("start an exec in container {container}");
        let created = self.docker.create_exec(container, exec_config(request)).await.map_err(|e| self.error(&action, e))?;
        Ok(created.id)
    }

    /// Start exec `id` attached, through bollard's decoder: for the endpoints [`Engine::hijack`]
    /// cannot reach (it says `None`). That decoder takes a TTY chunk that starts with byte 0, 1 or
    /// 2 for a stream header, so hijack where you can. Errors are `action`'s.
    pub(crate) async fn start_exec_attached(&self, id: &str, tty: bool, action: &str) -> Result<(OutputStream, InputSink)> {
        let options = StartExecOptions { detach: false, tty, output_capacity: Some(64 * 1024) };
        match self.docker.start_exec(id, Some(options)).await.map_err(|e| self.error(action, e))? {
            StartExecResults::Attached { output, input } => {
                let engine = self.clone();
                let output = output.map(move |item| item.map(output_of).map_err(|e| engine.error("read an exec's output", e)));
                Ok((Box::pin(output), input))
            }
            StartExecResults::Detached => unreachable!("started attached"),
        }
    }

    /// Tell exec `id`'s TTY its new size. Docker refuses it once the process has ended.
    pub async fn resize_exec(&self, id: &str, rows: u16, cols: u16) -> Result<()> {
        let options = ResizeExecOptions { h: i32::from(rows), w: i32::from(cols) };
        self.docker.resize_exec(id, options).await.map_err(|e| self.error("resize an exec's terminal", e))
    }

    /// Exec `id`'s state; `None` when the exec is gone (with its container).
    pub async fn inspect_exec(&self, id: &str) -> Result<Option<ExecState>> {
        match self.docker.inspect_exec(id).await {
            Ok(inspect) => Ok(Some(ExecState { running: inspect.running == Some(true), exit_code: inspect.exit_code })),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(self.error("read how an exec ended", e)),
        }
    }

    /// Whether `container` (id or name) runs; `false` too when Docker could not say.
    pub async fn container_running(&self, container: &str) -> bool {
        let inspect = self.docker.inspect_container(container, None).await;
        inspect.ok().and_then(|c| c.state).and_then(|s| s.running).unwrap_or(false)
    }

    /// `container`'s log as Docker keeps it, stdout and stderr apart.
    pub fn logs(&self, container: &str, query: &LogQuery) -> OutputStream {
        let tail = query.tail.map_or_else(|| "all".to_owned(), |n| n.to_string());
        let options = LogsOptionsBuilder::new()
            .follow(query.follow)
            .stdout(true)
            .stderr(true)
            .since(query.since_s.unwrap_or(0).clamp(0, i32::MAX as i64) as i32)
            .timestamps(query.timestamps)
            .tail(&tail)
            .build();
        let engine = self.clone();
        let action = format!("read the log of container {container}");
        Box::pin(self.docker.logs(container, Some(options)).map(move |item| item.map(output_of).map_err(|e| engine.error(&action, e))))
    }
}

/// The exec create body. (bollard's `CreateExecOptions` has no console size; its generated
/// `ExecConfig` model has.)
fn exec_config(request: &ExecCreate) -> ExecConfig {
    ExecConfig {
        attach_stdin: Some(request.stdin),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        tty: Some(request.tty),
        console_size: request.console_size.map(|(rows, cols)| vec![usize::from(rows), usize::from(cols)]),
        cmd: Some(request.cmd.clone()),
        env: (!request.env.is_empty()).then(|| request.env.clone()),
        user: request.user.clone(),
        working_dir: request.workdir.clone(),
        ..Default::default()
    }
}

fn output_of(item: LogOutput) -> Output {
    match item {
        LogOutput::StdErr { message } => Output::Stderr(message),
        LogOutput::StdOut { message } | LogOutput::Console { message } | LogOutput::StdIn { message } => Output::Stdout(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_create_body_says_what_the_request_says() {
        let request = ExecCreate { cmd: vec!["ls".into(), "/".into()], tty: true, console_size: Some((40, 120)), ..Default::default() };
        let body = exec_config(&request);
        assert_eq!(body.console_size, Some(vec![40, 120]));
        assert_eq!((body.tty, body.attach_stdin, body.attach_stdout, body.attach_stderr), (Some(true), Some(false), Some(true), Some(true)));
        assert_eq!(body.cmd, Some(vec!["ls".to_owned(), "/".to_owned()]));
        assert_eq!((body.env, body.user, body.working_dir), (None, None, None), "nothing asked, nothing sent");
        assert_eq!(exec_config(&ExecCreate::default()).console_size, None);
    }
}
