//! Which charts a sweep gets, one builder per chart (in the spirit of criterion's `plot`
//! module): each takes the [`SweepData`] (and a workload) and returns a [`Figure`], or `None`
//! when the sweep has nothing for it to show. [`all`] lists them in report order.
//!
//! The coordinates each builder chooses (so tick labels stay exact, see `charts`):
//! - parallelism and pool size: log2 of the value (1, 2, 4, 8 evenly spaced);
//! - percentiles: "nines", -log10(1 - q) (50 %, 90 %, 99 %, 99.9 %, 99.99 %);
//! - latency across decades (spectrum, open loop): log10 of milliseconds;
//! - everything else: linear, from zero.

mod latency;
mod overview;
mod scaling;
mod timelines;

use super::charts::{Axis, Figure};
use super::data::SweepData;
use super::format::{si, sig3, slug};
use crate::store::Flavour;

/// Where a figure goes in the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Section {
    /// Throughput and p99 against parallelism.
    Scaling,
    /// The pool size sweep.
    PoolSize,
    /// p99 against offered rate.
    OpenLoop,
    /// Latency percentile spectra.
    Spectrum,
    /// Operations per CPU-second and per MiB.
    Efficiency,
    /// Best throughput by strategy and workload.
    HeatMap,
    /// The classic experiments' pool timelines.
    Timelines,
}

impl Section {
    /// Every section in report order.
    pub const ALL: [Section; 7] = [
        Section::Scaling,
        Section::PoolSize,
        Section::OpenLoop,
        Section::Spectrum,
        Section::Efficiency,
        Section::HeatMap,
        Section::Timelines,
    ];

    /// The section's heading.
    pub fn heading(self) -> &'static str {
        match self {
            Section::Scaling => "Throughput and p99 latency against parallelism",
            Section::PoolSize => "Pool size",
            Section::OpenLoop => "Latency against offered rate (open loop)",
            Section::Spectrum => "Latency percentile spectrum",
            Section::Efficiency => "Efficiency",
            Section::HeatMap => "Best throughput by strategy and workload",
            Section::Timelines => "Pool timelines of the classic experiments",
        }
    }
}

/// Every figure of a sweep, in report order, with unique file names.
pub fn all(data: &SweepData) -> Vec<(Section, Figure)> {
    let mut out: Vec<(Section, Figure)> = Vec::new();
    for workload in &data.workloads {
        out.extend(
            scaling::throughput(data, workload)
                .into_iter()
                .chain(scaling::p99(data, workload))
                .map(|f| (Section::Scaling, f)),
        );
    }
    for workload in &data.workloads {
        out.extend(scaling::pool_size(data, workload).map(|f| (Section::PoolSize, f)));
    }
    for workload in &data.workloads {
        out.extend(latency::open_loop(data, workload).map(|f| (Section::OpenLoop, f)));
    }
    for workload in &data.workloads {
        out.extend(latency::spectrum(data, workload).map(|f| (Section::Spectrum, f)));
    }
    out.extend(overview::efficiency(data).map(|f| (Section::Efficiency, f)));
    out.extend(overview::heat_map(data).map(|f| (Section::HeatMap, f)));
    out.extend(
        timelines::gantts(data)
            .into_iter()
            .map(|f| (Section::Timelines, f)),
    );
    unique_names(&mut out);
    label_runtime(data, &mut out);
    out
}

/// In a view of another runtime than looplab, every figure says so in its title and file
/// name (`node-throughput-hash`), so both runtimes' charts sit in one report apart.
fn label_runtime(data: &SweepData, figures: &mut [(Section, Figure)]) {
    let Some(flavour) = data.points.first().map(|p| p.coords.flavour()) else {
        return;
    };
    if flavour == Flavour::looplab() {
        return;
    }
    let prefix = flavour.id_prefix().trim_end_matches(':').replace('+', "-");
    for (_, figure) in figures.iter_mut() {
        figure.name = format!("{prefix}-{}", figure.name);
        figure.title = format!("{}, on {flavour}", figure.title);
    }
}

/// Appends `-2`, `-3`, ... to file names already taken (two workload names can share a slug).
fn unique_names(figures: &mut [(Section, Figure)]) {
    let mut seen = std::collections::BTreeSet::new();
    for (_, figure) in figures.iter_mut() {
        let base = figure.name.clone();
        let mut n = 2;
        while !seen.insert(figure.name.clone()) {
            figure.name = format!("{base}-{n}");
            n += 1;
        }
    }
}

/// `kind-workload` as a file stem.
fn file_name(kind: &str, workload: &str) -> String {
    format!("{kind}-{}", slug(workload))
}

/// A linear axis from 0 to a little above `max`, ticks labelled by `label`.
fn zero_based(label: String, max: f64, fmt: fn(f64) -> String) -> Axis {
    let top = if max > 0.0 { max * 1.12 } else { 1.0 };
    Axis {
        label,
        min: 0.0,
        max: top,
        ticks: super::charts::nice_ticks(0.0, top, 6, fmt),
    }
}

/// An axis in log2 of the given whole values, one tick per value.
fn log2_axis(label: String, values: &[u32]) -> Axis {
    let logs: Vec<f64> = values.iter().map(|&v| f64::from(v.max(1)).log2()).collect();
    let lo = logs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let pad = if hi > lo { (hi - lo) * 0.08 } else { 0.5 };
    Axis {
        label,
        min: lo - pad,
        max: hi + pad,
        ticks: values
            .iter()
            .zip(&logs)
            .map(|(v, l)| (*l, v.to_string()))
            .collect(),
    }
}

/// An axis in log10 of milliseconds covering `lo..hi` ms, ticks at 1, 2 and 5 per decade
/// (1 and 10 only when that would be crowded).
fn log_ms_axis(label: String, lo: f64, hi: f64) -> Axis {
    let lo = lo.max(1e-3);
    let hi = hi.max(lo * 1.5);
    let (min, max) = (lo.log10() - 0.08, hi.log10() + 0.08);
    let decades = (max - min).ceil() as i32;
    let steps: &[f64] = if decades > 4 {
        &[1.0]
    } else {
        &[1.0, 2.0, 5.0]
    };
    let mut ticks = Vec::new();
    for e in (min.floor() as i32)..=(max.ceil() as i32) {
        for m in steps {
            let v = m * 10f64.powi(e);
            let l = v.log10();
            if l >= min && l <= max {
                ticks.push((l, sig3(v)));
            }
        }
    }
    Axis {
        label,
        min,
        max,
        ticks,
    }
}

/// `throughput (requests/s)` or `throughput (jobs/s)`.
fn throughput_label(data: &SweepData) -> String {
    format!("throughput ({}/s, median)", data.op_name())
}

/// Tick label for a throughput axis.
fn si_label(v: f64) -> String {
    si(v)
}

/// Tick label for a millisecond axis.
fn ms_label(v: f64) -> String {
    sig3(v)
}
