//! The proxies: each one function over a network at initialisation and a
//! batch, in a file of its own; [`PROXIES`] lists them.
//!
//! They follow the reference code: Abdelfattah et al.'s `foresight`
//! (synflow, grad_norm, snip, grasp, fisher, jacob_cov, plain, l2_norm) and
//! NASLib's versions of it and of nwot, epe_nas and zen; GradSign's own
//! code; the W-PCA and hidden-covariance papers. As in the references,
//! every proxy sees a fresh copy of the network (the caller restores the
//! parameters between proxies), batch norm runs on batch statistics
//! (`net.train()`), the loss is the mean cross-entropy, and "layers" are
//! the convolutions and linear layers (PyTorch's `nn.Conv2d` and
//! `nn.Linear`): parameters named `*.weight` with at least two axes.
//! Where a proxy differs from its reference, its file says why.

use nasforge_engine::dfdx::prelude::*;
use nasforge_engine::ops::{T2, values};
use nasforge_engine::params::ParamStore;

use crate::batch::{Batch, BatchKind};
use crate::net::{Flat, Taped, ZcNet};

mod counts;
mod epe_nas;
mod fisher;
mod grad_norm;
mod gradsign;
pub(crate) mod grasp;
mod hidden_cov;
mod jacob_cov;
mod l2_norm;
mod nwot;
mod plain;
mod snip;
mod synflow;
mod w_pca;
mod zen;

/// What a proxy computes on.
pub struct Session<'a> {
    /// The network, at initialisation.
    pub net: &'a mut dyn ZcNet,
    /// The batch (data-free proxies read only its shape).
    pub batch: &'a Batch,
    /// Seed for the proxy's own random draws (Zen-NAS's inputs).
    pub seed: u64,
    /// The network is positively homogeneous under synflow's conditions
    /// (ReLU, pooling, bias-free convolutions, batch norm bypassed): its
    /// input and output gradient may be rescaled by powers of two.
    pub homogeneous: bool,
}

/// A proxy's per-layer values.
pub type LayersFn = fn(&mut Session<'_>) -> Result<Vec<f64>, String>;

/// One proxy.
pub struct Proxy {
    /// Its name, as in NASLib where NASLib has it.
    pub name: &'static str,
    /// What it computes.
    pub about: &'static str,
    /// Whether it reads the batch's data (not only its shape).
    pub needs_data: bool,
    /// The score.
    pub score: fn(&mut Session<'_>) -> Result<f64, String>,
    /// The per-layer values the score sums (layers in creation order:
    /// stem to head), for proxies that are such a sum; ParZC's node-wise
    /// statistics read them.
    pub layers: Option<LayersFn>,
}

/// Every proxy.
pub const PROXIES: &[Proxy] = &[
    counts::PARAMS,
    counts::FLOPS,
    l2_norm::PROXY,
    synflow::PROXY,
    zen::PROXY,
    grad_norm::PROXY,
    snip::PROXY,
    grasp::PROXY,
    fisher::PROXY,
    jacob_cov::PROXY,
    nwot::PROXY,
    gradsign::PROXY,
    epe_nas::PROXY,
    plain::PROXY,
    w_pca::PROXY,
    hidden_cov::PROXY,
];

/// The proxy called `name`.
pub fn proxy(name: &str) -> Option<&'static Proxy> {
    PROXIES.iter().find(|p| p.name == name)
}

/// The names of every proxy.
pub fn names() -> Vec<&'static str> {
    PROXIES.iter().map(|p| p.name).collect()
}

pub(crate) fn dev() -> Cpu {
    Cpu::default()
}

/// The batch's input as a tensor.
pub(crate) fn input(b: &Batch) -> Flat<NoneTape> {
    dev().tensor_from_vec(b.input.clone(), (b.input.len(),))
}

/// Indices of the convolution and linear weights.
pub(crate) fn layer_weights(store: &ParamStore) -> Vec<usize> {
    store.meta.iter().enumerate().filter(|(_, (name, shape))| name.ends_with(".weight") && shape.len() >= 2).map(|(i, _)| i).collect()
}

/// Mean cross-entropy of the batch's output rows.
pub(crate) fn loss(logits: T2<Taped>, b: &Batch) -> Tensor<(), f32, Cpu, Taped> {
    let (rows, classes) = *logits.shape();
    assert_eq!(rows, b.targets.len(), "one target per output row");
    let mut onehot = vec![0.0f32; rows * classes];
    for (r, &t) in b.targets.iter().enumerate() {
        onehot[r * classes + t as usize] = 1.0;
    }
    cross_entropy_with_logits_loss(logits, dev().tensor_from_vec(onehot, (rows, classes)))
}

/// The loss gradient of each parameter in `which`, one training-mode pass.
pub(crate) fn loss_gradients(net: &mut dyn ZcNet, b: &Batch, which: &[usize]) -> Vec<Vec<f32>> {
    let x = input(b);
    let logits = net.logits(x.leaky_trace(), b, true);
    let mut grads = loss(logits, b).backward();
    gradients_of(&mut grads, net.store(), which)
}

pub(crate) fn gradients_of(grads: &mut Gradients<f32, Cpu>, store: &ParamStore, which: &[usize]) -> Vec<Vec<f32>> {
    which.iter().map(|&i| grads.get_or_alloc_mut(&store.params[i]).expect("cpu allocation").to_vec()).collect()
}

/// `Σ f(w, g)` per layer over the layer weights `w` and their gradients.
pub(crate) fn per_layer(store: &ParamStore, layers: &[usize], grads: &[Vec<f32>], f: impl Fn(f32, f32) -> f64) -> Vec<f64> {
    layers.iter().zip(grads).map(|(&i, g)| values(&store.params[i]).iter().zip(g).map(|(&w, &g)| f(w, g)).sum::<f64>()).collect()
}

/// `Σ f(w, ∂L/∂w)` per layer after one training-mode pass of the batch:
/// the shape of snip, plain and grad_norm.
pub(crate) fn loss_gradient_layers(s: &mut Session<'_>, f: impl Fn(f32, f32) -> f64) -> Vec<f64> {
    let layers = layer_weights(s.net.store());
    let grads = loss_gradients(s.net, s.batch, &layers);
    per_layer(s.net.store(), &layers, &grads, f)
}

/// The sum of a layer-wise proxy's layers.
pub(crate) fn total(layers: Result<Vec<f64>, String>) -> Result<f64, String> {
    layers.map(|v| v.iter().sum())
}

/// The Jacobian of the summed outputs with respect to each scored item's
/// input (foresight's `get_batch_jacobian`: `y.backward(ones)`), one row
/// per item.
pub(crate) fn input_jacobian(net: &mut dyn ZcNet, b: &Batch) -> Vec<Vec<f64>> {
    let x = input(b);
    let logits = net.logits(x.leaky_trace(), b, true);
    let mut grads = logits.sum().backward();
    let g = grads.get_or_alloc_mut(&x).expect("cpu allocation");
    let len = b.item_len();
    b.scored_items().iter().map(|&i| g[i * len..(i + 1) * len].iter().map(|&v| f64::from(v)).collect()).collect()
}

/// numpy's `corrcoef` over rows (NaN where a row is constant).
pub(crate) fn corrcoef(rows: &[Vec<f64>]) -> Vec<f64> {
    let n = rows.len();
    let centred: Vec<Vec<f64>> = rows
        .iter()
        .map(|r| {
            let m = r.iter().sum::<f64>() / r.len().max(1) as f64;
            r.iter().map(|v| v - m).collect()
        })
        .collect();
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let norms: Vec<f64> = centred.iter().map(|r| dot(r, r).sqrt()).collect();
    let mut c = vec![0.0; n * n];
    for i in 0..n {
        for j in i..n {
            let v = dot(&centred[i], &centred[j]) / (norms[i] * norms[j]);
            c[i * n + j] = v;
            c[j * n + i] = v;
        }
    }
    c
}

/// Eigenvalues of a symmetric `n × n` matrix (row-major).
pub(crate) fn symmetric_eigenvalues(m: &[f64], n: usize) -> Vec<f64> {
    nalgebra::DMatrix::from_row_slice(n, n, m).symmetric_eigenvalues().iter().copied().collect()
}

/// `log |det m|` (numpy's `slogdet(...)[1]`), by LU: the determinant of a
/// NASWOT kernel overflows f64 long before its logarithm does.
pub(crate) fn log_abs_det(m: &[f64], n: usize) -> f64 {
    let lu = nalgebra::DMatrix::from_row_slice(n, n, m).lu();
    lu.u().diagonal().iter().map(|d| d.abs().ln()).sum()
}

/// jacob_cov's score of a correlation matrix: `−Σ log(λ + k) + 1/(λ + k)`.
pub(crate) fn correlation_score(rows: &[Vec<f64>]) -> f64 {
    let n = rows.len();
    let c = corrcoef(rows);
    if c.iter().any(|v| !v.is_finite()) {
        return f64::NAN;
    }
    let k = 1e-5;
    -symmetric_eigenvalues(&c, n).iter().map(|v| (v + k).ln() + 1.0 / (v + k)).sum::<f64>()
}

/// The classes of the scored items, where each item has one.
pub(crate) fn item_classes(b: &Batch) -> Result<Vec<u32>, String> {
    match b.kind {
        BatchKind::Text { .. } => Err("needs one class per batch item, and text windows have one per token".into()),
        _ => Ok(b.targets.clone()),
    }
}

#[cfg(test)]
mod tests;
