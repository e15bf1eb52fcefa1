//! `lab instructions`: the instruction-count check. Reads the summaries the gungraun benches
//! wrote (`scripts/instructions` runs them), compares instructions per operation with the
//! committed baseline and fails (exit 1) when one rose more than 2% or a benchmark is missing
//! from either side; `--update` rewrites the baseline instead. The files and the rule are
//! `looplab_reports::instructions`'s.

use crate::output::ThresholdFailed;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use looplab_reports::instructions::{
    read_summaries, InstructionBaseline, InstructionCheck, BASELINE_FILE,
};

/// `lab instructions` arguments.
#[derive(Args, Debug)]
pub struct InstructionsArgs {
    /// Gungraun's output folder, holding the benches' summary.json files.
    #[arg(long, value_name = "DIR", default_value = "target/gungraun")]
    summaries: PathBuf,
    /// The committed baseline.
    #[arg(long, value_name = "FILE", default_value = BASELINE_FILE)]
    baseline: PathBuf,
    /// Rewrite the baseline with this run's figures (a deliberate change, committed with it).
    #[arg(long)]
    update: bool,
    /// Also write the comparison as JSON, for `lab check --instructions FILE`.
    #[arg(long, value_name = "FILE", conflicts_with = "update")]
    out: Option<PathBuf>,
}

/// Runs `lab instructions`.
pub fn run(args: &InstructionsArgs) -> Result<()> {
    let current = read_summaries(&args.summaries)?;
    let shown = args.baseline.display().to_string();
    if args.update {
        let old = InstructionBaseline::load(&args.baseline).ok();
        let empty = InstructionBaseline::new(Default::default());
        let check = InstructionCheck::compare(&shown, old.as_ref().unwrap_or(&empty), &current);
        InstructionBaseline::new(current).save(&args.baseline)?;
        print!("{}", check.table());
        println!("baseline {shown} updated (before: the old one); commit it with the change");
        return Ok(());
    }
    let baseline = InstructionBaseline::load(&args.baseline)?;
    let check = InstructionCheck::compare(&shown, &baseline, &current);
    if let Some(out) = &args.out {
        check.save(out)?;
    }
    print!("{}", check.terminal());
    match check.failures() {
        0 => Ok(()),
        failures => Err(ThresholdFailed(format!(
            "instruction check failed: {failures} benchmark(s); see the table above"
        ))
        .into()),
    }
}
