//! The one way a file is written into a results folder (and into a report's or a baseline's
//! folder): [`write_file`]. Every writer of the lab goes through it.
//!
//! The steps, in order:
//! 1. Create a temp file in the target's own folder with a random name (`.NAME.XXXXXX`),
//!    `O_CREAT | O_EXCL` (tempfile), so it can be neither an existing file nor a symlink
//!    someone planted: nothing outside the folder can be overwritten through it.
//! 2. Write the bytes, fsync the file, give it mode 0644 (results and reports are meant to
//!    be read; nothing secret is in them).
//! 3. Rename it over the target (atomic within a folder: readers see the old file or the new
//!    one, never half of one), then fsync the folder so the rename survives a power cut.
//!
//! A crash between 1 and 3 leaves a stray `.NAME.XXXXXX`; readers ignore dot files, and the
//! next writer holding the folder's lock removes them ([`remove_stray_temp_files`]).

use std::fs::{self, File, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use super::StoreError;

/// Mode of the files written.
const FILE_MODE: u32 = 0o644;
/// The marker in temp file names (`.NAME.tmp-XXXXXX`).
const TEMP_MARK: &str = ".tmp-";

/// Replaces `dir/name` with `bytes`, following the module's steps.
pub fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
    let target = dir.join(name);
    let io = |action: &'static str| {
        let path = target.clone();
        move |source: io::Error| StoreError::Io {
            action,
            path,
            cause: source,
        }
    };
    let mut temp = tempfile::Builder::new()
        .prefix(&format!(".{name}{TEMP_MARK}"))
        .tempfile_in(dir)
        .map_err(io("create a temp file for"))?;
    temp.write_all(bytes).map_err(io("write"))?;
    temp.as_file().sync_all().map_err(io("sync"))?;
    fs::set_permissions(temp.path(), Permissions::from_mode(FILE_MODE)).map_err(io("chmod"))?;
    temp.persist(&target).map_err(|e| StoreError::Io {
        action: "replace",
        path: target.clone(),
        cause: e.error,
    })?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| StoreError::Io {
            action: "sync",
            path: dir.to_path_buf(),
            cause: source,
        })
}

/// Removes temp files a crashed writer left in `dir`. Call it only while holding the folder's
/// lock, when no other writer can have a temp file in flight.
pub fn remove_stray_temp_files(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') && name.contains(TEMP_MARK) {
            // Best effort: a leftover is harmless, readers skip dot files.
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Refuses a folder that belongs to another user: writing into it would let its owner swap
/// files under us (or would hand them files we made).
pub fn check_owner(dir: &Path) -> Result<(), StoreError> {
    let meta = fs::symlink_metadata(dir).map_err(|source| StoreError::Io {
        action: "inspect",
        path: dir.to_path_buf(),
        cause: source,
    })?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.file_type().is_symlink() || !meta.is_dir() || meta.uid() != me {
        return Err(StoreError::NotOwned {
            path: dir.to_path_buf(),
            owner: meta.uid(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn a_planted_symlink_is_replaced_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, "keep").unwrap();
        // An attacker cannot predict the random temp name; planting the target itself only
        // gets the link replaced by the rename.
        symlink(&victim, dir.path().join("out.json")).unwrap();
        write_file(dir.path(), "out.json", b"new").unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "keep");
        assert_eq!(
            fs::read_to_string(dir.path().join("out.json")).unwrap(),
            "new"
        );
        let mode = fs::metadata(dir.path().join("out.json")).unwrap().mode() & 0o777;
        assert_eq!(mode, FILE_MODE);
    }

    #[test]
    fn stray_temp_files_are_removed_and_others_kept() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(".results.jsonl.tmp-abc123"), "half").unwrap();
        fs::write(dir.path().join("results.jsonl"), "whole").unwrap();
        remove_stray_temp_files(dir.path());
        let names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["results.jsonl"]);
    }

    #[test]
    fn a_folder_of_another_user_is_refused() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            // Only root can make a folder another user owns; CI and this lab run as root.
            eprintln!("skipped: needs root to chown a folder to another user");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let theirs = dir.path().join("theirs");
        fs::create_dir(&theirs).unwrap();
        std::os::unix::fs::chown(&theirs, Some(65_534), Some(65_534)).unwrap();
        let message = check_owner(&theirs).unwrap_err().to_string();
        assert!(
            message.contains("belongs to another user (uid 65534)"),
            "{message}"
        );
    }

    #[test]
    fn a_symlinked_folder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("link");
        symlink(dir.path(), &link).unwrap();
        check_owner(dir.path()).unwrap();
        let message = check_owner(&link).unwrap_err().to_string();
        assert!(message.contains("link"), "{message}");
    }
}
