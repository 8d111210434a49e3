//! The one error type at the core's boundary.
//!
//! Every variant says what went wrong and, where it does not depend on the front end, what the
//! user can do about it. Advice that names a front end's own commands is that front end's: the
//! CLI adds `berth …` commands (`crates/cli/src/errors.rs`); the app words each `code()` in the
//! UI's language from `fields()`, with `detail()` (the daemon's or the system's own words)
//! beneath. `code()` is for branching on the kind of failure; never match on the message text.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid host URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },

    #[error("invalid {what}: {reason}")]
    InvalidInput { what: &'static str, reason: String },

    #[error("a host named {name:?} already exists; pick another name or remove that host first")]
    HostExists { name: String },

    #[error("no host named {name:?}")]
    HostNotFound { name: String },

    #[error("no container matches {query:?} in the mirror")]
    ContainerNotFound { query: String },

    #[error("{query:?} matches more than one container ({}); use a longer id prefix or HOST/NAME", candidates.join(", "))]
    AmbiguousContainer { query: String, candidates: Vec<String> },

    #[error("no IP pool named {name:?}")]
    PoolNotFound { name: String },

    #[error("pool {pool:?} has no free address left{}; release some, wait for the quarantine to pass, or widen its ranges", if quarantined > &0 { format!(" ({quarantined} are in quarantine)") } else { String::new() })]
    PoolExhausted { pool: String, quarantined: u64 },

    #[error("{ip} in pool {pool:?} is {reason}")]
    AddressUnavailable { pool: String, ip: String, reason: String },

    #[error("{} is not a Berth database ({reason}); the file was left untouched", path.display())]
    NotABerthDatabase { path: PathBuf, reason: String },

    #[error("{} was written by a newer Berth (schema version {found}, this binary knows up to {supported}); upgrade Berth, the file was left untouched", path.display())]
    SchemaTooNew { path: PathBuf, found: i64, supported: i64 },

    #[error("database error while {context}: {source}")]
    Store {
        context: String,
        #[source]
        source: rusqlite::Error,
    },

    #[error("host {host:?} ({url}) is unreachable: {reason}")]
    Unreachable { host: String, url: String, reason: String },

    #[error("permission denied on {} for host {host:?}: add your user to the group that owns the socket (usually `docker`) or run with enough rights", path.display())]
    PermissionDenied { host: String, path: PathBuf },

    #[error("the host key of {host:?} ({address}) is not known: {kind} key {fingerprint}. Check that fingerprint out of band, then trust it to add it to {}", known_hosts.display())]
    HostKeyUnknown { host: String, address: String, kind: &'static str, fingerprint: String, known_hosts: std::path::PathBuf },

    #[error("REFUSED: the host key of {host:?} ({address}) has CHANGED; it now offers {kind} key {fingerprint}, which does not match {}. This may be a man-in-the-middle; nothing was sent. If the host was really re-installed, remove its old line (ssh-keygen -R '{address}' -f {}) and trust it again", known_hosts.display(), known_hosts.display())]
    HostKeyChanged { host: String, address: String, kind: &'static str, fingerprint: String, known_hosts: std::path::PathBuf },

    #[error("SSH authentication as {user:?} on host {host:?} failed (tried {tried}){}", if reason.is_empty() { String::new() } else { format!(": {reason}") })]
    AuthFailed { host: String, user: String, tried: String, reason: String },

    #[error("the OS keyring is not available ({reason}); Berth does not keep secrets anywhere else")]
    KeyringUnavailable { reason: String },

    #[error("Docker on host {host:?} refused to {action}: {reason}")]
    Docker { host: String, action: String, reason: String },

    #[error("no image {image:?} on host {host:?}")]
    ImageNotFound { host: String, image: String },

    #[error("{kind} {name:?} on host {host:?} is used by {}; stop and remove those first, or force it", users.join(", "))]
    InUse { host: String, kind: &'static str, name: String, users: Vec<String> },

    #[error("network {network:?} on host {host:?} belongs to IP pool {pool:?}; remove it through IPAM (the pool's network), not directly")]
    PoolNetwork { host: String, network: String, pool: String },

    #[error("the plan for {app} ({env}) changed since it was shown; look at the new plan and deploy again")]
    PlanChanged { app: String, env: String },

    #[error("{what} was cancelled")]
    Cancelled { what: String },

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// A stable, machine-readable name for the kind of error.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidUrl { .. } => "invalid_url",
            Error::InvalidInput { .. } => "invalid_input",
            Error::HostExists { .. } => "host_exists",
            Error::HostNotFound { .. } => "host_not_found",
            Error::ContainerNotFound { .. } => "container_not_found",
            Error::AmbiguousContainer { .. } => "ambiguous_container",
            Error::PoolNotFound { .. } => "pool_not_found",
            Error::PoolExhausted { .. } => "pool_exhausted",
            Error::AddressUnavailable { .. } => "address_unavailable",
            Error::NotABerthDatabase { .. } => "not_a_berth_database",
            Error::SchemaTooNew { .. } => "schema_too_new",
            Error::Store { .. } => "store",
            Error::Unreachable { .. } => "unreachable",
            Error::PermissionDenied { .. } => "permission_denied",
            Error::Docker { .. } => "docker",
            Error::HostKeyUnknown { .. } => "host_key_unknown",
            Error::HostKeyChanged { .. } => "host_key_changed",
            Error::AuthFailed { .. } => "auth_failed",
            Error::KeyringUnavailable { .. } => "keyring_unavailable",
            Error::ImageNotFound { .. } => "image_not_found",
            Error::InUse { .. } => "in_use",
            Error::PoolNetwork { .. } => "pool_network",
            Error::Cancelled { .. } => "cancelled",
            Error::PlanChanged { .. } => "plan_changed",
            Error::Io { .. } => "io",
        }
    }

    /// The structured fields of the error, by name, for a front end to word it in its own
    /// language (`{code, fields}` → a message); never secrets (there are none in any variant).
    pub fn fields(&self) -> std::collections::BTreeMap<&'static str, String> {
        let path = |p: &std::path::Path| p.display().to_string();
        let pairs: Vec<(&'static str, String)> = match self {
            Error::InvalidUrl { url, reason } => vec![("url", url.clone()), ("reason", reason.clone())],
            Error::InvalidInput { what, reason } => vec![("what", (*what).to_owned()), ("reason", reason.clone())],
            Error::HostExists { name } | Error::HostNotFound { name } | Error::PoolNotFound { name } => vec![("name", name.clone())],
            Error::ContainerNotFound { query } => vec![("query", query.clone())],
            Error::AmbiguousContainer { query, candidates } => vec![("query", query.clone()), ("candidates", candidates.join(", "))],
            Error::PoolExhausted { pool, quarantined } => vec![("pool", pool.clone()), ("quarantined", quarantined.to_string())],
            Error::AddressUnavailable { pool, ip, reason } => vec![("pool", pool.clone()), ("ip", ip.clone()), ("reason", reason.clone())],
            Error::NotABerthDatabase { path: p, reason } => vec![("path", path(p)), ("reason", reason.clone())],
            Error::SchemaTooNew { path: p, found, supported } => {
                vec![("path", path(p)), ("found", found.to_string()), ("supported", supported.to_string())]
            }
            Error::Store { context, source } => vec![("context", context.clone()), ("reason", source.to_string())],
            Error::Unreachable { host, url, reason } => vec![("host", host.clone()), ("url", url.clone()), ("reason", reason.clone())],
            Error::PermissionDenied { host, path: p } => vec![("host", host.clone()), ("path", path(p))],
            Error::HostKeyUnknown { host, address, kind, fingerprint, known_hosts }
            | Error::HostKeyChanged { host, address, kind, fingerprint, known_hosts } => vec![
                ("host", host.clone()),
                ("address", address.clone()),
                ("kind", (*kind).to_owned()),
                ("fingerprint", fingerprint.clone()),
                ("known_hosts", path(known_hosts)),
            ],
            Error::AuthFailed { host, user, tried, reason } => {
                vec![("host", host.clone()), ("user", user.clone()), ("tried", tried.clone()), ("reason", reason.clone())]
            }
            Error::KeyringUnavailable { reason } => vec![("reason", reason.clone())],
            Error::Docker { host, action, reason } => vec![("host", host.clone()), ("action", action.clone()), ("reason", reason.clone())],
            Error::ImageNotFound { host, image } => vec![("host", host.clone()), ("image", image.clone())],
            Error::InUse { host, kind, name, users } => {
                vec![("host", host.clone()), ("kind", (*kind).to_owned()), ("name", name.clone()), ("users", users.join(", "))]
            }
            Error::PoolNetwork { host, network, pool } => vec![("host", host.clone()), ("network", network.clone()), ("pool", pool.clone())],
            Error::Cancelled { what } => vec![("what", what.clone())],
            Error::PlanChanged { app, env } => vec![("app", app.clone()), ("env", env.clone())],
            Error::Io { context, source } => vec![("context", context.clone()), ("reason", source.to_string())],
        };
        pairs.into_iter().collect()
    }

    /// The words of whoever refused, untranslated: the daemon's answer, the system's error, the
    /// reason a host could not be reached. A front end shows them beneath its own message.
    pub fn detail(&self) -> Option<String> {
        match self {
            Error::Docker { reason, .. }
            | Error::Unreachable { reason, .. }
            | Error::AuthFailed { reason, .. }
            | Error::KeyringUnavailable { reason }
            | Error::InvalidInput { reason, .. }
            | Error::InvalidUrl { reason, .. }
            | Error::AddressUnavailable { reason, .. }
            | Error::NotABerthDatabase { reason, .. } => Some(reason.clone()).filter(|r| !r.is_empty()),
            Error::Store { source, .. } => Some(source.to_string()),
            Error::Io { source, .. } => Some(source.to_string()),
            _ => None,
        }
    }

    /// True for failures to reach a host (it did not answer, or the connection was refused
    /// before anything was asked), which the sync engine retries. An answer the daemon gave,
    /// [`Error::Docker`], is not one: the host is there, it said no.
    pub fn is_connection(&self) -> bool {
        matches!(
            self,
            Error::Unreachable { .. } | Error::PermissionDenied { .. } | Error::HostKeyUnknown { .. } | Error::HostKeyChanged { .. } | Error::AuthFailed { .. }
        )
    }

    /// The same failure once more, for another request that waited on the same dial. Failures
    /// to connect carry only text, so they copy whole; anything else becomes "unreachable"
    /// with its words.
    pub(crate) fn again(&self, host: &str, url: &str) -> Error {
        match self {
            Error::Unreachable { host, url, reason } => Error::Unreachable { host: host.clone(), url: url.clone(), reason: reason.clone() },
            Error::PermissionDenied { host, path } => Error::PermissionDenied { host: host.clone(), path: path.clone() },
            Error::HostKeyUnknown { host, address, kind, fingerprint, known_hosts } => {
                Error::HostKeyUnknown { host: host.clone(), address: address.clone(), kind, fingerprint: fingerprint.clone(), known_hosts: known_hosts.clone() }
            }
            Error::HostKeyChanged { host, address, kind, fingerprint, known_hosts } => {
                Error::HostKeyChanged { host: host.clone(), address: address.clone(), kind, fingerprint: fingerprint.clone(), known_hosts: known_hosts.clone() }
            }
            Error::AuthFailed { host, user, tried, reason } => {
                Error::AuthFailed { host: host.clone(), user: user.clone(), tried: tried.clone(), reason: reason.clone() }
            }
            Error::KeyringUnavailable { reason } => Error::KeyringUnavailable { reason: reason.clone() },
            other => Error::Unreachable { host: host.to_owned(), url: url.to_owned(), reason: other.to_string() },
        }
    }

    pub(crate) fn invalid(what: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidInput { what, reason: reason.into() }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attach "what we were doing" to a rusqlite error.
pub(crate) trait StoreContext<T> {
    fn store_context(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T> StoreContext<T> for rusqlite::Result<T> {
    fn store_context(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Store { context: context(), source })
    }
}
