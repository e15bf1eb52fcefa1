//! Who measured and when: `Machine::detect()` and an RFC 3339 formatter, both without
//! dependencies.
//!
//! Detection never fails: a value that cannot be read (another OS, a locked-down container)
//! becomes `"unknown"` or 0, because missing metadata must not stop a sweep. The parsers are
//! pure functions over file text so they are tested without touching `/proc`.

use std::fs;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

const UNKNOWN: &str = "unknown";

/// Identity and size of the machine that measured a sweep.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Machine {
    /// From `/proc/sys/kernel/hostname`.
    pub hostname: String,
    /// The first `model name` (or equivalent) in `/proc/cpuinfo`.
    pub cpu_model: String,
    /// `std::thread::available_parallelism`: the CPUs this process may use (affinity and cgroup
    /// quota included), which is what a sweep can actually exploit, not the installed count.
    pub cores: u32,
    /// `MemTotal` from `/proc/meminfo`.
    pub memory_bytes: u64,
    /// `PRETTY_NAME` from `/etc/os-release`, else the target OS (`linux`, ...).
    pub os: String,
    /// From `/proc/sys/kernel/osrelease`.
    pub kernel: String,
}

impl Machine {
    /// Reads this machine's identity; unreadable values become `"unknown"` or 0.
    pub fn detect() -> Self {
        let cores = std::thread::available_parallelism()
            .map(|n| u32::try_from(n.get()).unwrap_or(u32::MAX))
            .unwrap_or(1);
        Self {
            hostname: read_trimmed("/proc/sys/kernel/hostname"),
            cpu_model: read("/proc/cpuinfo")
                .and_then(|t| parse_cpu_model(&t))
                .unwrap_or_else(|| UNKNOWN.to_string()),
            cores,
            memory_bytes: read("/proc/meminfo")
                .and_then(|t| parse_mem_total_bytes(&t))
                .unwrap_or(0),
            os: read("/etc/os-release")
                .and_then(|t| parse_os_pretty_name(&t))
                .unwrap_or_else(|| std::env::consts::OS.to_string()),
            kernel: read_trimmed("/proc/sys/kernel/osrelease"),
        }
    }
}

fn read(path: &str) -> Option<String> {
    fs::read_to_string(path).ok()
}

fn read_trimmed(path: &str) -> String {
    read(path)
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| UNKNOWN.to_string())
}

/// The value of the first `key : value` line whose key is one of `keys`, in file order.
fn first_field<'a>(text: &'a str, keys: &[&str]) -> Option<&'a str> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        let value = value.trim();
        (keys.contains(&key.trim()) && !value.is_empty()).then_some(value)
    })
}

/// `model name` on x86; `cpu model`, `Hardware` or `Processor` on other architectures.
fn parse_cpu_model(cpuinfo: &str) -> Option<String> {
    first_field(
        cpuinfo,
        &["model name", "cpu model", "Hardware", "Processor"],
    )
    .map(str::to_string)
}

fn parse_mem_total_bytes(meminfo: &str) -> Option<u64> {
    let value = first_field(meminfo, &["MemTotal"])?;
    let kib: u64 = value.strip_suffix("kB")?.trim().parse().ok()?;
    kib.checked_mul(1024)
}

fn parse_os_pretty_name(os_release: &str) -> Option<String> {
    os_release.lines().find_map(|line| {
        let value = line.strip_prefix("PRETTY_NAME=")?.trim().trim_matches('"');
        (!value.is_empty()).then(|| value.to_string())
    })
}

/// Formats `time` as RFC 3339 in UTC with whole seconds, e.g. `2023-11-14T22:13:20Z`.
/// Times before 1970 are clamped to the epoch (a wrong clock should not stop a sweep).
pub fn rfc3339_utc(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time.max(UNIX_EPOCH)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64) -> String {
        rfc3339_utc(UNIX_EPOCH + Duration::from_secs(secs))
    }

    #[test]
    fn rfc3339_matches_known_instants() {
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(at(4_107_542_399), "2100-02-28T23:59:59Z");
        assert_eq!(
            rfc3339_utc(UNIX_EPOCH - Duration::from_secs(5)),
            "1970-01-01T00:00:00Z"
        );
    }

    #[test]
    fn cpuinfo_meminfo_and_os_release_are_parsed() {
        let cpuinfo = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\n";
        assert_eq!(
            parse_cpu_model(cpuinfo).as_deref(),
            Some("Intel(R) Xeon(R) CPU @ 2.20GHz")
        );
        assert_eq!(parse_cpu_model("processor : 0\n"), None);
        let meminfo = "MemTotal:        8036512 kB\nMemFree:  1 kB\n";
        assert_eq!(parse_mem_total_bytes(meminfo), Some(8_036_512 * 1024));
        assert_eq!(parse_mem_total_bytes("MemFree: 1 kB\n"), None);
        let os_release =
            "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n";
        assert_eq!(
            parse_os_pretty_name(os_release).as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
    }
}
