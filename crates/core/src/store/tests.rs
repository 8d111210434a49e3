use std::collections::BTreeMap;
use std::path::Path;

use super::*;
use crate::endpoint::Endpoint;
use crate::model::{Change, ContainerFacts, EngineFacts, EventRecord, HostConfig, Snapshot};
use crate::store::query::ContainerFilter;

fn open_in(dir: &Path) -> Store {
    Store::open(&dir.join("berth.db")).unwrap()
}

fn host_config(name: &str) -> HostConfig {
    HostConfig { name: name.into(), endpoint: Endpoint::parse("unix:///run/x.sock", None).unwrap(), labels: BTreeMap::new() }
}

fn container(id: &str, name: &str, state: &str, labels: &[(&str, &str)], ips: &[(&str, &str)]) -> ContainerFacts {
    ContainerFacts {
        id: id.into(),
        name: name.into(),
        image: "busybox:latest".into(),
        image_id: Some("sha256:abcdef".into()),
        state: state.into(),
        exit_code: Some(0),
        created_ms: 1_000,
        started_ms: Some(2_000),
        finished_ms: None,
        health: None,
        labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        ips: ips.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        inspect: format!(r#"{{"Id":"{id}"}}"#),
    }
}

fn engine() -> EngineFacts {
    EngineFacts { api_version: "1.41".into(), server_version: Some("20.10".into()), info: "{}".into() }
}

fn snapshot(containers: Vec<ContainerFacts>) -> Snapshot {
    Snapshot { engine: engine(), containers, images: vec![], networks: vec![], volumes: vec![] }
}

#[test]
fn a_new_file_gets_the_latest_schema_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_in(dir.path());
    assert_eq!(store.schema_version().unwrap(), schema::latest());
    drop(store);
    assert_eq!(open_in(dir.path()).schema_version().unwrap(), schema::latest());
    let mode: String = open_in(dir.path()).conn().query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn every_earlier_version_migrates_forward() {
    for start in 0..schema::latest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("berth.db");
        {
            let conn = rusqlite::Connection::open(&path).unwrap();
            for sql in &schema::MIGRATIONS[..start as usize] {
                conn.execute_batch(sql).unwrap();
            }
            conn.pragma_update(None, "user_version", start).unwrap();
            if start > 0 {
                conn.pragma_update(None, "application_id", schema::APPLICATION_ID).unwrap();
            }
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), schema::latest(), "from version {start}");
        store.add_host(&host_config("h")).unwrap();
    }
}

#[test]
fn a_newer_schema_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("berth.db");
    drop(Store::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", schema::latest() + 1).unwrap();
    drop(conn);
    let before = std::fs::read(&path).unwrap();
    let err = Store::open(&path).unwrap_err();
    assert_eq!(err.code(), "schema_too_new", "{err}");
    assert!(err.to_string().contains("newer Berth"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn foreign_files_are_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not a database, just some text that is long enough").unwrap();
    let err = Store::open(&text).unwrap_err();
    assert_eq!(err.code(), "not_a_berth_database", "{err}");
    assert_eq!(std::fs::read_to_string(&text).unwrap(), "not a database, just some text that is long enough");

    let other = dir.path().join("other.db");
    rusqlite::Connection::open(&other).unwrap().execute_batch("CREATE TABLE notes (body TEXT);").unwrap();
    let before = std::fs::read(&other).unwrap();
    let err = Store::open(&other).unwrap_err();
    assert!(err.to_string().contains("another program"), "{err}");
    assert_eq!(std::fs::read(&other).unwrap(), before);

    let err = Store::open(dir.path()).unwrap_err();
    assert!(err.to_string().contains("directory"), "{err}");
}

#[test]
fn a_corrupt_berth_file_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("berth.db");
    drop(Store::open(&path).unwrap());
    // Keep the SQLite header, scribble over the rest of the first page.
    let mut bytes = std::fs::read(&path).unwrap();
    for b in bytes.iter_mut().skip(16).take(100) {
        *b = 0xAB;
    }
    std::fs::write(&path, &bytes).unwrap();
    let _ = std::fs::remove_file(dir.path().join("berth.db-wal"));
    let err = Store::open(&path).unwrap_err();
    assert_eq!(err.code(), "not_a_berth_database", "{err}");
}

#[test]
fn hosts_are_unique_and_removal_cascades() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_in(dir.path());
    let host = store.add_host(&host_config("alpha")).unwrap();
    assert_eq!(store.add_host(&host_config("alpha")).unwrap_err().code(), "host_exists");
    assert_eq!(store.add_host(&host_config("bad/name")).unwrap_err().code(), "invalid_input");
    store.write_snapshot(host.id, &snapshot(vec![container("c1", "web", "running", &[], &[("net", "10.0.0.2")])])).unwrap();
    store.remove_host("alpha").unwrap();
    assert_eq!(store.remove_host("alpha").unwrap_err().code(), "host_not_found");
    let left: i64 = store.conn().query_row("SELECT count(*) FROM container_ips", [], |r| r.get(0)).unwrap();
    assert_eq!(left, 0);
}

#[test]
fn snapshots_replace_and_events_touch_single_rows() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_in(dir.path());
    let host = store.add_host(&host_config("alpha")).unwrap();
    store.write_snapshot(host.id, &snapshot(vec![container("c1", "web", "running", &[], &[]), container("c2", "db", "exited", &[], &[])])).unwrap();
    store.write_snapshot(host.id, &snapshot(vec![container("c2", "db", "running", &[], &[])])).unwrap();
    let all = ContainerFilter { all: true, ..Default::default() };
    let names: Vec<_> = store.containers(&all).unwrap().into_iter().map(|c| (c.name, c.state)).collect();
    assert_eq!(names, vec![("db".to_string(), "running".to_string())]);

    let event = EventRecord {
        time_ns: 5,
        kind: "container".into(),
        action: "destroy".into(),
        actor_id: Some("c2".into()),
        actor_name: Some("db".into()),
        attributes: BTreeMap::new(),
    };
    let changes = [Change::RemoveContainer("c2".into()), Change::UpsertContainer(container("c3", "cache", "created", &[], &[]))];
    store.apply_events(host.id, std::slice::from_ref(&event), &changes).unwrap();
    // Replayed events are stored once.
    store.apply_events(host.id, &[event], &[]).unwrap();
    let names: Vec<_> = store.containers(&all).unwrap().into_iter().map(|c| c.name).collect();
    assert_eq!(names, vec!["cache"]);
    let events = store.events(&EventQuery { host: None, since_ns: None, limit: 10 }).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(store.last_event_ns(host.id).unwrap(), Some(5));
}

#[test]
fn filters_combine_like_docker_ps() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_in(dir.path());
    let a = store.add_host(&host_config("alpha")).unwrap();
    let b = store.add_host(&host_config("beta")).unwrap();
    store
        .write_snapshot(
            a.id,
            &snapshot(vec![
                container("a1", "shop-web", "running", &[("app", "shop"), ("tier", "web")], &[("lan", "192.168.5.10")]),
                container("a2", "shop-db", "exited", &[("app", "shop")], &[]),
            ]),
        )
        .unwrap();
    store.write_snapshot(b.id, &snapshot(vec![container("b1", "blog-web", "running", &[("app", "blog")], &[("lan", "192.168.5.11")])])).unwrap();
    let names = |specs: &[&str], all: bool, host: Option<&str>| -> Vec<String> {
        let mut f = ContainerFilter { all, host: host.map(str::to_owned), ..Default::default() };
        for s in specs {
            f.add(s).unwrap();
        }
        store.containers(&f).unwrap().into_iter().map(|c| format!("{}/{}", c.host, c.name)).collect()
    };
    assert_eq!(names(&[], false, None), ["alpha/shop-web", "beta/blog-web"]);
    assert_eq!(names(&[], true, Some("alpha")), ["alpha/shop-db", "alpha/shop-web"]);
    assert_eq!(names(&["name=web"], true, None), ["alpha/shop-web", "beta/blog-web"]);
    assert_eq!(names(&["name=shop", "name=blog"], true, None).len(), 3);
    assert_eq!(names(&["state=exited"], false, None), ["alpha/shop-db"]);
    assert_eq!(names(&["label=app=shop"], true, None), ["alpha/shop-db", "alpha/shop-web"]);
    assert_eq!(names(&["label=app=shop", "label=tier"], true, None), ["alpha/shop-web"]);
    assert_eq!(names(&["ip=192.168.5.11"], true, None), ["beta/blog-web"]);
    assert_eq!(names(&["image=busybox"], true, Some("beta")), ["beta/blog-web"]);
    assert_eq!(names(&["image=busybox:latest", "name=db"], true, None), ["alpha/shop-db"]);
    assert!(names(&["image=nginx"], true, None).is_empty());

    let rows = store.containers(&ContainerFilter { all: true, ..Default::default() }).unwrap();
    let row = rows.iter().find(|r| r.name == "shop-web").unwrap();
    assert_eq!(row.ips.get("lan").map(String::as_str), Some("192.168.5.10"));
    assert_eq!(row.labels.get("tier").map(String::as_str), Some("web"));

    let mut f = ContainerFilter::default();
    for (spec, needle) in
        [("name", "KEY=VALUE"), ("colour=red", "unknown key"), ("state=up", "unknown state"), ("ip=300.1.1.1", "not an IP"), ("name=", "empty")]
    {
        let err = f.add(spec).unwrap_err().to_string();
        assert!(err.contains(needle), "{spec}: {err}");
    }
    let missing = ContainerFilter { host: Some("gamma".into()), ..Default::default() };
    assert_eq!(store.containers(&missing).unwrap_err().code(), "host_not_found");
}

#[test]
fn inspect_finds_by_id_prefix_name_and_host_slash_name() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_in(dir.path());
    let a = store.add_host(&host_config("alpha")).unwrap();
    let b = store.add_host(&host_config("beta")).unwrap();
    store.write_snapshot(a.id, &snapshot(vec![container("abc123", "web", "running", &[], &[])])).unwrap();
    store.write_snapshot(b.id, &snapshot(vec![container("abd456", "web", "running", &[], &[])])).unwrap();
    let host_of = |q: &str| store.container_inspect(q).map(|(h, id, _)| format!("{h}:{id}"));
    assert_eq!(host_of("abc123").unwrap(), "alpha:abc123");
    assert_eq!(host_of("abd").unwrap(), "beta:abd456");
    assert_eq!(host_of("beta/web").unwrap(), "beta:abd456");
    assert_eq!(host_of("alpha/abc").unwrap(), "alpha:abc123");
    assert_eq!(host_of("web").unwrap_err().code(), "ambiguous_container");
    assert_eq!(host_of("ab").unwrap_err().code(), "ambiguous_container");
    assert_eq!(host_of("nope").unwrap_err().code(), "container_not_found");
    assert_eq!(host_of("gamma/web").unwrap_err().code(), "host_not_found");
    let (_, _, inspect) = store.container_inspect("alpha/web").unwrap();
    assert_eq!(inspect, r#"{"Id":"abc123"}"#);
}

#[test]
fn status_tracks_online_offline_and_never() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_in(dir.path());
    let a = store.add_host(&host_config("alpha")).unwrap();
    let status = |store: &Store| store.host_summaries().unwrap()[0].status.as_str();
    assert_eq!(status(&store), "never");
    store.mark_online(a.id, &engine()).unwrap();
    assert_eq!(status(&store), "online");
    store.mark_offline(a.id, "gone").unwrap();
    let summary = &store.host_summaries().unwrap()[0];
    assert_eq!((summary.status.as_str(), summary.last_error.as_deref()), ("offline", Some("gone")));
    assert!(summary.last_seen.is_some(), "last-seen survives going offline");
    assert_eq!(summary.api_version.as_deref(), Some("1.41"));
}

#[test]
fn events_are_bounded_per_host_keeping_the_newest() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_in(dir.path()).with_events_kept_per_host(100);
    let a = store.add_host(&host_config("alpha")).unwrap();
    let b = store.add_host(&host_config("beta")).unwrap();
    let event = |t: i64| EventRecord {
        time_ns: t,
        kind: "container".into(),
        action: "start".into(),
        actor_id: Some(format!("c{t}")),
        actor_name: None,
        attributes: BTreeMap::new(),
    };
    store.apply_events(b.id, &[event(1)], &[]).unwrap();
    for batch in 0..300 {
        let events: Vec<_> = (0..10).map(|i| event(1_000 + batch * 10 + i)).collect();
        store.apply_events(a.id, &events, &[]).unwrap();
    }
    let count = |host: i64| -> i64 { store.conn().query_row("SELECT count(*) FROM events WHERE host_id = ?1", [host], |r| r.get(0)).unwrap() };
    assert!((100..100 + 1024).contains(&count(a.id)), "{} events kept", count(a.id));
    assert_eq!(count(b.id), 1, "another host's events are not trimmed");
    let newest = store.events(&EventQuery { host: Some("alpha".into()), since_ns: None, limit: 1 }).unwrap();
    assert_eq!(newest[0].time_ns, 1_000 + 2_999);
    let oldest: i64 = store.conn().query_row("SELECT min(time_ns) FROM events WHERE host_id = ?1", [a.id], |r| r.get(0)).unwrap();
    assert!(oldest > 1_000 + 2_999 - 1_124, "old events were dropped (oldest kept: {oldest})");
}

#[test]
fn summaries_count_states_and_keep_the_last_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_in(dir.path());
    let host = store.add_host(&host_config("a")).unwrap();
    store.mark_online(host.id, &engine()).unwrap();
    store.touch_seen(host.id, 12.5).unwrap();
    store
        .write_snapshot(
            host.id,
            &snapshot(vec![
                container("c1", "web", "running", &[], &[]),
                container("c2", "db", "running", &[], &[]),
                container("c3", "job", "exited", &[], &[]),
            ]),
        )
        .unwrap();
    let summary = store.host_summary(host.id).unwrap();
    assert_eq!(summary.containers, 3);
    assert_eq!(summary.states, BTreeMap::from([("running".to_owned(), 2), ("exited".to_owned(), 1)]));
    assert_eq!(summary.rtt_ms, Some(12.5));
    assert_eq!(summary.kind, crate::model::HostKind::Unix);
    assert!(matches!(store.host_summary(host.id + 1), Err(Error::HostNotFound { .. })));
}

#[test]
fn editing_a_host_renames_it_and_a_new_engine_starts_a_new_mirror() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_in(dir.path());
    let host = store.add_host(&host_config("a")).unwrap();
    store.add_host(&host_config("taken")).unwrap();
    store.write_snapshot(host.id, &snapshot(vec![container("c1", "web", "running", &[], &[])])).unwrap();

    // Same engine, new name and labels: the mirror stays.
    let mut renamed = host_config("b");
    renamed.labels.insert("dc".into(), "eu".into());
    store.update_host("a", &renamed).unwrap();
    assert!(matches!(store.host("a"), Err(Error::HostNotFound { .. })));
    assert_eq!(store.host("b").unwrap().config.labels["dc"], "eu");
    assert_eq!(store.host_summary(host.id).unwrap().containers, 1);

    // A taken name is refused and nothing changes.
    assert!(matches!(store.update_host("b", &host_config("taken")), Err(Error::HostExists { .. })));
    assert_eq!(store.host("b").unwrap().id, host.id);

    // Another engine: what was mirrored from the old one goes.
    let moved = HostConfig { endpoint: Endpoint::parse("tcp://10.0.0.1:2375", None).unwrap(), ..renamed };
    store.update_host("b", &moved).unwrap();
    assert_eq!(store.host_summary(host.id).unwrap().containers, 0);
    assert_eq!(store.host("b").unwrap().config.endpoint.to_string(), "tcp://10.0.0.1:2375");
}

#[test]
fn rows_can_be_fetched_by_id_for_patches() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_in(dir.path());
    let host = store.add_host(&host_config("a")).unwrap();
    store.write_snapshot(host.id, &snapshot(vec![container("c1", "web", "running", &[], &[]), container("c2", "job", "exited", &[], &[])])).unwrap();
    let filter = ContainerFilter { all: true, ids: vec!["c2".into(), "gone".into()], ..Default::default() };
    let rows = store.containers(&filter).unwrap();
    assert_eq!(rows.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["c2"]);
    assert_eq!(rows[0].host_id, host.id);
    assert_eq!(rows[0].created_ms, 1_000);
    assert_eq!(rows[0].started_ms, Some(2_000));
}
