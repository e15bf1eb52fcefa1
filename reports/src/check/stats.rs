//! The statistics behind a verdict: medians, Welch's t-test on the logarithms of two samples,
//! Student's t distribution, and the Benjamini-Hochberg adjustment of many p-values.
//!
//! Pure functions on slices, no I/O. Why this test and this correction rather than a bootstrap
//! or a rank test is argued in the [`super`] module doc.

/// The median (mean of the two middle values for an even count); NaN for an empty slice.
pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    }
}

/// What Welch's test says about `ln(new)` against `ln(baseline)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WelchResult {
    /// Mean of `ln(new)` minus mean of `ln(baseline)`: the log of the ratio of geometric means.
    pub log_ratio: f64,
    /// The t statistic (infinite when both samples are constant and differ).
    pub t: f64,
    /// Welch-Satterthwaite degrees of freedom.
    pub df: f64,
    /// Two-sided p-value.
    pub p_value: f64,
}

/// Welch's unequal-variance t-test on the natural logarithms of the values, so that a change
/// is measured as a ratio (what the noise threshold speaks of) and the long right tail of
/// latencies and throughputs is tamed. `None` when a side has fewer than 2 values or a value
/// is not positive (no logarithm).
pub fn welch_log(baseline: &[f64], new: &[f64]) -> Option<WelchResult> {
    welch_log_contrast(&[(-1.0, baseline), (1.0, new)])
}

/// Welch's test of a contrast of log means, `Σ sign · mean(ln sample)`, with the
/// Welch-Satterthwaite degrees of freedom: [`welch_log`] is `[(-1, baseline), (1, new)]`, and
/// a ratio of two ratios (`(a / b) / (c / d)`) is `[(1, a), (-1, b), (-1, c), (1, d)]`. The
/// samples are independent repetitions. `None` when a sample has fewer than 2 values or a
/// value is not positive.
pub fn welch_log_contrast(terms: &[(f64, &[f64])]) -> Option<WelchResult> {
    let usable = |v: &[f64]| v.len() >= 2 && v.iter().all(|x| *x > 0.0);
    if terms.is_empty() || !terms.iter().all(|(_, v)| usable(v)) {
        return None;
    }
    // Per term: its signed log mean, its variance of the mean, and its count.
    let parts: Vec<(f64, f64, f64)> = terms
        .iter()
        .map(|(sign, v)| {
            let logs: Vec<f64> = v.iter().map(|x| x.ln()).collect();
            let (mean, var) = mean_and_variance(&logs);
            let n = logs.len() as f64;
            (sign * mean, sign * sign * var / n, n)
        })
        .collect();
    let log_ratio: f64 = parts.iter().map(|p| p.0).sum();
    let var: f64 = parts.iter().map(|p| p.1).sum();
    let se = var.sqrt();
    // Constant samples (a memory size counted in pages, a saturated count): any difference
    // at all is certain, none is no evidence.
    if se <= f64::EPSILON * log_ratio.abs().max(1.0) {
        let certain = log_ratio.abs() > 1e-12;
        return Some(WelchResult {
            log_ratio,
            t: if certain { f64::INFINITY } else { 0.0 },
            df: parts.iter().map(|p| p.2 - 1.0).sum(),
            p_value: if certain { 0.0 } else { 1.0 },
        });
    }
    let df = var * var / parts.iter().map(|p| p.1 * p.1 / (p.2 - 1.0)).sum::<f64>();
    let t = log_ratio / se;
    Some(WelchResult {
        log_ratio,
        t,
        df,
        p_value: t_two_sided_p(t, df),
    })
}

/// Mean and unbiased sample variance (n - 1 denominator) of at least two values.
pub(crate) fn mean_and_variance(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var)
}

/// P(|T| >= |t|) for Student's t with `df` degrees of freedom:
/// `I_{df / (df + t^2)}(df / 2, 1 / 2)`.
pub fn t_two_sided_p(t: f64, df: f64) -> f64 {
    if !t.is_finite() {
        return 0.0;
    }
    let x = df / (df + t * t);
    regularized_incomplete_beta(df / 2.0, 0.5, x).clamp(0.0, 1.0)
}

/// Benjamini-Hochberg adjusted p-values ("q-values"), in the input's order: the smallest false
/// discovery rate at which each hypothesis would be rejected. Rejecting every hypothesis with
/// an adjusted value at most `q` controls the false discovery rate at `q`.
pub fn benjamini_hochberg(p_values: &[f64]) -> Vec<f64> {
    let m = p_values.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&i, &j| p_values[i].total_cmp(&p_values[j]));
    let mut adjusted = vec![1.0; m];
    let mut running_min = 1.0_f64;
    for (rank0, &i) in order.iter().enumerate().rev() {
        let scaled = p_values[i] * m as f64 / (rank0 + 1) as f64;
        running_min = running_min.min(scaled);
        adjusted[i] = running_min.min(1.0);
    }
    adjusted
}

/// `ln Γ(x)` for `x > 0`, Lanczos approximation (g = 7, 9 terms; about 15 significant digits).
fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x) Γ(1 - x) = π / sin(πx).
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut sum = C[0];
    for (i, c) in C.iter().enumerate().skip(1) {
        sum += c / (x + i as f64);
    }
    let t = x + G + 0.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

/// `I_x(a, b)`, the regularized incomplete beta function, by its continued fraction (modified
/// Lentz), using the symmetry `I_x(a, b) = 1 - I_{1-x}(b, a)` where the fraction converges
/// slowly.
fn regularized_incomplete_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let front =
        (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_continued_fraction(a, b, x) / a
    } else {
        1.0 - front * beta_continued_fraction(b, a, 1.0 - x) / b
    }
}

fn beta_continued_fraction(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..=300 {
        let m = f64::from(m);
        let m2 = 2.0 * m;
        let even = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + even * d;
        d = if d.abs() < TINY { TINY } else { d };
        c = 1.0 + even / c;
        c = if c.abs() < TINY { TINY } else { c };
        d = 1.0 / d;
        h *= d * c;
        let odd = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + odd * d;
        d = if d.abs() < TINY { TINY } else { d };
        c = 1.0 + odd / c;
        c = if c.abs() < TINY { TINY } else { c };
        d = 1.0 / d;
        let delta = d * c;
        h *= delta;
        if (delta - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tolerance: f64) -> bool {
        (a - b).abs() <= tolerance
    }

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn t_distribution_matches_tables() {
        // Two-sided 5% critical values of Student's t, and a few textbook p-values.
        for (t, df, p) in [
            (12.706, 1.0, 0.05),
            (4.303, 2.0, 0.05),
            (2.776, 4.0, 0.05),
            (2.228, 10.0, 0.05),
            (1.960, 1e6, 0.05),
            (2.0, 10.0, 0.073_388),
            (0.0, 5.0, 1.0),
        ] {
            let got = t_two_sided_p(t, df);
            assert!(close(got, p, 2e-4), "t {t} df {df}: {got} vs {p}");
        }
        assert_eq!(t_two_sided_p(f64::INFINITY, 3.0), 0.0);
        assert!(close(ln_gamma(5.0), 24f64.ln(), 1e-12));
        assert!(close(
            ln_gamma(0.5),
            std::f64::consts::PI.sqrt().ln(),
            1e-12
        ));
    }

    #[test]
    fn welch_matches_a_hand_computed_case() {
        // ln values: base [0, ln 2], new [ln 4, ln 8]: means ln(√2), ln(√32); variances equal.
        let r = welch_log(&[1.0, 2.0], &[4.0, 8.0]).unwrap();
        let ln2 = 2f64.ln();
        assert!(close(r.log_ratio, 2.0 * ln2, 1e-12));
        // var of each side = ln2^2 / 2, se = sqrt(2 * var / 2) = ln2 / sqrt(2), t = 2 sqrt(2).
        assert!(close(r.t, 2.0 * 2f64.sqrt(), 1e-9));
        assert!(close(r.df, 2.0, 1e-9));
        assert!(close(
            r.p_value,
            t_two_sided_p(2.0 * 2f64.sqrt(), 2.0),
            1e-12
        ));
        assert!(welch_log(&[1.0], &[1.0, 2.0]).is_none());
        assert!(welch_log(&[0.0, 1.0], &[1.0, 2.0]).is_none());
        let constant = welch_log(&[5.0, 5.0], &[6.0, 6.0]).unwrap();
        assert_eq!(constant.p_value, 0.0);
        assert_eq!(welch_log(&[5.0, 5.0], &[5.0, 5.0]).unwrap().p_value, 1.0);
    }

    #[test]
    fn a_ratio_of_ratios_adds_the_variances_of_its_four_means() {
        // Each sample's logs are {x, x + ln 2}: variance ln2^2 / 2, of its mean ln2^2 / 4.
        let (a, b, c, d) = ([4.0, 8.0], [1.0, 2.0], [2.0, 4.0], [1.0, 2.0]);
        let r = welch_log_contrast(&[(1.0, &a), (-1.0, &b), (-1.0, &c), (1.0, &d)]).unwrap();
        let ln2 = 2f64.ln();
        // (a / b) / (c / d) = 4 / 2: ln 2; se = sqrt(4 · ln2^2 / 4) = ln2; t = 1; df = 4.
        assert!(close(r.log_ratio, ln2, 1e-12));
        assert!(close(r.t, 1.0, 1e-9));
        assert!(close(r.df, 4.0, 1e-9));
        // The inverse ratio: the opposite log ratio and t, the same degrees of freedom and p.
        let inverse = welch_log_contrast(&[(-1.0, &a), (1.0, &b), (1.0, &c), (-1.0, &d)]).unwrap();
        assert!(close(inverse.log_ratio, -r.log_ratio, 1e-12));
        assert!(close(inverse.t, -r.t, 1e-9));
        assert!(close(inverse.df, r.df, 1e-9) && close(inverse.p_value, r.p_value, 1e-12));
        assert!(welch_log_contrast(&[(1.0, &a), (-1.0, &[1.0])]).is_none());
        assert!(welch_log_contrast(&[]).is_none());
    }

    #[test]
    fn benjamini_hochberg_matches_the_textbook_example() {
        // m = 5: p(k) * m / k = 0.005, 0.025, 0.05, 0.05, 0.2; then running minima from the top.
        let adjusted = benjamini_hochberg(&[0.04, 0.001, 0.03, 0.2, 0.01]);
        let expected = [0.05, 0.005, 0.05, 0.2, 0.025];
        for (a, e) in adjusted.iter().zip(expected) {
            assert!(close(*a, e, 1e-12), "{adjusted:?}");
        }
        assert!(benjamini_hochberg(&[]).is_empty());
    }
}
