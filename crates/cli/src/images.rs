//! `berth image …`, `berth registry login|logout`, `berth cp`: images on hosts, delivery
//! between hosts without a registry, and files into and out of containers. Progress goes to
//! stderr, results to stdout (`--json` as the contract says).

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use berth_core::images::cp::{self, Side};
use berth_core::images::{self, push, Transfer, TransferState};
use berth_core::Error;
use clap::{Args, Subcommand};

use crate::{output, prompt, runtime, Ctx};

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// List images from the mirror: one row per host and image (works offline)
    Ls {
        #[arg(long, value_name = "NAME")]
        host: Option<String>,
        /// One row per image ID across hosts, with the hosts that hold it and those that lack it
        #[arg(long, conflicts_with = "host")]
        across: bool,
    },
    /// Pull an image on a host (the registry login from `berth registry login`, if any)
    Pull {
        host: String,
        /// IMAGE[:TAG]
        image: String,
    },
    /// Send an image from one host to others, only the layers each lacks, without a registry
    Push {
        /// HOST/IMAGE (IMAGE a tag or an image ID)
        source: String,
        /// The hosts to send it to
        #[arg(long, required = true, value_name = "HOST[,HOST...]", value_delimiter = ',')]
        to: Vec<String>,
    },
    /// Build an image on a host from a local folder (the classic builder)
    Build(BuildArgs),
    /// Remove images from hosts (refused while containers use one, unless -f)
    Rm {
        #[arg(short, long)]
        force: bool,
        /// HOST/IMAGE
        #[arg(required = true, value_name = "HOST/IMAGE")]
        images: Vec<String>,
    },
    /// Remove a host's dangling images (--all: every image no container uses)
    Prune {
        host: String,
        #[arg(long)]
        all: bool,
    },
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    #[arg(long, value_name = "NAME")]
    host: String,
    /// The tag to give the image
    #[arg(short = 't', long = "tag", value_name = "TAG")]
    tag: String,
    /// The Dockerfile, relative to DIR
    #[arg(short = 'f', long = "file", value_name = "NAME")]
    file: Option<String>,
    /// The build context
    dir: std::path::PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// Keep a registry login in the OS keyring (the password from a prompt, or stdin)
    Login {
        server: String,
        #[arg(short, long, value_name = "USER")]
        username: Option<String>,
    },
    /// Forget a registry login
    Logout { server: String },
}

pub fn image_command(ctx: &Ctx, command: ImageCommand) -> Result<ExitCode, Error> {
    match command {
        ImageCommand::Ls { host, across } => ls(ctx, host.as_deref(), across),
        ImageCommand::Pull { host, image } => pull(ctx, &host, &image),
        ImageCommand::Push { source, to } => push_command(ctx, &source, &to),
        ImageCommand::Build(args) => build(ctx, args),
        ImageCommand::Rm { force, images } => rm(ctx, &images, force),
        ImageCommand::Prune { host, all } => prune(ctx, &host, all),
    }
}

fn size(bytes: Option<f64>) -> String {
    bytes.map(|b| human(b as u64)).unwrap_or_else(|| "-".into())
}

/// Bytes as docker prints them (decimal units).
pub fn human(bytes: u64) -> String {
    let b = bytes as f64;
    match bytes {
        0..=999 => format!("{bytes} B"),
        1_000..=999_999 => format!("{:.1} kB", b / 1e3),
        1_000_000..=999_999_999 => format!("{:.1} MB", b / 1e6),
        _ => format!("{:.2} GB", b / 1e9),
    }
}

fn short(id: &str) -> String {
    id.trim_start_matches("sha256:").chars().take(12).collect()
}

fn ls(ctx: &Ctx, host: Option<&str>, across: bool) -> Result<ExitCode, Error> {
    let rows = ctx.store().images(host)?;
    if across {
        let hosts: Vec<String> = ctx.store().hosts()?.into_iter().map(|h| h.name().to_owned()).collect();
        let all = images::across(&rows, &hosts);
        if ctx.json {
            output::json(&all);
        } else {
            let table: Vec<Vec<String>> = all
                .iter()
                .map(|i| {
                    vec![
                        if i.tags.is_empty() { "<none>".into() } else { i.tags.join(", ") },
                        short(&i.id),
                        size(i.size),
                        i.hosts.join(","),
                        if i.lacking.is_empty() { "-".into() } else { i.lacking.join(",") },
                        i.containers.len().to_string(),
                    ]
                })
                .collect();
            output::table(&mut std::io::stdout().lock(), &["TAGS", "IMAGE ID", "SIZE", "ON", "LACKING", "CONTAINERS"], &table);
        }
        return Ok(ExitCode::SUCCESS);
    }
    if ctx.json {
        output::json(&rows);
    } else {
        let table: Vec<Vec<String>> = rows
            .iter()
            .map(|i| {
                vec![
                    i.host.clone(),
                    if i.tags.is_empty() { "<none>".into() } else { i.tags.join(", ") },
                    short(&i.id),
                    i.created.clone().unwrap_or_else(|| "-".into()),
                    size(i.size),
                    i.containers.len().to_string(),
                ]
            })
            .collect();
        output::table(&mut std::io::stdout().lock(), &["HOST", "TAGS", "IMAGE ID", "CREATED", "SIZE", "CONTAINERS"], &table);
    }
    Ok(ExitCode::SUCCESS)
}

/// Print the progress of this command's transfers on stderr until `work` ends: a line when a
/// layer's status changes (docker's words), and on a terminal a running byte count.
async fn with_progress<T>(ctx: &Ctx, work: impl std::future::Future<Output = Result<T, Error>>) -> Result<T, Error> {
    let mut updates = ctx.fleet.transfers().subscribe();
    let terminal = std::io::stderr().is_terminal();
    let printer = async {
        let mut seen: BTreeMap<(u32, String), String> = BTreeMap::new();
        let mut lines_seen: BTreeMap<u32, usize> = BTreeMap::new();
        loop {
            let transfer: Transfer = match updates.recv().await {
                Ok(t) => t,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => return,
            };
            let mut err = std::io::stderr().lock();
            let prefix = if transfer.kind == berth_core::images::TransferKind::Push { format!("{}: ", transfer.host) } else { String::new() };
            for layer in &transfer.layers {
                let key = (transfer.id, layer.id.clone());
                if seen.get(&key) != Some(&layer.status) {
                    if terminal {
                        let _ = write!(err, "\r\x1b[K");
                    }
                    let _ = writeln!(err, "{prefix}{}: {}", layer.id, layer.status);
                    seen.insert(key, layer.status.clone());
                }
            }
            let done = lines_seen.entry(transfer.id).or_default();
            for line in transfer.output.iter().skip(*done) {
                if terminal {
                    let _ = write!(err, "\r\x1b[K");
                }
                let _ = writeln!(err, "{prefix}{line}");
            }
            *done = transfer.output.len();
            if terminal && transfer.state == TransferState::Running {
                let (current, total): (f64, f64) = if transfer.kind == berth_core::images::TransferKind::Push {
                    (transfer.bytes_sent, transfer.bytes_total)
                } else {
                    transfer.layers.iter().fold((0.0, 0.0), |(c, t), l| (c + l.current.unwrap_or(0.0), t + l.total.unwrap_or(0.0)))
                };
                if total > 0.0 {
                    let _ = write!(err, "\r\x1b[K{prefix}{} / {}", human(current as u64), human(total as u64));
                }
            }
        }
    };
    let result = tokio::select! {
        result = work => result,
        () = printer => unreachable!("the printer ends only with the fleet"),
    };
    if terminal {
        eprint!("\r\x1b[K");
    }
    result
}

/// Ask now for the secrets of the named hosts that need one and have no keyring to keep it.
pub fn hosts_for_secrets(ctx: &Ctx, names: &[&str]) -> Result<(), Error> {
    let hosts: Vec<_> = names.iter().filter_map(|n| ctx.store().host(n).ok()).collect();
    prompt::secrets_for_this_run(&hosts)
}

fn pull(ctx: &Ctx, host: &str, image: &str) -> Result<ExitCode, Error> {
    hosts_for_secrets(ctx, &[host])?;
    let made = runtime::start()?.block_on(with_progress(ctx, images::pull(&ctx.fleet, &ctx.op, host, image, |_| {})))?;
    if ctx.json {
        output::json(&made);
    } else {
        println!("{}: pulled {} ({})", made.host, made.image, short(&made.id));
    }
    Ok(ExitCode::SUCCESS)
}

fn push_command(ctx: &Ctx, source: &str, to: &[String]) -> Result<ExitCode, Error> {
    let (host, image) = images::split_host_image(source)?;
    let mut names: Vec<&str> = vec![host.as_str()];
    names.extend(to.iter().map(String::as_str));
    hosts_for_secrets(ctx, &names)?;
    let results = runtime::start()?.block_on(with_progress(ctx, push::push(&ctx.fleet, &ctx.op, &host, &image, to, |_| {})))?;
    let failed = results.iter().any(|r| r.error.is_some());
    if ctx.json {
        output::json(&results);
    } else {
        let table: Vec<Vec<String>> = results
            .iter()
            .map(|r| {
                vec![
                    r.host.clone(),
                    if r.error.is_some() { "failed".into() } else { "ok".into() },
                    r.layers_sent.to_string(),
                    r.layers_skipped.to_string(),
                    human(r.bytes_sent),
                    format!("{:.1}", r.seconds),
                    if r.full_tar { "yes".into() } else { "no".into() },
                ]
            })
            .collect();
        output::table(&mut std::io::stdout().lock(), &["HOST", "RESULT", "LAYERS SENT", "SKIPPED", "BYTES", "SECONDS", "WHOLE IMAGE"], &table);
    }
    for r in &results {
        if let Some(fallback) = &r.fallback {
            eprintln!("berth: {}: {fallback}", r.host);
        }
        if let Some(e) = &r.error {
            eprintln!("berth: {}: {}", r.host, e.message);
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn build(ctx: &Ctx, args: BuildArgs) -> Result<ExitCode, Error> {
    hosts_for_secrets(ctx, &[&args.host])?;
    let work = images::build(&ctx.fleet, &ctx.op, &args.host, &args.tag, &args.dir, args.file.as_deref(), |_| {});
    let made = runtime::start()?.block_on(with_progress(ctx, work))?;
    if ctx.json {
        output::json(&made);
    } else {
        println!("{}: built {} ({})", made.host, made.image, short(&made.id));
    }
    Ok(ExitCode::SUCCESS)
}

fn rm(ctx: &Ctx, targets: &[String], force: bool) -> Result<ExitCode, Error> {
    let parsed: Vec<(String, String)> = targets.iter().map(|t| images::split_host_image(t)).collect::<Result<_, _>>()?;
    hosts_for_secrets(ctx, &parsed.iter().map(|(h, _)| h.as_str()).collect::<Vec<_>>())?;
    let mut failed = false;
    runtime::start()?.block_on(async {
        for (host, image) in &parsed {
            match images::remove(&ctx.fleet, &ctx.op, host, image, force).await {
                Ok(removed) => {
                    for line in &removed.removed {
                        println!("{host}: {}", if line.starts_with("sha256:") { format!("deleted {line}") } else { format!("untagged {line}") });
                    }
                }
                Err(e) => {
                    failed = true;
                    eprintln!("berth: {host}/{image}: {}", crate::errors::message(&e));
                }
            }
        }
    });
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn prune(ctx: &Ctx, host: &str, all: bool) -> Result<ExitCode, Error> {
    hosts_for_secrets(ctx, &[host])?;
    let pruned = runtime::start()?.block_on(images::prune(&ctx.fleet, &ctx.op, host, all))?;
    print_pruned(ctx, host, &pruned);
    Ok(ExitCode::SUCCESS)
}

pub fn print_pruned(ctx: &Ctx, host: &str, pruned: &berth_core::connect::Pruned) {
    if ctx.json {
        output::json(pruned);
    } else {
        for removed in &pruned.removed {
            println!("{host}: removed {removed}");
        }
        println!("{host}: {} removed, {} freed", pruned.removed.len(), human(pruned.bytes));
    }
}

pub fn registry_command(command: RegistryCommand) -> Result<ExitCode, Error> {
    match command {
        RegistryCommand::Login { server, username } => {
            let server = berth_core::credentials::registry_server(&server)?;
            let username = match username {
                Some(u) => u,
                None if std::io::stdin().is_terminal() => {
                    eprint!("Username for {server}: ");
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line).map_err(|source| Error::Io { context: "reading the user name".into(), source })?;
                    line.trim().to_owned()
                }
                None => return Err(Error::InvalidInput { what: "user name", reason: "give --username when the password comes from stdin".into() }),
            };
            let password = prompt::read_secret(&format!("Password for {username} at {server}: "))?;
            berth_core::credentials::registry_login(&server, &username, &password)?;
            println!("Login for {server} kept in the OS keyring (it is sent only to the host that pulls)");
            Ok(ExitCode::SUCCESS)
        }
        RegistryCommand::Logout { server } => {
            let server = berth_core::credentials::registry_server(&server)?;
            if berth_core::credentials::registry_logout(&server)? {
                println!("Forgot the login for {server}");
            } else {
                println!("No login was kept for {server}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `berth cp SRC DST`.
pub fn cp_command(ctx: &Ctx, src: &str, dst: &str) -> Result<ExitCode, Error> {
    let (src, dst) = (Side::parse(src)?, Side::parse(dst)?);
    let container = match (&src, &dst) {
        (Side::Container { container, .. }, _) | (_, Side::Container { container, .. }) => container.clone(),
        _ => return Err(Error::InvalidInput { what: "path", reason: "one side must be CONTAINER:PATH (e.g. sgp/web:/app/conf)".into() }),
    };
    let found = berth_core::containers::find(ctx.store(), &container)?;
    prompt::secrets_for_this_run(std::slice::from_ref(&found.host))?;
    let rt = runtime::start()?;
    let copied = match (&src, &dst) {
        (Side::Container { container, path }, Side::Stdio) => {
            let mut out = std::io::stdout();
            rt.block_on(cp::download_tar(&ctx.fleet, container, path, &mut out))?
        }
        (Side::Stdio, Side::Container { container, path }) => rt.block_on(cp::upload_tar(&ctx.fleet, &ctx.op, container, path, std::io::stdin()))?,
        _ => rt.block_on(cp::cp(&ctx.fleet, &ctx.op, &src, &dst))?,
    };
    if !matches!(dst, Side::Stdio) {
        eprintln!("Copied {} ({})", human(copied.bytes), copied.container);
    }
    Ok(ExitCode::SUCCESS)
}
