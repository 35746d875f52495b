//! The zero-cost family's registry entries.

use std::sync::Arc;

use nasforge_core::{ParamError, SearchSpace};
use nasforge_registry::{Built, DataFile, EstimatorEntry, Params, Registry, Serves, erase_estimator};
use nasforge_space_nb201::Nb201Space;
use serde::{Deserialize, Serialize};

use crate::{Combination, ProxyTable, ZeroCostTableEstimator};

/// `[estimator] name = "zero-cost-table"`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ZeroCostTableToml {
    /// A scores CSV (`arch` and one column per proxy), or NASLib's
    /// NAS-Bench-201 zero-cost JSON (`.json`).
    pub path: DataFile,
    /// The proxies the score combines (one: its raw score; several: a
    /// weighted sum of scores normalised over the table).
    pub proxies: Vec<String>,
    /// One weight per proxy; 1 each by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<Vec<f64>>,
    /// The NASLib task whose entries are read (`.json` only).
    #[serde(default = "default_task")]
    pub task: String,
}

fn default_task() -> String {
    "cifar10".into()
}

impl Params for ZeroCostTableToml {
    type Checked = Self;
    fn check(&self) -> Result<Self, ParamError> {
        if self.proxies.is_empty() {
            return Err(ParamError { key: "proxies", reason: "name at least one proxy".into() });
        }
        if let Some(w) = &self.weights {
            if w.len() != self.proxies.len() {
                return Err(ParamError { key: "weights", reason: format!("{} weights for {} proxies", w.len(), self.proxies.len()) });
            }
            if w.iter().any(|x| !x.is_finite()) {
                return Err(ParamError { key: "weights", reason: "weights must be finite numbers".into() });
            }
        }
        Ok(self.clone())
    }
}

/// Registers `zero-cost-table`.
pub fn register(registry: &mut Registry) {
    registry.add_estimator(
        EstimatorEntry::new::<ZeroCostTableToml>(
            "zero-cost-table",
            "Zero-cost proxy scores read from a table computed once: a scores CSV (column `arch` in the space's standard strings, one column per proxy) for any space, or NASLib's NAS-Bench-201 zero-cost JSON. `valid` is one proxy, or a weighted sum of proxies normalised over the table; every proxy is a named metric.",
            Serves::Any,
            |c, ctx| {
                let path = c.path.path();
                let json = path.extension().is_some_and(|e| e == "json");
                let table = if json {
                    if ctx.space.name() != "nas-bench-201" {
                        return Err(format!("{}: NASLib's zero-cost JSON read here keys NAS-Bench-201 cells, not `{}` architectures; give a scores CSV", path.display(), ctx.space.name()));
                    }
                    ProxyTable::from_naslib_nb201(path, &c.task)
                } else {
                    ProxyTable::from_csv(path, ctx.space)
                }
                .map_err(|e| e.to_string())?;
                let combination = Combination::new(&table, &c.proxies, c.weights.as_deref()).map_err(|e| format!("{}: {e}", path.display()))?;
                let table = Arc::new(table);
                Ok(Built::new(if json {
                    erase_estimator(ZeroCostTableEstimator::new(Nb201Space, table, combination))
                } else {
                    erase_estimator(ZeroCostTableEstimator::new(ctx.space.clone(), table, combination))
                }))
            },
        )
        .with_metrics::<ZeroCostTableToml>(|c| {
            let mut m = vec!["valid".to_owned()];
            m.extend(c.proxies.iter().cloned());
            m
        }),
    );
}
