//! BANANAS' meta neural network: an ensemble of MLPs on the engine.
//!
//! As naszilla's `meta_neural_net.py` ("standard" settings): 5 members,
//! each 10 ReLU layers of width 20 and a linear output, Glorot-uniform
//! weights and zero biases (Keras' defaults), mean absolute error, Adam
//! with learning rate 0.01 and β = (0.9, 0.99), 150 epochs of batches of
//! 32 shuffled each epoch, no regularisation. The ensemble's mean and
//! standard deviation are the acquisition's inputs.
//!
//! Deviations: labels are standardised (naszilla trains on the raw
//! validation error in percent; here spaces' metrics come on different
//! scales), and so are non-binary input columns (zero-cost features;
//! BANANAS' path encodings are binary and left as they are). Members
//! train on their own threads: each is seeded on its own, so the result
//! does not depend on the thread count.

use nasforge_core::{derive_seed, seeded_rng};
use nasforge_engine::dfdx::prelude::*;
use nasforge_engine::ops::relu;
use nasforge_engine::params::{Dense, Optimizer, OptimizerConfig, ParamStore};
use rand::seq::SliceRandom;

use crate::{Predictor, standardise};

/// The ensemble's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct MlpConfig {
    /// Members (5).
    pub members: usize,
    /// Hidden layers (10).
    pub layers: usize,
    /// Hidden width (20).
    pub width: usize,
    /// Epochs (150).
    pub epochs: usize,
    /// Batch size (32).
    pub batch: usize,
    /// Adam's learning rate (0.01).
    pub lr: f64,
}

impl Default for MlpConfig {
    fn default() -> Self {
        MlpConfig { members: 5, layers: 10, width: 20, epochs: 150, batch: 32, lr: 0.01 }
    }
}

/// The loss an [`Mlp`] trains with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Loss {
    /// Mean absolute error (BANANAS).
    Mae,
    /// Mean squared error.
    Mse,
}

/// One MLP: `layers` ReLU layers of `width`, a linear output of `out`
/// values, Glorot-uniform weights, zero biases.
#[derive(Clone)]
pub(crate) struct Mlp {
    store: ParamStore,
    layers: Vec<Dense>,
    input: usize,
    width: usize,
}

type Member = Mlp;

impl Mlp {
    pub(crate) fn new(input: usize, layers: usize, width: usize, out: usize, seed: u64) -> Self {
        let mut rng = seeded_rng(seed);
        let mut store = ParamStore::new(Cpu::default());
        let mut dense = Vec::with_capacity(layers + 1);
        let mut from = input;
        for l in 0..=layers {
            let to = if l == layers { out } else { width };
            let glorot = (6.0 / (from + to) as f32).sqrt();
            dense.push(store.dense(&format!("l{l}"), from, to, glorot, &mut rng));
            from = to;
        }
        Mlp { store, layers: dense, input, width }
    }

    /// A fresh output layer of `out` values (a new head on the trained
    /// body; the old head's parameters stay in the store, unused).
    pub(crate) fn replace_head(&mut self, out: usize, seed: u64) {
        let mut rng = seeded_rng(seed);
        let from = if self.layers.len() > 1 { self.width } else { self.input };
        let glorot = (6.0 / (from + out) as f32).sqrt();
        let head = self.store.dense(&format!("head{}", self.store.params.len()), from, out, glorot, &mut rng);
        *self.layers.last_mut().expect("an output layer") = head;
    }

    fn forward<T: Tape<f32, Cpu>>(&self, mut x: Tensor<(usize, usize), f32, Cpu, T>) -> Tensor<(usize, usize), f32, Cpu, T> {
        let last = self.layers.len() - 1;
        for (i, l) in self.layers.iter().enumerate() {
            x = l.apply(&self.store, x);
            if i < last {
                x = relu(x);
            }
        }
        x
    }

    /// Trains on rows `x` (`width` columns) and targets `y` (`out` per
    /// row), Adam with β = (0.9, 0.99), shuffled batches.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn train(&mut self, x: &[f32], y: &[f32], width: usize, out: usize, epochs: usize, batch: usize, lr: f64, loss: Loss, seed: u64) {
        let n = y.len() / out.max(1);
        let dev = self.store.device().clone();
        let mut optimizer = Optimizer::new(OptimizerConfig::Adam { lr, weight_decay: 0.0 }).with_betas(0.9, 0.99);
        let mut rng = seeded_rng(seed);
        let mut order: Vec<usize> = (0..n).collect();
        for _ in 0..epochs {
            order.shuffle(&mut rng);
            for chunk in order.chunks(batch.max(1)) {
                let bx: Vec<f32> = chunk.iter().flat_map(|&i| x[i * width..(i + 1) * width].iter().copied()).collect();
                let by: Vec<f32> = chunk.iter().flat_map(|&i| y[i * out..(i + 1) * out].iter().copied()).collect();
                let input = dev.tensor_from_vec(bx, (chunk.len(), width));
                let target = dev.tensor_from_vec(by, (chunk.len(), out));
                let pred = self.forward(input.put_tape(OwnedTape::<f32, Cpu>::default()));
                let l = match loss {
                    Loss::Mae => (pred - target).abs().mean(),
                    Loss::Mse => (pred - target).square().mean(),
                };
                let mut grads = l.backward();
                optimizer.step(&mut self.store.params, &mut grads, lr).expect("an Adam step on the CPU");
            }
        }
    }

    pub(crate) fn predict(&self, x: &[f32], rows: usize, width: usize) -> Vec<f32> {
        let dev = self.store.device().clone();
        self.forward(dev.tensor_from_vec(x.to_vec(), (rows, width))).as_vec()
    }
}

/// An ensemble of MLPs.
#[derive(Default)]
pub struct MlpEnsemble {
    config: MlpConfig,
    members: Vec<Member>,
    /// Per input column: (shift, scale) applied before the network.
    columns: Vec<(f64, f64)>,
    scale: (f64, f64),
}

impl MlpEnsemble {
    /// An unfitted ensemble.
    pub fn new(config: MlpConfig) -> Self {
        MlpEnsemble { config, members: Vec::new(), columns: Vec::new(), scale: (0.0, 1.0) }
    }

    fn inputs(&self, x: &[Vec<f64>]) -> Vec<f32> {
        x.iter()
            .flat_map(|r| r.iter().zip(&self.columns).map(|(&v, &(m, s))| if v.is_nan() { 0.0 } else { ((v - m) / s) as f32 }))
            .collect()
    }

    /// Each member's predictions, in label units.
    pub fn member_predictions(&self, x: &[Vec<f64>]) -> Vec<Vec<f64>> {
        let flat = self.inputs(x);
        let width = self.columns.len();
        self.members
            .iter()
            .map(|m| m.predict(&flat, x.len(), width).into_iter().map(|v| self.scale.0 + self.scale.1 * f64::from(v)).collect())
            .collect()
    }
}

/// Binary columns are left as they are; others standardised (NaN skipped).
fn column_scaling(x: &[Vec<f64>]) -> Vec<(f64, f64)> {
    let width = x.first().map_or(0, Vec::len);
    (0..width)
        .map(|c| {
            let v: Vec<f64> = x.iter().map(|r| r[c]).filter(|v| v.is_finite()).collect();
            if v.iter().all(|&a| a == 0.0 || a == 1.0) || v.is_empty() {
                return (0.0, 1.0);
            }
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            let sd = (v.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
            (mean, if sd > 0.0 { sd } else { 1.0 })
        })
        .collect()
}

impl Predictor for MlpEnsemble {
    fn name(&self) -> &str {
        "mlp-ensemble"
    }

    fn fit(&mut self, x: &[Vec<f64>], y: &[f64], seed: u64) -> Result<(), String> {
        let (z, scale) = standardise(y)?;
        let width = x.first().map_or(0, Vec::len);
        if width == 0 {
            return Err("no features to fit on".into());
        }
        self.columns = column_scaling(x);
        self.scale = scale;
        let flat = self.inputs(x);
        let labels: Vec<f32> = z.iter().map(|&v| v as f32).collect();
        let config = self.config.clone();
        self.members = std::thread::scope(|s| {
            let handles: Vec<_> = (0..config.members)
                .map(|k| {
                    let (flat, labels, config) = (&flat, &labels, &config);
                    s.spawn(move || {
                        let member_seed = derive_seed(seed, &format!("member-{k}"));
                        let mut m = Member::new(width, config.layers, config.width, 1, member_seed);
                        m.train(flat, labels, width, 1, config.epochs, config.batch, config.lr, Loss::Mae, derive_seed(member_seed, "batches"));
                        m
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("an MLP member trains")).collect()
        });
        Ok(())
    }

    fn predict(&self, x: &[Vec<f64>]) -> Vec<f64> {
        self.predict_spread(x).into_iter().map(|p| p.0).collect()
    }

    fn predict_spread(&self, x: &[Vec<f64>]) -> Vec<(f64, f64)> {
        let all = self.member_predictions(x);
        let k = all.len() as f64;
        (0..x.len())
            .map(|i| {
                let mean = all.iter().map(|m| m[i]).sum::<f64>() / k;
                let var = all.iter().map(|m| (m[i] - mean).powi(2)).sum::<f64>() / k;
                (mean, var.sqrt())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ensemble_learns_a_function_and_is_seeded() {
        let x: Vec<Vec<f64>> = (0..128).map(|i| (0..6).map(|b| f64::from((i >> b) & 1)).collect()).collect();
        let y: Vec<f64> = x.iter().map(|r| 2.0 * r[0] + r[1] * r[2] - r[5]).collect();
        let config = MlpConfig { members: 3, epochs: 60, ..MlpConfig::default() };
        let mut e = MlpEnsemble::new(config.clone());
        e.fit(&x, &y, 1).unwrap();
        let p = e.predict_spread(&x);
        let mae = p.iter().zip(&y).map(|(a, b)| (a.0 - b).abs()).sum::<f64>() / 128.0;
        assert!(mae < 0.25, "{mae}");
        assert!(p.iter().any(|a| a.1 > 0.0), "members differ");
        let mut f = MlpEnsemble::new(config);
        f.fit(&x, &y, 1).unwrap();
        assert_eq!(p, f.predict_spread(&x));
    }
}
