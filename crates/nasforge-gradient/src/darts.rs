//! DARTS' first-order search step (Liu et al., ICLR 2019), as the
//! NAS-Bench-201 reference runs it (`search_func` of AutoDL-Projects'
//! DARTS-V1): the weights take an SGD step on a training batch, their
//! gradient norm clipped to 5; then α takes an Adam step on a validation
//! batch (lr 3e-4, β = (0.5, 0.999), weight decay 1e-3).

use nasforge_engine::dfdx::prelude::*;
use nasforge_engine::ops::{Param, T4};
use nasforge_engine::params::{Optimizer, OptimizerConfig};

use crate::nb201::Nb201Supernet;

/// A batch: images and one-hot labels.
pub type Batch<'a> = (&'a T4<NoneTape>, &'a Tensor<(usize, usize), f32, Cpu>);

/// DARTS' settings (the NB201 reference's DARTS-V1 configuration).
#[derive(Clone, Debug, PartialEq)]
pub struct DartsConfig {
    /// The weights' SGD: learning rate (0.025), momentum (0.9), Nesterov
    /// (yes), weight decay (5e-4).
    pub weights: OptimizerConfig,
    /// The weights' gradient norm is clipped to this (5).
    pub clip: f64,
    /// α's Adam: learning rate (3e-4), weight decay (1e-3).
    pub alpha: OptimizerConfig,
    /// α's Adam betas ((0.5, 0.999)).
    pub alpha_betas: (f64, f64),
}

impl Default for DartsConfig {
    fn default() -> Self {
        DartsConfig {
            weights: OptimizerConfig::Sgd { lr: 0.025, momentum: 0.9, nesterov: true, weight_decay: 5e-4 },
            clip: 5.0,
            alpha: OptimizerConfig::Adam { lr: 3e-4, weight_decay: 1e-3 },
            alpha_betas: (0.5, 0.999),
        }
    }
}

/// The losses of one step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepLosses {
    /// Cross-entropy of the training batch, before the weight step.
    pub train: f64,
    /// Cross-entropy of the validation batch, before the α step.
    pub valid: f64,
}

/// The two optimisers of a first-order DARTS search.
pub struct Darts {
    config: DartsConfig,
    weights: Optimizer,
    alpha: Optimizer,
}

impl Darts {
    /// Fresh optimiser state.
    pub fn new(config: DartsConfig) -> Self {
        let weights = Optimizer::new(config.weights.clone());
        let alpha = Optimizer::new(config.alpha.clone()).with_betas(config.alpha_betas.0, config.alpha_betas.1);
        Darts { config, weights, alpha }
    }

    /// One step: the weights on `train` at learning rate `lr` (the
    /// schedule's), then α on `valid`.
    pub fn step(&mut self, net: &mut Nb201Supernet, train: Batch<'_>, valid: Batch<'_>, lr: f64) -> StepLosses {
        let logits = net.forward(train.0.leaky_trace(), true);
        let loss = cross_entropy_with_logits_loss(logits, train.1.clone());
        let train_loss = f64::from(loss.array());
        let mut grads = loss.backward();
        let trainable = net.trainable();
        clip_norm(&net.weights.params, &trainable, &mut grads, self.config.clip);
        let mut stepped: Vec<Param> = trainable.iter().map(|&i| net.weights.params[i].clone()).collect();
        self.weights.step(&mut stepped, &mut grads, lr).expect("an SGD step on the CPU");
        for (&i, p) in trainable.iter().zip(stepped) {
            net.weights.params[i] = p;
        }

        let logits = net.forward(valid.0.leaky_trace(), true);
        let loss = cross_entropy_with_logits_loss(logits, valid.1.clone());
        let valid_loss = f64::from(loss.array());
        let mut grads = loss.backward();
        let alpha_lr = self.config.alpha.lr();
        self.alpha.step(&mut net.alpha.params, &mut grads, alpha_lr).expect("an Adam step on the CPU");
        StepLosses { train: train_loss, valid: valid_loss }
    }
}

/// Scales the gradients of `params[which]` so that their joint L2 norm is
/// at most `max` (PyTorch's `clip_grad_norm_`).
fn clip_norm(params: &[Param], which: &[usize], grads: &mut Gradients<f32, Cpu>, max: f64) {
    let mut total = 0.0f64;
    for &i in which {
        if let Ok(g) = grads.get_or_alloc_mut(&params[i]) {
            total += g.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>();
        }
    }
    let norm = total.sqrt();
    if norm > max {
        let scale = (max / (norm + 1e-6)) as f32;
        for &i in which {
            if let Ok(g) = grads.get_or_alloc_mut(&params[i]) {
                g.iter_mut().for_each(|v| *v *= scale);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, StandardNormal};

    use super::*;
    use crate::nb201::SupernetShape;

    /// Two classes told apart by the sign of the image's mean.
    fn batch(seed: u64) -> (T4<NoneTape>, Tensor<(usize, usize), f32, Cpu>) {
        let dev = Cpu::default();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let n = 16;
        let mut x = Vec::with_capacity(n * 64);
        let mut y = Vec::with_capacity(n * 2);
        for i in 0..n {
            let class = i % 2;
            let shift = if class == 0 { 0.8 } else { -0.8 };
            x.extend((0..64).map(|_| shift + Distribution::<f32>::sample(&StandardNormal, &mut rng)));
            y.extend([if class == 0 { 1.0 } else { 0.0 }, if class == 1 { 1.0 } else { 0.0 }]);
        }
        (dev.tensor_from_vec(x, (n, 1, 8, 8)), dev.tensor_from_vec(y, (n, 2)))
    }

    fn run(seed: u64, steps: usize) -> (Vec<StepLosses>, [[f32; 5]; 6]) {
        let mut net = Nb201Supernet::new(SupernetShape { channels: 4, cells: 1, in_channels: 1, classes: 2 }, seed);
        let mut darts = Darts::new(DartsConfig::default());
        let (tx, ty) = batch(1);
        let (vx, vy) = batch(2);
        let losses = (0..steps).map(|_| darts.step(&mut net, (&tx, &ty), (&vx, &vy), 0.025)).collect();
        (losses, net.alpha_values())
    }

    #[test]
    fn first_order_steps_fit_the_weights_move_alpha_and_repeat_under_the_seed() {
        let (losses, alpha) = run(3, 25);
        let (first, last) = (losses[0], losses[losses.len() - 1]);
        assert!(last.train < 0.5 * first.train, "{first:?} → {last:?}");
        assert!(last.valid < first.valid, "{first:?} → {last:?}");
        let fresh = Nb201Supernet::new(SupernetShape { channels: 4, cells: 1, in_channels: 1, classes: 2 }, 3).alpha_values();
        assert_ne!(alpha, fresh, "α moved");
        // The same seed, the same α trajectory's end.
        assert_eq!(run(3, 25).1, alpha);
    }
}
