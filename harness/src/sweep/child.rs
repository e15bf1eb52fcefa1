//! The executor's side of `lab point`: a child process per point, spoken to over its stdin and
//! stdout (protocol in `crate::point`), always reaped.
//!
//! Rules:
//! 1. The child runs in a process group of its own, so a Ctrl-C at the terminal reaches only
//!    the executor, which then stops the child itself (and a cluster point's workers with it).
//! 2. The child asks the kernel to kill it if the executor dies (`PR_SET_PDEATHSIG`), so even a
//!    `kill -9` of `lab sweep` leaves nothing running.
//! 3. Every wait is bounded: a reply that does not come in time is an error naming the command
//!    and the time, and the child is killed.
//! 4. `stop` asks politely (`stop` on stdin, then closes stdin), waits up to [`STOP_GRACE`],
//!    then kills the process group; `Drop` kills and reaps whatever is left. Either way the
//!    child is reaped before the next point starts.
//! 5. The child's stderr is kept (its last lines) for error messages, never shown while the
//!    progress bar runs.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

use crate::point::{Reply, Task};
use looplab_workloads::deploy::Runtime;

/// How long a point may take to say it is ready (a cluster starts K processes).
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a stopped point gets to exit before it is killed.
pub const STOP_GRACE: Duration = Duration::from_secs(10);
/// Lines of the child's stderr kept for error messages.
const STDERR_LINES: usize = 8;

/// PIDs of the point processes alive now, for the Ctrl-C handler.
static LIVE: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// Sends SIGTERM to the process group of every live point (the signal handler's stop).
pub fn terminate_all() {
    for &pid in LIVE.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        // SAFETY: kill(2) on the process group of a child we started and have not reaped
        // (it leaves LIVE before it is reaped), so the id cannot have been reused.
        unsafe { libc::kill(-(pid as libc::pid_t), libc::SIGTERM) };
    }
}

/// `lab point --task JSON`, or its Node twin ([`super::node`]).
fn point_command(lab: &Path, runtime: Runtime, task: &Task) -> Result<Command> {
    let json = serde_json::to_string(task).context("encode the point for its process")?;
    Ok(match runtime {
        Runtime::Looplab => {
            let mut command = Command::new(lab);
            command.arg("point").arg("--task").arg(json);
            command
        }
        Runtime::Node => super::node::command(task, &json),
        Runtime::Command => bail!("a point of the user's app is started with its command"),
    })
}

/// `command` with piped stdio, in a process group of its own (rule 1), killed by the kernel
/// if the executor dies (rule 2).
fn contained(mut command: Command) -> Command {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    // SAFETY: prctl is async-signal-safe and touches only the new process.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command
}

/// A thread that sends each line of the child's stdout (its replies) to `tx`, until either
/// side closes.
fn forward_lines(out: ChildStdout, tx: Sender<String>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    })
}

/// A thread that keeps the last [`STDERR_LINES`] lines of the child's stderr in `keep`
/// (rule 5).
fn keep_last_lines(err: ChildStderr, keep: Arc<Mutex<VecDeque<String>>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines() {
            let Ok(line) = line else { break };
            let mut kept = keep.lock().unwrap_or_else(|e| e.into_inner());
            if kept.len() == STDERR_LINES {
                kept.pop_front();
            }
            kept.push_back(line);
        }
    })
}

/// One running `lab point`.
pub struct PointProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    replies: Receiver<String>,
    stderr: Arc<Mutex<VecDeque<String>>>,
    readers: Vec<JoinHandle<()>>,
    reaped: bool,
    protocol: bool,
}

impl PointProcess {
    /// Starts `lab point` (or its twin on `runtime`) for `task` and waits until it is ready;
    /// returns it and what it said.
    pub fn start(
        lab: &Path,
        runtime: Runtime,
        task: &Task,
    ) -> Result<(PointProcess, Option<String>)> {
        let command = contained(point_command(lab, runtime, task)?);
        let mut process = Self::spawn(command, true)
            .with_context(|| format!("start a {} point", runtime.name()))?;
        match process.wait_reply("start", READY_TIMEOUT)? {
            Reply::Ready { addr } => Ok((process, addr)),
            other => Err(process.unexpected("start", &other)),
        }
    }

    /// Starts the user's app for a point ([`super::app`]) and waits until its port accepts
    /// connections; returns it and the address.
    pub fn start_app(command: Command, port: u16) -> Result<(PointProcess, String)> {
        let mut command = contained(command);
        command.stdout(Stdio::null());
        let mut process = Self::spawn(command, false).context("start the app")?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        process.wait_listening(addr, READY_TIMEOUT)?;
        Ok((process, addr.to_string()))
    }

    /// Spawns `command`, registered as live, its output read by threads. `protocol`: it
    /// speaks `lab point`'s protocol (else it is the user's app, stopped with SIGTERM).
    fn spawn(mut command: Command, protocol: bool) -> Result<PointProcess> {
        let mut child = command.spawn()?;
        LIVE.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(child.id());
        let (tx, replies) = mpsc::channel();
        let stderr = Arc::new(Mutex::new(VecDeque::new()));
        let mut readers = Vec::new();
        if let Some(out) = child.stdout.take() {
            readers.push(forward_lines(out, tx));
        }
        if let Some(err) = child.stderr.take() {
            readers.push(keep_last_lines(err, Arc::clone(&stderr)));
        }
        let stdin = child.stdin.take();
        Ok(PointProcess {
            child,
            stdin,
            replies,
            stderr,
            readers,
            reaped: false,
            protocol,
        })
    }

    /// Waits until `addr` accepts a connection, the child exits, or `timeout` passes.
    fn wait_listening(&mut self, addr: SocketAddr, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.mark_reaped();
                return Err(self.failure(&format!(
                    "the app exited ({status}) before listening on {addr}"
                )));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(self.failure(&format!(
                    "the app did not listen on {addr} within {} s (it gets the port in PORT)",
                    timeout.as_secs()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the process speaks `lab point`'s protocol (loop probes and batches).
    pub fn speaks_protocol(&self) -> bool {
        self.protocol
    }

    /// The child's pid (the root of the point's process tree).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `command` and waits up to `timeout` for its reply.
    pub fn request(&mut self, command: &str, timeout: Duration) -> Result<Reply> {
        self.send(command)?;
        self.wait_reply(command, timeout)
    }

    /// Sends `command` without waiting (to start several points' batches at once).
    pub fn send(&mut self, command: &str) -> Result<()> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| anyhow!("the point was already stopped"))?;
        writeln!(stdin, "{command}")
            .and_then(|()| stdin.flush())
            .map_err(|e| self.failure(&format!("send `{command}`: {e}")))
    }

    /// Waits for the next reply to `what`.
    pub fn wait_reply(&mut self, what: &str, timeout: Duration) -> Result<Reply> {
        let line = match self.replies.recv_timeout(timeout) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => {
                self.kill();
                return Err(self.failure(&format!(
                    "no answer to `{what}` within {} s; the point was stopped",
                    timeout.as_secs()
                )));
            }
            Err(RecvTimeoutError::Disconnected) => {
                self.reap_within(Duration::from_secs(2));
                return Err(self.failure(&format!("the point process ended during `{what}`")));
            }
        };
        let reply: Reply = serde_json::from_str(&line)
            .map_err(|e| anyhow!("the point answered `{what}` with {line:?}: {e}"))?;
        if let Reply::Error(text) = &reply {
            bail!("{text}");
        }
        Ok(reply)
    }

    /// An error for a reply of the wrong kind.
    pub fn unexpected(&self, what: &str, reply: &Reply) -> anyhow::Error {
        anyhow!("the point answered `{what}` with an unexpected {reply:?}")
    }

    /// Stops the point: `stop` and the end of stdin (the user's app: SIGTERM to its group), up
    /// to [`STOP_GRACE`], then kill. Returns whether it exited by itself (a point: with
    /// status 0; the app: in any way, SIGTERM's default included).
    pub fn stop(mut self) -> bool {
        if !self.protocol && !self.reaped {
            // SAFETY: kill(2) on the group of our own unreaped child (see `terminate_all`).
            unsafe { libc::kill(-(self.child.id() as libc::pid_t), libc::SIGTERM) };
        }
        if let Some(mut stdin) = self.stdin.take() {
            if self.protocol {
                let _ = writeln!(stdin, "stop");
                let _ = stdin.flush();
            }
        }
        let clean = self.reap_within(STOP_GRACE) || (!self.protocol && self.reaped);
        if !clean {
            self.kill();
        }
        clean
    }

    /// Waits up to `time` for the child to exit; true if it exited with status 0.
    fn reap_within(&mut self, time: Duration) -> bool {
        let deadline = Instant::now() + time;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    self.mark_reaped();
                    return status.success();
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                _ => return false,
            }
        }
    }

    /// Kills the whole process group and reaps the child.
    fn kill(&mut self) {
        if self.reaped {
            return;
        }
        // SAFETY: kill(2) on the group of our own unreaped child (see `terminate_all`).
        unsafe { libc::kill(-(self.child.id() as libc::pid_t), libc::SIGKILL) };
        let _ = self.child.wait();
        self.mark_reaped();
    }

    fn mark_reaped(&mut self) {
        self.reaped = true;
        let pid = self.child.id();
        LIVE.lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|&p| p != pid);
        self.stdin = None;
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
    }

    /// `what` failed; adds the last lines the child wrote to stderr, if any.
    fn failure(&self, what: &str) -> anyhow::Error {
        let kept = self.stderr.lock().unwrap_or_else(|e| e.into_inner());
        match kept.back() {
            Some(last) => anyhow!(
                "{what} (it said: {})",
                last.trim_start_matches("lab: error: ")
            ),
            None => anyhow!("{what}"),
        }
    }
}

impl Drop for PointProcess {
    fn drop(&mut self) {
        self.stdin = None;
        if !self.reaped && !self.reap_within(Duration::from_millis(200)) {
            self.kill();
        }
    }
}
