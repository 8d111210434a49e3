//! `berth audit`: the change log, newest first, with its filters; `audit verify` walks the hash
//! chain; `audit prune` drops rows past the retention. Reads work offline like every read.

use std::io::Write;
use std::process::ExitCode;

use berth_core::audit::{AuditQuery, AuditRow, Outcome, Via};
use berth_core::store::audit::{AUDIT_RETENTION_DAYS, MAX_AUDIT_LIMIT};
use berth_core::Error;
use clap::{Args, Subcommand};

use crate::{output, Ctx};

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub action: Option<AuditAction>,
    /// Only changes to this host
    #[arg(long, value_name = "NAME")]
    pub host: Option<String>,
    /// Only changes since a duration back from now (10m, 2h, 1d) or an RFC 3339 time
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Only changes made through the CLI, the app, or out-of-band (external)
    #[arg(long, value_name = "cli|app|external")]
    pub via: Option<String>,
    /// Only the rows of one operation
    #[arg(long, value_name = "ID")]
    pub op: Option<String>,
    /// Only changes to this kind of object (container, network, image, pool, lease, host, volume, app)
    #[arg(long, value_name = "KIND")]
    pub kind: Option<String>,
    /// Only changes to this object: a name, an id or an id prefix
    #[arg(long, value_name = "NAME|ID")]
    pub object: Option<String>,
    /// Only changes that ended so: ok, failed, unknown (asked, no answer recorded)
    #[arg(long, value_name = "OUTCOME")]
    pub outcome: Option<String>,
    /// At most this many rows (the newest)
    #[arg(long, default_value_t = 100, value_name = "N", value_parser = clap::value_parser!(i64).range(1..=MAX_AUDIT_LIMIT))]
    pub limit: i64,
    /// Print CSV (one header line, then one line per row; --json wins over it)
    #[arg(long)]
    pub csv: bool,
}

#[derive(Debug, Subcommand)]
pub enum AuditAction {
    /// Walk the hash chain: exit 0 when it holds, else 1 naming the first row that does not match
    Verify,
    /// Drop the rows older than a duration (the chain's anchor keeps `verify` true)
    Prune {
        #[arg(long, value_name = "DURATION", default_value_t = format!("{AUDIT_RETENTION_DAYS}d"))]
        older_than: String,
    },
}

pub fn audit_command(ctx: &Ctx, args: AuditArgs) -> Result<ExitCode, Error> {
    let json = ctx.json;
    match args.action {
        Some(AuditAction::Verify) => {
            let report = ctx.store().audit_verify()?;
            if json {
                output::json(&report);
            } else if report.ok {
                println!("the audit log holds: {} rows verified", report.rows);
            } else {
                println!(
                    "the audit log does NOT hold at row {}: {}",
                    report.first_bad.map_or("?".into(), |id| id.to_string()),
                    report.reason.as_deref().unwrap_or("")
                );
            }
            Ok(if report.ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        Some(AuditAction::Prune { older_than }) => {
            let cutoff = berth_core::audit::prune_cutoff(&older_than, chrono::Utc::now().timestamp_millis())?;
            let pruned = ctx.store().audit_prune(cutoff)?;
            if json {
                output::json(&serde_json::json!({ "pruned": pruned }));
            } else {
                println!("pruned {pruned} rows older than {older_than}");
            }
            Ok(ExitCode::SUCCESS)
        }
        None => {
            let via = args.via.as_deref().map(str::parse::<Via>).transpose()?;
            let since_ms = args.since.map(|s| berth_core::time::parse_since(&s, chrono::Utc::now())).transpose()?.map(|ns| ns.div_euclid(1_000_000));
            let outcome = args.outcome.as_deref().map(str::parse::<Outcome>).transpose()?;
            let query = AuditQuery { host: args.host, since_ms, via, op: args.op, kind: args.kind, object: args.object, outcome, limit: args.limit };
            let rows = ctx.store().audit(&query)?;
            let mut out = std::io::stdout().lock();
            if json {
                output::json(&rows);
            } else if args.csv {
                csv(&mut out, &rows);
            } else {
                table(&mut out, &rows);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn object(row: &AuditRow) -> String {
    match (&row.object.name, &row.object.id) {
        (Some(name), _) => name.clone(),
        (None, Some(id)) => id.chars().take(12).collect(),
        (None, None) => "-".into(),
    }
}

/// A request row says "asked": its outcome follows in its own row (unless the process died).
fn outcome(row: &AuditRow) -> String {
    match row.outcome {
        Outcome::Unknown => "unknown (asked)".into(),
        o => o.as_str().into(),
    }
}

pub fn table(out: &mut impl Write, rows: &[AuditRow]) {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.id.to_string(),
                r.time.clone(),
                r.via.as_str().into(),
                r.actor.clone(),
                r.host.clone().unwrap_or_else(|| "-".into()),
                r.kind.clone(),
                object(r),
                r.action.clone(),
                outcome(r),
                r.error.clone().or_else(|| r.reason.clone().map(|why| format!("reason: {why}"))).unwrap_or_default(),
            ]
        })
        .collect();
    output::table(out, &["ID", "TIME (UTC)", "VIA", "ACTOR", "HOST", "KIND", "OBJECT", "ACTION", "OUTCOME", "ERROR / REASON"], &cells);
}

/// RFC 4180: fields with a comma, quote or line break are quoted, quotes doubled.
fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

pub fn csv(out: &mut impl Write, rows: &[AuditRow]) {
    let header = "id,op,time,actor,via,host,kind,object_id,object_name,action,outcome,error,before,after,reason,request";
    let _ = writeln!(out, "{header}");
    for r in rows {
        let json = |v: &Option<serde_json::Value>| v.as_ref().map(|v| v.to_string()).unwrap_or_default();
        let fields = [
            r.id.to_string(),
            r.op.clone(),
            r.time.clone(),
            r.actor.clone(),
            r.via.as_str().into(),
            r.host.clone().unwrap_or_default(),
            r.kind.clone(),
            r.object.id.clone().unwrap_or_default(),
            r.object.name.clone().unwrap_or_default(),
            r.action.clone(),
            r.outcome.as_str().into(),
            r.error.clone().unwrap_or_default(),
            json(&r.before),
            json(&r.after),
            r.reason.clone().unwrap_or_default(),
            r.request.map(|id| id.to_string()).unwrap_or_default(),
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        let _ = writeln!(out, "{}", line.join(","));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_what_needs_it() {
        for (field, want) in [("plain", "plain"), ("a,b", "\"a,b\""), ("say \"hi\"", "\"say \"\"hi\"\"\""), ("two\nlines", "\"two\nlines\"")] {
            assert_eq!(csv_field(field), want);
        }
    }
}
