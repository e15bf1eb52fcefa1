//! Instruction counts per operation of the runtime's hot paths and the record encoding,
//! measured under Callgrind by the gungraun benches (`runtime/benches/instructions.rs`,
//! `reports/benches/instructions.rs`) and checked against a committed baseline.
//!
//! This module owns both files of the check, and reads gungraun's summaries:
//! - gungraun's `summary.json` files (written with `--save-summary=json` under
//!   `target/gungraun/`): every benchmark runs at two sizes, ids `n{N}`; the cost of one
//!   operation is the difference of the two instruction counts over the difference of the
//!   sizes, so set-up (loop creation, thread start) cancels out ([`read_summaries`]);
//! - the baseline, `benches/instructions.baseline.json` ([`InstructionBaseline`]), rewritten
//!   only on purpose (`scripts/instructions --update`);
//! - the comparison `lab instructions --out FILE` writes and `lab check --instructions FILE`
//!   renders ([`InstructionCheck`]).
//!
//! The rule: a benchmark whose instructions per operation rose more than [`LIMIT_PCT`]% above
//! the baseline fails, and so does one missing from either side (the baseline must name exactly
//! the benchmarks that run). Cache and branch figures are Callgrind's simulation of a fixed
//! cache geometry (the benches pin it): estimates shown beside the count, not judged.
//!
//! ```
//! use looplab_reports::instructions::{InstructionBaseline, InstructionCheck, PerOp, Verdict};
//!
//! let op = |instructions| PerOp { instructions, ..PerOp::default() };
//! let baseline = InstructionBaseline::new([("timer".to_string(), op(1000.0))].into());
//! let slower = [("timer".to_string(), op(1030.0))].into();
//! let check = InstructionCheck::compare("base.json", &baseline, &slower);
//! assert_eq!(check.rows[0].verdict, Verdict::Above);
//! assert_eq!(check.failures(), 1);
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::store::write_json_to;
use crate::Table;

/// A count more than this many percent above the baseline fails the check.
pub const LIMIT_PCT: f64 = 2.0;
/// The version of the baseline and check files this module writes and reads.
pub const INSTRUCTIONS_SCHEMA: u32 = 1;
/// Where the committed baseline lives, from the repository root.
pub const BASELINE_FILE: &str = "benches/instructions.baseline.json";
/// The one command that rewrites the baseline.
pub const UPDATE_COMMAND: &str = "scripts/instructions --update";

/// What went wrong reading or writing the check's files.
#[derive(Debug, thiserror::Error)]
pub enum InstructionsError {
    /// The atomic writer failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// A file could not be read or written.
    #[error("cannot {action} {}: {cause}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why it failed.
        cause: std::io::Error,
    },
    /// A file is not what it should be.
    #[error("{}: {message}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// No gungraun summary was found.
    #[error("no gungraun summary.json under {}; run the instruction benches with --save-summary=json (scripts/instructions does)", dir.display())]
    NoSummaries {
        /// The folder searched.
        dir: PathBuf,
    },
    /// A benchmark did not run at exactly two sizes.
    #[error("benchmark {benchmark} ran at sizes {sizes:?}; each needs exactly two, ids n<N> (like #[bench::n100(100)] and #[bench::n1100(1100)])")]
    Sizes {
        /// The benchmark.
        benchmark: String,
        /// The sizes found.
        sizes: Vec<u64>,
    },
}

/// Callgrind's figures for one operation (differences of two sizes, over their difference).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PerOp {
    /// Instructions executed (Callgrind's `Ir`): the figure the check judges.
    pub instructions: f64,
    /// Memory accesses that hit the simulated L1 caches.
    pub l1_hits: f64,
    /// Accesses that missed L1 and hit the simulated last-level cache.
    pub ll_hits: f64,
    /// Accesses that missed every simulated cache.
    pub ram_hits: f64,
    /// Callgrind's estimate: L1 hits + 10 per LL hit + 100 per RAM access.
    pub estimated_cycles: f64,
    /// Conditional and indirect branches executed (`Bc + Bi`).
    pub branches: f64,
    /// Of those, mispredicted by the simulated predictor (`Bcm + Bim`).
    pub mispredicts: f64,
}

/// The committed baseline: instructions per operation of every benchmark.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InstructionBaseline {
    /// Always [`INSTRUCTIONS_SCHEMA`].
    pub instructions_schema: u32,
    /// How to refresh it.
    pub note: String,
    /// Per benchmark.
    pub benchmarks: BTreeMap<String, PerOp>,
}

/// One benchmark's line of the comparison.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// The benchmark (its function name).
    pub benchmark: String,
    /// The baseline's figures, if it has the benchmark.
    pub before: Option<PerOp>,
    /// This run's figures, if the benchmark ran.
    pub after: Option<PerOp>,
    /// Instructions after over before, minus 1, in percent.
    pub change_pct: Option<f64>,
    /// What the rule says.
    pub verdict: Verdict,
}

/// The rule's answer for one benchmark.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Within [`LIMIT_PCT`]% of the baseline either way.
    Same,
    /// More than [`LIMIT_PCT`]% above: fails.
    Above,
    /// More than [`LIMIT_PCT`]% below: passes; the baseline may be refreshed.
    Below,
    /// Ran but not in the baseline: fails until the baseline is refreshed.
    New,
    /// In the baseline but did not run: fails.
    Missing,
}

impl Verdict {
    /// Whether this verdict fails the check.
    pub fn fails(self) -> bool {
        matches!(self, Verdict::Above | Verdict::New | Verdict::Missing)
    }

    fn word(self) -> &'static str {
        match self {
            Verdict::Same => "ok",
            Verdict::Above => "ABOVE",
            Verdict::Below => "below",
            Verdict::New => "NEW",
            Verdict::Missing => "MISSING",
        }
    }
}

/// A comparison of one run with the baseline: written by `lab instructions --out`, rendered by
/// `lab check --instructions`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InstructionCheck {
    /// Always [`INSTRUCTIONS_SCHEMA`].
    pub instructions_schema: u32,
    /// The baseline file compared with.
    pub baseline: String,
    /// The limit applied, percent.
    pub limit_pct: f64,
    /// Every benchmark of either side, by name.
    pub rows: Vec<Row>,
}

impl InstructionBaseline {
    /// A baseline of these figures.
    pub fn new(benchmarks: BTreeMap<String, PerOp>) -> Self {
        Self {
            instructions_schema: INSTRUCTIONS_SCHEMA,
            note: format!(
                "Instructions per operation under Callgrind; refresh on purpose with `{UPDATE_COMMAND}`, in the commit that changes them"
            ),
            benchmarks,
        }
    }

    /// Reads the baseline; a missing or corrupt file is one error naming it and the fix.
    pub fn load(path: &Path) -> Result<Self, InstructionsError> {
        let fix = format!("restore it from git or make it with `{UPDATE_COMMAND}`");
        let text = std::fs::read_to_string(path).map_err(|cause| InstructionsError::Io {
            action: "read the instruction baseline",
            path: path.to_path_buf(),
            cause: std::io::Error::new(cause.kind(), format!("{cause}; {fix}")),
        })?;
        let baseline: Self = parse(path, &text, &fix)?;
        check_schema(path, baseline.instructions_schema, &fix)?;
        Ok(baseline)
    }

    /// Writes the baseline (pretty JSON, atomically).
    pub fn save(&self, path: &Path) -> Result<(), InstructionsError> {
        Ok(write_json_to(path, self)?)
    }
}

impl InstructionCheck {
    /// Compares this run's figures with the baseline, every benchmark of either side.
    pub fn compare(
        baseline_path: &str,
        baseline: &InstructionBaseline,
        current: &BTreeMap<String, PerOp>,
    ) -> Self {
        let mut names: Vec<&String> = baseline.benchmarks.keys().chain(current.keys()).collect();
        names.sort();
        names.dedup();
        let rows = names
            .into_iter()
            .map(|name| row(name, baseline.benchmarks.get(name), current.get(name)))
            .collect();
        Self {
            instructions_schema: INSTRUCTIONS_SCHEMA,
            baseline: baseline_path.to_string(),
            limit_pct: LIMIT_PCT,
            rows,
        }
    }

    /// Benchmarks that fail the check.
    pub fn failures(&self) -> usize {
        self.rows.iter().filter(|r| r.verdict.fails()).count()
    }

    /// Reads a comparison written by `lab instructions --out`.
    pub fn load(path: &Path) -> Result<Self, InstructionsError> {
        let fix = "write it with `lab instructions --out FILE` (scripts/instructions does)";
        let text = std::fs::read_to_string(path).map_err(|cause| InstructionsError::Io {
            action: "read the instruction check",
            path: path.to_path_buf(),
            cause: std::io::Error::new(cause.kind(), format!("{cause}; {fix}")),
        })?;
        let check: Self = parse(path, &text, fix)?;
        check_schema(path, check.instructions_schema, fix)?;
        Ok(check)
    }

    /// Writes the comparison (pretty JSON, atomically).
    pub fn save(&self, path: &Path) -> Result<(), InstructionsError> {
        Ok(write_json_to(path, self)?)
    }

    /// One line saying what the check found.
    pub fn headline(&self) -> String {
        let count = |v: Verdict| self.rows.iter().filter(|r| r.verdict == v).count();
        let outcome = if self.failures() == 0 { "PASS" } else { "FAIL" };
        format!(
            "instructions per operation: {outcome}; {} benchmarks, {} above the baseline by more than {}%, {} below, {} new, {} missing",
            self.rows.len(),
            count(Verdict::Above),
            self.limit_pct,
            count(Verdict::Below),
            count(Verdict::New),
            count(Verdict::Missing)
        )
    }

    /// The table's rows: benchmark, before, after, change, verdict, then this run's estimates.
    pub fn table_rows(&self) -> Vec<[String; 9]> {
        self.rows.iter().map(table_row).collect()
    }

    /// The comparison as a terminal table.
    pub fn table(&self) -> String {
        let mut table = Table::new(TABLE_HEADER);
        for i in 1..TABLE_HEADER.len() {
            table = table.right_align(i);
        }
        for row in self.table_rows() {
            table.row(row);
        }
        table.render()
    }

    /// The comparison as a terminal table under its headline, with the fix on a failure.
    pub fn terminal(&self) -> String {
        let mut out = format!("{}\n{}", self.headline(), self.table());
        if let Some(hint) = self.hint() {
            out.push_str(&format!("{hint}\n"));
        }
        out
    }

    /// What to do about a failure, if there is one.
    pub fn hint(&self) -> Option<String> {
        (self.failures() > 0).then(|| format!(
            "a deliberate change of these counts updates the baseline in the same commit: `{UPDATE_COMMAND}` (compared with {})",
            self.baseline
        ))
    }
}

/// The table's columns; the last four are this run's Callgrind estimates per operation.
pub const TABLE_HEADER: [&str; 9] = [
    "benchmark",
    "before",
    "after",
    "change",
    "verdict",
    "est. cycles",
    "L1 hits",
    "RAM hits",
    "branch misses",
];

fn row(name: &str, before: Option<&PerOp>, after: Option<&PerOp>) -> Row {
    let (before, after) = (before.copied(), after.copied());
    let change_pct = match (before, after) {
        (Some(b), Some(a)) if b.instructions > 0.0 => {
            Some((a.instructions / b.instructions - 1.0) * 100.0)
        }
        _ => None,
    };
    let verdict = match (before, after, change_pct) {
        (None, _, _) => Verdict::New,
        (_, None, _) => Verdict::Missing,
        (_, _, Some(c)) if c > LIMIT_PCT => Verdict::Above,
        (_, _, Some(c)) if c < -LIMIT_PCT => Verdict::Below,
        _ => Verdict::Same,
    };
    Row {
        benchmark: name.to_string(),
        before,
        after,
        change_pct,
        verdict,
    }
}

fn table_row(r: &Row) -> [String; 9] {
    let count = |p: Option<PerOp>, f: fn(&PerOp) -> f64| p.map_or("-".into(), |p| fmt(f(&p)));
    [
        r.benchmark.clone(),
        count(r.before, |p| p.instructions),
        count(r.after, |p| p.instructions),
        r.change_pct.map_or("-".into(), |c| format!("{c:+.2}%")),
        r.verdict.word().into(),
        count(r.after, |p| p.estimated_cycles),
        count(r.after, |p| p.l1_hits),
        count(r.after, |p| p.ram_hits),
        count(r.after, |p| p.mispredicts),
    ]
}

/// A figure per operation: one decimal below 100, whole numbers above.
fn fmt(value: f64) -> String {
    if value.abs() < 0.05 {
        "0.0".into()
    } else if value.abs() < 100.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.0}")
    }
}

fn parse<T: serde::de::DeserializeOwned>(
    path: &Path,
    text: &str,
    fix: &str,
) -> Result<T, InstructionsError> {
    serde_json::from_str(text).map_err(|e| InstructionsError::Corrupt {
        path: path.to_path_buf(),
        message: format!("not a valid file of the instruction check ({e}); {fix}"),
    })
}

fn check_schema(path: &Path, found: u32, fix: &str) -> Result<(), InstructionsError> {
    if found == INSTRUCTIONS_SCHEMA {
        return Ok(());
    }
    Err(InstructionsError::Corrupt {
        path: path.to_path_buf(),
        message: format!(
            "instructions_schema {found}, this lab reads {INSTRUCTIONS_SCHEMA}; {fix}"
        ),
    })
}

/// The part of a gungraun `summary.json` this check reads.
#[derive(Deserialize)]
struct Summary {
    function_name: String,
    id: Option<String>,
    profiles: Vec<Profile>,
}

#[derive(Deserialize)]
struct Profile {
    tool: String,
    data: ProfileData,
}

#[derive(Deserialize)]
struct ProfileData {
    total: Total,
}

#[derive(Deserialize)]
struct Total {
    metrics: BTreeMap<String, Metric>,
}

#[derive(Deserialize)]
struct Metric {
    values: Values,
}

#[derive(Deserialize)]
struct Values {
    new: Option<f64>,
}

/// Callgrind's totals of one benchmark run, in [`PerOp`]'s fields.
fn totals(path: &Path, summary: &Summary) -> Result<PerOp, InstructionsError> {
    let corrupt = |message: String| InstructionsError::Corrupt {
        path: path.to_path_buf(),
        message,
    };
    let profile = summary
        .profiles
        .iter()
        .find(|p| p.tool == "Callgrind")
        .ok_or_else(|| corrupt("no Callgrind profile in this summary".into()))?;
    let metrics = &profile.data.total.metrics;
    let get = |name: &str| -> Result<f64, InstructionsError> {
        metrics.get(name).and_then(|m| m.values.new).ok_or_else(|| {
            corrupt(format!(
                "no {name} metric; the benches must run Callgrind with --cache-sim=yes and --branch-sim=yes"
            ))
        })
    };
    Ok(PerOp {
        instructions: get("Ir")?,
        l1_hits: get("L1hits")?,
        ll_hits: get("LLhits")?,
        ram_hits: get("RamHits")?,
        estimated_cycles: get("EstimatedCycles")?,
        branches: get("Bc")? + get("Bi")?,
        mispredicts: get("Bcm")? + get("Bim")?,
    })
}

/// Every `summary.json` under `dir`, recursively, sorted.
fn summary_files(dir: &Path) -> Result<Vec<PathBuf>, InstructionsError> {
    let mut found = Vec::new();
    let mut pending: Vec<PathBuf> = dir
        .is_dir()
        .then(|| dir.to_path_buf())
        .into_iter()
        .collect();
    while let Some(folder) = pending.pop() {
        let entries = std::fs::read_dir(&folder).map_err(|cause| InstructionsError::Io {
            action: "read the folder",
            path: folder.clone(),
            cause,
        })?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.file_name().is_some_and(|n| n == "summary.json") {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// The size a benchmark id names: `n{N}`.
fn size(id: Option<&str>) -> Option<u64> {
    id?.strip_prefix('n')?.parse().ok()
}

/// Instructions (and estimates) per operation of every benchmark whose summaries lie under
/// `dir` (gungraun's output folder, `target/gungraun`): the counts of its two sizes, their
/// difference over the difference of the sizes.
pub fn read_summaries(dir: &Path) -> Result<BTreeMap<String, PerOp>, InstructionsError> {
    let files = summary_files(dir)?;
    if files.is_empty() {
        return Err(InstructionsError::NoSummaries {
            dir: dir.to_path_buf(),
        });
    }
    let mut runs: BTreeMap<String, BTreeMap<u64, PerOp>> = BTreeMap::new();
    for path in &files {
        let text = std::fs::read_to_string(path).map_err(|cause| InstructionsError::Io {
            action: "read",
            path: path.clone(),
            cause,
        })?;
        let summary: Summary = parse(path, &text, "run the instruction benches again")?;
        let sizes = runs.entry(summary.function_name.clone()).or_default();
        match size(summary.id.as_deref()) {
            Some(n) => sizes.insert(n, totals(path, &summary)?),
            None => return Err(sizes_error(&summary.function_name, sizes)),
        };
    }
    runs.iter()
        .map(|(name, sizes)| per_op(name, sizes).map(|p| (name.clone(), p)))
        .collect()
}

fn sizes_error(benchmark: &str, sizes: &BTreeMap<u64, PerOp>) -> InstructionsError {
    InstructionsError::Sizes {
        benchmark: benchmark.to_string(),
        sizes: sizes.keys().copied().collect(),
    }
}

/// One operation's share: (large - small) / (N_large - N_small), field by field.
fn per_op(benchmark: &str, sizes: &BTreeMap<u64, PerOp>) -> Result<PerOp, InstructionsError> {
    let [(small_n, small), (large_n, large)]: [(&u64, &PerOp); 2] = sizes
        .iter()
        .collect::<Vec<_>>()
        .try_into()
        .map_err(|_| sizes_error(benchmark, sizes))?;
    let ops = (large_n - small_n) as f64;
    let d = |f: fn(&PerOp) -> f64| (f(large) - f(small)) / ops;
    Ok(PerOp {
        instructions: d(|p| p.instructions),
        l1_hits: d(|p| p.l1_hits),
        ll_hits: d(|p| p.ll_hits),
        ram_hits: d(|p| p.ram_hits),
        estimated_cycles: d(|p| p.estimated_cycles),
        branches: d(|p| p.branches),
        mispredicts: d(|p| p.mispredicts),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(instructions: f64) -> PerOp {
        PerOp {
            instructions,
            ..PerOp::default()
        }
    }

    /// A gungraun summary of `function` at size `n` with `ir` instructions.
    fn summary(dir: &Path, function: &str, id: &str, ir: u64) {
        let folder = dir.join(format!("pkg/bench/group/{function}.{id}"));
        std::fs::create_dir_all(&folder).unwrap();
        let metric = |v: u64| serde_json::json!({ "values": { "new": v } });
        let mut metrics = serde_json::Map::new();
        for name in ["L1hits", "LLhits", "RamHits", "Bc", "Bcm", "Bi", "Bim"] {
            metrics.insert(name.into(), metric(ir / 10));
        }
        metrics.insert("Ir".into(), metric(ir));
        metrics.insert("EstimatedCycles".into(), metric(ir * 2));
        let text = serde_json::json!({
            "function_name": function, "id": id, "version": "7",
            "profiles": [{ "tool": "Callgrind", "data": { "parts": [], "total": { "metrics": metrics, "regressions": [] } } }]
        });
        std::fs::write(folder.join("summary.json"), text.to_string()).unwrap();
    }

    #[test]
    fn per_operation_is_the_difference_of_two_sizes() {
        let dir = tempfile::tempdir().unwrap();
        summary(dir.path(), "timer", "n100", 300_000);
        summary(dir.path(), "timer", "n1100", 1_300_000);
        let read = read_summaries(dir.path()).unwrap();
        assert_eq!(read["timer"].instructions, 1000.0);
        assert_eq!(read["timer"].estimated_cycles, 2000.0);
        assert_eq!(read["timer"].branches, 200.0);
    }

    #[test]
    fn a_benchmark_at_one_size_or_without_summaries_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_summaries(dir.path()).unwrap_err().to_string();
        assert!(err.contains("no gungraun summary.json"), "{err}");
        summary(dir.path(), "timer", "n100", 300_000);
        let err = read_summaries(dir.path()).unwrap_err().to_string();
        assert!(err.contains("timer ran at sizes [100]"), "{err}");
    }

    #[test]
    fn more_than_the_limit_above_fails_and_names_the_benchmark() {
        let baseline = InstructionBaseline::new(
            [("a", 1000.0), ("b", 1000.0), ("c", 1000.0), ("gone", 5.0)]
                .map(|(k, v)| (k.to_string(), op(v)))
                .into(),
        );
        let now = [("a", 1019.0), ("b", 1021.0), ("c", 900.0), ("fresh", 7.0)]
            .map(|(k, v)| (k.to_string(), op(v)))
            .into();
        let check = InstructionCheck::compare("base.json", &baseline, &now);
        let verdicts: Vec<(&str, Verdict)> = check
            .rows
            .iter()
            .map(|r| (r.benchmark.as_str(), r.verdict))
            .collect();
        use Verdict::*;
        assert_eq!(
            verdicts,
            [
                ("a", Same),
                ("b", Above),
                ("c", Below),
                ("fresh", New),
                ("gone", Missing)
            ]
        );
        assert_eq!(check.failures(), 3);
        let table = check.terminal();
        assert!(
            table.contains("+2.10%") && table.contains("ABOVE"),
            "{table}"
        );
        assert!(table.contains(UPDATE_COMMAND), "{table}");
    }

    #[test]
    fn files_round_trip_and_bad_ones_get_one_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("base.json");
        let err = InstructionBaseline::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("base.json") && err.contains(UPDATE_COMMAND),
            "{err}"
        );
        let baseline = InstructionBaseline::new([("t".to_string(), op(10.0))].into());
        baseline.save(&path).unwrap();
        assert_eq!(InstructionBaseline::load(&path).unwrap(), baseline);
        std::fs::write(&path, "{ half").unwrap();
        let err = InstructionBaseline::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("not a valid file") && err.contains(UPDATE_COMMAND),
            "{err}"
        );
        let check = InstructionCheck::compare("b", &baseline, &BTreeMap::new());
        let out = dir.path().join("check.json");
        check.save(&out).unwrap();
        assert_eq!(InstructionCheck::load(&out).unwrap(), check);
        std::fs::write(
            &out,
            r#"{"instructions_schema": 9, "baseline": "b", "limit_pct": 2, "rows": []}"#,
        )
        .unwrap();
        let err = InstructionCheck::load(&out).unwrap_err().to_string();
        assert!(err.contains("instructions_schema 9"), "{err}");
    }
}
