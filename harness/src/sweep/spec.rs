//! The resolved, validated sweep ([`SweepSpec`]), its vocabulary (strategies, workloads, modes,
//! durations) and the resolved points the planner makes of it ([`PointSpec`]). Everything here is typed and in range: [`crate::sweep::config`] is the only
//! way to build a `SweepSpec`, and the planner trusts it without checking again.

use std::collections::BTreeMap;

pub use looplab_reports::store::Coords;
use looplab_runtime::cluster::SchedulingPolicy;
pub use looplab_workloads::deploy::{
    CostTable, Deployment, FileMode, Kind, Mode, Runtime, Strategy,
};

/// Workload names that are not mixes.
pub const BUILTIN_WORKLOADS: [&str; 3] = ["hash", "file", "net"];
/// Kinds a mix may weigh (the others need parameters a sweep does not set, or are a
/// strategy's business: `hash-sync` is `hash` under `loop-blocking`).
pub const MIX_KINDS: [Kind; 3] = [Kind::Hello, Kind::Hash, Kind::File];

/// One workload: a name and the kinds of work it is made of, by weight.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workload {
    /// `hash`, `file`, `net`, or the name of a mix.
    pub name: String,
    /// Kinds of request or job, by weight (one kind of weight 1 for the built-in workloads).
    pub mix: Vec<(Kind, u32)>,
}

impl Workload {
    /// A built-in workload by name.
    pub fn builtin(name: &str) -> Option<Workload> {
        let kind = match name {
            "hash" => Kind::Hash,
            "file" => Kind::File,
            "net" => Kind::Hello,
            _ => return None,
        };
        Some(Workload {
            name: name.to_string(),
            mix: vec![(kind, 1)],
        })
    }

    fn has(&self, kind: Kind) -> bool {
        self.mix.iter().any(|(k, w)| *k == kind && *w > 0)
    }

    /// Whether some of the work is CPU work (hashing).
    pub fn has_cpu(&self) -> bool {
        self.has(Kind::Hash)
    }

    /// Whether some of the work reads files.
    pub fn has_file(&self) -> bool {
        self.has(Kind::File)
    }

    /// Whether it is the plain `net` workload (HTTP hello, nothing else).
    pub fn is_net(&self) -> bool {
        self.mix.iter().all(|(k, _)| *k == Kind::Hello)
    }

    /// Whether it is pure CPU work (only hashing).
    pub fn is_cpu_only(&self) -> bool {
        self.mix.iter().all(|(k, _)| *k == Kind::Hash)
    }
}

/// Warm-up and measured window of one repetition.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timing {
    /// Run but not measured, before each repetition.
    pub warmup_ms: u64,
    /// Measured window (service) or time cap (batch) of each repetition.
    pub duration_ms: u64,
}

/// Parameters of the work itself, the same for every point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkParams {
    /// PBKDF2 iterations per hash.
    pub hash_iterations: u64,
    /// Bytes of the file each file request reads.
    pub file_bytes: u64,
    /// Jobs per repetition in batch mode.
    pub jobs: u32,
    /// How cluster workers share the port.
    pub cluster_policy: SchedulingPolicy,
    /// Batch file jobs read a file, or write one then read it back.
    pub file_mode: FileMode,
}

/// A validated sweep: typed axes, every value in range, no axis empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SweepSpec {
    /// Batch or service.
    pub mode: Mode,
    /// Warm-up and measured window (of every point but the Node twins').
    pub timing: Timing,
    /// The Node twins' warm-up, ms (`warmup` unless the config says otherwise): Node's loop
    /// costs more per request over its first seconds of load, while V8 compiles the handlers.
    pub node_warmup_ms: u64,
    /// Repetitions of each point (of each half, in an A/A sweep).
    pub repetitions: u32,
    /// An A/A sweep: every point runs twice `repetitions` times, in interleaved rounds; even
    /// repetitions are half A, odd ones half B, and the report compares the halves.
    pub aa: bool,
    /// Shuffle the points with this seed; `None` keeps plan order.
    pub seed: Option<u64>,
    /// Runtimes axis: looplab, Node, the user's app, or several (looplab alone unless the
    /// config says).
    pub runtimes: Vec<Runtime>,
    /// The user's app, when `runtimes` has `command`.
    pub app: Option<App>,
    /// Cost profiles looplab's points charge, each its own points (`native` alone unless the
    /// config says).
    pub costs: Vec<CostChoice>,
    /// Strategies axis.
    pub strategies: Vec<Strategy>,
    /// Workloads axis.
    pub workloads: Vec<Workload>,
    /// Pool sizes axis.
    pub pool_sizes: Vec<u32>,
    /// Cluster process counts axis (cluster strategy only).
    pub cluster_counts: Vec<u32>,
    /// Worker thread counts axis (workers strategy only).
    pub worker_counts: Vec<u32>,
    /// Load generator connections axis (service mode).
    pub connections: Vec<u32>,
    /// Open-loop rates axis in requests/s (service mode); `None` is a closed loop.
    pub rates: Option<Vec<u32>>,
    /// Parameters of the work.
    pub params: WorkParams,
}

impl SweepSpec {
    /// The warm-up and window of `runtime`'s points: the Node twins warm up `node_warmup_ms`.
    pub fn timing_of(&self, runtime: Runtime) -> Timing {
        match runtime {
            Runtime::Node => Timing {
                warmup_ms: self.node_warmup_ms,
                ..self.timing
            },
            _ => self.timing,
        }
    }
}

/// How a point is loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Load {
    /// Batch mode: submit this many jobs, measure the makespan.
    Batch { jobs: u32 },
    /// Service mode, closed loop of keep-alive connections.
    Closed { connections: u32 },
    /// Service mode, open loop at a fixed rate.
    Open { connections: u32, rate_per_s: u32 },
}

/// One point of the plan, complete: what the executor needs to run it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PointSpec {
    /// Stable id naming the coordinates ([`Coords::id`]), like `cluster/hash/p4/k2/c16`.
    pub id: String,
    /// Where the point sits in the sweep, recorded with each repetition. A coordinate the
    /// point does not sweep is `None` (the pool size where the pool does no work, rule 2).
    pub coords: Coords,
    /// What the point's processes run.
    pub deployment: Deployment,
    /// Load applied.
    pub load: Load,
    /// Warm-up and measured window of each repetition.
    pub timing: Timing,
    /// Repetitions.
    pub repetitions: u32,
    /// For a point of the user's app: its command and the path its requests go to.
    pub app: Option<AppPoint>,
}

/// What the executor needs to run one point of the user's app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppPoint {
    /// The command line, run by `sh -c`.
    pub command: String,
    /// The path the load generator requests.
    pub path: String,
}

/// One value of the `costs` axis: a name for ids and reports, and what a point charges.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CostChoice {
    /// `None` for native costs; else `node` or the profile file's stem.
    pub label: Option<String>,
    /// What each event costs (empty for native).
    pub table: CostTable,
}

/// The user's own server (`runtime = "command"`): how to start it and where to send each
/// workload's requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct App {
    /// The command line, run by `sh -c` (so quoting works as in a shell).
    pub command: String,
    /// Workload name → request path; a workload not listed gets looplab's path for it.
    pub paths: BTreeMap<String, String>,
}

/// A strategy/workload pair the planner pruned, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pruned {
    /// `strategy/workload`.
    pub pair: String,
    /// Why, in a few words.
    pub reason: &'static str,
}

/// Parses a duration like "500ms", "5s", "1.5s", "2m", "1h" or "1m 30s" (humantime's grammar)
/// into whole milliseconds; `None` if it is not a duration or not a whole number of
/// milliseconds. A bare number has no unit and is refused.
pub fn parse_duration_ms(text: &str) -> Option<u64> {
    let duration = looplab_workloads::load::parse_duration(text).ok()?;
    let ms = u64::try_from(duration.as_millis()).ok()?;
    (duration.subsec_nanos() % 1_000_000 == 0).then_some(ms)
}

/// Formats milliseconds the way configs write them: "1500ms", "2s", "1m".
pub fn format_duration_ms(ms: u64) -> String {
    if ms >= 60_000 && ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else if ms >= 1_000 && ms.is_multiple_of(1_000) {
        format!("{}s", ms / 1_000)
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_format() {
        assert_eq!(parse_duration_ms("500ms"), Some(500));
        assert_eq!(parse_duration_ms("5s"), Some(5_000));
        assert_eq!(parse_duration_ms("1.5s"), Some(1_500));
        assert_eq!(parse_duration_ms("2m"), Some(120_000));
        assert_eq!(parse_duration_ms("1h"), Some(3_600_000));
        assert_eq!(parse_duration_ms("1m 30s"), Some(90_000));
        assert_eq!(parse_duration_ms("0s"), Some(0));
        for bad in ["5", "s", "five s", "5x", "-1s", "0.5ms", ""] {
            assert_eq!(parse_duration_ms(bad), None, "{bad}");
        }
        assert_eq!(format_duration_ms(1_500), "1500ms");
        assert_eq!(format_duration_ms(2_000), "2s");
        assert_eq!(format_duration_ms(180_000), "3m");
    }
}
