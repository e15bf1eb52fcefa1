//! The results folder: `meta.json` (one [`Meta`]) and `results.jsonl` (one [`PointRecord`] per
//! line), written so that an interrupted sweep keeps everything it measured.
//!
//! ```
//! use looplab_reports::store::{metric, Coords, Meta, PointRecord, ResultsDir};
//! use looplab_workloads::deploy::{Mode, Runtime, Strategy};
//!
//! let parent = std::env::temp_dir().join(format!("looplab-doc-{}", std::process::id()));
//! let meta = Meta::new("sweep-1", serde_json::json!({ "pool_sizes": [1, 2] }));
//! let mut dir = ResultsDir::create(&parent, "run", &meta)?;
//! let coords = Coords {
//!     strategy: Strategy::Loop,
//!     workload: "hash".into(),
//!     mode: Mode::Batch,
//!     pool: Some(1),
//!     processes: None,
//!     workers: None,
//!     connections: None,
//!     rate_per_s: None,
//!     parallelism: Some(1),
//!     runtime: Runtime::Looplab,
//!     costs: None,
//! };
//! let metrics = [(metric::THROUGHPUT.to_string(), 812.5)].into();
//! dir.append(&PointRecord::ok(&coords, 0, metrics, None))?;
//! let reopened = ResultsDir::open(dir.path())?;
//! assert_eq!(reopened.records()?[0].point_id, "loop/hash/p1");
//! assert!(reopened.done_points()?.contains(&("loop/hash/p1".to_string(), 0)));
//! # std::fs::remove_dir_all(&parent).ok();
//! # Ok::<(), looplab_reports::store::StoreError>(())
//! ```
//!
//! Invariants:
//! 1. Every write replaces a whole file atomically through [`write_file`] (a temp file created
//!    exclusively in the same folder, fsync, rename, fsync the folder). A crash leaves the old
//!    file or the new one, never half a line; at worst a stray temp file, which readers ignore
//!    and the next writer removes.
//! 2. `append` therefore rewrites all of `results.jsonl`: O(n) bytes per append, O(n²) per
//!    sweep. A sweep has at most a few thousand lines of a few hundred bytes to a few KiB
//!    (histograms included), so the last append copies a few MiB, far less than the seconds
//!    each point spends measuring; in exchange there is no torn-tail recovery to get wrong.
//! 3. One writer per folder, enforced: [`ResultsDir::create`] and [`ResultsDir::open_to_write`]
//!    hold the folder's [`FolderLock`] for as long as the `ResultsDir` lives, and a second
//!    writer is refused with the holder's PID. Shards on other machines write their own
//!    folders and `lab merge` joins them. A folder owned by another user is refused.
//! 4. Readers accept schemas [`OLDEST_SCHEMA_VERSION`] to [`SCHEMA_VERSION`] (record.rs says
//!    how each reads), refuse others, and name the file and line of anything they cannot
//!    parse. A (point, repetition) recorded twice is refused, naming both lines: every reader
//!    (report, baseline, check, merge, resume) goes through [`ResultsDir::records`].

mod coords;
pub mod costs;
mod files;
mod lock;
mod machine;
pub mod metric;
mod record;
mod write;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use thiserror::Error;

pub use coords::{Coords, Flavour};
pub use files::{
    read_calibration, read_experiments, write_calibration, write_experiments, write_json,
    write_json_to, Calibration, CalibrationBench, CalibrationScenario, ExperimentRun,
    ExperimentsFile, Optional, ShapeCheck, TaskSpan, CALIBRATION_FILE, EXPERIMENTS_FILE,
    EXPERIMENTS_SCHEMA,
};
pub use lock::{FolderLock, LOCK_FILE};
pub use machine::{rfc3339_utc, Machine};
pub use record::{Meta, PointRecord, Source, OLDEST_SCHEMA_VERSION, SCHEMA_VERSION};
pub use write::{check_owner, remove_stray_temp_files, write_file};

/// File name of the metadata inside a results folder.
pub const META_FILE: &str = "meta.json";
/// File name of the point records inside a results folder.
pub const RESULTS_FILE: &str = "results.jsonl";

/// Everything that can go wrong reading or writing a results folder; each message is one line
/// naming the path and saying how to fix it.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The folder given to `open` does not exist or is not a folder.
    #[error("results folder {} does not exist; check the path (results live under lab-results/)", path.display())]
    MissingDir {
        /// The folder asked for.
        path: PathBuf,
    },
    /// `meta.json` or `results.jsonl` is missing from a results folder.
    #[error("{} is missing; this is not a complete results folder, re-run the sweep into a new one", path.display())]
    MissingFile {
        /// The missing file.
        path: PathBuf,
    },
    /// `create` was given a folder that already holds something.
    #[error("{} already exists and is not an empty folder; choose another name or remove it", path.display())]
    NotEmpty {
        /// The folder that exists.
        path: PathBuf,
    },
    /// `create` was given a name that is not a single plain folder name.
    #[error("results folder name {name:?} under {} is not a plain folder name; use letters, digits, '-' or '_'", parent.display())]
    BadName {
        /// The parent folder.
        parent: PathBuf,
        /// The rejected name.
        name: String,
    },
    /// A line of `results.jsonl` is not a valid record.
    #[error("{}:{line}: corrupt JSON ({message}); delete the line or re-run the point", path.display())]
    CorruptRecord {
        /// The results file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What the parser said.
        message: String,
    },
    /// `meta.json` is not valid metadata.
    #[error("{}:{line}: corrupt JSON ({message}); restore the file or re-run the sweep into a new folder", path.display())]
    CorruptMeta {
        /// The metadata file.
        path: PathBuf,
        /// 1-based line number where parsing failed.
        line: usize,
        /// What the parser said.
        message: String,
    },
    /// A file (or one line of it) was written with another schema version.
    #[error("{}:{line}: schema version {found} is not supported (this looplab reads versions {OLDEST_SCHEMA_VERSION} to {supported}); read it with the looplab version that wrote it", path.display())]
    Schema {
        /// The file.
        path: PathBuf,
        /// 1-based line number (1 for `meta.json`).
        line: usize,
        /// The version found.
        found: u64,
        /// [`SCHEMA_VERSION`].
        supported: u32,
    },
    /// One (point, repetition) appears on two lines.
    #[error("{}:{line}: point {point_id} repetition {repetition} is already recorded on line {first_line}; delete one of the two lines", path.display())]
    DuplicateRecord {
        /// The results file.
        path: PathBuf,
        /// The second line (1-based).
        line: usize,
        /// The first line (1-based).
        first_line: usize,
        /// The point.
        point_id: String,
        /// The repetition.
        repetition: u32,
    },
    /// Another process holds the folder's lock.
    #[error("{} is being written by another lab process{}; wait for it to finish, or stop it", path.display(), holder.map(|pid| format!(" (PID {pid})")).unwrap_or_default())]
    Locked {
        /// The folder.
        path: PathBuf,
        /// The holder's PID, when its lock file says.
        holder: Option<u32>,
    },
    /// A folder to write into belongs to another user (or is a symlink).
    #[error("{} belongs to another user (uid {owner}) or is not a plain folder; write into a folder of your own", path.display())]
    NotOwned {
        /// The folder.
        path: PathBuf,
        /// Its owner.
        owner: u32,
    },
    /// A write was asked of a folder opened only to read.
    #[error("{} was opened to read; open it with open_to_write to change it", path.display())]
    ReadOnly {
        /// The folder.
        path: PathBuf,
    },
    /// A record to append holds a NaN or infinite metric, which JSON cannot represent.
    #[error("{}: metric `{metric}` of point {point_id} repetition {repetition} is {value}, which JSON cannot hold; record finite values or leave the metric out", path.display())]
    NonFiniteMetric {
        /// The results file that was not written.
        path: PathBuf,
        /// The record's point.
        point_id: String,
        /// The record's repetition.
        repetition: u32,
        /// The metric's name.
        metric: String,
        /// Its value.
        value: f64,
    },
    /// The operating system refused a read or write.
    // The cause is part of the message, not an error `source`, so chains print it once.
    #[error("cannot {action} {}: {cause}", path.display())]
    Io {
        /// What was being done (`read`, `write`, `create`, ...).
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The OS error.
        cause: io::Error,
    },
}

/// An open results folder. Holds its metadata, and its lock when opened to write; records are
/// read from disk on demand.
#[derive(Debug)]
pub struct ResultsDir {
    path: PathBuf,
    meta: Meta,
    lock: Option<FolderLock>,
}

impl ResultsDir {
    /// Creates `parent/name` (and `parent` if needed) with `meta.json` and an empty
    /// `results.jsonl`, and holds its lock. Refuses a folder that already exists unless it is
    /// an empty folder of this user's.
    pub fn create(parent: &Path, name: &str, meta: &Meta) -> Result<Self, StoreError> {
        let mut components = Path::new(name).components();
        if !matches!(
            (components.next(), components.next()),
            (Some(Component::Normal(_)), None)
        ) {
            return Err(StoreError::BadName {
                parent: parent.to_path_buf(),
                name: name.to_string(),
            });
        }
        let path = parent.join(name);
        if fs::symlink_metadata(&path).is_ok() {
            check_owner(&path)?;
            if !is_empty_dir(&path)? {
                return Err(StoreError::NotEmpty { path });
            }
        }
        fs::create_dir_all(&path).map_err(io_err("create", &path))?;
        check_owner(&path)?;
        let mut dir = Self {
            lock: Some(FolderLock::acquire(&path)?),
            path,
            meta: meta.clone(),
        };
        dir.write_meta(meta)?;
        write_file(&dir.path, RESULTS_FILE, b"")?;
        Ok(dir)
    }

    /// Opens an existing results folder to read, validating `meta.json` and every line of
    /// `results.jsonl`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if !path.is_dir() {
            return Err(StoreError::MissingDir {
                path: path.to_path_buf(),
            });
        }
        let meta_path = path.join(META_FILE);
        let text = read_existing(&meta_path)?;
        let meta = parse_meta(&meta_path, &text)?;
        let dir = Self {
            path: path.to_path_buf(),
            meta,
            lock: None,
        };
        dir.records()?;
        Ok(dir)
    }

    /// Opens an existing results folder to add to it (`--resume`): as [`open`](Self::open),
    /// holding the folder's lock, with any temp file a crashed writer left removed.
    pub fn open_to_write(path: &Path) -> Result<Self, StoreError> {
        if path.is_dir() {
            check_owner(path)?;
        }
        let lock = FolderLock::acquire(path).map_err(|e| match e {
            StoreError::Io { .. } if !path.is_dir() => StoreError::MissingDir {
                path: path.to_path_buf(),
            },
            other => other,
        })?;
        remove_stray_temp_files(path);
        let mut dir = Self::open(path)?;
        dir.lock = Some(lock);
        Ok(dir)
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The metadata as last written.
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    fn writable(&self) -> Result<(), StoreError> {
        match self.lock {
            Some(_) => Ok(()),
            None => Err(StoreError::ReadOnly {
                path: self.path.clone(),
            }),
        }
    }

    /// Atomically replaces `meta.json`, for example to set `finished_at`.
    pub fn write_meta(&mut self, meta: &Meta) -> Result<(), StoreError> {
        self.writable()?;
        write_json(&self.path, META_FILE, meta)?;
        self.meta = meta.clone();
        Ok(())
    }

    /// Writes the recorded experiments beside the results.
    pub fn write_experiments(&self, file: &ExperimentsFile) -> Result<(), StoreError> {
        self.writable()?;
        write_experiments(&self.path, file)
    }

    /// Appends one record as a line of `results.jsonl`, atomically (see the module doc for
    /// why the whole file is rewritten).
    pub fn append(&mut self, record: &PointRecord) -> Result<(), StoreError> {
        self.append_all(std::slice::from_ref(record))
    }

    /// Appends records as lines of `results.jsonl` in one atomic rewrite: all of them or, if
    /// any is refused (a non-finite metric), none. For bulk writes such as `lab merge`, where
    /// one `append` per record would rewrite the file once per line.
    pub fn append_all(&mut self, records: &[PointRecord]) -> Result<(), StoreError> {
        self.writable()?;
        let path = self.path.join(RESULTS_FILE);
        let mut lines = Vec::new();
        for record in records {
            lines.extend_from_slice(record_line(&path, record)?.as_bytes());
            lines.push(b'\n');
        }
        let mut bytes = fs::read(&path).map_err(io_err("read", &path))?;
        if !bytes.is_empty() && !bytes.ends_with(b"\n") {
            bytes.push(b'\n');
        }
        bytes.extend_from_slice(&lines);
        write_file(&self.path, RESULTS_FILE, &bytes)
    }

    /// Every record, in the order appended. Blank lines are skipped; a (point, repetition)
    /// on two lines is an error naming both.
    pub fn records(&self) -> Result<Vec<PointRecord>, StoreError> {
        let path = self.path.join(RESULTS_FILE);
        let text = read_existing(&path)?;
        let mut seen: BTreeMap<(String, u32), usize> = BTreeMap::new();
        let mut records = Vec::new();
        for (index, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let record = parse_record(&path, index + 1, line)?;
            let key = (record.point_id.clone(), record.repetition);
            if let Some(&first_line) = seen.get(&key) {
                return Err(StoreError::DuplicateRecord {
                    path,
                    line: index + 1,
                    first_line,
                    point_id: key.0,
                    repetition: key.1,
                });
            }
            seen.insert(key, index + 1);
            records.push(record);
        }
        Ok(records)
    }

    /// The `(point_id, repetition)` pairs already recorded, which `--resume` skips. A failed
    /// repetition counts as done: a point that fails every time would otherwise be retried and
    /// recorded again on every resume. Delete its line to retry it.
    pub fn done_points(&self) -> Result<BTreeSet<(String, u32)>, StoreError> {
        Ok(self
            .records()?
            .into_iter()
            .map(|r| (r.point_id, r.repetition))
            .collect())
    }
}

/// One record as a JSON line, refusing non-finite metrics (JSON cannot hold them).
fn record_line(path: &Path, record: &PointRecord) -> Result<String, StoreError> {
    if let Some((metric, &value)) = record.metrics.iter().find(|(_, v)| !v.is_finite()) {
        return Err(StoreError::NonFiniteMetric {
            path: path.to_path_buf(),
            point_id: record.point_id.clone(),
            repetition: record.repetition,
            metric: metric.clone(),
            value,
        });
    }
    serde_json::to_string(record).map_err(|e| StoreError::Io {
        action: "serialize a record for",
        path: path.to_path_buf(),
        cause: e.into(),
    })
}

fn io_err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        action,
        path: path.to_path_buf(),
        cause: source,
    }
}

fn is_empty_dir(path: &Path) -> Result<bool, StoreError> {
    if !path.is_dir() {
        return Ok(false);
    }
    let mut entries = fs::read_dir(path).map_err(io_err("list", path))?;
    Ok(entries.next().is_none())
}

fn read_existing(path: &Path) -> Result<String, StoreError> {
    fs::read_to_string(path).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => StoreError::MissingFile {
            path: path.to_path_buf(),
        },
        _ => StoreError::Io {
            action: "read",
            path: path.to_path_buf(),
            cause: source,
        },
    })
}

/// Reads `schema` before the full shape, so a file from another version is reported as such
/// rather than as corrupt; returns the version.
fn check_schema(path: &Path, line: usize, value: &serde_json::Value) -> Result<u64, StoreError> {
    let found = value
        .get("schema")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(u64::from(SCHEMA_VERSION));
    let known = u64::from(OLDEST_SCHEMA_VERSION)..=u64::from(SCHEMA_VERSION);
    if !known.contains(&found) {
        return Err(StoreError::Schema {
            path: path.to_path_buf(),
            line,
            found,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(found)
}

fn parse_meta(path: &Path, text: &str) -> Result<Meta, StoreError> {
    let corrupt = |e: serde_json::Error| StoreError::CorruptMeta {
        path: path.to_path_buf(),
        line: e.line().max(1),
        message: e.to_string(),
    };
    let value: serde_json::Value = serde_json::from_str(text).map_err(corrupt)?;
    check_schema(path, 1, &value)?;
    serde_json::from_value(value).map_err(corrupt)
}

fn parse_record(path: &Path, line: usize, text: &str) -> Result<PointRecord, StoreError> {
    let corrupt = |message: String| StoreError::CorruptRecord {
        path: path.to_path_buf(),
        line,
        message,
    };
    let mut value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| corrupt(e.to_string()))?;
    if check_schema(path, line, &value)? == 1 {
        // Schema 1 named the point by id alone: its coordinates are read back from the id.
        let id = value.get("point_id").and_then(serde_json::Value::as_str);
        let id = id.ok_or_else(|| corrupt("missing field `point_id`".into()))?;
        let coords = Coords::from_schema1_id(id)
            .map_err(|reason| corrupt(format!("point id `{}`: {}", clip(id), clip(&reason))))?;
        let coords = serde_json::to_value(coords).map_err(|e| corrupt(e.to_string()))?;
        value["coords"] = coords;
    }
    serde_json::from_value(value).map_err(|e| corrupt(e.to_string()))
}

/// At most 120 characters of `text`, for one-line messages about ids of any length.
fn clip(text: &str) -> String {
    match text.char_indices().nth(120) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_string(),
    }
}
