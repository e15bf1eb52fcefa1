//! Starting a worker process (fork + exec through std's `Command`) and reaping it.
//!
//! The child is the given executable with `LOOPLAB_CLUSTER_WORKER=<id>` and
//! `LOOPLAB_CLUSTER_IPC_FD=<n>` in its environment, where `n` is its end of a Unix socket pair;
//! stdin is `/dev/null` (workers must not compete for the terminal), stdout and stderr are
//! inherited unless the spec discards stdout.
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
//! never reaches a recycled pid. The thread then queues an [`ExitReport`] and wakes the loop.
//! Dropping a [`ProcessHandle`] kills the child if it still runs and joins its reaper: no
//! process is left behind, whatever path drops it.

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

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
}

/// Exit reports waiting for the loop.
pub(crate) type ExitQueue = Arc<Mutex<Vec<ExitReport>>>;

/// How to start a worker.
pub(crate) struct WorkerCommand {
    pub exe: PathBuf,
    pub args: Vec<OsString>,
    pub discard_stdout: bool,
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
    // SAFETY: the closure only makes async-signal-safe calls (fcntl, prctl, getppid, _exit)
    // and allocates nothing; it touches no state shared with other threads.
    unsafe {
        command.pre_exec(move || prepare_child(fd, parent));
    }
    let child = command.spawn().map_err(|cause| ClusterError::Spawn {
        exe: cmd.exe.clone(),
        cause,
    })?;
    drop(worker_end);
    let process = start_reaper(child, id, exits, wake)?;
    Ok(Spawned {
        process,
        channel: primary_end,
    })
}

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
) -> Result<ProcessHandle, ClusterError> {
    let pid = child.id();
    let reaped = Arc::new(Mutex::new(false));
    let (lock, exits, wake) = (Arc::clone(&reaped), Arc::clone(exits), wake.clone());
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
            let report = ExitReport { id, pid, status };
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
