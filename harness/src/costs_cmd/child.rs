//! The processes `lab calibrate --costs` measures: one probe process per measurement (`node
//! scripts/node/costs.js PROBE --n N` or `lab cost-probe PROBE --n N`), and one HTTP server
//! per HTTP measurement (`node scripts/node/hello-server.js` or `lab serve --workload hello`),
//! driven over one keep-alive loopback connection by a small client in this process.
//!
//! Every child dies with `lab` (`PR_SET_PDEATHSIG`), is bounded in time ([`PROBE_LIMIT`]) and
//! is killed and reaped on every path ([`Reaped`]'s `Drop`). A server's CPU time is the sum of
//! its threads' run time (`/proc/PID/task/*/schedstat`, ns; the clock `getrusage` reads, at
//! nanosecond resolution where `/proc/PID/stat` counts 10 ms ticks).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use looplab_workloads::costs_probe::ProbeResult;

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

/// A server's CPU time so far: its threads' run time, ns.
pub fn server_cpu_ns(pid: u32) -> Result<u64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .with_context(|| format!("read /proc/{pid}/task"))?;
    let mut total = 0;
    for task in tasks.flatten() {
        let text = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
        total += text
            .split_whitespace()
            .next()
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Ok(total)
}

/// What one HTTP measurement gives: the server's CPU per request over `n` requests, less its
/// idle CPU over as long (the empty run), ns.
pub fn http_per_request(command: &mut Command, warmup: u64, n: u64) -> Result<f64> {
    let mut server = spawn(command)?;
    let stdout = server.0.stdout.take().context("server stdout")?;
    let addr = listening_addr(stdout)?;
    let pid = server.0.id();
    let mut conn = Client::connect(&addr)?;
    conn.requests(warmup)?;
    let (cpu0, wall) = (server_cpu_ns(pid)?, Instant::now());
    conn.requests(n)?;
    let (busy, took) = (server_cpu_ns(pid)? - cpu0, wall.elapsed());
    let idle0 = server_cpu_ns(pid)?;
    let idle_window = Duration::from_millis(200);
    std::thread::sleep(idle_window);
    let idle =
        (server_cpu_ns(pid)? - idle0) as f64 * took.as_secs_f64() / idle_window.as_secs_f64();
    drop(conn);
    drop(server);
    Ok((busy as f64 - idle).max(0.0) / n as f64)
}

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

/// One keep-alive connection sending `GET /hello` and reading each answer whole.
struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Client {
    fn connect(addr: &str) -> Result<Self> {
        let stream = TcpStream::connect(addr).with_context(|| format!("connect to {addr}"))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        Ok(Self {
            writer: stream.try_clone()?,
            reader: BufReader::new(stream),
        })
    }

    fn requests(&mut self, n: u64) -> Result<()> {
        const REQUEST: &[u8] = b"GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n";
        for _ in 0..n {
            self.writer.write_all(REQUEST)?;
            self.answer()?;
        }
        Ok(())
    }

    /// Reads one answer: the head up to the blank line, then Content-Length bytes.
    fn answer(&mut self) -> Result<()> {
        let (mut line, mut length, mut status) = (String::new(), None, None);
        loop {
            line.clear();
            if self.reader.read_line(&mut line)? == 0 {
                bail!("the server closed the connection");
            }
            let l = line.trim_end().to_ascii_lowercase();
            if l.is_empty() {
                break;
            }
            if status.is_none() {
                status = Some(l.starts_with("http/1.1 200"));
            } else if let Some(v) = l.strip_prefix("content-length:") {
                length = v.trim().parse::<usize>().ok();
            }
        }
        if status != Some(true) {
            bail!("the server did not answer 200");
        }
        let mut body = vec![0; length.context("an answer without Content-Length")?];
        self.reader.read_exact(&mut body)?;
        Ok(())
    }
}
