//! One private scratch folder per `lab` process, so nothing is left in the temp dir.
//!
//! 1. At start: create `$TMPDIR/looplab-XXXXXX` and point `TMPDIR` at it, before any thread
//!    exists, so every temp dir the workloads create (through `tempfile`) lands inside.
//! 2. On Ctrl-C or SIGTERM: remove the folder and exit with status 130. Threads end with the
//!    process; there are no child processes yet.
//! 3. At normal exit (or on an error): `Drop` removes it.

use std::path::PathBuf;

use anyhow::{Context, Result};

/// The scratch folder; removed when dropped.
pub struct Scratch {
    path: PathBuf,
}

impl Scratch {
    /// Creates the folder, redirects `TMPDIR` and installs the signal handler.
    pub fn install() -> Result<Self> {
        let path = tempfile::Builder::new()
            .prefix("looplab-")
            .tempdir()
            .context("create a scratch folder in the temp dir (is TMPDIR writable?)")?
            .keep();
        std::env::set_var("TMPDIR", &path);
        let on_signal = path.clone();
        ctrlc::set_handler(move || {
            let _ = std::fs::remove_dir_all(&on_signal);
            std::process::exit(130);
        })
        .context("install the Ctrl-C handler")?;
        Ok(Self { path })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
