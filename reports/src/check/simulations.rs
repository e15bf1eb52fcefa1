//! The statistics on synthetic sweeps: log-normal repetitions (noise given as the standard
//! deviation of the logarithm, so 0.10 is about 10%), drawn from a seeded SplitMix64, so every
//! figure below is the same on every machine.
//!
//! A synthetic sweep is the quick sweep's shape: 11 points x 5 metrics = 55 comparisons.

use super::stats::median;
use super::verdict::{compare, Comparison, Thresholds, Verdict, METRICS};
use super::Samples;

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, well known, good enough for simulations.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1].
    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    }

    /// Standard normal, Box-Muller.
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

const POINTS: usize = 11;

/// One side of a synthetic sweep: every metric of every point is `n` log-normal values around
/// 1000 with log-sd `noise`, multiplied by `shift(point, metric)`.
fn side(
    rng: &mut SplitMix64,
    n: usize,
    noise: f64,
    shift: impl Fn(usize, usize) -> f64,
) -> Samples {
    (0..POINTS)
        .map(|p| {
            let metrics = METRICS
                .iter()
                .enumerate()
                .map(|(m, rule)| {
                    let values = (0..n)
                        .map(|_| 1000.0 * shift(p, m) * (noise * rng.normal()).exp())
                        .collect();
                    (rule.name.to_string(), values)
                })
                .collect();
            (format!("loop/hash/p{p}/c8"), metrics)
        })
        .collect()
}

fn flagged(c: &Comparison) -> usize {
    c.count(Verdict::Regressed) + c.count(Verdict::Improved)
}

/// Over `runs` seeded synthetic sweeps: how many flagged anything, and how many comparisons
/// were flagged in all.
fn false_alarms(runs: u64, n: usize, noise: f64) -> (usize, usize) {
    let (mut sweeps, mut comparisons) = (0, 0);
    for seed in 0..runs {
        let mut rng = SplitMix64(seed);
        let base = side(&mut rng, n, noise, |_, _| 1.0);
        let new = side(&mut rng, n, noise, |_, _| 1.0);
        let found = flagged(&compare(&base, &new, &Thresholds::default()));
        sweeps += usize::from(found > 0);
        comparisons += found;
    }
    (sweeps, comparisons)
}

/// Over `runs` seeded sweeps where point 0's throughput is 20% lower: how often it was found.
fn power_of_a_lone_20_percent_drop(runs: u64, n: usize, noise: f64) -> usize {
    (0..runs)
        .filter(|&seed| {
            let mut rng = SplitMix64(1_000 + seed);
            let base = side(&mut rng, n, noise, |_, _| 1.0);
            let new = side(
                &mut rng,
                n,
                noise,
                |p, m| if (p, m) == (0, 0) { 0.8 } else { 1.0 },
            );
            compare(&base, &new, &Thresholds::default()).metrics[0].verdict == Verdict::Regressed
        })
        .count()
}

#[test]
fn identical_distributions_give_no_change() {
    let mut rng = SplitMix64(7);
    let base = side(&mut rng, 3, 0.10, |_, _| 1.0);
    let c = compare(&base, &base, &Thresholds::default());
    assert_eq!(c.tested, 55);
    assert_eq!(c.count(Verdict::NoChange), 55);
    assert!(c.metrics.iter().all(|m| m.p_value == Some(1.0)));
}

#[test]
fn ten_percent_noise_alone_is_rarely_flagged() {
    // 400 sweeps of 55 comparisons, both sides drawn from one distribution with 10% noise.
    // With nothing changed, BH at 5% flags something in at most 5% of sweeps (20 of 400);
    // measured: 12 at n = 3, 14 at n = 5, one comparison each.
    for n in [3, 5] {
        let (sweeps, comparisons) = false_alarms(400, n, 0.10);
        assert!(
            sweeps <= 20 && comparisons <= 24,
            "n {n}: {sweeps} of 400 sweeps flagged something ({comparisons} comparisons)"
        );
    }
    // Quiet metrics (2%) almost never cross the 5% threshold at all: 1 of 400.
    assert!(false_alarms(400, 3, 0.02).0 <= 4);
}

#[test]
fn a_20_percent_drop_is_found_with_the_default_repetitions() {
    // The default of scripts/ab.sh, 5 repetitions per side, a lone change among 55
    // comparisons: found every time in 3% noise (hashing throughput), 175 of 200 in 5%.
    assert_eq!(power_of_a_lone_20_percent_drop(200, 5, 0.03), 200);
    assert!(power_of_a_lone_20_percent_drop(200, 5, 0.05) >= 160);
    // The minimum, 3 per side, finds it only when the repetitions agree within about 2%.
    assert!(power_of_a_lone_20_percent_drop(200, 3, 0.02) >= 100);
}

#[test]
fn a_halved_throughput_on_every_hash_point_is_found_with_three_repetitions() {
    // A deliberately slowed hash path (twice the iterations) at the minimum repetitions, in 5%
    // noise: many comparisons move at once, and BH's threshold grows with each discovery.
    let (mut found, mut wrong) = (0, 0);
    for seed in 0..100 {
        let mut rng = SplitMix64(5_000 + seed);
        let base = side(&mut rng, 3, 0.05, |_, _| 1.0);
        let new = side(
            &mut rng,
            3,
            0.05,
            |p, m| if p < 5 && m == 0 { 0.5 } else { 1.0 },
        );
        let c = compare(&base, &new, &Thresholds::default());
        for m in &c.metrics {
            let changed = m.metric == "throughput_per_s"
                && (0..5).any(|p| m.point_id == format!("loop/hash/p{p}/c8"));
            let flag = matches!(m.verdict, Verdict::Regressed | Verdict::Improved);
            found += usize::from(changed && m.verdict == Verdict::Regressed);
            wrong += usize::from(flag && !changed);
        }
    }
    assert!(found >= 475, "{found} of 500 halved throughputs found");
    // What BH promises: false discoveries at most 5% of all discoveries (measured: 15 of 5000
    // unchanged comparisons, against about 500 true ones).
    assert!(
        wrong * 20 <= found + wrong,
        "{wrong} unchanged comparisons flagged"
    );
}

/// The percentile bootstrap of the ratio of medians that the module doc rejects: 2000 resamples,
/// "significant" when the 95% interval excludes 1 (uncorrected, its most lenient use).
fn bootstrap_flags(rng: &mut SplitMix64, base: &[f64], new: &[f64]) -> bool {
    let mut ratios: Vec<f64> = (0..2000)
        .map(|_| {
            let resample = |v: &[f64], rng: &mut SplitMix64| -> Vec<f64> {
                (0..v.len()).map(|_| v[rng.below(v.len())]).collect()
            };
            let b = resample(base, rng);
            let n = resample(new, rng);
            median(&n) / median(&b)
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    ratios[49] > 1.0 || ratios[1950] < 1.0
}

#[test]
fn a_bootstrap_at_three_repetitions_cries_wolf() {
    // Identical distributions, 3 values per side: the interval excludes 1 whenever the samples
    // do not overlap, 2 / C(6, 3) = 10% of the time, whatever the resampling claims.
    let mut rng = SplitMix64(99);
    let trials = 1_000;
    let flags = (0..trials)
        .filter(|_| {
            let base: Vec<f64> = (0..3)
                .map(|_| rng.normal())
                .map(|z| (0.1 * z).exp())
                .collect();
            let new: Vec<f64> = (0..3)
                .map(|_| rng.normal())
                .map(|z| (0.1 * z).exp())
                .collect();
            bootstrap_flags(&mut rng, &base, &new)
        })
        .count();
    assert!(
        (70..=130).contains(&flags),
        "{flags} of {trials} null comparisons flagged"
    );
}

/// Prints the figures quoted in the module doc: `cargo test -p looplab-reports -- --ignored
/// --nocapture power_table`.
#[test]
#[ignore]
fn power_table() {
    for n in [3, 4, 5, 7] {
        for noise in [0.02, 0.05, 0.10] {
            let (sweeps, comparisons) = false_alarms(400, n, noise);
            let power = power_of_a_lone_20_percent_drop(200, n, noise);
            println!(
                "n {n} noise {noise:.2}: null sweeps flagged {sweeps}/400 ({comparisons} comparisons); lone 20% drop found {power}/200"
            );
        }
    }
}
