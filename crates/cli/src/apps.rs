//! `berth app …` (issue 13, in progress): `apply` stores an app file as a new revision, `ls`
//! lists apps per environment with their replicas desired, running and healthy.

use std::process::ExitCode;

use berth_core::Error;
use clap::Subcommand;

use crate::{output, Ctx};

#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// Store an app file as a new revision (nothing is stored when the file has an error)
    Apply { file: std::path::PathBuf },
    /// Apps per environment: revision, replicas desired, running and healthy (from the mirror)
    Ls,
}

pub fn app_command(ctx: &Ctx, command: AppCommand) -> Result<ExitCode, Error> {
    match command {
        AppCommand::Apply { file } => {
            let applied = berth_core::apps::apply(ctx.store(), &ctx.op, &file)?;
            if ctx.json {
                output::json(&applied);
            } else if applied.new {
                println!("{}: revision {}", applied.app, applied.revision);
            } else {
                println!("{}: unchanged (revision {})", applied.app, applied.revision);
            }
            Ok(ExitCode::SUCCESS)
        }
        AppCommand::Ls => {
            let rows = berth_core::apps::list(ctx.store())?;
            if ctx.json {
                output::json(&rows);
            } else {
                let table: Vec<Vec<String>> = rows
                    .iter()
                    .map(|r| vec![r.name.clone(), r.env.clone(), r.revision.to_string(), r.desired.to_string(), r.running.to_string(), r.healthy.to_string()])
                    .collect();
                output::table(&mut std::io::stdout().lock(), &["APP", "ENV", "REVISION", "DESIRED", "RUNNING", "HEALTHY"], &table);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
