//! Starting a worker process (fork + exec through std's `Command`) and reaping it.
//!
//! The child is the given executable with `LOOPLAB_CLUSTER_WORKER=<id>` and
//! `LOOPLAB_CLUSTER_IPC_FD=<n>` in its environment, where `n` is its end of a Unix socket pair;
//! stdin is `/dev/null` (workers must not compete for the terminal), stdout is inherited
//! unless the spec discards it, stderr is inherited, or forwarded through a pipe whose last lines
//! are kept (`stderr.rs`) when the spec asks for them. With a temp root, the child also gets
//! `TMPDIR=<root>/worker-<id>`, a folder created here and removed once the child is reaped.
//! Between fork and exec (`pre_exec`, async-signal-safe calls only) the child:
//! 1. clears `FD_CLOEXEC` on that one descriptor, so it alone survives the exec;
//! 2. sets `PR_SET_PDEATHSIG` to `SIGKILL`, so it never outlives the primary, even one killed
//!    with `SIGKILL`; caveat: Linux sends it when the *thread* that forked exits, so workers must
//!    be spawned from the primary's loop thread, which lives as long as the cluster;
//! 3. exits if its parent already died before step 2 (the parent pid changed).
//!
//! Reaping: one thread per child waits with `waitid(WNOWAIT)` (the child stays a zombie, so its
//! pid cannot be reused), then takes the handle's lock, reaps with `Child::wait` and marks it
//! reaped. A signal is sent only under that lock and only if not yet reaped, so a kill by pid
//! never reaches a recycled pid. The thread then collects the stderr tail, removes the worker's
//! temp folder, queues an [`ExitReport`] and wakes the loop.
//! Dropping a [`ProcessHandle`] kills the child if it still runs and joins its reaper: no
//! process is left behind, whatever path drops it.

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::stderr::{forward, StderrTail};
use super::{ClusterError, WorkerId};
use crate::AsyncSender;

/// Marks a worker process and carries its id.
pub const WORKER_ENV: &str = "LOOPLAB_CLUSTER_WORKER";
/// The worker's inherited descriptor number of its channel to the primary.
pub const IPC_FD_ENV: &str = "LOOPLAB_CLUSTER_IPC_FD";

/// What the reaper thread reports when a worker has exited.
#[derive(Debug)]
pub(crate) struct ExitReport {
    pub id: WorkerId,
    pub pid: u32,
    /// `None` if the status could not be read (the child was reaped elsewhere).
    pub status: Option<ExitStatus>,
    /// The last lines of its stderr, when the spec asked to keep them.
    pub stderr_tail: Vec<String>,
}

/// Exit reports waiting for the loop.
pub(crate) type ExitQueue = Arc<Mutex<Vec<ExitReport>>>;

/// How to start a worker.
pub(crate) struct WorkerCommand {
    pub exe: PathBuf,
    pub args: Vec<OsString>,
    pub discard_stdout: bool,
    pub stderr_tail_lines: usize,
    pub temp_root: Option<PathBuf>,
}

/// A started worker: its process and the primary's end of its channel.
pub(crate) struct Spawned {
    pub process: ProcessHandle,
    pub channel: UnixStream,
}

/// A child process with its reaper thread.
pub(crate) struct ProcessHandle {
    pid: u32,
    reaped: Arc<Mutex<bool>>,
    reaper: Option<JoinHandle<()>>,
}

impl ProcessHandle {
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Sends `signal` unless the child was already reaped; returns whether it was sent.
    pub fn signal(&self, signal: libc::c_int) -> bool {
        let reaped = self.reaped.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: kill(2) has no memory effects; the pid is our unreaped child (checked under
        // the lock the reaper takes before reaping), so it names no other process.
        !*reaped && unsafe { libc::kill(self.pid as libc::pid_t, signal) } == 0
    }

    /// Kills the child if it still runs and waits until it is reaped.
    pub fn kill_and_reap(&mut self) {
        self.signal(libc::SIGKILL);
        if let Some(reaper) = self.reaper.take() {
            // A panicking reaper has nothing left to clean: its Child was dropped.
            let _ = reaper.join();
        }
    }
}

impl Drop for ProcessHandle {
    fn drop(&mut self) {
        self.kill_and_reap();
    }
}

/// Starts worker `id`; its exit will be queued on `exits` and announced through `wake`.
pub(crate) fn spawn_worker(
    cmd: &WorkerCommand,
    id: WorkerId,
    exits: &ExitQueue,
    wake: &AsyncSender,
) -> Result<Spawned, ClusterError> {
    let (primary_end, worker_end) =
        UnixStream::pair().map_err(|cause| ClusterError::Ipc { cause })?;
    let fd = worker_end.as_raw_fd();
    let parent = std::process::id() as libc::pid_t;
    let mut command = Command::new(&cmd.exe);
    command
        .args(&cmd.args)
        .env(WORKER_ENV, id.to_string())
        .env(IPC_FD_ENV, fd.to_string())
        .stdin(Stdio::null());
    if cmd.discard_stdout {
        command.stdout(Stdio::null());
    }
    if cmd.stderr_tail_lines > 0 {
        command.stderr(Stdio::piped());
    }
    let temp = match &cmd.temp_root {
        Some(root) => Some(worker_temp(root, id, &mut command)?),
        None => None,
    };
    // SAFETY: the closure only makes async-signal-safe calls (fcntl, prctl, getppid, _exit)
    // and allocates nothing; it touches no state shared with other threads.
    unsafe {
        command.pre_exec(move || prepare_child(fd, parent));
    }
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(cause) => {
            remove_temp(temp.as_deref());
            let exe = cmd.exe.clone();
            return Err(ClusterError::Spawn { exe, cause });
        }
    };
    drop(worker_end);
    // Should the forwarder not start, dropping the pipe's read end makes the worker's writes
    // fail (EPIPE) rather than block.
    let tail = child
        .stderr
        .take()
        .and_then(|stderr| forward(stderr, id, cmd.stderr_tail_lines).ok());
    let leftovers = Leftovers { tail, temp };
    let process = start_reaper(child, id, exits, wake, leftovers)?;
    Ok(Spawned {
        process,
        channel: primary_end,
    })
}

/// Creates `<root>/worker-<id>` and makes it the child's `TMPDIR`.
fn worker_temp(root: &Path, id: WorkerId, command: &mut Command) -> Result<PathBuf, ClusterError> {
    let dir = root.join(format!("worker-{id}"));
    std::fs::create_dir_all(&dir).map_err(|cause| ClusterError::TempDir {
        path: dir.clone(),
        cause,
    })?;
    command.env("TMPDIR", &dir);
    Ok(dir)
}

fn remove_temp(dir: Option<&Path>) {
    if let Some(dir) = dir {
        // Gone already, or not ours to remove any more: nothing to report to anyone.
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// What the reaper tidies after the exit: the stderr forwarder and the temp folder.
struct Leftovers {
    tail: Option<StderrTail>,
    temp: Option<PathBuf>,
}

/// How long the reaper waits for the end of a dead worker's stderr.
const TAIL_WAIT: Duration = Duration::from_millis(500);

/// Runs in the child between fork and exec.
fn prepare_child(ipc_fd: RawFd, parent: libc::pid_t) -> io::Result<()> {
    // SAFETY: plain system calls on our own descriptor and process; no memory is shared.
    unsafe {
        if libc::fcntl(ipc_fd, libc::F_SETFD, 0) == -1 {
            return Err(io::Error::last_os_error());
        }
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) == -1 {
            return Err(io::Error::last_os_error());
        }
        if libc::getppid() != parent {
            libc::_exit(1);
        }
    }
    Ok(())
}

fn start_reaper(
    mut child: Child,
    id: WorkerId,
    exits: &ExitQueue,
    wake: &AsyncSender,
    leftovers: Leftovers,
) -> Result<ProcessHandle, ClusterError> {
    let pid = child.id();
    let reaped = Arc::new(Mutex::new(false));
    let (lock, exits, wake) = (Arc::clone(&reaped), Arc::clone(exits), wake.clone());
    let temp = leftovers.temp.clone();
    let spawned = std::thread::Builder::new()
        .name(format!("cluster-reaper-{id}"))
        .spawn(move || {
            wait_without_reaping(pid);
            let status = {
                let mut reaped = lock.lock().unwrap_or_else(|e| e.into_inner());
                let status = child.wait().ok();
                *reaped = true;
                status
            };
            let stderr_tail = leftovers
                .tail
                .map(|tail| tail.finish(TAIL_WAIT))
                .unwrap_or_default();
            remove_temp(leftovers.temp.as_deref());
            let report = ExitReport {
                id,
                pid,
                status,
                stderr_tail,
            };
            exits.lock().unwrap_or_else(|e| e.into_inner()).push(report);
            wake.send();
        });
    match spawned {
        Ok(reaper) => Ok(ProcessHandle {
            pid,
            reaped,
            reaper: Some(reaper),
        }),
        Err(cause) => {
            // No reaper: kill and reap here rather than leave the child behind. The Child was
            // moved into the closure that failed to start, so reap it by pid.
            // SAFETY: `pid` is our child and has not been reaped.
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGKILL);
                libc::waitpid(pid as libc::pid_t, std::ptr::null_mut(), 0);
            }
            remove_temp(temp.as_deref());
            Err(ClusterError::Reaper { cause })
        }
    }
}

/// Blocks until `pid` has exited, leaving it a zombie (`WNOWAIT`).
fn wait_without_reaping(pid: u32) {
    loop {
        // SAFETY: an all-zero siginfo_t is a valid out-parameter for waitid.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waitid writes only into `info`.
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        if r == 0 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return;
        }
    }
}
