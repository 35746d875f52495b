//! NAS-Bench-Macro (Su et al., CVPR 2021), the CIFAR-10 table.
//!
//! Format (`nas-bench-macro_cifar10.json`): an object keyed by the 8-digit
//! architecture (`"02012100"`: per layer 0 identity, 1 ir_3x3_t3,
//! 2 ir_5x5_t6), each value `{"test_acc": [3 floats], "mean_acc": F,
//! "std": F, "params": N, "flops": N}` — three independent trainings'
//! test accuracies (percent), their mean and standard deviation, the
//! parameter count and FLOPs of the network.
//!
//! The benchmark has no validation split: the estimator reports the mean
//! of the three test accuracies as `valid` (what searches on this
//! benchmark optimise) and also as `test`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use nasforge_core::{EvalContext, EvalError, Estimator, Metrics, SearchSpace};
use nasforge_space_mobilenet::{MACRO_LAYERS, NbMacroSpace};

use crate::{TableError, format_error};

/// One architecture of the table.
#[derive(Clone, Debug, PartialEq)]
pub struct NbMacroRow {
    /// Test accuracy of each training (percent).
    pub test_acc: Vec<f64>,
    /// Their mean.
    pub mean_acc: f64,
    /// Parameters.
    pub params: u64,
    /// FLOPs, as the benchmark counts them.
    pub flops: u64,
}

/// The table.
#[derive(Clone, Debug)]
pub struct NbMacroTable {
    rows: HashMap<[u8; MACRO_LAYERS], NbMacroRow>,
}

impl NbMacroTable {
    /// Loads a NAS-Bench-Macro JSON file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, TableError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| TableError::Io { path: path.to_owned(), source })?;
        let doc: serde_json::Value = serde_json::from_str(&text).map_err(|e| format_error(path, None, format!("not JSON: {e}")))?;
        let entries = doc.as_object().ok_or_else(|| format_error(path, None, "expected an object keyed by architecture"))?;
        let mut rows = HashMap::new();
        for (key, v) in entries {
            let bad = |what: &str| format_error(path, None, format!("architecture {key}: {what}"));
            let arch = NbMacroSpace.parse(key).map_err(|e| bad(&e.reason))?;
            let number = |field: &str| v.get(field).and_then(|x| x.as_f64()).ok_or_else(|| bad(&format!("no number `{field}`")));
            let test_acc: Vec<f64> = v.get("test_acc").and_then(|t| t.as_array()).ok_or_else(|| bad("no `test_acc` list"))?.iter().filter_map(|x| x.as_f64()).collect();
            rows.insert(arch, NbMacroRow { test_acc, mean_acc: number("mean_acc")?, params: number("params")? as u64, flops: number("flops")? as u64 });
        }
        Ok(Self { rows })
    }

    /// The row of `arch`.
    pub fn get(&self, arch: &[u8; MACRO_LAYERS]) -> Option<&NbMacroRow> {
        self.rows.get(arch)
    }

    /// Rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Every row.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8; MACRO_LAYERS], &NbMacroRow)> {
        self.rows.iter()
    }
}

/// The table as an estimator (see the module docs for `valid`).
#[derive(Clone, Debug)]
pub struct NbMacroEstimator {
    table: Arc<NbMacroTable>,
}

impl NbMacroEstimator {
    /// An estimator over a loaded table.
    pub fn new(table: Arc<NbMacroTable>) -> Self {
        Self { table }
    }
}

impl Estimator<[u8; MACRO_LAYERS]> for NbMacroEstimator {
    fn name(&self) -> &str {
        "nas-bench-macro"
    }

    fn evaluate(&mut self, arch: &[u8; MACRO_LAYERS], _ctx: EvalContext) -> Result<Metrics, EvalError> {
        let row = self.table.get(arch).ok_or_else(|| EvalError::NotInTable(NbMacroSpace.format(arch)))?;
        Ok(Metrics {
            valid: row.mean_acc,
            test: Some(row.mean_acc),
            params_m: Some(row.params as f64 / 1e6),
            flops_m: Some(row.flops as f64 / 1e6),
            ..Metrics::default()
        })
    }
}
