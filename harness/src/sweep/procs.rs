//! What the processes of a point used, read from `/proc`: CPU time (user and system), context
//! switches and peak RSS of a process and all its descendants (a cluster's workers included).
//!
//! Rules:
//! 1. A sample covers the roots and every process below them at the moment it is taken
//!    (children found through `/proc/PID/task/TID/children`, else by scanning every
//!    `/proc/PID/stat` for its parent).
//! 2. CPU time comes from `/proc/PID/stat` (`utime`, `stime`: all threads of the process, in
//!    clock ticks of `sysconf(_SC_CLK_TCK)`, usually 10 ms). Over a window of a second that is
//!    about 1% resolution, enough for utilization and CPU per operation.
//! 3. Context switches are summed over every thread (`/proc/PID/task/*/status`), because
//!    `/proc/PID/status` counts only the main thread.
//! 4. Peak RSS is the sum over processes of `VmHWM` (each process' own high-water mark).
//! 5. A process that ends between two samples takes its CPU time with it: the windows this
//!    measures are ones where the point's processes all live.
//!
//! A process that cannot be read (it just ended, or this is not Linux) counts as zero: missing
//! telemetry must not fail a measurement.

use std::collections::BTreeSet;
use std::fs;

/// Usage of a process tree at one instant (cumulative since each process started).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TreeSample {
    /// Processes found (roots and descendants).
    pub processes: u32,
    /// User CPU seconds.
    pub user_s: f64,
    /// System CPU seconds.
    pub sys_s: f64,
    /// Voluntary context switches.
    pub voluntary: u64,
    /// Involuntary context switches.
    pub involuntary: u64,
    /// Sum of the processes' peak resident set sizes, bytes.
    pub peak_rss_bytes: u64,
}

impl TreeSample {
    /// What happened between `earlier` and `self`; processes and peak RSS are `self`'s.
    pub fn since(&self, earlier: &TreeSample) -> TreeSample {
        TreeSample {
            processes: self.processes,
            user_s: (self.user_s - earlier.user_s).max(0.0),
            sys_s: (self.sys_s - earlier.sys_s).max(0.0),
            voluntary: self.voluntary.saturating_sub(earlier.voluntary),
            involuntary: self.involuntary.saturating_sub(earlier.involuntary),
            peak_rss_bytes: self.peak_rss_bytes,
        }
    }
}

/// The whole machine's CPU time so far, from the first line of `/proc/stat`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MachineSample {
    /// Busy time of every process, this one and strangers included: all time except idle and
    /// iowait. Against a point's own usage it tells "the strategy left cores idle" from
    /// "something else had them".
    pub busy_s: f64,
    /// Time the hypervisor gave this VM's cores to someone else (`steal`), part of `busy_s`.
    pub steal_s: f64,
}

/// Samples `/proc/stat` (zeros where it cannot be read).
pub fn machine_sample() -> MachineSample {
    let ticks = clock_ticks_per_s();
    read("/proc/stat")
        .and_then(|text| parse_cpu_ticks(&text))
        .map_or_else(MachineSample::default, |(busy, steal)| MachineSample {
            busy_s: busy as f64 / ticks,
            steal_s: steal as f64 / ticks,
        })
}

/// (busy, steal) ticks from `/proc/stat`'s `cpu` line: user nice system idle iowait irq
/// softirq steal.
fn parse_cpu_ticks(stat: &str) -> Option<(u64, u64)> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    let total: u64 = fields.iter().sum();
    Some((total - fields.get(3)? - fields.get(4)?, *fields.get(7)?))
}

/// Samples `roots` and all their descendants.
pub fn sample_tree(roots: &[u32]) -> TreeSample {
    let ticks = clock_ticks_per_s();
    let mut sample = TreeSample::default();
    for pid in tree(roots) {
        let Some(stat) = read(&format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some((utime, stime)) = parse_stat_times(&stat) else {
            continue;
        };
        sample.processes += 1;
        sample.user_s += utime as f64 / ticks;
        sample.sys_s += stime as f64 / ticks;
        if let Some(status) = read(&format!("/proc/{pid}/status")) {
            sample.peak_rss_bytes += status_kib(&status, "VmHWM:").unwrap_or(0) * 1024;
        }
        for tid in list_numeric(&format!("/proc/{pid}/task")) {
            if let Some(status) = read(&format!("/proc/{pid}/task/{tid}/status")) {
                sample.voluntary += status_kib(&status, "voluntary_ctxt_switches:").unwrap_or(0);
                sample.involuntary +=
                    status_kib(&status, "nonvoluntary_ctxt_switches:").unwrap_or(0);
            }
        }
    }
    sample
}

/// The roots and their live descendants, each once.
pub fn tree(roots: &[u32]) -> BTreeSet<u32> {
    let mut found: BTreeSet<u32> = BTreeSet::new();
    let mut todo: Vec<u32> = roots.to_vec();
    let mut by_scan: Option<Vec<(u32, u32)>> = None;
    while let Some(pid) = todo.pop() {
        if !found.insert(pid) {
            continue;
        }
        let tasks = list_numeric(&format!("/proc/{pid}/task"));
        let mut listed = false;
        for tid in &tasks {
            if let Some(text) = read(&format!("/proc/{pid}/task/{tid}/children")) {
                listed = true;
                todo.extend(
                    text.split_whitespace()
                        .filter_map(|c| c.parse::<u32>().ok()),
                );
            }
        }
        if !listed {
            // No `children` files (an older kernel): fall back to one scan of every parent.
            let pairs = by_scan.get_or_insert_with(parent_pairs);
            todo.extend(
                pairs
                    .iter()
                    .filter(|(_, ppid)| *ppid == pid)
                    .map(|(p, _)| *p),
            );
        }
    }
    found
}

/// (pid, parent pid) of every process.
fn parent_pairs() -> Vec<(u32, u32)> {
    list_numeric("/proc")
        .into_iter()
        .filter_map(|pid| {
            let stat = read(&format!("/proc/{pid}/stat"))?;
            Some((pid, parse_stat_field(&stat, 1)?))
        })
        .collect()
}

fn read(path: &str) -> Option<String> {
    fs::read_to_string(path).ok()
}

fn list_numeric(dir: &str) -> Vec<u32> {
    fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

fn clock_ticks_per_s() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

/// Field `index` after the command name (0 = state, 1 = ppid, 11 = utime, 12 = stime). The
/// command name may hold spaces and parentheses, so fields are counted from the last `)`.
fn parse_stat_field(stat: &str, index: usize) -> Option<u32> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(index)?.parse().ok()
}

/// (utime, stime) in clock ticks.
fn parse_stat_times(stat: &str) -> Option<(u64, u64)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    Some((fields.next()?.parse().ok()?, fields.next()?.parse().ok()?))
}

/// The number after `key` in a `/proc/.../status` text (`VmHWM:  1234 kB` gives 1234).
fn status_kib(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(key))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_from_the_last_parenthesis() {
        let stat = "4242 (lab (x) y) S 17 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 3 0";
        assert_eq!(parse_stat_field(stat, 0), None, "the state is not a number");
        assert_eq!(parse_stat_field(stat, 1), Some(17));
        assert_eq!(parse_stat_times(stat), Some((250, 75)));
        assert_eq!(parse_stat_times("garbage"), None);
    }

    #[test]
    fn busy_time_leaves_out_idle_and_iowait_and_steal_is_read_apart() {
        let stat = "cpu  100 5 50 1000 20 3 2 7 0 0\ncpu0 50 2 25 500 10 1 1 3 0 0\n";
        assert_eq!(parse_cpu_ticks(stat), Some((100 + 5 + 50 + 3 + 2 + 7, 7)));
        assert_eq!(parse_cpu_ticks("intr 1 2 3"), None);
        assert!(machine_sample().busy_s > 0.0);
    }

    #[test]
    fn status_values_are_read_by_key() {
        let status = "Name:\tlab\nVmHWM:\t   5120 kB\nvoluntary_ctxt_switches:\t12\nnonvoluntary_ctxt_switches:\t3\n";
        assert_eq!(status_kib(status, "VmHWM:"), Some(5120));
        assert_eq!(status_kib(status, "voluntary_ctxt_switches:"), Some(12));
        assert_eq!(status_kib(status, "nonvoluntary_ctxt_switches:"), Some(3));
        assert_eq!(status_kib(status, "VmRSS:"), None);
    }

    #[test]
    fn this_process_and_a_child_are_sampled() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .expect("spawn sleep");
        let me = std::process::id();
        let found = tree(&[me]);
        assert!(found.contains(&me));
        assert!(found.contains(&child.id()), "the child is a descendant");
        // Burn a little CPU so the sample has something to show.
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while start.elapsed() < std::time::Duration::from_millis(50) {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        std::hint::black_box(x);
        let sample = sample_tree(&[me]);
        let _ = child.kill();
        let _ = child.wait();
        assert!(sample.processes >= 2);
        assert!(sample.user_s + sample.sys_s > 0.0);
        assert!(sample.peak_rss_bytes > 0);
        assert!(sample.voluntary + sample.involuntary > 0);
        let later = sample_tree(&[me]);
        let delta = later.since(&sample);
        assert!(delta.user_s >= 0.0 && delta.sys_s >= 0.0);
    }
}
