//! `berth stats`: containers' CPU, memory, network, block IO and pids, as `docker stats` shows
//! them, from every host (or `--host`) side by side; `--no-stream` once, else every
//! [`STREAM_EVERY`] with the follower keeping the container list true meanwhile.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use berth_core::model::Host;
use berth_core::monitor::live::{self, StatsRow};
use berth_core::monitor::sample::Sampler;
use berth_core::Error;
use clap::Args;

use crate::{output, prompt, runtime, Ctx};

/// Between two screens of `berth stats` without `--no-stream`.
pub const STREAM_EVERY: Duration = Duration::from_secs(2);

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Only this host's containers
    #[arg(long, value_name = "NAME")]
    pub host: Option<String>,
    /// Print one sample and exit (two readings half a second apart, for the CPU %)
    #[arg(long)]
    pub no_stream: bool,
    /// The figures kept over this time back (10m, 2h, 1d, or an RFC 3339 time) for one
    /// container, from the store (works offline)
    #[arg(long, value_name = "WHEN")]
    pub history: Option<String>,
    /// Read through the Engine API even where the cgroup files can be read on the host
    #[arg(long)]
    pub api: bool,
    /// Containers: ids, id prefixes, names or HOST/NAME [default: every running one]
    pub containers: Vec<String>,
}

/// docker's binary sizes (`48.83MiB`, `7.771GiB`).
pub fn binary_size(bytes: u64) -> String {
    size(bytes, 1024.0, &["B", "KiB", "MiB", "GiB", "TiB", "PiB"])
}

/// docker's decimal sizes (`1.01kB`, `4.1MB`).
pub fn decimal_size(bytes: u64) -> String {
    size(bytes, 1000.0, &["B", "kB", "MB", "GB", "TB", "PB"])
}

fn size(bytes: u64, base: f64, units: &[&str]) -> String {
    let (mut value, mut unit) = (bytes as f64, 0);
    while value >= base && unit < units.len() - 1 {
        value /= base;
        unit += 1;
    }
    format!("{}{}", four_digits(value), units[unit])
}

/// Go's `%.4g`: four significant digits, no trailing zeros.
fn four_digits(value: f64) -> String {
    if value == 0.0 {
        return "0".into();
    }
    let decimals = (3 - value.abs().log10().floor() as i32).max(0) as usize;
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

/// The rows as `docker stats` lays them out; false when standard output is closed.
fn print_rows(rows: &[StatsRow], clear: bool) -> bool {
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            let r = &row.figures;
            vec![
                row.host.clone(),
                row.id.chars().take(12).collect(),
                row.name.clone(),
                format!("{:.2}%", r.cpu_percent),
                format!("{} / {}", binary_size(r.mem_used), binary_size(r.mem_limit)),
                format!("{:.2}%", r.mem_percent),
                format!("{} / {}", decimal_size(r.net_rx), decimal_size(r.net_tx)),
                format!("{} / {}", decimal_size(r.blk_read), decimal_size(r.blk_write)),
                r.pids.to_string(),
                row.source.as_str().to_owned(),
            ]
        })
        .collect();
    let mut out = std::io::stdout().lock();
    if clear {
        let _ = write!(out, "\x1b[2J\x1b[H");
    }
    output::table(&mut out, &["HOST", "CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O", "BLOCK I/O", "PIDS", "SOURCE"], &table);
    out.flush().is_ok()
}

/// Every host's sample side by side; a host that fails is said on stderr (and fails the
/// command), the others are shown.
async fn sample_all(ctx: &Ctx, hosts: &[Host], samplers: &mut [Sampler], wanted: &[String], first: bool, told: &mut Vec<String>) -> (Vec<StatsRow>, bool) {
    let results = futures_util::future::join_all(hosts.iter().zip(samplers.iter_mut()).map(|(host, sampler)| {
        let fleet = Arc::clone(&ctx.fleet);
        let host_name = host.name().to_owned();
        let pick = move |id: &str, name: &str| live::wanted(&host_name, id, name, wanted);
        async move {
            let result = if first { live::sample_now(&fleet, host, sampler, &pick).await } else { live::tick(&fleet, host, sampler, &pick).await };
            (host.name().to_owned(), result, sampler.fallback.clone())
        }
    }))
    .await;
    let (mut rows, mut failed) = (Vec::new(), false);
    for (host, result, fallback) in results {
        if let Some(why) = fallback.filter(|w| !told.contains(w)) {
            eprintln!("{host}: {why}");
            told.push(why);
        }
        match result {
            Ok(found) => rows.extend(found),
            Err(e) => {
                failed = true;
                eprintln!("berth: {host}: {}", crate::errors::message(&e));
            }
        }
    }
    (rows, failed)
}

/// `berth stats --history WHEN CONTAINER`: the kept points, oldest first, from the store.
fn history_command(ctx: &Ctx, since: &str, args: &StatsArgs) -> Result<ExitCode, Error> {
    let [container] = args.containers.as_slice() else {
        return Err(Error::InvalidInput { what: "container", reason: "--history shows one container: name it (an id, a name or HOST/NAME)".into() });
    };
    let now = chrono::Utc::now();
    let since_ms = berth_core::time::parse_since(since, now)? / 1_000_000;
    let query = match &args.host {
        Some(host) if !container.contains('/') => format!("{host}/{container}"),
        _ => container.clone(),
    };
    let history = ctx.store().history(&query, since_ms, now.timestamp_millis())?;
    if ctx.json {
        output::json(&history.points);
        return Ok(ExitCode::SUCCESS);
    }
    println!("{}/{} ({}), a point every {} s", history.host, history.name, history.container.chars().take(12).collect::<String>(), history.step_s);
    let table: Vec<Vec<String>> = history
        .points
        .iter()
        .map(|p| {
            vec![
                p.time.clone(),
                format!("{:.2}% ({:.2}–{:.2})", p.cpu_percent, p.cpu_min, p.cpu_max),
                format!("{} ({}–{})", binary_size(p.mem_used as u64), binary_size(p.mem_min as u64), binary_size(p.mem_max as u64)),
                binary_size(p.mem_limit as u64),
                format!("{} / {}", decimal_size(p.net_rx as u64), decimal_size(p.net_tx as u64)),
                format!("{} / {}", decimal_size(p.blk_read as u64), decimal_size(p.blk_write as u64)),
                p.pids.to_string(),
            ]
        })
        .collect();
    output::table(&mut std::io::stdout().lock(), &["TIME", "CPU % (MIN–MAX)", "MEM USED (MIN–MAX)", "LIMIT", "NET I/O", "BLOCK I/O", "PIDS"], &table);
    Ok(ExitCode::SUCCESS)
}

pub fn stats_command(ctx: &Ctx, args: StatsArgs) -> Result<ExitCode, Error> {
    if let Some(since) = &args.history {
        return history_command(ctx, since, &args);
    }
    let store = ctx.store();
    let hosts: Vec<Host> = match &args.host {
        Some(name) => vec![store.host(name)?],
        None => store.hosts()?,
    };
    if hosts.is_empty() {
        return Err(Error::InvalidInput { what: "host list", reason: "no hosts yet; add one with `berth host add NAME URL`".into() });
    }
    prompt::secrets_for_this_run(&hosts)?;
    let runtime = runtime::start()?;
    let json = ctx.json;
    let mut samplers: Vec<Sampler> = hosts.iter().map(|_| Sampler::new(args.api)).collect();
    let mut told = Vec::new();
    if args.no_stream {
        let (rows, failed) = runtime.block_on(sample_all(ctx, &hosts, &mut samplers, &args.containers, true, &mut told));
        if !args.containers.is_empty() && rows.is_empty() && !failed {
            return Err(Error::InvalidInput {
                what: "container",
                reason: format!("no running container matches {}; `berth ps` lists them", args.containers.join(", ")),
            });
        }
        if json {
            output::json(&rows);
        } else {
            print_rows(&rows, false);
        }
        return Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS });
    }
    let clear = !json && std::io::stdout().is_terminal();
    runtime.block_on(async {
        // The follower keeps the list of running containers true while the screens go by.
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        let follower = tokio::spawn(berth_core::sync::follow_all(Arc::clone(&ctx.fleet), hosts.clone(), shutdown));
        let mut first = true;
        loop {
            let (rows, _) = sample_all(ctx, &hosts, &mut samplers, &args.containers, first, &mut told).await;
            first = false;
            if json {
                let mut out = std::io::stdout().lock();
                // A closed pipe (`berth --json stats | head -3`) ends the command quietly.
                if writeln!(out, "{}", serde_json::to_string(&rows).expect("rows serialise")).and_then(|()| out.flush()).is_err() {
                    break;
                }
            } else if !print_rows(&rows, clear) {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(STREAM_EVERY) => {}
                _ = tokio::signal::ctrl_c() => break,
            }
        }
        let _ = stop.send(true);
        let _ = follower.await;
    });
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_docker_prints_them() {
        assert_eq!(binary_size(51_200_000), "48.83MiB");
        assert_eq!(binary_size(8_344_023_040), "7.771GiB");
        assert_eq!(binary_size(0), "0B");
        assert_eq!(binary_size(1023), "1023B");
        assert_eq!(decimal_size(1006), "1.006kB");
        assert_eq!(decimal_size(4_096), "4.096kB");
        assert_eq!(decimal_size(12_000_000), "12MB");
    }
}

/// `berth alerts [--all]`: the open alerts (or every one kept), newest first.
pub fn alerts_command(ctx: &Ctx, all: bool) -> Result<ExitCode, Error> {
    let alerts = ctx.store().alerts(all)?;
    if ctx.json {
        output::json(&alerts);
        return Ok(ExitCode::SUCCESS);
    }
    let table: Vec<Vec<String>> = alerts
        .iter()
        .map(|a| {
            let state = match (a.open, a.acked, &a.muted_until) {
                (false, ..) => "closed".to_owned(),
                (true, _, Some(until)) => format!("muted until {until}"),
                (true, true, None) => "acknowledged".to_owned(),
                (true, false, None) => "open".to_owned(),
            };
            vec![a.id.to_string(), a.time.clone(), a.host.clone(), a.container.clone().unwrap_or_else(|| "-".into()), a.kind.clone(), a.detail.clone(), state]
        })
        .collect();
    output::table(&mut std::io::stdout().lock(), &["ID", "TIME", "HOST", "CONTAINER", "KIND", "DETAIL", "STATE"], &table);
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, clap::Subcommand)]
pub enum AlertCommand {
    /// Rules: thresholds from the history, and how long a host may be offline
    #[command(subcommand)]
    Rule(RuleCommand),
    /// Acknowledge an alert: someone is on it (it stays open until its condition clears)
    Ack { id: i64 },
    /// Acknowledge an alert and send no notification for it for a while
    Mute {
        id: i64,
        /// How long (10m, 2h, 1d)
        #[arg(long = "for", value_name = "DURATION", default_value = "1h")]
        duration: String,
    },
}

pub fn alert_command(ctx: &Ctx, command: AlertCommand) -> Result<ExitCode, Error> {
    let (id, until) = match command {
        AlertCommand::Rule(rule) => return rule_command(ctx, rule),
        AlertCommand::Ack { id } => (id, None),
        AlertCommand::Mute { id, duration } => {
            let how_long = humantime::parse_duration(duration.trim())
                .map_err(|e| Error::InvalidInput { what: "--for", reason: format!("{duration:?} is not a duration ({e}); write it like 10m or 2h") })?;
            if how_long > Duration::from_secs(366 * 24 * 3600) {
                return Err(Error::InvalidInput { what: "--for", reason: format!("{duration} is more than a year; acknowledge it instead") });
            }
            (id, Some(chrono::Utc::now().timestamp_millis() + how_long.as_millis() as i64))
        }
    };
    let alert = ctx.store().ack_alert(id, until)?;
    if ctx.json {
        output::json(&alert);
    } else {
        println!("alert {}: {}", alert.id, alert.muted_until.map_or("acknowledged".to_owned(), |u| format!("muted until {u}")));
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, clap::Args)]
pub struct RuleAdd {
    /// Alert when CPU stays above this percentage (of one CPU for a container, of the host's CPUs for a host)
    #[arg(long, value_name = "PERCENT", group = "what")]
    pub cpu: Option<f64>,
    /// Alert when memory stays above this percentage (of the limit, or of the host's memory)
    #[arg(long, value_name = "PERCENT", group = "what")]
    pub memory: Option<f64>,
    /// Alert when a host stays unreachable (replaces the default of 2 minutes)
    #[arg(long, group = "what")]
    pub host_offline: bool,
    /// For how long (30s, 5m, 1h)
    #[arg(long = "for", value_name = "DURATION")]
    pub duration: String,
    /// Watch one container (by name, on any host)
    #[arg(long, value_name = "NAME", group = "scope")]
    pub container: Option<String>,
    /// Watch one app's replicas (their average) or compose project
    #[arg(long, value_name = "NAME", group = "scope")]
    pub app: Option<String>,
    /// Watch one host (all its containers together)
    #[arg(long, value_name = "NAME", group = "scope")]
    pub host: Option<String>,
    /// Run this command (sh -c) for each alert the rule raises, the alert as JSON in BERTH_ALERT
    #[arg(long, value_name = "CMD")]
    pub command: Option<String>,
}

#[derive(Debug, clap::Subcommand)]
pub enum RuleCommand {
    /// Add a rule: a threshold from the history or a host offline for a while
    Add(RuleAdd),
    /// The rules
    Ls,
    /// Remove a rule
    Rm { id: i64 },
}

pub fn rule_command(ctx: &Ctx, command: RuleCommand) -> Result<ExitCode, Error> {
    let bad = |what: &'static str, reason: String| Error::InvalidInput { what, reason };
    match command {
        RuleCommand::Add(add) => {
            let (kind, threshold) = match (add.cpu, add.memory, add.host_offline) {
                (Some(p), None, false) => ("cpu", Some(p)),
                (None, Some(p), false) => ("memory", Some(p)),
                (None, None, true) => ("host_offline", None),
                _ => return Err(bad("alert rule", "say what to watch: --cpu PERCENT, --memory PERCENT or --host-offline".into())),
            };
            if let Some(p) = threshold {
                let most = if kind == "cpu" { 100_000.0 } else { 100.0 };
                if !(p.is_finite() && p > 0.0 && p <= most) {
                    return Err(bad("alert rule", format!("{p} is not a percentage between 0 and {most}")));
                }
            }
            let every = humantime::parse_duration(add.duration.trim())
                .map_err(|e| bad("--for", format!("{:?} is not a duration ({e}); write it like 30s or 5m", add.duration)))?;
            if every < Duration::from_secs(10) || every > Duration::from_secs(30 * 24 * 3600) {
                return Err(bad("--for", format!("{} is outside 10s to 30 days", add.duration)));
            }
            let (scope, name) = match (add.container, add.app, add.host) {
                (Some(c), ..) => ("container", Some(c)),
                (_, Some(a), _) => ("app", Some(a)),
                (.., Some(h)) => ("host", Some(h)),
                _ => (if kind == "host_offline" { "host" } else { "any" }, None),
            };
            if kind == "host_offline" && scope != "host" {
                return Err(bad("alert rule", "--host-offline watches hosts: leave out --container and --app (or name one --host)".into()));
            }
            if let (Some(host), "host") = (&name, scope) {
                ctx.store().host(host)?;
            }
            let rule = berth_core::store::alerts::RuleRow {
                id: 0,
                kind: kind.into(),
                scope: scope.into(),
                name,
                threshold,
                for_s: every.as_secs() as i64,
                command: add.command,
            };
            let rule = ctx.store().add_alert_rule(&rule)?;
            if ctx.json {
                output::json(&rule);
            } else {
                println!("rule {}", rule.id);
            }
        }
        RuleCommand::Ls => {
            let rules = ctx.store().alert_rules()?;
            if ctx.json {
                output::json(&rules);
            } else {
                let table: Vec<Vec<String>> = rules
                    .iter()
                    .map(|r| {
                        vec![
                            r.id.to_string(),
                            r.kind.clone(),
                            format!("{} {}", r.scope, r.name.clone().unwrap_or_default()).trim().to_owned(),
                            r.threshold.map_or("-".into(), |t| format!("{t}%")),
                            format!("{} s", r.for_s),
                            r.command.clone().unwrap_or_else(|| "-".into()),
                        ]
                    })
                    .collect();
                output::table(&mut std::io::stdout().lock(), &["ID", "KIND", "WATCHES", "ABOVE", "FOR", "COMMAND"], &table);
            }
        }
        RuleCommand::Rm { id } => {
            ctx.store().remove_alert_rule(id)?;
            if !ctx.json {
                println!("rule {id} removed");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
