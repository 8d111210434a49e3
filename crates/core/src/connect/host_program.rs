//! Programs kept running on the host itself, not in a container, where Berth has a shell there:
//! the machine of a local socket (a child process) and an `ssh://` host (an exec channel of its
//! tunnel). The monitor's cgroup reader is one: started once, asked one line per tick, so a
//! tick costs one round trip however many containers the host runs. Also the Engine API's
//! one-shot stats, the other way to read a container's counters.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

use super::{api_at_least, Engine, Raw};
use crate::error::Result;

/// A program running on the host, asked one line at a time.
pub struct HostProgram {
    reader: BufReader<Box<dyn AsyncRead + Send + Unpin>>,
    writer: Box<dyn AsyncWrite + Send + Unpin>,
    _child: Option<tokio::process::Child>,
    /// `local` (a child process) or `ssh` (an exec channel).
    pub via: &'static str,
}

impl std::fmt::Debug for HostProgram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostProgram").field("via", &self.via).finish()
    }
}

/// `sh -c 'PROGRAM'` as one string, for a shell that takes the command as text.
fn sh_command(program: &str) -> String {
    format!("sh -c '{}'", program.replace('\'', r"'\''"))
}

impl HostProgram {
    /// Write `line` (ending in a newline) and read the answer up to and including the line
    /// `end`, within `limit`. An error means the program is gone or stuck: start it again.
    pub async fn ask(&mut self, line: &str, end: &str, limit: Duration) -> std::io::Result<String> {
        let work = async {
            self.writer.write_all(line.as_bytes()).await?;
            self.writer.flush().await?;
            let mut answer = String::new();
            loop {
                let before = answer.len();
                if self.reader.read_line(&mut answer).await? == 0 {
                    return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the program on the host ended"));
                }
                if answer[before..].trim_end() == end {
                    return Ok(answer);
                }
            }
        };
        tokio::time::timeout(limit, work)
            .await
            .unwrap_or_else(|_| Err(std::io::Error::new(std::io::ErrorKind::TimedOut, format!("no answer from the host within {} s", limit.as_secs()))))
    }
}

impl Engine {
    /// Start `program` (`sh` source) on the host. `None` when Berth has no shell there (TCP,
    /// TLS and named-pipe engines). A local socket may lead to a VM (Docker Desktop): the
    /// program then runs on this machine and finds none of the engine's processes, which its
    /// answers show.
    pub async fn start_host_program(&self, program: &str) -> Option<std::io::Result<HostProgram>> {
        match &self.raw {
            #[cfg(unix)]
            Raw::Unix { .. } => Some((|| {
                let mut child = tokio::process::Command::new("sh")
                    .args(["-c", program])
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::null())
                    .kill_on_drop(true)
                    .spawn()?;
                let (stdin, stdout) = (child.stdin.take().expect("piped"), child.stdout.take().expect("piped"));
                Ok(HostProgram { reader: BufReader::new(Box::new(stdout)), writer: Box::new(stdin), _child: Some(child), via: "local" })
            })()),
            #[cfg(unix)]
            Raw::Tunnel { link, .. } => Some(link.exec(&sh_command(program)).await.map(|stream| {
                let (read, write) = tokio::io::split(stream);
                HostProgram { reader: BufReader::new(Box::new(read)), writer: Box::new(write), _child: None, via: "ssh" }
            })),
            _ => None,
        }
    }

    /// Whether the daemon answers one-shot stats (API 1.41 and later) without waiting for a
    /// second sample.
    pub fn one_shot_stats(&self) -> bool {
        api_at_least(&self.api_version, 1, 41)
    }

    /// A container's stats document as the daemon wrote it (`one_shot`: one sample, no
    /// `precpu_stats`; else two a second apart); `None` when the container no longer exists.
    pub async fn container_stats_json(&self, id: &str, one_shot: bool) -> Result<Option<String>> {
        let action = "read a container's stats";
        let one_shot = one_shot && self.one_shot_stats();
        let path = format!("/v{}/containers/{id}/stats?stream=false{}", self.api_version, if one_shot { "&one-shot=true" } else { "" });
        if let Some(answer) = self.raw_document(action, &path).await {
            return answer;
        }
        use futures_util::StreamExt;
        let options = bollard::query_parameters::StatsOptions { stream: false, one_shot };
        match self.docker.stats(id, Some(options)).next().await {
            Some(Ok(stats)) => Ok(Some(serde_json::to_string(&stats).expect("Docker models serialise"))),
            Some(Err(e)) if super::is_not_found(&e) => Ok(None),
            Some(Err(e)) => Err(self.error(action, e)),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_program_is_quoted_for_a_remote_shell() {
        assert_eq!(super::sh_command("echo 'a' b"), r"sh -c 'echo '\''a'\'' b'");
    }
}
