//! Secrets (SSH passwords and key passphrases) live only in the OS keyring: Secret Service on
//! Linux, Keychain on macOS, Credential Manager on Windows. They never reach SQLite, logs, error
//! messages or process arguments; they leave this module only into a connection.

use crate::error::{Error, Result};

const SERVICE: &str = "berth";

/// Secrets typed in for this process only, when no keyring can hold them (never written anywhere).
static FOR_THIS_RUN: std::sync::Mutex<Vec<(String, SecretKind, String)>> = std::sync::Mutex::new(Vec::new());

/// Keep a secret in memory for the rest of this process: "prompt per use" without a keyring.
pub fn use_for_this_run(host: &str, kind: SecretKind, secret: String) {
    let mut held = FOR_THIS_RUN.lock().unwrap_or_else(|p| p.into_inner());
    held.retain(|(h, k, _)| !(h == host && *k == kind));
    held.push((host.to_owned(), kind, secret));
}

fn held_for_this_run(host: &str, kind: SecretKind) -> Option<String> {
    let held = FOR_THIS_RUN.lock().unwrap_or_else(|p| p.into_inner());
    held.iter().find(|(h, k, _)| h == host && *k == kind).map(|(_, _, s)| s.clone())
}

/// Secrets for one connection, from the keyring (or typed in for this run); never stored anywhere.
#[derive(Default)]
pub struct SshSecrets {
    pub password: Option<String>,
    pub passphrase: Option<String>,
}

impl std::fmt::Debug for SshSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshSecrets")
            .field("password", &self.password.as_ref().map(|_| "…"))
            .field("passphrase", &self.passphrase.as_ref().map(|_| "…"))
            .finish()
    }
}

/// Which secret of a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    Password,
    Passphrase,
}

impl SecretKind {
    fn account(self, host: &str) -> String {
        match self {
            SecretKind::Password => format!("{host}/ssh-password"),
            SecretKind::Passphrase => format!("{host}/ssh-key-passphrase"),
        }
    }
}

fn entry(host: &str, kind: SecretKind) -> Result<keyring::Entry> {
    keyring::Entry::new(SERVICE, &kind.account(host)).map_err(|e| Error::KeyringUnavailable { reason: e.to_string() })
}

/// Store a secret; refuses (and stores nothing anywhere) when no keyring is available.
pub fn store(host: &str, kind: SecretKind, secret: &str) -> Result<()> {
    entry(host, kind)?.set_password(secret).map_err(|e| Error::KeyringUnavailable { reason: e.to_string() })
}

/// A stored secret (or one given for this run), `None` when there is none.
pub fn fetch(host: &str, kind: SecretKind) -> Result<Option<String>> {
    if let Some(secret) = held_for_this_run(host, kind) {
        return Ok(Some(secret));
    }
    match entry(host, kind)?.get_password() {
        Ok(secret) => Ok(Some(secret)),
        Err(keyring::Error::NoEntry) => Ok(None),
        Err(e) => Err(Error::KeyringUnavailable { reason: e.to_string() }),
    }
}

/// Forget a host's secrets (on `host rm`); missing entries are fine.
pub fn forget(host: &str) {
    for kind in [SecretKind::Password, SecretKind::Passphrase] {
        if let Ok(entry) = entry(host, kind) {
            let _ = entry.delete_credential();
        }
    }
}

/// Move a host's secrets to its new name (on rename); a keyring that cannot be read moves nothing.
pub fn rename(from: &str, to: &str) {
    for kind in [SecretKind::Password, SecretKind::Passphrase] {
        if let Ok(Some(secret)) = fetch(from, kind) {
            if store(to, kind, &secret).is_ok() {
                if let Ok(entry) = entry(from, kind) {
                    let _ = entry.delete_credential();
                }
            }
        }
    }
}

/// The secrets an SSH connection may need. A keyring that cannot be read means none: the
/// authentication error then says what was tried.
pub fn ssh_secrets(host: &str, ep: &crate::endpoint::SshEndpoint) -> SshSecrets {
    let get = |kind| {
        fetch(host, kind).unwrap_or_else(|e| {
            tracing::warn!(host, error = %e, "cannot read the keyring");
            None
        })
    };
    let needs = secrets_needed(ep);
    SshSecrets {
        password: if needs.contains(&SecretKind::Password) { get(SecretKind::Password) } else { None },
        passphrase: if needs.contains(&SecretKind::Passphrase) { get(SecretKind::Passphrase) } else { None },
    }
}

/// The secrets connecting to an SSH host will ask for.
pub fn secrets_needed(ep: &crate::endpoint::SshEndpoint) -> Vec<SecretKind> {
    let mut kinds = Vec::new();
    if ep.options.password {
        kinds.push(SecretKind::Password);
    }
    if ep.options.identity.as_deref().is_some_and(key_is_encrypted) {
        kinds.push(SecretKind::Passphrase);
    }
    kinds
}

/// Whether a private key file needs a passphrase (OpenSSH or PEM format); the keyring is only
/// asked for one when it does.
pub fn key_is_encrypted(path: &std::path::Path) -> bool {
    use base64::Engine as _;
    let Ok(text) = std::fs::read_to_string(path) else { return false };
    if text.contains("ENCRYPTED") {
        return true; // PEM: "Proc-Type: 4,ENCRYPTED" or "BEGIN ENCRYPTED PRIVATE KEY"
    }
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(body.trim()) else { return false };
    // openssh-key-v1\0, then the cipher name as a length-prefixed string.
    let Some(rest) = bytes.strip_prefix(b"openssh-key-v1\0") else { return false };
    let Some(len) = rest.get(..4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize) else { return false };
    rest.get(4..4 + len).is_some_and(|cipher| cipher != b"none")
}

/// A registry's server name as keyring accounts and `X-Registry-Auth` use it: no scheme, no
/// trailing path, Docker Hub's names as `docker.io`.
pub fn registry_server(server: &str) -> Result<String> {
    let trimmed = server.trim();
    let bare = trimmed.trim_start_matches("https://").trim_start_matches("http://");
    let host = bare.split('/').next().unwrap_or_default().to_ascii_lowercase();
    let ok = !host.is_empty() && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    if !ok {
        return Err(Error::invalid("registry", format!("{server:?}; give a server such as registry.example.com or 127.0.0.1:5000")));
    }
    Ok(match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => "docker.io".to_owned(),
        _ => host,
    })
}

fn registry_entry(server: &str) -> Result<keyring::Entry> {
    keyring::Entry::new(SERVICE, &format!("registry/{server}")).map_err(|e| Error::KeyringUnavailable { reason: e.to_string() })
}

/// Keep a registry login in the keyring (the user name and password, together).
pub fn registry_login(server: &str, username: &str, password: &str) -> Result<()> {
    let server = registry_server(server)?;
    if username.is_empty() || username.contains(char::is_control) {
        return Err(Error::invalid("user name", "give the registry user name"));
    }
    let value = serde_json::json!({ "username": username, "password": password }).to_string();
    registry_entry(&server)?.set_password(&value).map_err(|e| Error::KeyringUnavailable { reason: e.to_string() })
}

/// Forget a registry login; false when there was none.
pub fn registry_logout(server: &str) -> Result<bool> {
    let server = registry_server(server)?;
    match registry_entry(&server)?.delete_credential() {
        Ok(()) => Ok(true),
        Err(keyring::Error::NoEntry) => Ok(false),
        Err(e) => Err(Error::KeyringUnavailable { reason: e.to_string() }),
    }
}

/// The login kept for `server`, if any; a keyring that cannot be read means none (the
/// registry's refusal then says so).
pub fn registry_auth(server: &str) -> Option<crate::connect::RegistryAuth> {
    let server = registry_server(server).ok()?;
    let text = match registry_entry(&server).and_then(|e| e.get_password().map_err(|e| Error::KeyringUnavailable { reason: e.to_string() })) {
        Ok(text) => text,
        Err(Error::KeyringUnavailable { reason }) if !reason.to_ascii_lowercase().contains("no matching entry") => {
            tracing::debug!(server, reason, "no registry login read from the keyring");
            return None;
        }
        Err(_) => return None,
    };
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    Some(crate::connect::RegistryAuth {
        server: if server == "docker.io" { "https://index.docker.io/v1/".to_owned() } else { server },
        username: value["username"].as_str()?.to_owned(),
        password: value["password"].as_str()?.to_owned(),
    })
}

fn app_entry(name: &str) -> Result<keyring::Entry> {
    keyring::Entry::new(SERVICE, &format!("app/{name}")).map_err(|e| Error::KeyringUnavailable { reason: e.to_string() })
}

/// Keep an app secret (a value an app file writes `keyring:NAME`) in the OS keyring.
pub fn store_app_secret(name: &str, secret: &str) -> Result<()> {
    crate::apps::spec::validate_secret_name(name)?;
    app_entry(name)?.set_password(secret).map_err(|e| Error::KeyringUnavailable { reason: e.to_string() })
}

/// An app secret for a deploy; a clear error when the keyring has none by that name.
pub fn app_secret(name: &str) -> Result<String> {
    match app_entry(name)?.get_password() {
        Ok(secret) => Ok(secret),
        Err(keyring::Error::NoEntry) => Err(Error::invalid(
            "app secret",
            format!("the keyring has no secret {name:?}; store it with `berth app secret {name}` (it reads the value from stdin)"),
        )),
        Err(e) => Err(Error::KeyringUnavailable { reason: e.to_string() }),
    }
}
