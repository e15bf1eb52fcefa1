//! Comparing two completion orders (looplab's and Node's) of one scenario.
//!
//! Racy groups are compared as sets: in each order, the positions held by a group's labels
//! keep being that group's, but the labels in them are put in a fixed (sorted) order. Two
//! orders agree when these canonical forms are equal: every label outside racy groups is in the
//! same place, and each group occupies the same places.
//!
//! Measures, all on the canonical forms: whether they are identical, Spearman's rho and
//! Kendall's tau of the two rankings (over the labels both have), the first place they differ,
//! and the ratio of total times (looplab over Node; above 1 means looplab took longer).

use std::collections::HashMap;

use serde::Serialize;

use super::model::Scenario;
use super::run::Timeline;

/// One looplab run against one Node run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Comparison {
    /// Same order, racy groups compared as sets.
    pub identical: bool,
    /// Same order, label for label (racy groups included).
    pub exact: bool,
    /// Spearman's rank correlation of the two orders (1: identical).
    pub spearman: f64,
    /// Kendall's rank correlation (1: identical).
    pub kendall: f64,
    /// The first place the orders differ, in words.
    pub first_difference: Option<String>,
    /// looplab's total time (ms to the last completion).
    pub looplab_ms: f64,
    /// Node's total time.
    pub node_ms: f64,
    /// `looplab_ms / node_ms`.
    pub time_ratio: f64,
}

/// `order` with each racy group's labels sorted within the positions the group holds.
/// One pass to find each group's positions (a label -> group map), then one sort per group.
pub fn canonical(order: &[&str], racy: &[Vec<String>]) -> Vec<String> {
    let mut out: Vec<String> = order.iter().map(|s| s.to_string()).collect();
    let group_of: HashMap<&str, usize> = racy
        .iter()
        .enumerate()
        .flat_map(|(g, labels)| labels.iter().map(move |l| (l.as_str(), g)))
        .collect();
    let mut positions: Vec<Vec<usize>> = vec![Vec::new(); racy.len()];
    for (i, label) in order.iter().enumerate() {
        if let Some(&g) = group_of.get(label) {
            positions[g].push(i);
        }
    }
    for places in positions {
        let mut labels: Vec<String> = places.iter().map(|&i| out[i].clone()).collect();
        labels.sort();
        for (&i, label) in places.iter().zip(labels) {
            out[i] = label;
        }
    }
    out
}

/// Compares looplab's timeline with Node's for `scenario`.
pub fn compare(scenario: &Scenario, looplab: &Timeline, node: &Timeline) -> Comparison {
    let (a, b) = (looplab.order(), node.order());
    let (ca, cb) = (canonical(&a, &scenario.racy), canonical(&b, &scenario.racy));
    let (looplab_ms, node_ms) = (looplab.total_ms(), node.total_ms());
    Comparison {
        identical: ca == cb,
        exact: a == b,
        spearman: spearman(&ca, &cb),
        kendall: kendall(&ca, &cb),
        first_difference: first_difference(&ca, &cb),
        looplab_ms,
        node_ms,
        time_ratio: if node_ms > 0.0 {
            looplab_ms / node_ms
        } else {
            f64::NAN
        },
    }
}

/// Where `a` (looplab) and `b` (Node) first differ: `#N: looplab X, node Y`.
pub fn first_difference(a: &[String], b: &[String]) -> Option<String> {
    let n = a.len().max(b.len());
    (0..n).find(|&i| a.get(i) != b.get(i)).map(|i| {
        let show = |s: Option<&String>| s.map_or("nothing".to_string(), |s| format!("`{s}`"));
        format!(
            "#{}: looplab {}, node {}",
            i + 1,
            show(a.get(i)),
            show(b.get(i))
        )
    })
}

/// The ranks in `b` of the labels of `a` that `b` also has, in `a`'s order (both re-ranked
/// 0..n over the common labels).
fn paired_ranks(a: &[String], b: &[String]) -> Vec<usize> {
    let in_a: HashMap<&str, usize> = a.iter().enumerate().map(|(i, s)| (s.as_str(), i)).collect();
    let common_b: Vec<&str> = b
        .iter()
        .map(String::as_str)
        .filter(|s| in_a.contains_key(s))
        .collect();
    let rank_b: HashMap<&str, usize> = common_b.iter().enumerate().map(|(i, s)| (*s, i)).collect();
    a.iter()
        .filter_map(|s| rank_b.get(s.as_str()).copied())
        .collect()
}

/// Spearman's rho of two orders without ties; 1 when fewer than two labels are shared.
pub fn spearman(a: &[String], b: &[String]) -> f64 {
    let ranks = paired_ranks(a, b);
    let n = ranks.len() as f64;
    if ranks.len() < 2 {
        return 1.0;
    }
    let d2: f64 = ranks
        .iter()
        .enumerate()
        .map(|(i, &r)| (i as f64 - r as f64).powi(2))
        .sum();
    1.0 - 6.0 * d2 / (n * (n * n - 1.0))
}

/// Kendall's tau of two orders without ties; 1 when fewer than two labels are shared.
/// Without ties, tau = 1 - 2 * discordant pairs / all pairs, and the discordant pairs are the
/// inversions of the paired ranks, counted by a merge sort: O(n log n).
pub fn kendall(a: &[String], b: &[String]) -> f64 {
    let mut ranks = paired_ranks(a, b);
    let n = ranks.len();
    if n < 2 {
        return 1.0;
    }
    let pairs = (n * (n - 1) / 2) as f64;
    let discordant = inversions(&mut ranks, &mut vec![0; n]) as f64;
    1.0 - 2.0 * discordant / pairs
}

/// The pairs `i < j` with `v[i] > v[j]`; sorts `v` (`scratch` is as long as `v`).
fn inversions(v: &mut [usize], scratch: &mut [usize]) -> u64 {
    let n = v.len();
    if n < 2 {
        return 0;
    }
    let mid = n / 2;
    let mut count = {
        let (left, right) = v.split_at_mut(mid);
        let (s_left, s_right) = scratch.split_at_mut(mid);
        inversions(left, s_left) + inversions(right, s_right)
    };
    let (mut i, mut j) = (0, mid);
    for slot in scratch.iter_mut() {
        if j == n || (i < mid && v[i] <= v[j]) {
            *slot = v[i];
            i += 1;
        } else {
            // v[j] comes before every element left in the first half.
            *slot = v[j];
            count += (mid - i) as u64;
            j += 1;
        }
    }
    v.copy_from_slice(scratch);
    count
}

/// Several runs of both sides, summed up.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    /// Runs whose orders agreed (racy groups as sets).
    pub agreeing: usize,
    /// Runs.
    pub runs: usize,
    /// Whether every run agreed.
    pub order_identical: bool,
    /// Mean Spearman's rho over the runs.
    pub rank_correlation: f64,
    /// Mean Kendall's tau over the runs.
    pub kendall: f64,
    /// The first difference of the first run that disagreed.
    pub first_difference: Option<String>,
    /// Median over the runs of looplab's total time over Node's.
    pub time_ratio: f64,
}

impl Summary {
    /// Sums up `comparisons` (one per run).
    pub fn of(comparisons: &[Comparison]) -> Summary {
        let runs = comparisons.len();
        let agreeing = comparisons.iter().filter(|c| c.identical).count();
        let mean =
            |f: fn(&Comparison) -> f64| comparisons.iter().map(f).sum::<f64>() / runs.max(1) as f64;
        let mut ratios: Vec<f64> = comparisons.iter().map(|c| c.time_ratio).collect();
        ratios.sort_by(f64::total_cmp);
        Summary {
            agreeing,
            runs,
            order_identical: runs > 0 && agreeing == runs,
            rank_correlation: mean(|c| c.spearman),
            kendall: mean(|c| c.kendall),
            first_difference: comparisons.iter().find_map(|c| c.first_difference.clone()),
            time_ratio: ratios.get(runs / 2).copied().unwrap_or(f64::NAN),
        }
    }

    /// `agreeing/runs`, like `4/5`.
    pub fn agreement(&self) -> String {
        format!("{}/{}", self.agreeing, self.runs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(labels: &[&str]) -> Vec<String> {
        labels.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn racy_groups_compare_as_sets_in_the_places_they_hold() {
        let racy = vec![owned(&["t", "i"])];
        assert_eq!(
            canonical(&["i", "x", "t"], &racy),
            canonical(&["t", "x", "i"], &racy)
        );
        assert_ne!(
            canonical(&["x", "t", "i"], &racy),
            canonical(&["t", "x", "i"], &racy)
        );
        assert_eq!(canonical(&["a", "b"], &[]), owned(&["a", "b"]));
    }

    #[test]
    fn rank_correlations_of_known_orders() {
        let a = owned(&["a", "b", "c", "d"]);
        let reversed = owned(&["d", "c", "b", "a"]);
        assert_eq!(spearman(&a, &a), 1.0);
        assert_eq!(kendall(&a, &a), 1.0);
        assert_eq!(spearman(&a, &reversed), -1.0);
        assert_eq!(kendall(&a, &reversed), -1.0);
        let swapped = owned(&["b", "a", "c", "d"]);
        assert!((spearman(&a, &swapped) - 0.8).abs() < 1e-9);
        assert!((kendall(&a, &swapped) - 4.0 / 6.0).abs() < 1e-9);
        assert_eq!(spearman(&owned(&["a"]), &owned(&["a"])), 1.0);
    }

    #[test]
    fn kendall_counts_discordant_pairs_as_the_pairwise_definition_does() {
        // The O(n^2) definition, against the merge-sort count, on scrambled orders.
        let a: Vec<String> = (0..200).map(|i| format!("l{i}")).collect();
        for step in [1usize, 7, 13, 101] {
            let b: Vec<String> = (0..200).map(|i| a[(i * step) % 200].clone()).collect();
            let ranks = paired_ranks(&a, &b);
            let n = ranks.len();
            let mut score = 0i64;
            for i in 0..n {
                for j in i + 1..n {
                    score += if ranks[i] < ranks[j] { 1 } else { -1 };
                }
            }
            let pairwise = score as f64 / (n * (n - 1) / 2) as f64;
            assert!((kendall(&a, &b) - pairwise).abs() < 1e-12, "step {step}");
        }
    }

    #[test]
    fn canonical_handles_many_racy_groups() {
        // 50,000 racy pairs over 100,000 labels: each group is found in one pass.
        let order: Vec<String> = (0..100_000).map(|i| format!("l{i}")).collect();
        let racy: Vec<Vec<String>> = order
            .chunks(2)
            .map(|c| vec![c[1].clone(), c[0].clone()])
            .collect();
        let reversed_pairs: Vec<&str> = order
            .chunks(2)
            .flat_map(|c| [c[1].as_str(), c[0].as_str()])
            .collect();
        let plain: Vec<&str> = order.iter().map(String::as_str).collect();
        assert_eq!(canonical(&reversed_pairs, &racy), canonical(&plain, &racy));
    }

    #[test]
    fn the_first_difference_names_both_sides() {
        let a = owned(&["x", "y", "z"]);
        assert_eq!(first_difference(&a, &a), None);
        assert_eq!(
            first_difference(&a, &owned(&["x", "z", "y"])).as_deref(),
            Some("#2: looplab `y`, node `z`")
        );
        assert_eq!(
            first_difference(&a, &owned(&["x", "y"])).as_deref(),
            Some("#3: looplab `z`, node nothing")
        );
    }

    #[test]
    fn a_summary_counts_agreeing_runs() {
        let c = |identical: bool, ratio: f64| Comparison {
            identical,
            exact: identical,
            spearman: if identical { 1.0 } else { 0.5 },
            kendall: 1.0,
            first_difference: (!identical).then(|| "#1".to_string()),
            looplab_ms: ratio,
            node_ms: 1.0,
            time_ratio: ratio,
        };
        let s = Summary::of(&[c(true, 1.0), c(false, 3.0), c(true, 2.0)]);
        assert_eq!(s.agreement(), "2/3");
        assert!(!s.order_identical);
        assert_eq!(s.time_ratio, 2.0);
        assert_eq!(s.first_difference.as_deref(), Some("#1"));
        assert!((s.rank_correlation - 2.5 / 3.0).abs() < 1e-9);
    }
}
