//! Tables for people, JSON for scripts. The tables write to any `Write` (standard output, or a
//! buffer in tests); a write that fails (a closed pipe: `berth ps | head`) ends them quietly.

use std::io::Write;

use berth_core::model::{ContainerRow, EventRow, HostSummary, Reachability};
use berth_core::time::human_duration;
use chrono::{DateTime, Utc};
use serde::Serialize;

pub fn json<T: Serialize + ?Sized>(value: &T) {
    write_json(&mut std::io::stdout().lock(), value);
}

/// `value` as pretty JSON, then a newline. A closed pipe (`berth … --json | head`) ends it
/// quietly, as it ends the tables.
fn write_json<T: Serialize + ?Sized>(out: &mut impl Write, value: &T) {
    match serde_json::to_writer_pretty(&mut *out, value) {
        Ok(()) => {
            let _ = writeln!(out);
        }
        Err(e) if e.is_io() => {}
        Err(e) => panic!("output that does not serialise: {e}"),
    }
}

/// Left-aligned columns, two spaces apart, no trailing blanks.
pub fn table(out: &mut impl Write, header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
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

fn ago(rfc3339: Option<&str>, now: DateTime<Utc>) -> String {
    let Some(t) = rfc3339.and_then(|t| DateTime::parse_from_rfc3339(t).ok()) else {
        return "never".into();
    };
    let ms = now.timestamp_millis() - t.timestamp_millis();
    format!("{} ago", human_duration(ms)).replace("Less than a second ago", "just now")
}

/// "online, synced 2 minutes ago" / "offline (since ...), data from 3 hours ago".
fn freshness(host: &HostSummary, now: DateTime<Utc>) -> String {
    match host.status {
        Reachability::Never => "never synced".into(),
        Reachability::Connecting => "connecting".into(),
        Reachability::Online => format!("online, synced {}", ago(host.last_sync.as_deref(), now)),
        Reachability::Offline => format!("offline, last seen {}, data from {}", ago(host.last_seen.as_deref(), now), ago(host.last_sync.as_deref(), now)),
    }
}

/// `berth host ls`; ages are counted to `now`.
pub fn hosts_table(out: &mut impl Write, hosts: &[HostSummary], now: DateTime<Utc>) {
    if hosts.is_empty() {
        let _ = writeln!(out, "no hosts; add one with `berth host add NAME URL`");
        return;
    }
    let rows: Vec<Vec<String>> = hosts
        .iter()
        .map(|h| {
            vec![
                h.name.clone(),
                h.url.clone(),
                h.status.as_str().to_owned(),
                ago(h.last_sync.as_deref(), now),
                h.api_version.clone().unwrap_or_else(|| "-".into()),
                h.containers.to_string(),
                h.last_error.clone().filter(|_| h.status == Reachability::Offline).unwrap_or_default(),
            ]
        })
        .collect();
    table(out, &["NAME", "URL", "STATUS", "LAST SYNC", "API", "CONTAINERS", "ERROR"], &rows);
}

/// `berth ps`, then how fresh each shown host's rows are (and each host that is not online);
/// ages are counted to `now`.
pub fn containers_table(out: &mut impl Write, containers: &[ContainerRow], hosts: &[HostSummary], now: DateTime<Utc>) {
    let rows: Vec<Vec<String>> = containers
        .iter()
        .map(|c| {
            let ips: Vec<String> = c.ips.iter().map(|(net, ip)| format!("{net}={ip}")).collect();
            vec![c.host.clone(), c.id.chars().take(12).collect(), c.name.clone(), c.image.clone(), c.status.clone(), ips.join(",")]
        })
        .collect();
    table(out, &["HOST", "CONTAINER ID", "NAME", "IMAGE", "STATUS", "IPS"], &rows);
    // How stale each host's rows are: the table is read from the mirror, not from the daemons.
    let shown: std::collections::BTreeSet<&str> = containers.iter().map(|c| c.host.as_str()).collect();
    if containers.is_empty() {
        let _ = writeln!(out, "(no containers match)");
    }
    for host in hosts.iter().filter(|h| shown.contains(h.name.as_str()) || h.status != Reachability::Online) {
        let _ = writeln!(out, "# {}: {}", host.name, freshness(host, now));
    }
}

/// `berth events`, times in UTC.
pub fn events_table(out: &mut impl Write, events: &[EventRow]) {
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|e| {
            let time = DateTime::parse_from_rfc3339(&e.time)
                .map(|t| t.with_timezone(&Utc).format("%Y-%m-%d %H:%M:%S%.3f").to_string())
                .unwrap_or_else(|_| e.time.clone());
            let actor = e.actor_name.clone().or_else(|| e.actor_id.as_ref().map(|id| id.chars().take(12).collect())).unwrap_or_default();
            vec![time, e.host.clone(), e.kind.clone(), e.action.clone(), actor]
        })
        .collect();
    table(out, &["TIME (UTC)", "HOST", "TYPE", "ACTION", "ACTOR"], &rows);
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;

    use berth_core::model::HostKind;

    use super::*;

    /// What a printer wrote.
    pub(crate) fn text(print: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        print(&mut out);
        String::from_utf8(out).unwrap()
    }

    fn now() -> DateTime<Utc> {
        "2026-03-01T12:00:00Z".parse().unwrap()
    }

    fn host(name: &str, status: Reachability) -> HostSummary {
        HostSummary {
            id: 1,
            name: name.into(),
            url: format!("tcp://{name}:2375"),
            status,
            last_sync: None,
            api_version: None,
            containers: 0,
            labels: BTreeMap::new(),
            last_seen: None,
            last_error: None,
            kind: HostKind::Tcp,
            states: BTreeMap::new(),
            rtt_ms: None,
            tls: None,
            ssh: None,
        }
    }

    fn container(host: &str, id: &str, name: &str, status: &str, ips: &[(&str, &str)]) -> ContainerRow {
        ContainerRow {
            host: host.into(),
            host_id: 1,
            id: id.into(),
            name: name.into(),
            image: "busybox:latest".into(),
            state: "running".into(),
            status: status.into(),
            exit_code: None,
            ips: ips.iter().map(|(net, ip)| (net.to_string(), ip.to_string())).collect(),
            labels: BTreeMap::new(),
            created: "2026-03-01T11:00:00Z".into(),
            synced_at: "2026-03-01T11:58:00Z".into(),
            created_ms: 0,
            started_ms: None,
            finished_ms: None,
            health: None,
        }
    }

    fn event(time: &str, kind: &str, action: &str, actor_id: Option<&str>, actor_name: Option<&str>) -> EventRow {
        EventRow {
            host: "a".into(),
            time: time.into(),
            time_ns: 0,
            seq: 1,
            host_id: 1,
            time_ms: 0,
            kind: kind.into(),
            action: action.into(),
            actor_id: actor_id.map(Into::into),
            actor_name: actor_name.map(Into::into),
            attributes: BTreeMap::new(),
        }
    }

    /// What [`table`] writes for these cells.
    fn table_of(header: &[&str], cells: &[&[&str]]) -> String {
        let rows: Vec<Vec<String>> = cells.iter().map(|row| row.iter().map(|cell| cell.to_string()).collect()).collect();
        text(|out| table(out, header, &rows))
    }

    #[test]
    fn tables_pad_every_column_but_the_last() {
        assert_eq!(table_of(&["NAME", "URL"], &[]), "NAME  URL\n");
        assert_eq!(table_of(&["A", "B", "C"], &[&["long cell", "b", "c"]]), "A          B  C\nlong cell  b  c\n");
        assert_eq!(table_of(&["A", "B"], &[&["", "b"]]), "A  B\n   b\n");
        // An empty last cell leaves no blanks behind.
        assert_eq!(table_of(&["NAME", "NOTE"], &[&["x", ""]]), "NAME  NOTE\nx\n");
        // Widths count characters, not bytes.
        assert_eq!(table_of(&["NAME", "NOTE"], &[&["ünï", "ok"]]), "NAME  NOTE\nünï   ok\n");
    }

    #[test]
    fn json_is_pretty_with_a_newline() {
        assert_eq!(text(|out| write_json(out, &serde_json::json!({"a": [1]}))), "{\n  \"a\": [\n    1\n  ]\n}\n");
    }

    #[test]
    fn hosts_show_status_and_freshness() {
        let online = HostSummary {
            last_sync: Some("2026-03-01T11:58:00Z".into()),
            api_version: Some("1.47".into()),
            containers: 3,
            // An online host's last error is old news.
            last_error: Some("timed out".into()),
            ..host("a", Reachability::Online)
        };
        let offline =
            HostSummary { last_sync: Some("2026-02-28T09:00:00Z".into()), last_error: Some("connection refused".into()), ..host("b", Reachability::Offline) };
        let just_synced = HostSummary { last_sync: Some("2026-03-01T11:59:59.5Z".into()), ..host("c", Reachability::Online) };
        let cases = [
            (vec![], "no hosts; add one with `berth host add NAME URL`\n"),
            (
                vec![online, offline, just_synced, host("d", Reachability::Never)],
                "NAME  URL           STATUS   LAST SYNC      API   CONTAINERS  ERROR
a     tcp://a:2375  online   2 minutes ago  1.47  3
b     tcp://b:2375  offline  27 hours ago   -     0           connection refused
c     tcp://c:2375  online   just now       -     0
d     tcp://d:2375  never    never          -     0
",
            ),
        ];
        for (hosts, expected) in cases {
            assert_eq!(text(|out| hosts_table(out, &hosts, now())), expected);
        }
    }

    #[test]
    fn containers_say_how_fresh_their_hosts_are() {
        let a = HostSummary { last_sync: Some("2026-03-01T11:58:00Z".into()), ..host("a", Reachability::Online) };
        let b =
            HostSummary { last_seen: Some("2026-03-01T11:00:00Z".into()), last_sync: Some("2026-03-01T09:00:00Z".into()), ..host("b", Reachability::Offline) };
        let quiet = HostSummary { last_sync: Some("2026-03-01T11:00:00Z".into()), ..host("quiet", Reachability::Online) };
        let hosts = [a, b, quiet, host("new", Reachability::Never)];
        let web = container("a", "0123456789abcdef", "web", "Up 2 hours", &[("bridge", "172.17.0.2"), ("lan", "10.20.0.9")]);
        let db = container("b", "fedcba9876543210", "db", "Exited (0) 3 hours ago", &[]);
        let cases = [
            (
                vec![web, db],
                "HOST  CONTAINER ID  NAME  IMAGE           STATUS                  IPS
a     0123456789ab  web   busybox:latest  Up 2 hours              bridge=172.17.0.2,lan=10.20.0.9
b     fedcba987654  db    busybox:latest  Exited (0) 3 hours ago
# a: online, synced 2 minutes ago
# b: offline, last seen About an hour ago, data from 3 hours ago
# new: never synced
",
            ),
            (
                vec![],
                "HOST  CONTAINER ID  NAME  IMAGE  STATUS  IPS
(no containers match)
# b: offline, last seen About an hour ago, data from 3 hours ago
# new: never synced
",
            ),
        ];
        for (containers, expected) in cases {
            assert_eq!(text(|out| containers_table(out, &containers, &hosts, now())), expected);
        }
    }

    #[test]
    fn events_are_in_utc_with_their_actor() {
        let events = [
            event("2026-03-01T13:00:00.25+01:00", "container", "start", Some("0123456789abcdef"), Some("web")),
            event("2026-03-01T12:00:01Z", "image", "pull", Some("sha256:0123456789abcdef"), None),
            event("not a time", "network", "connect", None, None),
        ];
        let expected = "TIME (UTC)               HOST  TYPE       ACTION   ACTOR
2026-03-01 12:00:00.250  a     container  start    web
2026-03-01 12:00:01.000  a     image      pull     sha256:01234
not a time               a     network    connect
";
        assert_eq!(text(|out| events_table(out, &events)), expected);
        assert_eq!(text(|out| events_table(out, &[])), "TIME (UTC)  HOST  TYPE  ACTION  ACTOR\n");
    }
}
