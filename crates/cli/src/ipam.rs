//! `berth ipam …`, `berth net apply`, `berth run` and `berth rm`: IP pools, leases, the pools'
//! networks and containers with fixed addresses, over the core's IPAM.

use std::io::Write;
use std::net::IpAddr;
use std::process::ExitCode;

use berth_core::ipam::check::{CheckReport, Finding};
use berth_core::ipam::docker::{self, RunSpec};
use berth_core::ipam::pool::{format_seconds, parse_cidr, parse_ip, parse_quarantine, parse_reservation};
use berth_core::ipam::{Driver, PoolHost, PoolSpec};
use berth_core::store::ipam::{AddressRow, LeaseRequest, PoolSummary};
use berth_core::store::Store;
use berth_core::time::rfc3339_ms;
use berth_core::Error;
use clap::{Args, Subcommand};

use crate::{output, prompt, runtime, Ctx};

#[derive(Debug, Subcommand)]
pub enum IpamCommand {
    /// Add, list, show and remove IP pools
    #[command(subcommand)]
    Pool(PoolCommand),
    /// The addresses that are not free: leased, quarantined, reserved
    Leases {
        /// Only this pool
        pool: Option<String>,
    },
    /// Lease an address: the one given, or the next free one
    Lease {
        pool: String,
        #[arg(long, value_name = "IP")]
        ip: Option<String>,
        /// The host the address is for
        #[arg(long, value_name = "HOST")]
        host: Option<String>,
        /// The container the address is for
        #[arg(long, value_name = "NAME")]
        container: Option<String>,
        /// Lease this many next free addresses at once (all or none)
        #[arg(long, value_name = "N", conflicts_with = "ip", value_parser = clap::value_parser!(u32).range(1..))]
        count: Option<u32>,
    },
    /// Release a leased address into quarantine (or lift a reservation)
    Release { pool: String, ip: String },
    /// Reserve a free address so that it is never handed out
    Reserve {
        pool: String,
        ip: String,
        #[arg(long, value_name = "WHY")]
        reason: Option<String>,
    },
    /// Conflicts (an address used twice in a segment, …) and orphans, from the mirror
    Check {
        /// Apply the safe repairs: adopt unleased containers, release leases of gone ones
        #[arg(long)]
        repair: bool,
        /// Exit with 1 when anything was found (for scripts)
        #[arg(long)]
        exit_code: bool,
    },
    /// Read pools and leases back from the hosts (after `berth host add` and `berth sync`)
    Rebuild,
}

#[derive(Debug, Subcommand)]
pub enum NetCommand {
    /// Create the pool's network on each of its hosts, or report how the one there differs
    Apply { pool: String },
}

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant, reason = "parsed once per process")]
pub enum PoolCommand {
    /// Add a pool
    Add(PoolAddArgs),
    /// List the pools with how full they are
    Ls,
    /// A pool's definition and its addresses
    Show { name: String },
    /// Remove a pool (its Docker networks stay)
    Rm {
        name: String,
        /// Even when addresses are still leased
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Args)]
pub struct PoolAddArgs {
    name: String,
    /// The pool's subnet, e.g. 10.20.0.0/16 or fd00:20::/64
    #[arg(long, value_name = "CIDR")]
    subnet: String,
    /// The LAN's router: the containers' default route
    #[arg(long, value_name = "IP")]
    gateway: Option<String>,
    /// Where "next free" looks (repeatable) [default: the whole subnet]
    #[arg(long = "range", value_name = "CIDR")]
    ranges: Vec<String>,
    /// An address never to hand out, with why (repeatable)
    #[arg(long = "reserve", value_name = "IP[=REASON]")]
    reserved: Vec<String>,
    /// The L2 segment / VLAN: addresses are unique across it [default: the pool's name]
    #[arg(long, value_name = "S")]
    segment: Option<String>,
    /// A host on the pool's LAN (repeatable): HOST, HOST,parent=IFACE (macvlan) or HOST,ip=IP
    /// (bridge: the host's own address on the LAN bridge)
    #[arg(long = "host", value_name = "HOST")]
    hosts: Vec<String>,
    #[arg(long, value_name = "bridge|macvlan", default_value = "bridge")]
    driver: String,
    /// bridge: the Linux bridge to bind to (com.docker.network.bridge.name)
    #[arg(long, value_name = "BR")]
    bridge_name: Option<String>,
    /// macvlan: the parent interface on each host
    #[arg(long, value_name = "IFACE")]
    parent: Option<String>,
    /// How long a released address waits before reuse (0s: none)
    #[arg(long, value_name = "DURATION", default_value = "1h")]
    quarantine: String,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[arg(long, value_name = "HOST")]
    host: String,
    #[arg(long, value_name = "POOL")]
    pool: String,
    /// The address to lease [default: the pool's next free one]
    #[arg(long, value_name = "IP")]
    ip: Option<String>,
    #[arg(long, value_name = "NAME")]
    name: String,
    /// Set an environment variable, KEY=VALUE (repeatable)
    #[arg(short, long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// no, always, unless-stopped or on-failure
    #[arg(long, value_name = "POLICY", default_value = "unless-stopped")]
    restart: String,
    image: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "CMD")]
    cmd: Vec<String>,
}

fn pool_spec(args: PoolAddArgs) -> Result<PoolSpec, Error> {
    let quarantine_seconds = parse_quarantine(&args.quarantine)?;
    let ranges = args.ranges.iter().map(|r| parse_cidr("range", r)).collect::<Result<Vec<_>, _>>()?;
    let reserved = args.reserved.iter().map(|r| parse_reservation(r)).collect::<Result<Vec<_>, _>>()?;
    let hosts = args.hosts.iter().map(|h| h.parse::<PoolHost>()).collect::<Result<Vec<_>, _>>()?;
    Ok(PoolSpec {
        segment: args.segment.unwrap_or_else(|| args.name.clone()),
        name: args.name,
        subnet: parse_cidr("subnet", &args.subnet)?,
        gateway: args.gateway.as_deref().map(|g| parse_ip("gateway", g)).transpose()?,
        ranges,
        reserved,
        hosts,
        driver: args.driver.parse::<Driver>()?,
        bridge_name: args.bridge_name,
        parent: args.parent,
        quarantine_seconds,
    })
}

pub fn ipam_command(ctx: &Ctx, command: IpamCommand) -> Result<ExitCode, Error> {
    let (store, json, op) = (ctx.store(), ctx.json, &ctx.op);
    match command {
        IpamCommand::Pool(PoolCommand::Add(args)) => {
            let spec = pool_spec(args)?;
            store.audited(&op.row(None, "pool", Default::default(), "add")).add_pool(&spec)?;
            let summary = summary(store, &spec.name)?;
            if json {
                output::json(&summary);
            } else {
                println!(
                    "added pool {} ({}, {} addresses to hand out, segment {}); run `berth net apply {}` to create its network on its hosts",
                    spec.name, spec.subnet, summary.size, spec.segment, spec.name
                );
            }
        }
        IpamCommand::Pool(PoolCommand::Ls) => {
            let pools = store.pools()?;
            if json {
                output::json(&pools);
            } else {
                pools_table(&mut std::io::stdout().lock(), &pools);
            }
        }
        IpamCommand::Pool(PoolCommand::Show { name }) => {
            let summary = summary(store, &name)?;
            let addresses = store.addresses(Some(&name))?;
            if json {
                let mut value = serde_json::to_value(&summary).expect("serialisable");
                value["addresses"] = serde_json::to_value(&addresses).expect("serialisable");
                output::json(&value);
            } else {
                let spec = &summary.spec;
                println!("pool       {}", spec.name);
                println!("subnet     {}", spec.subnet);
                println!("gateway    {}", spec.gateway.map_or("-".into(), |g| g.to_string()));
                println!(
                    "ranges     {}",
                    if spec.ranges.is_empty() { "the whole subnet".into() } else { spec.ranges.iter().map(|r| r.to_string()).collect::<Vec<_>>().join(", ") }
                );
                println!("segment    {}", spec.segment);
                println!(
                    "driver     {}{}",
                    spec.driver.as_str(),
                    spec.bridge_name.as_ref().map(|b| format!(" on bridge {b}")).or(spec.parent.as_ref().map(|p| format!(" on {p}"))).unwrap_or_default()
                );
                println!(
                    "hosts      {}",
                    if spec.hosts.is_empty() { "-".into() } else { spec.hosts.iter().map(|h| h.host.clone()).collect::<Vec<_>>().join(", ") }
                );
                println!("quarantine {}", format_seconds(spec.quarantine_seconds));
                println!(
                    "addresses  {} to hand out: {} leased, {} quarantined, {} reserved\n",
                    summary.size, summary.leased, summary.quarantined, summary.reserved_count
                );
                addresses_table(&mut std::io::stdout().lock(), &addresses);
            }
        }
        IpamCommand::Pool(PoolCommand::Rm { name, force }) => {
            store.audited(&op.row(None, "pool", Default::default(), "remove")).remove_pool(&name, force)?;
            if !json {
                println!("removed pool {name}; its Docker networks stay on the hosts (`docker network rm {name}` there)");
            }
        }
        IpamCommand::Leases { pool } => {
            let rows = store.addresses(pool.as_deref())?;
            if json {
                output::json(&rows);
            } else {
                addresses_table(&mut std::io::stdout().lock(), &rows);
            }
        }
        IpamCommand::Lease { pool, ip: _, host, container, count: Some(count) } => {
            if let Some(host) = &host {
                store.host(host)?;
            }
            let row = op.row(host.as_deref(), "lease", Default::default(), "lease");
            let rows = store.audited(&row).lease_many(&pool, count as usize, &LeaseRequest { ip: None, host, container })?;
            if json {
                output::json(&rows);
            } else {
                let (first, last) = (rows.first().map_or("", |r| &r.ip), rows.last().map_or("", |r| &r.ip));
                println!("leased {} addresses in pool {pool}: {first} … {last}", rows.len());
            }
        }
        IpamCommand::Lease { pool, ip, host, container, count: None } => {
            if let Some(host) = &host {
                store.host(host)?;
            }
            let ip = ip.as_deref().map(|ip| parse_ip("address", ip)).transpose()?;
            let audit = op.row(host.as_deref(), "lease", Default::default(), "lease");
            let row = store.audited(&audit).lease(&pool, &LeaseRequest { ip, host, container })?;
            if json {
                output::json(&row);
            } else {
                println!("leased {} in pool {pool}", row.ip);
            }
        }
        IpamCommand::Release { pool, ip } => {
            let row = store.audited(&op.row(None, "lease", Default::default(), "release")).release(&pool, parse_ip("address", &ip)?)?;
            if json {
                output::json(&row);
            } else {
                match (row.state, row.until_ms) {
                    (berth_core::store::ipam::AddressState::Quarantined, Some(until)) => {
                        println!("released {} into quarantine until {}", row.ip, rfc3339_ms(until))
                    }
                    _ => println!("{} in pool {pool} is free", row.ip),
                }
            }
        }
        IpamCommand::Reserve { pool, ip, reason } => {
            let row = store.audited(&op.row(None, "lease", Default::default(), "reserve")).reserve(
                &pool,
                parse_ip("address", &ip)?,
                reason.as_deref().unwrap_or(""),
            )?;
            if json {
                output::json(&row);
            } else {
                println!("reserved {} in pool {pool} ({})", row.ip, row.reason.as_deref().unwrap_or(""));
            }
        }
        IpamCommand::Check { repair, exit_code } => {
            let report = berth_core::ipam::check(store)?;
            let repaired = if repair { berth_core::ipam::repair(store, op, &report) } else { vec![] };
            if json {
                let mut value = serde_json::to_value(&report).expect("serialisable");
                if repair {
                    value["repaired"] = serde_json::json!(repaired
                        .iter()
                        .map(|(f, outcome)| serde_json::json!({"kind": f.kind, "pool": f.pool, "ip": f.ip, "ok": outcome.is_ok(), "error": outcome.as_ref().err().map(|e| e.to_string())}))
                        .collect::<Vec<_>>());
                }
                output::json(&value);
            } else {
                check_text(&report);
                for (f, outcome) in &repaired {
                    match outcome {
                        Ok(()) => println!("repaired: {}", f.detail),
                        Err(e) => println!("not repaired: {}: {e}", f.detail),
                    }
                }
            }
            if exit_code && !report.is_clean() {
                return Ok(ExitCode::FAILURE);
            }
        }
        IpamCommand::Rebuild => {
            let report = docker::rebuild(store, op)?;
            if json {
                output::json(&report);
            } else {
                println!("pools added: {}; kept: {}; leases added: {}", list(&report.pools_added), list(&report.pools_kept), report.leases_added.len());
                for why in &report.skipped {
                    println!("skipped: {why}");
                }
                if report.pools_added.is_empty() && report.pools_kept.is_empty() {
                    println!("(no Berth networks in the mirror: add the hosts, run `berth sync --once`, then rebuild)");
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

fn summary(store: &Store, name: &str) -> Result<PoolSummary, Error> {
    store.pools()?.into_iter().find(|p| p.spec.name == name).ok_or_else(|| Error::PoolNotFound { name: name.to_owned() })
}

fn pools_table(out: &mut impl Write, pools: &[PoolSummary]) {
    let rows: Vec<Vec<String>> = pools
        .iter()
        .map(|p| {
            let used = p.leased + p.quarantined;
            let percent = if p.size == 0 { 0.0 } else { used as f64 * 100.0 / p.size as f64 };
            vec![
                p.spec.name.clone(),
                p.spec.subnet.to_string(),
                p.spec.segment.clone(),
                p.spec.driver.as_str().into(),
                p.spec.hosts.iter().map(|h| h.host.clone()).collect::<Vec<_>>().join(","),
                format!("{}/{} ({percent:.1}%)", p.leased, p.size),
                p.quarantined.to_string(),
                p.reserved_count.to_string(),
            ]
        })
        .collect();
    output::table(out, &["POOL", "SUBNET", "SEGMENT", "DRIVER", "HOSTS", "LEASED", "QUARANTINED", "RESERVED"], &rows);
}

fn addresses_table(out: &mut impl Write, rows: &[AddressRow]) {
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let who = match (&r.host, &r.container) {
                (Some(h), Some(c)) => format!("{h}/{c}"),
                (Some(h), None) => h.clone(),
                _ => "-".into(),
            };
            let note = match (r.state, r.until_ms) {
                (berth_core::store::ipam::AddressState::Quarantined, Some(until)) => {
                    format!("until {}", rfc3339_ms(until))
                }
                _ => r.reason.clone().unwrap_or_default(),
            };
            vec![r.pool.clone(), r.ip.clone(), r.state.as_str().into(), who, note]
        })
        .collect();
    output::table(out, &["POOL", "IP", "STATE", "HOLDER", "NOTE"], &table);
}

fn check_text(report: &CheckReport) {
    if report.is_clean() {
        println!("no conflicts, no orphans");
        return;
    }
    let line = |f: &Finding| {
        let repair = match &f.repair {
            Some(berth_core::ipam::check::Repair::Adopt { .. }) => "  [repair: adopt]",
            Some(berth_core::ipam::check::Repair::Release) => "  [repair: release]",
            None => "",
        };
        println!("  {:<24} {}{repair}", format!("{:?}", f.kind).to_lowercase(), f.detail);
    };
    if !report.conflicts.is_empty() {
        println!("conflicts ({}):", report.conflicts.len());
        report.conflicts.iter().for_each(line);
    }
    if !report.orphans.is_empty() {
        println!("orphans ({}):", report.orphans.len());
        report.orphans.iter().for_each(line);
    }
    if report.orphans.iter().any(|f| f.repair.is_some()) {
        println!("`berth ipam check --repair` applies the safe repairs");
    }
}

pub fn net_apply(ctx: &Ctx, pool: &str) -> Result<ExitCode, Error> {
    let (store, json) = (ctx.store(), ctx.json);
    let hosts = store.pool(pool)?.hosts.iter().map(|h| store.host(&h.host)).collect::<Result<Vec<_>, _>>()?;
    prompt::secrets_for_this_run(&hosts)?;
    let reports = runtime::start()?.block_on(docker::apply(&ctx.fleet, &ctx.op, pool))?;
    let ok = reports.iter().all(|r| r.status == "ok" || r.status == "created");
    if json {
        output::json(&reports);
    } else {
        for r in &reports {
            match r.status.as_str() {
                "created" => println!("{}: created network {}", r.host, r.network),
                "ok" => println!("{}: network {} matches the pool", r.host, r.network),
                "drift" => println!("{}: network {} differs from the pool: {}", r.host, r.network, r.drift.join("; ")),
                _ => println!("{}: failed: {}", r.host, r.error.as_deref().unwrap_or("")),
            }
        }
    }
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

pub fn run_command(ctx: &Ctx, args: RunArgs) -> Result<ExitCode, Error> {
    let (store, json) = (ctx.store(), ctx.json);
    let host = store.host(&args.host)?;
    let ip: Option<IpAddr> = args.ip.as_deref().map(|ip| parse_ip("address", ip)).transpose()?;
    let cmd = crate::trailing_command(args.cmd);
    let spec = RunSpec { host: args.host, pool: args.pool, ip, name: args.name, image: args.image, cmd, env: args.env, restart: args.restart };
    // Refuse what can be refused before dialling the host.
    spec.validate(store)?;
    prompt::secrets_for_this_run(std::slice::from_ref(&host))?;
    let outcome = runtime::start()?.block_on(docker::run(&ctx.fleet, &ctx.op, &spec))?;
    if json {
        output::json(&outcome);
    } else {
        println!("started {} ({}) on {} at {} (pool {})", outcome.name, &outcome.id[..12.min(outcome.id.len())], outcome.host, outcome.ip, outcome.pool);
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use berth_core::store::ipam::AddressState;

    use super::*;
    use crate::output::tests::text;

    /// A pool as `berth ipam pool add NAME --subnet SUBNET --host … --driver DRIVER` gives it.
    fn pool(name: &str, subnet: &str, hosts: &[&str], driver: &str) -> PoolSpec {
        pool_spec(PoolAddArgs {
            name: name.into(),
            subnet: subnet.into(),
            gateway: None,
            ranges: vec![],
            reserved: vec![],
            segment: None,
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            driver: driver.into(),
            bridge_name: None,
            parent: None,
            quarantine: "1h".into(),
        })
        .unwrap()
    }

    fn address(ip: &str, state: AddressState, host: Option<&str>, container: Option<&str>) -> AddressRow {
        AddressRow {
            pool: "lan".into(),
            ip: ip.into(),
            state,
            host: host.map(Into::into),
            container: container.map(Into::into),
            reason: None,
            fixed: false,
            since_ms: 0,
            until_ms: None,
        }
    }

    #[test]
    fn pools_show_how_full_they_are() {
        let pools = [
            PoolSummary { spec: pool("lan", "10.20.0.0/24", &["a", "b"], "bridge"), size: 254, leased: 3, quarantined: 1, reserved_count: 2 },
            PoolSummary { spec: pool("v6", "fd00:20::/64", &[], "macvlan"), size: 0, leased: 0, quarantined: 0, reserved_count: 0 },
        ];
        let expected = "POOL  SUBNET        SEGMENT  DRIVER   HOSTS  LEASED        QUARANTINED  RESERVED
lan   10.20.0.0/24  lan      bridge   a,b    3/254 (1.6%)  1            2
v6    fd00:20::/64  v6       macvlan         0/0 (0.0%)    0            0
";
        assert_eq!(text(|out| pools_table(out, &pools)), expected);
    }

    #[test]
    fn addresses_name_their_holder_and_why() {
        let rows = [
            address("10.20.0.9", AddressState::Leased, Some("a"), Some("web")),
            address("10.20.0.10", AddressState::Leased, Some("a"), None),
            address("10.20.0.11", AddressState::Leased, None, None),
            AddressRow { until_ms: Some(1_772_366_400_000), ..address("10.20.0.12", AddressState::Quarantined, Some("b"), Some("db")) },
            AddressRow { reason: Some("printer".into()), fixed: true, ..address("10.20.0.5", AddressState::Reserved, None, None) },
        ];
        let expected = "POOL  IP          STATE        HOLDER  NOTE
lan   10.20.0.9   leased       a/web
lan   10.20.0.10  leased       a
lan   10.20.0.11  leased       -
lan   10.20.0.12  quarantined  b/db    until 2026-03-01T12:00:00.000Z
lan   10.20.0.5   reserved     -       printer
";
        assert_eq!(text(|out| addresses_table(out, &rows)), expected);
    }
}
