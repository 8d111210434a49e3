//! The audit log: rows read back through every filter, a request and its completion, claims,
//! and a chain that names the row where an edit or a deletion (made with raw SQL on a second
//! connection, as a person with `sqlite3` would) breaks it.

use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use serde_json::json;

use super::*;

/// 2026-11-25T12:00:00Z
const T0: i64 = 1_795_608_000_000;
const DAY: i64 = 86_400_000;

/// A store on `dir`'s berth.db whose audit clock reads `clock`.
fn store_at(dir: &Path, clock: &Arc<AtomicI64>) -> Store {
    let clock = Arc::clone(clock);
    Store::open(&dir.join("berth.db")).unwrap().with_audit_clock(move || clock.load(Ordering::SeqCst))
}

/// A store in a new folder, its audit clock at T0.
fn clocked() -> (tempfile::TempDir, Arc<AtomicI64>, Store) {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(AtomicI64::new(T0));
    let store = store_at(dir.path(), &clock);
    (dir, clock, store)
}

/// The connection a person with `sqlite3` would open.
fn raw(dir: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(dir.join("berth.db")).unwrap()
}

/// A container stopped on `host` by alice through the CLI; vary it with `..row(…)`.
fn row(op: &str, host: &str, action: &str) -> NewAuditRow {
    NewAuditRow {
        op: op.into(),
        actor: "alice".into(),
        via: Via::Cli,
        host: Some(host.into()),
        kind: "container".into(),
        object: object(Some(&format!("{:0<64}", "c0ffee")), Some("web")),
        action: action.into(),
        outcome: Outcome::Ok,
        error: None,
        before: Some(json!({"state": "running"})),
        after: Some(json!({"state": "exited"})),
        reason: None,
        request: None,
    }
}

/// `row("op", "h1", "stop")` with one change.
fn changed(change: impl FnOnce(&mut NewAuditRow)) -> NewAuditRow {
    let mut row = row("op", "h1", "stop");
    change(&mut row);
    row
}

fn object(id: Option<&str>, name: Option<&str>) -> AuditObject {
    AuditObject { id: id.map(Into::into), name: name.map(Into::into) }
}

/// A 64-digit container id starting with `prefix`.
fn cid(prefix: &str) -> String {
    format!("{prefix:0<64}")
}

/// A query as `key=value` words: host, since (ms after T0), via, op, kind, object, outcome,
/// limit.
fn query(words: &str) -> AuditQuery {
    let mut q = AuditQuery::default();
    for word in words.split_whitespace() {
        let (key, value) = word.split_once('=').unwrap();
        let text = Some(value.to_owned());
        match key {
            "host" => q.host = text,
            "since" => q.since_ms = Some(T0 + value.parse::<i64>().unwrap()),
            "via" => q.via = Some(value.parse().unwrap()),
            "op" => q.op = text,
            "kind" => q.kind = text,
            "object" => q.object = text,
            "outcome" => q.outcome = Some(value.parse().unwrap()),
            "limit" => q.limit = value.parse().unwrap(),
            _ => panic!("no query key {key}"),
        }
    }
    q
}

fn ids(rows: &[AuditRow]) -> Vec<i64> {
    rows.iter().map(|r| r.id).collect()
}

/// Five rows, one a second from T0, for the chain tests.
fn five_rows(dir: &Path) -> Store {
    let clock = Arc::new(AtomicI64::new(T0));
    let store = store_at(dir, &clock);
    for i in 0..5 {
        clock.store(T0 + i * 1000, Ordering::SeqCst);
        store.audit_append(&[row(&format!("op-{i}"), "h1", "stop")]).unwrap();
    }
    store
}

fn report(store: &Store) -> (bool, u64, Option<i64>) {
    let report = store.audit_verify().unwrap();
    (report.ok, report.rows, report.first_bad)
}

#[test]
fn rows_read_back_with_every_filter() {
    let (_dir, clock, store) = clocked();
    let rows = [
        row("op-1", "h1", "stop"),
        NewAuditRow {
            object: object(Some(&cid("aaaa2222")), Some("db")),
            outcome: Outcome::Failed,
            error: Some("no such container".into()),
            ..row("op-1", "h1", "stop")
        },
        NewAuditRow { via: Via::App, object: object(Some(&cid("bbbb1111")), Some("web")), ..row("op-2", "h2", "start") },
        NewAuditRow {
            via: Via::External,
            actor: "host:h2".into(),
            kind: "network".into(),
            object: object(Some(&cid("cccc")), Some("front")),
            before: None,
            ..row("op-3", "h2", "create")
        },
        NewAuditRow { host: None, kind: "pool".into(), object: object(None, Some("lan")), reason: Some("more room".into()), ..row("op-4", "h1", "create") },
    ];
    let mut rows = rows.to_vec();
    rows[0].object = object(Some(&cid("aaaa1111")), Some("web"));
    for (i, r) in rows.iter().enumerate() {
        clock.store(T0 + i as i64 * 1000, Ordering::SeqCst);
        assert_eq!(store.audit_append(std::slice::from_ref(r)).unwrap(), [i as i64 + 1]);
    }
    let full_id = format!("object={}", cid("aaaa2222"));
    // (query, ids newest first)
    let cases: &[(&str, &[i64])] = &[
        ("", &[5, 4, 3, 2, 1]),
        ("host=h1", &[2, 1]),
        ("host=h2 since=2500", &[4]),
        ("since=1000", &[5, 4, 3, 2]),
        ("via=external", &[4]),
        ("via=app", &[3]),
        ("op=op-1", &[2, 1]),
        ("kind=pool", &[5]),
        ("object=web", &[3, 1]),
        ("object=aaaa", &[2, 1]),
        ("object=aaaa2", &[2]),
        ("object=aaa", &[]),
        (&full_id, &[2]),
        ("object=lan", &[5]),
        ("outcome=failed", &[2]),
        ("host=h1 outcome=ok", &[1]),
        ("limit=2", &[5, 4]),
        ("host=nowhere", &[]),
    ];
    for &(words, want) in cases {
        assert_eq!(ids(&store.audit(&query(words)).unwrap()), want, "{words}");
    }
    let some = |s: &str| Some(s.to_owned());
    let second = &store.audit(&query("op=op-1 limit=1")).unwrap()[0];
    let want = AuditRow {
        id: 2,
        op: "op-1".into(),
        time: "2026-11-25T12:00:01.000Z".into(),
        time_ms: T0 + 1000,
        actor: "alice".into(),
        via: Via::Cli,
        host: some("h1"),
        kind: "container".into(),
        object: object(Some(&cid("aaaa2222")), Some("db")),
        action: "stop".into(),
        outcome: Outcome::Failed,
        error: some("no such container"),
        before: Some(json!({"state": "running"})),
        after: Some(json!({"state": "exited"})),
        reason: None,
        request: None,
        hash: second.hash.clone(),
    };
    assert_eq!(second, &want);
    assert_eq!(second.hash.len(), 64);
}

#[test]
fn rows_serialise_with_the_documented_field_names() {
    let dir = tempfile::tempdir().unwrap();
    let store = five_rows(dir.path());
    let json = serde_json::to_value(&store.audit(&AuditQuery::default()).unwrap()[0]).unwrap();
    let keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
    let mut want =
        ["id", "op", "time", "time_ms", "actor", "via", "host", "kind", "object", "action", "outcome", "error", "before", "after", "reason", "request", "hash"];
    want.sort();
    assert_eq!(keys, want);
    assert_eq!(json["via"], "cli");
    assert_eq!(json["outcome"], "ok");
    assert_eq!(json["object"], json!({"id": cid("c0ffee"), "name": "web"}));
    assert_eq!(json["before"], json!({"state": "running"}), "an object, not a string");
    assert_eq!(json["error"], Value::Null);
    for via in Via::ALL {
        assert_eq!(serde_json::to_value(via).unwrap(), via.as_str());
    }
    for outcome in Outcome::ALL {
        assert_eq!(serde_json::to_value(outcome).unwrap(), outcome.as_str());
    }
}

#[test]
fn a_request_and_its_completion_are_two_rows() {
    let (_dir, clock, store) = clocked();
    // A create: the name is known, the id is not yet.
    let asked = NewAuditRow { object: object(None, Some("web")), before: None, after: None, reason: Some("new release".into()), ..row("op-1", "h1", "create") };
    let request = store.audit_request(&asked, T0 + 60_000).unwrap();
    assert_eq!(request, 1);
    let rows = store.audit(&AuditQuery::default()).unwrap();
    assert_eq!((rows[0].outcome, rows[0].request), (Outcome::Unknown, None), "stored as unknown");

    clock.store(T0 + 500, Ordering::SeqCst);
    let id = cid("abc123");
    let learnt = object(Some(&id), None);
    let after = Some(json!({"state": "created"}));
    let done = store.audit_complete(request, Outcome::Ok, None, after.clone(), Some(learnt), T0 + 5_000).unwrap();
    assert_eq!(done, 2);
    let rows = store.audit(&AuditQuery::default()).unwrap();
    let completion = &rows[0];
    assert_eq!(completion.request, Some(request));
    assert_eq!(completion.outcome, Outcome::Ok);
    assert_eq!(completion.object, object(Some(&id), Some("web")), "the id learnt, the name kept");
    assert_eq!((&completion.op, &completion.action, &completion.reason, &completion.after), (&asked.op, &asked.action, &asked.reason, &after));
    assert_eq!(rows[1].outcome, Outcome::Unknown, "the request row is never rewritten");
    // The claim now names the id, and ends when the completion said.
    assert_eq!(store.audit_claimed("h1", &id, None, T0 + 4_000).unwrap(), Some(1));
    assert_eq!(store.audit_claimed("h1", &id, None, T0 + 6_000).unwrap(), None);

    let error = |r: Result<i64>| r.unwrap_err().to_string();
    let again = store.audit_complete(request, Outcome::Ok, None, None, None, T0);
    assert!(error(again).contains("completed already (row 2)"));
    let completion = store.audit_complete(2, Outcome::Ok, None, None, None, T0);
    assert!(error(completion).contains("row 2 is not a request"));
    let nothing = store.audit_complete(99, Outcome::Ok, None, None, None, T0);
    assert!(error(nothing).contains("no row 99"));
    assert_eq!(report(&store), (true, 2, None));
}

#[test]
fn claims_fold_events_while_in_flight_and_expire() {
    let (_dir, clock, store) = clocked();
    let web = cid("a1");
    let stop_web = NewAuditRow { object: object(Some(&web), Some("web")), ..row("op-1", "h1", "stop") };
    let stop_db = NewAuditRow { object: object(None, Some("db")), ..row("op-2", "h2", "stop") };
    assert_eq!(store.audit_request(&stop_web, T0 + 60_000).unwrap(), 1);
    assert_eq!(store.audit_request(&stop_db, T0 + 60_000).unwrap(), 2);
    // (host, id, name, now, the claiming request)
    type Case<'a> = (&'a str, &'a str, Option<&'a str>, i64, Option<i64>);
    let cases: &[Case] = &[
        ("h1", &web, None, T0 + 1, Some(1)),
        ("h1", "other", Some("web"), T0 + 1, Some(1)),
        ("h1", "other", Some("/web"), T0 + 1, Some(1)),
        ("h1", &web, None, T0 + 60_000, Some(1)),
        ("h2", &web, Some("web"), T0 + 1, None),
        ("h1", &web, None, T0 - 1, None),
        ("h1", &web, None, T0 + 60_001, None),
        ("h2", "other", Some("db"), T0 + 1, Some(2)),
        ("h2", "other", None, T0 + 1, None),
    ];
    for &(host, id, name, now, want) in cases {
        let got = store.audit_claimed(host, id, name, now).unwrap();
        assert_eq!(got, want, "{host} {id} {name:?} at T0{:+}", now - T0);
    }
    // Ended claims go at the next request, once they are older than CLAIM_KEPT_MS.
    let claims = || -> i64 {
        let sql = "SELECT count(*) FROM audit_claims";
        store.conn().query_row(sql, [], |r| r.get(0)).unwrap()
    };
    clock.store(T0 + 60_000 + CLAIM_KEPT_MS - 1, Ordering::SeqCst);
    store.audit_request(&row("op-3", "h1", "start"), T0 + 20 * 60_000).unwrap();
    assert_eq!(claims(), 3);
    clock.store(T0 + 60_000 + CLAIM_KEPT_MS + 1, Ordering::SeqCst);
    store.audit_request(&row("op-4", "h1", "start"), T0 + 20 * 60_000).unwrap();
    assert_eq!(claims(), 2, "the two ended claims are gone");
    // A completion after its claim went puts it back, to fold what its change caused.
    store.audit_complete(1, Outcome::Ok, None, None, None, T0 + 30 * 60_000).unwrap();
    assert_eq!(store.audit_claimed("h1", &web, None, T0 + 15 * 60_000).unwrap(), Some(1));
}

#[test]
fn verify_holds_on_a_fresh_chain_and_after_prune() {
    let (dir, clock, store) = clocked();
    let fresh = VerifyReport { rows: 0, ok: true, first_bad: None, reason: None, anchor: None };
    assert_eq!(store.audit_verify().unwrap(), fresh);
    let append_at = |day: i64| {
        clock.store(T0 + day * DAY, Ordering::SeqCst);
        store.audit_append(&[row("op", "h1", "stop")]).unwrap()[0]
    };
    for day in 0..10 {
        append_at(day);
    }
    assert_eq!(report(&store), (true, 10, None));
    // Days 0 to 3 go; the last of them is the anchor.
    assert_eq!(store.audit_prune(T0 + 4 * DAY).unwrap(), 4);
    let pruned = store.audit_verify().unwrap();
    assert_eq!((pruned.ok, pruned.rows, pruned.anchor), (true, 6, Some(4)));
    assert_eq!(store.audit_prune(T0 + 4 * DAY).unwrap(), 0);
    assert_eq!(append_at(10), 11);
    assert_eq!(report(&store), (true, 7, None));
    // Only a prefix goes: a row stamped earlier (the clock went back) after a kept one stays.
    append_at(3);
    assert_eq!(store.audit_prune(T0 + 7 * DAY).unwrap(), 3);
    assert_eq!(report(&store), (true, 5, None));
    // Everything can go; the chain goes on from the anchor.
    assert_eq!(store.audit_prune(T0 + 100 * DAY).unwrap(), 5);
    let empty = store.audit_verify().unwrap();
    assert_eq!((empty.ok, empty.rows, empty.anchor), (true, 0, Some(12)));
    assert_eq!(append_at(11), 13);
    assert_eq!(report(&store), (true, 1, None));
    assert_eq!(store.audit(&AuditQuery::default()).unwrap().len(), 1);
    // A row slipped in where pruned ones were would be shown, so it is named.
    let forged = "INSERT INTO audit (id, op, time_ms, actor, via, kind, action, outcome, hash)
                  VALUES (5, 'op', 0, 'mallory', 'cli', 'container', 'stop', 'ok', '')";
    raw(dir.path()).execute(forged, []).unwrap();
    let got = store.audit_verify().unwrap();
    assert_eq!((got.ok, got.first_bad), (false, Some(5)), "{got:?}");
    assert!(got.reason.unwrap().contains("before the chain's start (row 13)"));
}

#[test]
fn verify_names_a_middle_row_after_any_column_of_it_is_edited() {
    let dir = tempfile::tempdir().unwrap();
    let store = five_rows(dir.path());
    let sqlite3 = raw(dir.path());
    let text = |s: &str| SqlValue::Text(s.into());
    // (column, the edit); row 3 is cli/ok/h1/container with no error, reason or request.
    let edits = [
        ("op", text("op-x")),
        ("time_ms", SqlValue::Integer(T0 + 2001)),
        ("actor", text("mallory")),
        ("via", text("app")),
        ("host", SqlValue::Null),
        ("kind", text("image")),
        ("object_id", text("f00d")),
        ("object_name", SqlValue::Null),
        ("action", text("start")),
        ("outcome", text("failed")),
        ("error", text("oops")),
        ("before", text(r#"{"state":"exited"}"#)),
        ("after", SqlValue::Null),
        ("reason", text("because")),
        ("request", SqlValue::Integer(1)),
        ("hash", text(&"0".repeat(64))),
        ("time_ms", text("yesterday")),
        ("id", SqlValue::Integer(1003)),
    ];
    for (column, edit) in edits {
        let sql = format!("SELECT {column} FROM audit WHERE id = 3");
        let was: SqlValue = sqlite3.query_row(&sql, [], |r| r.get(0)).unwrap();
        let set = format!("UPDATE audit SET {column} = ?1 WHERE id = ?2");
        sqlite3.execute(&set, params![edit, 3]).unwrap();
        let got = store.audit_verify().unwrap();
        assert_eq!((got.ok, got.first_bad), (false, Some(3)), "{column} = {edit:?}: {got:?}");
        let edited_id = if column == "id" { 1003 } else { 3 };
        sqlite3.execute(&set, params![was, edited_id]).unwrap();
        assert_eq!(report(&store), (true, 5, None), "{column} restored");
    }
    // A row rewritten with a hash that matches its new content breaks the next link.
    let prev: String = sqlite3.query_row("SELECT hash FROM audit WHERE id = 2", [], |r| r.get(0)).unwrap();
    sqlite3.execute("UPDATE audit SET action = 'start' WHERE id = 3", []).unwrap();
    let sql = format!("SELECT {COLUMNS} FROM audit WHERE id = 3");
    let hash = sqlite3
        .query_row(&sql, [], |r| {
            let fields: Vec<ValueRef> = (0..HASHED).map(|i| r.get_ref(i).unwrap()).collect();
            Ok(chain_hash(prev.as_bytes(), &fields, &mut Vec::new()))
        })
        .unwrap();
    let hash = std::str::from_utf8(&hash).unwrap();
    sqlite3.execute("UPDATE audit SET hash = ?1 WHERE id = 3", [hash]).unwrap();
    let got = store.audit_verify().unwrap();
    assert_eq!((got.ok, got.rows, got.first_bad), (false, 3, Some(4)), "{got:?}");
}

#[test]
fn verify_names_the_first_missing_row_after_a_deletion() {
    // (rows deleted, the row named, what the reason says)
    let cases: &[(&str, i64, &str)] = &[
        ("id = 3", 3, "row 3 is missing (row 2 is followed by row 4)"),
        ("id IN (2, 3)", 2, "rows 2 to 3 are missing (row 1 is followed by row 4)"),
        ("id = 1", 1, "row 1 is missing (the log starts at row 2)"),
        ("id = 5", 5, "row 5 is missing (the log ends at row 4, its head is row 5)"),
        ("id >= 4", 4, "rows 4 to 5 are missing (the log ends at row 3, its head is row 5)"),
        ("1", 1, "rows 1 to 5 are missing (no row is left, its head is row 5)"),
    ];
    for &(deleted, named, reason) in cases {
        let dir = tempfile::tempdir().unwrap();
        let store = five_rows(dir.path());
        raw(dir.path()).execute(&format!("DELETE FROM audit WHERE {deleted}"), []).unwrap();
        let got = store.audit_verify().unwrap();
        assert_eq!((got.ok, got.first_bad), (false, Some(named)), "{deleted}: {got:?}");
        assert!(got.reason.as_deref().unwrap().starts_with(reason), "{deleted}: {got:?}");
        // Appending goes on after the recorded head; the gap stays in sight.
        store.audit_append(&[row("op", "h1", "stop")]).unwrap();
        assert_eq!(store.audit_verify().unwrap().first_bad, Some(named), "{deleted}, appended");
    }
}

#[test]
fn prune_keeps_a_broken_stretch() {
    let dir = tempfile::tempdir().unwrap();
    let store = five_rows(dir.path());
    raw(dir.path()).execute("UPDATE audit SET actor = 'mallory' WHERE id = 2", []).unwrap();
    let error = store.audit_prune(T0 + DAY).unwrap_err().to_string();
    assert!(error.contains("broken at row 2") && error.contains("Nothing was pruned"), "{error}");
    assert_eq!(store.audit(&AuditQuery::default()).unwrap().len(), 5);
    // What lies before the break may go.
    assert_eq!(store.audit_prune(T0 + 500).unwrap(), 1);
    assert_eq!(report(&store), (false, 0, Some(2)));
}

#[test]
fn two_handles_appending_from_two_threads_keep_one_chain() {
    let dir = tempfile::tempdir().unwrap();
    drop(Store::open(&dir.path().join("berth.db")).unwrap());
    let threads: Vec<_> = ["h1", "h2"]
        .into_iter()
        .map(|host| {
            let path = dir.path().join("berth.db");
            std::thread::spawn(move || {
                let store = Store::open(&path).unwrap();
                let mut mine = 0;
                for batch in 0..60 {
                    let rows = vec![row(&format!("{host}-{batch}"), host, "stop"); batch % 3 + 1];
                    mine += store.audit_append(&rows).unwrap().len();
                }
                mine
            })
        })
        .collect();
    let appended: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let store = Store::open(&dir.path().join("berth.db")).unwrap();
    assert_eq!(report(&store), (true, appended as u64, None));
    for host in ["h1", "h2"] {
        let q = query(&format!("host={host} limit=1000"));
        assert_eq!(store.audit(&q).unwrap().len(), appended / 2);
    }
}

#[test]
fn bad_input_is_refused() {
    let (dir, _clock, store) = clocked();
    let error = "bogus".parse::<Via>().unwrap_err();
    assert_eq!(error.code(), "invalid_input");
    assert_eq!(error.to_string(), r#"invalid via: "bogus"; use cli, app or external"#);
    let error = "Ok".parse::<Outcome>().unwrap_err().to_string();
    assert_eq!(error, r#"invalid outcome: "Ok"; use ok, failed or unknown"#);
    assert!(serde_json::from_value::<AuditQuery>(json!({"via": "bogus"})).is_err());
    let parsed: AuditQuery = serde_json::from_value(json!({"host": "h1", "via": "app"})).unwrap();
    assert_eq!((parsed.limit, parsed.via), (100, Some(Via::App)), "defaults for the rest");
    // (the bad row, the refusal)
    let rows = [
        (changed(|r| r.kind = "spaceship".into()), "use container, network, image"),
        (changed(|r| r.op = String::new()), "its op is empty"),
        (changed(|r| r.actor = " ".into()), "its actor is empty"),
        (changed(|r| r.request = Some(7)), "not an earlier row"),
    ];
    for (bad, refusal) in rows {
        let error = store.audit_append(&[row("op", "h1", "stop"), bad]).unwrap_err().to_string();
        assert!(error.contains(refusal), "{error}");
    }
    let error = store.audit_request(&changed(|r| r.host = None), T0 + 1).unwrap_err().to_string();
    assert!(error.contains("names no host"), "{error}");
    let error = store.audit_request(&row("op", "h1", "stop"), T0 - 1).unwrap_err().to_string();
    assert!(error.contains("before now"), "{error}");
    for words in ["limit=0", &format!("limit={}", MAX_AUDIT_LIMIT + 1), "kind=containers"] {
        let error = store.audit(&query(words)).unwrap_err();
        assert_eq!(error.code(), "invalid_input", "{words}");
    }
    assert_eq!(report(&store), (true, 0, None), "nothing half-written");
    // The table refuses what the types would: a person with sqlite3 cannot write a bad word.
    store.audit_append(&[row("op", "h1", "stop")]).unwrap();
    let bad = raw(dir.path()).execute("UPDATE audit SET via = 'bogus'", []);
    assert!(bad.unwrap_err().to_string().contains("CHECK constraint failed"));
}

#[test]
fn the_canonical_form_never_changes() {
    // Old logs must keep verifying: this row's bytes and hash are fixed (the hash as
    // `printf '%s\n%s' "$(printf '0%.0s' {1..64})" "$CANONICAL" | sha256sum` gives it).
    let fields = [
        ValueRef::Integer(1),
        ValueRef::Text(b"op-1"),
        ValueRef::Integer(T0),
        ValueRef::Text(b"alice"),
        ValueRef::Text(b"cli"),
        ValueRef::Text(b"h1"),
        ValueRef::Text(b"container"),
        ValueRef::Text(b"c0ffee"),
        ValueRef::Text(b"web"),
        ValueRef::Text(b"stop"),
        ValueRef::Text(b"ok"),
        ValueRef::Null,
        ValueRef::Text(br#"{"state":"running"}"#),
        ValueRef::Null,
        ValueRef::Text(b"two\nlines\tand a \\ \xc3\xa9"),
        ValueRef::Null,
    ];
    let mut buf = Vec::new();
    canonical(&fields, &mut buf);
    let want = r#"[1,"op-1",1795608000000,"alice","cli","h1","container","c0ffee","web","stop","ok",null,"{\"state\":\"running\"}",null,"two\u000alines\u0009and a \\ é",null]"#;
    assert_eq!(std::str::from_utf8(&buf).unwrap(), want);
    let hash = chain_hash("0".repeat(64).as_bytes(), &fields, &mut buf);
    assert_eq!(std::str::from_utf8(&hash).unwrap(), "96c9b03c690511d94ec4b5496d6c62805d013e3bd206b0a72f78408f7b25cbbb");
    // A changed type is a changed hash.
    let mut typed = fields;
    typed[2] = ValueRef::Real(T0 as f64);
    canonical(&typed, &mut buf);
    assert!(std::str::from_utf8(&buf).unwrap().contains(",1.795608e12,"));
    typed[2] = ValueRef::Blob(&[0xff, 0x01]);
    canonical(&typed, &mut buf);
    assert!(std::str::from_utf8(&buf).unwrap().contains(r#",{"blob":"ff01"},"#));
}

#[test]
fn filters_read_an_index_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let store = five_rows(dir.path());
    // (query, the index read, whether a sort follows): host, time and no filter need no sort;
    // an op's or an object's few rows are sorted.
    let cases = [
        ("host=h1 since=0", "audit_host_time", false),
        ("host=h1", "audit_host_time", false),
        ("since=0", "audit_time", false),
        ("", "audit_time", false),
        ("kind=pool", "audit_time", false),
        ("op=op-1", "audit_op", true),
        ("op=op-1 since=0", "audit_op", true),
        ("object=web", "audit_object_name", true),
        ("object=c0ffee", "audit_object_id", true),
    ];
    for (words, index, sorted) in cases {
        let (sql, params) = query_sql(&query(words));
        let conn = store.conn();
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let plan: Vec<String> = stmt.query_map(params_from_iter(params), |r| r.get(3)).unwrap().collect::<rusqlite::Result<_>>().unwrap();
        let plan = plan.join("; ");
        assert!(plan.contains(&format!("INDEX {index}")), "{words}: {plan}");
        assert_eq!(plan.contains("TEMP B-TREE"), sorted, "{words}: {plan}");
    }
}

/// Not timed (speed goals live in `tests/benches/audit.rs`); run with
/// `cargo test --release -p berth-core store::audit -- --ignored`.
#[test]
#[ignore = "100,000 rows: slow in a debug build"]
fn a_hundred_thousand_rows_verify() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("berth.db")).unwrap();
    for batch in 0..10 {
        let rows: Vec<NewAuditRow> = (0..10_000).map(|i| row(&format!("op-{batch}-{i}"), &format!("h{}", i % 100), "stop")).collect();
        store.audit_append(&rows).unwrap();
    }
    let started = std::time::Instant::now();
    let report = store.audit_verify().unwrap();
    println!("verified {} rows in {:?}", report.rows, started.elapsed());
    assert_eq!((report.ok, report.rows), (true, 100_000));
}
