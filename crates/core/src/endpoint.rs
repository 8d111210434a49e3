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
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `unix:///var/run/docker.sock`
    Unix { path: PathBuf },
    /// `npipe:////./pipe/docker_engine` (Windows)
    NamedPipe { path: String },
    /// `tcp://host:port`, plain or with mutual TLS.
    Tcp { host: String, port: u16, tls: Option<TlsFiles> },
}

const ACCEPTED: &str =
    "use unix:///path/to/docker.sock, npipe:////./pipe/docker_engine or tcp://HOST:PORT (with --tls-ca/--tls-cert/--tls-key for TLS)";

impl Endpoint {
    /// Parse a Docker host URL as `DOCKER_HOST` spells it.
    pub fn parse(url: &str, tls: Option<TlsFiles>) -> Result<Endpoint> {
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
                    return Err(bad(format!("a unix socket path must be absolute, e.g. unix:///var/run/docker.sock")));
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
            "ssh" => return Err(bad("SSH hosts are not supported yet; reach the engine over unix:// or tcp:// for now".into())),
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
        }
    }
}

/// All three TLS files must exist and be readable when the host is added.
fn validate_tls(tls: TlsFiles) -> Result<TlsFiles> {
    let check = |what: &'static str, path: &Path| -> Result<PathBuf> {
        let absolute = std::path::absolute(path).map_err(|source| Error::Io {
            context: format!("resolving the {what} path {}", path.display()),
            source,
        })?;
        std::fs::File::open(&absolute).map_err(|source| Error::InvalidInput {
            what,
            reason: format!("cannot read {}: {source}", absolute.display()),
        })?;
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
