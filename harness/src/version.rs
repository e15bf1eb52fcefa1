//! What built this `lab` binary, as embedded by `build.rs` at compile time; recorded in the
//! metadata of every results folder so measurements can be traced to their source and compiler.

/// `git rev-parse HEAD` of the source, with `-dirty` when the tree had uncommitted changes at
/// build time; `None` when built outside a git checkout.
pub fn git_revision() -> Option<&'static str> {
    option_env!("LOOPLAB_GIT_REVISION")
}

/// `rustc -V` of the compiler that built this binary, e.g. `rustc 1.95.0 (... 2026-..)`;
/// `None` if it could not be asked.
pub fn rustc_version() -> Option<&'static str> {
    option_env!("LOOPLAB_RUSTC_VERSION")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compiler_version_is_embedded() {
        let version = rustc_version().expect("build.rs sets LOOPLAB_RUSTC_VERSION");
        assert!(version.starts_with("rustc "), "{version}");
    }

    #[test]
    fn a_git_revision_when_present_is_a_full_hash() {
        if let Some(revision) = git_revision() {
            let hash = revision.strip_suffix("-dirty").unwrap_or(revision);
            assert_eq!(hash.len(), 40, "{revision}");
            assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()), "{revision}");
        }
    }
}
