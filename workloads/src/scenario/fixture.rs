//! What a scenario needs around it, prepared once and shared by every run on both sides: a
//! private temp folder with the files its file ops use, and the local HTTP server its
//! `http_get` ops ask (a `lab serve` child process, so its work never shares the loop or the
//! pool being measured).
//!
//! Cleanup: dropping the fixture kills and reaps the server (it also dies with the thread that
//! started it, through `PR_SET_PDEATHSIG`, should `lab` itself be killed), then removes the
//! folder.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::error::io_err;
use super::model::{OpKind, Scenario};
use super::ScenarioError;
use crate::experiments::child::ServerProcess;

/// Files and server of a scenario (see the module documentation).
pub struct Fixture {
    files: HashMap<String, PathBuf>,
    server: Option<ServerProcess>,
    addr: Option<SocketAddr>,
    // Last, so it is removed after the server is gone.
    dir: tempfile::TempDir,
}

impl Fixture {
    /// Creates the files `scenario` reads and stats (`bytes` of `x`; 64 bytes for `stat`),
    /// chooses a path for each `write_file`, and, if the scenario has `http_get` ops, starts
    /// `lab serve --workload hello` with the `lab` executable at `lab`.
    pub fn prepare(scenario: &Scenario, lab: Option<&Path>) -> Result<Self, ScenarioError> {
        let dir = crate::experiments::private_tempdir("scenario-")
            .map_err(io_err("create a temp dir for the scenario's files"))?;
        let mut files = HashMap::new();
        for (n, op) in scenario.all_ops().into_iter().enumerate() {
            let path = dir.path().join(format!("op{n}.dat"));
            let content = match op.kind {
                OpKind::ReadFile { bytes } => Some(bytes),
                OpKind::Stat => Some(64),
                OpKind::WriteFile { .. } => None,
                _ => continue,
            };
            if let Some(bytes) = content {
                std::fs::write(&path, vec![b'x'; bytes as usize])
                    .map_err(io_err(format!("write {}", path.display())))?;
            }
            files.insert(op.label.clone(), path);
        }
        let mut fixture = Fixture {
            files,
            server: None,
            addr: None,
            dir,
        };
        if scenario.uses_http() {
            let lab = lab.ok_or_else(|| {
                ScenarioError::Server(
                    "starting it needs the `lab` executable; pass it to Fixture::prepare".into(),
                )
            })?;
            let args = ["--workload", "hello", "--port", "0", "--pool", "1"].map(String::from);
            let server = ServerProcess::start(lab, &args)?;
            fixture.addr = Some(server.addr.parse().map_err(|_| {
                ScenarioError::Server(format!(
                    "`lab serve` printed an odd address: {}",
                    server.addr
                ))
            })?);
            fixture.server = Some(server);
        }
        Ok(fixture)
    }

    /// The file of the file op labelled `label`.
    pub fn file(&self, label: &str) -> Option<&Path> {
        self.files.get(label).map(PathBuf::as_path)
    }

    /// Every file op's path, by label.
    pub fn files(&self) -> &HashMap<String, PathBuf> {
        &self.files
    }

    /// The HTTP server's address, if the scenario has `http_get` ops.
    pub fn server(&self) -> Option<SocketAddr> {
        self.addr
    }

    /// The private folder (the Node program is written there too).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        // ServerProcess's Drop kills and reaps the child; do it before the folder goes.
        drop(self.server.take());
    }
}
