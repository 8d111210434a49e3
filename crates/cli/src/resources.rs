//! `berth network ls|rm|prune` and `berth volume ls|rm|prune`: what the mirror holds and what
//! uses each, and their removal through the core's change path.

use std::process::ExitCode;

use berth_core::images::split_host_object;
use berth_core::{resources, Error};
use clap::Subcommand;

use crate::images::{hosts_for_secrets as secrets, print_pruned};
use crate::{output, runtime, Ctx};

#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// List networks from the mirror, with their containers and addresses (works offline)
    Ls {
        #[arg(long, value_name = "NAME")]
        host: Option<String>,
    },
    /// Remove networks (refused while containers use one; a pool's network goes through IPAM)
    Rm {
        #[arg(required = true, value_name = "HOST/NETWORK")]
        networks: Vec<String>,
    },
    /// Remove a host's networks that no container uses (never a pool's)
    Prune { host: String },
}

#[derive(Debug, Subcommand)]
pub enum VolumeCommand {
    /// List volumes from the mirror, with the containers that mount them (works offline)
    Ls {
        #[arg(long, value_name = "NAME")]
        host: Option<String>,
    },
    /// Remove volumes (refused while containers use one, unless -f)
    Rm {
        #[arg(short, long)]
        force: bool,
        #[arg(required = true, value_name = "HOST/VOLUME")]
        volumes: Vec<String>,
    },
    /// Remove a host's volumes that no container uses
    Prune { host: String },
}

pub fn network_command(ctx: &Ctx, command: NetworkCommand) -> Result<ExitCode, Error> {
    match command {
        NetworkCommand::Ls { host } => {
            let rows = resources::networks(ctx.store(), host.as_deref())?;
            if ctx.json {
                output::json(&rows);
            } else {
                let table: Vec<Vec<String>> = rows
                    .iter()
                    .map(|n| {
                        let users: Vec<String> = n
                            .containers
                            .iter()
                            .map(|c| match &c.ip {
                                Some(ip) => format!("{} {ip}", c.container),
                                None => c.container.clone(),
                            })
                            .collect();
                        vec![
                            n.host.clone(),
                            n.name.clone(),
                            n.driver.clone().unwrap_or_default(),
                            if n.subnets.is_empty() { "-".into() } else { n.subnets.join(",") },
                            n.pool.clone().unwrap_or_else(|| "-".into()),
                            if users.is_empty() { "-".into() } else { users.join(", ") },
                        ]
                    })
                    .collect();
                output::table(&mut std::io::stdout().lock(), &["HOST", "NAME", "DRIVER", "SUBNETS", "POOL", "CONTAINERS"], &table);
            }
            Ok(ExitCode::SUCCESS)
        }
        NetworkCommand::Rm { networks } => {
            let parsed: Vec<(String, String)> = networks.iter().map(|n| split_host_object(n, "network", "sgp/shopnet")).collect::<Result<_, _>>()?;
            secrets(ctx, &parsed.iter().map(|(h, _)| h.as_str()).collect::<Vec<_>>())?;
            let mut failed = false;
            runtime::start()?.block_on(async {
                for (host, name) in &parsed {
                    match resources::remove_network(&ctx.fleet, &ctx.op, host, name).await {
                        Ok(()) => println!("{host}: removed network {name}"),
                        Err(e) => {
                            failed = true;
                            eprintln!("berth: {host}/{name}: {}", crate::errors::message(&e));
                        }
                    }
                }
            });
            Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
        }
        NetworkCommand::Prune { host } => {
            secrets(ctx, &[&host])?;
            let pruned = runtime::start()?.block_on(resources::prune_networks(&ctx.fleet, &ctx.op, &host))?;
            print_pruned(ctx, &host, &pruned);
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub fn volume_command(ctx: &Ctx, command: VolumeCommand) -> Result<ExitCode, Error> {
    match command {
        VolumeCommand::Ls { host } => {
            let rows = resources::volumes(ctx.store(), host.as_deref())?;
            if ctx.json {
                output::json(&rows);
            } else {
                let table: Vec<Vec<String>> = rows
                    .iter()
                    .map(|v| {
                        vec![
                            v.host.clone(),
                            v.name.clone(),
                            v.driver.clone().unwrap_or_default(),
                            if v.containers.is_empty() { "-".into() } else { v.containers.join(", ") },
                        ]
                    })
                    .collect();
                output::table(&mut std::io::stdout().lock(), &["HOST", "NAME", "DRIVER", "CONTAINERS"], &table);
            }
            Ok(ExitCode::SUCCESS)
        }
        VolumeCommand::Rm { force, volumes } => {
            let parsed: Vec<(String, String)> = volumes.iter().map(|v| split_host_object(v, "volume", "sgp/shopdata")).collect::<Result<_, _>>()?;
            secrets(ctx, &parsed.iter().map(|(h, _)| h.as_str()).collect::<Vec<_>>())?;
            let mut failed = false;
            runtime::start()?.block_on(async {
                for (host, name) in &parsed {
                    match resources::remove_volume(&ctx.fleet, &ctx.op, host, name, force).await {
                        Ok(()) => println!("{host}: removed volume {name}"),
                        Err(e) => {
                            failed = true;
                            eprintln!("berth: {host}/{name}: {}", crate::errors::message(&e));
                        }
                    }
                }
            });
            Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
        }
        VolumeCommand::Prune { host } => {
            secrets(ctx, &[&host])?;
            let pruned = runtime::start()?.block_on(resources::prune_volumes(&ctx.fleet, &ctx.op, &host))?;
            print_pruned(ctx, &host, &pruned);
            Ok(ExitCode::SUCCESS)
        }
    }
}
