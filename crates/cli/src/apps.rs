//! `berth app …`: store app files as revisions, plan, deploy, watch, scale, roll back and remove
//! their environments, read their history, and rebuild them from the hosts' labels.

use std::process::ExitCode;

use berth_core::apps::plan::AppPlan;
use berth_core::apps::rollout::{self, DeployOptions, Progress, RolloutOutcome, StepState};
use berth_core::apps::status;
use berth_core::Error;
use clap::{Args, Subcommand};

use crate::{output, prompt, runtime, Ctx};

#[derive(Debug, Args)]
pub struct Target {
    pub name: String,
    /// The environment (an `[env.NAME]` of the app file; `default` when it has none)
    #[arg(long, value_name = "E", default_value = "default")]
    pub env: String,
}

#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// Store an app file as a new revision (nothing is stored when the file has an error)
    Apply { file: std::path::PathBuf },
    /// Apps per environment: revision, replicas desired, running and healthy (from the mirror),
    /// and compose projects beside them
    Ls,
    /// Where each replica would go, and why every other host is not used (changes nothing)
    Plan(Target),
    /// Roll the latest revision out: create, repair, update in batches gated on health;
    /// exit 0 when every replica is healthy on it, 1 after a rollback or a failure
    Deploy(Target),
    /// Each replica against what the environment is meant to run, with drift
    Status(Target),
    /// Set the number of replicas (down releases addresses into quarantine)
    Scale {
        #[command(flatten)]
        target: Target,
        #[arg(value_parser = clap::value_parser!(u32).range(0..=100_000))]
        replicas: u32,
    },
    /// Go back to the previous revision (or --to one of the last ones)
    Rollback {
        #[command(flatten)]
        target: Target,
        #[arg(long, value_name = "REVISION")]
        to: Option<i64>,
    },
    /// Every change to an app, from the audit log, newest first
    History { name: String },
    /// Remove an environment's containers (addresses into quarantine); the revisions stay
    Rm(Target),
    /// Read the apps back from the hosts' labels after the store was lost (run `berth ipam rebuild` first)
    Rebuild,
    /// Store a secret an app file names as `keyring:NAME` in the OS keyring (the value is read from stdin)
    Secret { name: String },
}

pub fn app_command(ctx: &Ctx, command: AppCommand) -> Result<ExitCode, Error> {
    let (store, json) = (ctx.store(), ctx.json);
    match command {
        AppCommand::Apply { file } => {
            let applied = berth_core::apps::apply(store, &ctx.op, &file)?;
            if json {
                output::json(&applied);
            } else if applied.new {
                println!("{}: revision {}", applied.app, applied.revision);
            } else {
                println!("{}: unchanged (revision {})", applied.app, applied.revision);
            }
            Ok(ExitCode::SUCCESS)
        }
        AppCommand::Ls => {
            let rows = berth_core::apps::list(store)?;
            if json {
                output::json(&rows);
            } else {
                let table: Vec<Vec<String>> = rows
                    .iter()
                    .map(|r| {
                        let revision = match (r.kind.as_str(), r.deployed) {
                            ("compose", _) => "compose".to_owned(),
                            (_, Some(d)) if d != r.revision => format!("{d} (latest {})", r.revision),
                            (_, Some(d)) => d.to_string(),
                            (_, None) => format!("{} (not deployed)", r.revision),
                        };
                        vec![r.name.clone(), r.env.clone(), revision, r.desired.to_string(), r.running.to_string(), r.healthy.to_string()]
                    })
                    .collect();
                output::table(&mut std::io::stdout().lock(), &["APP", "ENV", "REVISION", "DESIRED", "RUNNING", "HEALTHY"], &table);
            }
            Ok(ExitCode::SUCCESS)
        }
        AppCommand::Plan(target) => {
            let plan = berth_core::apps::plan::plan(store, &target.name, &target.env, None)?;
            if json {
                output::json(&plan);
            } else {
                print_plan(&plan);
            }
            Ok(if plan.unplaced > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
        }
        AppCommand::Deploy(target) => rollout_command(ctx, &target, DeployOptions { action: "deploy", ..Default::default() }),
        AppCommand::Scale { target, replicas } => {
            rollout_command(ctx, &target, DeployOptions { action: "scale", replicas: Some(replicas), ..Default::default() })
        }
        AppCommand::Rollback { target, to } => rollout_command(ctx, &target, DeployOptions { action: "rollback", revision: to, ..Default::default() }),
        AppCommand::Status(target) => {
            let status = status::status(store, &target.name, &target.env)?;
            if json {
                output::json(&status);
            } else {
                let meant = status.revision.map_or("not deployed".to_owned(), |r| format!("revision {r}"));
                println!("{} ({}): {meant}, {} replicas (latest revision {})", status.app, status.env, status.desired, status.latest);
                let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
                let table: Vec<Vec<String>> = status
                    .replicas
                    .iter()
                    .map(|r| {
                        vec![
                            r.replica.to_string(),
                            dash(&r.host),
                            dash(&r.container),
                            dash(&r.ip),
                            dash(&r.mac),
                            r.revision.map_or("-".into(), |v| v.to_string()),
                            r.state.clone(),
                            dash(&r.health),
                            dash(&r.drift),
                        ]
                    })
                    .collect();
                output::table(&mut std::io::stdout().lock(), &["REPLICA", "HOST", "CONTAINER", "IP", "MAC", "REVISION", "STATE", "HEALTH", "DRIFT"], &table);
                for (revision, count) in &status.kept {
                    println!("kept for rollback: {count} stopped container(s) of revision {revision}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        AppCommand::History { name } => {
            let entries = status::history(store, &name)?;
            if json {
                output::json(&entries);
            } else {
                let table: Vec<Vec<String>> = entries
                    .iter()
                    .map(|e| {
                        vec![
                            e.time.clone(),
                            e.action.clone(),
                            e.env.clone().unwrap_or_else(|| "-".into()),
                            e.revision.map_or("-".into(), |r| r.to_string()),
                            e.outcome.clone(),
                            e.actor.clone(),
                            e.error.clone().unwrap_or_default(),
                        ]
                    })
                    .collect();
                output::table(&mut std::io::stdout().lock(), &["TIME", "ACTION", "ENV", "REVISION", "OUTCOME", "ACTOR", "ERROR"], &table);
            }
            Ok(ExitCode::SUCCESS)
        }
        AppCommand::Rm(target) => {
            let hosts = involved_hosts(ctx, &target)?;
            prompt::secrets_for_this_run(&hosts)?;
            let removed = runtime::start()?.block_on(rollout::remove(&ctx.fleet, &ctx.op, &target.name, &target.env))?;
            if json {
                output::json(&removed);
            } else {
                for r in &removed {
                    let released: Vec<&str> = r.released.iter().map(|a| a.ip.as_str()).collect();
                    if released.is_empty() {
                        println!("removed {}/{}", r.host, r.name);
                    } else {
                        println!("removed {}/{} ({} into quarantine)", r.host, r.name, released.join(", "));
                    }
                }
                println!("{} ({}): removed {} container(s)", target.name, target.env, removed.len());
            }
            Ok(ExitCode::SUCCESS)
        }
        AppCommand::Rebuild => {
            let report = status::rebuild(store, &ctx.op)?;
            if json {
                output::json(&report);
            } else {
                for (app, revision) in &report.revisions {
                    println!("revision {revision} of {app} read back");
                }
                for (app, env, revision, replicas) in &report.deployments {
                    println!("{app} ({env}): revision {revision}, {replicas} replicas");
                }
                for c in &report.unreadable {
                    println!("{c}: app labels without the app file label (made by an older Berth); cannot be rebuilt");
                }
                if report.revisions.is_empty() && report.deployments.is_empty() {
                    println!("nothing to rebuild: the store has every app the hosts' labels name");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        AppCommand::Secret { name } => {
            let value = prompt::read_secret(&format!("value of {name} (not shown): "))?;
            berth_core::credentials::store_app_secret(&name, &value)?;
            if !json {
                println!("stored {name} in the OS keyring");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
/// The hosts a rollout of `target` may talk to: those of the pools it may use and those its
/// containers run on.
fn involved_hosts(ctx: &Ctx, target: &Target) -> Result<Vec<berth_core::model::Host>, Error> {
    let store = ctx.store();
    let mut names: Vec<String> = berth_core::apps::plan::containers(store, &target.name, &target.env)?.into_iter().map(|s| s.host).collect();
    if let Ok((_, effective)) = berth_core::apps::plan::revision(store, &target.name, &target.env, None) {
        for pool in &effective.pools {
            if let Ok(spec) = store.pool(pool) {
                names.extend(spec.hosts.iter().map(|h| h.host.clone()));
            }
        }
    }
    names.sort();
    names.dedup();
    Ok(names.iter().filter_map(|n| store.host(n).ok()).collect())
}

fn print_plan(plan: &AppPlan) {
    println!("{} ({}): revision {}, {} replicas", plan.app, plan.env, plan.revision, plan.replicas);
    let table: Vec<Vec<String>> = plan
        .placements
        .iter()
        .map(|p| vec![p.replica.to_string(), p.host.clone(), p.pool.clone(), p.ip.clone(), if p.existing { "kept".into() } else { "new".into() }])
        .collect();
    output::table(&mut std::io::stdout().lock(), &["REPLICA", "HOST", "POOL", "IP", ""], &table);
    for r in &plan.rejected {
        println!("not used: {}: {}", r.host, r.reasons.join("; "));
    }
    if plan.unplaced > 0 {
        println!("{} of {} replicas find no place", plan.unplaced, plan.replicas);
    }
    for replica in &plan.remove {
        println!("to remove: replica {replica}");
    }
}

fn rollout_command(ctx: &Ctx, target: &Target, mut options: DeployOptions) -> Result<ExitCode, Error> {
    let hosts = involved_hosts(ctx, target)?;
    prompt::secrets_for_this_run(&hosts)?;
    let json = ctx.json;
    // A deploy shows the plan it runs before it runs it, and runs only that plan.
    let shown = options.action == "deploy" && !json;
    if shown {
        let plan = berth_core::apps::plan::plan(ctx.store(), &target.name, &target.env, None)?;
        print_plan(&plan);
        let _ = std::io::Write::flush(&mut std::io::stdout());
        if plan.unplaced == 0 {
            options.expect = Some(plan.placements);
        }
    }
    let say = move |p: Progress| {
        if json {
            return;
        }
        let state = match p.state {
            StepState::Started => "",
            StepState::Done => " done",
            StepState::Failed => " FAILED",
        };
        let detail = p.detail.map(|d| format!(": {d}")).unwrap_or_default();
        eprintln!("replica {} on {}: {}{state}{detail}", p.replica, p.host, p.step.as_str());
    };
    let outcome: RolloutOutcome = runtime::start()?.block_on(rollout::deploy(&ctx.fleet, &ctx.op, &target.name, &target.env, &options, &say))?;
    if json {
        output::json(&outcome);
    } else {
        if !shown {
            print_plan(&outcome.plan);
        }
        match &outcome.failed {
            None => println!(
                "{} ({}): {} replicas healthy on revision {} ({} created, {} updated, {} repaired, {} unchanged, {} removed)",
                outcome.app,
                outcome.env,
                outcome.plan.replicas,
                outcome.revision,
                outcome.created,
                outcome.updated,
                outcome.repaired,
                outcome.unchanged,
                outcome.removed
            ),
            Some(f) => {
                let back = match (outcome.rolled_back, outcome.previous) {
                    _ if !outcome.undo_problems.is_empty() => "; the undo could not put everything back:".to_owned(),
                    (true, Some(p)) => format!("; every replica is back on revision {p}"),
                    (true, None) => "; what it made was removed".to_owned(),
                    (false, _) => "; the rollout stopped there (failure_action = \"pause\")".to_owned(),
                };
                eprintln!("error: {f}{back}");
                for problem in &outcome.undo_problems {
                    eprintln!("  {problem}");
                }
            }
        }
    }
    Ok(if outcome.ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
