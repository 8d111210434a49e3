//! Readings from the Engine API's stats document (`GET /containers/{id}/stats?stream=false`,
//! with `one-shot=true` from API 1.41): the same counters the cgroup path reads, as the daemon
//! reports them. A document that lacks a field or has an unexpected type gives a reading with
//! what it has (zero where a counter is missing), never a panic.

use serde_json::Value;

use super::formulas::Reading;

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// The reading in a stats document, and the daemon's earlier one (`precpu_stats`, present
/// when the request was not one-shot) for the CPU %.
pub fn reading(doc: &Value) -> (Reading, Option<Reading>) {
    let cpu = &doc["cpu_stats"];
    let online = |cpu: &Value| {
        cpu["online_cpus"].as_u64().filter(|n| *n > 0).or_else(|| cpu["cpu_usage"]["percpu_usage"].as_array().map(|a| a.len() as u64)).unwrap_or(0) as u32
    };
    let memory = &doc["memory_stats"];
    let stats = &memory["stats"];
    // v1 names the hierarchy's total; v2 has only the cgroup's own.
    let inactive = stats.get("total_inactive_file").or_else(|| stats.get("inactive_file")).and_then(Value::as_u64);
    let (mut rx, mut tx) = (0, 0);
    if let Some(networks) = doc["networks"].as_object() {
        for net in networks.values() {
            rx += u(&net["rx_bytes"]);
            tx += u(&net["tx_bytes"]);
        }
    }
    let (mut read, mut write) = (0, 0);
    for entry in doc["blkio_stats"]["io_service_bytes_recursive"].as_array().into_iter().flatten() {
        match entry["op"].as_str().map(str::to_ascii_lowercase).as_deref() {
            Some("read") => read += u(&entry["value"]),
            Some("write") => write += u(&entry["value"]),
            _ => {}
        }
    }
    let now = Reading {
        cpu_ns: u(&cpu["cpu_usage"]["total_usage"]),
        system_ns: cpu["system_cpu_usage"].as_u64(),
        online_cpus: online(cpu),
        mem_usage: u(&memory["usage"]),
        mem_inactive_file: inactive,
        mem_limit: u(&memory["limit"]),
        net_rx: rx,
        net_tx: tx,
        blk_read: read,
        blk_write: write,
        pids: u(&doc["pids_stats"]["current"]),
        oom_kills: None,
    };
    let pre = &doc["precpu_stats"];
    let before = pre["system_cpu_usage"].as_u64().filter(|s| *s > 0).map(|system| Reading {
        cpu_ns: u(&pre["cpu_usage"]["total_usage"]),
        system_ns: Some(system),
        online_cpus: online(pre),
        ..now.clone()
    });
    (now, before)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::formulas::figures;

    #[test]
    fn a_v1_document_reads_as_the_docker_cli_shows_it() {
        let doc: Value = serde_json::from_str(include_str!("testdata/api-v1-busy.json")).unwrap();
        let (now, before) = reading(&doc);
        let f = figures(before.as_ref(), &now);
        // Captured from dockerd 20.10 (cgroup v1) with a busy loop holding 48 MB in /dev/shm; at
        // that moment `docker stats --no-stream` printed 92.87% and 48.59MiB / 23.54GiB, 0.20%.
        assert!((f.cpu_percent - 92.44).abs() < 0.01, "{f:?}");
        assert_eq!((f.mem_used, f.mem_limit), (50_946_048, 25_276_194_816));
        assert!((f.mem_used as f64 / 1048576.0 - 48.59).abs() < 0.01);
        assert!((f.mem_percent - 0.20).abs() < 0.01, "{f:?}");
        assert_eq!((f.net_rx, f.net_tx, f.blk_read, f.blk_write, f.pids), (1_560, 378, 0, 0, 1));
        // A one-shot document has no earlier sample: CPU % needs the reader's previous one.
        let oneshot: Value = serde_json::from_str(include_str!("testdata/api-v1-idle-oneshot.json")).unwrap();
        let (idle, before) = reading(&oneshot);
        assert!(before.is_none() && idle.cpu_ns > 0 && idle.mem_usage > 0, "{idle:?}");
    }

    #[test]
    fn a_v2_document_uses_inactive_file_and_a_missing_field_is_zero() {
        let doc: Value = serde_json::from_str(include_str!("testdata/api-v2-idle.json")).unwrap();
        let (now, before) = reading(&doc);
        assert_eq!(now.mem_inactive_file, Some(4_096_000));
        let f = figures(before.as_ref(), &now);
        assert!(f.cpu_percent < 0.1, "{f:?}");
        assert_eq!(f.mem_used, 8_192_000 - 4_096_000);
        // Wrong types and missing parts: a reading of what there is.
        let (odd, before) = reading(&serde_json::json!({ "cpu_stats": "x", "memory_stats": { "usage": -1 }, "networks": [1] }));
        assert_eq!((odd.cpu_ns, odd.mem_usage, odd.net_rx, before), (0, 0, 0, None));
    }
}
