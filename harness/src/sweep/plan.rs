//! Stage 2: a validated [`SweepSpec`] becomes a [`Plan`]: the points to run, in order.
//!
//! The rule of this stage. The plan is the product strategies x workloads x pool sizes x
//! cluster counts x worker counts x connections x rates, taken in the order the axes list their
//! values (strategy outermost, rate innermost), pruned as follows:
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

use super::error::ConfigError;
use super::order::{shuffle, Shard};
use super::spec::{Load, Mode, PointSpec, Pruned, Strategy, SweepSpec, Workload};

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
}

impl Plan {
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

/// Builds the plan of `spec` (its shard, if any), or says why it is empty.
pub fn plan(spec: &SweepSpec, shard: Option<Shard>) -> Result<Plan, ConfigError> {
    let mut all = Vec::new();
    let mut dropped = Vec::new();
    let mut pool_not_swept = Vec::new();
    for &strategy in &spec.strategies {
        for workload in &spec.workloads {
            let pair = format!("{}/{}", strategy.name(), workload.name);
            if let Some(reason) = drop_reason(spec.mode, strategy, workload) {
                dropped.push(Pruned { pair, reason });
                continue;
            }
            let pools: Vec<Option<u32>> = match pool_not_swept_reason(strategy, workload) {
                Some(reason) => {
                    pool_not_swept.push(Pruned { pair, reason });
                    vec![None]
                }
                None => spec.pool_sizes.iter().copied().map(Some).collect(),
            };
            for pool_size in pools {
                expand_counts(spec, strategy, workload, pool_size, &mut all);
            }
        }
    }
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
    })
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
    strategy: Strategy,
    workload: &Workload,
    pool_size: Option<u32>,
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
    for &cluster_count in &clusters {
        for &worker_count in &workers {
            for &load in &loads {
                let mut point = PointSpec {
                    id: String::new(),
                    mode: spec.mode,
                    strategy,
                    workload: workload.clone(),
                    pool_size,
                    cluster_count,
                    worker_count,
                    load,
                    timing: spec.timing,
                    repetitions: spec.repetitions,
                    params: spec.params,
                };
                point.id = point_id(&point);
                out.push(point);
            }
        }
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

/// `strategy/workload[/pP][/kK][/wW][/cC][/rR]`.
fn point_id(p: &PointSpec) -> String {
    let mut id = format!("{}/{}", p.strategy.name(), p.workload.name);
    let mut part = |prefix: &str, value: Option<u32>| {
        if let Some(v) = value {
            id.push_str(&format!("/{prefix}{v}"));
        }
    };
    part("p", p.pool_size);
    part("k", p.cluster_count);
    part("w", p.worker_count);
    match p.load {
        Load::Batch { .. } => {}
        Load::Closed { connections } => part("c", Some(connections)),
        Load::Open {
            connections,
            rate_per_s,
        } => {
            part("c", Some(connections));
            part("r", Some(rate_per_s));
        }
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::config::{SweepConfig, DEFAULT_TOML};

    /// The default sweep with `toml` laid over it, resolved.
    fn spec(toml: &str) -> SweepSpec {
        let file = SweepConfig::parse("t.toml", toml).unwrap();
        SweepConfig::builtin(false).overlay(file).resolve().unwrap()
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
        // 22 points x 2 repetitions x (500 + 1500 + 50) ms.
        assert_eq!(p.estimated_ms(), 22 * 2 * 2_050);
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
            let pool_idle = point.workload.name == "net"
                || matches!(point.strategy, Strategy::Tokio | Strategy::Rayon)
                || (matches!(point.strategy, Strategy::Workers | Strategy::LoopBlocking)
                    && !point.workload.has_file());
            assert_eq!(point.pool_size.is_none(), pool_idle, "{}", point.id);
            assert_eq!(
                point.cluster_count.is_some(),
                point.strategy == Strategy::Cluster
            );
            assert_eq!(
                point.worker_count.is_some(),
                point.strategy == Strategy::Workers
            );
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
        assert_eq!(plan(&builtin, None).unwrap().points.len(), 46);
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
