//! The audit log: every change to a host, Berth's own and out-of-band, in one tamper-evident
//! chain (stored by [`crate::store::audit`]).
//!
//! A change Berth asks for is recorded on the same path as the change: [`Recorder::request`]
//! writes an `unknown` row before the request goes out (so a crash leaves an honest row) and
//! claims the object, so that the Docker events the request causes are folded into it by any
//! follower on the same store; [`Recorder::complete`] appends the outcome as its own row.
//! Store-only changes (pools, leases, hosts) are written in the same transaction as the change.
//! Out-of-band changes are derived here from what a follower saw ([`external_rows`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::model::{ContainerFacts, ContainerRow, EventRecord};
pub use crate::store::audit::{AuditObject, AuditQuery, AuditRow, NewAuditRow, Outcome, VerifyReport, Via};
use crate::store::Store;

/// How long after its answer a request still claims the events of its object: Docker sends a
/// change's events around its answer, and a follower may apply them a little later.
pub const FOLD_AFTER_ANSWER_MS: i64 = 5_000;
/// How long a request claims its object before it has an answer (its timeout and some).
pub const CLAIM_MS: i64 = 120_000;

/// One user action: a CLI command, a click in the app. Every row it causes shares its id.
#[derive(Debug, Clone)]
pub struct Op {
    pub id: String,
    pub actor: String,
    pub via: Via,
    pub reason: Option<String>,
}

impl Op {
    pub fn new(via: Via, reason: Option<String>) -> Op {
        Op { id: new_op_id(), actor: actor(), via, reason: reason.filter(|r| !r.trim().is_empty()) }
    }

    /// A row of this op, outcome `unknown`, everything else empty.
    pub fn row(&self, host: Option<&str>, kind: &str, object: AuditObject, action: &str) -> NewAuditRow {
        NewAuditRow {
            op: self.id.clone(),
            actor: self.actor.clone(),
            via: self.via,
            host: host.map(str::to_owned),
            kind: kind.to_owned(),
            object,
            action: action.to_owned(),
            outcome: Outcome::Unknown,
            error: None,
            before: None,
            after: None,
            reason: self.reason.clone(),
            request: None,
        }
    }
}

/// A unique, sortable op id: the time in ms, the process and a counter.
fn new_op_id() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let ms = chrono::Utc::now().timestamp_millis();
    format!("{ms:011x}-{:05x}-{:03x}", std::process::id() & 0xf_ffff, NEXT.fetch_add(1, Ordering::Relaxed) & 0xfff)
}

/// The OS user's name: USER, USERNAME or LOGNAME, else (a service, a cron job) the name the
/// system gives the process's user, else "unknown".
pub fn actor() -> String {
    ["USER", "USERNAME", "LOGNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()))
        .or_else(user_of_process)
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(unix)]
fn user_of_process() -> Option<String> {
    // SAFETY: getpwuid returns a pointer into static storage or null; the name is copied out
    // at once.
    unsafe {
        let entry = libc::getpwuid(libc::getuid());
        if entry.is_null() || (*entry).pw_name.is_null() {
            return None;
        }
        std::ffi::CStr::from_ptr((*entry).pw_name).to_str().ok().map(str::to_owned)
    }
}

#[cfg(not(unix))]
fn user_of_process() -> Option<String> {
    None
}

/// A container as the audit log shows it before and after a change. Names only, never values
/// that may hold secrets: label keys, not their values; no environment.
pub fn container_summary(
    name: &str,
    image: &str,
    state: &str,
    exit_code: Option<i64>,
    ips: &BTreeMap<String, String>,
    labels: &BTreeMap<String, String>,
) -> Value {
    json!({
        "name": name,
        "image": image,
        "state": state,
        "exit_code": exit_code,
        "ips": ips,
        "labels": labels.keys().collect::<Vec<_>>(),
    })
}

pub fn facts_summary(c: &ContainerFacts) -> Value {
    container_summary(&c.name, &c.image, &c.state, c.exit_code, &c.ips, &c.labels)
}

pub fn row_summary(c: &ContainerRow) -> Value {
    container_summary(&c.name, &c.image, &c.state, c.exit_code, &c.ips, &c.labels)
}

/// Writes an op's rows for a change that goes to a host.
pub struct Recorder {
    store: Arc<Store>,
}

/// A request recorded before it went out.
#[derive(Debug, Clone, Copy)]
pub struct Pending {
    pub row: i64,
}

impl Recorder {
    pub fn new(store: Arc<Store>) -> Recorder {
        Recorder { store }
    }

    /// Record `row` as asked (outcome unknown) and claim its object's events.
    pub async fn request(&self, row: NewAuditRow) -> Result<Pending> {
        self.request_for(row, 0).await
    }

    /// [`Recorder::request`] for a request the daemon answers only after `waits_ms` (a stop's
    /// grace time): the claim lasts that much longer.
    pub async fn request_for(&self, row: NewAuditRow, waits_ms: i64) -> Result<Pending> {
        let store = Arc::clone(&self.store);
        let expires = crate::store::now_ms() + CLAIM_MS + waits_ms;
        let id = tokio::task::spawn_blocking(move || store.audit_request(&row, expires)).await.expect("store task panicked")?;
        Ok(Pending { row: id })
    }

    /// Append how `pending` ended; its claim lasts a few seconds more, for late events.
    pub async fn complete<T>(&self, pending: Pending, result: &Result<T>, after: Option<Value>, object: Option<AuditObject>) {
        let (outcome, error) = match result {
            Ok(_) => (Outcome::Ok, None),
            // The daemon said no: nothing changed.
            Err(e @ Error::Docker { .. }) => (Outcome::Failed, Some(e.to_string())),
            // No answer (a timeout, a link lost after the request went out): it may have happened.
            Err(e) if e.is_connection() => (Outcome::Unknown, Some(e.to_string())),
            Err(e) => (Outcome::Failed, Some(e.to_string())),
        };
        let store = Arc::clone(&self.store);
        let until = crate::store::now_ms() + FOLD_AFTER_ANSWER_MS;
        let written =
            tokio::task::spawn_blocking(move || store.audit_complete(pending.row, outcome, error, after, object, until)).await.expect("store task panicked");
        if let Err(error) = written {
            tracing::warn!(%error, row = pending.row, "could not record how a change ended; its row stays unknown");
        }
    }
}

/// The verbs of container events that change something a person would call a change (not
/// exec, attach, top, …), most telling first: one external row names the first that applies
/// (`docker stop` sends kill, die and stop; `docker kill` kill and die).
const CONTAINER_VERBS: &[&str] = &["destroy", "create", "oom", "stop", "kill", "die", "restart", "start", "pause", "unpause", "rename", "update"];

/// What a follower saw of one container in one batch: the events (only those newly stored:
/// another process on the same store may have stored and recorded them first), the mirror's
/// summary before and after, and whether a Berth request claims it.
pub struct Seen<'a> {
    pub id: &'a str,
    pub name: Option<&'a str>,
    pub events: Vec<&'a EventRecord>,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub claimed: bool,
    /// Signals seen earlier that changed nothing yet (a `kill` before its `die`).
    pub earlier_verbs: Vec<String>,
}

/// The external rows for what a follower saw: one per container whose summary changed, caused
/// by no Berth request; nothing for changes that changed nothing.
pub fn external_rows(host: &str, op: &str, seen: &[Seen<'_>]) -> Vec<NewAuditRow> {
    let mut rows = Vec::new();
    for s in seen {
        if s.claimed || s.events.is_empty() || s.before == s.after {
            continue;
        }
        let verbs: Vec<&str> =
            s.earlier_verbs.iter().map(String::as_str).chain(s.events.iter().map(|e| e.action.split(':').next().unwrap_or_default().trim())).collect();
        let running_after = s.after.as_ref().and_then(|a| a["state"].as_str()) == Some("running");
        let action = if verbs.contains(&"die") && verbs.contains(&"start") && running_after && !verbs.contains(&"kill") {
            "restart"
        } else {
            CONTAINER_VERBS.iter().find(|v| verbs.contains(v)).copied().unwrap_or("change")
        };
        let name = s.name.map(str::to_owned).or_else(|| s.after.as_ref().or(s.before.as_ref()).and_then(|v| v["name"].as_str().map(str::to_owned)));
        rows.push(NewAuditRow {
            op: op.to_owned(),
            actor: "docker".into(),
            via: Via::External,
            host: Some(host.to_owned()),
            kind: "container".into(),
            object: AuditObject { id: Some(s.id.to_owned()), name },
            action: action.to_owned(),
            outcome: Outcome::Ok,
            error: None,
            before: s.before.clone(),
            after: s.after.clone(),
            reason: None,
            request: None,
        });
    }
    rows
}

/// What a full resync found changed meanwhile (a container appeared, vanished, or changed
/// state or exit code), as external rows. `before`: the mirror's summaries by id, `after`:
/// the snapshot's.
pub fn resync_rows(host: &str, op: &str, before: &BTreeMap<String, Value>, after: &BTreeMap<String, Value>) -> Vec<NewAuditRow> {
    let changed = |a: &Value, b: &Value| a["state"] != b["state"] || a["exit_code"] != b["exit_code"] || a["name"] != b["name"];
    let mut rows = Vec::new();
    let row = |id: &str, action: &str, before: Option<&Value>, after: Option<&Value>| NewAuditRow {
        op: op.to_owned(),
        actor: "docker".into(),
        via: Via::External,
        host: Some(host.to_owned()),
        kind: "container".into(),
        object: AuditObject { id: Some(id.to_owned()), name: after.or(before).and_then(|v| v["name"].as_str().map(str::to_owned)) },
        action: action.to_owned(),
        outcome: Outcome::Ok,
        error: None,
        before: before.cloned(),
        after: after.cloned(),
        reason: Some("seen at a full resync".into()),
        request: None,
    };
    for (id, was) in before {
        match after.get(id) {
            None => rows.push(row(id, "destroy", Some(was), None)),
            Some(now) if changed(was, now) => {
                let action = match now["state"].as_str() {
                    Some("running") if was["state"] != now["state"] => "start",
                    Some("exited" | "dead") if was["state"] != now["state"] => "die",
                    Some("paused") => "pause",
                    _ => "change",
                };
                rows.push(row(id, action, Some(was), Some(now)))
            }
            Some(_) => {}
        }
    }
    for (id, now) in after {
        if !before.contains_key(id) {
            rows.push(row(id, "create", None, Some(now)));
        }
    }
    rows
}

/// How often a long-running process (the app, `berth sync`) prunes rows past the retention.
pub const PRUNE_EVERY: std::time::Duration = std::time::Duration::from_secs(6 * 3600);

/// Keep the log bounded while a process follows hosts: prune rows older than
/// [`crate::store::audit::AUDIT_RETENTION_DAYS`] now and every [`PRUNE_EVERY`]; runs until the
/// task is dropped or aborted. A failure is logged and tried again next time.
pub async fn keep_bounded(store: Arc<Store>) {
    let mut every = tokio::time::interval(PRUNE_EVERY);
    loop {
        every.tick().await;
        let store = Arc::clone(&store);
        let cutoff = crate::store::now_ms() - crate::store::audit::AUDIT_RETENTION_DAYS * 86_400_000;
        match tokio::task::spawn_blocking(move || store.audit_prune(cutoff)).await.expect("store task panicked") {
            Ok(0) => {}
            Ok(pruned) => tracing::info!(pruned, "pruned audit rows past the retention"),
            Err(error) => tracing::warn!(%error, "could not prune the audit log"),
        }
    }
}

/// `--older-than` for `audit prune`, as a cutoff in Unix ms.
pub fn prune_cutoff(older_than: &str, now_ms: i64) -> Result<i64> {
    let duration =
        humantime::parse_duration(older_than.trim()).map_err(|e| Error::invalid("duration", format!("{older_than:?}: {e}; write e.g. 90d or 12h")))?;
    Ok(now_ms - duration.as_millis().min(i64::MAX as u128) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(state: &str, exit: Option<i64>) -> Value {
        container_summary("web1", "img", state, exit, &BTreeMap::new(), &BTreeMap::new())
    }

    fn event(action: &str) -> EventRecord {
        EventRecord {
            time_ns: 1,
            kind: "container".into(),
            action: action.into(),
            actor_id: Some("c1".into()),
            actor_name: Some("web1".into()),
            attributes: BTreeMap::new(),
        }
    }

    fn seen<'a>(events: &'a [EventRecord], before: Value, after: Value, claimed: bool, earlier: &[&str]) -> Seen<'a> {
        Seen {
            id: "c1",
            name: Some("web1"),
            events: events.iter().collect(),
            before: Some(before),
            after: Some(after),
            claimed,
            earlier_verbs: earlier.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// A container's state and exit code.
    type State = (&'static str, Option<i64>);
    /// Events, earlier verbs, before, after, and the action named (None: no row).
    type Case = (&'static [&'static str], &'static [&'static str], State, State, Option<&'static str>);

    #[test]
    fn external_changes_are_named_by_their_most_telling_verb() {
        let cases: &[Case] = &[
            // events, earlier verbs, before, after → action (None: no row)
            (&["kill", "die"], &[], ("running", Some(0)), ("exited", Some(137)), Some("kill")),
            (&["die"], &["kill"], ("running", Some(0)), ("exited", Some(137)), Some("kill")),
            (&["oom", "die"], &[], ("running", Some(0)), ("exited", Some(137)), Some("oom")),
            (&["die", "start"], &[], ("running", Some(0)), ("running", Some(1)), Some("restart")),
            (&["stop", "die"], &[], ("running", None), ("exited", Some(0)), Some("stop")),
            (&["pause"], &[], ("running", None), ("paused", None), Some("pause")),
            (&["kill"], &[], ("running", None), ("running", None), None),
            (&["exec_start: sh"], &[], ("running", None), ("running", None), None),
        ];
        for (events, earlier, before, after, want) in cases {
            let events: Vec<EventRecord> = events.iter().map(|a| event(a)).collect();
            let s = [seen(&events, summary(before.0, before.1), summary(after.0, after.1), false, earlier)];
            let rows = external_rows("h1", "op", &s);
            assert_eq!(rows.first().map(|r| r.action.as_str()), *want, "{events:?} {earlier:?}");
            if let Some(row) = rows.first() {
                assert_eq!((row.via, row.outcome, row.kind.as_str()), (Via::External, Outcome::Ok, "container"));
                assert_eq!(row.object.name.as_deref(), Some("web1"));
            }
        }
    }

    #[test]
    fn a_claimed_change_is_folded_into_its_request() {
        let events = [event("kill"), event("die")];
        let s = [seen(&events, summary("running", None), summary("exited", Some(137)), true, &[])];
        assert!(external_rows("h1", "op", &s).is_empty());
    }

    #[test]
    fn a_resync_records_what_appeared_vanished_or_changed_state() {
        let before = BTreeMap::from([
            ("a".to_owned(), summary("running", None)),
            ("b".to_owned(), summary("running", None)),
            ("c".to_owned(), summary("exited", Some(0))),
        ]);
        let after = BTreeMap::from([
            ("a".to_owned(), summary("running", None)),
            ("c".to_owned(), summary("exited", Some(3))),
            ("d".to_owned(), summary("created", None)),
        ]);
        let rows = resync_rows("h1", "op", &before, &after);
        let got: Vec<(&str, &str)> = rows.iter().map(|r| (r.object.id.as_deref().unwrap(), r.action.as_str())).collect();
        assert_eq!(got, [("b", "destroy"), ("c", "change"), ("d", "create")]);
        assert!(rows.iter().all(|r| r.via == Via::External));
    }

    #[test]
    fn summaries_hold_label_names_not_values() {
        let labels = BTreeMap::from([("secret.token".to_owned(), "hunter2".to_owned())]);
        let text = container_summary("n", "i", "running", None, &BTreeMap::new(), &labels).to_string();
        assert!(text.contains("secret.token") && !text.contains("hunter2"), "{text}");
    }

    #[test]
    fn op_ids_differ_and_prune_takes_durations() {
        assert_ne!(Op::new(Via::Cli, None).id, Op::new(Via::Cli, None).id);
        assert_eq!(prune_cutoff("90d", 100 * 86_400_000).unwrap(), 10 * 86_400_000);
        assert!(prune_cutoff("soon", 0).unwrap_err().to_string().contains("duration"));
    }
}
