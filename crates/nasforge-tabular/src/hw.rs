//! HW-NAS-Bench (Li et al., ICLR 2021) for the NAS-Bench-201 space:
//! latency and energy of every cell on six devices, joined to the
//! NAS-Bench-201 table so that one estimator reports accuracy and hardware
//! cost together.
//!
//! Format (the `hw_cifar10.csv` of NASLib's zero-cost study): a `net`
//! column, NASLib's tuple of the six edge ops in the order 1←0, 2←0, 3←0,
//! 2←1, 3←1, 3←2 with codes 0 skip, 1 none, 2 conv 3×3, 3 conv 1×1,
//! 4 avg pool; then one column per metric (`edgegpu_latency`,
//! `raspi4_latency`, ...); `-1` marks a missing measurement.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use nasforge_core::{EvalContext, EvalError, Estimator, Metrics, SearchSpace};
use nasforge_space_nb201::{Cell, Nb201Space, Op};

use crate::{Nb201Table, TableError, format_error, open_csv};

/// NASLib's op codes.
const NASLIB_OPS: [Op; 5] = [Op::SkipConnect, Op::None, Op::NorConv3x3, Op::NorConv1x1, Op::AvgPool3x3];
/// Our edge (NB201 string order) of each NASLib tuple position.
const NASLIB_EDGE: [usize; 6] = [0, 1, 3, 2, 4, 5];

/// The hardware table: per cell, `(metric, value)` pairs, missing ones left
/// out.
#[derive(Clone, Debug)]
pub struct HwTable {
    metrics: Vec<String>,
    rows: HashMap<Cell, Vec<(String, f64)>>,
}

fn parse_net(net: &str) -> Option<Cell> {
    let codes: Vec<usize> = net.trim_matches(|c| c == '(' || c == ')' || c == '"').split(',').map(|s| s.trim().parse().ok()).collect::<Option<_>>()?;
    if codes.len() != 6 {
        return None;
    }
    let mut cell = Cell::uniform(Op::None);
    for (pos, &code) in codes.iter().enumerate() {
        cell.ops[NASLIB_EDGE[pos]] = *NASLIB_OPS.get(code)?;
    }
    Some(cell)
}

/// The CSV's reader and its metric columns (every column after `net`).
fn open_table(path: &Path) -> Result<(csv::Reader<std::fs::File>, Vec<String>), TableError> {
    let (reader, headers) = open_csv(path)?;
    if headers.get(0) != Some("net") {
        return Err(format_error(path, Some(1), "the first column must be `net`"));
    }
    let metrics = headers.iter().skip(1).map(str::to_owned).collect();
    Ok((reader, metrics))
}

impl HwTable {
    /// The metrics an HW-NAS-Bench CSV holds, from its header alone (for
    /// checking objectives before the table is loaded).
    pub fn metric_names(path: impl AsRef<Path>) -> Result<Vec<String>, TableError> {
        open_table(path.as_ref()).map(|(_, metrics)| metrics)
    }

    /// Loads an HW-NAS-Bench CSV of the NAS-Bench-201 space.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, TableError> {
        let path = path.as_ref();
        let (mut reader, metrics) = open_table(path)?;
        let mut rows = HashMap::new();
        for (i, record) in reader.records().enumerate() {
            let line = Some(i as u64 + 2);
            let record = record.map_err(|e| format_error(path, line, e.to_string()))?;
            let net = record.get(0).unwrap_or("");
            let cell = parse_net(net).ok_or_else(|| format_error(path, line, format!("`{net}` is not a NASLib NB201 op tuple")))?;
            let mut values = Vec::new();
            for (name, v) in metrics.iter().zip(record.iter().skip(1)) {
                let v: f64 = v.trim().parse().map_err(|_| format_error(path, line, format!("`{name}` = `{v}` is not a number")))?;
                if v >= 0.0 {
                    values.push((name.clone(), v));
                }
            }
            rows.insert(cell, values);
        }
        Ok(Self { metrics, rows })
    }

    /// The metric columns.
    pub fn metrics(&self) -> &[String] {
        &self.metrics
    }

    /// A cell's measurements (missing ones absent).
    pub fn get(&self, cell: &Cell) -> Option<&[(String, f64)]> {
        self.rows.get(cell).map(Vec::as_slice)
    }

    /// Cells.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// NAS-Bench-201 accuracy with HW-NAS-Bench cost: the table estimator's
/// metrics plus every measured hardware metric as a named extra metric.
#[derive(Clone, Debug)]
pub struct Nb201HwEstimator {
    table: Arc<Nb201Table>,
    hw: Arc<HwTable>,
}

impl Nb201HwEstimator {
    /// Joins the two tables.
    pub fn new(table: Arc<Nb201Table>, hw: Arc<HwTable>) -> Self {
        Self { table, hw }
    }
}

impl Estimator<Cell> for Nb201HwEstimator {
    fn name(&self) -> &str {
        "nas-bench-201"
    }

    fn evaluate(&mut self, arch: &Cell, _ctx: EvalContext) -> Result<Metrics, EvalError> {
        let row = self.table.get(arch).ok_or_else(|| EvalError::NotInTable(Nb201Space.format(arch)))?;
        let extra = self.hw.get(arch).ok_or_else(|| EvalError::NotInTable(format!("{} (hardware table)", Nb201Space.format(arch))))?.to_vec();
        Ok(Metrics { valid: row.valid, test: Some(row.test), params_m: Some(row.params_m), extra, ..Metrics::default() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn naslib_tuples_map_to_cells() {
        // (4, 3, 3, 0, 0, 0): 1←0 avg pool, 2←0 conv1x1, 3←0 conv1x1, the
        // rest skip.
        let c = parse_net("(4, 3, 3, 0, 0, 0)").unwrap();
        assert_eq!(Nb201Space.format(&c), "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|");
        assert!(parse_net("(5, 0, 0, 0, 0, 0)").is_none());
        assert!(parse_net("(1, 2)").is_none());
    }
}
