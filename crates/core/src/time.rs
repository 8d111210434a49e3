//! Times as Docker writes them and as Berth shows them.

use chrono::{DateTime, SecondsFormat, Utc};

use crate::error::{Error, Result};

pub fn rfc3339_ms(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn rfc3339_ns(ns: i64) -> String {
    DateTime::<Utc>::from_timestamp_nanos(ns).to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// Docker's RFC 3339 timestamps; its "zero" time (`0001-01-01T00:00:00Z`) means "never".
pub fn docker_time_ms(text: &str) -> Option<i64> {
    let t = DateTime::parse_from_rfc3339(text).ok()?;
    (t.timestamp() > 0).then(|| t.timestamp_millis())
}

/// `--since` as the CLI takes it: a duration back from now (`90s`, `10m`, `2h`, `1d`) or RFC 3339.
pub fn parse_since(text: &str, now: DateTime<Utc>) -> Result<i64> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.timestamp_nanos_opt().unwrap_or(0));
    }
    let duration = humantime::parse_duration(text)
        .map_err(|_| Error::invalid("--since", format!("{text:?} is neither a duration like 10m, 2h, 1d nor an RFC 3339 time like 2026-11-25T10:00:00Z")))?;
    let back = chrono::Duration::from_std(duration).map_err(|_| Error::invalid("--since", format!("{text:?} is too long ago")))?;
    Ok((now - back).timestamp_nanos_opt().unwrap_or(0))
}

/// A duration the way `docker ps` words it ("5 minutes", "About an hour").
pub fn human_duration(ms: i64) -> String {
    let seconds = ms.max(0) / 1000;
    let minutes = seconds / 60;
    let hours = minutes / 60;
    match seconds {
        s if s < 1 => "Less than a second".into(),
        1 => "1 second".into(),
        s if s < 60 => format!("{s} seconds"),
        _ if minutes == 1 => "About a minute".into(),
        _ if minutes < 60 => format!("{minutes} minutes"),
        _ if hours == 1 => "About an hour".into(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if hours < 24 * 7 * 2 => format!("{} days", hours / 24),
        _ if hours < 24 * 30 * 2 => format!("{} weeks", hours / 24 / 7),
        _ if hours < 24 * 365 * 2 => format!("{} months", hours / 24 / 30),
        _ => format!("{} years", hours / 24 / 365),
    }
}

/// `docker ps`'s STATUS column, computed from the stored state at read time.
pub fn container_status(state: &str, exit_code: Option<i64>, started_ms: Option<i64>, finished_ms: Option<i64>, health: Option<&str>, now_ms: i64) -> String {
    let code = exit_code.unwrap_or(0);
    let ago = |t: Option<i64>| t.map(|t| format!(" {} ago", human_duration(now_ms - t))).unwrap_or_default();
    match state {
        "running" | "paused" => {
            let mut s = format!("Up {}", started_ms.map(|t| human_duration(now_ms - t)).unwrap_or_default());
            if state == "paused" {
                s.push_str(" (Paused)");
            } else if let Some(h) = health.filter(|h| *h != "none") {
                s.push_str(&format!(" ({h})"));
            }
            s
        }
        "restarting" => format!("Restarting ({code}){}", ago(finished_ms)),
        "exited" if started_ms.is_none() && finished_ms.is_none() => "Created".into(),
        "exited" => format!("Exited ({code}){}", ago(finished_ms)),
        "created" => "Created".into(),
        "removing" => "Removal In Progress".into(),
        "dead" => "Dead".into(),
        other => other.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_reads_like_docker_ps() {
        let now = 10_000_000;
        // (state, exit code, started, finished, health, expected)
        type Case<'a> = (&'a str, Option<i64>, Option<i64>, Option<i64>, Option<&'a str>, &'a str);
        let cases: &[Case] = &[
            ("running", Some(0), Some(now - 5 * 60_000), None, None, "Up 5 minutes"),
            ("running", Some(0), Some(now - 3_000), None, Some("healthy"), "Up 3 seconds (healthy)"),
            ("paused", Some(0), Some(now - 90 * 60_000), None, None, "Up About an hour (Paused)"),
            ("exited", Some(137), Some(1), Some(now - 2 * 3_600_000), None, "Exited (137) 2 hours ago"),
            ("exited", Some(0), None, None, None, "Created"),
            ("created", None, None, None, None, "Created"),
            ("dead", Some(1), None, None, None, "Dead"),
        ];
        for (state, code, started, finished, health, want) in cases {
            assert_eq!(container_status(state, *code, *started, *finished, *health, now), *want, "{state}");
        }
    }

    #[test]
    fn since_accepts_durations_and_times() {
        let now = DateTime::parse_from_rfc3339("2026-11-25T12:00:00Z").unwrap().with_timezone(&Utc);
        let at = |s: &str| rfc3339_ns(parse_since(s, now).unwrap());
        assert_eq!(at("10m"), "2026-11-25T11:50:00.000000000Z");
        assert_eq!(at("1d"), "2026-11-24T12:00:00.000000000Z");
        assert_eq!(at("2026-11-25T08:00:00+02:00"), "2026-11-25T06:00:00.000000000Z");
        assert!(parse_since("yesterday", now).unwrap_err().to_string().contains("RFC 3339"));
    }

    #[test]
    fn zero_time_is_never() {
        assert_eq!(docker_time_ms("0001-01-01T00:00:00Z"), None);
        assert_eq!(docker_time_ms("2026-11-25T12:00:00.5Z"), Some(1_795_608_000_500));
    }
}
