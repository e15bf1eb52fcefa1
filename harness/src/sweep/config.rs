//! Stage 1: what the user wrote ([`SweepConfig`]) becomes a validated [`SweepSpec`].
//!
//! The rule of this stage:
//! 1. Start from a built-in sweep (`default.toml`, or `quick.toml` with `--quick`).
//! 2. Overlay the `--config` file: every key it sets replaces the built-in one; mixes merge by
//!    name. Unknown keys are refused with `file:line:column` and the key's name.
//! 3. Overlay the flags (`--pool-sizes 1,2,4`, ...) the same way: a flag beats the file.
//! 4. Validate everything at once, before anything runs: every axis non-empty and free of
//!    duplicates, every number in range, every name known. The first mistake found is reported
//!    as one line naming the key, the value, what is allowed and how to fix it.
//!
//! Numbers are read as `i64` so that `0` or `-1` reach step 4 and get a message naming the key
//! and the range, instead of a serde type error. The checks themselves live in `checks.rs`.

use std::collections::BTreeMap;

use looplab_runtime::cluster::SchedulingPolicy;
use serde::{Deserialize, Serialize};

use super::checks::{
    axis, check, duration, file_bytes_in_flight, names, number, required, unknown, CONNECTIONS,
    FILE_BYTES, ITERATIONS, JOBS, MIX_WEIGHT, POOL, PROCESSES, RATES, REPETITIONS, SEED, WORKERS,
};
use super::error::{syntax, ConfigError};
use super::spec::{
    App, CostChoice, CostTable, FileMode, Kind, Mode, Runtime, Strategy, SweepSpec, Timing,
    WorkParams, Workload, BUILTIN_WORKLOADS, MIX_KINDS,
};
use looplab_reports::store::costs::CostProfile;

/// The built-in default sweep, printed by `lab sweep --print-config`.
pub const DEFAULT_TOML: &str = include_str!("default.toml");
/// The built-in quick sweep, printed by `lab sweep --quick --print-config`.
pub const QUICK_TOML: &str = include_str!("quick.toml");

/// A sweep as written in TOML (or by flags): every key optional, nothing checked yet.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SweepConfig {
    pub mode: Option<String>,
    pub duration: Option<String>,
    pub warmup: Option<String>,
    /// The Node twins' warm-up, when it differs from `warmup` (V8 is still compiling the
    /// handlers and Node's loop costs more per request over its first seconds of load).
    /// Left out of the serialized config when unset, so sweeps written before it keep their id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_warmup: Option<String>,
    pub repetitions: Option<i64>,
    /// Left out of the serialized config when unset, so sweeps written before it keep their id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aa: Option<bool>,
    pub seed: Option<i64>,
    /// Left out of the serialized config when unset, so sweeps written before it keep their id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtimes: Option<Vec<String>>,
    /// Cost profiles looplab's points charge: `native` (none), `node` (the repository's
    /// costs/node.toml) or a profile file's path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub costs: Option<Vec<String>>,
    /// The user's app (`runtimes` with `command`): its command line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// The user's app: workload name → request path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paths: Option<BTreeMap<String, String>>,
    pub strategies: Option<Vec<String>>,
    pub workloads: Option<Vec<String>>,
    pub pool_sizes: Option<Vec<i64>>,
    pub cluster_counts: Option<Vec<i64>>,
    pub worker_counts: Option<Vec<i64>>,
    pub connections: Option<Vec<i64>>,
    pub rates: Option<Vec<i64>>,
    /// Open loop: the latency objective the answer ranks by (p99 at most this), like "50ms".
    /// Left out of the serialized config when unset, so sweeps written before it keep their id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo_p99: Option<String>,
    pub hash_iterations: Option<i64>,
    pub file_bytes: Option<i64>,
    pub jobs: Option<i64>,
    pub cluster_policy: Option<String>,
    pub file_mode: Option<String>,
    #[serde(default)]
    pub mixes: BTreeMap<String, BTreeMap<String, i64>>,
}

impl SweepConfig {
    /// Parses TOML text; `file` names the source in errors.
    pub fn parse(file: &str, text: &str) -> Result<SweepConfig, ConfigError> {
        toml::from_str(text).map_err(|e| syntax(file, text, &e))
    }

    /// The built-in sweep (`quick` selects the smaller one).
    pub fn builtin(quick: bool) -> SweepConfig {
        let (name, text) = if quick {
            ("quick.toml", QUICK_TOML)
        } else {
            ("default.toml", DEFAULT_TOML)
        };
        // Both texts are fixed at build time and tests parse them, so this cannot fail for a user.
        SweepConfig::parse(name, text).unwrap_or_else(|e| panic!("built-in {name}: {e}"))
    }

    /// `self` with every key `top` sets replaced by `top`'s value; mixes merge by name.
    pub fn overlay(self, top: SweepConfig) -> SweepConfig {
        let mut mixes = self.mixes;
        mixes.extend(top.mixes);
        SweepConfig {
            mode: top.mode.or(self.mode),
            duration: top.duration.or(self.duration),
            warmup: top.warmup.or(self.warmup),
            node_warmup: top.node_warmup.or(self.node_warmup),
            repetitions: top.repetitions.or(self.repetitions),
            aa: top.aa.or(self.aa),
            seed: top.seed.or(self.seed),
            runtimes: top.runtimes.or(self.runtimes),
            command: top.command.or(self.command),
            costs: top.costs.or(self.costs),
            paths: top.paths.or(self.paths),
            strategies: top.strategies.or(self.strategies),
            workloads: top.workloads.or(self.workloads),
            pool_sizes: top.pool_sizes.or(self.pool_sizes),
            cluster_counts: top.cluster_counts.or(self.cluster_counts),
            worker_counts: top.worker_counts.or(self.worker_counts),
            connections: top.connections.or(self.connections),
            rates: top.rates.or(self.rates),
            slo_p99: top.slo_p99.or(self.slo_p99),
            hash_iterations: top.hash_iterations.or(self.hash_iterations),
            file_bytes: top.file_bytes.or(self.file_bytes),
            jobs: top.jobs.or(self.jobs),
            cluster_policy: top.cluster_policy.or(self.cluster_policy),
            file_mode: top.file_mode.or(self.file_mode),
            mixes,
        }
    }

    /// Validates every key (step 4 of the rule) and returns the typed sweep. The first mistake
    /// is the one reported, so the order of the checks (mode, mixes, file mode, timing, axes,
    /// then the work each job does) is part of the behaviour.
    pub fn resolve(&self) -> Result<SweepSpec, ConfigError> {
        let mode = self.mode()?;
        self.check_mix_names()?;
        let file_mode = self.file_mode(mode)?;
        let (timing, node_warmup_ms) = self.timing()?;
        let strategies = names(
            &self.strategies,
            "strategies",
            "[\"loop\", \"cluster\"]",
            |n| {
                Strategy::parse(n)
                    .ok_or_else(|| unknown("strategies", n, &Strategy::ALL.map(Strategy::name)))
            },
        )?;
        let runtimes = match &self.runtimes {
            None => vec![Runtime::Looplab],
            Some(_) => names(&self.runtimes, "runtimes", "[\"looplab\", \"node\"]", |n| {
                Runtime::parse(n)
                    .ok_or_else(|| unknown("runtimes", n, &Runtime::ALL.map(Runtime::name)))
            })?,
        };
        let workloads = names(&self.workloads, "workloads", "[\"hash\", \"net\"]", |n| {
            self.workload(n)
        })?;
        let policy = required(&self.cluster_policy, "cluster_policy")?;
        let spec = SweepSpec {
            mode,
            timing,
            node_warmup_ms,
            repetitions: number(&self.repetitions, "repetitions", &REPETITIONS)? as u32,
            aa: self.aa.unwrap_or(false),
            seed: match self.seed {
                Some(seed) => Some(check("seed", seed, &SEED)? as u64),
                None => None,
            },
            app: self.app(&runtimes, &workloads, mode)?,
            costs: costs_axis(&self.costs)?,
            runtimes,
            strategies,
            workloads,
            pool_sizes: axis(&self.pool_sizes, "pool_sizes", &POOL)?,
            cluster_counts: axis(&self.cluster_counts, "cluster_counts", &PROCESSES)?,
            worker_counts: axis(&self.worker_counts, "worker_counts", &WORKERS)?,
            connections: axis(&self.connections, "connections", &CONNECTIONS)?,
            rates: match &self.rates {
                Some(_) => Some(axis(&self.rates, "rates", &RATES)?),
                None => None,
            },
            params: self.params(policy, file_mode)?,
        };
        check_file_bytes_in_flight(&spec)?;
        self.slo_p99_ms()?;
        Ok(spec)
    }

    /// The warm-up and window, and the Node twins' warm-up (`warmup` when unset).
    fn timing(&self) -> Result<(Timing, u64), ConfigError> {
        let timing = Timing {
            warmup_ms: duration(&self.warmup, "warmup", 0)?,
            duration_ms: duration(&self.duration, "duration", 1)?,
        };
        let node_warmup_ms = match self.node_warmup {
            Some(_) => duration(&self.node_warmup, "node_warmup", 0)?,
            None => timing.warmup_ms,
        };
        Ok((timing, node_warmup_ms))
    }

    /// `slo_p99`, checked: open loop only (it needs `rates`), a duration above 0 up to 1h.
    pub fn slo_p99_ms(&self) -> Result<Option<u64>, ConfigError> {
        if self.slo_p99.is_none() {
            return Ok(None);
        }
        if self.rates.is_none() {
            return Err(ConfigError::Unused {
                key: "slo_p99",
                needs: "rates (an open-loop sweep)",
            });
        }
        duration(&self.slo_p99, "slo_p99", 1).map(Some)
    }

    /// `command` and `paths`: required and checked when `runtimes` has `command`, refused
    /// otherwise (a key that would be silently ignored is a mistake).
    fn app(
        &self,
        runtimes: &[Runtime],
        workloads: &[Workload],
        mode: Mode,
    ) -> Result<Option<App>, ConfigError> {
        let wanted = runtimes.contains(&Runtime::Command);
        let problem = |text: String| ConfigError::App { problem: text };
        if !wanted {
            if self.command.is_some() || self.paths.is_some() {
                return Err(problem("command and paths are for runtimes = [\"command\"]; add \"command\" to runtimes or remove them".into()));
            }
            return Ok(None);
        }
        if mode != Mode::Service {
            return Err(problem(
                "runtimes: `command` runs your HTTP server, so it needs mode = \"service\"".into(),
            ));
        }
        let command = self.command.as_deref().map(str::trim).unwrap_or_default();
        if command.is_empty() {
            return Err(problem("runtimes has \"command\" but no command is set; add command = \"node server.js\" (or --command)".into()));
        }
        let paths = self.paths.clone().unwrap_or_default();
        for (workload, path) in &paths {
            if !workloads.iter().any(|w| w.name == *workload) {
                return Err(problem(format!(
                    "paths.{workload}: not a workload of this sweep; use one of {}",
                    workloads
                        .iter()
                        .map(|w| w.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            if !path.starts_with('/') || path.chars().any(char::is_whitespace) {
                return Err(problem(format!(
                    "paths.{workload}: `{path}` is not a request path; write it like \"/api/hash\""
                )));
            }
        }
        Ok(Some(App {
            command: command.to_string(),
            paths,
        }))
    }

    /// `mode`: required, `service` or `batch`.
    fn mode(&self) -> Result<Mode, ConfigError> {
        let mode = required(&self.mode, "mode")?;
        Mode::parse(mode)
            .ok_or_else(|| unknown("mode", mode, &[Mode::Service, Mode::Batch].map(Mode::name)))
    }

    /// Mix names are plain (letters, digits, `-`, `_`) and do not shadow a built-in workload.
    fn check_mix_names(&self) -> Result<(), ConfigError> {
        for name in self.mixes.keys() {
            let plain = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !plain || BUILTIN_WORKLOADS.contains(&name.as_str()) {
                return Err(ConfigError::BadMixName { name: name.clone() });
            }
        }
        Ok(())
    }

    /// `file_mode`: `read` when left out; `write-then-read` only in batch mode.
    fn file_mode(&self, mode: Mode) -> Result<FileMode, ConfigError> {
        let file_mode = match self.file_mode.as_deref() {
            None => FileMode::Read,
            Some(name) => FileMode::parse(name).ok_or_else(|| {
                let all = [FileMode::Read, FileMode::WriteThenRead];
                unknown("file_mode", name, &all.map(FileMode::name))
            })?,
        };
        if file_mode == FileMode::WriteThenRead && mode != Mode::Batch {
            return Err(ConfigError::BatchOnly {
                key: "file_mode",
                value: FileMode::WriteThenRead.name(),
            });
        }
        Ok(file_mode)
    }

    /// The work each job does; checked last, after every axis.
    fn params(&self, policy: &str, file_mode: FileMode) -> Result<WorkParams, ConfigError> {
        Ok(WorkParams {
            hash_iterations: number(&self.hash_iterations, "hash_iterations", &ITERATIONS)? as u64,
            file_bytes: number(&self.file_bytes, "file_bytes", &FILE_BYTES)? as u64,
            jobs: number(&self.jobs, "jobs", &JOBS)? as u32,
            cluster_policy: SchedulingPolicy::parse(policy)
                .ok_or_else(|| unknown("cluster_policy", policy, &["rr", "none", "reuseport"]))?,
            file_mode,
        })
    }

    /// A workload name: built-in, or a mix defined under `[mixes]`.
    fn workload(&self, name: &str) -> Result<Workload, ConfigError> {
        if let Some(w) = Workload::builtin(name) {
            return Ok(w);
        }
        let Some(weights) = self.mixes.get(name) else {
            let mut allowed: Vec<&str> = BUILTIN_WORKLOADS.to_vec();
            allowed.extend(self.mixes.keys().map(String::as_str));
            return Err(unknown("workloads", name, &allowed));
        };
        let key = format!("mixes.{name}");
        let mut mix = Vec::new();
        for (kind, weight) in weights {
            let Some(parsed) = Kind::parse(kind).filter(|k| MIX_KINDS.contains(k)) else {
                return Err(unknown(&key, kind, &MIX_KINDS.map(Kind::name)));
            };
            let weight = check(&format!("{key}.{kind}"), *weight, &MIX_WEIGHT)?;
            if weight > 0 {
                mix.push((parsed, weight as u32));
            }
        }
        if mix.is_empty() {
            return Err(ConfigError::Empty {
                key,
                example: MIX_WEIGHT.example,
            });
        }
        Ok(Workload {
            name: name.to_string(),
            mix,
        })
    }
}

/// Parses a flag's comma-separated number list, like `--pool-sizes 1,2,4`.
pub fn parse_number_list(flag: &'static str, text: &str) -> Result<Vec<i64>, ConfigError> {
    text.split(',')
        .filter(|part| !part.trim().is_empty())
        .map(|part| {
            part.trim()
                .parse::<i64>()
                .map_err(|_| ConfigError::BadFlag {
                    flag,
                    value: text.to_string(),
                    expected: "comma-separated whole numbers, like 1,2,4",
                })
        })
        .collect()
}

/// Parses a flag's comma-separated name list, like `--strategies loop,cluster`.
pub fn parse_name_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(|part| part.trim().to_string())
        .filter(|part| !part.is_empty())
        .collect()
}

/// The file bytes one point can hold at once (one read per connection, or per job in batch
/// mode, all submitted together), against the bound; only when some workload reads files.
/// Where `costs = ["node"]` finds its profile: the source tree's `costs/node.toml`.
pub fn node_profile_path() -> std::path::PathBuf {
    std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../costs/node.toml"))
}

/// `costs`: `native` unless set; each value `native`, `node` or a profile file, read now (a
/// missing or corrupt profile is refused with its path and the fix; one measured on another
/// machine prints a warning, once per command).
fn costs_axis(values: &Option<Vec<String>>) -> Result<Vec<CostChoice>, ConfigError> {
    if values.is_none() {
        return Ok(vec![CostChoice {
            label: None,
            table: CostTable::default(),
        }]);
    }
    let choices = names(values, "costs", "[\"native\", \"node\"]", |name| {
        if name == "native" {
            return Ok(CostChoice {
                label: None,
                table: CostTable::default(),
            });
        }
        let (label, path) = match name {
            "node" => ("node".to_string(), node_profile_path()),
            path => {
                let path = std::path::PathBuf::from(path);
                let stem = path.file_stem().map_or(path.display().to_string(), |s| {
                    s.to_string_lossy().into_owned()
                });
                (stem, path)
            }
        };
        let profile = CostProfile::read(&path).map_err(|e| ConfigError::App {
            problem: format!("costs: {e}"),
        })?;
        crate::costs_flag::warn_other_machine(&profile);
        Ok(CostChoice {
            label: Some(label),
            table: profile.table(),
        })
    })?;
    Ok(choices)
}

fn check_file_bytes_in_flight(spec: &SweepSpec) -> Result<(), ConfigError> {
    if !spec.workloads.iter().any(Workload::has_file) {
        return Ok(());
    }
    let (holders, what) = match spec.mode {
        Mode::Service => (
            spec.connections.iter().copied().max().unwrap_or(0),
            "connections",
        ),
        Mode::Batch => (spec.params.jobs, "jobs"),
    };
    file_bytes_in_flight(spec.params.file_bytes, holders.into(), what)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The default sweep with `toml` laid over it, resolved.
    fn resolve(toml: &str) -> Result<SweepSpec, ConfigError> {
        let file = SweepConfig::parse("sweep.toml", toml)?;
        SweepConfig::builtin(false).overlay(file).resolve()
    }

    fn error(toml: &str) -> String {
        resolve(toml).expect_err("should be refused").to_string()
    }

    #[test]
    fn builtin_sweeps_resolve() {
        let default = SweepConfig::builtin(false).resolve().unwrap();
        assert_eq!(default.pool_sizes, vec![1, 4]);
        assert_eq!(default.runtimes, vec![Runtime::Looplab, Runtime::Node]);
        assert_eq!(
            default.timing,
            Timing {
                warmup_ms: 500,
                duration_ms: 1_000
            }
        );
        assert_eq!(
            default.repetitions, 3,
            "the fewest the one rule judges from"
        );
        assert_eq!(default.workloads.len(), 4);
        assert_eq!(default.rates, None);
        // The Node twins warm up longer (V8 compiling the handlers); without the key, `warmup`.
        assert_eq!(default.timing_of(Runtime::Node).warmup_ms, 2_000);
        assert_eq!(default.timing_of(Runtime::Looplab), default.timing);
        let quick = SweepConfig::builtin(true).resolve().unwrap();
        assert_eq!(quick.repetitions, 1);
        assert_eq!(quick.timing_of(Runtime::Node), quick.timing);
    }

    #[test]
    fn file_and_flags_overlay_in_order() {
        let file = SweepConfig::parse("f", "pool_sizes = [8]\nrepetitions = 5").unwrap();
        let flags = SweepConfig {
            pool_sizes: Some(vec![2, 3]),
            ..SweepConfig::default()
        };
        let spec = SweepConfig::builtin(false)
            .overlay(file)
            .overlay(flags)
            .resolve()
            .unwrap();
        assert_eq!(spec.pool_sizes, vec![2, 3]);
        assert_eq!(spec.repetitions, 5);
        assert_eq!(
            spec.worker_counts,
            vec![1, 2],
            "untouched keys keep the default"
        );
    }

    #[test]
    fn mixes_merge_by_name_and_resolve() {
        let spec =
            resolve("workloads = [\"web\", \"heavy\"]\n[mixes]\nheavy = { hash = 3, hello = 1 }")
                .unwrap();
        assert_eq!(
            spec.workloads[1].mix,
            vec![(Kind::Hash, 3), (Kind::Hello, 1)]
        );
        assert!(
            spec.workloads[0].has_file(),
            "web still comes from the default"
        );
    }

    #[test]
    fn unknown_key_names_key_file_line_and_column() {
        assert_eq!(
            error("repetitions = 2\npoolsizes = [1]\n"),
            "sweep.toml:2:1: unknown field `poolsizes`, expected one of `mode`, `duration`, \
             `warmup`, `node_warmup`, `repetitions`, `aa`, `seed`, `runtimes`, `costs`, `command`, `paths`, `strategies`, `workloads`, `pool_sizes`, \
             `cluster_counts`, `worker_counts`, `connections`, `rates`, `slo_p99`, `hash_iterations`, \
             `file_bytes`, `jobs`, `cluster_policy`, `file_mode`, `mixes`"
        );
        let wrong_type = error("pool_sizes = \"4\"");
        assert!(
            wrong_type.starts_with("sweep.toml:1:14: invalid type"),
            "{wrong_type}"
        );
        assert!(!wrong_type.contains('\n'));
    }

    #[test]
    fn each_validation_error_says_key_value_range_and_fix() {
        let cases = [
            ("pool_sizes = [0]", "pool_sizes: 0 is out of range 1..=1024; use values like [1, 2, 4]"),
            ("pool_sizes = [1, 2000]", "pool_sizes: 2000 is out of range 1..=1024; use values like [1, 2, 4]"),
            ("pool_sizes = []", "pool_sizes: the list is empty; give at least one value, like [1, 2, 4]"),
            ("pool_sizes = [2, 2]", "pool_sizes: 2 is listed twice; list each value once"),
            ("cluster_counts = [0]", "cluster_counts: 0 is out of range 1..=1024; use values like [1, 2]"),
            ("worker_counts = [-1]", "worker_counts: -1 is out of range 1..=256; use values like [1, 2]"),
            ("connections = [0]", "connections: 0 is out of range 1..=10000; use values like [16, 64]"),
            ("rates = []", "rates: the list is empty; give at least one value, like [500, 1000]"),
            ("slo_p99 = \"50ms\"", "slo_p99 is only used with rates (an open-loop sweep); add it, or remove slo_p99"),
            ("rates = [100]\nslo_p99 = \"50\"", "slo_p99: `50` is not a duration; write a number and a unit, like \"500ms\", \"5s\" or \"1m\""),
            ("repetitions = 0", "repetitions: 0 is out of range 1..=1000; use values like 3"),
            ("seed = -5", "seed: -5 is out of range 0..=9223372036854775807; use values like 42"),
            ("hash_iterations = 0", "hash_iterations: 0 is out of range 1..=10000000; use values like 10000"),
            ("hash_iterations = 100000000", "hash_iterations: 100000000 is out of range 1..=10000000; use values like 10000"),
            ("file_bytes = 0", "file_bytes: 0 is out of range 1..=67108864; use values like 65536"),
            ("file_bytes = 1073741824", "file_bytes: 1073741824 is out of range 1..=67108864; use values like 65536"),
            ("file_bytes = 67108864\nconnections = [16, 64]", "file_bytes: 67108864 x 64 connections = 4294967296 bytes in flight is out of range up to 1073741824 (1 GiB) in flight; use values like 65536, or fewer connections or jobs"),
            ("mode = \"batch\"\nfile_bytes = 67108864\njobs = 64", "file_bytes: 67108864 x 64 jobs = 4294967296 bytes in flight is out of range up to 1073741824 (1 GiB) in flight; use values like 65536, or fewer connections or jobs"),
            ("jobs = 0", "jobs: 0 is out of range 1..=1000000; use values like 64"),
            ("duration = \"0s\"", "duration: \"0s\" is out of range above 0s, up to 1h; use values like \"500ms\", \"5s\""),
            ("warmup = \"1x\"", "warmup: `1x` is not a duration; write a number and a unit, like \"500ms\", \"5s\" or \"1m\""),
            ("warmup = \"61m\"", "warmup: \"61m\" is out of range 0s..=1h; use values like \"500ms\", \"5s\""),
            ("duration = \"5\"", "duration: `5` is not a duration; write a number and a unit, like \"500ms\", \"5s\" or \"1m\""),
            ("mode = \"stream\"", "mode: `stream` is not allowed; choose from service, batch"),
            ("strategies = []", "strategies: the list is empty; give at least one value, like [\"loop\", \"cluster\"]"),
            ("strategies = [\"threads\"]", "strategies: `threads` is not allowed; choose from loop, loop-blocking, workers, cluster, tokio, rayon"),
            ("strategies = [\"loop\", \"loop\"]", "strategies: `loop` is listed twice; list each value once"),
            ("workloads = [\"dns\"]", "workloads: `dns` is not allowed; choose from hash, file, net, web"),
            ("workloads = []", "workloads: the list is empty; give at least one value, like [\"hash\", \"net\"]"),
            ("cluster_policy = \"random\"", "cluster_policy: `random` is not allowed; choose from rr, none, reuseport"),
            ("workloads = [\"m\"]\n[mixes]\nm = { hello = 1, dns = 1 }", "mixes.m: `dns` is not allowed; choose from hello, hash, file"),
            ("workloads = [\"m\"]\n[mixes]\nm = { hello = -1 }", "mixes.m.hello: -1 is out of range 0..=1000; use values like { hello = 8, hash = 1 }"),
            ("workloads = [\"m\"]\n[mixes]\nm = { hello = 0 }", "mixes.m: the list is empty; give at least one value, like { hello = 8, hash = 1 }"),
            ("[mixes]\n\"a/b\" = { hello = 1 }", "mixes.a/b: a mix name may hold only letters, digits, '-' and '_', and may not be hash, file or net; rename it, like web"),
            ("[mixes]\nhash = { hello = 1 }", "mixes.hash: a mix name may hold only letters, digits, '-' and '_', and may not be hash, file or net; rename it, like web"),
            ("file_mode = \"append\"", "file_mode: `append` is not allowed; choose from read, write-read"),
            ("file_mode = \"write-read\"", "file_mode: `write-read` applies to batch mode only (service mode serves reads); set mode = \"batch\" or file_mode = \"read\""),
        ];
        for (toml, message) in cases {
            assert_eq!(error(toml), message, "for {toml}");
        }
    }

    #[test]
    fn flag_lists_parse_or_name_the_flag() {
        assert_eq!(
            parse_number_list("--pool-sizes", "1, 2,4").unwrap(),
            vec![1, 2, 4]
        );
        assert_eq!(
            parse_number_list("--pool-sizes", "1,x")
                .unwrap_err()
                .to_string(),
            "--pool-sizes: `1,x` is not valid; expected comma-separated whole numbers, like 1,2,4"
        );
        assert_eq!(parse_name_list("loop, cluster,"), vec!["loop", "cluster"]);
    }
}
