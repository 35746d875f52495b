//! A training-free estimator: a NAS-Bench-201 cell scored by the
//! parameter count of the benchmark's network, the "#params" baseline of
//! the zero-cost proxy literature (Abdelfattah et al., ICLR 2021, compare
//! every proxy against it). It reads no data, so it costs nothing; its
//! `valid` is log10(params).

use nasforge_core::{EvalContext, EvalError, Estimator, Metrics, SearchSpace};
use nasforge_registry::{Built, EstimatorEntry, NoParams, Registry, Serves, erase_estimator};
use nasforge_space_nb201::{Cell, Nb201Space};

/// Scores a cell by its network's parameter count.
pub struct ParamsProxy;

impl Estimator<Cell> for ParamsProxy {
    fn name(&self) -> &str {
        "params-proxy"
    }

    fn evaluate(&mut self, arch: &Cell, _ctx: EvalContext) -> Result<Metrics, EvalError> {
        let params = Nb201Space.params(arch).ok_or_else(|| EvalError::Invalid("no parameter count".into()))?;
        let mut m = Metrics::with_valid((params as f64).log10());
        m.params_m = Some(params as f64 / 1e6);
        Ok(m)
    }
}

/// Registers `params-proxy` for `nas-bench-201`.
pub fn register(registry: &mut Registry) {
    registry.add_estimator(
        EstimatorEntry::new::<NoParams>(
            "params-proxy",
            "log10 of the NAS-Bench-201 network's parameter count: a data-free baseline proxy (this crate's own estimator).",
            Serves::spaces(&["nas-bench-201"]),
            |_, _| Ok(Built::new(erase_estimator(ParamsProxy))),
        )
        .with_metrics::<NoParams>(|_| vec!["valid".into(), "params".into()]),
    );
}
