//! Readings from the cgroup files, for every running container of a host in one round trip:
//! [`PROGRAM`] is one small `sh` loop started once per host and kept running (a child process
//! for the local engine; an exec channel of the tunnel for an `ssh://` host). Each tick writes
//! one line (the running containers' ids and pids, [`request_line`]) and reads one answer that
//! ends with [`END`]: for each container its cgroup found through `/proc/<pid>/cgroup` (so
//! `--cgroup-parent`, the cgroupfs and the systemd drivers all work) and the files the docker
//! daemon reads, each under a `### ID NAME` line; [`parse`] turns that into [`Reading`]s.
//!
//! cgroup v1: `cpuacct.usage`, `memory.usage_in_bytes`, `memory.limit_in_bytes`, `memory.stat`
//! (`total_inactive_file`), `memory.oom_control` (`oom_kill`), `blkio…io_service_bytes_recursive`,
//! `pids.current`. cgroup v2: `cpu.stat` (`usage_usec`), `memory.current`, `memory.max`,
//! `memory.stat` (`inactive_file`), `memory.events` (`oom_kill`), `io.stat`, `pids.current`.
//! Both: `/proc/<pid>/net/dev`, and the host's `/proc/stat` and `MemTotal`.

use std::collections::BTreeMap;

use super::formulas::Reading;

/// The line that ends each answer.
pub const END: &str = "### - end";

/// The host side: `sh -c PROGRAM`, reading one request line per round from its input. Prints
/// only; changes nothing.
pub const PROGRAM: &str = r####"C=/sys/fs/cgroup
p() { [ -r "$2" ] && { echo "### $id $1"; while IFS= read -r l || [ -n "$l" ]; do echo "$l"; done < "$2"; }; }
round() {
  echo '### - stat'; grep '^cpu' /proc/stat
  echo '### - meminfo'; grep '^MemTotal:' /proc/meminfo
  while [ $# -gt 1 ]; do
    id=$1; pid=$2; shift 2
    [ -r /proc/$pid/cgroup ] || { echo "### $id gone"; continue; }
    while IFS=: read -r n ctl path; do
      case ",$ctl," in
        ,,) for d in "$C$path" "$C/unified$path"; do
              if [ -r "$d/cpu.stat" ] && [ -r "$d/memory.current" ]; then
                for f in cpu.stat memory.current memory.max memory.stat memory.events io.stat pids.current; do p $f "$d/$f"; done
                break
              fi
            done ;;
        *,cpuacct,*) for d in "$C/cpuacct$path" "$C/cpu,cpuacct$path" "$C/$ctl$path"; do
              [ -r "$d/cpuacct.usage" ] && { p cpuacct.usage "$d/cpuacct.usage"; break; }
            done ;;
        *,memory,*) for f in memory.usage_in_bytes memory.limit_in_bytes memory.stat memory.oom_control; do p $f "$C/memory$path/$f"; done ;;
        *,blkio,*) for f in blkio.io_service_bytes_recursive blkio.throttle.io_service_bytes_recursive; do p $f "$C/blkio$path/$f"; done ;;
        *,pids,*) p pids.current "$C/pids$path/pids.current" ;;
      esac
    done < /proc/$pid/cgroup
    p net.dev /proc/$pid/net/dev
  done
}
set -f
while IFS= read -r line; do
  set -- $line
  round "$@" 2>/dev/null
  echo '### - end'
done
"####;

/// The host's side of a round trip: its CPU time and CPUs from `/proc/stat`, its memory.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostCounters {
    pub system_ns: Option<u64>,
    pub online_cpus: u32,
    pub mem_total: u64,
}

/// What one round of [`PROGRAM`] read: the host, and each container's reading (or why none: it
/// ended since it was listed, or its cgroup files could not be read).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Round {
    pub host: HostCounters,
    pub containers: BTreeMap<String, Result<Reading, String>>,
}

/// One round's request for these containers: only hex ids and numeric pids pass (the line
/// crosses an SSH link as text and the shell splits it into words).
pub fn request_line(containers: &[(String, u32)]) -> String {
    let words: Vec<String> = containers
        .iter()
        .filter(|(id, pid)| *pid > 0 && !id.is_empty() && id.chars().all(|c| c.is_ascii_hexdigit()))
        .flat_map(|(id, pid)| [id.clone(), pid.to_string()])
        .collect();
    format!("{}\n", words.join(" "))
}

/// Docker's reading of `/proc/stat`: the first seven fields of the `cpu` line (user to
/// softirq) in clock ticks of 1/100 s, as nanoseconds; the `cpuN` lines counted.
fn proc_stat(text: &str) -> (Option<u64>, u32) {
    let mut total = None;
    let mut cpus = 0;
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        match parts.next() {
            Some("cpu") => {
                let fields: Vec<u64> = parts.take(7).filter_map(|v| v.parse().ok()).collect();
                if fields.len() == 7 {
                    total = Some(fields.iter().sum::<u64>().saturating_mul(10_000_000));
                }
            }
            Some(name) if name.len() > 3 && name[3..].chars().all(|c| c.is_ascii_digit()) => cpus += 1,
            _ => {}
        }
    }
    (total, cpus)
}

/// `key value` lines (memory.stat, cpu.stat, memory.events, memory.oom_control).
fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| l.strip_prefix(key).and_then(|rest| rest.strip_prefix(' ')).and_then(|v| v.trim().parse().ok()))
}

fn number(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// v1 `MAJ:MIN Read N` lines, summed per operation (the `Total` line left out).
fn blkio_v1(text: &str) -> Option<(u64, u64)> {
    let (mut read, mut write, mut any) = (0u64, 0u64, false);
    for line in text.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if let [_, op, value] = parts[..] {
            let value: u64 = value.parse().unwrap_or(0);
            match op.to_ascii_lowercase().as_str() {
                "read" => read += value,
                "write" => write += value,
                _ => {}
            }
            any = true;
        }
    }
    any.then_some((read, write))
}

/// v2 `MAJ:MIN rbytes=N wbytes=N …` lines, summed.
fn io_v2(text: &str) -> (u64, u64) {
    let (mut read, mut write) = (0u64, 0u64);
    for field in text.split_whitespace() {
        if let Some(v) = field.strip_prefix("rbytes=") {
            read += v.parse().unwrap_or(0);
        } else if let Some(v) = field.strip_prefix("wbytes=") {
            write += v.parse().unwrap_or(0);
        }
    }
    (read, write)
}

/// `/proc/<pid>/net/dev`: received and sent bytes over every interface but `lo`.
fn net_dev(text: &str) -> (u64, u64) {
    let (mut rx, mut tx) = (0u64, 0u64);
    for line in text.lines().skip(2) {
        let Some((name, counters)) = line.split_once(':') else { continue };
        if name.trim() == "lo" {
            continue;
        }
        let fields: Vec<u64> = counters.split_whitespace().map(|v| v.parse().unwrap_or(0)).collect();
        if fields.len() >= 9 {
            rx += fields[0];
            tx += fields[8];
        }
    }
    (rx, tx)
}

/// Where a cgroup version keeps the memory figures.
struct Layout {
    usage: &'static str,
    limit: &'static str,
    /// The `memory.stat` key of the inactive page cache.
    inactive: &'static str,
    /// The file with the `oom_kill` count.
    oom: &'static str,
}

const V1: Layout = Layout { usage: "memory.usage_in_bytes", limit: "memory.limit_in_bytes", inactive: "total_inactive_file", oom: "memory.oom_control" };
const V2: Layout = Layout { usage: "memory.current", limit: "memory.max", inactive: "inactive_file", oom: "memory.events" };

/// One container's files into a reading (`None`: not enough was readable).
fn container(files: &BTreeMap<String, String>, host: &HostCounters) -> Result<Reading, String> {
    let get = |name: &str| files.get(name).map(String::as_str);
    if files.contains_key("gone") {
        return Err("the container ended since it was listed".into());
    }
    let limit = |cgroup: Option<u64>| match cgroup {
        Some(l) if host.mem_total == 0 || l < host.mem_total => l,
        _ => host.mem_total,
    };
    let (layout, cpu_ns, (blk_read, blk_write)) = if let Some(cpu_stat) = get("cpu.stat") {
        let cpu = keyed(cpu_stat, "usage_usec").ok_or("cpu.stat has no usage_usec")?.saturating_mul(1000);
        (&V2, cpu, get("io.stat").map(io_v2).unwrap_or_default())
    } else if let Some(usage) = get("cpuacct.usage") {
        let blkio = get("blkio.io_service_bytes_recursive")
            .and_then(blkio_v1)
            .or_else(|| get("blkio.throttle.io_service_bytes_recursive").and_then(blkio_v1))
            .unwrap_or_default();
        (&V1, number(usage).ok_or("cpuacct.usage is unreadable")?, blkio)
    } else {
        return Err("its cgroup files are not readable here (no cpu.stat or cpuacct.usage)".into());
    };
    let mut reading = Reading {
        cpu_ns,
        mem_usage: get(layout.usage).and_then(number).ok_or_else(|| format!("{} is unreadable", layout.usage))?,
        mem_inactive_file: keyed(get("memory.stat").unwrap_or_default(), layout.inactive),
        mem_limit: limit(get(layout.limit).and_then(number)),
        blk_read,
        blk_write,
        oom_kills: get(layout.oom).and_then(|text| keyed(text, "oom_kill")),
        pids: get("pids.current").and_then(number).unwrap_or(0),
        ..Reading::default()
    };
    let (rx, tx) = get("net.dev").map(net_dev).unwrap_or_default();
    reading.net_rx = rx;
    reading.net_tx = tx;
    reading.system_ns = host.system_ns;
    reading.online_cpus = host.online_cpus;
    Ok(reading)
}

/// One answer of [`PROGRAM`] into a [`Round`]. Whatever the text, an answer: a container it could
/// not read says why.
pub fn parse(output: &str) -> Round {
    let mut files: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    for line in output.lines() {
        if line == END {
            break;
        }
        if let Some(head) = line.strip_prefix("### ") {
            let mut parts = head.splitn(2, ' ');
            let (id, name) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
            files.entry(id.to_owned()).or_default().insert(name.to_owned(), String::new());
            current = Some((id.to_owned(), name.to_owned()));
        } else if let Some((id, name)) = &current {
            if let Some(text) = files.get_mut(id).and_then(|f| f.get_mut(name)) {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    let host_files = files.remove("-").unwrap_or_default();
    let (system_ns, online_cpus) = host_files.get("stat").map(|s| proc_stat(s)).unwrap_or((None, 0));
    let mem_total =
        host_files.get("meminfo").and_then(|m| m.split_whitespace().nth(1).and_then(|kb| kb.parse::<u64>().ok())).map_or(0, |kb| kb.saturating_mul(1024));
    let host = HostCounters { system_ns, online_cpus, mem_total };
    let containers = files.iter().map(|(id, f)| (id.clone(), container(f, &host))).collect();
    Round { host, containers }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::formulas::{figures, mem_used};

    #[test]
    fn a_v1_round_reads_every_counter() {
        let round = parse(include_str!("testdata/cgroup-v1-round.txt"));
        assert_eq!(round.host.online_cpus, 2);
        assert!(round.host.mem_total > 0);
        assert_eq!(round.containers.len(), 2, "{round:?}");
        let busy = round.containers.values().find_map(|r| r.as_ref().ok().filter(|r| r.mem_usage > 40_000_000)).expect("the memory holder");
        assert!(busy.mem_inactive_file.is_some() && busy.pids >= 1 && busy.net_rx > 0, "{busy:?}");
        assert!(mem_used(busy) <= busy.mem_usage);
        assert_eq!(busy.mem_limit, round.host.mem_total, "no limit set: the host's memory");
    }

    #[test]
    fn a_v2_round_reads_every_counter_and_cpu_follows_from_two() {
        let first = parse(include_str!("testdata/cgroup-v2-round-1.txt"));
        let second = parse(include_str!("testdata/cgroup-v2-round-2.txt"));
        let id = "4f1c2e0a9b8d";
        let (a, b) = (first.containers[id].as_ref().unwrap(), second.containers[id].as_ref().unwrap());
        assert_eq!((b.mem_usage, b.mem_inactive_file, b.mem_limit), (71_303_168, Some(3_145_728), 268_435_456));
        assert_eq!((b.blk_read, b.blk_write, b.pids, b.oom_kills), (1_052_672 + 4096, 8192, 3, Some(1)));
        assert_eq!((b.net_rx, b.net_tx), (15_000, 3_000));
        // 2 s later on a 4-CPU host (8 s of CPU time), the container used 2 s: one CPU busy.
        let f = figures(Some(a), b);
        assert!((f.cpu_percent - 100.0).abs() < 0.01, "{f:?}");
        assert_eq!(f.mem_used, 71_303_168 - 3_145_728);
    }

    /// The program itself, run by the machine's `sh` as a host would: one answer per line asked,
    /// each ending with [`END`]; the host's counters read even with no container.
    #[cfg(unix)]
    #[test]
    fn the_program_answers_each_line_with_one_round() {
        use std::io::{BufRead, BufReader, Write};
        let mut child =
            std::process::Command::new("sh").args(["-c", PROGRAM]).stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).spawn().unwrap();
        let mut input = child.stdin.take().unwrap();
        let mut output = BufReader::new(child.stdout.take().unwrap());
        for ask in ["\n", "abcdef 999999999\n"] {
            input.write_all(ask.as_bytes()).unwrap();
            input.flush().unwrap();
            let mut answer = String::new();
            loop {
                let mut line = String::new();
                assert!(output.read_line(&mut line).unwrap() > 0, "the program ended: {answer}");
                answer.push_str(&line);
                if line.trim_end() == END {
                    break;
                }
            }
            let round = parse(&answer);
            assert!(round.host.system_ns.is_some() && round.host.online_cpus > 0 && round.host.mem_total > 0, "{answer}");
            if ask.len() > 1 {
                assert!(round.containers["abcdef"].is_err(), "no such process: {answer}");
            }
        }
        drop(input);
        assert!(child.wait().unwrap().success());
    }

    #[test]
    fn odd_output_gives_an_answer_not_a_panic() {
        let round = parse("### abc gone\n### - stat\ncpu 1 2\n### def cpuacct.usage\nnot a number\n### def memory.usage_in_bytes\n5\ngarbage\n");
        assert!(round.containers["abc"].is_err());
        assert!(round.containers["def"].as_ref().unwrap_err().contains("cpuacct.usage"));
        assert_eq!(round.host.system_ns, None);
        assert_eq!(parse(""), Round::default());
        assert_eq!(request_line(&[("abc1".into(), 7), ("x; rm -rf /".into(), 8), ("ff".into(), 0)]), "abc1 7\n");
    }
}
