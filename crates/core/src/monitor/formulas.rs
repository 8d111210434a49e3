//! The figures of a container, computed exactly as the docker CLI computes them
//! (`docker stats`, `cli/command/container/stats_helpers.go`), from two [`Reading`]s of its
//! counters, however they were read (the Engine API or the cgroup files):
//! - CPU % = Δcontainer CPU time / Δhost CPU time × online CPUs × 100 (0 when either Δ is 0);
//! - memory used = usage − `total_inactive_file` (cgroup v1) or − `inactive_file` (v2), when
//!   that is smaller than the usage; memory % = used / limit × 100;
//! - network rx/tx: the sum over the container's interfaces (not `lo`); block read/write: the
//!   sum of the read and write bytes over its devices; pids: the number of tasks.

use serde::{Deserialize, Serialize};

/// One reading of a container's counters at one moment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    /// The container's CPU time so far, in nanoseconds.
    pub cpu_ns: u64,
    /// The host's CPU time so far (all CPUs, every state), in nanoseconds, as Docker reads it
    /// from `/proc/stat`; `None` when it was not read (the Windows engine).
    pub system_ns: Option<u64>,
    /// CPUs online on the host.
    pub online_cpus: u32,
    /// Memory charged to the container, page cache included.
    pub mem_usage: u64,
    /// The page cache not recently used (`total_inactive_file` on v1, `inactive_file` on v2).
    pub mem_inactive_file: Option<u64>,
    /// The container's memory limit (the host's memory when it has none).
    pub mem_limit: u64,
    pub net_rx: u64,
    pub net_tx: u64,
    pub blk_read: u64,
    pub blk_write: u64,
    pub pids: u64,
    /// OOM kills in the container's cgroup so far (v2 `memory.events` `oom_kill`, v1
    /// `memory.oom_control` `oom_kill` where the kernel has it).
    pub oom_kills: Option<u64>,
}

pub use crate::model::Figures;

/// Memory used as the docker CLI shows it: the usage less the inactive page cache, when that
/// is smaller than the usage.
pub fn mem_used(reading: &Reading) -> u64 {
    match reading.mem_inactive_file {
        Some(inactive) if inactive < reading.mem_usage => reading.mem_usage - inactive,
        _ => reading.mem_usage,
    }
}

/// CPU % between two readings of one container (`before` the earlier): Δcontainer / Δsystem ×
/// online CPUs × 100; 0 when there is no earlier reading, the host's time was not read, or
/// either Δ is not positive (a restarted container's counters start again).
pub fn cpu_percent(before: Option<&Reading>, now: &Reading) -> f64 {
    let Some(before) = before else { return 0.0 };
    let (Some(system_now), Some(system_before)) = (now.system_ns, before.system_ns) else { return 0.0 };
    let cpu_delta = now.cpu_ns as f64 - before.cpu_ns as f64;
    let system_delta = system_now as f64 - system_before as f64;
    if cpu_delta > 0.0 && system_delta > 0.0 {
        cpu_delta / system_delta * f64::from(now.online_cpus.max(1)) * 100.0
    } else {
        0.0
    }
}

/// Every figure from a reading and the one before it (CPU % needs two; the rest are the
/// latest counters, as the docker CLI shows them).
pub fn figures(before: Option<&Reading>, now: &Reading) -> Figures {
    let used = mem_used(now);
    Figures {
        cpu_percent: cpu_percent(before, now),
        mem_used: used,
        mem_limit: now.mem_limit,
        mem_percent: if now.mem_limit > 0 { used as f64 / now.mem_limit as f64 * 100.0 } else { 0.0 },
        net_rx: now.net_rx,
        net_tx: now.net_tx,
        blk_read: now.blk_read,
        blk_write: now.blk_write,
        pids: now.pids,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(cpu_ns: u64, system_ns: u64) -> Reading {
        Reading { cpu_ns, system_ns: Some(system_ns), online_cpus: 4, mem_usage: 100, mem_limit: 400, ..Reading::default() }
    }

    #[test]
    fn cpu_is_the_share_of_the_host_times_its_cpus() {
        // Over 1 s of a 4-CPU host (4 s of CPU time), the container used 1 s: one CPU busy.
        let (a, b) = (reading(5_000_000_000, 100_000_000_000), reading(6_000_000_000, 104_000_000_000));
        assert!((cpu_percent(Some(&a), &b) - 100.0).abs() < 1e-9);
        // Idle, restarted (counters went back), first reading, or no host time: 0.
        assert_eq!(cpu_percent(Some(&a), &reading(5_000_000_000, 104_000_000_000)), 0.0);
        assert_eq!(cpu_percent(Some(&b), &reading(10, 105_000_000_000)), 0.0);
        assert_eq!(cpu_percent(None, &b), 0.0);
        assert_eq!(cpu_percent(Some(&a), &Reading { system_ns: None, ..b.clone() }), 0.0);
    }

    #[test]
    fn memory_leaves_out_the_inactive_page_cache_only_when_smaller() {
        let r = |usage, inactive| Reading { mem_usage: usage, mem_inactive_file: inactive, mem_limit: 1000, ..Reading::default() };
        assert_eq!(mem_used(&r(500, Some(200))), 300);
        assert_eq!(mem_used(&r(500, Some(600))), 500, "never below zero: the usage as it is");
        assert_eq!(mem_used(&r(500, None)), 500);
        let f = figures(None, &r(500, Some(250)));
        assert_eq!((f.mem_used, f.mem_limit), (250, 1000));
        assert!((f.mem_percent - 25.0).abs() < 1e-9);
        assert_eq!(figures(None, &Reading::default()).mem_percent, 0.0, "no limit read: no percentage");
    }
}
