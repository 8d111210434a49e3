//! SSH hosts: dial, check the host key strictly against known_hosts, authenticate, pick how to
//! reach the remote Docker socket, then hand the session to a [`Tunnel`] pump.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;

use super::tunnel::{Target, Tunnel};
use crate::endpoint::{SshEndpoint, SshOptions};
use crate::error::{Error, Result};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Blocking-phase timeout for each libssh2 call (handshake, auth, the probe).
const HANDSHAKE_TIMEOUT_MS: u32 = 15_000;

pub use crate::credentials::SshSecrets;

/// The user, host and port a connection actually dials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshAddress {
    pub user: String,
    pub host: String,
    pub port: u16,
}

impl SshAddress {
    pub fn of(ep: &SshEndpoint) -> SshAddress {
        let user = ep.user.clone().or_else(|| std::env::var("USER").ok()).unwrap_or_else(|| "root".into());
        SshAddress { user, host: ep.host.clone(), port: ep.port.unwrap_or(22) }
    }

    /// How known_hosts names this host: `host`, or `[host]:port` off port 22.
    pub fn known_hosts_name(&self) -> String {
        if self.port == 22 {
            self.host.clone()
        } else {
            format!("[{}]:{}", self.host, self.port)
        }
    }
}

pub fn default_known_hosts() -> PathBuf {
    directories::BaseDirs::new().map(|d| d.home_dir().join(".ssh/known_hosts")).unwrap_or_else(|| ".ssh/known_hosts".into())
}

/// A host key as OpenSSH prints it: type and `SHA256:` fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKey {
    pub kind: &'static str,
    pub fingerprint: String,
    key: Vec<u8>,
    /// The key type as known_hosts spells it (`ssh-ed25519`, …); `None` for a type libssh2 does not name.
    openssh_type: Option<&'static str>,
}

fn host_key(session: &ssh2::Session) -> Option<HostKey> {
    let (key, key_type) = session.host_key()?;
    let hash = session.host_key_hash(ssh2::HashType::Sha256)?;
    let openssh_type = match key_type {
        ssh2::HostKeyType::Rsa => Some("ssh-rsa"),
        ssh2::HostKeyType::Dss => Some("ssh-dss"),
        ssh2::HostKeyType::Ecdsa256 => Some("ecdsa-sha2-nistp256"),
        ssh2::HostKeyType::Ecdsa384 => Some("ecdsa-sha2-nistp384"),
        ssh2::HostKeyType::Ecdsa521 => Some("ecdsa-sha2-nistp521"),
        ssh2::HostKeyType::Ed25519 => Some("ssh-ed25519"),
        ssh2::HostKeyType::Unknown => None,
    };
    let kind = match key_type {
        ssh2::HostKeyType::Rsa => "RSA",
        ssh2::HostKeyType::Dss => "DSA",
        ssh2::HostKeyType::Ecdsa256 | ssh2::HostKeyType::Ecdsa384 | ssh2::HostKeyType::Ecdsa521 => "ECDSA",
        ssh2::HostKeyType::Ed25519 => "ED25519",
        ssh2::HostKeyType::Unknown => "unknown",
    };
    Some(HostKey { kind, fingerprint: format!("SHA256:{}", base64::engine::general_purpose::STANDARD_NO_PAD.encode(hash)), key: key.to_vec(), openssh_type })
}

fn dial(name: &str, ep: &SshEndpoint, address: &SshAddress) -> Result<TcpStream> {
    let unreachable = |reason: String| Error::Unreachable { host: name.to_owned(), url: ep.to_string(), reason };
    let addrs: Vec<_> =
        (address.host.as_str(), address.port).to_socket_addrs().map_err(|e| unreachable(format!("cannot resolve {}: {e}", address.host)))?.collect();
    let mut last = None;
    let tcp = addrs.iter().find_map(|a| TcpStream::connect_timeout(a, CONNECT_TIMEOUT).map_err(|e| last = Some(e)).ok()).ok_or_else(|| {
        let e = last.map(|e| e.to_string()).unwrap_or_else(|| "no address".into());
        unreachable(format!("cannot reach sshd at {}:{}: {e}", address.host, address.port))
    })?;
    let _ = tcp.set_nodelay(true);
    Ok(tcp)
}

/// The SSH handshake over an open byte stream (a TCP connection, or a channel of a jump host).
fn handshake_over<S: AsRawFd + 'static>(name: &str, ep: &SshEndpoint, address: &SshAddress, stream: S) -> Result<(ssh2::Session, std::os::fd::RawFd)> {
    let unreachable = |reason: String| Error::Unreachable { host: name.to_owned(), url: ep.to_string(), reason };
    let fd = stream.as_raw_fd();
    let mut session = ssh2::Session::new().map_err(|e| unreachable(format!("starting an SSH session: {e}")))?;
    session.set_tcp_stream(stream);
    session.set_timeout(HANDSHAKE_TIMEOUT_MS);
    session.handshake().map_err(|e| unreachable(format!("SSH handshake with {}:{} failed: {e}", address.host, address.port)))?;
    Ok((session, fd))
}

/// The endpoint of a ProxyJump hop: the target's identity and known_hosts, its own address.
fn jump_endpoint(ep: &SshEndpoint) -> Result<Option<SshEndpoint>> {
    let Some(spec) = &ep.options.proxy_jump else { return Ok(None) };
    let (user, host, port) = crate::endpoint::parse_jump(spec).map_err(|reason| Error::invalid("--proxy-jump", reason))?;
    let jump = resolve(&SshEndpoint { user, host, port, socket: String::new(), options: SshOptions::default() })?;
    Ok(Some(SshEndpoint {
        user: jump.user.or_else(|| ep.user.clone()),
        options: SshOptions {
            identity: jump.options.identity.or_else(|| ep.options.identity.clone()),
            known_hosts: ep.options.known_hosts.clone(),
            ..SshOptions::default()
        },
        ..jump
    }))
}

/// TCP connect (directly or through the ProxyJump host) and SSH handshake; no trust decided
/// yet. The returned tunnel, if any, carries the connection and must outlive the session.
fn handshake(name: &str, ep: &SshEndpoint, address: &SshAddress, secrets: &SshSecrets) -> Result<(ssh2::Session, std::os::fd::RawFd, Option<Arc<Tunnel>>)> {
    match jump_endpoint(ep)? {
        None => {
            let (session, fd) = handshake_over(name, ep, address, dial(name, ep, address)?)?;
            Ok((session, fd, None))
        }
        Some(jump) => {
            let jump_address = SshAddress::of(&jump);
            let (session, fd) = handshake_over(name, &jump, &jump_address, dial(name, &jump, &jump_address)?)?;
            check_host_key(name, &session, &jump_address, &known_hosts_of(&jump))?;
            authenticate(name, &session, &jump, &jump_address, &SshSecrets { password: None, passphrase: secrets.passphrase.clone() })?;
            let channel = session.channel_direct_tcpip(&address.host, address.port, None).map_err(|e| Error::Unreachable {
                host: name.to_owned(),
                url: ep.to_string(),
                reason: format!("the jump host {} could not reach {}:{}: {e}", jump_address.host, address.host, address.port),
            })?;
            session.set_timeout(0);
            let hop = Tunnel::start(session, fd, Target::Tcp(address.host.clone(), address.port), Some(channel), None)
                .map_err(|source| Error::Io { context: format!("starting the SSH pump for the jump host of {name}"), source })?;
            let stream = hop.open_blocking().map_err(|e| Error::Unreachable {
                host: name.to_owned(),
                url: ep.to_string(),
                reason: format!("through the jump host {}: {e}", jump_address.host),
            })?;
            let (session, fd) = handshake_over(name, ep, address, stream)?;
            Ok((session, fd, Some(Arc::new(hop))))
        }
    }
}

/// `~/.ssh/config` applied under what the URL and flags say: HostName, Port, User, IdentityFile
/// and ProxyJump fill in whatever the host's own settings leave open.
pub fn resolve(ep: &SshEndpoint) -> Result<SshEndpoint> {
    let Some(path) = directories::BaseDirs::new().map(|d| d.home_dir().join(".ssh/config")) else { return Ok(ep.clone()) };
    let Ok(file) = std::fs::File::open(&path) else { return Ok(ep.clone()) };
    let rules = ssh2_config::ParseRule::ALLOW_UNKNOWN_FIELDS | ssh2_config::ParseRule::ALLOW_UNSUPPORTED_FIELDS;
    let config = ssh2_config::SshConfig::default()
        .parse(&mut std::io::BufReader::new(file), rules)
        .map_err(|e| Error::invalid("SSH config", format!("{}: {e}", path.display())))?;
    let params = config.query(&ep.host);
    let mut resolved = ep.clone();
    if let Some(host_name) = params.host_name.filter(|h| !h.is_empty()) {
        resolved.host = host_name;
    }
    resolved.port = ep.port.or(params.port);
    resolved.user = ep.user.clone().or(params.user);
    if ep.options.identity.is_none() {
        resolved.options.identity = params.identity_file.and_then(|files| files.into_iter().find(|f| f.exists()));
    }
    if ep.options.proxy_jump.is_none() {
        resolved.options.proxy_jump = params.proxy_jump.and_then(|hops| hops.into_iter().next()).filter(|h| h != "none");
    }
    Ok(resolved)
}

fn known_hosts_of(ep: &SshEndpoint) -> PathBuf {
    ep.options.known_hosts.clone().unwrap_or_else(default_known_hosts)
}

/// known_hosts is strict: an unknown key or a changed key refuses the connection before any
/// credential is sent.
fn check_host_key(name: &str, session: &ssh2::Session, address: &SshAddress, known_hosts: &Path) -> Result<()> {
    let key = host_key(session).ok_or_else(|| Error::Unreachable {
        host: name.to_owned(),
        url: address.host.clone(),
        reason: "the server sent no host key".into(),
    })?;
    let mut known = session.known_hosts().map_err(|e| Error::invalid("known_hosts", e.to_string()))?;
    if known_hosts.exists() {
        known
            .read_file(known_hosts, ssh2::KnownHostFileKind::OpenSSH)
            .map_err(|e| Error::invalid("known_hosts file", format!("{}: {e}", known_hosts.display())))?;
    }
    match known.check_port(&address.host, address.port, &key.key) {
        ssh2::CheckResult::Match => Ok(()),
        ssh2::CheckResult::NotFound => Err(Error::HostKeyUnknown {
            host: name.to_owned(),
            address: address.known_hosts_name(),
            kind: key.kind,
            fingerprint: key.fingerprint,
            known_hosts: known_hosts.to_owned(),
        }),
        ssh2::CheckResult::Mismatch => Err(Error::HostKeyChanged {
            host: name.to_owned(),
            address: address.known_hosts_name(),
            kind: key.kind,
            fingerprint: key.fingerprint,
            known_hosts: known_hosts.to_owned(),
        }),
        ssh2::CheckResult::Failure => Err(Error::invalid("known_hosts file", format!("libssh2 could not check {}", known_hosts.display()))),
    }
}

/// The first host key on the way that known_hosts does not confirm (the jump host's, then the
/// target's), with the name known_hosts gives it; for `berth host trust`. The verdict is `Ok`
/// when every key on the way is known.
pub fn scan_host_key(name: &str, ep: &SshEndpoint) -> Result<(HostKey, String, Result<()>)> {
    let ep = &resolve(ep)?;
    let no_key = || Error::Unreachable { host: name.to_owned(), url: ep.to_string(), reason: "the server sent no host key".into() };
    if let Some(jump) = jump_endpoint(ep)? {
        let jump_address = SshAddress::of(&jump);
        let (session, _) = handshake_over(name, &jump, &jump_address, dial(name, &jump, &jump_address)?)?;
        let verdict = check_host_key(name, &session, &jump_address, &known_hosts_of(&jump));
        if verdict.is_err() {
            return Ok((host_key(&session).ok_or_else(no_key)?, jump_address.known_hosts_name(), verdict));
        }
    }
    let address = SshAddress::of(ep);
    let secrets = crate::credentials::ssh_secrets(name, ep);
    let (session, _, _hop) = handshake(name, ep, &address, &secrets)?;
    let key = host_key(&session).ok_or_else(no_key)?;
    let verdict = check_host_key(name, &session, &address, &known_hosts_of(ep));
    Ok((key, address.known_hosts_name(), verdict))
}

/// Record a host key the user confirmed, appending one OpenSSH line to known_hosts.
pub fn record_host_key(ep: &SshEndpoint, known_as: &str, key: &HostKey) -> Result<PathBuf> {
    let path = known_hosts_of(ep);
    let type_name = key.openssh_type.ok_or_else(|| Error::invalid("host key", "of a type libssh2 does not name; not recorded"))?;
    let line = format!("{known_as} {type_name} {}\n", base64::engine::general_purpose::STANDARD.encode(&key.key));
    let io = |source| Error::Io { context: format!("adding the host key to {}", path.display()), source };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&path).map_err(io)?;
    file.write_all(line.as_bytes()).map_err(io)?;
    Ok(path)
}

fn authenticate(name: &str, session: &ssh2::Session, ep: &SshEndpoint, address: &SshAddress, secrets: &SshSecrets) -> Result<()> {
    let user = address.user.as_str();
    let mut tried = Vec::new();
    let mut last_error = String::new();
    if let Some(identity) = &ep.options.identity {
        tried.push(format!("key {}", identity.display()));
        if let Err(e) = session.userauth_pubkey_file(user, None, identity, secrets.passphrase.as_deref()) {
            last_error = e.message().to_owned();
        }
    } else if std::env::var_os("SSH_AUTH_SOCK").is_some() {
        tried.push("ssh-agent".into());
        if let Err(e) = session.userauth_agent(user) {
            last_error = e.message().to_owned();
        }
    } else {
        for default in ["id_ed25519", "id_ecdsa", "id_rsa"] {
            let Some(path) = directories::BaseDirs::new().map(|d| d.home_dir().join(".ssh").join(default)) else { break };
            if session.authenticated() || !path.exists() {
                continue;
            }
            tried.push(format!("key {}", path.display()));
            if let Err(e) = session.userauth_pubkey_file(user, None, &path, secrets.passphrase.as_deref()) {
                last_error = e.message().to_owned();
            }
        }
    }
    if !session.authenticated() && ep.options.password {
        tried.push("password".into());
        match &secrets.password {
            Some(password) => {
                if let Err(e) = session.userauth_password(user, password) {
                    last_error = e.message().to_owned();
                }
            }
            None => last_error = "no password stored; run `berth host password NAME`".into(),
        }
    }
    if session.authenticated() {
        return Ok(());
    }
    Err(Error::AuthFailed {
        host: name.to_owned(),
        user: user.to_owned(),
        tried: if tried.is_empty() { "nothing (no key, no agent, no password)".into() } else { tried.join(", ") },
        reason: last_error,
    })
}

/// Ask the remote how to reach Docker: stream forwarding to the socket, else `docker system
/// dial-stdio`. Returns the target and, for stream forwarding, the probe channel to keep.
fn choose_target(name: &str, session: &ssh2::Session, ep: &SshEndpoint) -> Result<(Target, Option<ssh2::Channel>)> {
    let forward_error = match session.channel_direct_streamlocal(&ep.socket, None) {
        Ok(channel) => return Ok((Target::StreamLocal(ep.socket.clone()), Some(channel))),
        Err(e) => e.to_string(),
    };
    let command = format!("docker -H unix://{} system dial-stdio", ep.socket);
    let probe = || -> std::result::Result<(), String> {
        let mut channel = session.channel_session().map_err(|e| e.to_string())?;
        channel.exec(&command).map_err(|e| e.to_string())?;
        channel.write_all(b"GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n").map_err(|e| e.to_string())?;
        channel.send_eof().map_err(|e| e.to_string())?;
        let mut answer = String::new();
        let _ = channel.read_to_string(&mut answer);
        let mut stderr = String::new();
        let _ = channel.stderr().read_to_string(&mut stderr);
        let _ = channel.wait_close();
        if answer.starts_with("HTTP/1.1 200") {
            Ok(())
        } else {
            Err(stderr.trim().lines().last().unwrap_or("no answer").to_owned())
        }
    };
    match probe() {
        Ok(()) => Ok((Target::DialStdio(command), None)),
        Err(dial_error) => Err(Error::Unreachable {
            host: name.to_owned(),
            url: ep.to_string(),
            reason: format!(
                "the remote refused both ways to the Docker socket {}: stream forwarding said \"{forward_error}\" \
                 (socket missing, AllowStreamLocalForwarding off, or no permission), and `{command}` said \"{dial_error}\"",
                ep.socket
            ),
        }),
    }
}

/// Dial, verify, authenticate and start the pump. Blocking: call from a blocking thread.
pub fn open_tunnel(name: &str, ep: &SshEndpoint, secrets: &SshSecrets) -> Result<Arc<Tunnel>> {
    let ep = &resolve(ep)?;
    let address = SshAddress::of(ep);
    let (session, fd, hop) = handshake(name, ep, &address, secrets)?;
    check_host_key(name, &session, &address, &known_hosts_of(ep))?;
    authenticate(name, &session, ep, &address, secrets)?;
    let (target, first) = choose_target(name, &session, ep)?;
    session.set_timeout(0);
    let tunnel = Tunnel::start(session, fd, target, first, hop).map_err(|source| Error::Io { context: format!("starting the SSH pump for {name}"), source })?;
    Ok(Arc::new(tunnel))
}
