//! The CLI's words for the core's errors: the core says what went wrong; here the advice names
//! the `berth` commands that help (the app words the same errors in its own language).

use berth_core::Error;

/// `berth: <message><advice>`, as printed on failure.
pub fn message(error: &Error) -> String {
    let advice = match error {
        Error::HostExists { name } => format!(" (`berth host rm {name}` removes it)"),
        Error::HostNotFound { .. } => "; `berth host ls` lists the hosts you have added".into(),
        Error::ContainerNotFound { .. } => "; `berth ps -a` lists what is stored (run `berth sync --once` to refresh it)".into(),
        Error::PoolNotFound { .. } => {
            "; `berth ipam pool ls` lists the pools (after losing the store, `berth ipam rebuild` reads them back from the hosts)".into()
        }
        Error::PoolExhausted { pool, .. } => format!(" (`berth ipam leases {pool}` lists them)"),
        Error::NotABerthDatabase { .. } => ". Point --db (or BERTH_DB) at another path".into(),
        Error::HostKeyUnknown { host, .. } => format!(" (`berth host trust {host}`)"),
        Error::ImageNotFound { host, .. } => {
            format!("; `berth image ls --host {host}` lists what is mirrored there (`berth image pull` or `berth image push` brings one)")
        }
        Error::InUse { kind: "image", .. } => " (-f removes its tags anyway; Docker keeps the image itself while containers use it)".into(),
        Error::PoolNetwork { pool, .. } => format!(" (`berth ipam pool rm {pool}` removes the pool and its networks)"),
        _ => String::new(),
    };
    format!("{error}{advice}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advice_names_the_commands_that_help() {
        let cases = [
            (Error::HostNotFound { name: "h1".into() }, "no host named \"h1\"; `berth host ls` lists the hosts you have added"),
            (Error::ContainerNotFound { query: "web".into() }, "no container matches \"web\" in the mirror; `berth ps -a` lists what is stored (run `berth sync --once` to refresh it)"),
            (Error::PoolExhausted { pool: "lan".into(), quarantined: 0 }, "pool \"lan\" has no free address left; release some, wait for the quarantine to pass, or widen its ranges (`berth ipam leases lan` lists them)"),
            (Error::KeyringUnavailable { reason: "no D-Bus".into() }, "the OS keyring is not available (no D-Bus); Berth does not keep secrets anywhere else"),
        ];
        for (error, want) in cases {
            assert_eq!(message(&error), want);
        }
    }
}
