//! The processes `lab calibrate --costs` measures: one probe process per measurement (`node
//! scripts/node/costs.js PROBE --n N` or `lab cost-probe PROBE --n N`), and one HTTP server
//! per request measurement (`node scripts/node/hello-server.js` or `lab serve --workload
//! hello|file|hash`), driven by the lab's load generator in this process ([`CONNECTIONS`]
//! keep-alive loopback connections).
//!
//! Every child dies with `lab` (`PR_SET_PDEATHSIG`), is bounded in time ([`PROBE_LIMIT`]) and
//! is killed and reaped on every path ([`Reaped`]'s `Drop`). A server's JavaScript thread's CPU
//! time is its main thread's run time (`/proc/PID/task/PID/schedstat`, ns, where
//! `/proc/PID/stat` counts 10 ms ticks).

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use looplab_workloads::costs_probe::ProbeResult;
use looplab_workloads::load::{self, LoadSpec, WindowEdge};

/// Longest one probe or server may live.
pub const PROBE_LIMIT: Duration = Duration::from_secs(90);

/// A child killed (SIGTERM, then SIGKILL after 5 s) and reaped when dropped.
pub struct Reaped(pub Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            // SAFETY: kill(2) on our own child's pid, which is not reaped yet.
            unsafe { libc::kill(self.0.id() as libc::pid_t, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(5);
            while matches!(self.0.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// Starts `command` with piped stdout, dying with this process.
fn spawn(command: &mut Command) -> Result<Reaped> {
    // SAFETY: the closure runs in the forked child before exec and only calls prctl(2).
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("start {command:?}"))?;
    Ok(Reaped(child))
}

/// Runs one probe process to its end (at most [`PROBE_LIMIT`]) and reads its JSON line.
pub fn probe(command: &mut Command) -> Result<ProbeResult> {
    let shown = format!("{command:?}");
    let mut child = spawn(command)?;
    let mut out = child.0.stdout.take().context("probe stdout")?;
    let mut err = child.0.stderr.take().context("probe stderr")?;
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + PROBE_LIMIT;
    let status = loop {
        if let Some(status) = child.0.try_wait()? {
            break status;
        }
        if Instant::now() > deadline {
            bail!("{shown} ran longer than {} s", PROBE_LIMIT.as_secs());
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let stdout = reader.join().unwrap_or_default();
    if !status.success() {
        let mut stderr = String::new();
        let _ = err.read_to_string(&mut stderr);
        bail!("{shown} failed ({status}): {}", stderr.trim());
    }
    serde_json::from_str(stdout.trim())
        .with_context(|| format!("{shown} printed {:?}", stdout.trim()))
}

/// The load of one request measurement: `connections` keep-alive connections in a closed loop
/// from the lab's own generator asking for `path`, measured over `window` after `warmup`.
pub struct Load<'a> {
    pub path: &'a str,
    pub connections: usize,
    pub warmup: Duration,
    pub window: Duration,
}

/// What one request measurement gives: the CPU the server's JavaScript thread (its main
/// thread: Node's, or the loop of `lab serve --strategy loop`) spends per request answered
/// under `load`, less its idle CPU over as long, ns. Only that thread, because that is where
/// a profile's costs are charged. The CPU per request depends on how many requests arrive
/// together (one connection at a time cost Node 40-53 µs per hello request in seven
/// calibrations on two machines, 16 at once 14-16 µs: one poll and one wake-up serve
/// several) and on what the other threads do meanwhile.
pub fn js_thread_per_request(command: &mut Command, load: &Load) -> Result<f64> {
    let mut server = spawn(command)?;
    let stdout = server.0.stdout.take().context("server stdout")?;
    let addr = listening_addr(stdout)?;
    let pid = server.0.id();
    let path = load.path;
    let mut spec = LoadSpec::new(format!("http://{addr}{path}"));
    (spec.connections, spec.warmup, spec.duration) = (load.connections, load.warmup, load.window);
    let (mut open, mut close) = (None, None);
    let report = load::run_with_window(&spec, &mut |edge| {
        let cpu = main_thread_cpu_ns(pid).ok();
        match edge {
            WindowEdge::Open => open = cpu,
            WindowEdge::Close => close = cpu,
        }
    })?;
    if report.requests == 0 || report.errors.total > 0 {
        let (ok, errors) = (report.requests, report.errors.total);
        bail!("the server at {addr} answered {ok} requests to {path} and failed {errors}");
    }
    let (Some(open), Some(close)) = (open, close) else {
        bail!("the server at {addr} (pid {pid}) ended before its CPU time could be read");
    };
    let busy = close.saturating_sub(open);
    let idle0 = main_thread_cpu_ns(pid)?;
    let idle_window = Duration::from_millis(200);
    std::thread::sleep(idle_window);
    let idle =
        (main_thread_cpu_ns(pid)? - idle0) as f64 * report.window_s / idle_window.as_secs_f64();
    drop(server);
    Ok((busy as f64 - idle).max(0.0) / report.requests as f64)
}

/// A process' main thread's run time so far (`/proc/PID/task/PID/schedstat`), ns.
fn main_thread_cpu_ns(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/task/{pid}/schedstat");
    let text = std::fs::read_to_string(&path).with_context(|| format!("read {path}"))?;
    text.split_whitespace()
        .next()
        .and_then(|f| f.parse().ok())
        .with_context(|| format!("unexpected {path}: {text:?}"))
}

/// Keep-alive connections of most request measurements: the sweep's default.
pub const CONNECTIONS: usize = 16;

/// Reads the server's `listening on http://ADDR/` line (within [`PROBE_LIMIT`]).
fn listening_addr(stdout: std::process::ChildStdout) -> Result<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next().and_then(|l| l.ok()).unwrap_or_default();
        let _ = tx.send(first);
        for _ in lines {} // keep the pipe drained until the server exits
    });
    let line = rx
        .recv_timeout(Duration::from_secs(30))
        .context("the server did not say where it listens within 30 s")?;
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .filter(|a| !a.is_empty());
    addr.map(str::to_string)
        .with_context(|| format!("unexpected first line from the server: {line:?}"))
}
