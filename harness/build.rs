//! Embeds what built the `lab` binary, for the metadata of every results folder:
//!
//! - `LOOPLAB_GIT_REVISION`: `git rev-parse HEAD` of the source, with `-dirty` appended when
//!   `git status --porcelain` lists anything; not set when git or the repository is missing
//!   (a source tarball), so `option_env!` reads `None`.
//! - `LOOPLAB_RUSTC_VERSION`: `$RUSTC -V` (the compiler cargo uses), else `rustc -V`.
//!
//! The script reruns only when `.git/HEAD` or the ref it points to changes (a commit, a
//! checkout), not on every build. The price: `-dirty` reflects the tree as it was at that
//! moment; edits made since do not rerun this script.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    watch_git_head(&manifest_dir);
    if let Some(revision) = git_revision(&manifest_dir) {
        println!("cargo:rustc-env=LOOPLAB_GIT_REVISION={revision}");
    }
    if let Some(version) = rustc_version() {
        println!("cargo:rustc-env=LOOPLAB_RUSTC_VERSION={version}");
    }
}

/// Runs a command and returns its trimmed stdout, or `None` if it could not run or failed.
fn output(command: &mut Command) -> Option<String> {
    let out = command.output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    // No optional locks: `git status` would otherwise refresh (rewrite) the index, racing
    // with whoever else uses the repository while cargo builds.
    output(
        Command::new("git")
            .arg("--no-optional-locks")
            .args(args)
            .current_dir(dir),
    )
}

fn git_revision(dir: &Path) -> Option<String> {
    let head = git(dir, &["rev-parse", "HEAD"]).filter(|h| !h.is_empty())?;
    let dirty = git(dir, &["status", "--porcelain"]).is_some_and(|s| !s.is_empty());
    Some(if dirty { format!("{head}-dirty") } else { head })
}

/// `cargo:rerun-if-changed` on `../.git/HEAD` and on the file of the branch it names (or
/// `packed-refs` when the branch is packed: watching a missing file would rerun every build).
fn watch_git_head(manifest_dir: &Path) {
    let git_dir = manifest_dir.join("..").join(".git");
    let head = git_dir.join("HEAD");
    if !head.is_file() {
        return;
    }
    println!("cargo:rerun-if-changed={}", head.display());
    let text = std::fs::read_to_string(&head).unwrap_or_default();
    if let Some(reference) = text.strip_prefix("ref:").map(str::trim) {
        let loose = git_dir.join(reference);
        let watched = if loose.is_file() {
            loose
        } else {
            git_dir.join("packed-refs")
        };
        if watched.is_file() {
            println!("cargo:rerun-if-changed={}", watched.display());
        }
    }
}

fn rustc_version() -> Option<String> {
    let from_cargo =
        std::env::var_os("RUSTC").and_then(|rustc| output(Command::new(rustc).arg("-V")));
    from_cargo
        .or_else(|| output(Command::new("rustc").arg("-V")))
        .filter(|v| !v.is_empty())
}
