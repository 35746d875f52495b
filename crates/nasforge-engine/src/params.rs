//! Parameters, optimisers and checkpoints for runtime-shaped networks.
//!
//! dfdx's `Sgd`/`Adam` and its save/load need compile-time-shaped models,
//! so networks here keep a flat list of parameter tensors and this module
//! updates each with dfdx's own per-tensor kernels
//! (`SgdConfig::try_update`, `AdamConfig::try_update`) and checkpoints them
//! with `safetensors`.

use std::path::Path;

use dfdx::optim::{AdamConfig, Momentum, SgdConfig, WeightDecay};
use dfdx::prelude::*;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::ops::{Conv, Param, RunningStats, T2, T4, batch_norm2d, linear};
use crate::state::State;

/// Batch norm's running-statistics momentum and epsilon (PyTorch's).
const BN_MOMENTUM: f32 = 0.1;
pub(crate) const BN_EPS: f32 = 1e-5;

/// A dense layer's weight (`out × in`) and bias, by their indices in a
/// [`ParamStore`], and its output width.
#[derive(Clone, Copy, Debug)]
pub struct Dense {
    pub(crate) w: usize,
    pub(crate) b: usize,
    out: usize,
}

impl Dense {
    /// `x W^T + b` with `store`'s parameters.
    pub fn apply<T: Tape<f32, Cpu>>(&self, store: &ParamStore, x: T2<T>) -> T2<T> {
        linear(x, &store.params[self.w], &store.params[self.b], self.out)
    }
}

/// A convolution followed by batch norm, optionally with a ReLU first
/// (NAS-Bench-201's ReLU-conv-BN), by indices in a [`ParamStore`].
#[derive(Clone, Copy, Debug)]
pub struct ConvBn {
    /// The convolution.
    pub conv: Conv,
    pub(crate) weight: usize,
    pub(crate) bn: BatchNorm,
    pub(crate) relu_first: bool,
}

impl ConvBn {
    /// The indices of its weight, then of its BN's scale and shift.
    pub fn param_indices(&self) -> [usize; 3] {
        [self.weight, self.bn.gamma, self.bn.beta]
    }
}

/// A batch norm's scale, shift and running statistics, by their indices
/// in a [`ParamStore`].
#[derive(Clone, Copy, Debug)]
pub struct BatchNorm {
    pub(crate) gamma: usize,
    pub(crate) beta: usize,
    pub(crate) stats: usize,
}

impl BatchNorm {
    /// The indices of its scale and shift (which a supernet's
    /// `affine=False` batch norm keeps at 1 and 0).
    pub fn affine_indices(&self) -> [usize; 2] {
        [self.gamma, self.beta]
    }
}

/// The parameters and batch-norm statistics of one network.
#[derive(Clone, Debug)]
pub struct ParamStore {
    dev: Cpu,
    /// The parameter tensors, in creation order.
    pub params: Vec<Param>,
    /// `(name, shape)` of each parameter.
    pub meta: Vec<(String, Vec<usize>)>,
    /// Batch-norm running statistics, in creation order.
    pub stats: Vec<RunningStats>,
}

impl ParamStore {
    /// An empty store on `dev`.
    pub fn new(dev: Cpu) -> Self {
        Self { dev, params: Vec::new(), meta: Vec::new(), stats: Vec::new() }
    }

    /// The device.
    pub fn device(&self) -> &Cpu {
        &self.dev
    }

    fn push(&mut self, name: &str, shape: &[usize], values: Vec<f32>) -> usize {
        self.params.push(self.dev.tensor_from_vec(values, (shape.iter().product(),)));
        self.meta.push((name.to_owned(), shape.to_vec()));
        self.params.len() - 1
    }

    /// A parameter drawn from U(-bound, bound): PyTorch's default for conv
    /// and linear layers is `bound = 1/sqrt(fan_in)`.
    pub fn uniform(&mut self, name: &str, shape: &[usize], bound: f32, rng: &mut impl Rng) -> usize {
        let n = shape.iter().product();
        let values = (0..n).map(|_| rng.random_range(-bound..=bound)).collect();
        self.push(name, shape, values)
    }

    /// A parameter filled with `value`.
    pub fn constant(&mut self, name: &str, shape: &[usize], value: f32) -> usize {
        let n = shape.iter().product();
        self.push(name, shape, vec![value; n])
    }

    /// A convolution's weight, drawn from U(±1/√fan_in) (PyTorch's
    /// default); returns its index.
    pub fn conv_weight(&mut self, name: &str, conv: Conv, rng: &mut impl Rng) -> usize {
        let fan_in = (conv.in_ch / conv.groups) * conv.kernel * conv.kernel;
        let shape = [conv.out_ch, conv.in_ch / conv.groups, conv.kernel, conv.kernel];
        self.uniform(&format!("{name}.weight"), &shape, 1.0 / (fan_in as f32).sqrt(), rng)
    }

    /// A dense layer `inp → out`, weights from U(±`bound`), bias zero.
    pub fn dense(&mut self, name: &str, inp: usize, out: usize, bound: f32, rng: &mut impl Rng) -> Dense {
        Dense { w: self.uniform(&format!("{name}.weight"), &[out, inp], bound, rng), b: self.constant(&format!("{name}.bias"), &[out], 0.0), out }
    }

    /// A batch norm over `channels`: scale 1, shift 0, fresh statistics.
    pub fn batch_norm(&mut self, name: &str, channels: usize) -> BatchNorm {
        BatchNorm {
            gamma: self.constant(&format!("{name}.gamma"), &[channels], 1.0),
            beta: self.constant(&format!("{name}.beta"), &[channels], 0.0),
            stats: self.running_stats(channels),
        }
    }

    /// A convolution's weight (see [`ParamStore::conv_weight`]) and a
    /// batch norm `NAME.bn` after it, with a ReLU before it when
    /// `relu_first`.
    pub fn conv_bn(&mut self, name: &str, conv: Conv, relu_first: bool, rng: &mut impl Rng) -> ConvBn {
        let weight = self.conv_weight(name, conv, rng);
        ConvBn { conv, weight, bn: self.batch_norm(&format!("{name}.bn"), conv.out_ch), relu_first }
    }

    /// Applies `cb` to `x` (batch statistics when `train`).
    pub fn apply_conv_bn<T: Tape<f32, Cpu>>(&mut self, cb: &ConvBn, x: T4<T>, train: bool) -> T4<T> {
        let weight = &self.params[cb.weight];
        let y = if cb.relu_first { crate::ops::relu_conv2d(x, weight, cb.conv) } else { crate::ops::conv2d(x, weight, cb.conv) };
        self.apply_batch_norm(&cb.bn, y, train)
    }

    /// Applies `bn` to `x`: batch statistics (updating the running ones)
    /// when `train`, the running ones otherwise.
    /// Under a probe that bypasses batch norm (synflow), returns `x`.
    pub fn apply_batch_norm<T: Tape<f32, Cpu>>(&mut self, bn: &BatchNorm, x: T4<T>, train: bool) -> T4<T> {
        if crate::probe::bypass_batch_norm() {
            return x;
        }
        let (gamma, beta) = (self.params[bn.gamma].clone(), self.params[bn.beta].clone());
        batch_norm2d(x, &gamma, &beta, &mut self.stats[bn.stats], train, BN_MOMENTUM, BN_EPS)
    }

    /// Adds batch-norm statistics for `channels`; returns their index.
    pub fn running_stats(&mut self, channels: usize) -> usize {
        self.stats.push(RunningStats::new(channels));
        self.stats.len() - 1
    }

    /// Number of trainable scalars.
    pub fn count(&self) -> usize {
        self.params.iter().map(|p| p.shape().0).sum()
    }

    /// Saves parameters and statistics as safetensors.
    pub fn save(&self, path: &Path) -> Result<(), String> {
        self.save_with_meta(path, &[])
    }

    /// [`ParamStore::save`] with metadata (the architecture's standard
    /// string, say), which [`ParamStore::load_expecting`] checks.
    pub fn save_with_meta(&self, path: &Path, meta: &[(&str, &str)]) -> Result<(), String> {
        let mut state = State::new();
        self.save_into(&mut state, "");
        for (key, value) in meta {
            state.set_meta(*key, *value);
        }
        let bytes = state.to_bytes()?;
        std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Loads parameters and statistics saved by [`ParamStore::save`] from a
    /// network of the same architecture: names and shapes must match, and
    /// the file may hold nothing else.
    pub fn load(&mut self, path: &Path) -> Result<(), String> {
        self.load_expecting(path, &[])
    }

    /// [`ParamStore::load`], refusing a file whose metadata says another
    /// value for a key of `expected` (a file without the key, written
    /// before it was recorded, is not refused for it). Tensors that match
    /// by name and shape are not enough: networks whose cells differ only
    /// in parameter-free operations share them all.
    pub fn load_expecting(&mut self, path: &Path, expected: &[(&str, &str)]) -> Result<(), String> {
        let at = |e: String| format!("{}: {e}", path.display());
        let bytes = std::fs::read(path).map_err(|e| at(e.to_string()))?;
        let state = State::from_bytes(&bytes).map_err(at)?;
        for (key, want) in expected {
            if let Some(found) = state.meta(key).filter(|found| found != want) {
                return Err(at(format!("the weights are of {key} `{found}`, not `{want}`")));
            }
        }
        let mine = self.params.len() + 2 * self.stats.len();
        if state.len() != mine {
            return Err(at(format!("holds {} tensors, this network has {mine} (another network?)", state.len())));
        }
        self.load_from(&state, "").map_err(at)
    }

    /// Writes parameters and statistics into `state`, names prefixed.
    pub fn save_into(&self, state: &mut State, prefix: &str) {
        for (p, (name, shape)) in self.params.iter().zip(&self.meta) {
            state.put(format!("{prefix}{name}"), shape, p.as_vec());
        }
        for (i, s) in self.stats.iter().enumerate() {
            state.put(format!("{prefix}bn{i}.running_mean"), &[s.mean.len()], s.mean.clone());
            state.put(format!("{prefix}bn{i}.running_var"), &[s.var.len()], s.var.clone());
        }
    }

    /// Reads what [`ParamStore::save_into`] wrote under `prefix`.
    pub fn load_from(&mut self, state: &State, prefix: &str) -> Result<(), String> {
        for (p, (name, shape)) in self.params.iter_mut().zip(&self.meta) {
            p.copy_from(state.get(&format!("{prefix}{name}"), shape)?);
        }
        for (i, s) in self.stats.iter_mut().enumerate() {
            s.mean = state.get(&format!("{prefix}bn{i}.running_mean"), &[s.mean.len()])?.to_vec();
            s.var = state.get(&format!("{prefix}bn{i}.running_var"), &[s.var.len()])?.to_vec();
        }
        Ok(())
    }
}

/// An optimiser's settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "kebab-case", deny_unknown_fields)]
pub enum OptimizerConfig {
    /// SGD with (optionally Nesterov) momentum and L2 weight decay.
    Sgd {
        /// Initial learning rate.
        lr: f64,
        /// Momentum (0 for none).
        #[serde(default)]
        momentum: f64,
        /// Nesterov momentum.
        #[serde(default)]
        nesterov: bool,
        /// L2 weight decay.
        #[serde(default, rename = "weight-decay")]
        weight_decay: f64,
    },
    /// Adam with L2 weight decay.
    Adam {
        /// Initial learning rate.
        lr: f64,
        /// L2 weight decay.
        #[serde(default, rename = "weight-decay")]
        weight_decay: f64,
    },
}

impl OptimizerConfig {
    /// The initial learning rate.
    pub fn lr(&self) -> f64 {
        match self {
            OptimizerConfig::Sgd { lr, .. } | OptimizerConfig::Adam { lr, .. } => *lr,
        }
    }

    /// The L2 weight decay.
    pub fn weight_decay(&self) -> f64 {
        match self {
            OptimizerConfig::Sgd { weight_decay, .. } | OptimizerConfig::Adam { weight_decay, .. } => *weight_decay,
        }
    }
}

/// An optimiser's state over a [`ParamStore`].
pub struct Optimizer {
    config: OptimizerConfig,
    moment1: Gradients<f32, Cpu>,
    moment2: Gradients<f32, Cpu>,
    steps: i32,
    betas: [f64; 2],
}

impl Optimizer {
    /// Fresh state.
    pub fn new(config: OptimizerConfig) -> Self {
        Self { config, moment1: Gradients::leaky(), moment2: Gradients::leaky(), steps: 0, betas: [0.9, 0.999] }
    }

    /// Adam's moment decay rates (PyTorch's and dfdx's `(0.9, 0.999)` by
    /// default; BANANAS' Keras models use `(0.9, 0.99)`).
    pub fn with_betas(mut self, beta1: f64, beta2: f64) -> Self {
        self.betas = [beta1, beta2];
        self
    }

    /// Writes the optimiser's moments for `params` (and its step count)
    /// into `state` under `prefix`, so a resumed search continues the same
    /// trajectory.
    pub fn save_into(&mut self, state: &mut State, prefix: &str, params: &[Param]) -> Result<(), CpuError> {
        state.set_meta(format!("{prefix}steps"), self.steps.to_string());
        for (i, p) in params.iter().enumerate() {
            let n = p.shape().0;
            state.put(format!("{prefix}m1.{i}"), &[n], self.moment1.get_or_alloc_mut(p)?.to_vec());
            state.put(format!("{prefix}m2.{i}"), &[n], self.moment2.get_or_alloc_mut(p)?.to_vec());
        }
        Ok(())
    }

    /// Reads what [`Optimizer::save_into`] wrote, for the same `params`.
    pub fn load_from(&mut self, state: &State, prefix: &str, params: &[Param]) -> Result<(), String> {
        self.steps = state.meta(&format!("{prefix}steps")).and_then(|s| s.parse().ok()).ok_or_else(|| format!("no `{prefix}steps`"))?;
        for (i, p) in params.iter().enumerate() {
            let n = p.shape().0;
            let m1 = state.get(&format!("{prefix}m1.{i}"), &[n])?;
            let m2 = state.get(&format!("{prefix}m2.{i}"), &[n])?;
            self.moment1.get_or_alloc_mut(p).map_err(|e| e.to_string())?.copy_from_slice(m1);
            self.moment2.get_or_alloc_mut(p).map_err(|e| e.to_string())?.copy_from_slice(m2);
        }
        Ok(())
    }

    /// The first moment (SGD's momentum buffer) of `p`, zeros before its
    /// first step: what DARTS' unrolled step reads.
    pub fn momentum(&mut self, p: &Param) -> Result<Vec<f32>, CpuError> {
        Ok(self.moment1.get_or_alloc_mut(p)?.to_vec())
    }

    /// One update of every parameter with learning rate `lr`.
    pub fn step(&mut self, params: &mut [Param], grads: &mut Gradients<f32, Cpu>, lr: f64) -> Result<(), CpuError> {
        self.steps += 1;
        let wd = |w: f64| (w > 0.0).then_some(WeightDecay::L2(w));
        for p in params.iter_mut() {
            let g = grads.get_or_alloc_mut(p)?;
            match &self.config {
                OptimizerConfig::Sgd { momentum, nesterov, weight_decay, .. } => {
                    let cfg = SgdConfig {
                        lr,
                        momentum: (*momentum > 0.0)
                            .then_some(if *nesterov { Momentum::Nesterov(*momentum) } else { Momentum::Classic(*momentum) }),
                        weight_decay: wd(*weight_decay),
                    };
                    let v = self.moment1.get_or_alloc_mut(p)?;
                    cfg.try_update(p, v, g)?;
                }
                OptimizerConfig::Adam { weight_decay, .. } => {
                    let cfg = AdamConfig { lr, betas: self.betas, weight_decay: wd(*weight_decay), ..AdamConfig::default() };
                    let m1 = self.moment1.get_or_alloc_mut(p)?;
                    let m2 = self.moment2.get_or_alloc_mut(p)?;
                    cfg.try_update(self.steps, p, m1, m2, g)?;
                }
            }
        }
        Ok(())
    }
}
