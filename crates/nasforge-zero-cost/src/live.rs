//! The `zero-cost` estimator: proxies computed on each candidate's network
//! as the search asks for it.

use nasforge_core::{Estimator, EvalContext, EvalError, Metrics, SearchSpace, derive_seed, seeded_rng};
use nasforge_registry::DynArch;

use crate::score::Scorer;

/// Scores architectures with live proxies: `valid` is one proxy's score,
/// or a weighted sum of proxies each normalised by its mean and standard
/// deviation over reference architectures sampled from the space (a live
/// estimator has no table to normalise over); every proxy is a named
/// metric. A proxy that cannot score an architecture fails the trial with
/// its reason.
pub struct ZeroCostEstimator {
    scorer: Scorer,
    weights: Vec<f64>,
    /// Mean and sd of each proxy over the reference sample (several
    /// proxies only).
    moments: Option<Vec<(f64, f64)>>,
}

impl ZeroCostEstimator {
    /// An estimator over `scorer`'s proxies with `weights` (one per proxy).
    /// With several proxies, `reference` architectures sampled from the
    /// space with `seed` fix the normalisation.
    pub fn new(scorer: Scorer, weights: Vec<f64>, reference: usize, seed: u64) -> Result<Self, String> {
        let n = scorer.names().len();
        assert_eq!(weights.len(), n, "one weight per proxy");
        let moments = if n > 1 {
            let mut rng = seeded_rng(derive_seed(seed, "zero-cost-reference"));
            let mut columns = vec![Vec::new(); n];
            for _ in 0..reference {
                let arch = scorer.space().sample(&mut rng);
                for (col, s) in columns.iter_mut().zip(scorer.score(&arch)?) {
                    col.extend(s.ok());
                }
            }
            let moments = columns
                .iter()
                .zip(scorer.names())
                .map(|(c, name)| match crate::stats::mean_sd(c) {
                    Some((m, sd)) if sd > 0.0 && sd.is_finite() => Ok((m, sd)),
                    _ => Err(format!("proxy `{name}` does not vary over {reference} reference architectures: it cannot be normalised")),
                })
                .collect::<Result<_, _>>()?;
            Some(moments)
        } else {
            None
        };
        Ok(Self { scorer, weights, moments })
    }
}

impl Estimator<DynArch> for ZeroCostEstimator {
    fn name(&self) -> &str {
        "zero-cost"
    }

    fn evaluate(&mut self, arch: &DynArch, _ctx: EvalContext) -> Result<Metrics, EvalError> {
        let scores = self.scorer.score(arch).map_err(EvalError::Other)?;
        let mut extra = Vec::new();
        let mut valid = 0.0;
        for (i, (name, s)) in self.scorer.names().into_iter().zip(scores).enumerate() {
            let v = s.map_err(EvalError::Other)?;
            valid += match &self.moments {
                Some(m) => self.weights[i] * (v - m[i].0) / m[i].1,
                None => self.weights[i] * v,
            };
            extra.push((name, v));
        }
        Ok(Metrics { valid, extra: extra.into_iter().collect(), ..Metrics::default() })
    }
}
