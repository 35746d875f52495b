//! The supernet and its two optimisers, and the steps every method takes:
//! a weight step on a batch of the weights' half, an α step on a batch of
//! α's half, each through whatever edges the method chooses.

use nasforge_engine::dfdx::prelude::*;
use nasforge_engine::ops::Param;
use nasforge_engine::params::{Optimizer, OptimizerConfig, ParamStore};
use nasforge_engine::state::State;
use rand::Rng;
use rand_distr::{Distribution, Exp1};

use crate::data::{Batch, correct};
use crate::nb201::{EdgeChoice, EdgeWeights};
use crate::supernet::Supernet;

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

/// How the weights' learning rate falls from its initial value to
/// `lr_min` over the epochs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Schedule {
    /// Cosine annealing (DARTS, NB201).
    Cosine,
    /// sharpDARTS' cosine power annealing (Hundt et al. 2019,
    /// `cosine_power_annealing.py`): for epoch `e` of `E` (from 1),
    /// `c = (1 + cos(π e / E)) / 2`, `v = p^(c + 1)` (or `c` when `p = 1`),
    /// `v` min-max normalised over the epochs to `[0, 1]`, and
    /// `lr = lr_min + v · (lr − lr_min)`. sharpDARTS' warm-up epochs are
    /// not implemented.
    CosinePower(f64),
}

/// How a mixed edge weighs its candidates from α.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Weighting {
    /// `softmax(α)` (DARTS).
    Softmax,
    /// sharpDARTS' Max-W: `w_i = 1 − max_j s_j + s_i` with `s = softmax(α)`
    /// (its `MixedOp` with `weighting_algorithm = max_w`; the max is not
    /// detached, as there).
    MaxW,
}

/// The optimisers' settings: DARTS' (and the NB201 reference's) defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct Optimisers {
    /// The weights' SGD (lr 0.025, momentum 0.9, Nesterov, weight decay 5e-4).
    pub weights: OptimizerConfig,
    /// The weights' learning rate at the end of the cosine schedule (0.001).
    pub lr_min: f64,
    /// The weights' gradient norm is clipped to this (5); the norm is the
    /// weights' alone (the reference's `clip_grad_norm_` over all
    /// parameters also counts α's stale gradients).
    pub clip: f64,
    /// α's Adam (lr 3e-4, weight decay 1e-3).
    pub alpha: OptimizerConfig,
    /// α's Adam betas ((0.5, 0.999)).
    pub alpha_betas: (f64, f64),
    /// The weights' learning-rate schedule (cosine).
    pub schedule: Schedule,
    /// How mixed edges weigh their candidates (softmax).
    pub weighting: Weighting,
}

impl Default for Optimisers {
    fn default() -> Self {
        Optimisers {
            weights: OptimizerConfig::Sgd { lr: 0.025, momentum: 0.9, nesterov: true, weight_decay: 5e-4 },
            lr_min: 0.001,
            clip: 5.0,
            alpha: OptimizerConfig::Adam { lr: 3e-4, weight_decay: 1e-3 },
            alpha_betas: (0.5, 0.999),
            schedule: Schedule::Cosine,
            weighting: Weighting::Softmax,
        }
    }
}

/// A supernet in training: its weights, α and both optimisers' state.
pub struct Training<N> {
    /// The supernet.
    pub net: N,
    /// The settings.
    pub config: Optimisers,
    weights: Optimizer,
    alpha: Optimizer,
    /// RARTS' second weight set `y` with its own optimiser.
    pub(crate) twin: Option<(ParamStore, Optimizer)>,
    /// SD-DARTS' teachers, the supernets of the previous steps.
    pub(crate) teachers: Option<crate::sd_darts::Teachers>,
}

impl<N: Supernet> Training<N> {
    /// Fresh optimiser state for `net`.
    pub fn new(net: N, config: Optimisers) -> Self {
        let weights = Optimizer::new(config.weights.clone());
        let alpha = Optimizer::new(config.alpha.clone()).with_betas(config.alpha_betas.0, config.alpha_betas.1);
        Training { net, config, weights, alpha, twin: None, teachers: None }
    }

    /// With RARTS' second weight set: a copy of the weights (as new
    /// tensors, so that their gradients never mix), with its own SGD.
    pub fn with_twin(mut self) -> Self {
        let mut y = self.net.weights().clone();
        for p in &mut y.params {
            *p = p.device().tensor_from_vec(p.as_vec(), (p.shape().0,));
        }
        self.twin = Some((y, Optimizer::new(self.config.weights.clone())));
        self
    }

    /// Runs `f` with the second weight set in the supernet (and its
    /// optimiser as the weights'), then swaps them back.
    pub(crate) fn on_twin<R>(&mut self, f: impl FnOnce(&mut Self) -> R) -> R {
        let (mut y, mut opt) = self.twin.take().expect("a training with a second weight set");
        std::mem::swap(self.net.weights_mut(), &mut y);
        std::mem::swap(&mut self.weights, &mut opt);
        let out = f(self);
        std::mem::swap(self.net.weights_mut(), &mut y);
        std::mem::swap(&mut self.weights, &mut opt);
        self.twin = Some((y, opt));
        out
    }

    /// The weights' learning rate in `epoch` of `epochs`: cosine annealing
    /// from the initial rate to `lr_min`, set per epoch as the reference's
    /// scheduler.
    pub fn lr(&self, epoch: usize, epochs: usize) -> f64 {
        let (max, min) = (self.config.weights.lr(), self.config.lr_min);
        match self.config.schedule {
            Schedule::Cosine => min + 0.5 * (max - min) * (1.0 + (std::f64::consts::PI * epoch as f64 / epochs.max(1) as f64).cos()),
            Schedule::CosinePower(p) => {
                let e = epochs.max(1);
                let v: Vec<f64> = (1..=e)
                    .map(|k| {
                        let c = 0.5 * (1.0 + (std::f64::consts::PI * k as f64 / e as f64).cos());
                        if p > 1.0 { p.powf(c + 1.0) } else { c }
                    })
                    .collect();
                let (lo, hi) = v.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)));
                let t = if hi > lo { (v[epoch.min(e - 1)] - lo) / (hi - lo) } else { 1.0 };
                min + t * (max - min)
            }
        }
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
        self.step_weights(&mut grads, lr);
        score
    }

    /// One SGD step of the weights with `grads` at rate `lr`, the
    /// gradient norm clipped.
    pub fn step_weights(&mut self, grads: &mut Gradients<f32, Cpu>, lr: f64) {
        let trainable = self.net.trainable();
        clip_norm(&self.net.weights().params, &trainable, grads, self.config.clip);
        let mut stepped: Vec<Param> = trainable.iter().map(|&i| self.net.weights().params[i].clone()).collect();
        self.weights.step(&mut stepped, grads, lr).expect("an SGD step on the CPU");
        for (&i, p) in trainable.iter().zip(stepped) {
            self.net.weights_mut().params[i] = p;
        }
    }

    /// The weights' momentum buffer for weight `i` (zeros before the first step).
    pub fn weight_momentum(&mut self, i: usize) -> Vec<f32> {
        let p = self.net.weights().params[i].clone();
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
        self.alpha.step(&mut self.net.alpha_mut().params, grads, lr).expect("an Adam step on the CPU");
    }

    /// The α gradient of the loss on `batch` through DARTS' mixed edges,
    /// edge by edge (for Hessian-vector products).
    pub fn alpha_gradient(&mut self, batch: &Batch) -> Vec<f32> {
        let alpha = self.net.alpha().params.clone();
        let weighting = self.config.weighting;
        let (loss, _) = self.loss(batch, &mut mixed(&alpha, weighting));
        let mut grads = loss.backward();
        alpha.iter().flat_map(|a| grads.get_or_alloc_mut(a).expect("a CPU gradient").to_vec()).collect()
    }

    /// Writes the supernet and both optimisers into `state`.
    pub fn save_into(&mut self, state: &mut State) {
        self.net.weights().save_into(state, "weights.");
        self.net.alpha().save_into(state, "alpha.");
        let trainable: Vec<Param> = self.net.trainable().iter().map(|&i| self.net.weights().params[i].clone()).collect();
        self.weights.save_into(state, "weights-opt.", &trainable).expect("optimiser state on the CPU");
        let alpha = self.net.alpha().params.clone();
        self.alpha.save_into(state, "alpha-opt.", &alpha).expect("optimiser state on the CPU");
        if let Some(teachers) = &self.teachers {
            teachers.save_into(&self.net, state);
        }
        if let Some((y, opt)) = &mut self.twin {
            y.save_into(state, "twin.");
            let trainable: Vec<Param> = self.net.trainable().iter().map(|&i| y.params[i].clone()).collect();
            opt.save_into(state, "twin-opt.", &trainable).expect("optimiser state on the CPU");
        }
    }

    /// Reads what [`Training::save_into`] wrote.
    pub fn load_from(&mut self, state: &State) -> Result<(), String> {
        self.net.weights_mut().load_from(state, "weights.")?;
        self.net.alpha_mut().load_from(state, "alpha.")?;
        let trainable: Vec<Param> = self.net.trainable().iter().map(|&i| self.net.weights().params[i].clone()).collect();
        self.weights.load_from(state, "weights-opt.", &trainable)?;
        let alpha = self.net.alpha().params.clone();
        self.alpha.load_from(state, "alpha-opt.", &alpha)?;
        if let Some(teachers) = &mut self.teachers {
            teachers.load_from(&self.net, state)?;
        }
        if let Some((y, opt)) = &mut self.twin {
            y.load_from(state, "twin.")?;
            let trainable: Vec<Param> = self.net.trainable().iter().map(|&i| y.params[i].clone()).collect();
            opt.load_from(state, "twin-opt.", &trainable)?;
        }
        Ok(())
    }
}

/// Loss and accuracy of `net` on `batch` through `choice`'s edges,
/// without a tape: with `train`, batch norm normalises by the batch's
/// statistics (and the running ones are left as they were); without, by
/// the running ones.
pub fn score_batch<N: Supernet>(net: &mut N, batch: &Batch, train: bool, choice: &mut dyn FnMut(usize) -> EdgeChoice<NoneTape>) -> BatchScore {
    let stats = train.then(|| net.weights().stats.clone());
    let logits = net.forward_with(batch.x.clone(), train, choice);
    if let Some(stats) = stats {
        net.weights_mut().stats = stats;
    }
    let classes = logits.shape().1;
    let hits = correct(&logits.as_vec(), classes, &batch.labels);
    let loss = cross_entropy_with_logits_loss(logits, batch.y.clone());
    BatchScore { loss: f64::from(loss.array()), correct: hits, n: batch.labels.len() }
}

/// DARTS' edges: every candidate weighed by the softmax of its α row.
pub fn soft<T: Tape<f32, Cpu>>(alpha: &[Param]) -> impl FnMut(usize) -> EdgeChoice<T> + '_ {
    move |e| EdgeChoice::All(alpha[e].clone().put_tape(T::default()).softmax::<Axis<0>>())
}

/// Every candidate weighed from its α row as `weighting` says.
pub fn mixed<T: Tape<f32, Cpu> + Merge<T>>(alpha: &[Param], weighting: Weighting) -> impl FnMut(usize) -> EdgeChoice<T> + '_ {
    move |e| {
        let s = alpha[e].clone().put_tape(T::default()).softmax::<Axis<0>>();
        match weighting {
            Weighting::Softmax => EdgeChoice::All(s),
            Weighting::MaxW => {
                let n = s.shape().0;
                let top = s.with_empty_tape().max::<Rank0, _>();
                EdgeChoice::All(s + (top.negate() + 1.0).broadcast_like(&(n,)))
            }
        }
    }
}

/// One path: candidate `ops[row]` on the edges of α row `row`.
pub fn path<T: Tape<f32, Cpu>>(ops: Vec<usize>) -> impl FnMut(usize) -> EdgeChoice<T> {
    move |row| EdgeChoice::Path(ops[row])
}

/// One Gumbel-softmax sample of every α row at temperature `tau` (GDAS):
/// the Gumbel noise, drawn again where it is not finite as the reference
/// does, and the sampled candidate per row.
pub struct GumbelSample {
    noise: Vec<Vec<f32>>,
    tau: f32,
    /// The candidate sampled on each row.
    pub ops: Vec<usize>,
}

impl GumbelSample {
    /// Draws noise for every row given α; an error when α is not finite
    /// (a diverged search), where no draw could be.
    pub fn draw(alpha: &[Param], tau: f64, rng: &mut impl Rng) -> Result<Self, String> {
        let tau = tau as f32;
        let mut noise = Vec::with_capacity(alpha.len());
        let mut ops = Vec::with_capacity(alpha.len());
        for a in alpha {
            let a = a.as_vec();
            let max = a.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let lse = max + a.iter().map(|v| (v - max).exp()).sum::<f32>().ln();
            if !lse.is_finite() || a.iter().any(|v| !v.is_finite()) {
                return Err(format!("α is not finite ({a:?}): the search diverged"));
            }
            loop {
                let g: Vec<f32> = (0..a.len()).map(|_| -Distribution::<f32>::sample(&Exp1, rng).ln()).collect();
                let logits: Vec<f32> = (0..a.len()).map(|o| (a[o] - lse + g[o]) / tau).collect();
                if g.iter().chain(&logits).all(|v| v.is_finite()) {
                    ops.push((0..a.len()).fold(0, |b, o| if logits[o] > logits[b] { o } else { b }));
                    noise.push(g);
                    break;
                }
            }
        }
        Ok(GumbelSample { noise, tau, ops })
    }

    /// GDAS' edges for this sample: the straight-through weights
    /// `one_hot − p.detach() + p` with `p = softmax((log_softmax(α) + g) / τ)`,
    /// only the sampled candidate computed.
    pub fn edges<'a>(&'a self, alpha: &'a [Param]) -> impl FnMut(usize) -> EdgeChoice<Taped> + 'a {
        move |row| {
            let dev = alpha[row].device().clone();
            let n = self.noise[row].len();
            let g: Tensor<(usize,), f32, Cpu> = dev.tensor_from_vec(self.noise[row].clone(), (n,));
            let p: EdgeWeights<Taped> = ((alpha[row].clone().put_tape(Taped::default()).log_softmax::<Axis<0>>() + g) / self.tau).softmax::<Axis<0>>();
            let k = self.ops[row];
            let shift: Vec<f32> = p.as_vec().iter().enumerate().map(|(o, &v)| f32::from(u8::from(o == k)) - v).collect();
            let hard = p + dev.tensor_from_vec(shift, (n,));
            EdgeChoice::One(k, hard)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nb201::{Nb201Supernet, SupernetShape};

    fn training(schedule: Schedule) -> Training<Nb201Supernet> {
        let net = Nb201Supernet::new(SupernetShape { channels: 2, cells: 1, in_channels: 1, classes: 2 }, 0);
        Training::new(net, Optimisers { schedule, ..Optimisers::default() })
    }

    #[test]
    fn schedules_run_from_lr_to_lr_min_and_cosine_power_falls_faster_first() {
        let (cos, pow) = (training(Schedule::Cosine), training(Schedule::CosinePower(10.0)));
        assert_eq!(cos.lr(0, 10), 0.025);
        let first = pow.lr(0, 10);
        assert!((first - 0.025).abs() < 1e-12, "{first}");
        assert!((pow.lr(9, 10) - 0.001).abs() < 1e-12);
        // sharpDARTS' curve drops faster early on than cosine annealing.
        assert!(pow.lr(3, 10) < cos.lr(3, 10), "{} vs {}", pow.lr(3, 10), cos.lr(3, 10));
        let lrs: Vec<f64> = (0..10).map(|e| pow.lr(e, 10)).collect();
        assert!(lrs.windows(2).all(|w| w[1] <= w[0]), "{lrs:?}");
    }

    #[test]
    fn max_w_weights_are_one_minus_the_max_plus_each_softmax_weight() {
        let dev = Cpu::default();
        let alpha: Vec<Param> = vec![dev.tensor_from_vec(vec![0.0, (2.0f32).ln(), 0.0], (3,))];
        let EdgeChoice::All(w) = mixed::<NoneTape>(&alpha, Weighting::MaxW)(0) else { panic!("mixed edges mix") };
        let w = w.as_vec();
        // softmax = (0.25, 0.5, 0.25): 1 − 0.5 + each.
        for (got, want) in w.iter().zip([0.75, 1.0, 0.75]) {
            assert!((got - want).abs() < 1e-6, "{w:?}");
        }
    }
}
