//! The tabular estimators' registry entries: each benchmark table by
//! name, serving exactly the spaces its keys belong to.

use std::sync::Arc;

use nasforge_core::ParamError;
use nasforge_registry::{Built, DataFile, EstimatorEntry, Params, Registry, Serves, erase_estimator};
use nasforge_space_nbgraph::NbGraphSpace;
use serde::{Deserialize, Serialize};

use crate::{HwTable, Nb201Estimator, Nb301Estimator, Nb301ZeroCostTable, Nb201HwEstimator, Nb201Table, NbGraphEstimator, NbGraphTable, NbMacroEstimator, NbMacroTable};

/// `[estimator] name = "nas-bench-201"`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Nb201TableToml {
    /// The NAS-Bench-201 CSV.
    pub path: DataFile,
    /// An HW-NAS-Bench CSV whose columns join as named metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware: Option<DataFile>,
}

impl Params for Nb201TableToml {
    type Checked = Self;
    fn check(&self) -> Result<Self, ParamError> {
        Ok(self.clone())
    }
}

/// `[estimator] name = "nas-bench-graph"` or `"nas-bench-macro"`: one
/// table file.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TableToml {
    /// The table file.
    pub path: DataFile,
}

impl Params for TableToml {
    type Checked = Self;
    fn check(&self) -> Result<Self, ParamError> {
        Ok(self.clone())
    }
}

/// Registers the `nas-bench-201`, `nas-bench-graph`, `nas-bench-macro` and
/// `nas-bench-301-zero-cost` tables.
pub fn register(registry: &mut Registry) {
    let base_metrics = || ["valid", "test", "params"].map(String::from).to_vec();
    registry
        .add_estimator(
            EstimatorEntry::new::<Nb201TableToml>(
                "nas-bench-201",
                "The NAS-Bench-201 table (CSV by column name, any subset of cells); `hardware` joins an HW-NAS-Bench table's latencies and energies as named metrics.",
                Serves::spaces(&["nas-bench-201"]),
                |c, _| {
                    let table = Arc::new(Nb201Table::load(c.path.path()).map_err(|e| e.to_string())?);
                    Ok(Built::new(match &c.hardware {
                        Some(hw) => erase_estimator::<_, _>(Nb201HwEstimator::new(table, Arc::new(HwTable::load(hw.path()).map_err(|e| e.to_string())?))),
                        None => erase_estimator(Nb201Estimator::new(table)),
                    }))
                },
            )
            .with_metrics::<Nb201TableToml>(move |c| {
                let mut m = base_metrics();
                if let Some(hw) = &c.hardware {
                    // An unreadable table fails its load, with its own error.
                    m.extend(HwTable::metric_names(hw.path()).unwrap_or_default());
                }
                m
            }),
        )
        .add_estimator(
            EstimatorEntry::new::<TableToml>(
                "nas-bench-graph",
                "A NAS-Bench-Graph `.bench` table (pickle) of one dataset.",
                Serves::spaces(&["nas-bench-graph", "nas-bench-graph-proteins"]),
                |c, ctx| {
                    let space = ctx.space.downcast_ref::<NbGraphSpace>().ok_or("nas-bench-graph tables key NAS-Bench-Graph cells")?.clone();
                    let table = Arc::new(NbGraphTable::load(c.path.path(), space).map_err(|e| e.to_string())?);
                    Ok(Built::new(erase_estimator(NbGraphEstimator::new(table))))
                },
            )
            .with_metrics::<TableToml>(|_| ["valid", "test", "params"].map(String::from).to_vec()),
        )
        .add_estimator(
            EstimatorEntry::new::<TableToml>(
                "nas-bench-macro",
                "The NAS-Bench-Macro JSON table (`valid` is the mean of its three test accuracies: the benchmark has no validation split).",
                Serves::spaces(&["nas-bench-macro"]),
                |c, _| {
                    let table = Arc::new(NbMacroTable::load(c.path.path()).map_err(|e| e.to_string())?);
                    Ok(Built::new(erase_estimator(NbMacroEstimator::new(table))))
                },
            )
            .with_metrics::<TableToml>(|_| ["valid", "test", "params", "flops"].map(String::from).to_vec())
            .with_note("`valid` is the mean test accuracy of its three runs (the benchmark has no validation split), so the search selects on test accuracy"),
        )
        .add_estimator(
            EstimatorEntry::new::<TableToml>(
                "nas-bench-301-zero-cost",
                "NASLib's NAS-Bench-301 zero-cost table (`zc_nasbench301_*.json`): NB301's surrogate validation accuracy and thirteen proxy scores (synflow, snip, jacov, ...) as named metrics, for the genotypes it holds; any other genotype fails as not in the table.",
                Serves::spaces(&["darts"]),
                |c, _| {
                    let table = Arc::new(Nb301ZeroCostTable::load(c.path.path()).map_err(|e| e.to_string())?);
                    Ok(Built::new(erase_estimator(Nb301Estimator::new(table))))
                },
            )
            .with_metrics::<TableToml>(|c| {
                let mut m = vec!["valid".to_owned()];
                // An unreadable table fails its load, with its own error.
                m.extend(Nb301ZeroCostTable::load(c.path.path()).ok().into_iter().flat_map(|t| t.proxy_names()));
                m
            })
            .with_note("only the table's genotypes have scores (725 in NASLib's file); a search over the whole DARTS space mostly proposes others, which fail as not in the table"),
        );
}
