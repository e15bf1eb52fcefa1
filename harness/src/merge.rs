//! `lab merge A B ... --out C`: joins the results folders of one sweep's shards (run on one
//! machine or several) into one folder, keeping who measured what.
//!
//! 1. A parent folder given alone (no `meta.json` of its own) stands for the results folders
//!    inside it, as the shards of a job array leave them. Refuse early: fewer than two
//!    inputs, or an `--out` that exists and is not empty.
//! 2. Open every input (which validates `meta.json` and every line of `results.jsonl`).
//! 3. Refuse strangers: every input must carry the first one's `sweep_id`. Refuse an
//!    incomplete split: when the inputs are shards of N, every shard 1..N must be there, or
//!    the merge is refused naming the missing ones (`--allow-missing` merges what is there,
//!    with a warning naming them). A source that did not finish is a warning.
//! 4. Flatten sources: a plain input becomes one [`Source`]; an input that is itself a merge
//!    contributes its own sources, so merging merges stays one level deep. Every record's
//!    `source` is set to the index of the source it came from.
//! 5. Refuse a `(point_id, repetition)` found in two inputs: it was measured twice, and which
//!    one counts is a decision for a person, not for this command.
//! 6. Write `--out` in one go: the first input's metadata with the sources, the earliest start,
//!    the latest finish (none if any input is unfinished) and no shard; then the records.
//!
//! Nothing is written until every check has passed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use looplab_reports::store::{
    Machine, Meta, PointRecord, ResultsDir, Source, StoreError, META_FILE,
};
use looplab_reports::Table;

/// `lab merge` arguments.
#[derive(Args, Debug)]
pub struct MergeArgs {
    /// Results folders to merge: the shards of one sweep (or earlier merges of them), or one
    /// parent folder holding them.
    #[arg(required = true, value_name = "DIR")]
    inputs: Vec<PathBuf>,
    /// The merged folder to create; it must not exist, or be empty.
    #[arg(long, value_name = "OUT")]
    out: PathBuf,
    /// Merge even when shards of the split are missing (they are named in a warning).
    #[arg(long)]
    allow_missing: bool,
}

/// One opened input, with its records already attributed to flattened sources.
struct Input {
    dir: ResultsDir,
    records: Vec<PointRecord>,
}

/// What a merge produced, for the summary.
struct Merged {
    /// How many folders were given.
    inputs: usize,
    meta: Meta,
    records: Vec<PointRecord>,
}

/// Runs `lab merge`.
pub fn run(args: &MergeArgs) -> Result<()> {
    let paths = expand(&args.inputs, &args.out)?;
    if paths.len() < 2 {
        bail!(
            "lab merge needs at least 2 results folders, got {}; list every shard's folder, \
             like `lab merge lab-results/a lab-results/b --out lab-results/all`, or their parent",
            paths.len()
        );
    }
    let (parent, name) = check_out(&args.out)?;
    let mut inputs: Vec<Input> = Vec::with_capacity(paths.len());
    for path in &paths {
        let dir = ResultsDir::open(path)?;
        if let Some(same) = inputs.iter().find(|i| same_folder(i.dir.path(), path)) {
            bail!(
                "{} and {} are the same folder; list each folder once",
                same.dir.path().display(),
                path.display()
            );
        }
        let records = dir.records()?;
        inputs.push(Input { dir, records });
    }
    check_same_sweep(&inputs)?;
    check_complete(&inputs, args.allow_missing)?;
    let merged = merge(inputs)?;
    let mut out = ResultsDir::create(&parent, &name, &merged.meta)?;
    out.append_all(&merged.records)?;
    print!("{}", summary(&args.out, &merged));
    Ok(())
}

/// Splits `--out` into the parent and folder name `ResultsDir::create` takes, refusing a
/// folder that already holds something before any input is read.
fn check_out(out: &Path) -> Result<(PathBuf, String)> {
    let Some(name) = out.file_name().and_then(|n| n.to_str()) else {
        bail!(
            "--out {} does not end in a folder name; give the folder to create, like \
             --out lab-results/all",
            out.display()
        );
    };
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let occupied = std::fs::read_dir(out).map_or(out.exists(), |mut e| e.next().is_some());
    if occupied {
        return Err(StoreError::NotEmpty {
            path: out.to_path_buf(),
        }
        .into());
    }
    Ok((parent, name.to_string()))
}

/// The inputs, with a lone parent folder (a folder without `meta.json`) replaced by the
/// results folders in it, by name, leaving out `out` should it be among them.
fn expand(inputs: &[PathBuf], out: &Path) -> Result<Vec<PathBuf>> {
    let [parent] = inputs else {
        return Ok(inputs.to_vec());
    };
    if !parent.is_dir() || parent.join(META_FILE).exists() {
        return Ok(inputs.to_vec());
    }
    let entries = std::fs::read_dir(parent)
        .with_context(|| format!("read the folder {}", parent.display()))?;
    let mut found = Vec::new();
    for entry in entries {
        let path = entry
            .with_context(|| format!("read the folder {}", parent.display()))?
            .path();
        if path.join(META_FILE).is_file() && !same_folder(&path, out) {
            found.push(path);
        }
    }
    if found.is_empty() {
        bail!(
            "{} is neither a results folder (no meta.json) nor a folder holding results folders; \
             give the shards' folders or the folder they were written into",
            parent.display()
        );
    }
    found.sort();
    Ok(found)
}

/// Every source's shard, `(I, N, folder)`, or `None` when a source is a whole sweep (then
/// there is no split to complete); a source that did not finish is a warning.
fn shards_of(inputs: &[Input]) -> Result<Option<Vec<(u32, u32, String)>>> {
    let sources: Vec<Source> = inputs.iter().flat_map(|i| sources_of(&i.dir)).collect();
    for source in sources.iter().filter(|s| s.finished_at.is_none()) {
        eprintln!(
            "lab: warning: {} did not finish (meta.json has no finished_at): its points may be \
             incomplete; `lab sweep --resume` of it finishes it",
            source.folder
        );
    }
    let mut present = Vec::new();
    for source in sources {
        let Some(text) = source.shard.as_deref() else {
            return Ok(None);
        };
        let Some((index, count)) = parse_shard(text) else {
            bail!(
                "{}: meta.json names shard `{text}`, which is not I/N; the folder was edited, \
                 fix its shard or leave it out",
                source.folder
            );
        };
        present.push((index, count, source.folder));
    }
    Ok(Some(present))
}

/// Step 3's split check: the shards every input (or merged input's source) names must be
/// all of one `N`, and with `--allow-missing` the missing ones are a warning instead.
fn check_complete(inputs: &[Input], allow_missing: bool) -> Result<()> {
    let Some(present) = shards_of(inputs)? else {
        return Ok(());
    };
    let Some((_, count, first)) = present.first().cloned() else {
        return Ok(());
    };
    if let Some((i, n, other)) = present.iter().find(|(_, n, _)| *n != count) {
        bail!(
            "{first} is a shard of {count} but {other} is shard {i}/{n}: shards of different \
             splits; merge the folders of one split (one N)"
        );
    }
    let missing: Vec<u32> = (1..=count)
        .filter(|i| !present.iter().any(|(index, _, _)| index == i))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let list = missing
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let (noun, verb) = if missing.len() == 1 {
        ("shard", "is")
    } else {
        ("shards", "are")
    };
    let line = format!("{noun} {list} of {count} {verb} missing from the inputs");
    if allow_missing {
        eprintln!(
            "lab: warning: {line}; merging the {} present",
            present.len()
        );
        return Ok(());
    }
    let index = match missing[..] {
        [one] => one.to_string(),
        _ => "I".to_string(),
    };
    bail!(
        "{line}; run {} (lab sweep --shard {index}/{count} with the same options, or --resume \
         its folder) and merge again, or pass --allow-missing to merge what is there",
        if missing.len() == 1 { "it" } else { "them" }
    )
}

/// `I/N` with 1 <= I <= N.
fn parse_shard(text: &str) -> Option<(u32, u32)> {
    let (i, n) = text.split_once('/')?;
    let (i, n): (u32, u32) = (i.trim().parse().ok()?, n.trim().parse().ok()?);
    (i >= 1 && i <= n).then_some((i, n))
}

fn same_folder(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

fn check_same_sweep(inputs: &[Input]) -> Result<()> {
    let first = &inputs[0].dir;
    for other in &inputs[1..] {
        let other = &other.dir;
        if other.meta().sweep_id != first.meta().sweep_id {
            bail!(
                "cannot merge {} (sweep {}) with {} (sweep {}): they are different sweeps; \
                 merge only the shards of one sweep",
                first.path().display(),
                first.meta().sweep_id,
                other.path().display(),
                other.meta().sweep_id
            );
        }
    }
    Ok(())
}

/// Steps 4 to 6 of the module doc, in memory.
fn merge(inputs: Vec<Input>) -> Result<Merged> {
    let mut meta = inputs[0].dir.meta().clone();
    meta.shard = None;
    meta.sources = Vec::new();
    meta.started_at = inputs
        .iter()
        .map(|i| i.dir.meta().started_at.clone())
        .min()
        .unwrap_or_default();
    meta.finished_at = inputs
        .iter()
        .map(|i| i.dir.meta().finished_at.clone())
        .collect::<Option<Vec<String>>>()
        .and_then(|ends| ends.into_iter().max());
    let mut records = Vec::new();
    // Which input first holds each (point, repetition), to name both folders of a duplicate.
    let mut seen: HashMap<(String, u32), usize> = HashMap::new();
    for (index, input) in inputs.iter().enumerate() {
        let offset = u32::try_from(meta.sources.len()).unwrap_or(u32::MAX);
        meta.sources.extend(sources_of(&input.dir));
        for record in &input.records {
            let key = (record.point_id.clone(), record.repetition);
            if let Some(&first) = seen.get(&key).filter(|&&first| first != index) {
                bail!(
                    "point {} repetition {} is in both {} and {}; it was measured twice, so \
                     delete its line from one of them (or leave one folder out)",
                    record.point_id,
                    record.repetition,
                    inputs[first].dir.path().display(),
                    input.dir.path().display()
                );
            }
            seen.entry(key).or_insert(index);
            let mut record = record.clone();
            record.source = Some(offset + local_source(&input.dir, &record)?);
            records.push(record);
        }
    }
    Ok(Merged {
        inputs: inputs.len(),
        meta,
        records,
    })
}

/// The sources an input contributes: its own, if it is a merge; else itself.
fn sources_of(dir: &ResultsDir) -> Vec<Source> {
    let meta = dir.meta();
    if !meta.sources.is_empty() {
        return meta.sources.clone();
    }
    vec![Source {
        folder: dir.path().display().to_string(),
        machine: meta.machine.clone(),
        shard: meta.shard.clone(),
        git_revision: meta.git_revision.clone(),
        started_at: meta.started_at.clone(),
        finished_at: meta.finished_at.clone(),
    }]
}

/// A record's source index within its own input: 0 for a plain folder, its `source` for a
/// merged one (which must point into that folder's sources).
fn local_source(dir: &ResultsDir, record: &PointRecord) -> Result<u32> {
    let count = dir.meta().sources.len();
    if count == 0 {
        return Ok(0);
    }
    match record.source {
        Some(s) if (s as usize) < count => Ok(s),
        found => bail!(
            "{}: point {} repetition {} has source {} but meta.json lists {count} sources; \
             this merged folder is damaged, merge its original shards instead",
            dir.path().display(),
            record.point_id,
            record.repetition,
            found.map_or("none".to_string(), |s| s.to_string())
        ),
    }
}

/// The summary: one row per source, then points, repetitions and machines.
fn summary(out: &Path, merged: &Merged) -> String {
    let sources = &merged.meta.sources;
    let mut per_source = vec![0usize; sources.len()];
    for r in &merged.records {
        if let Some(n) = r.source.and_then(|s| per_source.get_mut(s as usize)) {
            *n += 1;
        }
    }
    let mut table = Table::new(["#", "folder", "shard", "machine", "repetitions"])
        .right_align(0)
        .right_align(4);
    for (i, (source, count)) in sources.iter().zip(&per_source).enumerate() {
        table.row([
            i.to_string(),
            source.folder.clone(),
            source.shard.clone().unwrap_or_else(|| "-".into()),
            machine_label(&source.machine),
            count.to_string(),
        ]);
    }
    let mut machines: Vec<&Machine> = Vec::new();
    for s in sources {
        if !machines.contains(&&s.machine) {
            machines.push(&s.machine);
        }
    }
    let mut points: Vec<&str> = merged.records.iter().map(|r| r.point_id.as_str()).collect();
    points.sort_unstable();
    points.dedup();
    let failed = merged.records.iter().filter(|r| !r.ok).count();
    format!(
        "merged {} folders ({} sources) into {}\n{}{} points, {} repetitions ({failed} failed), \
         {} machine{}\n",
        merged.inputs,
        sources.len(),
        out.display(),
        table.render(),
        points.len(),
        merged.records.len(),
        machines.len(),
        if machines.len() == 1 { "" } else { "s" },
    )
}

/// `host (CPU model, N cores)`.
fn machine_label(machine: &Machine) -> String {
    format!(
        "{} ({}, {} cores)",
        machine.hostname, machine.cpu_model, machine.cores
    )
}
