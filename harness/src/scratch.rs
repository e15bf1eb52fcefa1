//! One private scratch folder per `lab` process, so nothing is left in the temp dir.
//!
//! 1. At start: create `$TMPDIR/looplab-XXXXXX` and point `TMPDIR` at it, before any thread
//!    exists, so every temp dir the workloads create (through `tempfile`) lands inside.
//! 2. On Ctrl-C or SIGTERM: if a command registered a graceful stop ([`on_first_signal`], as
//!    `lab serve` does), the first signal runs it and the command ends normally; otherwise, and
//!    on any further signal, remove the folder and exit with status 130. Threads end with the
//!    process. Child processes are their commands' business: `lab sweep` stops and reaps its
//!    point processes in its own first-signal hook, and points and cluster workers are
//!    started with `PR_SET_PDEATHSIG`, so none outlives a killed parent.
//! 3. At normal exit (or on an error): `Drop` removes it.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Mutex;

use anyhow::{Context, Result};

type Hook = Box<dyn FnOnce() + Send>;

/// A graceful stop to run on the first signal instead of exiting.
static FIRST_SIGNAL: Mutex<Option<Hook>> = Mutex::new(None);

/// Registers what the first Ctrl-C or SIGTERM should do instead of exiting.
pub fn on_first_signal(hook: impl FnOnce() + Send + 'static) {
    *FIRST_SIGNAL.lock().unwrap_or_else(|e| e.into_inner()) = Some(Box::new(hook));
}

/// The scratch folder; removed when dropped.
pub struct Scratch {
    path: PathBuf,
}

impl Scratch {
    /// Creates the folder, redirects `TMPDIR` and installs the signal handler.
    pub fn install() -> Result<Self> {
        // 0700: every temp file of the workloads lands inside (step 1); tempfile's default
        // leaves the mode to the umask, usually 0755.
        let path = tempfile::Builder::new()
            .prefix("looplab-")
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir()
            .context("create a scratch folder in the temp dir (is TMPDIR writable?)")?
            .keep();
        std::env::set_var("TMPDIR", &path);
        let on_signal = path.clone();
        ctrlc::set_handler(move || {
            let hook = FIRST_SIGNAL
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take();
            match hook {
                Some(stop) => stop(),
                None => {
                    let _ = std::fs::remove_dir_all(&on_signal);
                    std::process::exit(130);
                }
            }
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
