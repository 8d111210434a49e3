//! `berth start|stop|restart|kill|pause|unpause|rm CONTAINER...`: the container verbs, docker-like,
//! through the core's one change path (recorded, sent once, written back to the mirror).

use std::process::ExitCode;

use berth_core::containers::{self, ActOptions, ContainerAction};
use berth_core::time::rfc3339_ms;
use berth_core::Error;
use clap::Args;

use crate::{output, prompt, runtime, Ctx};

pub use berth_core::containers::ContainerAction as Verb;

#[derive(Debug, Args)]
pub struct Targets {
    /// Id, id prefix, name, or HOST/NAME (several: each in turn)
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct StopArgs {
    /// Seconds to wait for it to stop before killing it
    #[arg(short = 't', long = "time", value_name = "SECONDS", allow_negative_numbers = true)]
    pub time: Option<i32>,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

impl StopArgs {
    pub fn options(&self) -> ActOptions {
        ActOptions { grace_s: self.time, signal: None }
    }
}

#[derive(Debug, Args)]
pub struct KillArgs {
    /// The signal to send (name or number)
    #[arg(short = 's', long = "signal", value_name = "SIGNAL")]
    pub signal: Option<String>,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

impl KillArgs {
    pub fn options(&self) -> ActOptions {
        ActOptions { grace_s: None, signal: self.signal.clone() }
    }
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Remove it even while it runs
    #[arg(short, long)]
    pub force: bool,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// Apply `verb` to each container in turn. Exit 0 when every one reached the asked state
/// (Docker's own rule: starting a running container is fine), else 1 with a line per failure.
pub fn act(ctx: &Ctx, verb: ContainerAction, names: &[String], options: ActOptions) -> Result<ExitCode, Error> {
    let mut found = Vec::new();
    let mut failed = false;
    for name in names {
        match containers::find(ctx.store(), name) {
            Ok(f) => found.push((name, f)),
            Err(e) => {
                failed = true;
                eprintln!("berth: {name}: {}", crate::errors::message(&e));
            }
        }
    }
    let hosts: Vec<_> = found.iter().map(|(_, f)| f.host.clone()).collect();
    prompt::secrets_for_this_run(&hosts)?;
    let results = runtime::start()?.block_on(async {
        let mut results = Vec::new();
        for (name, f) in &found {
            let result = containers::act(&ctx.fleet, &ctx.op, f.host.name(), &f.id, verb, &options).await;
            results.push((name.as_str(), f, result));
        }
        results
    });
    let mut report = Vec::new();
    for (name, f, result) in results {
        match &result {
            Ok(()) if !ctx.json => println!("{name}"),
            Ok(()) => {}
            Err(e) => {
                failed = true;
                eprintln!("berth: {name}: {}", crate::errors::message(e));
            }
        }
        report.push(serde_json::json!({"container": name, "host": f.host.name(), "id": f.id, "ok": result.is_ok(),
            "error": result.as_ref().err().map(|e| e.to_string())}));
    }
    if ctx.json {
        output::json(&report);
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// Remove each container; its leases go into quarantine.
pub fn rm(ctx: &Ctx, args: &RmArgs) -> Result<ExitCode, Error> {
    let mut failed = false;
    let mut removed = Vec::new();
    let runtime = runtime::start()?;
    for name in &args.containers {
        let result = containers::find(ctx.store(), name).and_then(|found| {
            prompt::secrets_for_this_run(std::slice::from_ref(&found.host))?;
            runtime.block_on(containers::remove(&ctx.fleet, &ctx.op, &found, args.force))
        });
        match result {
            Ok(r) => {
                if !ctx.json {
                    println!("removed {}/{}", r.host, r.name);
                    for a in &r.released {
                        match a.until_ms {
                            Some(until) => println!("released {} of pool {} into quarantine until {}", a.ip, a.pool, rfc3339_ms(until)),
                            None => println!("released {} of pool {}", a.ip, a.pool),
                        }
                    }
                }
                removed.push(r);
            }
            Err(e) => {
                failed = true;
                eprintln!("berth: {name}: {}", crate::errors::message(&e));
            }
        }
    }
    if ctx.json {
        // One container: its object, as before; several: a list.
        match removed.as_slice() {
            [one] if args.containers.len() == 1 => output::json(one),
            _ => output::json(&removed),
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
