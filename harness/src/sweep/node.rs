//! Points on real Node.js: the twin of `lab point` (`node/point.js`, the same `--task` and
//! the same protocol) started in place of `lab point`, with the deployment's pool size in
//! `UV_THREADPOOL_SIZE` (libuv reads it once, when its pool starts).
//!
//! Where things are:
//! - the `node` program: `LOOPLAB_NODE` if set, else `node` on the `PATH`;
//! - the twin: `LOOPLAB_NODE_DIR` if set, else the `node/` folder of the source tree this
//!   `lab` was built from (its npm packages installed by `scripts/setup`).
//!
//! A sweep that asks for Node checks all of it before it starts ([`preflight`]): Node 20 or
//! later and the twin, each missing piece one line naming the fix; the twin's packages, which
//! it installs from the lock file (`npm ci`) when they are missing.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::point::Task;

/// The oldest Node.js the twins are written for.
pub const MIN_NODE_MAJOR: u32 = 20;

/// The `node` program.
pub fn program() -> OsString {
    std::env::var_os("LOOPLAB_NODE").unwrap_or_else(|| "node".into())
}

/// The folder holding `point.js` and its packages.
pub fn twin_dir() -> PathBuf {
    match std::env::var_os("LOOPLAB_NODE_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../node")),
    }
}

/// Checks that Node points can run here; the error is one line naming the fix.
pub fn preflight() -> Result<()> {
    let output = Command::new(program())
        .arg("--version")
        .output()
        .context("the sweep runs points on Node.js, but `node` cannot be started; install Node.js 20 (scripts/setup) or set LOOPLAB_NODE")?;
    let version = String::from_utf8_lossy(&output.stdout).trim().to_string();
    let major = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok());
    match major {
        Some(m) if m >= MIN_NODE_MAJOR => {}
        _ => bail!(
            "the sweep runs points on Node.js, but `node --version` says `{version}`; Node {MIN_NODE_MAJOR} or later is needed (scripts/setup installs it)"
        ),
    }
    let dir = twin_dir();
    if !dir.join("point.js").is_file() {
        bail!(
            "the Node twin {} is missing; set LOOPLAB_NODE_DIR to the source tree's node/ folder",
            dir.join("point.js").display()
        );
    }
    ensure_packages()
}

/// Installs the twin's npm packages from its lock file when they are missing.
pub fn ensure_packages() -> Result<()> {
    let dir = twin_dir();
    if !dir.join("node_modules/piscina").is_dir() {
        install_packages(&dir)?;
    }
    Ok(())
}

/// `npm ci` in the twin's folder (the versions its lock file pins), for a sweep that needs
/// them on a machine where `scripts/setup` has not run yet.
fn install_packages(dir: &Path) -> Result<()> {
    eprintln!(
        "lab: installing the Node twin's packages (npm ci --prefix {})",
        dir.display()
    );
    let status = Command::new("npm")
        .args([
            "ci",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            "--prefix",
        ])
        .arg(dir)
        .stdout(Stdio::null())
        .status();
    match status {
        Ok(s) if s.success() && dir.join("node_modules/piscina").is_dir() => Ok(()),
        _ => bail!(
            "the Node twin's packages are not installed in {} and `npm ci` could not install them; run scripts/setup",
            dir.display()
        ),
    }
}

/// `node point.js --task JSON` with the pool size in its environment.
pub fn command(task: &Task, json: &str) -> Command {
    let mut command = Command::new(program());
    command
        .arg(twin_dir().join("point.js"))
        .arg("--task")
        .arg(json);
    let pool = match task {
        Task::Serve(d) | Task::Batch { deployment: d, .. } => Some(d.pool),
        Task::Experiments => None,
    };
    if let Some(pool) = pool {
        command.env("UV_THREADPOOL_SIZE", pool.to_string());
    }
    command
}
