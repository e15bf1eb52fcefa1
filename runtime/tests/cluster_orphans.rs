//! A worker never outlives its primary: the primary itself runs as a child process (this test
//! binary re-executed with `LOOPLAB_TEST_PRIMARY=1`), prints its workers' pids, and is killed
//! with `SIGKILL`, which gives it no chance to clean up; its workers must die. Worker 1 sleeps
//! on its loop thread, so it cannot notice its channel closing: only `PR_SET_PDEATHSIG` can end
//! it, and it must die of `SIGKILL`. Worker 2 runs its loop and may also end on its own
//! (exit 0) when it sees the channel close, whichever comes first.
//!
//! This test makes its process a child subreaper, so the orphaned workers are re-parented to it
//! (not to pid 1, which may not reap in a container) and it can reap them and read how they
//! died. That setting is process-wide, hence this separate test binary.

mod cluster_support;

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use cluster_support::{echo_worker, online, spec, start};
use looplab_runtime::cluster::{worker_role, ClusterEvent, SchedulingPolicy};
use looplab_runtime::{EventLoop, RunMode};

const NAME: &str = "workers_die_when_their_primary_is_sigkilled";
const PRIMARY_ENV: &str = "LOOPLAB_TEST_PRIMARY";

/// The primary child: 2 workers; prints their pids (by id) once both are online, then serves until
/// killed (or, if nobody kills it, shuts down after 60 s).
fn primary_until_killed() {
    let lp = EventLoop::new().unwrap();
    let (cluster, events) = start(&lp, spec(NAME, 2, SchedulingPolicy::RoundRobin));
    cluster_support::run_until(&lp, "2 workers online", || online(&events).len() == 2);
    let mut online = online(&events);
    online.sort();
    let pids: Vec<String> = online.iter().map(|(_, pid)| pid.to_string()).collect();
    println!("WORKER_PIDS {}", pids.join(" "));
    let stop = cluster.clone();
    lp.set_timeout(60_000, move |lp| stop.shutdown(lp, 1_000));
    while !matches!(events.borrow().last(), Some(ClusterEvent::AllExited)) {
        lp.run(RunMode::Once);
    }
}

/// A worker that comes online, then blocks its loop thread (bounded: 60 s).
fn blocked_worker(role: looplab_runtime::cluster::WorkerRole) {
    let lp = EventLoop::new().unwrap();
    let _worker = role.connect(&lp).unwrap();
    std::thread::sleep(Duration::from_secs(60));
}

/// Kills and reaps what the test started, whatever happens: the primary, then any worker that
/// became our child and is not reaped yet.
struct Reaper {
    primary: Child,
    workers: Vec<libc::pid_t>,
}

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.primary.kill();
        let _ = self.primary.wait();
        for pid in self.workers.drain(..) {
            // SAFETY: `pid` is an unreaped child of ours (re-parented to this subreaper), so it
            // names no other process; waitpid reaps it.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, std::ptr::null_mut(), 0);
            }
        }
    }
}

/// Waits up to 20 s for orphan `pid` to end; returns its wait status.
fn reap_orphan(pid: libc::pid_t) -> libc::c_int {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut status = 0;
        // SAFETY: waitpid writes only `status`.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        assert!(
            r >= 0,
            "worker {pid} is not our child: {}",
            std::io::Error::last_os_error()
        );
        if r == pid {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "worker {pid} outlived its primary"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Starts the primary child; its `WORKER_PIDS` line arrives on the receiver.
fn spawn_primary() -> (Reaper, mpsc::Receiver<String>) {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([NAME, "--exact", "--nocapture", "--test-threads=1", "-q"])
        .env(PRIMARY_ENV, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    // SAFETY: prctl is async-signal-safe; the primary child dies if this test thread does.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
            Ok(())
        });
    }
    let mut reaper = Reaper {
        primary: command.spawn().unwrap(),
        workers: Vec::new(),
    };
    let stdout = reaper.primary.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(pids) = line.strip_prefix("WORKER_PIDS ") {
                let _ = tx.send(pids.to_string());
            }
        }
    });
    (reaper, rx)
}

#[test]
fn workers_die_when_their_primary_is_sigkilled() {
    if let Some(role) = worker_role() {
        if role.id() == Some(1) {
            return blocked_worker(role);
        }
        return echo_worker(role);
    }
    if std::env::var_os(PRIMARY_ENV).is_some() {
        return primary_until_killed();
    }
    // SAFETY: prctl on this process only.
    assert_eq!(unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1) }, 0);
    let (mut reaper, rx) = spawn_primary();
    let line = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the primary reports its workers");
    let pids: Vec<libc::pid_t> = line.split(' ').map(|p| p.parse().unwrap()).collect();
    assert_eq!(pids.len(), 2);
    reaper.workers = pids.clone();
    for &pid in &pids {
        assert!(!cluster_support::pid_gone(pid as u32), "worker {pid} runs");
    }
    reaper.primary.kill().unwrap();
    reaper.primary.wait().unwrap();
    for (i, &pid) in pids.iter().enumerate() {
        let status = reap_orphan(pid);
        reaper.workers.retain(|p| *p != pid);
        let killed = libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGKILL;
        let exited_0 = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
        println!(
            "worker {} (pid {pid}): killed by SIGKILL {killed}, exited 0 {exited_0}",
            i + 1
        );
        if i == 0 {
            assert!(
                killed,
                "the blocked worker died of PR_SET_PDEATHSIG, status {status:#x}"
            );
        } else {
            assert!(killed || exited_0, "worker {pid} ended, status {status:#x}");
        }
        assert!(cluster_support::pid_gone(pid as u32));
    }
}
