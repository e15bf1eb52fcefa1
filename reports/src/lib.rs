//! Everything downstream of a measurement:
//! - [`store`]: the results folder (`meta.json`, `results.jsonl` with every repetition and its
//!   coordinates, the recorded experiments and calibration), its one atomic writer and its
//!   lock;
//! - [`report`]: a results folder becomes charts (PNG and SVG), an HTML report, a Markdown
//!   summary and a CSV;
//! - [`check`]: a results folder against a baseline, and the behaviour invariants;
//! - [`noise`]: the one rule every "is this difference real?" of the lab uses;
//! - [`table`]: aligned text tables for the terminal (`lab experiment`, `lab bench`, `lab
//!   check`).
//!
//! ```
//! use looplab_reports::Table;
//!
//! let mut table = Table::new(["label", "ms"]).right_align(1);
//! table.row(["hash 1", "812.4"]);
//! table.row(["hash 10", "9.1"]);
//! assert_eq!(table.render(), "label       ms\nhash 1   812.4\nhash 10    9.1\n");
//! ```

#![deny(missing_docs)]

pub mod check;
pub mod histogram;
pub mod instructions;
pub mod noise;
pub mod report;
pub mod store;
pub mod table;

pub use table::Table;
