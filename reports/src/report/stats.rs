//! Statistics over repetitions: the [`Summary`] of one metric (median, min, max, count) and
//! the noise rule that decides whether two configurations really differ.
//!
//! The noise rule, as the report states it:
//! 1. With at least [`MIN_REPS_FOR_TEST`] ok repetitions on each side: a two-sided
//!    Mann-Whitney U test at 5 %. Exact (every split of the pooled samples enumerated, ties
//!    as mid-ranks) up to [`EXACT_LIMIT`] splits, the normal approximation with tie and
//!    continuity corrections beyond. With 3 and 3 the smallest two-sided p is 0.1, so the test
//!    can never call a difference real: 4 or more repetitions are needed for that.
//! 2. With fewer (but at least 2 on each side): beyond noise only when the min..max ranges do
//!    not overlap.
//! 3. With a single repetition on either side there is no spread to judge by: unknown.

/// Repetitions per side from which the Mann-Whitney test is used.
pub const MIN_REPS_FOR_TEST: usize = 3;
/// Largest number of splits (n1+n2 choose n1) enumerated for an exact p-value.
const EXACT_LIMIT: u64 = 200_000;
/// Significance level of the test.
pub const ALPHA: f64 = 0.05;

/// One metric of one point over its ok repetitions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    /// Median (mean of the two middle values for an even count).
    pub median: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Number of values.
    pub count: usize,
}

impl Summary {
    /// The summary of `values`, or `None` when there are none. NaNs never reach here: the
    /// store refuses non-finite metrics.
    pub fn of(values: &[f64]) -> Option<Self> {
        if values.is_empty() {
            return None;
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
        };
        Some(Self {
            median,
            min: sorted[0],
            max: sorted[n - 1],
            count: n,
        })
    }

    /// (max - min) / median: the spread relative to the median; 0 when the median is 0.
    pub fn relative_spread(&self) -> f64 {
        if self.median == 0.0 {
            0.0
        } else {
            (self.max - self.min) / self.median.abs()
        }
    }
}

/// Whether two sets of repetitions differ beyond the noise.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Noise {
    /// Mann-Whitney rejected equality at 5 %.
    Beyond {
        /// The two-sided p-value.
        p: f64,
    },
    /// Mann-Whitney did not.
    Within {
        /// The two-sided p-value.
        p: f64,
    },
    /// Too few repetitions for the test; the min..max ranges do not overlap.
    RangesApart,
    /// Too few repetitions for the test; the min..max ranges overlap.
    RangesOverlap,
    /// A single repetition on one side: no spread to judge by.
    Unknown,
}

impl Noise {
    /// Whether the difference counts as real.
    pub fn is_beyond(self) -> bool {
        matches!(self, Noise::Beyond { .. } | Noise::RangesApart)
    }

    /// A short phrase for tables: `yes (p = 0.03)`, `no (ranges overlap)`, ...
    pub fn describe(self) -> String {
        match self {
            Noise::Beyond { p } => format!("yes (Mann-Whitney p = {p:.3})"),
            Noise::Within { p } => format!("no (Mann-Whitney p = {p:.3})"),
            Noise::RangesApart => "yes (min..max ranges apart)".into(),
            Noise::RangesOverlap => "no (min..max ranges overlap)".into(),
            Noise::Unknown => "unknown (single repetition)".into(),
        }
    }
}

/// Applies the noise rule of the module doc to two samples.
pub fn compare(a: &[f64], b: &[f64]) -> Noise {
    if a.len() < 2 || b.len() < 2 {
        return Noise::Unknown;
    }
    if a.len() >= MIN_REPS_FOR_TEST && b.len() >= MIN_REPS_FOR_TEST {
        let p = mann_whitney_p(a, b);
        return if p < ALPHA {
            Noise::Beyond { p }
        } else {
            Noise::Within { p }
        };
    }
    let (sa, sb) = (Summary::of(a), Summary::of(b));
    match (sa, sb) {
        (Some(x), Some(y)) if x.max < y.min || y.max < x.min => Noise::RangesApart,
        _ => Noise::RangesOverlap,
    }
}

/// Mid-ranks (1-based) of the pooled samples, `a` first then `b`.
fn mid_ranks(pooled: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..pooled.len()).collect();
    order.sort_by(|&i, &j| pooled[i].total_cmp(&pooled[j]));
    let mut ranks = vec![0.0; pooled.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && pooled[order[end]] == pooled[order[start]] {
            end += 1;
        }
        // Positions start..end (0-based) share the mean of ranks start+1..=end.
        let rank = (start + end + 1) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = rank;
        }
        start = end;
    }
    ranks
}

fn choose(n: u64, k: u64) -> u64 {
    let k = k.min(n - k);
    (0..k).fold(1u64, |acc, i| acc.saturating_mul(n - i) / (i + 1))
}

/// Two-sided p-value of the Mann-Whitney U test of `a` against `b`.
pub fn mann_whitney_p(a: &[f64], b: &[f64]) -> f64 {
    let (n1, n2) = (a.len(), b.len());
    let pooled: Vec<f64> = a.iter().chain(b).copied().collect();
    let ranks = mid_ranks(&pooled);
    let u_of = |rank_sum: f64| rank_sum - (n1 * (n1 + 1)) as f64 / 2.0;
    let centre = (n1 * n2) as f64 / 2.0;
    let observed = (u_of(ranks[..n1].iter().sum()) - centre).abs();
    if choose((n1 + n2) as u64, n1 as u64) <= EXACT_LIMIT {
        let (mut extreme, mut total) = (0u64, 0u64);
        let mut chosen = Vec::with_capacity(n1);
        enumerate(&ranks, n1, 0, &mut chosen, &mut |sum| {
            total += 1;
            // A small tolerance: mid-ranks are halves, sums are exact in f64.
            if (u_of(sum) - centre).abs() >= observed - 1e-9 {
                extreme += 1;
            }
        });
        return extreme as f64 / total as f64;
    }
    let n = (n1 + n2) as f64;
    let ties: f64 = tie_sizes(&pooled).iter().map(|&t| t * t * t - t).sum();
    let variance = (n1 * n2) as f64 / 12.0 * ((n + 1.0) - ties / (n * (n - 1.0)));
    if variance <= 0.0 {
        return 1.0;
    }
    let z = ((observed - 0.5).max(0.0)) / variance.sqrt();
    (2.0 * normal_upper_tail(z)).min(1.0)
}

/// Calls `visit` with the rank sum of every `k`-subset of `ranks[from..]` added to `chosen`.
fn enumerate(
    ranks: &[f64],
    k: usize,
    from: usize,
    chosen: &mut Vec<f64>,
    visit: &mut dyn FnMut(f64),
) {
    if chosen.len() == k {
        visit(chosen.iter().sum());
        return;
    }
    let needed = k - chosen.len();
    for i in from..=ranks.len() - needed {
        chosen.push(ranks[i]);
        enumerate(ranks, k, i + 1, chosen, visit);
        chosen.pop();
    }
}

fn tie_sizes(values: &[f64]) -> Vec<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mut sizes = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i + 1;
        while j < sorted.len() && sorted[j] == sorted[i] {
            j += 1;
        }
        sizes.push((j - i) as f64);
        i = j;
    }
    sizes
}

/// P(Z > z) for a standard normal Z (Abramowitz and Stegun 7.1.26, error below 1.5e-7).
fn normal_upper_tail(z: f64) -> f64 {
    let x = z / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erfc = poly * (-x * x).exp();
    erfc / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_takes_the_middle_and_the_ends() {
        let s = Summary::of(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max, s.count), (2.0, 1.0, 3.0, 3));
        assert_eq!(Summary::of(&[4.0, 1.0, 3.0, 2.0]).unwrap().median, 2.5);
        assert_eq!(Summary::of(&[]), None);
        assert!((Summary::of(&[90.0, 110.0]).unwrap().relative_spread() - 0.2).abs() < 1e-12);
    }

    #[test]
    fn exact_p_values_match_the_tables() {
        // Completely separated 3 vs 3: 2 of the 20 splits are as extreme.
        assert!((mann_whitney_p(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]) - 0.1).abs() < 1e-12);
        // 4 vs 4 separated: 2 / 70.
        let p = mann_whitney_p(&[1.0, 2.0, 3.0, 4.0], &[5.0, 6.0, 7.0, 8.0]);
        assert!((p - 2.0 / 70.0).abs() < 1e-12);
        // Interleaved samples are not different.
        assert!(mann_whitney_p(&[1.0, 3.0, 5.0, 7.0], &[2.0, 4.0, 6.0, 8.0]) > 0.5);
        // All ties: nothing to tell apart.
        assert_eq!(mann_whitney_p(&[1.0, 1.0, 1.0], &[1.0, 1.0, 1.0]), 1.0);
    }

    #[test]
    fn large_samples_use_the_normal_approximation() {
        let a: Vec<f64> = (0..30).map(f64::from).collect();
        let b: Vec<f64> = (0..30).map(|i| f64::from(i) + 100.0).collect();
        assert!(mann_whitney_p(&a, &b) < 1e-6);
        let c: Vec<f64> = (0..30).map(|i| f64::from(i) + 0.5).collect();
        assert!(mann_whitney_p(&a, &c) > 0.5);
        assert!((normal_upper_tail(1.959_964) - 0.025).abs() < 1e-6);
    }

    #[test]
    fn the_noise_rule_depends_on_the_repetitions() {
        assert_eq!(compare(&[1.0], &[5.0, 6.0]), Noise::Unknown);
        assert_eq!(compare(&[1.0, 2.0], &[5.0, 6.0]), Noise::RangesApart);
        assert_eq!(compare(&[1.0, 5.5], &[5.0, 6.0]), Noise::RangesOverlap);
        assert!(matches!(
            compare(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]),
            Noise::Within { .. }
        ));
        assert!(compare(&[1.0, 2.0, 3.0, 4.0], &[5.0, 6.0, 7.0, 8.0]).is_beyond());
    }
}
