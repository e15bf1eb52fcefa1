//! `--costs native|node|FILE` on `lab serve`, `lab bench` and `lab scenario`: which cost
//! profile the process charges ([`looplab_runtime::costs`]). `native` (the default) charges
//! nothing; `node` is the source tree's `costs/node.toml` (what the sweep's `costs = ["node"]`
//! reads); anything else must be a profile file ending in `.toml`. A missing or corrupt
//! profile is one line naming the file and the fix; a profile measured on another machine
//! prints one warning per command ([`warn_other_machine`]).

use std::path::PathBuf;
use std::sync::Once;

use anyhow::{bail, Result};
use looplab_reports::store::costs::CostProfile;
use looplab_reports::store::Machine;
use looplab_workloads::deploy::CostTable;

/// The help text of every `--costs` flag.
pub const HELP: &str = "Node's costs per event to charge: native (none), node (costs/node.toml) or a profile FILE.toml (see `lab calibrate --costs`)";

/// The profile a `--costs` value names, read and checked; `None` for `native`.
pub fn profile(value: &str) -> Result<Option<CostProfile>> {
    let path = match value {
        "native" => return Ok(None),
        "node" => crate::sweep::node_profile_path(),
        file if file.ends_with(".toml") => PathBuf::from(file),
        other => bail!(
            "unknown --costs value `{other}`; use native, node or a profile file ending in .toml"
        ),
    };
    let profile = CostProfile::read(&path)?;
    warn_other_machine(&profile);
    Ok(Some(profile))
}

/// The cost table a `--costs` value names (empty for `native` or no flag).
pub fn table(value: Option<&str>) -> Result<CostTable> {
    Ok(match value {
        None => CostTable::default(),
        Some(value) => profile(value)?.map(|p| p.table()).unwrap_or_default(),
    })
}

/// Installs the table a `--costs` value names into this process (nothing for native).
pub fn install(value: Option<&str>) -> Result<()> {
    table(value)?.install()?;
    Ok(())
}

static WARNED: Once = Once::new();

/// Prints [`CostProfile::other_machine`]'s warning on stderr, once per process (and not in
/// the cluster workers a `lab serve` primary starts: the primary said it).
pub fn warn_other_machine(profile: &CostProfile) {
    if looplab_runtime::cluster::worker_role().is_some() {
        return;
    }
    if let Some(warning) = profile.other_machine(&Machine::detect()) {
        WARNED.call_once(|| eprintln!("lab: warning: {warning}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_values_are_refused_and_native_is_nothing() {
        assert!(profile("native").unwrap().is_none());
        let e = profile("fast").unwrap_err().to_string();
        assert!(e.contains("unknown --costs value `fast`"), "{e}");
        assert!(table(None).unwrap().is_native());
    }

    #[test]
    fn a_missing_profile_is_one_line_naming_the_file_and_the_fix() {
        let e = profile("/nonexistent/p.toml").unwrap_err().to_string();
        assert!(!e.contains('\n'), "{e}");
        assert!(e.contains("/nonexistent/p.toml"), "{e}");
        assert!(
            e.contains("lab calibrate --costs --out /nonexistent/p.toml"),
            "{e}"
        );
    }
}
