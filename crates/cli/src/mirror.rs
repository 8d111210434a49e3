//! `berth ps`, `berth inspect` and `berth events`: reads of the mirror, which answer with every
//! host unreachable.

use std::process::ExitCode;

use berth_core::store::{ContainerFilter, EventQuery, Store};
use berth_core::Error;
use chrono::Utc;
use clap::Args;

use crate::output;

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show all containers, not only running ones
    #[arg(short, long)]
    all: bool,
    #[arg(long, value_name = "NAME")]
    host: Option<String>,
    /// name=, image=, state=, label=KEY[=VALUE], ip= (repeatable)
    #[arg(long = "filter", short = 'f', value_name = "KEY=VALUE")]
    filters: Vec<String>,
}

pub fn ps_command(store: &Store, args: PsArgs, json: bool) -> Result<ExitCode, Error> {
    let mut filter = ContainerFilter { all: args.all, host: args.host, ..Default::default() };
    for spec in &args.filters {
        filter.add(spec)?;
    }
    let rows = store.containers(&filter)?;
    if json {
        output::json(&rows);
    } else {
        output::containers_table(&mut std::io::stdout().lock(), &rows, &store.host_summaries()?, Utc::now());
    }
    Ok(ExitCode::SUCCESS)
}

pub fn inspect_command(store: &Store, container: &str) -> Result<ExitCode, Error> {
    let (_, _, inspect) = store.container_inspect(container)?;
    let value: serde_json::Value = serde_json::from_str(&inspect).unwrap_or(serde_json::Value::String(inspect));
    output::json(&value);
    Ok(ExitCode::SUCCESS)
}

pub fn events_command(store: &Store, host: Option<String>, since: Option<String>, limit: i64, json: bool) -> Result<ExitCode, Error> {
    let since_ns = since.map(|s| berth_core::time::parse_since(&s, Utc::now())).transpose()?;
    let rows = store.events(&EventQuery { host, since_ns, limit })?;
    if json {
        output::json(&rows);
    } else {
        output::events_table(&mut std::io::stdout().lock(), &rows);
    }
    Ok(ExitCode::SUCCESS)
}
