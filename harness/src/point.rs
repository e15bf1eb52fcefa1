//! `lab point` (hidden): one point of a sweep, in a process of its own, driven by the sweep
//! executor over stdin and stdout. Not for people: `lab sweep` starts it and talks to it.
//!
//! What it runs arrives as one JSON value, `--task` ([`Task`]): a deployment to serve, a
//! deployment to run batches of, or the recorded classic experiments.
//!
//! The protocol, one line each way, JSON from the point ([`Reply`]), plain words to it:
//! 1. The point starts its server (service mode) or prepares its batch (batch mode), then
//!    says `{"ready":{"addr":...}}` (the address in service mode, `null` otherwise), or
//!    `{"error":"..."}` and exits 2.
//! 2. Service mode: `sample` answers `{"sample":{...}}`, what the serving loops did since the
//!    previous `sample` ([`LoopSample`]). The executor sends one when its measured window opens
//!    and one when it closes.
//! 3. Batch mode: `warmup MS` runs unmeasured batches for at least MS milliseconds (at least
//!    one batch when MS > 0) and answers `{"warmed":{"batches":N}}`; `run` runs one measured
//!    batch and answers `{"batch":{...}}` ([`BatchLine`]).
//! 4. Experiments: `run` records the set and answers `{"experiments":{...}}`, then the point
//!    ends.
//! 5. `stop`, or the end of stdin (the executor is gone), ends the point: the server closes
//!    gracefully (cluster workers included) or the batch state is dropped; then the process
//!    exits 0. Every temp file lives in this process' own scratch folder and goes with it.
//!
//! A cluster point's workers are this same program re-executed with the same arguments; they
//! find their role through the cluster module and serve instead of reading stdin.

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;
use looplab_reports::store::ExperimentsFile;
use looplab_runtime::cluster::worker_role;
use looplab_workloads::batch::{Batch, BatchReport};
use looplab_workloads::deploy::Deployment;
use looplab_workloads::experiments::recorded;
use looplab_workloads::serve::{serve, serve_cluster_worker, LoopSample, ShutdownHandle};
use serde::{Deserialize, Serialize};

/// How long a `sample` may take before the point is declared stuck.
pub const SAMPLE_TIMEOUT: Duration = Duration::from_secs(10);

/// `lab point --task JSON`.
#[derive(Args, Debug)]
pub struct PointArgs {
    /// What to run, as the executor serialized it ([`Task`]).
    #[arg(long)]
    task: String,
}

/// What one point process runs: a deployment, served or run as batches. Built by the executor
/// from a plan point; the only thing that crosses into the point's process.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// An HTTP server, loaded from outside.
    Serve(Deployment),
    /// Batches of `jobs` jobs, timed inside.
    Batch {
        /// What runs the jobs, and what they do.
        deployment: Deployment,
        /// Jobs per batch.
        jobs: u32,
    },
    /// The recorded set of classic experiments, run at the end of a sweep in a fresh process
    /// like every point, so nothing of the sweep's own process shares the cores while their
    /// timing-sensitive shapes are taken.
    Experiments,
}

/// One measured batch, as the point reports it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BatchLine {
    /// Jobs submitted.
    pub jobs: u32,
    /// Jobs that completed correctly.
    pub completed: u32,
    /// Jobs that failed or answered wrongly.
    pub errors: u64,
    /// First submission to last completion, seconds.
    pub makespan_s: f64,
    /// Per-job latency (µs), encoded by `looplab_reports::histogram`.
    pub histogram_base64: String,
    /// Event-loop utilization over the batch, where there is a loop.
    pub loop_utilization: Option<f64>,
    /// Pool tasks of the batch, where there is a libuv-style pool.
    pub pool_tasks: Option<u64>,
    /// Their mean queue wait, µs.
    pub pool_wait_mean_us: Option<f64>,
    /// Their 99th percentile queue wait, µs.
    pub pool_wait_p99_us: Option<f64>,
    /// Their longest queue wait, µs.
    pub pool_wait_max_us: Option<f64>,
}

/// A line from the point to the executor.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    /// Ready; the address served (service mode).
    Ready {
        /// `127.0.0.1:PORT` in service mode.
        addr: Option<String>,
    },
    /// The serving loops since the previous sample.
    Sample(LoopSample),
    /// Warm-up done.
    Warmed {
        /// Unmeasured batches run.
        batches: u32,
    },
    /// A measured batch.
    Batch(BatchLine),
    /// The recorded experiments, every attempt.
    Experiments(ExperimentsFile),
    /// Something failed; the text says what.
    Error(String),
}

/// Runs `lab point`.
pub fn run(args: &PointArgs) -> Result<()> {
    let task: Task = serde_json::from_str(&args.task)
        .context("`lab point` is started by `lab sweep`; its --task was not valid")?;
    match &task {
        Task::Serve(deployment) => service(deployment),
        Task::Batch { deployment, jobs } => batch(deployment, *jobs),
        Task::Experiments => experiments(),
    }
}

fn say(reply: &Reply) {
    // The executor reads lines; one write per line, flushed, so lines never interleave.
    let mut line = serde_json::to_string(reply).unwrap_or_else(|e| {
        serde_json::to_string(&Reply::Error(format!("cannot encode a reply: {e}")))
            .unwrap_or_default()
    });
    line.push('\n');
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(line.as_bytes());
    let _ = out.flush();
}

fn service(deployment: &Deployment) -> Result<()> {
    if let Some(role) = worker_role() {
        serve_cluster_worker(deployment, role)?;
        return Ok(());
    }
    let controller = std::thread::Builder::new().name("lab-point-control".into());
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let result = serve(deployment, loopback, move |addr, handle| {
        say(&Reply::Ready {
            addr: Some(addr.to_string()),
        });
        // Reads commands until `stop` or the end of stdin; the thread ends with the process.
        if let Err(e) = controller.spawn(move || control_service(handle)) {
            say(&Reply::Error(format!(
                "cannot start the control thread: {e}"
            )));
        }
    });
    if let Err(e) = result {
        say(&Reply::Error(format!("{e}")));
        return Err(e.into());
    }
    Ok(())
}

fn control_service(handle: ShutdownHandle) {
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        match line.trim() {
            "sample" => match handle.sample(SAMPLE_TIMEOUT) {
                Ok(sample) => say(&Reply::Sample(sample)),
                Err(e) => say(&Reply::Error(format!("sample the loops: {e}"))),
            },
            "stop" => break,
            other => say(&Reply::Error(format!("unknown command `{other}`"))),
        }
    }
    handle.shutdown();
}

fn batch(deployment: &Deployment, jobs: u32) -> Result<()> {
    let mut batch = match Batch::new(deployment, jobs) {
        Ok(batch) => batch,
        Err(e) => {
            say(&Reply::Error(format!("{e}")));
            return Err(e.into());
        }
    };
    say(&Reply::Ready { addr: None });
    // Commands come from a reader thread so that the batch runs on this (the main) thread.
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("lab-point-stdin".into())
        .spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        })
        .context("start the stdin reader")?;
    while let Ok(line) = rx.recv() {
        let line = line.trim();
        if line == "stop" {
            break;
        } else if line == "run" {
            match batch.run() {
                Ok(report) => say(&batch_line(&report)),
                Err(e) => say(&Reply::Error(format!("{e}"))),
            }
        } else if let Some(ms) = line.strip_prefix("warmup ") {
            let Ok(ms) = ms.trim().parse::<u64>() else {
                say(&Reply::Error(format!("bad warm-up `{ms}`")));
                continue;
            };
            match warm_up(&mut batch, Duration::from_millis(ms)) {
                Ok(batches) => say(&Reply::Warmed { batches }),
                Err(e) => say(&Reply::Error(format!("{e}"))),
            }
        } else {
            say(&Reply::Error(format!("unknown command `{line}`")));
        }
    }
    Ok(())
}

/// `Task::Experiments`: ready at once; `run` records the set and answers with it; then the
/// process ends.
fn experiments() -> Result<()> {
    say(&Reply::Ready { addr: None });
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        match line.trim() {
            "run" => {
                match recorded::record() {
                    Ok(runs) => say(&Reply::Experiments(ExperimentsFile::of(&runs))),
                    Err(e) => say(&Reply::Error(format!("{e}"))),
                }
                break;
            }
            "stop" => break,
            other => say(&Reply::Error(format!("unknown command `{other}`"))),
        }
    }
    Ok(())
}

/// Unmeasured batches until `time` has passed (none when it is zero).
fn warm_up(batch: &mut Batch, time: Duration) -> Result<u32> {
    let start = Instant::now();
    let mut batches = 0;
    while start.elapsed() < time {
        batch.run()?;
        batches += 1;
    }
    Ok(batches)
}

fn batch_line(report: &BatchReport) -> Reply {
    let histogram_base64 = match looplab_reports::histogram::encode(&report.latency_us) {
        Ok(text) => text,
        Err(e) => return Reply::Error(e),
    };
    Reply::Batch(BatchLine {
        jobs: report.jobs,
        completed: report.completed,
        errors: report.errors,
        makespan_s: report.makespan.as_secs_f64(),
        histogram_base64,
        loop_utilization: report.loop_utilization,
        pool_tasks: report.pool_wait.as_ref().map(|w| w.tasks),
        pool_wait_mean_us: report.pool_wait.as_ref().map(|w| w.mean_us),
        pool_wait_p99_us: report.pool_wait.as_ref().map(|w| w.p99_us),
        pool_wait_max_us: report.pool_wait.as_ref().map(|w| w.max_us),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use looplab_workloads::deploy::{FileMode, Kind, Strategy};

    /// The wire format the Node twins (`node/point.js`) speak: serde's externally tagged,
    /// snake_case `Task` and `Reply`. A change here must change them too.
    #[test]
    fn the_task_and_replies_keep_their_wire_format() {
        let d = Deployment {
            pool: 2,
            workers: 1,
            processes: 1,
            threads: 2,
            hash_iterations: 1_000,
            file_bytes: 16,
            busy_ms: 5,
            file_mode: FileMode::Read,
            ..Deployment::new(Strategy::Loop, vec![(Kind::Hello, 1), (Kind::Hash, 1)])
        };
        let deployment = r#"{"strategy":"loop","pool":2,"workers":1,"processes":1,"threads":2,"policy":null,"restart":false,"mix":[["hello",1],["hash",1]],"hash_iterations":1000,"file_bytes":16,"busy_ms":5,"file_mode":"read"}"#;
        let serve = serde_json::to_string(&Task::Serve(d.clone())).unwrap();
        assert_eq!(serve, format!(r#"{{"serve":{deployment}}}"#));
        let batch = serde_json::to_string(&Task::Batch {
            deployment: d,
            jobs: 8,
        })
        .unwrap();
        assert_eq!(
            batch,
            format!(r#"{{"batch":{{"deployment":{deployment},"jobs":8}}}}"#)
        );
        assert_eq!(
            serde_json::to_string(&Task::Experiments).unwrap(),
            r#""experiments""#
        );
        let ready = Reply::Ready { addr: None };
        assert_eq!(
            serde_json::to_string(&ready).unwrap(),
            r#"{"ready":{"addr":null}}"#
        );
        let error = Reply::Error("no".into());
        assert_eq!(serde_json::to_string(&error).unwrap(), r#"{"error":"no"}"#);
    }
}
