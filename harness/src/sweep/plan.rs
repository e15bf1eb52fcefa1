//! Stage 2: a validated [`SweepSpec`] becomes a [`Plan`]: the points to run, in order.
//!
//! The rule of this stage. The plan is the product runtimes x strategies x workloads x pool
//! sizes x cluster counts x worker counts x connections x rates, taken in the order the axes
//! list their values (runtime outermost, rate innermost), pruned as follows:
//!
//! 0. A strategy a runtime cannot run is dropped for that runtime, with the reason
//!    ([`Runtime::cannot_run`]): `tokio` and `rayon` are looplab's only, and Node 20's cluster
//!    has no `reuseport`.
//!
//! 1. Pairs that make no sense are dropped, and listed with the reason:
//!    - `rayon` is a reference for batch CPU work: it runs only `hash`, only in batch mode;
//!    - `loop-blocking` and `workers` differ from `loop` only in where hashing runs, so a
//!      workload without hashing (`file`, `net`, a mix of hello and file) is dropped for them;
//!    - `net` is HTTP requests: batch mode has no server, so it is dropped in batch mode.
//! 2. The pool size is swept only where a libuv-style pool does work: never for `tokio` and
//!    `rayon` (no such pool), never for `net` (hello never touches the pool), and for
//!    `loop-blocking` and `workers` only when the workload reads files (their hashing runs on
//!    the loop or in worker threads). Elsewhere the point has no pool size (`p` left out).
//! 3. Cluster counts apply only to `cluster` (`k` in the id), worker counts only to `workers`
//!    (`w` in the id).
//! 4. Connections (`c`) and rates (`r`, open loop) apply only in service mode; a batch point
//!    submits `jobs` jobs instead.
//!
//! A point's id names its coordinates, e.g. `cluster/hash/p4/k2/c16`; ids are unique in a plan
//! and stable across runs of the same sweep. Then `--shard I/N` keeps the points whose index in
//! that order is I-1 modulo N (so the shards partition the plan, whatever the seed), and a seed
//! shuffles what is kept with a Fisher-Yates shuffle driven by SplitMix64 (deterministic: the
//! same seed gives the same order on every machine).

use std::collections::BTreeMap;

use super::error::ConfigError;
use super::order::{shuffle, Shard};
use looplab_runtime::pool::DEFAULT_POOL_SIZE;

use super::spec::{
    AppPoint, Coords, CostChoice, CostTable, Deployment, Load, Mode, PointSpec, Pruned, Runtime,
    Strategy, SweepSpec, Workload,
};

/// Time a repetition costs beyond its warm-up and measured window, for the estimate: starting
/// the point's process and server, connecting the generator, tearing down. The executor
/// measures it and prints it after every sweep: 30 to 60 ms per point on a 2-core machine.
pub const POINT_OVERHEAD_MS: u64 = 50;

/// The resolved plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Points to run, in run order.
    pub points: Vec<PointSpec>,
    /// Points in the whole plan, before `--shard`.
    pub total_points: usize,
    /// Pairs dropped by rule 1.
    pub dropped: Vec<Pruned>,
    /// Pairs for which the pool size is not swept (rule 2).
    pub pool_not_swept: Vec<Pruned>,
    /// The sweep's seed, which also orders each round of repetitions.
    pub seed: Option<u64>,
}

/// The seed of the rounds' order when the sweep sets none (so an unseeded sweep's rounds are
/// still shuffled, the same way on every run).
pub const ROUND_SEED: u64 = 0x006c_6f6f_706c_6162;

impl Plan {
    /// The points in the order round `round` runs them: the plan's points shuffled with the
    /// sweep's seed (or [`ROUND_SEED`]) mixed with the round, only those with that many
    /// repetitions. Deterministic: the same plan gives the same rounds on every machine.
    pub fn round_order(&self, round: u32) -> Vec<&PointSpec> {
        let mut order: Vec<&PointSpec> = self
            .points
            .iter()
            .filter(|p| round < p.repetitions)
            .collect();
        let seed = self.seed.unwrap_or(ROUND_SEED);
        shuffle(
            &mut order,
            seed ^ u64::from(round).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        order
    }

    /// Estimated wall-clock time: points x repetitions x (warm-up + duration + overhead).
    pub fn estimated_ms(&self) -> u64 {
        self.points
            .iter()
            .map(|p| {
                let per_rep = p.timing.warmup_ms + p.timing.duration_ms + POINT_OVERHEAD_MS;
                u64::from(p.repetitions) * per_rep
            })
            .sum()
    }
}

/// The most points a plan may have, before `--shard` (checked before any is built): at 2 s
/// each, more than five hours of measuring.
pub const MAX_POINTS: usize = 10_000;

/// Builds the plan of `spec` (its shard, if any), or says why it is empty or too big.
pub fn plan(spec: &SweepSpec, shard: Option<Shard>) -> Result<Plan, ConfigError> {
    let points = upper_bound(spec);
    if points > MAX_POINTS as u64 {
        return Err(ConfigError::TooManyPoints {
            points,
            max: MAX_POINTS,
        });
    }
    let Expanded {
        points: all,
        dropped,
        pool_not_swept,
    } = expand(spec);
    if all.is_empty() {
        return Err(ConfigError::NothingToRun {
            reason: format!(
                "every strategy/workload pair was dropped ({}); add strategies or workloads",
                dropped
                    .iter()
                    .map(|d| format!("{}: {}", d.pair, d.reason))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        });
    }
    let total_points = all.len();
    let mut points = match shard {
        Some(shard) => shard.select(all),
        None => all,
    };
    if let Some(seed) = spec.seed {
        shuffle(&mut points, seed);
    }
    Ok(Plan {
        points,
        total_points,
        dropped,
        pool_not_swept,
        seed: spec.seed,
    })
}

/// Every point of the product, in axis order, and the pairs rules 0 to 2 pruned.
struct Expanded {
    points: Vec<PointSpec>,
    dropped: Vec<Pruned>,
    pool_not_swept: Vec<Pruned>,
}

/// Rules 0 to 4 over the whole product (before `--shard` and the seed). A pair pruned for
/// every runtime is listed once.
fn expand(spec: &SweepSpec) -> Expanded {
    let mut out = Expanded {
        points: Vec::new(),
        dropped: Vec::new(),
        pool_not_swept: Vec::new(),
    };
    let policy = Some(spec.params.cluster_policy);
    for &runtime in &spec.runtimes {
        let first_runtime = runtime == spec.runtimes[0];
        for &strategy in &spec.strategies {
            if let Some(reason) = runtime.cannot_run(strategy, policy) {
                let pair = format!("{}:{}", runtime.name(), strategy.name());
                out.dropped.push(Pruned { pair, reason });
                continue;
            }
            for workload in &spec.workloads {
                let Some(pools) = pools(spec, strategy, workload, first_runtime, &mut out) else {
                    continue;
                };
                for costs in costs_of(spec, runtime) {
                    for &pool_size in &pools {
                        let at = (runtime, costs, strategy, pool_size);
                        expand_counts(spec, at, workload, &mut out.points);
                    }
                }
            }
        }
    }
    out
}

/// Rules 1 and 2 for one pair: `None` when it is dropped, else the pool sizes it sweeps.
/// The reasons are listed once, for the first runtime.
fn pools(
    spec: &SweepSpec,
    strategy: Strategy,
    workload: &Workload,
    list: bool,
    out: &mut Expanded,
) -> Option<Vec<Option<u32>>> {
    let pair = format!("{}/{}", strategy.name(), workload.name);
    if let Some(reason) = drop_reason(spec.mode, strategy, workload) {
        if list {
            out.dropped.push(Pruned { pair, reason });
        }
        return None;
    }
    match pool_not_swept_reason(strategy, workload) {
        Some(reason) => {
            if list {
                out.pool_not_swept.push(Pruned { pair, reason });
            }
            Some(vec![None])
        }
        None => Some(spec.pool_sizes.iter().copied().map(Some).collect()),
    }
}

/// The points the plan would have if rule 1 dropped nothing (rule 2 may prune pool sizes,
/// so this is an upper bound), counted without building them.
fn upper_bound(spec: &SweepSpec) -> u64 {
    let len = |values: &[u32]| values.len() as u64;
    let loads = match spec.mode {
        Mode::Batch => 1,
        Mode::Service => len(&spec.connections) * spec.rates.as_deref().map_or(1, len),
    };
    let per_strategy: u64 = spec
        .strategies
        .iter()
        .map(|&s| match s {
            Strategy::Cluster => len(&spec.cluster_counts),
            Strategy::Workers => len(&spec.worker_counts),
            _ => 1,
        })
        .map(|counts| counts.saturating_mul(len(&spec.pool_sizes)))
        .fold(0, u64::saturating_add);
    per_strategy
        .saturating_mul(spec.runtimes.len() as u64 * spec.costs.len().max(1) as u64)
        .saturating_mul(spec.workloads.len() as u64)
        .saturating_mul(loads)
}

/// Rule 1: why a strategy/workload pair makes no sense, if it does not.
fn drop_reason(mode: Mode, strategy: Strategy, workload: &Workload) -> Option<&'static str> {
    match strategy {
        Strategy::Rayon if mode != Mode::Batch || !workload.is_cpu_only() => {
            Some("rayon is a batch CPU reference: it runs only hash, in batch mode")
        }
        Strategy::LoopBlocking if !workload.has_cpu() => {
            Some("same as loop: loop-blocking only moves hashing onto the loop")
        }
        Strategy::Workers if !workload.has_cpu() => {
            Some("same as loop: worker threads only take the hashing")
        }
        _ if mode == Mode::Batch && workload.is_net() => {
            Some("net is HTTP requests; batch mode has no server (use mode = \"service\")")
        }
        _ => None,
    }
}

/// Rule 2: why the pool size is not swept for this pair, if it is not.
fn pool_not_swept_reason(strategy: Strategy, workload: &Workload) -> Option<&'static str> {
    if !strategy.has_pool() {
        return Some("no libuv pool in this strategy");
    }
    if workload.is_net() {
        return Some("hello never uses the pool");
    }
    let uses_pool = match strategy {
        Strategy::LoopBlocking | Strategy::Workers => workload.has_file(),
        _ => workload.has_cpu() || workload.has_file(),
    };
    (!uses_pool).then_some("its hashing runs outside the pool and it reads no files")
}

/// Rules 3 and 4: the count and load axes that apply, innermost last.
fn expand_counts(
    spec: &SweepSpec,
    (runtime, costs, strategy, pool_size): (Runtime, &CostChoice, Strategy, Option<u32>),
    workload: &Workload,
    out: &mut Vec<PointSpec>,
) {
    let only = |applies: bool, values: &[u32]| -> Vec<Option<u32>> {
        if applies {
            values.iter().copied().map(Some).collect()
        } else {
            vec![None]
        }
    };
    let clusters = only(strategy == Strategy::Cluster, &spec.cluster_counts);
    let workers = only(strategy == Strategy::Workers, &spec.worker_counts);
    let loads = loads(spec);
    for &processes in &clusters {
        for &worker_count in &workers {
            for &load in &loads {
                let (connections, rate_per_s) = match load {
                    Load::Batch { .. } => (None, None),
                    Load::Closed { connections } => (Some(connections), None),
                    Load::Open {
                        connections,
                        rate_per_s,
                    } => (Some(connections), Some(rate_per_s)),
                };
                let coords = Coords {
                    strategy,
                    workload: workload.name.clone(),
                    mode: spec.mode,
                    pool: pool_size,
                    processes,
                    workers: worker_count,
                    connections,
                    rate_per_s,
                    parallelism: strategy.parallelism(pool_size, worker_count, processes),
                    runtime,
                    costs: costs.label.clone(),
                };
                let deployment = Deployment {
                    costs: costs.table.clone(),
                    ..deployment(spec, &coords, workload)
                };
                out.push(PointSpec {
                    app: app_point(spec, runtime, workload),
                    id: coords.id(),
                    deployment,
                    coords,
                    load,
                    timing: spec.timing_of(runtime),
                    repetitions: spec.repetitions * if spec.aa { 2 } else { 1 },
                });
            }
        }
    }
}

/// The cost profiles a runtime's points charge: the `costs` axis on looplab; native on the
/// real runtimes (Node's costs are Node's own).
fn costs_of(spec: &SweepSpec, runtime: Runtime) -> Vec<&CostChoice> {
    static NATIVE: CostChoice = CostChoice {
        label: None,
        table: CostTable(BTreeMap::new()),
    };
    match runtime {
        Runtime::Looplab => spec.costs.iter().collect(),
        _ => vec![&NATIVE],
    }
}

/// For a point of the user's app: its command, and the path for the workload (the one
/// `paths` gives, else looplab's own for a single-kind workload, else `/`).
fn app_point(spec: &SweepSpec, runtime: Runtime, workload: &Workload) -> Option<AppPoint> {
    let app = spec.app.as_ref().filter(|_| runtime == Runtime::Command)?;
    let path =
        app.paths
            .get(&workload.name)
            .cloned()
            .unwrap_or_else(|| match workload.mix.as_slice() {
                [(kind, _)] => kind.path(),
                _ => "/".to_string(),
            });
    Some(AppPoint {
        command: app.command.clone(),
        path,
    })
}

/// What the processes of the point at `coords` run. A count the point does not sweep takes
/// its single-process default: Node's pool of 4 where the pool does no work, one worker, one
/// process; the references get one thread per core.
fn deployment(spec: &SweepSpec, coords: &Coords, workload: &Workload) -> Deployment {
    let count = |value: Option<u32>, default: usize| value.map_or(default, |v| v as usize);
    let p = &spec.params;
    Deployment {
        pool: count(coords.pool, DEFAULT_POOL_SIZE),
        workers: count(coords.workers, 1),
        processes: count(coords.processes, 1),
        policy: Some(p.cluster_policy),
        hash_iterations: p.hash_iterations,
        file_bytes: p.file_bytes as usize,
        busy_ms: 0,
        file_mode: p.file_mode,
        ..Deployment::new(coords.strategy, workload.mix.clone())
    }
}

fn loads(spec: &SweepSpec) -> Vec<Load> {
    if spec.mode == Mode::Batch {
        return vec![Load::Batch {
            jobs: spec.params.jobs,
        }];
    }
    let mut loads = Vec::new();
    for &connections in &spec.connections {
        match &spec.rates {
            None => loads.push(Load::Closed { connections }),
            Some(rates) => loads.extend(rates.iter().map(|&rate_per_s| Load::Open {
                connections,
                rate_per_s,
            })),
        }
    }
    loads
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::sweep::config::{SweepConfig, DEFAULT_TOML};
    use crate::sweep::spec::Kind;

    /// The default sweep with `toml` laid over it, resolved.
    /// The default sweep as these tests were written for: looplab alone, pools 1, 2 and 4.
    pub(crate) const LOOPLAB_ONLY: &str = "runtimes = [\"looplab\"]\npool_sizes = [1, 2, 4]";

    /// That sweep, overlaid with `toml`.
    fn spec(toml: &str) -> SweepSpec {
        let looplab = SweepConfig::parse("t.toml", LOOPLAB_ONLY).unwrap();
        let file = SweepConfig::parse("t.toml", toml).unwrap();
        let config = SweepConfig::builtin(false).overlay(looplab).overlay(file);
        config.resolve().unwrap()
    }

    fn ids(plan: &Plan) -> Vec<&str> {
        plan.points.iter().map(|p| p.id.as_str()).collect()
    }

    #[test]
    fn small_plan_is_the_pruned_product_in_axis_order() {
        let s = spec(
            "strategies = [\"loop\", \"cluster\", \"tokio\"]\nworkloads = [\"hash\", \"net\"]\n\
             pool_sizes = [1, 4]\ncluster_counts = [2, 3]\nconnections = [8, 32]",
        );
        let p = plan(&s, None).unwrap();
        // By hand: loop/hash 2 pools x 2 conns = 4; loop/net 1 x 2 = 2; cluster/hash
        // 2 pools x 2 counts x 2 conns = 8; cluster/net 2 counts x 2 conns = 4;
        // tokio/hash 2; tokio/net 2. Total 22.
        assert_eq!(p.points.len(), 22);
        assert_eq!(p.total_points, 22);
        assert_eq!(
            ids(&p)[..6],
            [
                "loop/hash/p1/c8",
                "loop/hash/p1/c32",
                "loop/hash/p4/c8",
                "loop/hash/p4/c32",
                "loop/net/c8",
                "loop/net/c32"
            ]
        );
        assert!(ids(&p).contains(&"cluster/hash/p4/k3/c32"));
        assert!(ids(&p).contains(&"cluster/net/k2/c8"));
        assert_eq!(ids(&p)[21], "tokio/net/c32");
        assert!(p.dropped.is_empty());
        // 22 points x 3 repetitions x (500 + 1000 + 50) ms.
        assert_eq!(p.estimated_ms(), 22 * 3 * 1_550);
    }

    #[test]
    fn each_round_is_a_seeded_permutation_of_the_points_with_that_many_repetitions() {
        let p = plan(&spec("repetitions = 3"), None).unwrap();
        let ids = |round| -> Vec<String> {
            p.round_order(round)
                .iter()
                .map(|pt| pt.id.clone())
                .collect()
        };
        let (first, second) = (ids(0), ids(1));
        let mut sorted = first.clone();
        sorted.sort();
        let mut all: Vec<String> = p.points.iter().map(|pt| pt.id.clone()).collect();
        all.sort();
        assert_eq!(sorted, all, "every point once per round");
        assert_ne!(first, second, "rounds are shuffled apart");
        assert_eq!(ids(0), first, "deterministic");
        assert!(ids(3).is_empty(), "no fourth round of three repetitions");
        let seeded = plan(&spec("repetitions = 3\nseed = 7"), None).unwrap();
        let seeded_ids: Vec<&str> = seeded
            .round_order(0)
            .iter()
            .map(|pt| pt.id.as_str())
            .collect();
        assert_ne!(seeded_ids, first, "the sweep's seed orders the rounds");
    }

    #[test]
    fn a_plan_too_big_is_refused_before_it_is_built() {
        let pools: Vec<String> = (1..=1024).map(|p| p.to_string()).collect();
        let conns: Vec<String> = (1..=10_000).map(|c| c.to_string()).collect();
        let toml = format!(
            "pool_sizes = [{}]\nconnections = [{}]",
            pools.join(","),
            conns.join(",")
        );
        let err = plan(&spec(&toml), None).unwrap_err().to_string();
        assert!(err.contains("more than the 10000 a plan may have"), "{err}");
        // The default sweep is far below the bound.
        assert!(upper_bound(&spec("")) < 200);
    }

    #[test]
    fn ids_are_unique() {
        let p = plan(&spec("rates = [100, 200]\nconnections = [4, 8]"), None).unwrap();
        let mut seen = std::collections::HashSet::new();
        assert!(p.points.iter().all(|pt| seen.insert(pt.id.clone())));
        assert!(ids(&p).contains(&"cluster/web/p2/k1/c8/r200"));
        assert_eq!(
            p.points.len(),
            46 * 4,
            "every default point, times 2 connections x 2 rates"
        );
    }

    #[test]
    fn pool_is_not_swept_where_no_pool_works() {
        let p = plan(&spec(""), None).unwrap();
        for point in &p.points {
            let c = &point.coords;
            let reads = point.deployment.mix.iter().any(|(k, _)| *k == Kind::File);
            let pool_idle = c.workload == "net"
                || matches!(c.strategy, Strategy::Tokio | Strategy::Rayon)
                || (matches!(c.strategy, Strategy::Workers | Strategy::LoopBlocking) && !reads);
            assert_eq!(c.pool.is_none(), pool_idle, "{}", point.id);
            assert_eq!(c.processes.is_some(), c.strategy == Strategy::Cluster);
            assert_eq!(c.workers.is_some(), c.strategy == Strategy::Workers);
            assert_eq!(c.id(), point.id);
        }
        let reasons: Vec<_> = p
            .pool_not_swept
            .iter()
            .map(|d| (d.pair.as_str(), d.reason))
            .collect();
        assert!(reasons.contains(&("loop/net", "hello never uses the pool")));
        assert!(reasons.contains(&("tokio/hash", "no libuv pool in this strategy")));
    }

    #[test]
    fn pairs_that_make_no_sense_are_dropped_with_a_reason() {
        let s = spec("strategies = [\"loop-blocking\", \"workers\", \"rayon\"]");
        let p = plan(&s, None).unwrap();
        let dropped: Vec<_> = p.dropped.iter().map(|d| d.pair.as_str()).collect();
        assert_eq!(
            dropped,
            [
                "loop-blocking/file",
                "loop-blocking/net",
                "workers/file",
                "workers/net",
                "rayon/hash",
                "rayon/file",
                "rayon/net",
                "rayon/web"
            ]
        );
        assert!(p.dropped[4].reason.contains("batch"));
        // In batch mode rayon runs hash, net is dropped, and no point has connections.
        let batch = plan(
            &spec("mode = \"batch\"\nstrategies = [\"loop\", \"rayon\"]"),
            None,
        )
        .unwrap();
        assert_eq!(
            ids(&batch),
            [
                "loop/hash/p1",
                "loop/hash/p2",
                "loop/hash/p4",
                "loop/file/p1",
                "loop/file/p2",
                "loop/file/p4",
                "loop/web/p1",
                "loop/web/p2",
                "loop/web/p4",
                "rayon/hash"
            ]
        );
        assert!(batch
            .points
            .iter()
            .all(|pt| pt.load == Load::Batch { jobs: 64 }));
    }

    #[test]
    fn a_plan_with_nothing_left_says_why() {
        let s = spec("strategies = [\"rayon\"]\nworkloads = [\"net\"]");
        assert_eq!(
            plan(&s, None).unwrap_err().to_string(),
            "the plan is empty: every strategy/workload pair was dropped (rayon/net: rayon is a \
             batch CPU reference: it runs only hash, in batch mode); add strategies or workloads"
        );
    }

    #[test]
    fn printed_default_round_trips_to_the_same_plan() {
        let reparsed = SweepConfig::parse("copy.toml", DEFAULT_TOML)
            .unwrap()
            .resolve()
            .unwrap();
        let builtin = SweepConfig::builtin(false).resolve().unwrap();
        assert_eq!(
            plan(&reparsed, None).unwrap(),
            plan(&builtin, None).unwrap()
        );
        let points = plan(&builtin, None).unwrap().points;
        assert_eq!(points.len(), 64);
        // Every looplab point but tokio's (one per workload) has its Node twin.
        let on_node = points.iter().filter(|p| p.coords.runtime == Runtime::Node);
        assert_eq!(on_node.count(), (64 - 4) / 2);
    }

    #[test]
    fn seed_shuffles_deterministically_and_shards_partition() {
        let ordered = plan(&spec(""), None).unwrap();
        let seeded = spec("seed = 42");
        let a = plan(&seeded, None).unwrap();
        assert_eq!(a, plan(&seeded, None).unwrap());
        assert_ne!(ids(&a), ids(&ordered));
        let mut sorted_a = ids(&a);
        let mut sorted_o = ids(&ordered);
        sorted_a.sort();
        sorted_o.sort();
        assert_eq!(sorted_a, sorted_o);
        for count in [1, 3, 5] {
            let mut union: Vec<String> = (1..=count)
                .flat_map(|index| plan(&seeded, Some(Shard { index, count })).unwrap().points)
                .map(|pt| pt.id)
                .collect();
            union.sort();
            assert_eq!(union, sorted_o, "{count} shards");
        }
    }
}
