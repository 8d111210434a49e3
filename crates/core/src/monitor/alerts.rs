//! Alerts from events, not polls: the follower hands over the container events its process
//! stored first (so of all the processes following a host, exactly one raises each alert), and
//! [`on_events`] raises or clears:
//! - `exit`: a `die` with a non-zero exit code, with the container's last [`LOG_LINES`] log
//!   lines read at that moment; cleared when it starts again;
//! - `oom`: an `oom` event; cleared when it starts again;
//! - `restart_loop`: [`RESTART_LOOP_DEATHS`] deaths within [`RESTART_LOOP_WINDOW`];
//! - `unhealthy`: `health_status: unhealthy`, cleared by `health_status: healthy`.
//!
//! A removed container's alerts all clear. Crashes while no Berth watched are found when a
//! snapshot replaces the mirror ([`crashed_meanwhile`], [`on_resync`]): an exited container
//! whose exit is new and not a stop (143, or 137 without an OOM kill) is an `exit` (or `oom`)
//! alert that says so.

use crate::store::now_ms;
use std::time::Duration;

use futures_util::StreamExt;

use crate::connect::{Engine, LogQuery};
use crate::model::{EventRecord, Host, Snapshot};
use crate::store::alerts::NewAlert;
use crate::store::Store;

/// Log lines kept with an `exit` alert.
pub const LOG_LINES: u64 = 20;
/// Deaths within [`RESTART_LOOP_WINDOW`] that make a restart loop.
pub const RESTART_LOOP_DEATHS: i64 = 3;
pub const RESTART_LOOP_WINDOW: Duration = Duration::from_secs(300);

/// Say a raised alert in the log (names and words only: no environment, no log lines).
pub(crate) fn log_raised(raised: &crate::store::alerts::AlertRow) {
    tracing::warn!(host = %raised.host, container = raised.container.as_deref().unwrap_or(""), kind = %raised.kind, "alert: {}", raised.detail);
}

/// How long before a `die` a `kill` makes it one that was asked for.
const ASKED_WINDOW: Duration = Duration::from_secs(30);

async fn count(store: &std::sync::Arc<Store>, host: &Host, id: &str, action: &'static str, since_ns: i64) -> i64 {
    let (h, c) = (host.name().to_owned(), id.to_owned());
    crate::sync::blocking(store, move |s| s.count_events(&h, &c, action, since_ns)).await.unwrap_or(0)
}

/// The last lines a container wrote, as text (best effort: empty when they cannot be read).
async fn last_lines(engine: &Engine, id: &str) -> String {
    let mut stream = engine.logs(id, &LogQuery { follow: false, tail: Some(LOG_LINES), since_s: None, timestamps: false });
    let mut text = Vec::new();
    let read = async {
        while let Some(Ok(piece)) = stream.next().await {
            text.extend_from_slice(piece.bytes());
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(10), read).await;
    String::from_utf8_lossy(&text).into_owned()
}

/// What the alerts are: raised or cleared by these events of `host` (stored first by this
/// process), in their order.
pub async fn on_events(store: &std::sync::Arc<Store>, engine: &Engine, host: &Host, events: Vec<EventRecord>) {
    for event in events.into_iter().filter(|e| e.kind == "container") {
        let Some(id) = event.actor_id.clone() else { continue };
        let name = event.attributes.get("name").cloned().or(event.actor_name.clone());
        let action = event.action.as_str();
        let time_ms = event.time_ns / 1_000_000;
        let alert = |kind: &'static str, exit_code: Option<i64>, detail: String, logs: Option<String>| NewAlert {
            time_ms,
            host: host.name().to_owned(),
            container: name.clone(),
            container_id: Some(id.clone()),
            kind,
            exit_code,
            detail,
            logs,
            rule: None,
        };
        let mut raise = Vec::new();
        let mut clear: Vec<&'static str> = Vec::new();
        match action {
            "die" => {
                let code = event.attributes.get("exitCode").and_then(|c| c.parse::<i64>().ok());
                // A stop or kill someone asked for (a `kill` just before) is no crash.
                let asked = count(store, host, &id, "kill", event.time_ns - ASKED_WINDOW.as_nanos() as i64).await > 0;
                if code.is_some_and(|c| c != 0) && !asked {
                    let logs = last_lines(engine, &id).await;
                    let code = code.unwrap_or_default();
                    raise.push(alert("exit", Some(code), format!("exited with code {code}"), Some(logs)));
                }
                let deaths = count(store, host, &id, "die", event.time_ns - RESTART_LOOP_WINDOW.as_nanos() as i64).await;
                if deaths >= RESTART_LOOP_DEATHS && !asked {
                    raise.push(alert("restart_loop", code, format!("{deaths} exits in the last {} minutes", RESTART_LOOP_WINDOW.as_secs() / 60), None));
                }
            }
            "oom" => raise.push(alert("oom", None, "killed for lack of memory (the kernel's OOM killer)".into(), None)),
            "start" => {
                clear.extend(["exit", "oom"]);
                if count(store, host, &id, "die", event.time_ns - RESTART_LOOP_WINDOW.as_nanos() as i64).await < RESTART_LOOP_DEATHS {
                    clear.push("restart_loop");
                }
            }
            "destroy" => clear.extend(["exit", "oom", "restart_loop", "unhealthy"]),
            a if a.starts_with("health_status") => {
                if a.ends_with("unhealthy") {
                    raise.push(alert("unhealthy", None, "its health check fails".into(), None));
                } else if a.ends_with("healthy") {
                    clear.push("unhealthy");
                }
            }
            _ => {}
        }
        let (h, c) = (host.name().to_owned(), id.clone());
        let result = crate::sync::blocking(store, move |s| {
            s.close_alerts(&h, &c, &clear, now_ms())?;
            for alert in &raise {
                if let Some(raised) = s.raise_alert(alert)? {
                    log_raised(&raised);
                }
            }
            Ok(())
        })
        .await;
        if let Err(e) = result {
            tracing::warn!(%e, "could not record an alert");
        }
    }
}

/// A container found exited at a resync with an exit that is new since the mirror's row.
#[derive(Debug, Clone, PartialEq)]
pub struct Crash {
    pub id: String,
    pub name: String,
    pub exit_code: i64,
    pub finished_ms: i64,
    pub oom_killed: bool,
}

/// The crashes a snapshot shows that the mirror had not seen (none on a host's first one).
pub fn crashed_meanwhile(seen: &crate::store::SnapshotSeen, snapshot: &Snapshot) -> Vec<Crash> {
    if !seen.had_snapshot {
        return Vec::new();
    }
    snapshot
        .containers
        .iter()
        .filter(|c| c.state == "exited" && !seen.claimed.contains(&c.id))
        .filter_map(|c| {
            let code = c.exit_code.filter(|code| *code != 0)?;
            let before = seen.before.iter().find(|b| b.id == c.id);
            if before.is_some_and(|b| b.finished_ms == c.finished_ms) {
                return None; // seen already
            }
            let inspect: serde_json::Value = serde_json::from_str(&c.inspect).unwrap_or_default();
            let oom_killed = inspect["State"]["OOMKilled"].as_bool().unwrap_or(false);
            // A stop (SIGTERM, or SIGKILL after it) is no crash; an OOM kill is.
            if code == 143 || (code == 137 && !oom_killed) {
                return None;
            }
            Some(Crash { id: c.id.clone(), name: c.name.clone(), exit_code: code, finished_ms: c.finished_ms.unwrap_or_default(), oom_killed })
        })
        .collect()
}

/// Raise the alerts of crashes found at a resync, with each container's last lines.
pub async fn on_resync(store: &std::sync::Arc<Store>, engine: &Engine, host: &Host, crashed: Vec<Crash>) {
    for crash in crashed {
        let logs = last_lines(engine, &crash.id).await;
        let when = crate::time::rfc3339_ms(crash.finished_ms);
        let (kind, detail) = if crash.oom_killed {
            ("oom", format!("killed for lack of memory at {when}, while no Berth was watching (found at the resync)"))
        } else {
            ("exit", format!("exited with code {} at {when}, while no Berth was watching (found at the resync)", crash.exit_code))
        };
        let alert = NewAlert {
            time_ms: crash.finished_ms,
            host: host.name().to_owned(),
            container: Some(crash.name.clone()),
            container_id: Some(crash.id.clone()),
            kind,
            exit_code: Some(crash.exit_code),
            detail,
            logs: Some(logs),
            rule: None,
        };
        match crate::sync::blocking(store, move |s| s.raise_alert(&alert)).await {
            Ok(Some(raised)) => log_raised(&raised),
            Ok(None) => {}
            Err(e) => tracing::warn!(%e, "could not record an alert"),
        }
    }
}
