//! Audit log speed, one run, on a log of 1,000,000 rows from 100 hosts over 90 days (every
//! other row a request, the next its completion; 2 % failed, a fifth external):
//! - `audit` for one host's last hour, newest 100 (goal ≤ 50 ms), and for one op (goal ≤ 50
//!   ms), beside other filters;
//! - `audit_verify` over the whole chain (goal ≤ 2 s);
//! - appending (the log built 10,000 rows a transaction; a request and its completion, one
//!   transaction each, on the full log) and pruning a day.
//!
//! Run: `cargo bench -p berth-e2e --bench audit`.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_core::store::audit::{AuditObject, AuditQuery, NewAuditRow, Outcome, Via};
use berth_core::store::Store;
use serde_json::json;

const ROWS: i64 = 1_000_000;
const HOSTS: i64 = 100;
const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;
const BATCH: i64 = 10_000;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// Row `k` of the log (id k + 1): container `k / 2 % 100` of host `k % 100`… as the CLI, the
/// app or a host's events would write it.
fn row(k: i64) -> NewAuditRow {
    let host = (k / 2) % HOSTS;
    let container = (k / 2 / HOSTS) % 100;
    let completion = k % 2 == 1;
    let via = match k / 2 % 5 {
        0 => Via::External,
        1 | 2 => Via::Cli,
        _ => Via::App,
    };
    let failed = completion && k / 2 % 50 == 7;
    let outcome = match (completion, failed) {
        (false, _) => Outcome::Unknown,
        (true, true) => Outcome::Failed,
        (true, false) => Outcome::Ok,
    };
    let action = ["stop", "start", "restart", "create", "remove"][(k / 2 % 5) as usize];
    NewAuditRow {
        op: format!("op-{:08x}", k / 2),
        actor: if via == Via::External { format!("host:node{host:03}") } else { "alice".into() },
        via,
        host: Some(format!("node{host:03}")),
        kind: "container".into(),
        object: AuditObject { id: Some(container_id(host, container)), name: Some(format!("svc-{host}-{container}")) },
        action: action.into(),
        outcome,
        error: failed.then(|| "Error response from daemon: container is restarting, wait until it is running".into()),
        before: Some(json!({"state": "running", "image": "shop/api:1", "restart_count": 0})),
        after: completion.then(|| json!({"state": "exited", "image": "shop/api:1", "exit_code": 0})),
        reason: None,
        request: completion.then_some(k),
    }
}

/// A container's id: 64 hex digits that look random, as Docker's do (so a short id is selective).
fn container_id(host: i64, container: i64) -> String {
    let n = (host * 100 + container) as u64;
    format!("{:016x}{n:048x}", n.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    // The clock steps 7.776 s a row: 1,000,000 rows over 90 days, the newest now.
    let now = chrono::Utc::now().timestamp_millis();
    let step = 90 * DAY_MS / ROWS;
    let clock = Arc::new(AtomicI64::new(now - ROWS * step));
    let ticks = Arc::clone(&clock);
    let store = Store::open(&path).unwrap().with_audit_clock(move || ticks.fetch_add(step, Ordering::Relaxed));

    let started = Instant::now();
    for batch in 0..ROWS / BATCH {
        let rows: Vec<NewAuditRow> = (batch * BATCH..(batch + 1) * BATCH).map(row).collect();
        store.audit_append(&rows).unwrap();
    }
    let built = started.elapsed();
    let megabytes = |name: &str| std::fs::metadata(dir.path().join(name)).map_or(0.0, |m| m.len() as f64 / 1e6);
    println!("a log of {ROWS} rows, {HOSTS} hosts, 90 days:");
    println!(
        "  built 10,000 rows a transaction           {:>9.2} s   ({:.1} µs a row; {:.0} MB file + {:.0} MB WAL)",
        built.as_secs_f64(),
        built.as_secs_f64() * 1e6 / ROWS as f64,
        megabytes("audit.db"),
        megabytes("audit.db-wal"),
    );

    let newest = clock.load(Ordering::Relaxed);
    let (last_hour, last_day) = (newest - HOUR_MS, newest - DAY_MS);
    let short_id = &container_id(42, 7)[..12];
    // As the app sends them.
    let queries = [
        ("one host, last hour", "≤ 50 ms", json!({"host": "node042", "since_ms": last_hour})),
        ("one op", "≤ 50 ms", json!({"op": format!("op-{:08x}", 123_456)})),
        ("one host, all time", "", json!({"host": "node042"})),
        ("no filter", "", json!({})),
        ("failed", "", json!({"outcome": "failed"})),
        ("external, last day", "", json!({"via": "external", "since_ms": last_day})),
        ("one container by name", "", json!({"object": "svc-42-7"})),
        ("one container by short id", "", json!({"object": short_id})),
        ("no match (kind volume): every row read", "", json!({"kind": "volume"})),
    ];
    let queries: Vec<(&str, &str, AuditQuery)> = queries.into_iter().map(|(name, goal, json)| (name, goal, serde_json::from_value(json).unwrap())).collect();
    println!("\naudit(query), newest 100 rows, median of 9:");
    for (name, goal, query) in &queries {
        let mut runs = Vec::new();
        let mut found = 0;
        for _ in 0..9 {
            let t = Instant::now();
            found = store.audit(query).unwrap().len();
            runs.push(t.elapsed());
        }
        println!("  {name:<40} {:>10}   {found:>3} rows   {goal}", ms(median(runs)));
    }
    let rows = store.audit(&queries[0].2).unwrap();
    assert!(!rows.is_empty() && rows.iter().all(|r| r.host.as_deref() == Some("node042") && r.time_ms >= last_hour));

    let mut runs = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let report = store.audit_verify().unwrap();
        runs.push(t.elapsed());
        assert!(report.ok && report.rows == ROWS as u64, "{report:?}");
    }
    println!("\naudit_verify, {ROWS} rows (goal ≤ 2 s):");
    println!("  the whole chain                          {:>9.3} s   median of 3", median(runs).as_secs_f64());

    // The same as a user types them: a process that opens the store, queries, prints.
    let berth = berth_e2e::berth_binary();
    let process = |args: &[&str]| {
        let mut runs = Vec::new();
        let mut printed = 0;
        for _ in 0..9 {
            let t = Instant::now();
            let out = std::process::Command::new(&berth).arg("--db").arg(&path).args(args).output().unwrap();
            runs.push(t.elapsed());
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            printed = out.stdout.len();
        }
        (median(runs), printed)
    };
    println!(
        "
as a process (`berth …`), median of 9:"
    );
    let (took, printed) = process(&["audit", "--host", "node042", "--since", "1h", "--json"]);
    println!("  berth audit --host node042 --since 1h --json {:>7}   {printed} bytes   ≤ 50 ms", ms(took));
    let (took, _) = process(&["audit", "verify"]);
    println!("  berth audit verify                        {:>9.3} s   ≤ 2 s", took.as_secs_f64());

    // The clock still steps 7.776 s a read: claims that outlast the 20 pairs.
    let mut pairs = Vec::new();
    for k in 0..20 {
        let t = Instant::now();
        let request = store.audit_request(&row(2 * k), newest + DAY_MS).unwrap();
        store.audit_complete(request, Outcome::Ok, None, None, None, newest + DAY_MS).unwrap();
        pairs.push(t.elapsed());
    }
    println!("\nwrites on the full log:");
    println!("  a request and its completion            {:>10}   median of 20 (two transactions)", ms(median(pairs)));
    let t = Instant::now();
    let pruned = store.audit_prune(now - 89 * DAY_MS).unwrap();
    println!("  prune the oldest day ({pruned} rows)       {:>10}   (the rows checked, then deleted)", ms(t.elapsed()));
    assert!(store.audit_verify().unwrap().ok);
}
