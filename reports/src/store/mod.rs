//! The results folder: `meta.json` (one [`Meta`]) and `results.jsonl` (one [`PointRecord`] per
//! line), written so that an interrupted sweep keeps everything it measured.
//!
//! ```
//! use looplab_reports::store::{Meta, PointRecord, ResultsDir, SCHEMA_VERSION};
//!
//! let parent = std::env::temp_dir().join(format!("looplab-doc-{}", std::process::id()));
//! let meta = Meta::new("sweep-1", serde_json::json!({ "pool_sizes": [1, 2] }));
//! let mut dir = ResultsDir::create(&parent, "run", &meta)?;
//! dir.append(&PointRecord {
//!     schema: SCHEMA_VERSION,
//!     point_id: "loop/hash/p1".into(),
//!     repetition: 0,
//!     ok: true,
//!     error: None,
//!     metrics: [("throughput_per_s".to_string(), 812.5)].into(),
//!     histogram_base64: None,
//!     source: None,
//! })?;
//! let reopened = ResultsDir::open(dir.path())?;
//! assert_eq!(reopened.records()?.len(), 1);
//! assert!(reopened.done_points()?.contains(&("loop/hash/p1".to_string(), 0)));
//! # std::fs::remove_dir_all(&parent).ok();
//! # Ok::<(), looplab_reports::store::StoreError>(())
//! ```
//!
//! Invariants:
//! 1. Every write replaces a whole file atomically: write a temp file in the same folder, fsync
//!    it, rename it over the target, fsync the folder. A crash leaves the old file or the new
//!    one, never half a line; at worst a stray `.*.tmp.*` file, which readers ignore.
//! 2. `append` therefore rewrites all of `results.jsonl`: O(n) bytes per append, O(n²) per
//!    sweep. A sweep has at most a few thousand lines of a few hundred bytes to a few KiB
//!    (histograms included), so the last append copies a few MiB, far less than the seconds
//!    each point spends measuring; in exchange there is no torn-tail recovery to get wrong.
//! 3. One writer per folder. Shards on other machines write their own folders and
//!    `lab merge` joins them; two processes appending to one folder would lose lines.
//! 4. Readers refuse any `schema` other than [`SCHEMA_VERSION`] and name the file and line of
//!    anything they cannot parse.

mod machine;
mod record;

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};

use thiserror::Error;

pub use machine::{rfc3339_utc, Machine};
pub use record::{Meta, PointRecord, Source, SCHEMA_VERSION};

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
    #[error("{}:{line}: schema version {found} is not supported (this looplab reads version {supported}); read it with the looplab version that wrote it", path.display())]
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
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done (`read`, `write`, `create`, ...).
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
}

/// An open results folder. Holds its metadata; records are read from disk on demand.
#[derive(Debug)]
pub struct ResultsDir {
    path: PathBuf,
    meta: Meta,
}

impl ResultsDir {
    /// Creates `parent/name` (and `parent` if needed) with `meta.json` and an empty
    /// `results.jsonl`. Refuses a folder that already exists unless it is empty.
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
        if path.exists() && !is_empty_dir(&path)? {
            return Err(StoreError::NotEmpty { path });
        }
        fs::create_dir_all(&path).map_err(io_err("create", &path))?;
        let mut dir = Self {
            path,
            meta: meta.clone(),
        };
        dir.write_meta(meta)?;
        write_atomically(&dir.path, RESULTS_FILE, b"")?;
        Ok(dir)
    }

    /// Opens an existing results folder, validating `meta.json` and every line of
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
        };
        dir.records()?;
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

    /// Atomically replaces `meta.json`, for example to set `finished_at`.
    pub fn write_meta(&mut self, meta: &Meta) -> Result<(), StoreError> {
        let path = self.path.join(META_FILE);
        let mut json = serde_json::to_string_pretty(meta).map_err(|e| StoreError::Io {
            action: "serialize",
            path: path.clone(),
            source: e.into(),
        })?;
        json.push('\n');
        write_atomically(&self.path, META_FILE, json.as_bytes())?;
        self.meta = meta.clone();
        Ok(())
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
        let path = self.path.join(RESULTS_FILE);
        let mut lines = Vec::new();
        for record in records {
            if let Some((metric, &value)) = record.metrics.iter().find(|(_, v)| !v.is_finite()) {
                return Err(StoreError::NonFiniteMetric {
                    path,
                    point_id: record.point_id.clone(),
                    repetition: record.repetition,
                    metric: metric.clone(),
                    value,
                });
            }
            let line = serde_json::to_string(record).map_err(|e| StoreError::Io {
                action: "serialize a record for",
                path: path.clone(),
                source: e.into(),
            })?;
            lines.extend_from_slice(line.as_bytes());
            lines.push(b'\n');
        }
        let mut bytes = fs::read(&path).map_err(io_err("read", &path))?;
        if !bytes.is_empty() && !bytes.ends_with(b"\n") {
            bytes.push(b'\n');
        }
        bytes.extend_from_slice(&lines);
        write_atomically(&self.path, RESULTS_FILE, &bytes)
    }

    /// Every record, in the order appended. Blank lines are skipped.
    pub fn records(&self) -> Result<Vec<PointRecord>, StoreError> {
        let path = self.path.join(RESULTS_FILE);
        let text = read_existing(&path)?;
        text.lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(index, line)| parse_record(&path, index + 1, line))
            .collect()
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

fn io_err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        action,
        path: path.to_path_buf(),
        source,
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
            source,
        },
    })
}

/// Reads `schema` before the full shape, so a file from another version is reported as such
/// rather than as corrupt.
fn check_schema(path: &Path, line: usize, value: &serde_json::Value) -> Result<(), StoreError> {
    match value.get("schema").and_then(serde_json::Value::as_u64) {
        Some(found) if found != u64::from(SCHEMA_VERSION) => Err(StoreError::Schema {
            path: path.to_path_buf(),
            line,
            found,
            supported: SCHEMA_VERSION,
        }),
        _ => Ok(()),
    }
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
    let corrupt = |e: serde_json::Error| StoreError::CorruptRecord {
        path: path.to_path_buf(),
        line,
        message: e.to_string(),
    };
    let value: serde_json::Value = serde_json::from_str(text).map_err(corrupt)?;
    check_schema(path, line, &value)?;
    serde_json::from_value(value).map_err(corrupt)
}

/// Replaces `dir/name` with `bytes` following invariant 1 of the module doc. The temp name
/// carries the process id so a stale temp file from a crashed run is never reused half-written.
fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
    let target = dir.join(name);
    let temp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temp)
            .map_err(io_err("create", &temp))?;
        file.write_all(bytes).map_err(io_err("write", &temp))?;
        file.sync_all().map_err(io_err("sync", &temp))?;
        fs::rename(&temp, &target).map_err(io_err("replace", &target))
    })();
    if result.is_err() {
        // Best effort: the original error is the one worth reporting.
        let _ = fs::remove_file(&temp);
        return result;
    }
    // Make the rename itself durable; without this a power cut may resurrect the old file.
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("sync", dir))
}
