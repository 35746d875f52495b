//! The supernet and its two optimisers, and the steps every method takes:
//! a weight step on a batch of the weights' half, an α step on a batch of
//! α's half, each through whatever edges the method chooses.

use nasforge_engine::dfdx::prelude::*;
use nasforge_engine::ops::Param;
use nasforge_engine::params::{Optimizer, OptimizerConfig};
use nasforge_engine::state::State;
use nasforge_space_nb201::{EDGES, Op};
use rand::Rng;
use rand_distr::{Distribution, Exp1};

use crate::data::{Batch, correct};
use crate::nb201::{EdgeChoice, EdgeWeights, Nb201Supernet};

/// The taped edge choices of a training forward pass.
pub type Taped = OwnedTape<f32, Cpu>;

/// Loss and accuracy of one batch, before the step it drove.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BatchScore {
    /// Mean cross-entropy.
    pub loss: f64,
    /// Correct predictions.
    pub correct: usize,
    /// Images.
    pub n: usize,
}

/// Running sums of [`BatchScore`]s over an epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Meter {
    loss: f64,
    correct: usize,
    n: usize,
}

impl Meter {
    /// Adds one batch.
    pub fn add(&mut self, s: BatchScore) {
        self.loss += s.loss * s.n as f64;
        self.correct += s.correct;
        self.n += s.n;
    }

    /// Mean loss and accuracy (%).
    pub fn mean(&self) -> (f64, f64) {
        let n = self.n.max(1) as f64;
        (self.loss / n, 100.0 * self.correct as f64 / n)
    }
}

/// The optimisers' settings: DARTS' (and the NB201 reference's) defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct Optimisers {
    /// The weights' SGD (lr 0.025, momentum 0.9, Nesterov, weight decay 5e-4).
    pub weights: OptimizerConfig,
    /// The weights' learning rate at the end of the cosine schedule (0.001).
    pub lr_min: f64,
    /// The weights' gradient norm is clipped to this (5).
    pub clip: f64,
    /// α's Adam (lr 3e-4, weight decay 1e-3).
    pub alpha: OptimizerConfig,
    /// α's Adam betas ((0.5, 0.999)).
    pub alpha_betas: (f64, f64),
}

impl Default for Optimisers {
    fn default() -> Self {
        Optimisers {
            weights: OptimizerConfig::Sgd { lr: 0.025, momentum: 0.9, nesterov: true, weight_decay: 5e-4 },
            lr_min: 0.001,
            clip: 5.0,
            alpha: OptimizerConfig::Adam { lr: 3e-4, weight_decay: 1e-3 },
            alpha_betas: (0.5, 0.999),
        }
    }
}

/// A supernet in training: its weights, α and both optimisers' state.
pub struct Training {
    /// The supernet.
    pub net: Nb201Supernet,
    /// The settings.
    pub config: Optimisers,
    weights: Optimizer,
    alpha: Optimizer,
}

impl Training {
    /// Fresh optimiser state for `net`.
    pub fn new(net: Nb201Supernet, config: Optimisers) -> Self {
        let weights = Optimizer::new(config.weights.clone());
        let alpha = Optimizer::new(config.alpha.clone()).with_betas(config.alpha_betas.0, config.alpha_betas.1);
        Training { net, config, weights, alpha }
    }

    /// The weights' learning rate in `epoch` of `epochs`: cosine annealing
    /// from the initial rate to `lr_min`, set per epoch as the reference's
    /// scheduler.
    pub fn lr(&self, epoch: usize, epochs: usize) -> f64 {
        let (max, min) = (self.config.weights.lr(), self.config.lr_min);
        min + 0.5 * (max - min) * (1.0 + (std::f64::consts::PI * epoch as f64 / epochs.max(1) as f64).cos())
    }

    /// A forward pass of `batch` through `choice`'s edges and its loss,
    /// with the tape.
    pub(crate) fn loss(&mut self, batch: &Batch, choice: &mut dyn FnMut(usize) -> EdgeChoice<Taped>) -> (Tensor<(), f32, Cpu, Taped>, BatchScore) {
        let logits = self.net.forward_with(batch.x.leaky_trace(), true, choice);
        let classes = logits.shape().1;
        let hits = correct(&logits.as_vec(), classes, &batch.labels);
        let loss = cross_entropy_with_logits_loss(logits, batch.y.clone());
        let score = BatchScore { loss: f64::from(loss.array()), correct: hits, n: batch.labels.len() };
        (loss, score)
    }

    /// One SGD step of the weights on `batch` at rate `lr`, the gradient
    /// norm clipped.
    pub fn weight_step(&mut self, batch: &Batch, lr: f64, choice: &mut dyn FnMut(usize) -> EdgeChoice<Taped>) -> BatchScore {
        let (loss, score) = self.loss(batch, choice);
        let mut grads = loss.backward();
        let trainable = self.net.trainable();
        clip_norm(&self.net.weights.params, &trainable, &mut grads, self.config.clip);
        let mut stepped: Vec<Param> = trainable.iter().map(|&i| self.net.weights.params[i].clone()).collect();
        self.weights.step(&mut stepped, &mut grads, lr).expect("an SGD step on the CPU");
        for (&i, p) in trainable.iter().zip(stepped) {
            self.net.weights.params[i] = p;
        }
        score
    }

    /// The weights' momentum buffer for weight `i` (zeros before the first step).
    pub fn weight_momentum(&mut self, i: usize) -> Vec<f32> {
        let p = self.net.weights.params[i].clone();
        self.weights.momentum(&p).expect("optimiser state on the CPU")
    }

    /// Fresh state for the weights' optimiser (momentum buffers zeroed).
    pub fn reset_weight_optimiser(&mut self) {
        self.weights = Optimizer::new(self.config.weights.clone());
    }

    /// One Adam step of α on `batch`.
    pub fn alpha_step(&mut self, batch: &Batch, choice: &mut dyn FnMut(usize) -> EdgeChoice<Taped>) -> BatchScore {
        let (loss, score) = self.loss(batch, choice);
        let mut grads = loss.backward();
        self.step_alpha(&mut grads);
        score
    }

    /// One Adam step of α with gradients `grads`.
    pub fn step_alpha(&mut self, grads: &mut Gradients<f32, Cpu>) {
        let lr = self.config.alpha.lr();
        self.alpha.step(&mut self.net.alpha.params, grads, lr).expect("an Adam step on the CPU");
    }

    /// The α gradient of the loss on `batch` through DARTS' mixed edges,
    /// edge by edge (for Hessian-vector products).
    pub fn alpha_gradient(&mut self, batch: &Batch) -> Vec<f32> {
        let alpha = self.net.alpha.params.clone();
        let (loss, _) = self.loss(batch, &mut soft(&alpha));
        let grads = loss.backward();
        alpha.iter().flat_map(|a| grads.get(a).as_vec()).collect()
    }

    /// Writes the supernet and both optimisers into `state`.
    pub fn save_into(&mut self, state: &mut State) {
        self.net.weights.save_into(state, "weights.");
        self.net.alpha.save_into(state, "alpha.");
        let trainable: Vec<Param> = self.net.trainable().iter().map(|&i| self.net.weights.params[i].clone()).collect();
        self.weights.save_into(state, "weights-opt.", &trainable).expect("optimiser state on the CPU");
        let alpha = self.net.alpha.params.clone();
        self.alpha.save_into(state, "alpha-opt.", &alpha).expect("optimiser state on the CPU");
    }

    /// Reads what [`Training::save_into`] wrote.
    pub fn load_from(&mut self, state: &State) -> Result<(), String> {
        self.net.weights.load_from(state, "weights.")?;
        self.net.alpha.load_from(state, "alpha.")?;
        let trainable: Vec<Param> = self.net.trainable().iter().map(|&i| self.net.weights.params[i].clone()).collect();
        self.weights.load_from(state, "weights-opt.", &trainable)?;
        let alpha = self.net.alpha.params.clone();
        self.alpha.load_from(state, "alpha-opt.", &alpha)
    }
}

/// DARTS' edges: every candidate weighed by the softmax of its α row.
pub fn soft<T: Tape<f32, Cpu>>(alpha: &[Param]) -> impl FnMut(usize) -> EdgeChoice<T> + '_ {
    move |e| EdgeChoice::All(alpha[e].clone().put_tape(T::default()).softmax::<Axis<0>>())
}

/// One path: operation `ops[e]` on edge `e` of every cell.
pub fn path<T: Tape<f32, Cpu>>(ops: [Op; EDGES]) -> impl FnMut(usize) -> EdgeChoice<T> {
    move |e| EdgeChoice::Path(ops[e])
}

/// A uniformly random path (RSPS' `random_genotype`, SPOS' uniform
/// sampling): one operation per edge, shared by every cell.
pub fn random_path(rng: &mut impl Rng) -> [Op; EDGES] {
    std::array::from_fn(|_| Op::ALL[rng.random_range(0..Op::ALL.len())])
}

/// One Gumbel-softmax sample of every edge at temperature `tau` (GDAS):
/// the Gumbel noise, drawn again where it is not finite as the reference
/// does, and the sampled operation per edge.
pub struct GumbelSample {
    noise: Vec<[f32; 5]>,
    tau: f32,
    /// The operation sampled on each edge.
    pub ops: [Op; EDGES],
}

impl GumbelSample {
    /// Draws noise for every edge given α.
    pub fn draw(alpha: &[Param], tau: f64, rng: &mut impl Rng) -> Self {
        let tau = tau as f32;
        let mut noise = Vec::with_capacity(EDGES);
        let mut ops = [Op::None; EDGES];
        for (e, a) in alpha.iter().enumerate() {
            let a = a.as_vec();
            let max = a.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let lse = max + a.iter().map(|v| (v - max).exp()).sum::<f32>().ln();
            loop {
                let g: [f32; 5] = std::array::from_fn(|_| -Distribution::<f32>::sample(&Exp1, rng).ln());
                let logits: Vec<f32> = (0..5).map(|o| (a[o] - lse + g[o]) / tau).collect();
                if g.iter().chain(&logits).all(|v| v.is_finite()) {
                    let best = (0..5).fold(0, |b, o| if logits[o] > logits[b] { o } else { b });
                    ops[e] = Op::ALL[best];
                    noise.push(g);
                    break;
                }
            }
        }
        GumbelSample { noise, tau, ops }
    }

    /// GDAS' edges for this sample: the straight-through weights
    /// `one_hot − p.detach() + p` with `p = softmax((log_softmax(α) + g) / τ)`,
    /// only the sampled candidate computed.
    pub fn edges<'a>(&'a self, alpha: &'a [Param]) -> impl FnMut(usize) -> EdgeChoice<Taped> + 'a {
        move |e| {
            let dev = alpha[e].device().clone();
            let g: Tensor<(usize,), f32, Cpu> = dev.tensor_from_vec(self.noise[e].to_vec(), (5,));
            let p: EdgeWeights<Taped> = ((alpha[e].clone().put_tape(Taped::default()).log_softmax::<Axis<0>>() + g) / self.tau).softmax::<Axis<0>>();
            let k = self.ops[e] as usize;
            let shift: Vec<f32> = p.as_vec().iter().enumerate().map(|(o, &v)| f32::from(u8::from(o == k)) - v).collect();
            let hard = p + dev.tensor_from_vec(shift, (5,));
            EdgeChoice::One(self.ops[e], hard)
        }
    }
}

/// Scales the gradients of `params[which]` so that their joint L2 norm is
/// at most `max` (PyTorch's `clip_grad_norm_`).
pub(crate) fn clip_norm(params: &[Param], which: &[usize], grads: &mut Gradients<f32, Cpu>, max: f64) {
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
