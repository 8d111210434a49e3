//! The shell sessions a front end keeps open: an exec with a TTY in a container on any host, its
//! recent output kept for re-attaching (bounded), and one subscriber at a time that receives the
//! output coalesced into few large messages. A session lives until its process ends or it is
//! closed, whatever the front end shows meanwhile. [`LogStreams`] does the same for followed logs.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{FutureExt, StreamExt};
use serde::Serialize;
use tokio::io::AsyncWriteExt;

use crate::connect::Engine;
use crate::error::{Error, Result};
use crate::exec::{self, Exec, ExecEnd, ExecSpec, InputSink, OutputStream, TermSize};

/// How much recent output a session keeps for a subscriber that attaches later.
pub const REPLAY_BYTES: usize = 1024 * 1024;
/// The most one output message carries.
pub const MAX_MESSAGE: usize = 1024 * 1024;
/// Output that is already this much when first read is a flood: it is gathered for up to
/// `FRAME`, so a flood arrives as about 30 large messages a second rather than thousands of
/// small ones (the webview pays per message: 256 KiB messages carried 7.4 MB/s to the screen,
/// 1 MiB ones 10.7 MB/s), while a keystroke's echo goes at once.
pub const FLOOD: usize = 2 * 1024;
pub const FRAME: Duration = Duration::from_millis(32);
/// With [`Flow::Acked`], output delivered but not yet acknowledged by the subscriber stops the
/// session's reading at this much. The exec's process then blocks on its terminal, as it would
/// in a slow terminal: a flood can neither pile up in the front end (xterm.js drops data past
/// 50 MB queued) nor keep scrolling for seconds after Ctrl+C.
pub const ACK_WINDOW: usize = 4 * 1024 * 1024;

/// Whether a subscriber acknowledges the output it has shown ([`Shells::ack`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Output goes as fast as it is read (a subscriber that never falls behind, e.g. a file).
    Unbounded,
    /// At most [`ACK_WINDOW`] bytes go unacknowledged; reading waits for acks beyond that.
    Acked,
}

/// What a subscriber receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShellEvent {
    Output(Bytes),
    /// The process ended (the last event of a session).
    Ended(ExecEnd),
    /// Reading the session failed (the link or the daemon went away); the last event.
    Failed(String),
}

pub type Subscriber = Arc<dyn Fn(ShellEvent) + Send + Sync>;

/// A session as a front end lists it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ShellInfo {
    pub id: u32,
    pub host: String,
    pub container: String,
    pub ended: Option<ExecEnd>,
}

struct Shell {
    exec: Exec,
    host: String,
    input: tokio::sync::Mutex<InputSink>,
    state: Mutex<ShellState>,
    /// Woken by acks (and by a new subscriber), for a pump waiting on the window.
    room: tokio::sync::Notify,
}

impl Shell {
    fn state(&self) -> std::sync::MutexGuard<'_, ShellState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until the subscriber has acknowledged enough output to take more.
    async fn wait_for_room(&self) {
        loop {
            let notified = self.room.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.state().has_room() {
                return;
            }
            notified.await;
        }
    }
}

#[derive(Default)]
struct ShellState {
    replay: VecDeque<Bytes>,
    replay_len: usize,
    subscriber: Option<Subscriber>,
    flow: Option<Flow>,
    /// Bytes delivered to the subscriber and not yet acknowledged (with `Flow::Acked`).
    unacked: usize,
    /// Set once the session is over: `Ended` or `Failed`, replayed to a late subscriber.
    last: Option<ShellEvent>,
}

impl ShellState {
    fn subscribe(&mut self, subscriber: Subscriber, flow: Flow) {
        self.subscriber = Some(subscriber);
        self.flow = Some(flow);
        self.unacked = 0;
    }

    fn has_room(&self) -> bool {
        self.flow != Some(Flow::Acked) || self.unacked < ACK_WINDOW
    }

    /// Delivers under the state's lock, so a subscriber attaching meanwhile sees every byte once.
    fn deliver(&mut self, event: ShellEvent) {
        if let ShellEvent::Output(bytes) = &event {
            if self.flow == Some(Flow::Acked) {
                self.unacked += bytes.len();
            }
            self.replay_len += bytes.len();
            self.replay.push_back(bytes.clone());
            while self.replay_len > REPLAY_BYTES {
                let front = self.replay.pop_front().expect("non-empty while over the bound");
                self.replay_len -= front.len();
            }
        } else {
            self.last = Some(event.clone());
        }
        if let Some(subscriber) = &self.subscriber {
            subscriber(event);
        }
    }
}

/// Every open session, by id.
#[derive(Default)]
pub struct Shells {
    next: AtomicU32,
    sessions: Mutex<HashMap<u32, Arc<Shell>>>,
}

impl Shells {
    pub fn new() -> Shells {
        Shells::default()
    }

    /// Start `spec` (with a TTY and stdin, whatever it says) in `container` on `engine`'s host;
    /// `subscriber` receives its output from the first byte.
    pub async fn open(&self, engine: &Engine, container: &str, mut spec: ExecSpec, subscriber: Subscriber, flow: Flow) -> Result<u32> {
        spec.tty = true;
        spec.stdin = true;
        let (exec, output, input) = exec::start(engine, container, &spec).await?;
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let mut state = ShellState::default();
        state.subscribe(subscriber, flow);
        let shell = Arc::new(Shell {
            exec,
            host: engine.host.clone(),
            input: tokio::sync::Mutex::new(input),
            state: Mutex::new(state),
            room: tokio::sync::Notify::new(),
        });
        self.lock().insert(id, Arc::clone(&shell));
        tokio::spawn(pump(shell, output));
        Ok(id)
    }

    /// Keystrokes (or pasted text) for session `id`.
    pub async fn input(&self, id: u32, bytes: &[u8]) -> Result<()> {
        let shell = self.get(id)?;
        let mut input = shell.input.lock().await;
        let written = input.write_all(bytes).await.and(input.flush().await);
        written.map_err(|source| Error::Io { context: format!("typing into shell session {id}"), source })
    }

    pub async fn resize(&self, id: u32, size: TermSize) -> Result<()> {
        self.get(id)?.exec.resize(size).await
    }

    /// The subscriber of session `id` has shown `bytes` more of its output (with `Flow::Acked`).
    pub fn ack(&self, id: u32, bytes: usize) -> Result<()> {
        let shell = self.get(id)?;
        let mut state = shell.state();
        state.unacked = state.unacked.saturating_sub(bytes);
        if state.has_room() {
            shell.room.notify_waiters();
        }
        Ok(())
    }

    /// Hand session `id`'s output to `subscriber` from now on, after its recent output (and its
    /// end, if it has ended). The previous subscriber hears nothing more, and its unacknowledged
    /// output no longer holds the session back.
    pub fn attach(&self, id: u32, subscriber: Subscriber, flow: Flow) -> Result<()> {
        let shell = self.get(id)?;
        let mut state = shell.state();
        let recent: Vec<u8> = state.replay.iter().flat_map(|b| b.iter().copied()).collect();
        if !recent.is_empty() {
            subscriber(ShellEvent::Output(Bytes::from(recent)));
        }
        if let Some(last) = &state.last {
            subscriber(last.clone());
        }
        state.subscribe(subscriber, flow);
        drop(state);
        shell.room.notify_waiters();
        Ok(())
    }

    /// Forget session `id`; its process gets a hang-up when the connection closes.
    pub fn close(&self, id: u32) -> Result<()> {
        let shell = self.lock().remove(&id).ok_or_else(|| unknown(id))?;
        let mut state = shell.state();
        state.subscriber = None;
        state.flow = None;
        drop(state);
        shell.room.notify_waiters();
        // Closing our side of the connection ends the pump, and the exec with it.
        tokio::spawn(async move {
            let _ = shell.input.lock().await.shutdown().await;
        });
        Ok(())
    }

    pub fn list(&self) -> Vec<ShellInfo> {
        let mut sessions: Vec<ShellInfo> = self
            .lock()
            .iter()
            .map(|(id, shell)| {
                let last = shell.state().last.clone();
                ShellInfo {
                    id: *id,
                    host: shell.host.clone(),
                    container: shell.exec.container.clone(),
                    ended: match last {
                        Some(ShellEvent::Ended(end)) => Some(end),
                        Some(ShellEvent::Failed(_)) => Some(ExecEnd { exit_code: None, container_running: false }),
                        _ => None,
                    },
                }
            })
            .collect();
        sessions.sort_by_key(|s| s.id);
        sessions
    }

    /// Bytes of recent output held across every session (for memory accounting).
    pub fn replay_bytes(&self) -> usize {
        self.lock().values().map(|s| s.state().replay_len).sum()
    }

    fn get(&self, id: u32) -> Result<Arc<Shell>> {
        self.lock().get(&id).cloned().ok_or_else(|| unknown(id))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u32, Arc<Shell>>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn unknown(id: u32) -> Error {
    Error::invalid("shell session", format!("{id} is not open (it was closed, or the app restarted); open a new one"))
}

/// What `gather` read, and how the stream goes on.
struct Batch {
    chunks: Vec<exec::Output>,
    size: usize,
    then: Then,
}

enum Then {
    More,
    Over,
    Failed(Error),
}

/// Waits for the next chunk, then takes what else is ready at once; once the batch holds
/// `flood` bytes or more, keeps reading until `FRAME` has passed since the first chunk or it
/// holds `MAX_MESSAGE`.
async fn gather(output: &mut OutputStream, flood: usize) -> Batch {
    let mut batch = Batch { chunks: Vec::new(), size: 0, then: Then::More };
    let mut frame_ends = None;
    while batch.size < MAX_MESSAGE {
        let next = match frame_ends {
            None => Some(output.next().await),
            Some(_) if batch.size < flood => output.next().now_or_never(),
            Some(ends) => tokio::time::timeout_at(ends, output.next()).await.ok(),
        };
        match next {
            Some(Some(Ok(chunk))) => {
                frame_ends.get_or_insert_with(|| tokio::time::Instant::now() + FRAME);
                batch.size += chunk.bytes().len();
                batch.chunks.push(chunk);
            }
            Some(Some(Err(error))) => {
                batch.then = Then::Failed(error);
                break;
            }
            Some(None) => {
                batch.then = Then::Over;
                break;
            }
            None => break,
        }
    }
    batch
}

/// Reads the session's output until it ends, in messages of what is ready at once.
async fn pump(shell: Arc<Shell>, mut output: OutputStream) {
    let deliver = |event| shell.state().deliver(event);
    loop {
        shell.wait_for_room().await;
        let Batch { chunks, size, then } = gather(&mut output, FLOOD).await;
        if !chunks.is_empty() {
            let mut message = BytesMut::with_capacity(size);
            for chunk in &chunks {
                message.extend_from_slice(chunk.bytes());
            }
            deliver(ShellEvent::Output(message.freeze()));
        }
        match then {
            Then::More => {}
            Then::Over => break,
            Then::Failed(error) => return deliver(ShellEvent::Failed(error.to_string())),
        }
    }
    let end = shell.exec.wait().await;
    deliver(match end {
        Ok(end) => ShellEvent::Ended(end),
        Err(error) => ShellEvent::Failed(error.to_string()),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_keeps_the_newest_output_within_its_bound() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        let mut state = ShellState { subscriber: Some(Arc::new(move |e| sink.lock().unwrap().push(e))), ..Default::default() };
        for i in 0..40u8 {
            state.deliver(ShellEvent::Output(Bytes::from(vec![i; 64 * 1024])));
        }
        assert!(state.replay_len <= REPLAY_BYTES);
        assert_eq!(state.replay.back().unwrap()[0], 39, "the newest is kept");
        assert_eq!(state.replay.front().unwrap()[0], 40 - (REPLAY_BYTES / (64 * 1024)) as u8);
        state.deliver(ShellEvent::Ended(ExecEnd { exit_code: Some(0), container_running: true }));
        assert_eq!(seen.lock().unwrap().len(), 41);
        assert!(matches!(state.last, Some(ShellEvent::Ended(_))));
    }
}

/// A batch of log output as a front end receives it: whatever was ready together, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum LogEvent {
    /// `(stream, text)` pieces: stream 1 is stdout, 2 is stderr. Text is decoded leniently
    /// (invalid UTF-8 shows as U+FFFD): logs are read, not replayed.
    Lines(Vec<(u8, String)>),
    /// The log ended (not following, or the container was removed).
    Ended,
    Failed(String),
}

pub type LogSubscriber = Arc<dyn Fn(LogEvent) + Send + Sync>;

/// The log streams a front end follows, by id; closing one stops reading it.
#[derive(Default)]
pub struct LogStreams {
    next: AtomicU32,
    running: Mutex<HashMap<u32, tokio::task::AbortHandle>>,
}

impl LogStreams {
    pub fn new() -> LogStreams {
        LogStreams::default()
    }

    /// Read `container`'s log as `spec` says; `subscriber` receives it in batches of at most a
    /// frame's worth.
    pub fn open(self: &Arc<Self>, engine: &Engine, container: &str, spec: &exec::LogSpec, subscriber: LogSubscriber) -> u32 {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let mut log = exec::logs(engine, container, spec);
        let streams = Arc::clone(self);
        // Held until the task is registered: a log that ends at once is forgotten after that.
        let mut running = self.lock();
        let task = tokio::spawn(async move {
            loop {
                // Every batch gathers for up to a frame: a log is read, not typed into.
                let Batch { chunks, then, .. } = gather(&mut log, 0).await;
                if !chunks.is_empty() {
                    let lines = chunks
                        .into_iter()
                        .map(|chunk| match chunk {
                            exec::Output::Stdout(b) => (1, String::from_utf8_lossy(&b).into_owned()),
                            exec::Output::Stderr(b) => (2, String::from_utf8_lossy(&b).into_owned()),
                        })
                        .collect();
                    subscriber(LogEvent::Lines(lines));
                }
                match then {
                    Then::More => {}
                    Then::Over => break,
                    Then::Failed(error) => {
                        subscriber(LogEvent::Failed(error.to_string()));
                        streams.forget(id);
                        return;
                    }
                }
            }
            subscriber(LogEvent::Ended);
            streams.forget(id);
        });
        running.insert(id, task.abort_handle());
        id
    }

    /// Stop reading log stream `id` (a no-op once it has ended).
    pub fn close(&self, id: u32) {
        if let Some(task) = self.lock().remove(&id) {
            task.abort();
        }
    }

    pub fn open_count(&self) -> usize {
        self.lock().len()
    }

    fn forget(&self, id: u32) {
        self.lock().remove(&id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u32, tokio::task::AbortHandle>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }
}
