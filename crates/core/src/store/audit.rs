//! The audit log: every change to a host, kept so that an edit after the fact shows.
//!
//! Rows are append-only and form a hash chain. Row N's `hash` is
//! `hex(sha256(hash of row N-1 ‖ "\n" ‖ canonical(row N)))`; before row 1 stands the genesis
//! hash (64 zeros) or, once old rows are pruned, the anchor (the id and hash of the last pruned
//! row). ids are contiguous (each append takes the head's id + 1), so an edited row shows as a
//! hash that does not match, a deleted row as a gap, a deleted last row as a chain that stops
//! before the head recorded in `audit_chain`. What it cannot show: someone who can write the
//! file may rewrite the chain from some row on, head included. Keeping a copy of the head
//! elsewhere (`AuditRow::hash` of the newest row) catches that.
//!
//! The canonical form of a row is a JSON array of its 16 stored columns before `hash`, in this
//! order: id, op, time_ms, actor, via, host, kind, object_id, object_name, action, outcome,
//! error, before, after, reason, request. An integer is written in decimal, null as `null`, text
//! as a JSON string in which only `"`, `\` and bytes below 0x20 are escaped (`\"`, `\\`,
//! `\u00XX`, lowercase hex); `before` and `after` are text (their JSON as stored). Berth writes
//! no reals or blobs; a value of such a type (an edit) is written `{:e}` / `{"blob":"<hex>"}`,
//! so a changed type changes the hash. This is fixed forever: old logs must keep verifying.
//!
//! A change Berth asks a host for is two rows: the request (outcome `unknown`), written before
//! Docker is asked, and its completion (`request` = the request's id), written after. With the
//! request goes a claim, so that a follower in any process on the same store folds the Docker
//! events of that object on that host into the request instead of recording them as changes
//! made outside Berth.

use std::fmt::Write as _;
use std::io::Write as _;
use std::str::FromStr;

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSqlOutput, Value as SqlValue, ValueRef};
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row, ToSql, Transaction};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::Store;
use crate::error::{Error, Result, StoreContext};
use crate::time::rfc3339_ms;

/// How long rows are kept by default (`audit_prune(now - AUDIT_RETENTION_DAYS days)`).
pub const AUDIT_RETENTION_DAYS: i64 = 90;

/// What a row's object is.
pub const AUDIT_KINDS: &[&str] = &["container", "network", "image", "pool", "lease", "host", "volume", "app"];

/// The most rows one [`Store::audit`] call returns.
pub const MAX_AUDIT_LIMIT: i64 = 100_000;

/// How long a claim is kept after it ends, so that a follower that is behind (a batch of
/// events read late) still folds the events of a request that has just completed.
const CLAIM_KEPT_MS: i64 = 10 * 60_000;

/// Every stored column, in table order; the hash covers all but the last.
const COLUMNS: &str = "id, op, time_ms, actor, via, host, kind, object_id, object_name, action, \
                       outcome, error, before, after, reason, request, hash";
const HASHED: usize = 16;

/// Which way a change came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// The `berth` command line.
    Cli,
    /// The desktop app.
    App,
    /// Seen in a host's events with no Berth request claiming it (the docker CLI, another tool).
    External,
}

/// How a change ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Ok,
    Failed,
    /// A request not (yet) answered; a completion whose answer never came.
    Unknown,
}

/// `as_str`, `FromStr` (refusing other words with the list of good ones) and the SQL text of
/// an enum of words.
macro_rules! words {
    ($name:ident, $what:literal, [$($variant:ident = $word:literal),+]) => {
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word),+
                }
            }
        }

        impl FromStr for $name {
            type Err = Error;

            fn from_str(s: &str) -> Result<Self> {
                $name::ALL.iter().copied().find(|v| v.as_str() == s).ok_or_else(|| {
                    let words: Vec<&str> = $name::ALL.iter().map(|v| v.as_str()).collect();
                    Error::invalid($what, format!("{s:?}; use {}", one_of(&words)))
                })
            }
        }

        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }

        impl FromSql for $name {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                value.as_str()?.parse().map_err(|e: Error| FromSqlError::Other(Box::new(e)))
            }
        }
    };
}

words!(Via, "via", [Cli = "cli", App = "app", External = "external"]);
words!(Outcome, "outcome", [Ok = "ok", Failed = "failed", Unknown = "unknown"]);

/// "a, b or c"
fn one_of(words: &[&str]) -> String {
    match words {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

/// What a row is about: a container's full id and name (without Docker's leading `/`), a
/// network's, an image's id, a pool's name… Either may be unknown (the id before a create).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct AuditObject {
    pub id: Option<String>,
    pub name: Option<String>,
}

/// A row to append; the store adds its id, time and hash.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct NewAuditRow {
    /// The operation the row belongs to: one user action may change several objects.
    pub op: String,
    /// Who: the OS user, or `docker` for a change seen on a host that no Berth request made.
    pub actor: String,
    pub via: Via,
    /// The host changed; none for a store-only change (a pool's definition).
    pub host: Option<String>,
    /// One of [`AUDIT_KINDS`].
    pub kind: String,
    pub object: AuditObject,
    /// The verb: create, start, stop, remove, lease, …
    pub action: String,
    pub outcome: Outcome,
    pub error: Option<String>,
    /// The object before and after the change (a JSON object), where known.
    pub before: Option<Value>,
    pub after: Option<Value>,
    /// Why, as the user gave it.
    pub reason: Option<String>,
    /// A completion row: the id of the request row it completes.
    pub request: Option<i64>,
}

/// A stored row.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct AuditRow {
    pub id: i64,
    pub op: String,
    /// RFC 3339, UTC, with milliseconds.
    pub time: String,
    pub time_ms: i64,
    pub actor: String,
    pub via: Via,
    pub host: Option<String>,
    pub kind: String,
    pub object: AuditObject,
    pub action: String,
    pub outcome: Outcome,
    pub error: Option<String>,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub reason: Option<String>,
    pub request: Option<i64>,
    /// This row's link in the chain (64 hex digits).
    pub hash: String,
}

/// What [`Store::audit`] returns: the newest `limit` rows that pass every filter given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(default)]
pub struct AuditQuery {
    pub host: Option<String>,
    /// Rows at or after this time (ms since the epoch).
    pub since_ms: Option<i64>,
    pub via: Option<Via>,
    pub op: Option<String>,
    pub kind: Option<String>,
    /// An object's name, or its id: whole, or a prefix of at least 4 hex digits (as `docker`
    /// takes short ids; `sha256:` may lead).
    pub object: Option<String>,
    pub outcome: Option<Outcome>,
    /// 1 to [`MAX_AUDIT_LIMIT`]; 100 when left out.
    pub limit: i64,
}

impl Default for AuditQuery {
    fn default() -> Self {
        AuditQuery { host: None, since_ms: None, via: None, op: None, kind: None, object: None, outcome: None, limit: 100 }
    }
}

/// What [`Store::audit_verify`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct VerifyReport {
    /// Rows checked and found sound (up to the first bad one).
    pub rows: u64,
    pub ok: bool,
    /// Where the chain breaks: the first row whose content does not match its hash, or the
    /// first id missing (a deleted row, at the start, in the middle or at the end), or the
    /// head's row when the recorded head does not match it.
    pub first_bad: Option<i64>,
    pub reason: Option<String>,
    /// The last pruned row, which the chain starts after; none if nothing was ever pruned.
    pub anchor: Option<i64>,
}

/// The one row of `audit_chain`.
struct Chain {
    head_id: i64,
    head_hash: String,
    anchor_id: i64,
    anchor_hash: String,
}

fn read_chain(conn: &Connection) -> Result<Chain> {
    conn.prepare_cached("SELECT head_id, head_hash, anchor_id, anchor_hash FROM audit_chain WHERE id = 1")
        .and_then(|mut stmt| stmt.query_row([], |r| Ok(Chain { head_id: r.get(0)?, head_hash: r.get(1)?, anchor_id: r.get(2)?, anchor_hash: r.get(3)? })))
        .store_context(|| "reading the audit log's head".into())
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn push_hex(bytes: &[u8], out: &mut Vec<u8>) {
    for b in bytes {
        out.extend_from_slice(&[HEX[(b >> 4) as usize], HEX[(b & 0xf) as usize]]);
    }
}

/// `text` as a JSON string: only `"`, `\` and bytes below 0x20 escaped.
fn push_json_string(text: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    let mut plain = 0;
    for (i, &b) in text.iter().enumerate() {
        if b == b'"' || b == b'\\' || b < 0x20 {
            out.extend_from_slice(&text[plain..i]);
            match b {
                b'"' => out.extend_from_slice(b"\\\""),
                b'\\' => out.extend_from_slice(b"\\\\"),
                _ => {
                    out.extend_from_slice(b"\\u00");
                    push_hex(&[b], out);
                }
            }
            plain = i + 1;
        }
    }
    out.extend_from_slice(&text[plain..]);
    out.push(b'"');
}

/// The canonical form of a row's hashed columns (see the module's documentation), into `out`.
fn canonical(fields: &[ValueRef<'_>], out: &mut Vec<u8>) {
    out.clear();
    out.push(b'[');
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        match *field {
            ValueRef::Null => out.extend_from_slice(b"null"),
            ValueRef::Integer(n) => write!(out, "{n}").expect("writing to memory"),
            ValueRef::Real(x) => write!(out, "{x:e}").expect("writing to memory"),
            ValueRef::Text(text) => push_json_string(text, out),
            ValueRef::Blob(blob) => {
                out.extend_from_slice(b"{\"blob\":\"");
                push_hex(blob, out);
                out.extend_from_slice(b"\"}");
            }
        }
    }
    out.push(b']');
}

/// `hex(sha256(prev ‖ "\n" ‖ canonical(fields)))`; `buf` is scratch space.
fn chain_hash(prev: &[u8], fields: &[ValueRef<'_>], buf: &mut Vec<u8>) -> [u8; 64] {
    canonical(fields, buf);
    let digest = Sha256::new().chain_update(prev).chain_update(b"\n").chain_update(&buf[..]).finalize();
    let mut hex = [0u8; 64];
    for (pair, b) in hex.chunks_exact_mut(2).zip(digest) {
        pair.copy_from_slice(&[HEX[(b >> 4) as usize], HEX[(b & 0xf) as usize]]);
    }
    hex
}

fn validate(row: &NewAuditRow) -> Result<()> {
    for (what, value) in [("op", &row.op), ("actor", &row.actor), ("action", &row.action)] {
        if value.trim().is_empty() {
            return Err(Error::invalid("audit row", format!("its {what} is empty")));
        }
    }
    validate_kind(&row.kind)
}

fn validate_kind(kind: &str) -> Result<()> {
    if !AUDIT_KINDS.contains(&kind) {
        return Err(Error::invalid("kind", format!("{kind:?}; use {}", one_of(AUDIT_KINDS))));
    }
    Ok(())
}

/// The end of a walk along the chain.
struct Walk {
    /// Rows found sound.
    rows: u64,
    last_id: i64,
    last_hash: Vec<u8>,
    /// The first place the chain breaks, and why.
    bad: Option<(i64, String)>,
}

fn missing(from: i64, to: i64) -> String {
    if from == to {
        format!("row {from} is missing")
    } else {
        format!("rows {from} to {to} are missing")
    }
}

/// Walk the rows after `from_id` (whose hash is `from_hash`) up to `upto_id`, by ascending id,
/// recomputing each hash, until the first break. One statement streams the rows; the only
/// buffers are reused.
fn walk(conn: &Connection, from_id: i64, from_hash: &str, upto_id: i64) -> Result<Walk> {
    let context = || "reading the audit log".to_owned();
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM audit WHERE id > ?1 AND id <= ?2 ORDER BY id")).store_context(context)?;
    let mut rows = stmt.query(params![from_id, upto_id]).store_context(context)?;
    let mut walk = Walk { rows: 0, last_id: from_id, last_hash: from_hash.as_bytes().to_vec(), bad: None };
    let mut buf = Vec::with_capacity(1024);
    while let Some(row) = rows.next().store_context(context)? {
        let mut fields = [ValueRef::Null; HASHED];
        for (i, field) in fields.iter_mut().enumerate() {
            *field = row.get_ref(i).store_context(context)?;
        }
        let ValueRef::Integer(id) = fields[0] else { unreachable!("an INTEGER PRIMARY KEY is an integer") };
        if id != walk.last_id + 1 {
            let after = if walk.last_id == from_id && walk.rows == 0 {
                format!("the log starts at row {id}")
            } else {
                format!("row {} is followed by row {id}", walk.last_id)
            };
            walk.bad = Some((walk.last_id + 1, format!("{} ({after}): deleted", missing(walk.last_id + 1, id - 1))));
            break;
        }
        let hash = chain_hash(&walk.last_hash, &fields, &mut buf);
        if row.get_ref(HASHED).store_context(context)? != ValueRef::Text(&hash) {
            walk.bad = Some((id, format!("row {id} does not match its hash: the row or its hash was changed, or the row before it was rewritten")));
            break;
        }
        walk.rows += 1;
        walk.last_id = id;
        walk.last_hash.clear();
        walk.last_hash.extend_from_slice(&hash);
    }
    Ok(walk)
}

/// After a sound walk to the end: does the chain reach its recorded head, and only that?
fn check_head(chain: &Chain, walk: &Walk) -> Option<(i64, String)> {
    let (last, head) = (walk.last_id, chain.head_id);
    if last < head {
        let ends = match walk.rows {
            0 => "no row is left".to_owned(),
            _ => format!("the log ends at row {last}"),
        };
        let reason = format!("{} ({ends}, its head is row {head}): deleted", missing(last + 1, head));
        return Some((last + 1, reason));
    }
    if last > head {
        return Some((head + 1, format!("row {} is past the recorded head (row {head}): written outside Berth", head + 1)));
    }
    if walk.last_hash != chain.head_hash.as_bytes() {
        return Some((head, format!("row {head} does not match the recorded head's hash")));
    }
    None
}

/// A row at or before the anchor (or the genesis) would be shown but never checked.
fn before_anchor(conn: &Connection, chain: &Chain) -> Result<Option<(i64, String)>> {
    let first: Option<i64> = conn.query_row("SELECT min(id) FROM audit", [], |r| r.get(0)).store_context(|| "reading the audit log".into())?;
    Ok(first.filter(|&id| id <= chain.anchor_id).map(|id| {
        let start = chain.anchor_id + 1;
        (id, format!("row {id} lies before the chain's start (row {start}): written outside Berth"))
    }))
}

fn text_or_null(text: &Option<String>) -> ValueRef<'_> {
    text.as_deref().map_or(ValueRef::Null, |s| ValueRef::Text(s.as_bytes()))
}

fn json_column(text: Option<String>) -> Option<Value> {
    // Text that is not JSON (an edit, which verify reports) is shown as the text it is.
    text.map(|text| serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn row_from(r: &Row<'_>) -> rusqlite::Result<AuditRow> {
    let time_ms: i64 = r.get(2)?;
    Ok(AuditRow {
        id: r.get(0)?,
        op: r.get(1)?,
        time: rfc3339_ms(time_ms),
        time_ms,
        actor: r.get(3)?,
        via: r.get(4)?,
        host: r.get(5)?,
        kind: r.get(6)?,
        object: AuditObject { id: r.get(7)?, name: r.get(8)? },
        action: r.get(9)?,
        outcome: r.get(10)?,
        error: r.get(11)?,
        before: json_column(r.get(12)?),
        after: json_column(r.get(13)?),
        reason: r.get(14)?,
        request: r.get(15)?,
        hash: r.get(16)?,
    })
}

/// The exclusive upper bound of the ids that start with `prefix`, when `prefix` is a short id
/// (at least 4 hex digits, `sha256:` may lead).
fn id_prefix_end(prefix: &str) -> Option<String> {
    let digits = prefix.strip_prefix("sha256:").unwrap_or(prefix);
    if digits.len() < 4 || !digits.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return None;
    }
    // The last character is a hex digit, so the next one up is ASCII too.
    let (head, last) = prefix.split_at(prefix.len() - 1);
    Some(format!("{head}{}", (last.as_bytes()[0] + 1) as char))
}

/// The SQL and parameters of a query. Every filter is an `=` or a range, so an index answers
/// it; rows come newest first through `(host, time_ms)` or `(time_ms)` (each ends in the id)
/// without a sort.
fn query_sql(q: &AuditQuery) -> (String, Vec<SqlValue>) {
    let mut params: Vec<SqlValue> = Vec::new();
    let mut bind = |value: SqlValue| {
        params.push(value);
        format!("?{}", params.len())
    };
    let text = |s: &str| SqlValue::Text(s.to_owned());
    let mut clauses = Vec::new();
    if let Some(host) = &q.host {
        clauses.push(format!("host = {}", bind(text(host))));
    }
    if let Some(since) = q.since_ms {
        clauses.push(format!("time_ms >= {}", bind(SqlValue::Integer(since))));
    }
    if let Some(via) = q.via {
        clauses.push(format!("via = {}", bind(text(via.as_str()))));
    }
    if let Some(op) = &q.op {
        clauses.push(format!("op = {}", bind(text(op))));
    }
    if let Some(kind) = &q.kind {
        clauses.push(format!("kind = {}", bind(text(kind))));
    }
    if let Some(outcome) = q.outcome {
        clauses.push(format!("outcome = {}", bind(text(outcome.as_str()))));
    }
    if let Some(object) = &q.object {
        let value = bind(text(object));
        clauses.push(match id_prefix_end(object) {
            Some(end) => format!("((object_id >= {value} AND object_id < {}) OR object_name = {value})", bind(SqlValue::Text(end))),
            None => format!("(object_id = {value} OR object_name = {value})"),
        });
    }
    let mut sql = format!("SELECT {COLUMNS} FROM audit");
    if !clauses.is_empty() {
        write!(sql, " WHERE {}", clauses.join(" AND ")).expect("writing to memory");
    }
    write!(sql, " ORDER BY time_ms DESC, id DESC LIMIT {}", bind(SqlValue::Integer(q.limit))).expect("writing to memory");
    (sql, params)
}

impl Store {
    /// Append `rows` inside `tx`, the transaction of the store-only change they record (a
    /// pool, a lease, a host), which must be `BEGIN IMMEDIATE` ([`Store::write_tx`]) so that
    /// the head read here is still the head at commit. Returns their ids.
    pub(crate) fn audit_append_in(&self, tx: &Transaction<'_>, rows: &[NewAuditRow]) -> Result<Vec<i64>> {
        for row in rows {
            validate(row)?;
        }
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let context = || "appending to the audit log".to_owned();
        let chain = read_chain(tx)?;
        let mut insert = tx
            .prepare_cached(&format!("INSERT INTO audit ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)"))
            .store_context(context)?;
        let (mut id, mut prev) = (chain.head_id, chain.head_hash.into_bytes());
        let mut ids = Vec::with_capacity(rows.len());
        let mut buf = Vec::with_capacity(1024);
        for row in rows {
            if let Some(request) = row.request.filter(|&r| r < 1 || r > id) {
                return Err(Error::invalid("audit row", format!("it completes request {request}, which is not an earlier row")));
            }
            id += 1;
            let time_ms = (self.audit_clock)();
            let (before, after) = (row.before.as_ref().map(Value::to_string), row.after.as_ref().map(Value::to_string));
            let fields = [
                ValueRef::Integer(id),
                ValueRef::Text(row.op.as_bytes()),
                ValueRef::Integer(time_ms),
                ValueRef::Text(row.actor.as_bytes()),
                ValueRef::Text(row.via.as_str().as_bytes()),
                text_or_null(&row.host),
                ValueRef::Text(row.kind.as_bytes()),
                text_or_null(&row.object.id),
                text_or_null(&row.object.name),
                ValueRef::Text(row.action.as_bytes()),
                ValueRef::Text(row.outcome.as_str().as_bytes()),
                text_or_null(&row.error),
                text_or_null(&before),
                text_or_null(&after),
                text_or_null(&row.reason),
                row.request.map_or(ValueRef::Null, ValueRef::Integer),
            ];
            let hash = chain_hash(&prev, &fields, &mut buf);
            let values = fields.iter().copied().chain([ValueRef::Text(&hash)]).map(ToSqlOutput::Borrowed);
            insert.execute(params_from_iter(values)).store_context(|| {
                format!("appending row {id} to the audit log (if it exists already, the log was written outside Berth: `berth audit verify`)")
            })?;
            prev.clear();
            prev.extend_from_slice(&hash);
            ids.push(id);
        }
        tx.prepare_cached("UPDATE audit_chain SET head_id = ?1, head_hash = ?2 WHERE id = 1")
            .and_then(|mut stmt| stmt.execute(params![id, std::str::from_utf8(&prev).expect("hex is ASCII")]))
            .store_context(context)?;
        Ok(ids)
    }

    /// Append `rows` in one transaction. Returns their ids.
    pub fn audit_append(&self, rows: &[NewAuditRow]) -> Result<Vec<i64>> {
        self.write_tx("append to the audit log", |tx| self.audit_append_in(tx, rows))
    }

    /// Record a change about to be asked of a host: the request row (stored with outcome
    /// `unknown`, whatever `row.outcome` says) and a claim on the row's object on its host,
    /// from now until `expires_ms`, in one transaction. Returns the row's id, for
    /// [`Store::audit_complete`].
    pub fn audit_request(&self, row: &NewAuditRow, expires_ms: i64) -> Result<i64> {
        let Some(host) = row.host.as_deref() else {
            return Err(Error::invalid("audit request", "it names no host; a request is for a change on a host"));
        };
        if row.request.is_some() {
            return Err(Error::invalid("audit request", "it names a request; a completion is written by audit_complete"));
        }
        let row = NewAuditRow { outcome: Outcome::Unknown, ..row.clone() };
        self.write_tx("record a request in the audit log", |tx| {
            let now = (self.audit_clock)();
            if expires_ms < now {
                return Err(Error::invalid("audit request", format!("its claim would end ({expires_ms}) before now ({now})")));
            }
            let id = self.audit_append_in(tx, std::slice::from_ref(&row))?[0];
            let context = || "recording a claim".to_owned();
            tx.prepare_cached("DELETE FROM audit_claims WHERE until_ms < ?1")
                .and_then(|mut stmt| stmt.execute([now - CLAIM_KEPT_MS]))
                .store_context(context)?;
            tx.prepare_cached("INSERT INTO audit_claims (request, host, object_id, object_name, since_ms, until_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
                .and_then(|mut stmt| stmt.execute(params![id, host, row.object.id, claim_name(row.object.name.as_deref()), now, expires_ms]))
                .store_context(context)?;
            Ok(id)
        })
    }

    /// Record how request `request` ended: a completion row with the request's op, actor,
    /// via, host, kind, action, reason and before, `object` (what is given of it) over the
    /// request's, and the rest from the arguments. The request's claim now ends at
    /// `fold_until_ms` (long enough for the events the change caused to arrive) and names the
    /// object as learnt. One transaction. Returns the completion's id.
    pub fn audit_complete(
        &self,
        request: i64,
        outcome: Outcome,
        error: Option<String>,
        after: Option<Value>,
        object: Option<AuditObject>,
        fold_until_ms: i64,
    ) -> Result<i64> {
        self.write_tx(&format!("record the end of request {request} in the audit log"), |tx| {
            let context = || format!("reading request {request} of the audit log");
            let found = tx
                .prepare_cached(&format!("SELECT {COLUMNS} FROM audit WHERE id = ?1"))
                .and_then(|mut stmt| stmt.query_row([request], row_from).optional())
                .store_context(context)?;
            let Some(asked) = found else {
                return Err(Error::invalid("audit completion", format!("there is no row {request} in the audit log")));
            };
            if asked.request.is_some() || asked.outcome != Outcome::Unknown {
                return Err(Error::invalid("audit completion", format!("row {request} is not a request waiting for its outcome")));
            }
            let done: Option<i64> = tx
                .prepare_cached("SELECT id FROM audit WHERE request = ?1 LIMIT 1")
                .and_then(|mut stmt| stmt.query_row([request], |r| r.get(0)).optional())
                .store_context(context)?;
            if let Some(done) = done {
                return Err(Error::invalid("audit completion", format!("request {request} was completed already (row {done})")));
            }
            let object = match object {
                Some(learnt) => AuditObject { id: learnt.id.or(asked.object.id), name: learnt.name.or(asked.object.name) },
                None => asked.object,
            };
            let row = NewAuditRow {
                op: asked.op,
                actor: asked.actor,
                via: asked.via,
                host: asked.host,
                kind: asked.kind,
                object,
                action: asked.action,
                outcome,
                error,
                before: asked.before,
                after,
                reason: asked.reason,
                request: Some(request),
            };
            let id = self.audit_append_in(tx, std::slice::from_ref(&row))?[0];
            if let Some(host) = &row.host {
                // The claim may have been deleted as expired: then it comes back.
                tx.prepare_cached(
                    "INSERT INTO audit_claims (request, host, object_id, object_name, since_ms, until_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (request) DO UPDATE SET
                        object_id = excluded.object_id, object_name = excluded.object_name, until_ms = excluded.until_ms",
                )
                .and_then(|mut stmt| {
                    let name = claim_name(row.object.name.as_deref());
                    stmt.execute(params![request, host, row.object.id, name, asked.time_ms, fold_until_ms])
                })
                .store_context(|| "updating a claim".into())?;
            }
            Ok(id)
        })
    }

    /// Whether a Berth request claims the object `id` (or named `name`) on `host` at `now_ms`
    /// (this machine's clock, as claims are written): the newest such request's id. A follower
    /// folds the object's events into that request instead of recording an external change.
    pub fn audit_claimed(&self, host: &str, id: &str, name: Option<&str>, now_ms: i64) -> Result<Option<i64>> {
        audit_claimed_in(&self.conn(), host, id, name, now_ms)
    }

    /// The newest `q.limit` rows that pass `q`'s filters, newest first.
    pub fn audit(&self, q: &AuditQuery) -> Result<Vec<AuditRow>> {
        if !(1..=MAX_AUDIT_LIMIT).contains(&q.limit) {
            return Err(Error::invalid("limit", format!("{}; take 1 to {MAX_AUDIT_LIMIT} rows", q.limit)));
        }
        if let Some(kind) = &q.kind {
            validate_kind(kind)?;
        }
        let (sql, params) = query_sql(q);
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&sql).store_context(|| "reading the audit log".into())?;
        let rows = stmt
            .query_map(params_from_iter(params), row_from)
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .store_context(|| "reading the audit log".into())?;
        Ok(rows)
    }

    /// Walk the chain from the anchor (or the start) to the head, recomputing every hash, and
    /// name the first place it breaks. Reads one snapshot: rows appended meanwhile (by other
    /// processes) are not seen, nor taken for a mismatch.
    pub fn audit_verify(&self) -> Result<VerifyReport> {
        let mut conn = self.conn();
        let tx = conn.transaction().store_context(|| "starting to verify the audit log".into())?;
        let chain = read_chain(&tx)?;
        let walk = walk(&tx, chain.anchor_id, &chain.anchor_hash, i64::MAX)?;
        let bad = before_anchor(&tx, &chain)?.or_else(|| walk.bad.clone()).or_else(|| check_head(&chain, &walk));
        Ok(VerifyReport {
            rows: walk.rows,
            ok: bad.is_none(),
            first_bad: bad.as_ref().map(|(id, _)| *id),
            reason: bad.map(|(_, reason)| reason),
            anchor: (chain.anchor_id > 0).then_some(chain.anchor_id),
        })
    }

    /// Delete the oldest rows, those before `older_than_ms` up to the first row that is not
    /// (a prefix: the chain stays whole), and make the last one deleted the anchor, so that
    /// [`Store::audit_verify`] still holds. The rows are checked first: a broken stretch is
    /// not pruned, which would erase the evidence. Returns how many rows went.
    pub fn audit_prune(&self, older_than_ms: i64) -> Result<u64> {
        self.write_tx("prune the audit log", |tx| {
            let context = || "pruning the audit log".to_owned();
            let chain = read_chain(tx)?;
            // By id, not through the time index: the scan stops at the first row kept.
            let first_kept: Option<i64> = tx
                .prepare_cached("SELECT id FROM audit NOT INDEXED WHERE time_ms >= ?1 ORDER BY id LIMIT 1")
                .and_then(|mut stmt| stmt.query_row([older_than_ms], |r| r.get(0)).optional())
                .store_context(context)?;
            let last: Option<i64> = tx
                .prepare_cached("SELECT max(id) FROM audit WHERE id < ?1")
                .and_then(|mut stmt| stmt.query_row([first_kept.unwrap_or(i64::MAX)], |r| r.get(0)))
                .store_context(context)?;
            let Some(last) = last else {
                return Ok(0);
            };
            let walk = walk(tx, chain.anchor_id, &chain.anchor_hash, last)?;
            if let Some((bad, reason)) = walk.bad {
                return Err(Error::invalid("audit log", format!("it is broken at row {bad}: {reason}. Nothing was pruned, so that the evidence stays")));
            }
            let deleted = tx.prepare_cached("DELETE FROM audit WHERE id <= ?1").and_then(|mut stmt| stmt.execute([last])).store_context(context)?;
            tx.prepare_cached("UPDATE audit_chain SET anchor_id = ?1, anchor_hash = ?2 WHERE id = 1")
                .and_then(|mut stmt| stmt.execute(params![last, std::str::from_utf8(&walk.last_hash).expect("hex is ASCII")]))
                .store_context(context)?;
            Ok(deleted as u64)
        })
    }
}

/// Names as Docker's events give them: without the leading `/` of inspect documents.
fn claim_name(name: Option<&str>) -> Option<&str> {
    name.map(|n| n.trim_start_matches('/'))
}

/// [`Store::audit_claimed`] on a connection or inside a transaction (a follower's event batch).
pub(crate) fn audit_claimed_in(conn: &Connection, host: &str, id: &str, name: Option<&str>, now_ms: i64) -> Result<Option<i64>> {
    conn.prepare_cached(
        "SELECT request FROM audit_claims
         WHERE host = ?1 AND since_ms <= ?4 AND until_ms >= ?4 AND (object_id = ?2 OR object_name = ?3)
         ORDER BY request DESC LIMIT 1",
    )
    .and_then(|mut stmt| stmt.query_row(params![host, id, claim_name(name), now_ms], |r| r.get(0)).optional())
    .store_context(|| "reading the audit log's claims".into())
}

#[cfg(test)]
mod tests;
