//! `lab`: the command-line front door of looplab.
//!
//! Exit status (a contract, see DESIGN.md): 0 fine; 1 a threshold failed (a regression found by
//! `check`, a failed `load`, orders that differ from Node's in `scenario --node` or `calibrate`);
//! 2 any error, with a one-line reason on stderr; 130 an interrupted sweep.

mod check_cmd;
mod cli;
mod costs_cmd;
mod costs_flag;
mod instructions_cmd;
mod load_cmd;
mod merge;
mod output;
mod point;
mod progress;
mod report_cmd;
mod scenario_cmd;
mod scenario_gantt;
mod scratch;
mod serve_cmd;
mod sweep;
mod version;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let _scratch = match scratch::Scratch::install() {
        Ok(scratch) => scratch,
        Err(e) => {
            eprintln!("lab: error: {e:#}");
            return ExitCode::from(2);
        }
    };
    match cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.downcast_ref::<sweep::Interrupted>().is_some() => {
            eprintln!("lab: {e}");
            ExitCode::from(130)
        }
        Err(e) if threshold_failed(&e) => {
            eprintln!("lab: {e}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("lab: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// A run that worked but failed what it checks: exit 1, like k6's thresholds.
fn threshold_failed(e: &anyhow::Error) -> bool {
    e.downcast_ref::<output::ThresholdFailed>().is_some()
}
