//! The Node.js side: a scenario becomes an equivalent CommonJS program, run by the `node` on
//! PATH with `UV_THREADPOOL_SIZE` set in its environment (so the pool has the scenario's size
//! from its first use), and its completions are read back.
//!
//! The program (see [`program`]) prints one JSON line per completion, `{label, start_ms, ms,
//! thread}`, with `fs.writeSync(1, ...)`, so lines from worker threads go straight to the pipe
//! instead of through the main thread; times come from `process.hrtime` (one monotonic clock for
//! every thread), and the lines are put in time order when read. A failed op prints `{label,
//! error}` and exits with status 3.
//!
//! Process rules: the program and the files live in the fixture's private temp folder; the child
//! is killed and reaped on every path (error, time limit, panic: [`NodeChild`]'s `Drop`), and
//! dies with `lab` if `lab` is killed (`PR_SET_PDEATHSIG`).

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::error::io_err;
use super::fixture::Fixture;
use super::model::Scenario;
use super::run::{Completion, Timeline};
use super::ScenarioError;
use crate::experiments::child::die_with_parent;

pub use super::node_program::program;

/// How long one Node run may take before it is killed.
pub const NODE_TIME_LIMIT: Duration = Duration::from_secs(120);

/// The `node` executable on PATH, or [`ScenarioError::NodeMissing`].
pub fn find_node() -> Result<PathBuf, ScenarioError> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("node"))
        .find(|candidate| is_executable(candidate))
        .ok_or(ScenarioError::NodeMissing)
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `node --version` (like `v20.20.2`).
pub fn node_version(node: &Path) -> Result<String, ScenarioError> {
    let out = Command::new(node)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(io_err(format!("run {} --version", node.display())))?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// A running `node`, killed and reaped when dropped.
struct NodeChild {
    child: Child,
    readers: Vec<JoinHandle<Vec<u8>>>,
}

impl Drop for NodeChild {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

impl NodeChild {
    fn spawn(command: &mut Command) -> Result<Self, ScenarioError> {
        // SAFETY: the closure runs in the forked child before exec and only calls prctl(2).
        unsafe {
            command.pre_exec(die_with_parent);
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(io_err("start node"))?;
        let mut readers = Vec::new();
        let pipes: [Option<Box<dyn Read + Send>>; 2] = [
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        ];
        for mut pipe in pipes.into_iter().flatten() {
            readers.push(std::thread::spawn(move || {
                let mut bytes = Vec::new();
                let _ = pipe.read_to_end(&mut bytes);
                bytes
            }));
        }
        Ok(NodeChild { child, readers })
    }

    /// Waits up to `limit`; returns the exit status, stdout and stderr.
    fn finish(mut self, limit: Duration) -> Result<(ExitStatus, String, String), ScenarioError> {
        let deadline = Instant::now() + limit;
        let status = loop {
            match self.child.try_wait().map_err(io_err("wait for node"))? {
                Some(status) => break status,
                None if Instant::now() >= deadline => {
                    return Err(ScenarioError::Node(format!(
                        "the program ran longer than {} s and was killed",
                        limit.as_secs()
                    )))
                }
                None => std::thread::sleep(Duration::from_millis(2)),
            }
        };
        let mut texts = std::mem::take(&mut self.readers)
            .into_iter()
            .map(|r| String::from_utf8_lossy(&r.join().unwrap_or_default()).into_owned());
        let stdout = texts.next().unwrap_or_default();
        let stderr = texts.next().unwrap_or_default();
        Ok((status, stdout, stderr))
    }
}

/// Runs a Node script to its end (within [`NODE_TIME_LIMIT`]); its stdout, or why it failed.
pub(crate) fn run_script(command: &mut Command) -> Result<String, ScenarioError> {
    let what = format!("{:?}", command.get_args().collect::<Vec<_>>());
    let (status, stdout, stderr) = NodeChild::spawn(command)?.finish(NODE_TIME_LIMIT)?;
    if !status.success() {
        return Err(ScenarioError::Node(format!(
            "{what} exited with {status}: {}",
            reason(&stderr)
        )));
    }
    Ok(stdout)
}

/// The line of Node's error output that says what went wrong (`TypeError: ...`), else the
/// first line.
fn reason(stderr: &str) -> String {
    let mut lines = stderr.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.clone().next().unwrap_or("no message");
    lines
        .find(|l| l.contains("Error"))
        .unwrap_or(first)
        .to_string()
}

/// One line the program prints.
#[derive(Deserialize)]
struct Line {
    label: String,
    start_ms: Option<f64>,
    ms: Option<f64>,
    thread: Option<String>,
    error: Option<String>,
}

/// Writes the program for `scenario` into the fixture's folder (once; later runs reuse it).
pub fn write_program(scenario: &Scenario, fixture: &Fixture) -> Result<PathBuf, ScenarioError> {
    let path = fixture.dir().join("scenario.js");
    if !path.exists() {
        std::fs::write(&path, program(scenario, fixture))
            .map_err(io_err(format!("write {}", path.display())))?;
    }
    Ok(path)
}

/// Runs `scenario` once on Node (`node` from [`find_node`]).
pub fn run_node(
    scenario: &Scenario,
    fixture: &Fixture,
    node: &Path,
) -> Result<Timeline, ScenarioError> {
    let script = write_program(scenario, fixture)?;
    let mut command = Command::new(node);
    command
        .arg(&script)
        .current_dir(fixture.dir())
        .env("UV_THREADPOOL_SIZE", scenario.pool_size.to_string());
    let (status, stdout, stderr) = NodeChild::spawn(&mut command)?.finish(NODE_TIME_LIMIT)?;
    let mut completions = Vec::new();
    for text in stdout.lines().filter(|l| !l.trim().is_empty()) {
        let line: Line = serde_json::from_str(text)
            .map_err(|e| ScenarioError::Node(format!("unexpected output {text:?}: {e}")))?;
        if let Some(error) = line.error {
            return Err(ScenarioError::Node(format!(
                "op `{}` failed: {error}",
                line.label
            )));
        }
        completions.push(Completion {
            label: line.label,
            start_ms: line.start_ms.unwrap_or(0.0),
            ms: line.ms.unwrap_or(0.0),
            thread: line.thread.unwrap_or_default(),
        });
    }
    if !status.success() {
        return Err(ScenarioError::Node(format!(
            "the program {} exited with {status}: {}",
            script.display(),
            reason(&stderr)
        )));
    }
    // Lines of different threads reach the pipe in the order they were written, which may
    // differ slightly from time order; the sort is stable, so one thread's order is kept.
    completions.sort_by(|a, b| a.ms.total_cmp(&b.ms));
    let timeline = Timeline { completions };
    timeline.check_complete(scenario, "node")?;
    Ok(timeline)
}
