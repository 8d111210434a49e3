//! `berth`: the headless face of Berth. Argument parsing and printing around core calls; reads
//! come from the mirror only and never touch the network.

mod exec;
mod ipam;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use berth_core::credentials::{self, SecretKind};
use berth_core::endpoint::{SshOptions, TlsFiles};
use berth_core::store::{ContainerFilter, EventQuery, Store};
use berth_core::model::Reachability;
use berth_core::sync::{self, MirrorUpdate};
use berth_core::{fleet, Error};
use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "berth", version, about = "Berth: a fleet of Docker hosts, mirrored in SQLite", max_term_width = 100)]
struct Cli {
    /// The database file [default: the OS data folder, e.g. ~/.local/share/berth/berth.db]
    #[arg(long, global = true, env = "BERTH_DB", value_name = "PATH")]
    db: Option<PathBuf>,
    /// Print JSON instead of a table
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Add, list and remove Docker hosts
    #[command(subcommand)]
    Host(HostCommand),
    /// Mirror hosts into the database: once, or following their events until interrupted
    Sync {
        /// Hosts to sync [default: all]
        hosts: Vec<String>,
        /// Take one snapshot of each host and exit; exit code 1 if any host was unreachable
        #[arg(long)]
        once: bool,
    },
    /// List containers from the mirror (works with every host unreachable)
    Ps(PsArgs),
    /// Print a container's stored inspect JSON
    Inspect {
        /// Id, id prefix, name, or HOST/NAME
        container: String,
    },
    /// Run a command in a container on its host, like `docker exec` (the command's exit code is berth's)
    Exec(ExecCli),
    /// Print a container's log from its host, stdout and stderr apart
    Logs(LogsCli),
    /// IP pools, leases and reservations; conflicts against the mirror
    #[command(subcommand)]
    Ipam(ipam::IpamCommand),
    /// The pools' Docker networks on their hosts
    #[command(subcommand)]
    Net(NetCommand),
    /// Create and start a container on a host with a fixed address leased from a pool
    Run(ipam::RunArgs),
    /// Remove a container from its host; its leased addresses go into quarantine
    Rm {
        /// Remove it even while it runs
        #[arg(short, long)]
        force: bool,
        /// Id, id prefix, name, or HOST/NAME
        container: String,
    },
    /// Show stored Docker events, oldest first
    Events {
        #[arg(long, value_name = "NAME")]
        host: Option<String>,
        /// A duration back from now (10m, 2h, 1d) or an RFC 3339 time
        #[arg(long, value_name = "WHEN")]
        since: Option<String>,
        /// At most this many (the newest)
        #[arg(long, default_value_t = 100, value_name = "N", value_parser = clap::value_parser!(i64).range(1..))]
        limit: i64,
    },
}

#[derive(Debug, Subcommand)]
enum NetCommand {
    /// Create the pool's network on each of its hosts, or report how the one there differs
    Apply { pool: String },
}

#[derive(Debug, Subcommand)]
enum HostCommand {
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
struct HostAddArgs {
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

#[derive(Debug, Args)]
struct ExecCli {
    /// Send standard input to the command
    #[arg(short, long)]
    interactive: bool,
    /// Give the command a pseudo-terminal
    #[arg(short, long)]
    tty: bool,
    /// The terminal's size, ROWSxCOLS [default: this terminal's]
    #[arg(long, value_name = "ROWSxCOLS", value_parser = parse_size)]
    size: Option<berth_core::exec::TermSize>,
    /// Run as this user (name or UID[:GID])
    #[arg(short, long, value_name = "USER")]
    user: Option<String>,
    /// Run in this directory inside the container
    #[arg(short, long, value_name = "DIR")]
    workdir: Option<String>,
    /// Set an environment variable, KEY=VALUE (repeatable)
    #[arg(short, long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// Id, id prefix, name, or HOST/NAME
    container: String,
    /// The command and its arguments, after `--` [default: bash if the image has it, else sh]
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "CMD")]
    cmd: Vec<String>,
}

#[derive(Debug, Args)]
struct LogsCli {
    /// Keep printing as the container writes
    #[arg(short, long)]
    follow: bool,
    /// Only the last N lines ("all" for every line)
    #[arg(long, value_name = "N", value_parser = parse_tail)]
    tail: Option<Tail>,
    /// Only lines since a duration back from now (10m, 2h, 1d) or an RFC 3339 time
    #[arg(long, value_name = "WHEN")]
    since: Option<String>,
    /// Prefix each line with its time
    #[arg(short, long)]
    timestamps: bool,
    /// Id, id prefix, name, or HOST/NAME
    container: String,
}

#[derive(Debug, Clone, Copy)]
enum Tail {
    All,
    Last(u64),
}

fn parse_size(s: &str) -> Result<berth_core::exec::TermSize, String> {
    s.parse().map_err(|e: Error| e.to_string())
}

fn parse_tail(s: &str) -> Result<Tail, String> {
    match s {
        "all" => Ok(Tail::All),
        _ => s.parse().map(Tail::Last).map_err(|_| format!("{s:?} is not a line count; give a number or \"all\"")),
    }
}

#[derive(Debug, Args)]
struct PsArgs {
    /// Show all containers, not only running ones
    #[arg(short, long)]
    all: bool,
    #[arg(long, value_name = "NAME")]
    host: Option<String>,
    /// name=, image=, state=, label=KEY[=VALUE], ip= (repeatable)
    #[arg(long = "filter", short = 'f', value_name = "KEY=VALUE")]
    filters: Vec<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(matches!(cli.command, Command::Sync { .. }));
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("berth: {error}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(following: bool) {
    let default = if following { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).init();
}

fn open_store(db: Option<PathBuf>) -> Result<Store, Error> {
    let path = match db {
        Some(path) => path,
        None => berth_core::paths::default_db_path()?,
    };
    Store::open(&path)
}

fn run(cli: Cli) -> Result<ExitCode, Error> {
    let store = open_store(cli.db)?;
    let json = cli.json;
    match cli.command {
        Command::Host(HostCommand::Add(args)) => {
            let tls = match (args.tls_ca, args.tls_cert, args.tls_key) {
                (Some(ca), Some(cert), Some(key)) => Some(TlsFiles { ca, cert, key }),
                _ => None,
            };
            let labels = fleet::parse_labels(args.labels.iter().map(String::as_str))?;
            let ssh = SshOptions {
                identity: args.identity,
                known_hosts: args.known_hosts,
                password: args.password,
                proxy_jump: args.proxy_jump,
            };
            // Ask for the secret before anything is written, and keep it out of the store. With no
            // keyring there is nowhere safe to keep it: the host is added and the password is asked
            // for each time Berth connects.
            let keyring = credentials::fetch(&args.name, SecretKind::Password);
            let password = match (&keyring, args.password) {
                (Err(Error::KeyringUnavailable { reason }), true) => {
                    eprintln!("berth: the OS keyring is not available ({reason}); the password was not stored and will be asked each time Berth connects");
                    None
                }
                (_, true) => Some(read_secret(&format!("SSH password for {}: ", args.url))?),
                (_, false) => None,
            };
            let host = fleet::add_host_with(&store, &args.name, &args.url, tls, ssh, labels)?;
            if let Some(password) = password {
                if let Err(e) = credentials::store(&host.config.name, SecretKind::Password, &password) {
                    store.remove_host(&host.config.name)?;
                    return Err(e);
                }
            }
            if json {
                let summary = store.host_summaries()?.into_iter().find(|h| h.name == host.config.name);
                output::json(&summary);
            } else {
                println!("added host {} ({}); run `berth sync --once {}` to mirror it", host.config.name, host.config.endpoint, host.config.name);
            }
        }
        Command::Host(HostCommand::Ls) => {
            let hosts = fleet::list_hosts(&store)?;
            if json {
                output::json(&hosts);
            } else {
                output::hosts_table(&hosts);
            }
        }
        Command::Host(HostCommand::Rm { name }) => {
            store.remove_host(&name)?;
            credentials::forget(&name);
            if !json {
                println!("removed host {name} and its mirrored data");
            }
        }
        Command::Host(HostCommand::Import) => {
            let outcomes = fleet::import_hosts(&store)?;
            if json {
                output::json(&outcomes);
            } else if outcomes.is_empty() {
                println!("nothing to import: no docker contexts and no DOCKER_HOST");
            } else {
                for o in &outcomes {
                    match &o.reason {
                        None => println!("added    {}  {}  (from {})", o.name, o.url, o.source),
                        Some(why) => println!("skipped  {}  {}  (from {}): {why}", o.name, o.url, o.source),
                    }
                }
            }
        }
        Command::Host(HostCommand::Trust { name, yes }) => return trust_command(&store, &name, yes),
        Command::Host(HostCommand::Password { name, passphrase }) => {
            let host = store.host(&name)?;
            if !matches!(host.config.endpoint, berth_core::endpoint::Endpoint::Ssh(_)) {
                return Err(Error::InvalidInput { what: "host", reason: format!("{name:?} is not an ssh:// host") });
            }
            let kind = if passphrase { SecretKind::Passphrase } else { SecretKind::Password };
            let what = if passphrase { "key passphrase" } else { "SSH password" };
            let secret = read_secret(&format!("{what} for {name}: "))?;
            credentials::store(&name, kind, &secret)?;
            if !json {
                println!("stored the {what} of {name} in the OS keyring");
            }
        }
        Command::Sync { hosts, once } => return sync_command(store, hosts, once, json),
        Command::Ps(args) => {
            let mut filter = ContainerFilter { all: args.all, host: args.host, ..Default::default() };
            for spec in &args.filters {
                filter.add(spec)?;
            }
            let rows = store.containers(&filter)?;
            if json {
                output::json(&rows);
            } else {
                output::containers_table(&rows, &store.host_summaries()?);
            }
        }
        Command::Inspect { container } => {
            let (_, _, inspect) = store.container_inspect(&container)?;
            let value: serde_json::Value = serde_json::from_str(&inspect).unwrap_or(serde_json::Value::String(inspect));
            output::json(&value);
        }
        Command::Exec(args) => {
            // `berth exec c -- cmd`: clap keeps the `--` when it follows the container.
            let cmd = match args.cmd.first().map(String::as_str) {
                Some("--") => args.cmd[1..].to_vec(),
                _ => args.cmd,
            };
            let spec = berth_core::exec::ExecSpec {
                cmd,
                user: args.user,
                workdir: args.workdir,
                env: args.env,
                tty: args.tty,
                stdin: args.interactive,
                size: args.size,
            };
            return exec::exec_command(&store, exec::ExecArgs { container: args.container, spec });
        }
        Command::Logs(args) => {
            let since = args
                .since
                .map(|s| berth_core::time::parse_since(&s, chrono::Utc::now()))
                .transpose()?
                .map(|ns| ns.div_euclid(1_000_000_000));
            let tail = match args.tail {
                Some(Tail::Last(n)) => Some(n),
                Some(Tail::All) | None => None,
            };
            let spec = berth_core::exec::LogSpec { follow: args.follow, tail, since, timestamps: args.timestamps };
            return exec::logs_command(&store, &args.container, spec);
        }
        Command::Ipam(command) => return ipam::ipam_command(&store, command, json),
        Command::Net(NetCommand::Apply { pool }) => return ipam::net_apply(&store, &pool, json),
        Command::Run(args) => return ipam::run_command(&store, args, json),
        Command::Rm { force, container } => return ipam::rm_command(&store, &container, force, json),
        Command::Events { host, since, limit } => {
            let since_ns = since.map(|s| berth_core::time::parse_since(&s, chrono::Utc::now())).transpose()?;
            let rows = store.events(&EventQuery { host, since_ns, limit })?;
            if json {
                output::json(&rows);
            } else {
                output::events_table(&rows);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Without a keyring, secrets cannot be stored: ask for each one now, for this run only.
pub(crate) fn prompt_for_secrets_without_keyring(hosts: &[berth_core::model::Host]) -> Result<(), Error> {
    for host in hosts {
        let berth_core::endpoint::Endpoint::Ssh(ep) = &host.config.endpoint else { continue };
        for kind in credentials::secrets_needed(ep) {
            match credentials::fetch(host.name(), kind) {
                Ok(_) => {}
                Err(Error::KeyringUnavailable { reason }) => {
                    use std::io::IsTerminal;
                    if !std::io::stdin().is_terminal() {
                        return Err(Error::KeyringUnavailable {
                            reason: format!("{reason}; host {:?} needs a secret and there is no terminal to ask on", host.name()),
                        });
                    }
                    let what = if kind == SecretKind::Password { "SSH password" } else { "key passphrase" };
                    eprintln!("berth: no OS keyring ({reason}); the {what} is used for this run only");
                    let secret = read_secret(&format!("{what} for {}: ", host.name()))?;
                    credentials::use_for_this_run(host.name(), kind, secret);
                }
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// A secret from the terminal without echo, or one line of standard input when it is not a terminal.
fn read_secret(prompt: &str) -> Result<String, Error> {
    use std::io::IsTerminal;
    let io = |source| Error::Io { context: "reading the secret".into(), source };
    let secret = if std::io::stdin().is_terminal() {
        prompt_without_echo(prompt).map_err(io)?
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map_err(io)?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    if secret.is_empty() {
        return Err(Error::InvalidInput { what: "secret", reason: "it is empty".into() });
    }
    Ok(secret)
}

/// Ask on the terminal with echo turned off *before* the prompt shows, so a secret typed the
/// moment the prompt appears is never echoed.
#[cfg(unix)]
fn prompt_without_echo(prompt: &str) -> std::io::Result<String> {
    use std::io::{BufRead, Write};
    use std::os::fd::AsRawFd;
    let tty = std::fs::OpenOptions::new().read(true).write(true).open("/dev/tty")?;
    let fd = tty.as_raw_fd();
    let mut saved = unsafe { std::mem::zeroed::<libc::termios>() };
    if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut quiet = saved;
    quiet.c_lflag &= !libc::ECHO;
    quiet.c_lflag |= libc::ECHONL;
    if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let read = (|| {
        (&tty).write_all(prompt.as_bytes())?;
        (&tty).flush()?;
        let mut line = String::new();
        std::io::BufReader::new(&tty).read_line(&mut line)?;
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    })();
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &saved) };
    read
}

#[cfg(not(unix))]
fn prompt_without_echo(prompt: &str) -> std::io::Result<String> {
    rpassword::prompt_password(prompt)
}

#[cfg(unix)]
fn trust_command(store: &Store, name: &str, yes: bool) -> Result<ExitCode, Error> {
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
            use std::io::{BufRead, IsTerminal, Write};
            if !std::io::stdin().is_terminal() {
                return Err(Error::InvalidInput {
                    what: "confirmation",
                    reason: "no terminal to ask on; check the fingerprint and pass --yes".into(),
                });
            }
            print!("Trust it? [y/N] ");
            let _ = std::io::stdout().flush();
            let mut answer = String::new();
            let _ = std::io::stdin().lock().read_line(&mut answer);
            if !matches!(answer.trim(), "y" | "Y" | "yes") {
                println!("not trusted");
                return Ok(ExitCode::FAILURE);
            }
        }
        let path = ssh::record_host_key(ep, &known_as, &key)?;
        println!("added {known_as} to {}", path.display());
    }
}

#[cfg(not(unix))]
fn trust_command(_: &Store, _: &str, _: bool) -> Result<ExitCode, Error> {
    Err(Error::InvalidInput { what: "command", reason: "SSH hosts are not supported on this platform yet".into() })
}

fn sync_command(store: Store, names: Vec<String>, once: bool, json: bool) -> Result<ExitCode, Error> {
    let hosts = match names.is_empty() {
        true => store.hosts()?,
        false => names.iter().map(|n| store.host(n)).collect::<Result<Vec<_>, _>>()?,
    };
    if hosts.is_empty() {
        return Err(Error::InvalidInput { what: "host list", reason: "no hosts yet; add one with `berth host add NAME URL`".into() });
    }
    prompt_for_secrets_without_keyring(&hosts)?;
    let store = Arc::new(store);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|source| Error::Io { context: "starting the async runtime".into(), source })?;
    if once {
        let results = runtime.block_on(async {
            let tasks: Vec<_> = hosts
                .iter()
                .map(|host| {
                    let (store, host) = (Arc::clone(&store), host.clone());
                    tokio::spawn(async move {
                        let started = Instant::now();
                        let result = sync::sync_once(&store, &host).await;
                        (host.config.name, result, started.elapsed())
                    })
                })
                .collect();
            let mut results = Vec::new();
            for task in tasks {
                results.push(task.await.expect("sync task panicked"));
            }
            results
        });
        let mut failed = false;
        let mut report = Vec::new();
        for (name, result, took) in results {
            match result {
                Ok(c) => {
                    if !json {
                        eprintln!(
                            "{name}: {} containers, {} images, {} networks, {} volumes in {:.2} s",
                            c.containers, c.images, c.networks, c.volumes, took.as_secs_f64()
                        );
                    }
                    report.push(serde_json::json!({"host": name, "ok": true, "containers": c.containers,
                        "images": c.images, "networks": c.networks, "volumes": c.volumes, "seconds": took.as_secs_f64()}));
                }
                Err(e) => {
                    failed = true;
                    eprintln!("berth: {e}");
                    report.push(serde_json::json!({"host": name, "ok": false, "code": e.code(), "error": e.to_string()}));
                }
            }
        }
        if json {
            output::json(&report);
        }
        return Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS });
    }

    runtime.block_on(async {
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        let (updates, mut seen) = tokio::sync::broadcast::channel(1024);
        tokio::spawn(async move {
            loop {
                match seen.recv().await {
                    Ok(MirrorUpdate::Snapshot { host, containers, .. }) => {
                        tracing::info!(%host, containers, "online; snapshot written")
                    }
                    Ok(MirrorUpdate::Status { host, state: Reachability::Offline, error, .. }) => {
                        tracing::warn!(%host, error = error.as_deref().unwrap_or(""), "offline; rows kept, reconnecting")
                    }
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        let follower = tokio::spawn(sync::follow_all(Arc::clone(&store), hosts, shutdown, updates));
        wait_for_signal().await;
        tracing::info!("stopping");
        let _ = stop.send(true);
        let _ = follower.await;
    });
    Ok(ExitCode::SUCCESS)
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
