//! The NAS-Bench-301 zero-cost table (NASLib's `zc_nasbench301_*.json`):
//! DARTS-space architectures with validation accuracy and zero-cost proxy
//! scores.
//!
//! Format: `{"cifar10": {ARCH: {"val_accuracy": F, PROXY: {"score": F,
//! "time": F}, ..., "idx": ..., "arch": ...}}}` where `ARCH` is NASLib's
//! compact DARTS encoding, `[[(input, op), ×8], [(input, op), ×8]]` for the
//! normal and the reduction cell, `op` indexing NASLib's DARTS op list,
//! which has no `none`: max_pool_3x3, avg_pool_3x3, skip_connect,
//! sep_conv_3x3, sep_conv_5x5, dil_conv_3x3, dil_conv_5x5.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use nasforge_core::{EvalContext, EvalError, Estimator, Metrics, SearchSpace};
use nasforge_space_darts::{CellGenes, DartsSpace, Edge, Genotype, NODES, Op};

use crate::{TableError, format_error};

/// NASLib's DARTS op order.
const NASLIB_OPS: [Op; 7] = [Op::MaxPool3x3, Op::AvgPool3x3, Op::SkipConnect, Op::SepConv3x3, Op::SepConv5x5, Op::DilConv3x3, Op::DilConv5x5];

/// One architecture of the table.
#[derive(Clone, Debug, PartialEq)]
pub struct Nb301Row {
    /// Validation accuracy (percent), as NASLib records it.
    pub valid: f64,
    /// Proxy scores by name (`synflow`, `snip`, `params`, `flops`, ...).
    pub proxies: Vec<(String, f64)>,
}

/// The table, keyed by canonical key (so any genotype of the same
/// function finds its row).
#[derive(Clone, Debug)]
pub struct Nb301ZeroCostTable {
    rows: HashMap<String, (Genotype, Nb301Row)>,
}

/// Parses NASLib's compact encoding of a DARTS genotype.
pub(crate) fn parse_compact(text: &str) -> Result<Genotype, String> {
    let numbers: Vec<usize> = text
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(|e| format!("{e}")))
        .collect::<Result<_, _>>()?;
    if numbers.len() != 2 * 2 * 2 * NODES {
        return Err(format!("expected 2 cells of 8 (input, op) pairs, found {} numbers", numbers.len()));
    }
    let cell = |pairs: &[usize]| -> Result<CellGenes, String> {
        let mut edges = [Edge { op: Op::None, input: 0 }; 2 * NODES];
        for (e, pair) in pairs.chunks(2).enumerate() {
            let op = *NASLIB_OPS.get(pair[1]).ok_or_else(|| format!("op index {} (NASLib has 7 DARTS ops)", pair[1]))?;
            edges[e] = Edge { op, input: u8::try_from(pair[0]).map_err(|e| e.to_string())? };
        }
        Ok(CellGenes { edges })
    };
    let g = Genotype { normal: cell(&numbers[..16])?, reduce: cell(&numbers[16..])? };
    // Through the space's own checks (inputs in range, distinct).
    DartsSpace.parse(&g.to_string()).map_err(|e| e.reason)
}

impl Nb301ZeroCostTable {
    /// Loads the CIFAR-10 part of a NASLib NB301 zero-cost JSON file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, TableError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| TableError::Io { path: path.to_owned(), source })?;
        let doc: serde_json::Value = serde_json::from_str(&text).map_err(|e| format_error(path, None, format!("not JSON: {e}")))?;
        let task = doc.get("cifar10").and_then(|t| t.as_object()).ok_or_else(|| format_error(path, None, "no `cifar10` object"))?;
        let mut rows = HashMap::new();
        for (arch, entry) in task {
            let bad = |reason: String| format_error(path, None, format!("architecture {arch}: {reason}"));
            let genotype = parse_compact(arch).map_err(bad)?;
            let valid = entry.get("val_accuracy").and_then(|v| v.as_f64()).ok_or_else(|| bad("no `val_accuracy`".into()))?;
            let mut proxies: Vec<(String, f64)> = entry
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(k, v)| Some((k.clone(), v.get("score")?.as_f64()?)))
                .collect();
            proxies.sort_by(|a, b| a.0.cmp(&b.0));
            rows.insert(DartsSpace.canonical_key(&genotype), (genotype, Nb301Row { valid, proxies }));
        }
        Ok(Self { rows })
    }

    /// The row of `arch` (or of any genotype computing the same function).
    pub fn get(&self, arch: &Genotype) -> Option<&Nb301Row> {
        self.rows.get(&DartsSpace.canonical_key(arch)).map(|r| &r.1)
    }

    /// Rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The proxy names the rows carry, sorted.
    pub fn proxy_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.rows.values().flat_map(|(_, r)| r.proxies.iter().map(|p| p.0.clone())).collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// Every row with its genotype.
    pub fn iter(&self) -> impl Iterator<Item = (&Genotype, &Nb301Row)> {
        self.rows.values().map(|(g, r)| (g, r))
    }
}

/// The table as an estimator: validation accuracy, proxy scores as extra
/// metrics; architectures outside the table fail with `NotInTable`.
#[derive(Clone, Debug)]
pub struct Nb301Estimator {
    table: Arc<Nb301ZeroCostTable>,
}

impl Nb301Estimator {
    /// An estimator over a loaded table.
    pub fn new(table: Arc<Nb301ZeroCostTable>) -> Self {
        Self { table }
    }
}

impl Estimator<Genotype> for Nb301Estimator {
    fn name(&self) -> &str {
        "nas-bench-301-zero-cost"
    }

    fn evaluate(&mut self, arch: &Genotype, _ctx: EvalContext) -> Result<Metrics, EvalError> {
        let row = self.table.get(arch).ok_or_else(|| EvalError::NotInTable(arch.to_string()))?;
        Ok(Metrics { valid: row.valid, extra: row.proxies.clone(), ..Metrics::default() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_encoding_reads_inputs_and_naslib_ops() {
        let g = parse_compact("[[(0, 3), (1, 3), (0, 3), (1, 3), (1, 3), (0, 2), (0, 2), (2, 5)], [(0, 0), (1, 0), (2, 2), (1, 0), (0, 0), (2, 2), (2, 2), (1, 0)]]").unwrap();
        // That is DARTS-V2.
        assert_eq!(nasforge_space_darts::network_params(&g, 36, 20, 10), 3_349_342);
        assert!(parse_compact("[[(0, 7)]]").is_err());
        assert!(parse_compact("[[(0, 0), (0, 0), (0, 0), (1, 0), (0, 0), (1, 0), (0, 0), (1, 0)], [(0, 0), (1, 0), (0, 0), (1, 0), (0, 0), (1, 0), (0, 0), (1, 0)]]").unwrap_err().contains("twice"));
    }
}
