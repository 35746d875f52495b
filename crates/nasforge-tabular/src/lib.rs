//! Tabular benchmarks as estimators: every architecture of a space was
//! trained once by the benchmark's authors, so evaluating one is a lookup.
//!
//! - [`Nb201Table`]: NAS-Bench-201 as a CSV with columns `cellstr`,
//!   `valid_top1`, `test_top1`, `params` (percent accuracies, params in
//!   millions); search on `valid_top1`, report `test_top1`.
//! - [`NbGraphTable`]: a NAS-Bench-Graph `.bench` pickle of
//!   `{hash: {valid_perf, perf, latency, para}}`; search on `valid_perf`,
//!   report `perf`.
//!
//! Both load any file of the same format by path.

pub mod pickle;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nasforge_core::{EvalContext, EvalError, Estimator, Metrics, SearchSpace};
use nasforge_space_nb201::{Cell, Nb201Space};
use nasforge_space_nbgraph::{GnnCell, NbGraphSpace};

/// A table that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file was read but is not a table of the expected format.
    #[error("{path}{}: {reason}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Format {
        /// The file.
        path: PathBuf,
        /// The line (CSV) where it went wrong, when known.
        line: Option<u64>,
        /// What is wrong.
        reason: String,
    },
}

fn format_error(path: &Path, line: Option<u64>, reason: impl Into<String>) -> TableError {
    TableError::Format { path: path.to_owned(), line, reason: reason.into() }
}

/// Opens a CSV table and reads its header row.
fn open_csv(path: &Path) -> Result<(csv::Reader<std::fs::File>, csv::StringRecord), TableError> {
    let mut reader = csv::Reader::from_path(path).map_err(|e| match e.into_kind() {
        csv::ErrorKind::Io(source) => TableError::Io { path: path.to_owned(), source },
        other => format_error(path, None, format!("{other:?}")),
    })?;
    let headers = reader.headers().map_err(|e| format_error(path, Some(1), e.to_string()))?.clone();
    Ok((reader, headers))
}

/// One NAS-Bench-201 row.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Nb201Row {
    /// Validation accuracy, percent (`valid_top1`).
    pub valid: f64,
    /// Test accuracy, percent (`test_top1`).
    pub test: f64,
    /// Parameters in millions (`params`).
    pub params_m: f64,
}

/// A NAS-Bench-201 table, indexed by cell.
#[derive(Clone, Debug)]
pub struct Nb201Table {
    rows: Vec<Option<Nb201Row>>,
    len: usize,
}

impl Nb201Table {
    /// Loads a CSV with (at least) the columns `cellstr`, `valid_top1`,
    /// `test_top1` and `params`. Any subset of the 15,625 cells may be
    /// present; a cell listed twice is an error.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, TableError> {
        let path = path.as_ref();
        let (mut reader, headers) = open_csv(path)?;
        let column = |name: &str| {
            headers.iter().position(|h| h == name).ok_or_else(|| {
                format_error(path, Some(1), format!("missing column `{name}` (columns: {})", headers.iter().collect::<Vec<_>>().join(", ")))
            })
        };
        let (c_str, c_valid, c_test, c_params) =
            (column("cellstr")?, column("valid_top1")?, column("test_top1")?, column("params")?);
        let space = Nb201Space;
        let mut rows = vec![None; nasforge_space_nb201::SIZE];
        let mut len = 0;
        for record in reader.records() {
            let record = record.map_err(|e| format_error(path, e.position().map(|p| p.line()), e.to_string()))?;
            let line = record.position().map(|p| p.line());
            let field = |i: usize| record.get(i).unwrap_or("");
            let number = |i: usize| {
                field(i).trim().parse::<f64>().map_err(|_| {
                    format_error(path, line, format!("column `{}`: `{}` is not a number", &headers[i], field(i)))
                })
            };
            let cell = space.parse(field(c_str)).map_err(|e| format_error(path, line, e.to_string()))?;
            let row = Nb201Row { valid: number(c_valid)?, test: number(c_test)?, params_m: number(c_params)? };
            if rows[cell.code()].replace(row).is_some() {
                return Err(format_error(path, line, format!("cell `{}` is listed twice", field(c_str))));
            }
            len += 1;
        }
        if len == 0 {
            return Err(format_error(path, None, "the table has no rows"));
        }
        Ok(Self { rows, len })
    }

    /// The row of `cell`, when the table has it.
    pub fn get(&self, cell: &Cell) -> Option<&Nb201Row> {
        self.rows[cell.code()].as_ref()
    }

    /// The number of cells in the table.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the table is empty (never, once loaded).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every `(cell, row)` in the table.
    pub fn iter(&self) -> impl Iterator<Item = (Cell, &Nb201Row)> {
        self.rows.iter().enumerate().filter_map(|(code, r)| r.as_ref().map(|r| (Cell::from_code(code), r)))
    }
}

/// The NAS-Bench-201 table as an estimator.
#[derive(Clone, Debug)]
pub struct Nb201Estimator {
    table: Arc<Nb201Table>,
}

impl Nb201Estimator {
    /// An estimator over a loaded table (shared, so many runs can use one).
    pub fn new(table: Arc<Nb201Table>) -> Self {
        Self { table }
    }
}

impl Estimator<Cell> for Nb201Estimator {
    fn name(&self) -> &str {
        "nas-bench-201"
    }

    fn evaluate(&mut self, arch: &Cell, _ctx: EvalContext) -> Result<Metrics, EvalError> {
        let row = self.table.get(arch).ok_or_else(|| EvalError::NotInTable(Nb201Space.format(arch)))?;
        Ok(Metrics { valid: row.valid, test: Some(row.test), params_m: Some(row.params_m), ..Metrics::default() })
    }
}

/// One NAS-Bench-Graph row.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NbGraphRow {
    /// Validation accuracy, a fraction (`valid_perf`).
    pub valid: f64,
    /// Test accuracy, a fraction (`perf`).
    pub test: f64,
    /// Inference latency in seconds (`latency`).
    pub latency_s: f64,
    /// Parameters in millions (`para`).
    pub params_m: f64,
}

/// A NAS-Bench-Graph table, keyed by canonical hash.
#[derive(Clone, Debug)]
pub struct NbGraphTable {
    rows: HashMap<u64, NbGraphRow>,
    space: NbGraphSpace,
}

impl NbGraphTable {
    /// Loads a `.bench` pickle for `space`, checking that every key is a
    /// canonical hash of that space (so a `proteins` table is not read as
    /// a 9-op one).
    pub fn load(path: impl AsRef<Path>, space: NbGraphSpace) -> Result<Self, TableError> {
        let path = path.as_ref();
        let data = std::fs::read(path).map_err(|source| TableError::Io { path: path.to_owned(), source })?;
        let value = pickle::parse(&data).map_err(|e| format_error(path, None, format!("not a readable pickle: {e}")))?;
        let pickle::Value::Dict(entries) = value else {
            return Err(format_error(path, None, "the pickle does not hold a dict"));
        };
        let mut rows = HashMap::with_capacity(entries.len());
        for (key, entry) in &entries {
            let hash = match key {
                pickle::Value::Int(h) if *h >= 0 => *h as u64,
                other => return Err(format_error(path, None, format!("key {other:?} is not a hash"))),
            };
            if !space.is_canonical_hash(hash) {
                return Err(format_error(
                    path,
                    None,
                    format!("key {hash} is not a canonical hash of the `{}` space (ops: {})", space.name(), space.op_names().join(", ")),
                ));
            }
            let number = |name: &str| {
                entry.get(name).and_then(pickle::Value::as_f64).ok_or_else(|| {
                    format_error(path, None, format!("entry {hash} lacks a numeric `{name}`"))
                })
            };
            let row = NbGraphRow {
                valid: number("valid_perf")?,
                test: number("perf")?,
                latency_s: number("latency")?,
                params_m: number("para")?,
            };
            rows.insert(hash, row);
        }
        if rows.is_empty() {
            return Err(format_error(path, None, "the table has no rows"));
        }
        Ok(Self { rows, space })
    }

    /// The row of `cell`, when it is valid and in the table.
    pub fn get(&self, cell: &GnnCell) -> Option<&NbGraphRow> {
        self.rows.get(&self.space.hash(cell)?)
    }

    /// The row with canonical hash `hash`.
    pub fn get_hash(&self, hash: u64) -> Option<&NbGraphRow> {
        self.rows.get(&hash)
    }

    /// The number of architectures in the table.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the table is empty (never, once loaded).
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Every `(hash, row)`, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &NbGraphRow)> {
        self.rows.iter().map(|(&h, r)| (h, r))
    }
}

/// A NAS-Bench-Graph table as an estimator.
#[derive(Clone, Debug)]
pub struct NbGraphEstimator {
    table: Arc<NbGraphTable>,
}

impl NbGraphEstimator {
    /// An estimator over a loaded table.
    pub fn new(table: Arc<NbGraphTable>) -> Self {
        Self { table }
    }
}

impl Estimator<GnnCell> for NbGraphEstimator {
    fn name(&self) -> &str {
        "nas-bench-graph"
    }

    fn evaluate(&mut self, arch: &GnnCell, _ctx: EvalContext) -> Result<Metrics, EvalError> {
        let space = &self.table.space;
        let Some(hash) = space.hash(arch) else {
            return Err(EvalError::Invalid(format!("{}: an all-skip cell", space.format(arch))));
        };
        let row = self.table.get_hash(hash).ok_or_else(|| EvalError::NotInTable(format!("hash {hash}")))?;
        Ok(Metrics {
            valid: row.valid,
            test: Some(row.test),
            params_m: Some(row.params_m),
            latency_s: Some(row.latency_s),
            ..Metrics::default()
        })
    }
}

mod family;
mod hw;
mod nb301;
mod nbmacro;
pub use nbmacro::{NbMacroEstimator, NbMacroRow, NbMacroTable};
pub use family::{Nb201TableToml, TableToml, register};
pub use hw::{HwTable, Nb201HwEstimator};
pub use nb301::{Nb301Estimator, Nb301Row, Nb301ZeroCostTable};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_files_and_bad_csv_are_clear_errors() {
        let err = Nb201Table::load("/nonexistent/nb201.csv").unwrap_err();
        assert!(err.to_string().contains("/nonexistent/nb201.csv"), "{err}");
        let dir = std::env::temp_dir().join(format!("nasforge-tabular-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bad = dir.join("bad.csv");
        std::fs::write(&bad, "cellstr,valid_top1,test_top1\nx,1,2\n").unwrap();
        let err = Nb201Table::load(&bad).unwrap_err().to_string();
        assert!(err.contains("missing column `params`"), "{err}");
        std::fs::write(&bad, "cellstr,valid_top1,test_top1,params\n|none~0|+|none~0|none~1|+|none~0|none~1|none~2|,abc,1,2\n").unwrap();
        let err = Nb201Table::load(&bad).unwrap_err().to_string();
        assert!(err.contains(":2") && err.contains("valid_top1"), "{err}");
        let err = NbGraphTable::load(&bad, NbGraphSpace::standard()).unwrap_err().to_string();
        assert!(err.contains("not a readable pickle"), "{err}");
    }
}
