//! The results folder of a sweep: where it goes, what it is called, and the `meta.json` that
//! lets `--resume` rebuild the same plan and `lab merge` tell shards of one sweep apart from
//! others.
//!
//! 1. `--out DIR` names the folder. `--out-parent DIR` (and `--shard auto` without `--out`,
//!    under [`RESULTS_PARENT`]) names it by the sweep: `DIR/<sweep id>-shard-I-of-N`, the same
//!    for every run of that sweep and shard, so a scheduler's retry of a task finds the folder
//!    its first attempt left and resumes it instead of measuring everything again. Otherwise
//!    a new folder under [`RESULTS_PARENT`] named by the UTC start time (`-quick`,
//!    `-shard-I-of-N`, then `-2`, `-3`... if taken).
//! 2. `meta.json` holds the overlaid configuration, the shard and the sweep id (a hash of the
//!    configuration without its seed).
//! 3. Reopening a folder checks that its configuration still hashes to its sweep id.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{bail, Context, Result};
use looplab_reports::store::{rfc3339_utc, Meta, ResultsDir};

use super::config::SweepConfig;
use super::flags::Resolved;
use super::order::Shard;
use super::SweepArgs;

/// Where results folders go by default, relative to the working directory.
pub const RESULTS_PARENT: &str = "lab-results";

/// The folder `sweep` runs into, and the sweep as that folder has it: a new folder, or the
/// folder a first attempt of this sweep and shard left under `--out-parent` (resumed, with
/// its own configuration and seed).
pub fn open_or_create(args: &SweepArgs, sweep: Resolved) -> Result<(ResultsDir, Resolved)> {
    let (parent, name) = location(args, &sweep)?;
    let path = parent.join(&name);
    if stable_parent(args).is_some() && path.join("meta.json").exists() {
        let (results, found) = reopen(&path)?;
        if results.meta().sweep_id != sweep_id(&sweep.config)? || found.shard != sweep.shard {
            bail!(
                "{} holds another sweep or shard than this one; move it away or give another --out-parent",
                path.display()
            );
        }
        eprintln!(
            "lab: {} exists: resuming it (a re-run of this sweep and shard)",
            path.display()
        );
        return Ok((results, found));
    }
    Ok((create(&parent, &name, &sweep)?, sweep))
}

/// A new results folder `parent/name` for `sweep`, with its `meta.json` written.
fn create(parent: &Path, name: &str, sweep: &Resolved) -> Result<ResultsDir> {
    let mut meta = Meta::new(
        sweep_id(&sweep.config)?,
        serde_json::to_value(&sweep.config)?,
    );
    meta.git_revision = crate::version::git_revision().map(str::to_string);
    meta.rustc_version = crate::version::rustc_version().map(str::to_string);
    meta.shard = sweep.shard.map(|s| format!("{}/{}", s.index, s.count));
    meta.aa = sweep.config.aa == Some(true);
    meta.slo_p99_ms = sweep.config.slo_p99_ms()?.map(|ms| ms as f64);
    Ok(ResultsDir::create(parent, name, &meta)?)
}

/// An interrupted sweep's folder, opened to write, and the plan its `meta.json` describes.
pub fn reopen(path: &Path) -> Result<(ResultsDir, Resolved)> {
    let results = ResultsDir::open_to_write(path)?;
    let meta = results.meta().clone();
    let config: SweepConfig = serde_json::from_value(meta.config.clone()).with_context(|| {
        format!(
            "{}/meta.json: its configuration is not one this lab can resume; start a new sweep",
            path.display()
        )
    })?;
    if sweep_id(&config)? != meta.sweep_id {
        bail!(
            "{}/meta.json: its configuration does not match its sweep id {}; the file was edited or written by another version, start a new sweep",
            path.display(),
            meta.sweep_id
        );
    }
    let shard = meta.shard.as_deref().map(Shard::parse).transpose()?;
    let sweep = Resolved::new(config, shard)?;
    Ok((results, sweep))
}

/// Where folders named by their sweep go: `--out-parent`, or [`RESULTS_PARENT`] for
/// `--shard auto` without `--out`; `None` for a fresh or given name.
fn stable_parent(args: &SweepArgs) -> Option<PathBuf> {
    let auto = args.shard.as_deref().map(str::trim) == Some("auto");
    match (&args.out_parent, &args.out) {
        (Some(parent), _) => Some(parent.clone()),
        (None, None) if auto => Some(PathBuf::from(RESULTS_PARENT)),
        _ => None,
    }
}

/// The folder's parent and name: `--out` split, the sweep's own name under its stable parent,
/// or a fresh name under [`RESULTS_PARENT`].
fn location(args: &SweepArgs, sweep: &Resolved) -> Result<(PathBuf, String)> {
    if let Some(parent) = stable_parent(args) {
        let mut name = sweep_id(&sweep.config)?;
        if let Some(s) = sweep.shard {
            name.push_str(&format!("-shard-{}-of-{}", s.index, s.count));
        }
        return Ok((parent, name));
    }
    let Some(out) = &args.out else {
        return Ok((
            PathBuf::from(RESULTS_PARENT),
            fresh_name(args.quick, sweep.shard),
        ));
    };
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty());
    let name = out
        .file_name()
        .and_then(|n| n.to_str())
        .with_context(|| format!("--out {}: give a folder name", out.display()))?;
    Ok((
        parent.unwrap_or(Path::new(".")).to_path_buf(),
        name.to_string(),
    ))
}

/// `sweep-` and 16 hex digits: FNV-1a of the configuration as JSON, seed left out (a seed
/// only orders the points; shards run with different seeds still make one sweep).
fn sweep_id(config: &SweepConfig) -> Result<String> {
    let unseeded = SweepConfig {
        seed: None,
        ..config.clone()
    };
    let json = serde_json::to_string(&unseeded)?;
    let hash = json.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    Ok(format!("sweep-{hash:016x}"))
}

/// A new folder name: the UTC start time, `-quick`, `-shard-I-of-N`; `-2`, `-3`... if taken.
fn fresh_name(quick: bool, shard: Option<Shard>) -> String {
    let stamp = rfc3339_utc(SystemTime::now()).replace(':', "-");
    let mut base = stamp;
    if quick {
        base.push_str("-quick");
    }
    if let Some(s) = shard {
        base.push_str(&format!("-shard-{}-of-{}", s.index, s.count));
    }
    let parent = Path::new(RESULTS_PARENT);
    let mut name = base.clone();
    let mut n = 2;
    while parent.join(&name).exists() {
        name = format!("{base}-{n}");
        n += 1;
    }
    name
}
