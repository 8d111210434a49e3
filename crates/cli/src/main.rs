//! `berth`: the headless face of Berth. Argument parsing and printing around core calls; reads
//! come from the mirror only and never touch the network. This file parses and dispatches; each
//! command group has its own file.

mod apps;
mod audit;
mod containers;
mod errors;
mod exec;
mod hosts;
mod images;
mod ipam;
mod mirror;
mod monitor;
mod output;
mod prompt;
mod resources;
mod runtime;
mod sync;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use berth_core::audit::{Op, Via};
use berth_core::fleet::Fleet;
use berth_core::store::Store;
use berth_core::Error;
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "berth", version, about = "Berth: a fleet of Docker hosts, mirrored in SQLite", max_term_width = 100)]
struct Cli {
    /// The database file [default: the OS data folder, e.g. ~/.local/share/berth/berth.db]
    #[arg(long, global = true, env = "BERTH_DB", value_name = "PATH")]
    db: Option<PathBuf>,
    /// Print JSON instead of a table
    #[arg(long, global = true)]
    json: bool,
    /// Why: recorded with every change this command makes, in the audit log
    #[arg(long, global = true, value_name = "TEXT")]
    reason: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Add, list and remove Docker hosts
    #[command(subcommand)]
    Host(hosts::HostCommand),
    /// Mirror hosts into the database: once, or following their events until interrupted
    Sync {
        /// Hosts to sync [default: all]
        hosts: Vec<String>,
        /// Take one snapshot of each host and exit; exit code 1 if any host was unreachable
        #[arg(long)]
        once: bool,
        /// While following: how often every running container's figures go into the history
        #[arg(long, value_name = "DURATION", default_value = "10s")]
        sample_every: String,
    },
    /// List containers from the mirror (works with every host unreachable)
    Ps(mirror::PsArgs),
    /// Print a container's stored inspect JSON
    Inspect {
        /// Id, id prefix, name, or HOST/NAME
        container: String,
    },
    /// Run a command in a container on its host, like `docker exec` (the command's exit code is berth's)
    Exec(exec::ExecArgs),
    /// Print a container's log from its host, stdout and stderr apart
    Logs(exec::LogsArgs),
    /// IP pools, leases and reservations; conflicts against the mirror
    #[command(subcommand)]
    Ipam(ipam::IpamCommand),
    /// The pools' Docker networks on their hosts
    #[command(subcommand)]
    Net(ipam::NetCommand),
    /// Create and start a container on a host with a fixed address leased from a pool
    Run(ipam::RunArgs),
    /// Start containers (a running one is fine)
    Start(containers::Targets),
    /// Stop containers (a stopped one is fine)
    Stop(containers::StopArgs),
    /// Restart containers
    Restart(containers::StopArgs),
    /// Send a signal to running containers (SIGKILL unless -s says otherwise)
    Kill(containers::KillArgs),
    /// Pause every process in containers
    Pause(containers::Targets),
    /// Resume paused containers
    Unpause(containers::Targets),
    /// Remove containers from their hosts; their leased addresses go into quarantine
    Rm(containers::RmArgs),
    /// Apps: a base image, a package and per-environment config, placed by resources and free addresses
    #[command(subcommand)]
    App(apps::AppCommand),
    /// Images on hosts: list, pull, build, remove, and push between hosts without a registry
    #[command(subcommand)]
    Image(images::ImageCommand),
    /// Registry logins, kept in the OS keyring
    #[command(subcommand)]
    Registry(images::RegistryCommand),
    /// Copy files and folders into and out of containers (CONTAINER:PATH, a local path, or - for a tar)
    Cp {
        /// CONTAINER:PATH, a local path, or -
        src: String,
        /// CONTAINER:PATH, a local path, or -
        dst: String,
    },
    /// Networks on hosts, with what uses them
    #[command(subcommand)]
    Network(resources::NetworkCommand),
    /// Volumes on hosts, with what uses them
    #[command(subcommand)]
    Volume(resources::VolumeCommand),
    /// The audit log: every change to a host, Berth's own and out-of-band (newest first)
    Audit(audit::AuditArgs),
    /// Containers' CPU, memory, network and block IO now, as `docker stats` shows them (every host side by side)
    Stats(monitor::StatsArgs),
    /// Open alerts (crashes, OOM kills, restart loops, failing health checks), newest first
    Alerts {
        /// Every alert kept, closed ones too
        #[arg(long)]
        all: bool,
    },
    /// Acknowledge or mute an alert
    #[command(subcommand)]
    Alert(monitor::AlertCommand),
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

/// A trailing command (`berth exec c -- cmd`, `berth run … image -- cmd`) without a leading `--`:
/// clap takes the first one itself, and one more right after the container or image is dropped
/// too, as berth always has (`berth exec c -- -- cmd` runs `cmd`).
fn trailing_command(cmd: Vec<String>) -> Vec<String> {
    match cmd.first().map(String::as_str) {
        Some("--") => cmd[1..].to_vec(),
        _ => cmd,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(matches!(cli.command, Command::Sync { .. }));
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("berth: {}", errors::message(&error));
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(following: bool) {
    let default = if following { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG").unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).init();
}

fn open_store(db: Option<PathBuf>) -> Result<Store, Error> {
    let path = match db {
        Some(path) => path,
        None => berth_core::paths::default_db_path()?,
    };
    Store::open(&path)
}

/// What every command that changes something shares: the fleet (store and connections) and the
/// op its changes are recorded under.
pub struct Ctx {
    pub fleet: Arc<Fleet>,
    pub op: Op,
    pub json: bool,
}

impl Ctx {
    pub fn store(&self) -> &Store {
        self.fleet.store()
    }
}

fn run(cli: Cli) -> Result<ExitCode, Error> {
    let ctx = Ctx { fleet: Fleet::new(Arc::new(open_store(cli.db)?)), op: Op::new(Via::Cli, cli.reason), json: cli.json };
    let (store, json) = (ctx.store(), cli.json);
    match cli.command {
        Command::Host(command) => hosts::host_command(&ctx, command),
        Command::Sync { hosts, once, sample_every } => sync::sync_command(&ctx, hosts, once, sync::sample_every(&sample_every)?),
        Command::Ps(args) => mirror::ps_command(store, args, json),
        Command::Inspect { container } => mirror::inspect_command(store, &container),
        Command::Exec(args) => exec::exec_command(store, args),
        Command::Logs(args) => exec::logs_command(store, args),
        Command::Ipam(command) => ipam::ipam_command(&ctx, command),
        Command::Net(ipam::NetCommand::Apply { pool }) => ipam::net_apply(&ctx, &pool),
        Command::Run(args) => ipam::run_command(&ctx, args),
        Command::Start(targets) => containers::act(&ctx, containers::Verb::Start, &targets.containers, Default::default()),
        Command::Stop(args) => containers::act(&ctx, containers::Verb::Stop, &args.containers, args.options()),
        Command::Restart(args) => containers::act(&ctx, containers::Verb::Restart, &args.containers, args.options()),
        Command::Kill(args) => containers::act(&ctx, containers::Verb::Kill, &args.containers, args.options()),
        Command::Pause(targets) => containers::act(&ctx, containers::Verb::Pause, &targets.containers, Default::default()),
        Command::Unpause(targets) => containers::act(&ctx, containers::Verb::Unpause, &targets.containers, Default::default()),
        Command::Rm(args) => containers::rm(&ctx, &args),
        Command::App(command) => apps::app_command(&ctx, command),
        Command::Image(command) => images::image_command(&ctx, command),
        Command::Registry(command) => images::registry_command(command),
        Command::Cp { src, dst } => images::cp_command(&ctx, &src, &dst),
        Command::Network(command) => resources::network_command(&ctx, command),
        Command::Volume(command) => resources::volume_command(&ctx, command),
        Command::Audit(args) => audit::audit_command(&ctx, args),
        Command::Stats(args) => monitor::stats_command(&ctx, args),
        Command::Alerts { all } => monitor::alerts_command(&ctx, all),
        Command::Alert(command) => monitor::alert_command(&ctx, command),
        Command::Events { host, since, limit } => mirror::events_command(store, host, since, limit, json),
    }
}
