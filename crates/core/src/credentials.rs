//! Secrets (SSH passwords and key passphrases) live only in the OS keyring: Secret Service on
//! Linux, Keychain on macOS, Credential Manager on Windows. They never reach SQLite, logs, error
//! messages or process arguments; they leave this module only into a connection.

use crate::error::{Error, Result};

const SERVICE: &str = "berth";

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

/// A stored secret, `None` when there is none.
pub fn fetch(host: &str, kind: SecretKind) -> Result<Option<String>> {
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

/// The secrets an SSH connection may need. A keyring that cannot be read means none: the
/// authentication error then says what was tried.
#[cfg(unix)]
pub fn ssh_secrets(host: &str, ep: &crate::endpoint::SshEndpoint) -> crate::connect::ssh::SshSecrets {
    let get = |kind| fetch(host, kind).unwrap_or_else(|e| {
        tracing::warn!(host, error = %e, "cannot read the keyring");
        None
    });
    crate::connect::ssh::SshSecrets {
        password: if ep.password { get(SecretKind::Password) } else { None },
        passphrase: if ep.identity.is_some() { get(SecretKind::Passphrase) } else { None },
    }
}
