//! Who measured and when: `Machine::detect()` (through `sysinfo`) and an RFC 3339 formatter.
//!
//! Detection never fails: a value that cannot be read (another OS, a locked-down container)
//! becomes `"unknown"` or 0, because missing metadata must not stop a sweep. How the raw
//! readings become fields (trimming, fallbacks, the OS line) is in pure functions, tested
//! without a machine.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sysinfo::{CpuRefreshKind, MemoryRefreshKind, RefreshKind, System};

const UNKNOWN: &str = "unknown";

/// Identity and size of the machine that measured a sweep.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Machine {
    /// The host name (`gethostname`).
    pub hostname: String,
    /// The first CPU's brand string, e.g. `Intel(R) Xeon(R) CPU @ 2.20GHz`.
    pub cpu_model: String,
    /// `std::thread::available_parallelism`: the CPUs this process may use (affinity and cgroup
    /// quota included), which is what a sweep can actually exploit, not the installed count.
    pub cores: u32,
    /// Logical CPUs installed (hardware threads), whatever this process may use; 0 when
    /// unknown or read from a file written before this field existed.
    #[serde(default)]
    pub logical_cpus: u32,
    /// Physical cores installed; 0 when unknown or read from an older file.
    #[serde(default)]
    pub physical_cores: u32,
    /// Total installed memory in bytes.
    pub memory_bytes: u64,
    /// OS name and version, e.g. `Debian GNU/Linux 12`, else the target OS (`linux`, ...).
    pub os: String,
    /// Kernel release, e.g. `6.1.0-18-amd64`.
    pub kernel: String,
}

impl Machine {
    /// Reads this machine's identity; unreadable values become `"unknown"` or 0.
    pub fn detect() -> Self {
        let cores = std::thread::available_parallelism()
            .map(|n| count_u32(n.get()))
            .unwrap_or(1);
        // Only the CPU list (names, brands) and total RAM: no usage sampling, so this is quick.
        let system = System::new_with_specifics(
            RefreshKind::nothing()
                .with_cpu(CpuRefreshKind::nothing())
                .with_memory(MemoryRefreshKind::nothing().with_ram()),
        )
        .ok();
        let cpus = system.as_ref().map(System::cpus).unwrap_or_default();
        Self {
            hostname: known(System::host_name().ok()),
            cpu_model: known(cpus.first().map(|c| c.brand().to_string())),
            cores,
            logical_cpus: count_u32(cpus.len()),
            physical_cores: System::physical_core_count().map_or(0, count_u32),
            memory_bytes: system.as_ref().map_or(0, System::total_memory),
            os: os_line(System::name().ok(), System::os_version().ok()),
            kernel: known(System::kernel_version().ok()),
        }
    }
}

fn count_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The trimmed value, or `"unknown"` when it is missing or blank.
fn known(value: Option<String>) -> String {
    value
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| UNKNOWN.to_string())
}

/// `name version` (`Debian GNU/Linux 12`); the name alone when the version is unknown or
/// already part of it; the target OS when the name is unknown.
fn os_line(name: Option<String>, version: Option<String>) -> String {
    let name = known(name);
    if name == UNKNOWN {
        return std::env::consts::OS.to_string();
    }
    match known(version) {
        v if v == UNKNOWN || name.contains(&v) => name,
        v => format!("{name} {v}"),
    }
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
    fn blank_or_missing_values_become_unknown() {
        assert_eq!(known(Some("  host-1\n".into())), "host-1");
        assert_eq!(known(Some(" \n".into())), UNKNOWN);
        assert_eq!(known(None), UNKNOWN);
    }

    #[test]
    fn os_line_joins_name_and_version_with_fallbacks() {
        let s = |v: &str| Some(v.to_string());
        assert_eq!(
            os_line(s("Debian GNU/Linux"), s("12")),
            "Debian GNU/Linux 12"
        );
        assert_eq!(os_line(s("Arch Linux"), None), "Arch Linux");
        assert_eq!(os_line(s("Arch Linux"), s(" ")), "Arch Linux");
        assert_eq!(os_line(s("Darwin 24"), s("24")), "Darwin 24");
        assert_eq!(os_line(None, s("12")), std::env::consts::OS);
        assert_eq!(os_line(s(""), None), std::env::consts::OS);
    }

    #[test]
    fn a_machine_written_before_cpu_counts_existed_still_reads() {
        let old = r#"{"hostname":"h","cpu_model":"c","cores":2,"memory_bytes":1024,
                      "os":"Debian GNU/Linux 12","kernel":"6.1.0"}"#;
        let machine: Machine = serde_json::from_str(old).unwrap();
        assert_eq!((machine.cores, machine.logical_cpus), (2, 0));
        assert_eq!(machine.physical_cores, 0);
    }
}
