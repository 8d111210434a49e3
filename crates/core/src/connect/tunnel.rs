//! One SSH session per host, owned by one thread that pumps every channel without blocking.
//!
//! ssh2 holds the session lock during every libssh2 call, so a blocking read on one channel (an
//! `/events` stream) would stall all the others. Here a single thread owns the session in
//! non-blocking mode and moves bytes between each channel and one end of a local socket pair;
//! the other end is a plain `tokio::net::UnixStream` that hyper uses as an HTTP connection. The
//! thread sleeps in poll(2) on the SSH socket, the local sockets and a wake-up socket.
//!
//! libssh2 opens one channel at a time, and each open costs a round trip; the pump keeps a few
//! channels open ahead of need so that a burst of requests does not queue behind channel opens.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// What each channel connects to on the remote side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `direct-streamlocal@openssh.com` to the Docker socket.
    StreamLocal(String),
    /// An exec channel running `docker system dial-stdio` (when sshd refuses stream forwarding).
    DialStdio(String),
    /// `direct-tcpip` to host:port (a ProxyJump hop).
    Tcp(String, u16),
}

impl Target {
    fn describe(&self) -> String {
        match self {
            Target::StreamLocal(path) => format!("the socket {path}"),
            Target::DialStdio(command) => format!("`{command}`"),
            Target::Tcp(host, port) => format!("{host}:{port}"),
        }
    }
}

/// Channels kept open ahead of need.
pub const SPARE_CHANNELS: usize = 3;
/// sshd allows 10 sessions per connection (MaxSessions); exec channels stay below that, and
/// requests beyond it wait for a channel to close.
pub const MAX_EXEC_CHANNELS: usize = 8;
/// Bytes buffered per direction per channel before the pump stops reading that side.
const BUFFER_CAP: usize = 256 * 1024;
const KEEPALIVE_SECS: u32 = 10;
/// libssh2's "would block".
const EAGAIN: i32 = -37;

type Reply = oneshot::Sender<io::Result<UnixStream>>;

/// What the pump is asked for.
enum Request {
    /// A stream to the target.
    Stream(Reply),
    /// An exec channel running a command on the host itself, its input and output spliced to
    /// the stream (a program kept running on the host, such as the cgroup reader).
    Exec(String, Reply),
}

/// A running tunnel. Dropping it ends the pump thread, every channel and the session.
pub struct Tunnel {
    requests: mpsc::Sender<Request>,
    wake: UnixStream,
    target: Target,
    /// Cleared by the pump thread when the session ends (closed by the server, the link lost).
    alive: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// The jump host's tunnel that carries this session, kept alive with it.
    _hop: Option<std::sync::Arc<Tunnel>>,
}

impl std::fmt::Debug for Tunnel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tunnel").field("target", &self.target).finish()
    }
}

impl Tunnel {
    /// Whether channels are cheap enough to open many at once (not the exec fallback, which
    /// sshd's MaxSessions caps).
    pub fn many_channels(&self) -> bool {
        !matches!(self.target, Target::DialStdio(_))
    }

    /// Whether the session has ended: no channel can be opened on it any more, so a request
    /// that needs one has not reached the daemon and may go over a new session.
    pub fn ended(&self) -> bool {
        !self.alive.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Start pumping an authenticated session (still in blocking mode). `first` is a channel
    /// already open to `target` (the probe that chose it), kept as the first spare.
    pub fn start(
        session: ssh2::Session,
        socket: RawFd,
        target: Target,
        first: Option<ssh2::Channel>,
        hop: Option<std::sync::Arc<Tunnel>>,
    ) -> io::Result<Tunnel> {
        let (requests, inbox) = mpsc::channel();
        let (wake, wake_rx) = UnixStream::pair()?;
        wake.set_nonblocking(true)?;
        wake_rx.set_nonblocking(true)?;
        session.set_keepalive(true, KEEPALIVE_SECS);
        session.set_blocking(false);
        let alive = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let mut pump = Pump {
            alive: std::sync::Arc::clone(&alive),
            session,
            socket,
            target: target.clone(),
            inbox,
            wake: wake_rx,
            waiting: VecDeque::new(),
            commands: VecDeque::new(),
            command_opening: None,
            spares: first.into_iter().collect(),
            opening: None,
            pipes: Vec::new(),
            next_keepalive: Instant::now(),
        };
        std::thread::Builder::new().name("berth-ssh-pump".into()).spawn(move || pump.run())?;
        Ok(Tunnel { requests, wake, target, alive, _hop: hop })
    }

    /// [`Tunnel::open`] for a blocking thread (a jump host's channel becomes the next session's
    /// transport during its blocking handshake).
    pub fn open_blocking(&self) -> io::Result<UnixStream> {
        self.request()?.blocking_recv().map_err(|_| ended())?
    }

    /// Ask the pump for a stream; the answer comes on the returned receiver.
    fn request(&self) -> io::Result<oneshot::Receiver<io::Result<UnixStream>>> {
        self.ask(Request::Stream)
    }

    fn ask(&self, make: impl FnOnce(Reply) -> Request) -> io::Result<oneshot::Receiver<io::Result<UnixStream>>> {
        let (reply, answer) = oneshot::channel();
        self.requests.send(make(reply)).map_err(|_| ended())?;
        let _ = (&self.wake).write(&[1]);
        Ok(answer)
    }

    /// Run `command` on the host itself over a channel of its own: the stream is the
    /// command's input and output (its errors go to the debug log), and ends when it exits.
    pub async fn exec(&self, command: &str) -> io::Result<tokio::net::UnixStream> {
        let stream = self.ask(|reply| Request::Exec(command.to_owned(), reply))?.await.map_err(|_| ended())??;
        stream.set_nonblocking(true)?;
        tokio::net::UnixStream::from_std(stream)
    }

    /// A new byte stream to the target, e.g. one HTTP connection to the remote Docker socket.
    pub async fn open(&self) -> io::Result<tokio::net::UnixStream> {
        let stream = self.request()?.await.map_err(|_| ended())??;
        stream.set_nonblocking(true)?;
        tokio::net::UnixStream::from_std(stream)
    }
}

fn ended() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the SSH session has ended")
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        // The pump notices the closed request channel on its next wake-up.
        let _ = self.wake.shutdown(std::net::Shutdown::Both);
    }
}

/// One channel and the local socket it is spliced to.
struct Pipe {
    channel: ssh2::Channel,
    local: UnixStream,
    to_local: Vec<u8>,
    to_remote: Vec<u8>,
    local_eof: bool,
    remote_eof: bool,
    local_shut: bool,
    eof_sent: bool,
    broken: bool,
}

/// The state of the one channel being opened.
enum Opening {
    Channel,
    /// A session channel waiting for its `exec` to be accepted.
    Exec(ssh2::Channel),
}

struct Pump {
    alive: std::sync::Arc<std::sync::atomic::AtomicBool>,
    session: ssh2::Session,
    socket: RawFd,
    target: Target,
    inbox: mpsc::Receiver<Request>,
    wake: UnixStream,
    waiting: VecDeque<Reply>,
    /// Commands waiting for their exec channel, and the one being opened.
    commands: VecDeque<(String, Reply)>,
    command_opening: Option<(Option<ssh2::Channel>, String, Reply)>,
    spares: Vec<ssh2::Channel>,
    opening: Option<Opening>,
    pipes: Vec<Pipe>,
    next_keepalive: Instant,
}

fn would_block(e: &ssh2::Error) -> bool {
    e.code() == ssh2::ErrorCode::Session(EAGAIN)
}

impl Pump {
    fn run(&mut self) {
        let error = loop {
            match self.step() {
                Ok(true) => {}
                Ok(false) => {
                    // The Tunnel was dropped.
                    self.alive.store(false, std::sync::atomic::Ordering::Release);
                    return;
                }
                Err(e) => break e,
            }
        };
        self.alive.store(false, std::sync::atomic::Ordering::Release);
        tracing::debug!(%error, "SSH session ended");
        let commands = self.commands.drain(..).map(|(_, r)| r).chain(self.command_opening.take().map(|(_, _, r)| r));
        for reply in self.waiting.drain(..).chain(commands) {
            let _ = reply.send(Err(io::Error::new(error.kind(), error.to_string())));
        }
        // Dropping the pipes closes every local socket: hyper sees its connections end.
    }

    /// One round: take requests, open channels, move bytes, then sleep until something happens.
    fn step(&mut self) -> io::Result<bool> {
        let mut buf = [0u8; 64];
        loop {
            match (&self.wake).read(&mut buf) {
                Ok(0) => return Ok(false),
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        loop {
            match self.inbox.try_recv() {
                Ok(Request::Stream(reply)) => self.waiting.push_back(reply),
                Ok(Request::Exec(command, reply)) => self.commands.push_back((command, reply)),
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => return Ok(false),
            }
        }
        // Drop requests whose callers gave up.
        self.waiting.retain(|r| !r.is_closed());
        self.commands.retain(|(_, r)| !r.is_closed());

        let mut progress = true;
        while progress {
            // libssh2 keeps one channel-open in progress per session: a second kind of open
            // started while one waits would finish the first one's. One at a time, commands first.
            progress = self.open_command()?;
            progress |= self.open_channels()?;
            while let (Some(_), Some(_)) = (self.waiting.front(), self.spares.last()) {
                let reply = self.waiting.pop_front().expect("a waiting request");
                let channel = self.spares.pop().expect("a spare channel");
                let (ours, theirs) = UnixStream::pair()?;
                ours.set_nonblocking(true)?;
                if reply.send(Ok(theirs)).is_ok() {
                    self.pipes.push(Pipe::new(channel, ours));
                } else {
                    self.spares.push(channel);
                }
                progress = true;
            }
            for pipe in &mut self.pipes {
                progress |= pipe.pump();
            }
            self.pipes.retain_mut(|p| !p.finished());
        }
        self.keepalive()?;
        self.sleep()?;
        Ok(true)
    }

    /// Advance the channel being opened; start another while fewer are on hand than wanted.
    /// Returns whether a channel became ready.
    fn open_channels(&mut self) -> io::Result<bool> {
        let (spares, cap) = match self.target {
            Target::DialStdio(_) => (1, MAX_EXEC_CHANNELS),
            _ => (SPARE_CHANNELS, usize::MAX),
        };
        let wanted = self.waiting.len() + spares;
        let open = self.pipes.len() + self.spares.len();
        if self.opening.is_none() && self.command_opening.is_none() && self.spares.len() < wanted && open < cap {
            self.opening = Some(Opening::Channel);
        }
        let Some(opening) = self.opening.take() else { return Ok(false) };
        let result = match (opening, &self.target) {
            (Opening::Channel, Target::StreamLocal(path)) => self.session.channel_direct_streamlocal(path, None),
            (Opening::Channel, Target::Tcp(host, port)) => self.session.channel_direct_tcpip(host, *port, None),
            (Opening::Channel, Target::DialStdio(_)) => match self.session.channel_session() {
                Ok(channel) => {
                    self.opening = Some(Opening::Exec(channel));
                    return Ok(true); // exec right away
                }
                Err(e) => Err(e),
            },
            (Opening::Exec(mut channel), Target::DialStdio(command)) => match channel.exec(command) {
                Ok(()) => Ok(channel),
                Err(e) if would_block(&e) => {
                    self.opening = Some(Opening::Exec(channel));
                    return Ok(false);
                }
                Err(e) => Err(e),
            },
            (Opening::Exec(_), _) => unreachable!("exec channels only for dial-stdio"),
        };
        match result {
            Ok(channel) => {
                self.spares.push(channel);
                Ok(true)
            }
            Err(e) if would_block(&e) => {
                self.opening = Some(Opening::Channel);
                Ok(false)
            }
            Err(e) => {
                // The remote's own words (socket missing, forwarding refused, …), verbatim.
                let message = format!("opening a channel to {} failed: {e}", self.target.describe());
                if let Some(reply) = self.waiting.pop_front() {
                    let _ = reply.send(Err(io::Error::other(message.clone())));
                }
                if is_session_error(&e) {
                    return Err(io::Error::new(io::ErrorKind::ConnectionAborted, message));
                }
                Ok(false)
            }
        }
    }

    /// Advance the exec channel of the next command (one at a time); returns whether one
    /// became ready.
    fn open_command(&mut self) -> io::Result<bool> {
        if self.command_opening.is_none() {
            if self.opening.is_some() {
                return Ok(false); // after the open in progress
            }
            let Some((command, reply)) = self.commands.pop_front() else { return Ok(false) };
            self.command_opening = Some((None, command, reply));
        }
        let (channel, command, reply) = self.command_opening.take().expect("a command being opened");
        let result = match channel {
            None => match self.session.channel_session() {
                Ok(channel) => {
                    self.command_opening = Some((Some(channel), command, reply));
                    return Ok(true); // exec right away
                }
                Err(e) => Err(e),
            },
            Some(mut channel) => match channel.exec(&command) {
                Ok(()) => Ok(channel),
                Err(e) => {
                    if would_block(&e) {
                        self.command_opening = Some((Some(channel), command, reply));
                        return Ok(false);
                    }
                    Err(e)
                }
            },
        };
        match result {
            Ok(channel) => {
                let (ours, theirs) = UnixStream::pair()?;
                ours.set_nonblocking(true)?;
                if reply.send(Ok(theirs)).is_ok() {
                    self.pipes.push(Pipe::new(channel, ours));
                }
                Ok(true)
            }
            Err(e) if would_block(&e) => {
                self.command_opening = Some((None, command, reply));
                Ok(false)
            }
            Err(e) => {
                let _ = reply.send(Err(io::Error::other(format!("running a command on the host failed: {e}"))));
                if is_session_error(&e) {
                    return Err(io::Error::new(io::ErrorKind::ConnectionAborted, format!("the SSH session failed: {e}")));
                }
                Ok(false)
            }
        }
    }

    fn keepalive(&mut self) -> io::Result<()> {
        if Instant::now() < self.next_keepalive {
            return Ok(());
        }
        match self.session.keepalive_send() {
            Ok(seconds) => self.next_keepalive = Instant::now() + Duration::from_secs(u64::from(seconds.max(1))),
            Err(e) if would_block(&e) => {}
            Err(e) => return Err(io::Error::new(io::ErrorKind::ConnectionAborted, format!("SSH keep-alive failed: {e}"))),
        }
        Ok(())
    }

    fn sleep(&mut self) -> io::Result<()> {
        let mut fds = Vec::with_capacity(2 + self.pipes.len());
        let directions = self.session.block_directions();
        let mut session_events = libc::POLLIN;
        if matches!(directions, ssh2::BlockDirections::Outbound | ssh2::BlockDirections::Both) {
            session_events |= libc::POLLOUT;
        }
        fds.push(libc::pollfd { fd: self.socket, events: session_events, revents: 0 });
        fds.push(libc::pollfd { fd: self.wake.as_raw_fd(), events: libc::POLLIN, revents: 0 });
        for pipe in &self.pipes {
            let mut events = 0;
            if !pipe.local_eof && pipe.to_remote.len() < BUFFER_CAP {
                events |= libc::POLLIN;
            }
            if !pipe.to_local.is_empty() {
                events |= libc::POLLOUT;
            }
            fds.push(libc::pollfd { fd: pipe.local.as_raw_fd(), events, revents: 0 });
        }
        let until_keepalive = self.next_keepalive.saturating_duration_since(Instant::now());
        let timeout = until_keepalive.min(Duration::from_secs(1)).as_millis() as libc::c_int;
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
        if ready < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        if fds[0].revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 && fds[0].revents & libc::POLLIN == 0 {
            return Err(io::Error::new(io::ErrorKind::ConnectionAborted, "the SSH connection was closed"));
        }
        if fds[0].revents & libc::POLLIN != 0 {
            quick_ack(self.socket);
        }
        Ok(())
    }
}

/// Acknowledge at once what libssh2 is about to read. sshd does not set TCP_NODELAY for
/// non-interactive sessions, so the tail of an answer waits on our ACK, which Linux delays up to
/// 40 ms when we have nothing to send back (measured: a 100-container list took 63 ms through a
/// loopback tunnel against 18 ms on the socket). The kernel clears the flag again, so it is set
/// before every read. Not a TCP socket (a jump host's channel): harmlessly refused.
fn quick_ack(fd: RawFd) {
    #[cfg(target_os = "linux")]
    unsafe {
        let on: libc::c_int = 1;
        libc::setsockopt(fd, libc::IPPROTO_TCP, libc::TCP_QUICKACK, (&on as *const libc::c_int).cast(), std::mem::size_of::<libc::c_int>() as libc::socklen_t);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = fd;
}

/// Errors of the session itself (the link), as opposed to one channel being refused.
fn is_session_error(e: &ssh2::Error) -> bool {
    // LIBSSH2_ERROR_SOCKET_SEND (-7), _TIMEOUT (-9), _SOCKET_DISCONNECT (-13), _SOCKET_RECV (-43).
    matches!(e.code(), ssh2::ErrorCode::Session(-7 | -9 | -13 | -43))
}

impl Pipe {
    fn new(channel: ssh2::Channel, local: UnixStream) -> Pipe {
        Pipe {
            channel,
            local,
            to_local: Vec::new(),
            to_remote: Vec::new(),
            local_eof: false,
            remote_eof: false,
            local_shut: false,
            eof_sent: false,
            broken: false,
        }
    }

    fn finished(&mut self) -> bool {
        let done = self.broken || (self.remote_eof && self.local_eof && self.to_local.is_empty() && self.eof_sent);
        if done {
            let _ = self.channel.close();
        }
        done
    }

    /// Move what can move without blocking; returns whether any byte moved.
    fn pump(&mut self) -> bool {
        let mut moved = false;
        let mut buf = [0u8; 32 * 1024];
        // Remote → buffer. Also drains stderr of exec channels so they never stall.
        while !self.remote_eof && self.to_local.len() < BUFFER_CAP {
            match self.channel.read(&mut buf) {
                Ok(0) => {
                    if self.channel.eof() {
                        self.remote_eof = true;
                    }
                    break;
                }
                Ok(n) => {
                    self.to_local.extend_from_slice(&buf[..n]);
                    moved = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    self.broken = true;
                    return true;
                }
            }
        }
        let mut stderr = self.channel.stderr();
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 {
                break;
            }
            tracing::debug!(stderr = %String::from_utf8_lossy(&buf[..n]), "remote command");
        }
        // Buffer → local.
        while !self.to_local.is_empty() {
            match (&self.local).write(&self.to_local) {
                Ok(n) => {
                    self.to_local.drain(..n);
                    moved = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    self.broken = true;
                    return true;
                }
            }
        }
        if self.remote_eof && self.to_local.is_empty() && !self.local_shut {
            let _ = self.local.shutdown(std::net::Shutdown::Write);
            self.local_shut = true;
        }
        // Local → buffer.
        while !self.local_eof && self.to_remote.len() < BUFFER_CAP {
            match (&self.local).read(&mut buf) {
                Ok(0) => self.local_eof = true,
                Ok(n) => {
                    self.to_remote.extend_from_slice(&buf[..n]);
                    moved = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    self.broken = true;
                    return true;
                }
            }
        }
        // Buffer → remote.
        while !self.to_remote.is_empty() {
            match self.channel.write(&self.to_remote) {
                Ok(n) => {
                    self.to_remote.drain(..n);
                    moved = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    self.broken = true;
                    return true;
                }
            }
        }
        if self.local_eof && self.to_remote.is_empty() && !self.eof_sent {
            match self.channel.send_eof() {
                Ok(()) => self.eof_sent = true,
                Err(e) if would_block(&e) => {}
                Err(_) => self.broken = true,
            }
        }
        moved
    }
}
