//! Points of the user's own app (`runtimes = ["command"]`): the contract between the sweep
//! and the app, which is the README's "Bring your own app".
//!
//! For every repetition the sweep starts `sh -c "exec COMMAND"` (so the command line is
//! written as in a shell) in a process group of its own, with the point's deployment in its
//! environment ([`environment`]), waits until `127.0.0.1:PORT` accepts connections (at most
//! 30 s; the app exiting first is an error with the last lines of its stderr), drives the
//! workload's path with the sweep's generator, samples the process tree from `/proc` like any
//! point, and stops it with SIGTERM to its group (SIGKILL after 10 s). Loop figures (utilization,
//! delay, pool waits) are recorded as absent: the harness cannot see inside an app. Bodies are
//! not checked for length, only for a 2xx status.

use std::net::{SocketAddr, TcpListener};
use std::process::Command;

use anyhow::{Context, Result};

use super::spec::{AppPoint, Deployment};

/// The environment the app gets, names and values.
pub fn environment(d: &Deployment, workload: &str, port: u16) -> Vec<(&'static str, String)> {
    vec![
        ("PORT", port.to_string()),
        ("HOST", "127.0.0.1".into()),
        ("UV_THREADPOOL_SIZE", d.pool.to_string()),
        ("LAB_STRATEGY", d.strategy.name().into()),
        ("LAB_POOL", d.pool.to_string()),
        ("LAB_PROCESSES", d.processes.to_string()),
        ("LAB_WORKERS", d.workers.to_string()),
        ("LAB_WORKLOAD", workload.into()),
        ("LAB_HASH_ITERATIONS", d.hash_iterations.to_string()),
        ("LAB_FILE_BYTES", d.file_bytes.to_string()),
        ("LAB_BUSY_MS", d.busy_ms.to_string()),
    ]
}

/// `sh -c "exec COMMAND"` with the environment for `port`.
pub fn command(app: &AppPoint, d: &Deployment, workload: &str, port: u16) -> Command {
    let mut command = Command::new("sh");
    command.arg("-c").arg(format!("exec {}", app.command));
    command.envs(environment(d, workload, port));
    command
}

/// A port on 127.0.0.1 nobody listens on now (the app binds it a moment later).
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .context("find a free port for the app")?;
    Ok(listener.local_addr()?.port())
}
