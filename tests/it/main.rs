//! End-to-end tests: the real `berth` binary against real dockerd engines.

mod alerts;
mod app;
mod apps;
mod changes;
mod errors;
mod exec;
mod fleet;
mod follow;
mod images;
mod import;
mod ipam;
mod outage;
mod registry;
mod snapshot;
mod ssh;
mod stats;
mod tls;
mod ui;

use std::collections::BTreeMap;

use berth_e2e::{Berth, Daemon};
use serde_json::{json, Value};

/// What Docker itself says about the containers labelled `berth.test=TAG`: id → summary.
pub fn truth(daemon: &Daemon, url: &str, tag: &str) -> BTreeMap<String, Value> {
    let ids = daemon.docker_at(url, &["ps", "-aq", "--no-trunc", "--filter", &format!("label=berth.test={tag}")]);
    if ids.is_empty() {
        return BTreeMap::new();
    }
    let mut args = vec!["inspect"];
    args.extend(ids.lines());
    let inspected: Vec<Value> = serde_json::from_str(&daemon.docker_at(url, &args)).unwrap();
    inspected
        .iter()
        .map(|c| {
            let ips: BTreeMap<String, String> = c["NetworkSettings"]["Networks"]
                .as_object()
                .map(|n| {
                    n.iter()
                        .filter(|(_, ep)| ep["IPAddress"].as_str().is_some_and(|ip| !ip.is_empty()))
                        .map(|(k, ep)| (k.clone(), ep["IPAddress"].as_str().unwrap().to_owned()))
                        .collect()
                })
                .unwrap_or_default();
            let summary = json!({
                "name": c["Name"].as_str().unwrap().trim_start_matches('/'),
                "image": c["Config"]["Image"],
                "state": c["State"]["Status"],
                "exit_code": c["State"]["ExitCode"],
                "ips": ips,
                "labels": c["Config"]["Labels"],
            });
            (c["Id"].as_str().unwrap().to_owned(), summary)
        })
        .collect()
}

/// What the mirror says about the same containers, in the same shape.
pub fn mirror(berth: &Berth, tag: &str) -> BTreeMap<String, Value> {
    let rows = berth.json(&["ps", "-a", "--filter", &format!("label=berth.test={tag}")]);
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let summary = json!({
                "name": r["name"], "image": r["image"], "state": r["state"], "exit_code": r["exit_code"],
                "ips": r["ips"], "labels": r["labels"],
            });
            (r["id"].as_str().unwrap().to_owned(), summary)
        })
        .collect()
}

/// The mirror equals Docker's truth, or the differences.
pub fn same_as_truth(daemon: &Daemon, url: &str, berth: &Berth, tag: &str) -> Result<usize, String> {
    let want = truth(daemon, url, tag);
    let have = mirror(berth, tag);
    if want == have {
        return Ok(want.len());
    }
    let mut diff = Vec::new();
    for (id, w) in &want {
        match have.get(id) {
            None => diff.push(format!("missing {}: {w}", &id[..12])),
            Some(h) if h != w => diff.push(format!("differs {}: mirror {h} vs docker {w}", &id[..12])),
            _ => {}
        }
    }
    for id in have.keys().filter(|id| !want.contains_key(*id)) {
        diff.push(format!("extra {}", &id[..12]));
    }
    Err(diff.join("\n"))
}

/// `host ls --json` entry for `name`.
pub fn host_entry(berth: &Berth, name: &str) -> Value {
    let hosts = berth.json(&["host", "ls"]);
    hosts.as_array().unwrap().iter().find(|h| h["name"] == name).cloned().unwrap_or(Value::Null)
}
