//! The recipes under `deploy/`, linted: the GitHub Actions workflow against the workflow schema
//! (`check-jsonschema --builtin-schema vendor.github-workflows`), the Kubernetes manifests
//! against Kubernetes' schemas (`kubernetes-validate --strict`), the Slurm batch script by
//! `bash -n` and Slurm's rule that `#SBATCH` lines come before the first command (its real run
//! is `tests/slurm.rs`). Each linter is first shown a copy with a misspelt key, which it must
//! refuse, so a linter that passes everything cannot pass these tests. The validators are
//! installed by `scripts/setup`; missing, the tests fail saying so.
//!
//! The recipes' own options are checked against `lab` too: the pod's arguments plan a shard
//! with `--shard auto` from an Indexed Job's environment, and the counts agree.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_path_buf()
}

fn read(recipe: &str) -> String {
    std::fs::read_to_string(root().join(recipe)).unwrap_or_else(|e| panic!("{recipe}: {e}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs a validator; a missing one fails the test with the fix.
fn validate(program: &str, args: &[&str], file: &Path) -> Output {
    Command::new(program)
        .args(args)
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}; run scripts/setup, which installs it"))
}

/// The validator accepts `recipe`, and refuses a copy with `good` replaced by `bad`.
fn lint(program: &str, args: &[&str], recipe: &str, good: &str, bad: &str) {
    let path = root().join(recipe);
    let out = validate(program, args, &path);
    assert!(
        out.status.success(),
        "{program} refused {recipe}:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let body = read(recipe);
    assert!(body.contains(good), "{recipe} has `{good}`");
    let tmp = tempfile::tempdir().unwrap();
    let broken = tmp.path().join(path.file_name().unwrap());
    std::fs::write(&broken, body.replacen(good, bad, 1)).unwrap();
    let out = validate(program, args, &broken);
    assert!(
        !out.status.success(),
        "{program} let `{bad}` through, so it checks nothing:\n{}",
        text(&out.stdout)
    );
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    let key = bad.trim().trim_end_matches(':');
    assert!(said.contains(key), "{program} names `{key}`: {said}");
}

#[test]
fn the_github_workflow_is_a_valid_workflow() {
    let schema = ["--builtin-schema", "vendor.github-workflows"];
    let recipe = "deploy/github/sweep.yml";
    lint(
        "check-jsonschema",
        &schema,
        recipe,
        "    steps:",
        "    step:",
    );
    let body = read(recipe);
    for needed in [
        "LAB_SHARD_INDEX: ${{ matrix.shard }}",
        "LAB_SHARDS: ${{ strategy.job-total }}",
        "--shard auto --out-parent shards",
        "actions/upload-artifact",
        "actions/download-artifact",
        "lab merge shards --out merged",
        "lab report merged",
        "cat merged/summary.md >> \"$GITHUB_STEP_SUMMARY\"",
    ] {
        assert!(body.contains(needed), "{recipe} has `{needed}`");
    }
}

#[test]
fn the_kubernetes_manifests_are_valid_objects() {
    let strict = ["--strict"];
    let sweep = "deploy/k8s/sweep-job.yaml";
    lint(
        "kubernetes-validate",
        &strict,
        sweep,
        "completionMode:",
        "completionMod:",
    );
    let merge = "deploy/k8s/merge-job.yaml";
    lint(
        "kubernetes-validate",
        &strict,
        merge,
        "restartPolicy:",
        "restartPolicyy:",
    );
    assert!(read(sweep).contains("completionMode: Indexed"));
    assert!(read(merge).contains("lab merge /results/shards --out /results/merged"));
}

/// The value after `key` on the line where it first appears, quotes removed.
fn value_of(body: &str, key: &str) -> String {
    let line = body
        .lines()
        .find_map(|l| l.trim().strip_prefix(key))
        .unwrap_or_else(|| panic!("`{key}` in {body}"));
    line.trim().trim_matches('"').to_string()
}

#[test]
fn the_indexed_job_passes_its_completions_and_its_arguments_plan_a_shard() {
    let body = read("deploy/k8s/sweep-job.yaml");
    let completions = value_of(&body, "completions:");
    let after_name = body.split("name: LAB_SHARDS").nth(1).expect("LAB_SHARDS");
    assert_eq!(
        value_of(after_name, "value:"),
        completions,
        "LAB_SHARDS is completions"
    );
    let args: Vec<String> =
        serde_json::from_str(&value_of(&body, "args:").replace('\'', "\"")).expect("args");
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_lab"))
        .args(&args)
        .args(["--plan", "--json"])
        .env("JOB_COMPLETION_INDEX", "2")
        .env("LAB_SHARDS", &completions)
        .env_remove("SLURM_ARRAY_TASK_ID")
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "lab: shard 3/{completions} from JOB_COMPLETION_INDEX=2"
        )),
        "{stderr}"
    );
}

#[test]
fn the_slurm_script_parses_and_its_directives_come_first() {
    let recipe = "deploy/slurm/sweep.sbatch";
    let out = Command::new("bash")
        .arg("-n")
        .arg(root().join(recipe))
        .output()
        .unwrap();
    assert!(out.status.success(), "bash -n: {}", text(&out.stderr));
    let body = read(recipe);
    assert!(body.starts_with("#!"), "a shebang line");
    let first_command = body
        .lines()
        .position(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .expect("a command");
    let directives: Vec<usize> = body
        .lines()
        .enumerate()
        .filter(|(_, l)| l.starts_with("#SBATCH"))
        .map(|(i, _)| i)
        .collect();
    assert!(!directives.is_empty(), "#SBATCH lines");
    assert!(
        directives.iter().all(|&i| i < first_command),
        "Slurm reads #SBATCH only before the first command (line {})",
        first_command + 1
    );
    assert!(body.contains("sweep --shard auto --out-parent"));
}
