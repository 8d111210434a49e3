//! `berth host …`: add, list, remove and import hosts, trust an SSH host's key and keep its
//! secrets in the OS keyring, over the core's fleet calls. This file asks and prints.

use std::path::PathBuf;
use std::process::ExitCode;

use berth_core::endpoint::{SshOptions, TlsFiles};
use berth_core::fleet::{self, SecretKind};
use berth_core::store::Store;
use berth_core::Error;
use chrono::Utc;
use clap::{Args, Subcommand};

use crate::{output, prompt, Ctx};

#[derive(Debug, Subcommand)]
pub enum HostCommand {
    /// Add a host: unix:///path, npipe:////./pipe/name or tcp://HOST:PORT
    Add(HostAddArgs),
    /// List hosts with their status and how fresh their mirrored data is
    Ls,
    /// Remove a host, everything mirrored from it and its secrets in the keyring
    Rm { name: String },
    /// Add hosts from docker contexts (~/.docker/contexts) and DOCKER_HOST
    Import,
    /// Check an ssh:// host's key and, once you confirm its fingerprint, add it to known_hosts
    Trust {
        name: String,
        /// Do not ask: trust the key shown
        #[arg(long)]
        yes: bool,
    },
    /// Store an ssh:// host's password (or, with --passphrase, its key's passphrase) in the OS keyring
    Password {
        name: String,
        /// The secret is the passphrase of the host's --identity key
        #[arg(long)]
        passphrase: bool,
    },
}

#[derive(Debug, Args)]
pub struct HostAddArgs {
    name: String,
    url: String,
    /// A label for the host, KEY=VALUE (repeatable)
    #[arg(long = "label", value_name = "KEY=VALUE")]
    labels: Vec<String>,
    /// CA certificate that signed the daemon's certificate (tcp:// with TLS)
    #[arg(long, value_name = "FILE", requires_all = ["tls_cert", "tls_key"])]
    tls_ca: Option<PathBuf>,
    /// Client certificate
    #[arg(long, value_name = "FILE", requires_all = ["tls_ca", "tls_key"])]
    tls_cert: Option<PathBuf>,
    /// Client key
    #[arg(long, value_name = "FILE", requires_all = ["tls_ca", "tls_cert"])]
    tls_key: Option<PathBuf>,
    /// ssh://: private key to offer [default: the ssh-agent, else ~/.ssh/id_*]
    #[arg(long, value_name = "FILE")]
    identity: Option<PathBuf>,
    /// ssh://: known_hosts file to check the host key against [default: ~/.ssh/known_hosts]
    #[arg(long, value_name = "FILE")]
    known_hosts: Option<PathBuf>,
    /// ssh://: log in with a password; it is asked now (or read from standard input) and kept in the OS keyring
    #[arg(long)]
    password: bool,
    /// ssh://: reach the host through a bastion, [USER@]HOST[:PORT]
    #[arg(long, value_name = "JUMP")]
    proxy_jump: Option<String>,
}

pub fn host_command(ctx: &Ctx, command: HostCommand) -> Result<ExitCode, Error> {
    let (store, json, op) = (ctx.store(), ctx.json, &ctx.op);
    match command {
        HostCommand::Add(args) => add(store, op, args, json)?,
        HostCommand::Ls => {
            let hosts = fleet::list_hosts(store)?;
            if json {
                output::json(&hosts);
            } else {
                output::hosts_table(&mut std::io::stdout().lock(), &hosts, Utc::now());
            }
        }
        HostCommand::Rm { name } => {
            fleet::remove_host(store, op, &name)?;
            if !json {
                println!("removed host {name} and its mirrored data");
            }
        }
        HostCommand::Import => {
            let outcomes = fleet::import_hosts(store, op)?;
            if json {
                output::json(&outcomes);
            } else if outcomes.is_empty() {
                println!("nothing to import: no docker contexts and no DOCKER_HOST");
            } else {
                for o in &outcomes {
                    match &o.reason {
                        None => println!("added    {}  {}  (from {})", o.name, o.url, o.source),
                        Some(why) => {
                            println!("skipped  {}  {}  (from {}): {why}", o.name, o.url, o.source)
                        }
                    }
                }
            }
        }
        HostCommand::Trust { name, yes } => return trust(store, &name, yes),
        HostCommand::Password { name, passphrase } => {
            let kind = if passphrase { SecretKind::Passphrase } else { SecretKind::Password };
            let what = prompt::secret_words(kind);
            fleet::store_secret(store, &name, kind, || prompt::read_secret(&format!("{what} for {name}: ")))?;
            if !json {
                println!("stored the {what} of {name} in the OS keyring");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn add(store: &Store, op: &berth_core::audit::Op, args: HostAddArgs, json: bool) -> Result<(), Error> {
    let tls = match (args.tls_ca, args.tls_cert, args.tls_key) {
        (Some(ca), Some(cert), Some(key)) => Some(TlsFiles { ca, cert, key }),
        _ => None,
    };
    let labels = fleet::parse_labels(args.labels.iter().map(String::as_str))?;
    let ssh = SshOptions { identity: args.identity, known_hosts: args.known_hosts, password: args.password, proxy_jump: args.proxy_jump };
    // Ask for the secret before anything is written, and keep it out of the store. With no
    // keyring there is nowhere safe to keep it: the host is added and the password is asked
    // for each time Berth connects.
    let password = match args.password.then(|| fleet::check_keyring(&args.name)) {
        Some(Err(Error::KeyringUnavailable { reason })) => {
            eprintln!("berth: the OS keyring is not available ({reason}); the password was not stored and will be asked each time Berth connects");
            None
        }
        Some(_) => Some(prompt::read_secret(&format!("SSH password for {}: ", args.url))?),
        None => None,
    };
    let host = fleet::add_host_with_secret(store, op, &args.name, &args.url, tls, ssh, labels, password.as_deref())?;
    if json {
        let summary = fleet::list_hosts(store)?.into_iter().find(|h| h.name == host.config.name);
        output::json(&summary);
    } else {
        println!("added host {} ({}); run `berth sync --once {}` to mirror it", host.config.name, host.config.endpoint, host.config.name);
    }
    Ok(())
}

#[cfg(unix)]
fn trust(store: &Store, name: &str, yes: bool) -> Result<ExitCode, Error> {
    use berth_core::connect::ssh;
    let host = store.host(name)?;
    let berth_core::endpoint::Endpoint::Ssh(ep) = &host.config.endpoint else {
        return Err(Error::InvalidInput { what: "host", reason: format!("{name:?} is not an ssh:// host; only SSH hosts have host keys") });
    };
    // One key at a time: the jump host's first, then the target's (reached through it).
    loop {
        let (key, known_as, verdict) = ssh::scan_host_key(name, ep)?;
        match verdict {
            Ok(()) => {
                println!("{name}: the {} key {} of {known_as} is trusted", key.kind, key.fingerprint);
                return Ok(ExitCode::SUCCESS);
            }
            Err(Error::HostKeyUnknown { .. }) => {}
            Err(e) => return Err(e),
        }
        println!("{known_as} offers a {} key with fingerprint {}", key.kind, key.fingerprint);
        if !yes {
            match prompt::confirm("Trust it?") {
                None => return Err(Error::InvalidInput { what: "confirmation", reason: "no terminal to ask on; check the fingerprint and pass --yes".into() }),
                Some(false) => {
                    println!("not trusted");
                    return Ok(ExitCode::FAILURE);
                }
                Some(true) => {}
            }
        }
        let path = ssh::record_host_key(ep, &known_as, &key)?;
        println!("added {known_as} to {}", path.display());
    }
}

#[cfg(not(unix))]
fn trust(_: &Store, _: &str, _: bool) -> Result<ExitCode, Error> {
    Err(Error::InvalidInput { what: "command", reason: "SSH hosts are not supported on this platform yet".into() })
}
