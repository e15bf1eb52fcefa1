//! A `lab serve` server run as a child process by an experiment, and a tiny blocking client.
//!
//! The child is always reaped: `stop` sends SIGINT and waits; `Drop` kills and waits if it is
//! still running (an experiment that fails half-way leaves nothing behind). Should `lab` itself
//! die first, the kernel kills the child (`PR_SET_PDEATHSIG`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::io_err;
use crate::error::WorkloadError;

/// A `lab serve` child; killed and reaped if still running when dropped.
pub(crate) struct ServerProcess {
    child: Child,
    pub addr: String,
    /// Reads the child's stdout after its first line, so the child never writes to a closed
    /// pipe; joined once the child has exited.
    drain: Option<std::thread::JoinHandle<()>>,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        if let Some(drain) = self.drain.take() {
            let _ = drain.join();
        }
    }
}

impl ServerProcess {
    pub fn start(lab: &Path, args: &[String]) -> Result<Self, WorkloadError> {
        let mut command = Command::new(lab);
        // SAFETY: the closure runs in the forked child before exec and only calls prctl(2),
        // which is async-signal-safe.
        unsafe {
            command.pre_exec(die_with_parent);
        }
        let mut child = command
            .arg("serve")
            .args(args)
            .stdout(Stdio::piped())
            // Its exit reports would interleave with the experiment's table; failures show up
            // as an experiment error instead.
            .stderr(Stdio::null())
            .spawn()
            .map_err(io_err(format!("start {}", lab.display())))?;
        let mut line = String::new();
        let stdout = child.stdout.take();
        let mut server = ServerProcess {
            child,
            addr: String::new(),
            drain: None,
        };
        if let Some(stdout) = stdout {
            let mut reader = BufReader::new(stdout);
            let _ = reader.read_line(&mut line);
            server.drain = Some(std::thread::spawn(move || {
                let _ = std::io::copy(&mut reader, &mut std::io::sink());
            }));
        }
        server.addr = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .map(str::to_string)
            .ok_or_else(|| WorkloadError::Incomplete {
                missing: 1,
                detail: format!("`lab serve` did not say where it listens: {line:?}"),
            })?;
        Ok(server)
    }

    /// SIGINT, then wait up to 10 s, then kill.
    pub fn stop(mut self) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) on the pid of our own child, not yet reaped (we hold the Child).
        unsafe { libc::kill(pid, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // Drop kills and reaps.
    }
}

/// In a forked child before exec: be killed when the thread that started us ends (so a `lab`
/// killed by a signal leaves no server behind).
pub(crate) fn die_with_parent() -> std::io::Result<()> {
    // SAFETY: prctl with PR_SET_PDEATHSIG takes a signal number and touches no memory.
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// One GET on a fresh connection to `addr`; returns how long until the whole answer arrived.
pub(crate) fn timed_get(addr: &str, path: &str) -> Result<Duration, WorkloadError> {
    let start = Instant::now();
    let mut socket = TcpStream::connect(addr).map_err(io_err(format!("connect to {addr}")))?;
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(io_err("set a read timeout"))?;
    write!(
        socket,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .map_err(io_err(format!("send GET {path}")))?;
    let mut answer = Vec::new();
    socket
        .read_to_end(&mut answer)
        .map_err(io_err(format!("read the answer to GET {path}")))?;
    if !answer.starts_with(b"HTTP/1.1 200") {
        return Err(WorkloadError::Incomplete {
            missing: 1,
            detail: format!("GET {path} was not answered 200"),
        });
    }
    Ok(start.elapsed())
}
