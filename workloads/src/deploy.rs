//! The lab's one vocabulary of how work is deployed: the strategies ([`Strategy`]), the kinds
//! of work ([`Kind`]), the two modes ([`Mode`]), and a complete deployment ([`Deployment`]).
//!
//! Every other layer names these things through the types here: the sweep's config and plan,
//! `lab serve`, the `lab point` process (which receives a [`Deployment`] as JSON, nothing
//! else), the results store's coordinates and the report. A name (`loop-blocking`,
//! `hash-sync`) is spelled once, in the `name` method of its type; serde goes through that same
//! method, so a config file, a JSON line and a chart legend cannot disagree.
//!
//! ```
//! use looplab_workloads::deploy::{Deployment, Kind, Strategy};
//!
//! let d = Deployment {
//!     processes: 2,
//!     ..Deployment::new(Strategy::Cluster, vec![(Kind::Hash, 1)])
//! };
//! let json = serde_json::to_string(&d).unwrap();
//! assert!(json.contains(r#""strategy":"cluster""#));
//! assert_eq!(serde_json::from_str::<Deployment>(&json).unwrap(), d);
//! assert_eq!(d.parallelism(), Some(2));
//! ```

use std::collections::BTreeMap;

use looplab_runtime::cluster::SchedulingPolicy;
use looplab_runtime::costs::{Costs, Event as CostEvent};
use looplab_runtime::pool::DEFAULT_POOL_SIZE;
use serde::{Deserialize, Serialize};

use crate::error::WorkloadError;

/// Most worker processes of a cluster deployment: 1,024 (each is a process with its own loop
/// and pool; more would exhaust a machine's process table before measuring anything).
pub const MAX_PROCESSES: usize = 1024;

/// Implements serde for a name-only enum through its `name` and `parse` methods.
macro_rules! serde_by_name {
    ($type:ty, $what:literal) => {
        impl Serialize for $type {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }
        impl<'de> Deserialize<'de> for $type {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let name = String::deserialize(d)?;
                <$type>::parse(&name).ok_or_else(|| {
                    serde::de::Error::custom(format!(concat!("unknown ", $what, " `{}`"), name))
                })
            }
        }
    };
}

/// How the work uses the cores (DESIGN.md's strategies). The order of [`Strategy::ALL`] is the
/// order of plans, legends and tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Strategy {
    /// One loop, async work on its pool (default Node).
    Loop,
    /// One loop, hashing on the loop itself (`pbkdf2Sync`); files still on the pool.
    LoopBlocking,
    /// One loop serving, CPU work in worker threads sharing the process pool.
    Workers,
    /// Several processes, each a loop with its own pool.
    Cluster,
    /// Reference: tokio's multi-thread runtime, `spawn_blocking` for hash and file work.
    Tokio,
    /// Reference: rayon, batch CPU work only.
    Rayon,
}

serde_by_name!(Strategy, "strategy");

impl std::fmt::Display for Strategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Strategy {
    /// Every strategy, in plan order.
    pub const ALL: [Strategy; 6] = [
        Strategy::Loop,
        Strategy::LoopBlocking,
        Strategy::Workers,
        Strategy::Cluster,
        Strategy::Tokio,
        Strategy::Rayon,
    ];

    /// The name used in configs, point ids, flags and reports.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Loop => "loop",
            Strategy::LoopBlocking => "loop-blocking",
            Strategy::Workers => "workers",
            Strategy::Cluster => "cluster",
            Strategy::Tokio => "tokio",
            Strategy::Rayon => "rayon",
        }
    }

    /// Parses a strategy name.
    pub fn parse(name: &str) -> Option<Strategy> {
        Strategy::ALL.into_iter().find(|s| s.name() == name)
    }

    /// What the strategy is, in one line (help texts, `lab list`, errors).
    pub fn help(self) -> &'static str {
        match self {
            Strategy::Loop => "one event loop; async work on its pool of P threads (default Node)",
            Strategy::LoopBlocking => {
                "one event loop; hashes on the loop itself (pbkdf2Sync), files on the pool"
            }
            Strategy::Workers => "one loop serving; CPU work in W worker threads sharing the pool",
            Strategy::Cluster => {
                "K worker processes, each a loop with its own pool; policy rr, none or reuseport"
            }
            Strategy::Tokio => "reference: a tokio runtime; hash and file work on spawn_blocking",
            Strategy::Rayon => "reference: a rayon pool; batch CPU work only",
        }
    }

    /// The strategies' names, comma-separated, for error messages.
    pub fn names() -> String {
        Strategy::ALL.map(Strategy::name).join(", ")
    }

    /// Whether the strategy runs on a libuv-style pool whose size can be set.
    pub fn has_pool(self) -> bool {
        !self.is_reference()
    }

    /// Whether it is one of the references (tokio, rayon) rather than a Node strategy.
    pub fn is_reference(self) -> bool {
        matches!(self, Strategy::Tokio | Strategy::Rayon)
    }

    /// Whether it can serve HTTP (every strategy but rayon).
    pub fn serves_http(self) -> bool {
        self != Strategy::Rayon
    }

    /// The parallelism a chart puts on its x axis: `loop`: the pool size (1 without one);
    /// `loop-blocking`: 1; `workers`: the worker threads; `cluster`: the processes. `None` for
    /// the references, which have one configuration each and are drawn as lines.
    pub fn parallelism(
        self,
        pool: Option<u32>,
        workers: Option<u32>,
        processes: Option<u32>,
    ) -> Option<u32> {
        match self {
            Strategy::Loop => Some(pool.unwrap_or(1)),
            Strategy::LoopBlocking => Some(1),
            Strategy::Workers => Some(workers.unwrap_or(1)),
            Strategy::Cluster => Some(processes.unwrap_or(1)),
            Strategy::Tokio | Strategy::Rayon => None,
        }
    }
}

/// What runs a point: looplab's own runtime, or real Node.js running the point's twin
/// (`node/point.js`, the same protocol as `lab point`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Runtime {
    /// looplab's Rust model of Node's loop, pool, workers and cluster.
    #[default]
    Looplab,
    /// Node.js 20: `UV_THREADPOOL_SIZE`, `pbkdf2Sync`, piscina and the cluster module.
    Node,
    /// The user's own server, started from the sweep's `command` and told the deployment
    /// through its environment (the README's "Bring your own app").
    Command,
}

serde_by_name!(Runtime, "runtime");

impl Runtime {
    /// Every runtime, in report order.
    pub const ALL: [Runtime; 3] = [Runtime::Looplab, Runtime::Node, Runtime::Command];

    /// The name used in configs, ids and reports.
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Looplab => "looplab",
            Runtime::Node => "node",
            Runtime::Command => "command",
        }
    }

    /// The name in prose: `looplab`, `Node.js`.
    pub fn label(self) -> &'static str {
        match self {
            Runtime::Looplab => "looplab",
            Runtime::Node => "Node.js",
            Runtime::Command => "your app",
        }
    }

    /// Parses a runtime name.
    pub fn parse(name: &str) -> Option<Runtime> {
        Runtime::ALL.into_iter().find(|r| r.name() == name)
    }

    /// Why this runtime cannot run `strategy` under cluster `policy`, if it cannot.
    pub fn cannot_run(
        self,
        strategy: Strategy,
        policy: Option<SchedulingPolicy>,
    ) -> Option<&'static str> {
        match (self, strategy) {
            (Runtime::Looplab, _) => None,
            (Runtime::Node | Runtime::Command, Strategy::Tokio | Strategy::Rayon) => {
                Some("a looplab-only reference: Node has no such runtime")
            }
            (Runtime::Node, Strategy::Cluster) if policy == Some(SchedulingPolicy::ReusePort) => {
                Some("Node 20's cluster has no reusePort (it arrived in Node 22.12)")
            }
            (Runtime::Node | Runtime::Command, _) => None,
        }
    }
}

/// Batch (N jobs at once, makespan) or service (an HTTP server under load).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mode {
    /// An HTTP server under the load generator, closed or open loop.
    Service,
    /// Submit N jobs at once; measure makespan, throughput and per-job latency.
    Batch,
}

serde_by_name!(Mode, "mode");

impl Mode {
    /// The name used in configs.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Service => "service",
            Mode::Batch => "batch",
        }
    }

    /// Parses a mode name.
    pub fn parse(name: &str) -> Option<Mode> {
        [Mode::Service, Mode::Batch]
            .into_iter()
            .find(|m| m.name() == name)
    }
}

/// One kind of request or job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// Fixed small body, no pool.
    Hello,
    /// PBKDF2 on the pool.
    Hash,
    /// PBKDF2 on the loop.
    HashSync,
    /// Read a file through the pool.
    File,
    /// Busy-wait on the loop for a wall-clock time.
    Busy,
}

serde_by_name!(Kind, "kind of work");

impl Kind {
    /// Every kind, in the order of help texts.
    pub const ALL: [Kind; 5] = [
        Kind::Hello,
        Kind::Hash,
        Kind::HashSync,
        Kind::File,
        Kind::Busy,
    ];

    /// The kind's name: `hello`, `hash`, `hash-sync`, `file`, `busy`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Hello => "hello",
            Kind::Hash => "hash",
            Kind::HashSync => "hash-sync",
            Kind::File => "file",
            Kind::Busy => "busy",
        }
    }

    /// Parses a kind's name.
    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The kind a named path asks for (`/hello`, `/hash`, ...), `None` for any other path.
    pub fn for_path(path: &str) -> Option<Kind> {
        path.strip_prefix('/').and_then(Kind::parse)
    }

    /// The path that asks for this kind: `/` and its name.
    pub fn path(self) -> String {
        format!("/{}", self.name())
    }
}

/// What a `File` job does in batch mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FileMode {
    /// Read one file of `file_bytes` bytes, written once when the batch is prepared.
    #[default]
    Read,
    /// Write a file of its own (overwritten at each run), then read it back.
    WriteThenRead,
}

serde_by_name!(FileMode, "file mode");

impl FileMode {
    /// `read` or `write-read`.
    pub fn name(self) -> &'static str {
        match self {
            FileMode::Read => "read",
            FileMode::WriteThenRead => "write-read",
        }
    }

    /// Parses a file mode's name.
    pub fn parse(name: &str) -> Option<FileMode> {
        [FileMode::Read, FileMode::WriteThenRead]
            .into_iter()
            .find(|m| m.name() == name)
    }
}

/// A complete deployment: how the cores are used and what work is done. What `lab serve` and
/// a batch run, and the only thing that crosses into a `lab point` process.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    /// How the work uses the cores.
    pub strategy: Strategy,
    /// libuv-style pool threads per process (under `tokio`: the cap on its blocking threads).
    pub pool: usize,
    /// Worker threads (`workers`).
    pub workers: usize,
    /// Worker processes (`cluster`).
    pub processes: usize,
    /// Runtime threads of the references (`tokio`, `rayon`).
    pub threads: usize,
    /// How cluster workers share the port; `None` follows Node (`NODE_CLUSTER_SCHED_POLICY`,
    /// else round-robin).
    #[serde(with = "policy_name")]
    pub policy: Option<SchedulingPolicy>,
    /// Replace cluster workers that die.
    pub restart: bool,
    /// Kinds of work by weight (a request or job takes the next kind of the weighted rotation).
    pub mix: Vec<(Kind, u32)>,
    /// PBKDF2 iterations per hash.
    pub hash_iterations: u64,
    /// Bytes of the file a file request or job reads.
    pub file_bytes: usize,
    /// Wall-clock milliseconds `/busy` spins for.
    pub busy_ms: u64,
    /// What batch file jobs do.
    pub file_mode: FileMode,
    /// Node's costs the runtime charges per event ([`looplab_runtime::costs`]); empty: native
    /// (nothing charged). Left out of the JSON when empty.
    #[serde(default, skip_serializing_if = "CostTable::is_native")]
    pub costs: CostTable,
}

/// CPU nanoseconds per event kind (by [`CostEvent::name`]) that a looplab process charges to
/// look as costly as Node; what a cost profile becomes when it crosses into a point.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CostTable(pub BTreeMap<String, u64>);

impl CostTable {
    /// Nothing charged.
    pub fn is_native(&self) -> bool {
        self.0.values().all(|&ns| ns == 0)
    }

    /// The runtime's costs; an unknown event name is an error naming it.
    pub fn to_costs(&self) -> Result<Costs, WorkloadError> {
        let mut costs = Costs::none();
        for (name, &ns) in &self.0 {
            let event = CostEvent::parse(name).ok_or_else(|| WorkloadError::Param {
                name: "costs",
                value: name.clone(),
                hint: "not an event of the cost profile (http_request, timer, immediate, ...)",
            })?;
            costs = costs.with(event, ns);
        }
        Ok(costs)
    }

    /// Installs these costs in this process (nothing for native costs); a process runs one
    /// deployment, so a second install with other costs is an error.
    pub fn install(&self) -> Result<(), WorkloadError> {
        if self.is_native() {
            return Ok(());
        }
        looplab_runtime::costs::install(self.to_costs()?).map_err(|_| WorkloadError::Param {
            name: "costs",
            value: "a second profile".into(),
            hint: "a process charges one cost profile; start another process for another",
        })
    }
}

impl Deployment {
    /// A deployment of `strategy` doing `mix` with Node's defaults: a pool of 4, one worker
    /// thread or process, one thread per core for the references, 100,000 iterations per hash
    /// (`crypto.pbkdf2` as the course calls it), 64 KiB files, 100 ms of busy work.
    pub fn new(strategy: Strategy, mix: Vec<(Kind, u32)>) -> Self {
        Self {
            strategy,
            pool: DEFAULT_POOL_SIZE,
            workers: 1,
            processes: 1,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            policy: None,
            restart: false,
            mix,
            hash_iterations: 100_000,
            file_bytes: 64 * 1024,
            busy_ms: 100,
            file_mode: FileMode::Read,
            costs: CostTable::default(),
        }
    }

    /// The parallelism of this deployment as charts draw it ([`Strategy::parallelism`]).
    pub fn parallelism(&self) -> Option<u32> {
        let n = |v: usize| Some(u32::try_from(v).unwrap_or(u32::MAX));
        self.strategy
            .parallelism(n(self.pool), n(self.workers), n(self.processes))
    }
}

/// serde for the optional cluster policy, by its short name (`rr`, `none`, `reuseport`).
mod policy_name {
    use looplab_runtime::cluster::SchedulingPolicy;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(p: &Option<SchedulingPolicy>, s: S) -> Result<S::Ok, S::Error> {
        match p {
            Some(p) => s.serialize_some(p.name()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<SchedulingPolicy>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|name| {
                SchedulingPolicy::parse(&name).ok_or_else(|| {
                    serde::de::Error::custom(format!(
                        "unknown cluster policy `{name}`; use rr, none or reuseport"
                    ))
                })
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_parse_and_serde() {
        for s in Strategy::ALL {
            assert_eq!(Strategy::parse(s.name()), Some(s));
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(serde_json::from_str::<Strategy>(&json).unwrap(), s);
        }
        for k in Kind::ALL {
            assert_eq!(Kind::for_path(&k.path()), Some(k));
            assert_eq!(
                serde_json::to_string(&k).unwrap(),
                format!("\"{}\"", k.name())
            );
        }
        assert_eq!(Strategy::parse("threads"), None);
        assert_eq!(Kind::for_path("/"), None);
        let bad = serde_json::from_str::<Strategy>("\"cluser\"").unwrap_err();
        assert!(
            bad.to_string().contains("unknown strategy `cluser`"),
            "{bad}"
        );
    }

    #[test]
    fn a_deployment_round_trips_with_its_policy() {
        let d = Deployment {
            policy: Some(SchedulingPolicy::Shared),
            file_mode: FileMode::WriteThenRead,
            ..Deployment::new(Strategy::LoopBlocking, vec![(Kind::HashSync, 2)])
        };
        let json = serde_json::to_string(&d).unwrap();
        assert!(json.contains(r#""policy":"none""#), "{json}");
        assert!(json.contains(r#""mix":[["hash-sync",2]]"#), "{json}");
        assert_eq!(serde_json::from_str::<Deployment>(&json).unwrap(), d);
    }

    #[test]
    fn parallelism_follows_the_strategy() {
        let p = |s: Strategy| s.parallelism(Some(4), Some(3), Some(2));
        assert_eq!(p(Strategy::Loop), Some(4));
        assert_eq!(p(Strategy::LoopBlocking), Some(1));
        assert_eq!(p(Strategy::Workers), Some(3));
        assert_eq!(p(Strategy::Cluster), Some(2));
        assert_eq!(p(Strategy::Tokio), None);
        assert_eq!(Strategy::Loop.parallelism(None, None, None), Some(1));
    }
}
