//! A ParZC-style learned combination of proxies (Dong et al., "ParZC:
//! Parametric Zero-Cost Proxies for Efficient NAS", 2024): node-wise proxy
//! statistics combined by weights learned from a few labelled
//! architectures with a differentiable Kendall τ (DiffKendall).
//!
//! Features are the [`crate::score::LAYER_STATS`] of each layer-wise
//! proxy's per-layer values ([`crate::Scorer::layerwise`]), each mapped by
//! `asinh` (a signed logarithm: per-layer gradients span orders of
//! magnitude) and standardised over the pool. The model is linear; the
//! loss is `−τ_soft`, `τ_soft = mean_{i<j} tanh(α (s_i − s_j)) · sign(y_i −
//! y_j)`, with L2 weight decay, minimised by the engine's Adam on the
//! dfdx tape.
//!
//! Deviation: ParZC combines node-wise statistics with a mixer network
//! with Bayesian layers (MABN) that reads every node; here the nodes are
//! summarised by position (first, middle, last third) and spread, and the
//! combination is linear, so it fits from 50 labels without overfitting.

use nasforge_engine::dfdx::prelude::*;
use nasforge_engine::ops::{linear, values};
use nasforge_engine::params::{Optimizer, OptimizerConfig, ParamStore};

/// How ParZC trains.
#[derive(Clone, Debug, PartialEq)]
pub struct ParzcConfig {
    /// Full-batch Adam steps.
    pub steps: usize,
    /// Adam's learning rate.
    pub lr: f64,
    /// L2 weight decay.
    pub weight_decay: f64,
    /// The sharpness α of the soft sign.
    pub alpha: f32,
}

impl Default for ParzcConfig {
    fn default() -> Self {
        ParzcConfig { steps: 300, lr: 0.01, weight_decay: 1e-3, alpha: 5.0 }
    }
}

/// Feature standardisation fitted on a pool of architectures.
#[derive(Clone, Debug, PartialEq)]
pub struct Standardiser {
    mean: Vec<f64>,
    sd: Vec<f64>,
}

impl Standardiser {
    /// Means and deviations of `asinh(x)` per column over `rows`, NaN
    /// ignored.
    pub fn fit(rows: &[Vec<f64>]) -> Standardiser {
        let d = rows.first().map_or(0, Vec::len);
        let (mut mean, mut sd) = (vec![0.0; d], vec![1.0; d]);
        for c in 0..d {
            let col: Vec<f64> = rows.iter().map(|r| r[c].asinh()).filter(|x| x.is_finite()).collect();
            if col.is_empty() {
                continue;
            }
            let m = col.iter().sum::<f64>() / col.len() as f64;
            let s = (col.iter().map(|x| (x - m).powi(2)).sum::<f64>() / col.len() as f64).sqrt();
            (mean[c], sd[c]) = (m, if s > 0.0 { s } else { 1.0 });
        }
        Standardiser { mean, sd }
    }

    /// A row standardised; NaN becomes 0 (the pool's mean).
    pub fn apply(&self, row: &[f64]) -> Vec<f32> {
        row.iter().zip(self.mean.iter().zip(&self.sd)).map(|(x, (m, s))| { let z = (x.asinh() - m) / s; if z.is_finite() { z as f32 } else { 0.0 } }).collect()
    }
}

/// A fitted combination.
#[derive(Clone, Debug)]
pub struct Parzc {
    standardiser: Standardiser,
    weights: Vec<f32>,
}

/// `tanh(α (s_i − s_j)) · sign(y_i − y_j)` averaged over pairs `i < j`.
pub fn soft_kendall(scores: &[f64], labels: &[f64], alpha: f64) -> f64 {
    let (mut sum, mut pairs) = (0.0, 0usize);
    for i in 0..scores.len() {
        for j in i + 1..scores.len() {
            sum += (alpha * (scores[i] - scores[j])).tanh() * (labels[i] - labels[j]).signum();
            pairs += 1;
        }
    }
    sum / pairs.max(1) as f64
}

impl Parzc {
    /// Fits the weights on labelled `rows` (raw features), standardised by
    /// `standardiser` (fitted on the whole pool, labelled or not).
    pub fn fit(standardiser: Standardiser, rows: &[Vec<f64>], labels: &[f64], config: &ParzcConfig) -> Parzc {
        let n = rows.len();
        let d = rows.first().map_or(0, Vec::len);
        let mut store = ParamStore::new(Cpu::default());
        let w = store.constant("parzc.weight", &[1, d], 0.0);
        let b = store.constant("parzc.bias", &[1], 0.0);
        let z: Vec<Vec<f32>> = rows.iter().map(|r| standardiser.apply(r)).collect();
        // The model is linear, so s_i − s_j is the score of z_i − z_j: one
        // row per pair, and the pair's label order as its sign.
        let (mut diffs, mut sign) = (Vec::new(), Vec::new());
        for i in 0..n {
            for j in i + 1..n {
                diffs.extend(z[i].iter().zip(&z[j]).map(|(a, b)| a - b));
                sign.push((labels[i] - labels[j]).signum() as f32);
            }
        }
        let pairs = sign.len();
        let dev = store.device().clone();
        let x: Tensor<(usize, usize), f32, Cpu> = dev.tensor_from_vec(diffs, (pairs, d));
        let sign: Tensor<(usize,), f32, Cpu> = dev.tensor_from_vec(sign, (pairs,));
        let mut opt = Optimizer::new(OptimizerConfig::Adam { lr: config.lr, weight_decay: config.weight_decay });
        for _ in 0..config.steps {
            // The bias cancels in every difference: it stays 0.
            let s = linear(x.leaky_trace(), &store.params[w], &store.params[b], 1).reshape_like(&(pairs,));
            let tau = (s * config.alpha).tanh() * sign.clone();
            let loss = tau.sum() * (-1.0 / pairs.max(1) as f32);
            let mut grads = loss.backward();
            opt.step(&mut store.params, &mut grads, config.lr).expect("cpu update");
        }
        Parzc { standardiser, weights: values(&store.params[w]) }
    }

    /// The learned score of one architecture's raw features.
    pub fn score(&self, row: &[f64]) -> f64 {
        self.standardiser.apply(row).iter().zip(&self.weights).map(|(x, w)| f64::from(x * w)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::kendall;

    #[test]
    fn it_learns_which_features_rank_and_with_which_sign() {
        // y depends on feature 0 (up) and 2 (down); feature 1 is noise.
        let mut state = 7u64;
        let mut noise = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        let rows: Vec<Vec<f64>> = (0..80).map(|_| vec![noise(), noise(), noise()]).collect();
        let y: Vec<f64> = rows.iter().map(|r| 2.0 * r[0] - r[2] + 0.05 * noise()).collect();
        let model = Parzc::fit(Standardiser::fit(&rows), &rows[..40], &y[..40], &ParzcConfig::default());
        let held: Vec<f64> = rows[40..].iter().map(|r| model.score(r)).collect();
        let tau = kendall(&held, &y[40..]);
        assert!(tau > 0.8, "held-out τ {tau}");
        assert!(model.weights[0] > 0.0 && model.weights[2] < 0.0 && model.weights[1].abs() < model.weights[0].abs() / 2.0, "{:?}", model.weights);
    }
}
