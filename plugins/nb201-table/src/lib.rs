//! The NAS-Bench-201 table as an estimator plugin: it wraps nasforge's own
//! tabular estimator, so a search through it must give exactly the results
//! of the built-in `nas-bench-201` estimator (a test checks it).
//!
//! ```toml
//! [[plugin]]
//! name = "nb201-table"
//! kind = "estimator"
//! path = "target/debug/libnasforge_plugin_nb201_table.so"
//! [plugin.config]
//! path = "../../shared/data/nas-bench-201/nb201_cifar10_v1_1.csv"   # relative to the experiment file
//! ```

use std::sync::Arc;

use nasforge_plugin_sdk::core::{EvalContext, EvalError, Estimator, Metrics, SearchSpace};
use nasforge_plugin_sdk::export_plugin;
use nasforge_plugin_sdk::protocol::{ArchMessage, Create};
use nasforge_space_nb201::Nb201Space;
use nasforge_tabular::{Nb201Estimator, Nb201Table};

/// The built-in estimator, fed from messages.
pub struct TablePlugin(Nb201Estimator);

impl Estimator<ArchMessage> for TablePlugin {
    fn name(&self) -> &str {
        "nb201-table"
    }

    fn evaluate(&mut self, arch: &ArchMessage, ctx: EvalContext) -> Result<Metrics, EvalError> {
        if arch.space != Nb201Space.name() {
            return Err(EvalError::Invalid(format!("nb201-table evaluates nas-bench-201 cells, not `{}` architectures", arch.space)));
        }
        let cell = Nb201Space.parse(&arch.text).map_err(|e| EvalError::Invalid(e.to_string()))?;
        self.0.evaluate(&cell, ctx)
    }
}

fn create(c: Create) -> Result<TablePlugin, String> {
    let path = c.config.get("path").and_then(|p| p.as_str()).ok_or("`path` (the NAS-Bench-201 CSV) is required")?;
    // Relative to the experiment file, as the host's own paths are.
    let path = std::path::Path::new(&c.base).join(path);
    let table = Nb201Table::load(&path).map_err(|e| e.to_string())?;
    Ok(TablePlugin(Nb201Estimator::new(Arc::new(table))))
}

export_plugin!(estimator, "nb201-table", env!("CARGO_PKG_VERSION"), create);
