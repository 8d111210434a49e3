//! Tables for people, JSON for scripts.

use std::io::Write;

use berth_core::model::{ContainerRow, EventRow, HostSummary, Reachability};
use berth_core::time::human_duration;
use chrono::{DateTime, Utc};
use serde::Serialize;

pub fn json<T: Serialize + ?Sized>(value: &T) {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value).expect("serialisable output");
    let _ = writeln!(out);
}

/// Left-aligned columns, two spaces apart, no trailing blanks.
pub fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = std::io::stdout().lock();
    let mut line = |cells: Vec<&str>| {
        let mut text = String::new();
        for (i, (cell, width)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<width$}  "));
            }
        }
        let _ = writeln!(out, "{}", text.trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

fn ago(rfc3339: Option<&str>) -> String {
    let Some(t) = rfc3339.and_then(|t| DateTime::parse_from_rfc3339(t).ok()) else { return "never".into() };
    let ms = Utc::now().timestamp_millis() - t.timestamp_millis();
    format!("{} ago", human_duration(ms)).replace("Less than a second ago", "just now")
}

/// "online, synced 2 minutes ago" / "offline (since ...), data from 3 hours ago".
fn freshness(host: &HostSummary) -> String {
    match host.status {
        Reachability::Never => "never synced".into(),
        Reachability::Connecting => "connecting".into(),
        Reachability::Online => format!("online, synced {}", ago(host.last_sync.as_deref())),
        Reachability::Offline => format!(
            "offline, last seen {}, data from {}",
            ago(host.last_seen.as_deref()),
            ago(host.last_sync.as_deref())
        ),
    }
}

pub fn hosts_table(hosts: &[HostSummary]) {
    if hosts.is_empty() {
        println!("no hosts; add one with `berth host add NAME URL`");
        return;
    }
    let rows: Vec<Vec<String>> = hosts
        .iter()
        .map(|h| {
            vec![
                h.name.clone(),
                h.url.clone(),
                h.status.as_str().to_owned(),
                ago(h.last_sync.as_deref()),
                h.api_version.clone().unwrap_or_else(|| "-".into()),
                h.containers.to_string(),
                h.last_error.clone().filter(|_| h.status == Reachability::Offline).unwrap_or_default(),
            ]
        })
        .collect();
    table(&["NAME", "URL", "STATUS", "LAST SYNC", "API", "CONTAINERS", "ERROR"], &rows);
}

pub fn containers_table(containers: &[ContainerRow], hosts: &[HostSummary]) {
    let rows: Vec<Vec<String>> = containers
        .iter()
        .map(|c| {
            let ips: Vec<String> = c.ips.iter().map(|(net, ip)| format!("{net}={ip}")).collect();
            vec![
                c.host.clone(),
                c.id.chars().take(12).collect(),
                c.name.clone(),
                c.image.clone(),
                c.status.clone(),
                ips.join(","),
            ]
        })
        .collect();
    table(&["HOST", "CONTAINER ID", "NAME", "IMAGE", "STATUS", "IPS"], &rows);
    // How stale each host's rows are: the table is read from the mirror, not from the daemons.
    let shown: std::collections::BTreeSet<&str> = containers.iter().map(|c| c.host.as_str()).collect();
    let mut out = std::io::stdout().lock();
    if containers.is_empty() {
        let _ = writeln!(out, "(no containers match)");
    }
    for host in hosts.iter().filter(|h| shown.contains(h.name.as_str()) || h.status != Reachability::Online) {
        let _ = writeln!(out, "# {}: {}", host.name, freshness(host));
    }
}

pub fn events_table(events: &[EventRow]) {
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|e| {
            let time = DateTime::parse_from_rfc3339(&e.time)
                .map(|t| t.with_timezone(&Utc).format("%Y-%m-%d %H:%M:%S%.3f").to_string())
                .unwrap_or_else(|_| e.time.clone());
            let actor = e
                .actor_name
                .clone()
                .or_else(|| e.actor_id.as_ref().map(|id| id.chars().take(12).collect()))
                .unwrap_or_default();
            vec![time, e.host.clone(), e.kind.clone(), e.action.clone(), actor]
        })
        .collect();
    table(&["TIME (UTC)", "HOST", "TYPE", "ACTION", "ACTOR"], &rows);
}
