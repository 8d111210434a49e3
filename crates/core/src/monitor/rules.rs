//! Rules people set, evaluated by each host's collector after every tick: thresholds from the
//! history (CPU or memory above a percentage for a while, per container, app or host) and a
//! host offline for longer than a while ([`HOST_OFFLINE_AFTER`] unless a rule says otherwise).
//! An alert stays open while its condition holds and closes when it clears; a rule's command
//! runs once per alert it raises, with the alert as JSON in `BERTH_ALERT`.

use crate::store::now_ms;
use std::time::Duration;

use crate::model::Host;
use crate::store::alerts::{AlertRow, NewAlert, RuleRow};
use crate::store::Store;

/// A host unreachable this long is a `host_offline` alert, unless a rule sets another time.
pub const HOST_OFFLINE_AFTER: Duration = Duration::from_secs(120);
/// A threshold holds when at least this share of its window's points are there and above it.
const COVERAGE: f64 = 0.8;

fn applies(rule: &RuleRow, host: &Host) -> bool {
    rule.scope != "host" || rule.name.as_deref().is_none_or(|n| n == host.name())
}

/// Run a rule's command for an alert it raised (a headless Berth's notification).
fn notify(rule: &RuleRow, alert: &AlertRow) {
    let Some(command) = rule.command.clone() else { return };
    let json = serde_json::to_string(alert).unwrap_or_default();
    let spawned = std::process::Command::new("sh")
        .args(["-c", &command])
        .env("BERTH_ALERT", json)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    match spawned {
        // Reaped on a thread of its own, so no zombie is left and the collector never waits.
        Ok(mut child) => drop(std::thread::spawn(move || child.wait())),
        Err(e) => tracing::warn!(rule = rule.id, %e, "could not run the rule's command"),
    }
}

/// What the rules say about `host` after a tick; `offline_for`: how long it has been
/// unreachable (none: it answered).
pub fn evaluate(store: &Store, host: &Host, offline_for: Option<Duration>) -> crate::Result<()> {
    let rules = store.alert_rules()?;
    let now = now_ms();
    // A host offline too long.
    let offline_rule = rules.iter().find(|r| r.kind == "host_offline" && applies(r, host));
    let limit = offline_rule.map_or(HOST_OFFLINE_AFTER, |r| Duration::from_secs(r.for_s.max(0) as u64));
    let offline = NewAlert {
        time_ms: now,
        host: host.name().to_owned(),
        container: None,
        container_id: None,
        kind: "host_offline",
        exit_code: None,
        detail: format!("unreachable for more than {} s", limit.as_secs()),
        logs: None,
        rule: None,
    };
    match offline_for {
        Some(since) if since >= limit => {
            if let Some(raised) = store.raise_alert(&offline)? {
                super::alerts::log_raised(&raised);
                if let Some(rule) = offline_rule {
                    notify(rule, &raised);
                }
            }
        }
        Some(_) => {}
        None => {
            store.close_alert_key(&offline.key(), now)?;
        }
    }
    if offline_for.is_some() {
        return Ok(()); // no figures to judge: a gap, not a clear
    }
    // Thresholds from the history.
    let (cpus, memory) = store
        .host_capacity()?
        .into_iter()
        .find(|(name, ..)| name == host.name())
        .and_then(|(_, info, ..)| info)
        .and_then(|info| serde_json::from_str::<serde_json::Value>(&info).ok())
        .map_or((1.0, 1.0), |i| (i["NCPU"].as_f64().unwrap_or(1.0), i["MemTotal"].as_f64().unwrap_or(1.0)));
    for rule in rules.iter().filter(|r| (r.kind == "cpu" || r.kind == "memory") && applies(r, host)) {
        let Some(threshold) = rule.threshold else { continue };
        let windows = store.threshold_windows(rule, host.name(), now - rule.for_s * 1000, cpus, memory)?;
        let tier = crate::store::metrics::TIERS.iter().find(|t| t.keep_ms >= rule.for_s * 1000).unwrap_or(&crate::store::metrics::TIERS[2]);
        let expected = ((rule.for_s * 1000) as f64 / tier.bucket_ms as f64 * COVERAGE).max(1.0);
        let prefix = format!("threshold/{}/{}/", rule.id, host.name());
        let mut holding = Vec::new();
        for window in windows {
            let alert = NewAlert {
                time_ms: now,
                host: host.name().to_owned(),
                container: window.container.clone().or(rule.name.clone()),
                container_id: window.container_id.clone(),
                kind: "threshold",
                exit_code: None,
                detail: format!(
                    "{} above {threshold}% for {} s ({} {}; lowest {:.1}%)",
                    if rule.kind == "cpu" { "CPU" } else { "memory" },
                    rule.for_s,
                    rule.scope,
                    rule.name.as_deref().unwrap_or("any"),
                    window.lowest
                ),
                logs: None,
                rule: Some(rule.id),
            };
            if window.points as f64 >= expected && window.lowest > threshold {
                holding.push(alert.key());
                if let Some(raised) = store.raise_alert(&alert)? {
                    super::alerts::log_raised(&raised);
                    notify(rule, &raised);
                }
            }
        }
        for key in store.open_alert_keys(&prefix)? {
            if !holding.contains(&key) {
                store.close_alert_key(&key, now)?;
            }
        }
    }
    Ok(())
}
