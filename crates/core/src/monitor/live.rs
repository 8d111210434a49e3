//! `berth stats`: the figures of a host's running containers now, for both front ends. The
//! running containers (and their pids) come from the mirror, kept true by a snapshot first
//! ([`sample_now`]) or by the follower ([`tick`]).

use std::time::Duration;

use serde::Serialize;

use super::formulas::Figures;
use super::sample::{Sampler, Source};
use crate::error::Result;
use crate::fleet::Fleet;
use crate::model::Host;
use crate::sync::blocking;

/// Between the two readings of `berth stats --no-stream` (CPU % is a rate: it needs two).
pub const CPU_WINDOW: Duration = Duration::from_millis(500);

/// One container's figures now (the `berth stats --json` contract).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct StatsRow {
    pub host: String,
    pub id: String,
    pub name: String,
    #[serde(flatten)]
    pub figures: Figures,
    pub source: Source,
}

/// Whether a container is one of `wanted` (ids, id prefixes, names, `HOST/NAME`; none: all).
pub fn wanted(host: &str, id: &str, name: &str, wanted: &[String]) -> bool {
    wanted.is_empty()
        || wanted.iter().any(|w| {
            let (h, rest) = match w.split_once('/') {
                Some((h, rest)) if !h.is_empty() => (Some(h), rest),
                _ => (None, w.as_str()),
            };
            h.is_none_or(|h| h == host) && (rest == name || (!rest.is_empty() && id.starts_with(rest)))
        })
}

/// One reading of `host`'s running containers (those `selected` keeps), as figures against
/// the sampler's previous reading of each.
pub async fn tick(fleet: &Fleet, host: &Host, sampler: &mut Sampler, selected: &(dyn Fn(&str, &str) -> bool + Sync)) -> Result<Vec<StatsRow>> {
    let name = host.name().to_owned();
    let running = blocking(fleet.store(), move |s| s.running_with_pids(&name)).await?;
    let running: Vec<_> = running.into_iter().filter(|(id, n, _)| selected(id, n)).collect();
    let engine = fleet.engine_for(host).await?;
    let pairs: Vec<(String, u32)> = running.iter().map(|(id, _, pid)| (id.clone(), *pid)).collect();
    let read = sampler.read(&engine, &pairs).await?;
    let ids: Vec<&str> = running.iter().map(|(id, _, _)| id.as_str()).collect();
    sampler.retain(&ids);
    let mut rows: Vec<StatsRow> = read
        .iter()
        .filter_map(|s| {
            let (_, container, _) = running.iter().find(|(id, _, _)| *id == s.id)?;
            Some(StatsRow { host: host.name().to_owned(), id: s.id.clone(), name: container.clone(), figures: sampler.figures(s), source: s.source })
        })
        .collect();
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(rows)
}

/// `berth stats --no-stream`: the host's containers mirrored fresh (a snapshot), then two
/// readings [`CPU_WINDOW`] apart.
pub async fn sample_now(fleet: &Fleet, host: &Host, sampler: &mut Sampler, selected: &(dyn Fn(&str, &str) -> bool + Sync)) -> Result<Vec<StatsRow>> {
    crate::sync::sync_once(fleet, host).await?;
    tick(fleet, host, sampler, selected).await?;
    tokio::time::sleep(CPU_WINDOW).await;
    tick(fleet, host, sampler, selected).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn containers_are_picked_by_id_prefix_name_or_host_slash_name() {
        let w = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(super::wanted("h", "abc123", "web", &[]));
        assert!(super::wanted("h", "abc123", "web", &w(&["web"])));
        assert!(super::wanted("h", "abc123", "web", &w(&["abc"])));
        assert!(super::wanted("h", "abc123", "web", &w(&["h/web"])));
        assert!(!super::wanted("h", "abc123", "web", &w(&["g/web"])));
        assert!(!super::wanted("h", "abc123", "web", &w(&["db", "h/"])));
    }
}
