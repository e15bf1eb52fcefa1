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
    keep_freed_memory();
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

/// Keeps memory the process frees for its next allocations instead of giving it back to the
/// kernel at once. Why: with glibc's defaults, `fs.readFile`'s 64 KiB buffer freed after each
/// answer shrank the heap, so the next read page-faulted its buffer in again: 10 to 13 faults
/// per request, half the pool thread's time, 78 µs of CPU per request at pool 1 against 37 µs
/// without them (Node 20 serving the same file: 0.5 to 0.9 faults per request; its buffers are
/// freed by the garbage collector, in batches). Allocations up to 32 MiB (glibc's largest
/// `M_MMAP_THRESHOLD`) come from the heap, and the heap keeps up to 64 MiB free at its top.
fn keep_freed_memory() {
    // SAFETY: mallopt only changes the allocator's thresholds; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
    }
}

/// A run that worked but failed what it checks: exit 1, like k6's thresholds.
fn threshold_failed(e: &anyhow::Error) -> bool {
    e.downcast_ref::<output::ThresholdFailed>().is_some()
}
