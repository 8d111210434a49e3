//! Where a Docker engine listens: the connection half of a host's configuration.
//!
//! Parsing is strict and eager: a URL that cannot work is refused when the host is added, with a
//! message that names the accepted forms, instead of failing later inside a sync.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Client certificate, key and the CA that signed the daemon's certificate (`docker --tlsverify`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// An engine reached through SSH: `ssh://[user@]host[:port][/path/to/docker.sock]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshEndpoint {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
    /// The Docker socket on the remote host.
    pub socket: String,
    pub options: SshOptions,
}

/// Options of `ssh://` hosts that are not part of the URL.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct SshOptions {
    /// Private key to offer (its passphrase, if any, lives in the keyring).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<PathBuf>,
    /// known_hosts file to check against [default: ~/.ssh/known_hosts].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_hosts: Option<PathBuf>,
    /// Offer the password stored in the keyring.
    #[serde(default)]
    pub password: bool,
    /// `[user@]host[:port]` of a bastion to hop through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_jump: Option<String>,
}

impl SshOptions {
    pub fn is_empty(&self) -> bool {
        *self == SshOptions::default()
    }
}

impl fmt::Display for SshEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ssh://")?;
        if let Some(user) = &self.user {
            write!(f, "{user}@")?;
        }
        f.write_str(&self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        if self.socket != DEFAULT_REMOTE_SOCKET {
            f.write_str(&self.socket)?;
        }
        Ok(())
    }
}

/// The remote Docker socket when an `ssh://` URL names none.
pub const DEFAULT_REMOTE_SOCKET: &str = "/var/run/docker.sock";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `unix:///var/run/docker.sock`
    Unix { path: PathBuf },
    /// `npipe:////./pipe/docker_engine` (Windows)
    NamedPipe { path: String },
    /// `tcp://host:port`, plain or with mutual TLS.
    Tcp { host: String, port: u16, tls: Option<TlsFiles> },
    /// `ssh://…`: one SSH session per host, tunnelling every request.
    Ssh(SshEndpoint),
}

const ACCEPTED: &str = "use unix:///path/to/docker.sock, npipe:////./pipe/docker_engine, tcp://HOST:PORT \
     (with --tls-ca/--tls-cert/--tls-key for TLS) or ssh://[USER@]HOST[:PORT][/path/to/docker.sock]";

impl Endpoint {
    /// Parse a Docker host URL as `DOCKER_HOST` spells it.
    pub fn parse(url: &str, tls: Option<TlsFiles>) -> Result<Endpoint> {
        Endpoint::parse_with(url, tls, SshOptions::default())
    }

    /// Parse with the options of `ssh://` hosts (refused for other kinds).
    pub fn parse_with(url: &str, tls: Option<TlsFiles>, ssh: SshOptions) -> Result<Endpoint> {
        let endpoint = Endpoint::parse_url(url, tls)?;
        match endpoint {
            Endpoint::Ssh(mut ep) => {
                if let Some(jump) = &ssh.proxy_jump {
                    parse_jump(jump).map_err(|reason| Error::invalid("--proxy-jump", reason))?;
                }
                ep.options = SshOptions {
                    identity: ssh.identity.map(|p| readable("SSH identity file (--identity)", &p)).transpose()?,
                    known_hosts: ssh.known_hosts.map(|p| absolute(&p)).transpose()?,
                    ..ssh
                };
                Ok(Endpoint::Ssh(ep))
            }
            other if !ssh.is_empty() => Err(Error::InvalidUrl {
                url: other.to_string(),
                reason: "--identity, --known-hosts, --password and --proxy-jump only apply to ssh:// hosts".into(),
            }),
            other => Ok(other),
        }
    }

    fn parse_url(url: &str, tls: Option<TlsFiles>) -> Result<Endpoint> {
        let bad = |reason: String| Error::InvalidUrl { url: url.to_owned(), reason };
        let trimmed = url.trim();
        if trimmed.is_empty() {
            return Err(bad(format!("it is empty; {ACCEPTED}")));
        }
        let Some((scheme, rest)) = trimmed.split_once("://") else {
            return Err(bad(format!("it has no scheme; {ACCEPTED}")));
        };
        let endpoint = match scheme.to_ascii_lowercase().as_str() {
            "unix" => {
                if rest.is_empty() || !rest.starts_with('/') {
                    return Err(bad("a unix socket path must be absolute, e.g. unix:///var/run/docker.sock".to_owned()));
                }
                Endpoint::Unix { path: PathBuf::from(rest) }
            }
            "npipe" => {
                let path = rest.replace('/', "\\");
                if !path.starts_with("\\\\.\\pipe\\") || path.len() <= "\\\\.\\pipe\\".len() {
                    return Err(bad("a named pipe looks like npipe:////./pipe/docker_engine".into()));
                }
                Endpoint::NamedPipe { path: rest.to_owned() }
            }
            "tcp" => {
                let parsed = url::Url::parse(&format!("tcp://{rest}")).map_err(|e| bad(format!("{e}; {ACCEPTED}")))?;
                let host = match parsed.host() {
                    Some(url::Host::Domain(d)) if !d.is_empty() => d.to_owned(),
                    Some(url::Host::Ipv4(ip)) => ip.to_string(),
                    Some(url::Host::Ipv6(ip)) => format!("[{ip}]"),
                    _ => return Err(bad(format!("it names no host; {ACCEPTED}"))),
                };
                if !parsed.username().is_empty() || parsed.password().is_some() {
                    return Err(bad("credentials do not belong in a tcp:// URL; use TLS client certificates".into()));
                }
                if !(parsed.path().is_empty() || parsed.path() == "/") || parsed.query().is_some() {
                    return Err(bad("a tcp:// URL takes only HOST:PORT, no path or query".into()));
                }
                let port = parsed.port().unwrap_or(if tls.is_some() { 2376 } else { 2375 });
                if port == 0 {
                    return Err(bad("port 0 cannot be dialled".into()));
                }
                return Ok(Endpoint::Tcp { host, port, tls: tls.map(validate_tls).transpose()? });
            }
            "http" | "https" => {
                return Err(bad(format!("Docker hosts are written tcp://HOST:PORT, not {scheme}://; add --tls-ca/--tls-cert/--tls-key for TLS")))
            }
            "ssh" => {
                let parsed = url::Url::parse(trimmed).map_err(|e| bad(format!("{e}; {ACCEPTED}")))?;
                let host = match parsed.host() {
                    Some(url::Host::Domain(d)) if !d.is_empty() => d.to_owned(),
                    Some(url::Host::Ipv4(ip)) => ip.to_string(),
                    Some(url::Host::Ipv6(ip)) => ip.to_string(),
                    _ => return Err(bad(format!("it names no host; {ACCEPTED}"))),
                };
                if parsed.password().is_some() {
                    return Err(bad("never put a password in the URL; use --password (it goes to the OS keyring)".into()));
                }
                if parsed.query().is_some() {
                    return Err(bad("an ssh:// URL takes no query".into()));
                }
                let socket = match parsed.path() {
                    "" | "/" => DEFAULT_REMOTE_SOCKET.to_owned(),
                    path => path.to_owned(),
                };
                let user = Some(parsed.username()).filter(|u| !u.is_empty()).map(str::to_owned);
                Endpoint::Ssh(SshEndpoint { user, host, port: parsed.port(), socket, options: SshOptions::default() })
            }
            other => return Err(bad(format!("unknown scheme {other:?}; {ACCEPTED}"))),
        };
        if tls.is_some() {
            return Err(bad("TLS files only apply to tcp:// hosts".into()));
        }
        Ok(endpoint)
    }

    pub fn tls(&self) -> Option<&TlsFiles> {
        match self {
            Endpoint::Tcp { tls, .. } => tls.as_ref(),
            _ => None,
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Unix { path } => write!(f, "unix://{}", path.display()),
            Endpoint::NamedPipe { path } => write!(f, "npipe://{path}"),
            Endpoint::Tcp { host, port, .. } => write!(f, "tcp://{host}:{port}"),
            Endpoint::Ssh(ep) => ep.fmt(f),
        }
    }
}

/// `[user@]host[:port]` of a ProxyJump hop.
pub fn parse_jump(spec: &str) -> std::result::Result<(Option<String>, String, Option<u16>), String> {
    let parsed = url::Url::parse(&format!("ssh://{spec}")).map_err(|e| format!("{spec:?}: {e}; expected [user@]host[:port]"))?;
    let host = parsed.host_str().filter(|h| !h.is_empty()).ok_or_else(|| format!("{spec:?} names no host"))?;
    if !(parsed.path().is_empty() || parsed.path() == "/") || parsed.password().is_some() {
        return Err(format!("{spec:?}: expected [user@]host[:port]"));
    }
    let user = Some(parsed.username()).filter(|u| !u.is_empty()).map(str::to_owned);
    Ok((user, host.trim_start_matches('[').trim_end_matches(']').to_owned(), parsed.port()))
}

fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).map_err(|source| Error::Io { context: format!("resolving {}", path.display()), source })
}

fn readable(what: &'static str, path: &Path) -> Result<PathBuf> {
    let absolute = absolute(path)?;
    std::fs::File::open(&absolute).map_err(|source| Error::InvalidInput { what, reason: format!("cannot read {}: {source}", absolute.display()) })?;
    Ok(absolute)
}

/// All three TLS files must exist and be readable when the host is added.
fn validate_tls(tls: TlsFiles) -> Result<TlsFiles> {
    let check = |what: &'static str, path: &Path| -> Result<PathBuf> {
        let absolute = std::path::absolute(path).map_err(|source| Error::Io { context: format!("resolving the {what} path {}", path.display()), source })?;
        std::fs::File::open(&absolute).map_err(|source| Error::InvalidInput { what, reason: format!("cannot read {}: {source}", absolute.display()) })?;
        Ok(absolute)
    };
    Ok(TlsFiles {
        ca: check("TLS CA file (--tls-ca)", &tls.ca)?,
        cert: check("TLS certificate file (--tls-cert)", &tls.cert)?,
        key: check("TLS key file (--tls-key)", &tls.key)?,
    })
}

/// The local engine: `DOCKER_HOST` when set, else the platform's default socket or pipe.
pub fn local_default() -> Result<Endpoint> {
    match std::env::var("DOCKER_HOST") {
        Ok(url) if !url.trim().is_empty() => Endpoint::parse(&url, None),
        _ if cfg!(windows) => Ok(Endpoint::NamedPipe { path: "//./pipe/docker_engine".into() }),
        _ => Ok(Endpoint::Unix { path: PathBuf::from("/var/run/docker.sock") }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(url: &str) -> String {
        Endpoint::parse(url, None).unwrap().to_string()
    }

    fn err(url: &str) -> String {
        Endpoint::parse(url, None).unwrap_err().to_string()
    }

    #[test]
    fn accepted_forms_round_trip() {
        assert_eq!(ok("unix:///var/run/docker.sock"), "unix:///var/run/docker.sock");
        assert_eq!(ok("npipe:////./pipe/docker_engine"), "npipe:////./pipe/docker_engine");
        assert_eq!(ok("tcp://10.0.0.5:2375"), "tcp://10.0.0.5:2375");
        assert_eq!(ok("tcp://docker.example:2375/"), "tcp://docker.example:2375");
        assert_eq!(ok("tcp://[::1]:2375"), "tcp://[::1]:2375");
        assert_eq!(ok("tcp://docker.example"), "tcp://docker.example:2375");
    }

    #[test]
    fn refusals_say_what_to_do() {
        assert!(err("").contains("empty"));
        assert!(err("/var/run/docker.sock").contains("no scheme"));
        assert!(err("unix://relative.sock").contains("absolute"));
        assert!(err("http://h:2375").contains("tcp://HOST:PORT"));
        assert!(err("tcp://:2375").contains("host"));
        assert!(err("tcp://h:99999").contains("invalid port"));
        assert!(err("tcp://u:p@h:2375").contains("credentials"));
        assert!(err("tcp://h:2375/v1.41").contains("no path"));
        assert!(err("ftp://h").contains("unknown scheme"));
        assert!(err("npipe://docker").contains("named pipe"));
    }

    #[test]
    fn ssh_urls_default_the_socket_and_keep_options() {
        assert_eq!(ok("ssh://ops@bastion.example:2222"), "ssh://ops@bastion.example:2222");
        assert_eq!(ok("ssh://h/run/user/1000/docker.sock"), "ssh://h/run/user/1000/docker.sock");
        let Endpoint::Ssh(ep) = Endpoint::parse("ssh://ops@h", None).unwrap() else { panic!() };
        assert_eq!((ep.user.as_deref(), ep.host.as_str(), ep.port, ep.socket.as_str()), (Some("ops"), "h", None, "/var/run/docker.sock"));
        assert!(err("ssh://ops:secret@h").contains("never put a password"));
        assert!(err("ssh://").contains("host"));
        let opts = SshOptions { password: true, proxy_jump: Some("jump@b:2200".into()), ..Default::default() };
        let Endpoint::Ssh(ep) = Endpoint::parse_with("ssh://h", None, opts.clone()).unwrap() else { panic!() };
        assert!(ep.options.password && ep.options.proxy_jump.as_deref() == Some("jump@b:2200"));
        let msg = Endpoint::parse_with("tcp://h:1", None, opts).unwrap_err().to_string();
        assert!(msg.contains("only apply to ssh://"), "{msg}");
        let bad_jump = SshOptions { proxy_jump: Some("a b".into()), ..Default::default() };
        assert!(Endpoint::parse_with("ssh://h", None, bad_jump).unwrap_err().to_string().contains("--proxy-jump"));
        let missing = SshOptions { identity: Some("/nonexistent/key".into()), ..Default::default() };
        assert!(Endpoint::parse_with("ssh://h", None, missing).unwrap_err().to_string().contains("--identity"));
    }

    #[test]
    fn tls_needs_tcp_and_readable_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = |n: &str| {
            let p = dir.path().join(n);
            std::fs::write(&p, "x").unwrap();
            p
        };
        let tls = TlsFiles { ca: file("ca.pem"), cert: file("cert.pem"), key: file("key.pem") };
        let e = Endpoint::parse("tcp://h", Some(tls.clone())).unwrap();
        assert_eq!(e.to_string(), "tcp://h:2376");
        assert_eq!(e.tls(), Some(&tls));
        let msg = Endpoint::parse("unix:///x.sock", Some(tls.clone())).unwrap_err().to_string();
        assert!(msg.contains("only apply to tcp://"), "{msg}");
        let missing = TlsFiles { key: dir.path().join("nope.pem"), ..tls };
        let msg = Endpoint::parse("tcp://h:2376", Some(missing)).unwrap_err().to_string();
        assert!(msg.contains("--tls-key") && msg.contains("nope.pem"), "{msg}");
    }
}
