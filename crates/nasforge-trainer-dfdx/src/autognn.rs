//! The GraphNAS / Auto-GNN network of `nasforge_space_autognn`: a stack of
//! message-passing layers, each `x → W x` (heads × hidden), attention
//! coefficients of the layer's type over every node's neighbourhood (self
//! loop included), aggregation, heads concatenated (averaged in the last
//! layer, which outputs the classes), bias, activation, and an optional
//! skip connection (projected when the widths differ). Parameter counts
//! equal `AutoGnnSpace::param_count` (tested).
//!
//! Attention per head, with `L_i = a_l·h_i`, `R_j = a_r·h_j` (Gao et al.'s
//! correlation functions): `const` 1; `gcn` 1/√(d̃_i d̃_j); `gat`
//! LeakyReLU(L_i + R_j); `sym-gat` the sum of both directions; `cos`
//! (a_l⊙h_i)·(a_r⊙h_j); `linear` tanh(R_j); `generalized-linear`
//! w·tanh(a_l⊙h_i + a_r⊙h_j). All but `const` and `gcn` are normalised by
//! a softmax over the neighbourhood. Aggregators: sum, mean, max
//! (element-wise over the weighted neighbours) and `mlp` (a per-head
//! linear layer after the sum).
//!
//! Scores, softmax and aggregation are one fused op with a hand-written
//! backward pass (checked against finite differences for every attention
//! type and aggregator): per-edge messages are never materialised.

use std::sync::Arc;

use dfdx::prelude::*;
use nasforge_space_autognn::{ACTIVATIONS, AGGREGATORS, ATTENTIONS, GnnLayer};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::gnn::{Adjacency, GraphClassifier, Sparse, dropout};
use crate::ops::{Conv, Param, T2, conv2d, finish_op, linear, values};
use crate::params::ParamStore;

/// An attention (correlation) type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attention {
    /// 1.
    Const,
    /// GCN's symmetric normalisation.
    Gcn,
    /// GAT's.
    Gat,
    /// GAT's, both directions summed.
    SymGat,
    /// Cosine-like product.
    Cos,
    /// tanh of the neighbour's score.
    Linear,
    /// A learned combination of tanh terms.
    GeneralizedLinear,
}

impl Attention {
    fn from_index(i: u8) -> Self {
        match ATTENTIONS[usize::from(i)] {
            "const" => Self::Const,
            "gcn" => Self::Gcn,
            "gat" => Self::Gat,
            "sym-gat" => Self::SymGat,
            "cos" => Self::Cos,
            "linear" => Self::Linear,
            _ => Self::GeneralizedLinear,
        }
    }

    fn softmax(self) -> bool {
        !matches!(self, Self::Const | Self::Gcn)
    }

    /// Which of `a_l`, `a_r`, `w` it learns.
    fn vectors(self) -> [bool; 3] {
        match self {
            Self::Const | Self::Gcn => [false; 3],
            Self::Gat | Self::SymGat | Self::Cos => [true, true, false],
            Self::Linear => [false, true, false],
            Self::GeneralizedLinear => [true; 3],
        }
    }
}

/// How weighted neighbours are combined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Aggregate {
    /// Σ.
    Sum,
    /// Σ / neighbourhood size.
    Mean,
    /// Element-wise max.
    Max,
}

const LEAK: f32 = 0.2;

fn leaky(z: f32) -> f32 {
    if z > 0.0 { z } else { LEAK * z }
}

fn leaky_grad(z: f32) -> f32 {
    if z > 0.0 { 1.0 } else { LEAK }
}

/// Attention-weighted aggregation over `adj`'s neighbourhoods (its pattern;
/// its values are the `gcn` weights). `h` is `(n, heads·f)`; `vectors` are
/// `a_l`, `a_r`, `w` (each `heads·f`; those the type does not learn are
/// ignored and get a zero gradient).
pub fn attend<T: Tape<f32, Cpu>>(h: T2<T>, vectors: [&Param; 3], attention: Attention, aggregate: Aggregate, adj: &Arc<Sparse>, heads: usize) -> T2<T> {
    let (n, hf) = *h.shape();
    let f = hf / heads;
    let hd = values(&h);
    let [al, ar, w] = vectors.map(values);
    let e_count = adj.indices.len();
    let dot = |v: &[f32], i: usize, k: usize| -> f32 { (0..f).map(|c| hd[i * hf + k * f + c] * v[k * f + c]).sum() };
    let [use_l, use_r, _] = attention.vectors();
    let node = |used: bool, v: &[f32]| -> Vec<f32> { if used { (0..n * heads).map(|ik| dot(v, ik / heads, ik % heads)).collect() } else { Vec::new() } };
    let (left, right) = (node(use_l, &al), node(use_r, &ar));
    // Raw scores per edge (CSR order) and head.
    let mut score = vec![0.0f32; e_count * heads];
    for i in 0..n {
        for e in adj.indptr[i]..adj.indptr[i + 1] {
            let j = adj.indices[e] as usize;
            for k in 0..heads {
                let (hi, hj) = (&hd[i * hf + k * f..i * hf + (k + 1) * f], &hd[j * hf + k * f..j * hf + (k + 1) * f]);
                let a = |v: &[f32], c: usize| v[k * f + c];
                score[e * heads + k] = match attention {
                    Attention::Const => 1.0,
                    Attention::Gcn => adj.values[e],
                    Attention::Gat => leaky(left[i * heads + k] + right[j * heads + k]),
                    Attention::SymGat => leaky(left[i * heads + k] + right[j * heads + k]) + leaky(left[j * heads + k] + right[i * heads + k]),
                    Attention::Cos => (0..f).map(|c| a(&al, c) * hi[c] * a(&ar, c) * hj[c]).sum(),
                    Attention::Linear => right[j * heads + k].tanh(),
                    Attention::GeneralizedLinear => (0..f).map(|c| a(&w, c) * (a(&al, c) * hi[c] + a(&ar, c) * hj[c]).tanh()).sum(),
                };
            }
        }
    }
    let mut alpha = score.clone();
    if attention.softmax() {
        for i in 0..n {
            let (lo, hi) = (adj.indptr[i], adj.indptr[i + 1]);
            for k in 0..heads {
                let m = (lo..hi).map(|e| score[e * heads + k]).fold(f32::NEG_INFINITY, f32::max);
                let total: f32 = (lo..hi).map(|e| (score[e * heads + k] - m).exp()).sum();
                for e in lo..hi {
                    alpha[e * heads + k] = (score[e * heads + k] - m).exp() / total;
                }
            }
        }
    }
    let scale: Vec<f32> = (0..n)
        .map(|i| if aggregate == Aggregate::Mean { 1.0 / (adj.indptr[i + 1] - adj.indptr[i]).max(1) as f32 } else { 1.0 })
        .collect();
    let mut out = vec![0.0f32; n * hf];
    // For max: the edge each output element came from.
    let mut arg = if aggregate == Aggregate::Max { vec![usize::MAX; n * hf] } else { Vec::new() };
    for i in 0..n {
        for e in adj.indptr[i]..adj.indptr[i + 1] {
            let j = adj.indices[e] as usize;
            for k in 0..heads {
                let a = alpha[e * heads + k] * scale[i];
                for c in k * f..(k + 1) * f {
                    let v = a * hd[j * hf + c];
                    if aggregate != Aggregate::Max {
                        out[i * hf + c] += v;
                    } else if arg[i * hf + c] == usize::MAX || v > out[i * hf + c] {
                        out[i * hf + c] = v;
                        arg[i * hf + c] = e;
                    }
                }
            }
        }
    }
    let adj = adj.clone();
    let params: Vec<Param> = vectors.iter().map(|&p| p.clone()).collect();
    finish_op(h, (n, hf), out, params, move |g, gh| {
        // dα per edge and head, and the direct path into h.
        let mut dalpha = vec![0.0f32; e_count * heads];
        for i in 0..n {
            for e in adj.indptr[i]..adj.indptr[i + 1] {
                let j = adj.indices[e] as usize;
                for k in 0..heads {
                    let a = alpha[e * heads + k] * scale[i];
                    let mut da = 0.0;
                    for c in k * f..(k + 1) * f {
                        if aggregate == Aggregate::Max && arg[i * hf + c] != e {
                            continue;
                        }
                        gh[j * hf + c] += a * g[i * hf + c];
                        da += g[i * hf + c] * hd[j * hf + c];
                    }
                    dalpha[e * heads + k] = da * scale[i];
                }
            }
        }
        let [mut gal, mut gar, mut gw] = [al.len(), ar.len(), w.len()].map(|l| vec![0.0f32; l]);
        if !attention.vectors().contains(&true) {
            return vec![gal, gar, gw];
        }
        // Through the softmax to the raw scores.
        let mut dscore = dalpha;
        for i in 0..n {
            let (lo, hi) = (adj.indptr[i], adj.indptr[i + 1]);
            for k in 0..heads {
                let mean: f32 = (lo..hi).map(|e| alpha[e * heads + k] * dscore[e * heads + k]).sum();
                for e in lo..hi {
                    dscore[e * heads + k] = alpha[e * heads + k] * (dscore[e * heads + k] - mean);
                }
            }
        }
        // Through the score functions: node scores first, then h and the
        // vectors.
        let (mut dleft, mut dright) = (vec![0.0f32; n * heads], vec![0.0f32; n * heads]);
        for i in 0..n {
            for e in adj.indptr[i]..adj.indptr[i + 1] {
                let j = adj.indices[e] as usize;
                for k in 0..heads {
                    let ds = dscore[e * heads + k];
                    let (ik, jk) = (i * heads + k, j * heads + k);
                    match attention {
                        Attention::Gat => {
                            let dz = ds * leaky_grad(left[ik] + right[jk]);
                            dleft[ik] += dz;
                            dright[jk] += dz;
                        }
                        Attention::SymGat => {
                            let dz = ds * leaky_grad(left[ik] + right[jk]);
                            dleft[ik] += dz;
                            dright[jk] += dz;
                            let dz = ds * leaky_grad(left[jk] + right[ik]);
                            dleft[jk] += dz;
                            dright[ik] += dz;
                        }
                        Attention::Linear => dright[jk] += ds * (1.0 - score[e * heads + k].powi(2)),
                        Attention::Cos => {
                            for c in k * f..(k + 1) * f {
                                let (hi, hj) = (hd[i * hf + c], hd[j * hf + c]);
                                gh[i * hf + c] += ds * al[c] * ar[c] * hj;
                                gh[j * hf + c] += ds * al[c] * ar[c] * hi;
                                gal[c] += ds * ar[c] * hi * hj;
                                gar[c] += ds * al[c] * hi * hj;
                            }
                        }
                        Attention::GeneralizedLinear => {
                            for c in k * f..(k + 1) * f {
                                let (hi, hj) = (hd[i * hf + c], hd[j * hf + c]);
                                let t = (al[c] * hi + ar[c] * hj).tanh();
                                gw[c] += ds * t;
                                let du = ds * w[c] * (1.0 - t * t);
                                gh[i * hf + c] += du * al[c];
                                gh[j * hf + c] += du * ar[c];
                                gal[c] += du * hi;
                                gar[c] += du * hj;
                            }
                        }
                        Attention::Const | Attention::Gcn => unreachable!("no learned vectors"),
                    }
                }
            }
        }
        if matches!(attention, Attention::Gat | Attention::SymGat | Attention::Linear) {
            for i in 0..n {
                for k in 0..heads {
                    for c in k * f..(k + 1) * f {
                        let x = i * hf + c;
                        if use_l {
                            gh[x] += dleft[i * heads + k] * al[c];
                            gal[c] += dleft[i * heads + k] * hd[x];
                        }
                        gh[x] += dright[i * heads + k] * ar[c];
                        gar[c] += dright[i * heads + k] * hd[x];
                    }
                }
            }
        }
        vec![gal, gar, gw]
    })
}

/// The mean over `heads` column blocks of `x` (`(n, heads·f)` → `(n, f)`).
fn mean_heads<T: Tape<f32, Cpu>>(x: T2<T>, heads: usize) -> T2<T> {
    let (n, hf) = *x.shape();
    let f = hf / heads;
    let xd = values(&x);
    let out: Vec<f32> = (0..n * f).map(|o| (0..heads).map(|k| xd[(o / f) * hf + k * f + o % f]).sum::<f32>() / heads as f32).collect();
    finish_op(x, (n, f), out, Vec::new(), move |g, gx| {
        for (o, go) in g.iter().enumerate() {
            for k in 0..heads {
                gx[(o / f) * hf + k * f + o % f] += go / heads as f32;
            }
        }
        Vec::new()
    })
}

/// `x + bias` per row.
fn add_bias<T: Tape<f32, Cpu>>(x: T2<T>, bias: &Param) -> T2<T> {
    let (n, d) = *x.shape();
    let b = values(bias);
    let out: Vec<f32> = values(&x).iter().enumerate().map(|(i, v)| v + b[i % d]).collect();
    finish_op(x, (n, d), out, vec![bias.clone()], move |g, gx| {
        gx.iter_mut().zip(g).for_each(|(a, b)| *a += b);
        let mut gb = vec![0.0f32; d];
        for row in g.chunks(d) {
            gb.iter_mut().zip(row).for_each(|(a, b)| *a += b);
        }
        vec![gb]
    })
}

/// The layer's activation, by its index in [`ACTIVATIONS`].
fn activate<T: Tape<f32, Cpu>>(x: T2<T>, activation: u8) -> T2<T> {
    let kind = ACTIVATIONS[usize::from(activation)];
    if kind == "linear" {
        return x;
    }
    // (value, derivative) at z.
    let f = move |z: f32| -> (f32, f32) {
        match kind {
            "sigmoid" => {
                let s = 1.0 / (1.0 + (-z).exp());
                (s, s * (1.0 - s))
            }
            "tanh" => {
                let t = z.tanh();
                (t, 1.0 - t * t)
            }
            "relu" => (z.max(0.0), if z > 0.0 { 1.0 } else { 0.0 }),
            "softplus" => (z.max(0.0) + (-z.abs()).exp().ln_1p(), 1.0 / (1.0 + (-z).exp())),
            "leaky-relu" => (if z > 0.0 { z } else { 0.01 * z }, if z > 0.0 { 1.0 } else { 0.01 }),
            "relu6" => (z.clamp(0.0, 6.0), if z > 0.0 && z < 6.0 { 1.0 } else { 0.0 }),
            _ => (if z > 0.0 { z } else { z.exp_m1() }, if z > 0.0 { 1.0 } else { z.exp() }), // elu
        }
    };
    let shape = *x.shape();
    let xd = values(&x);
    let out = xd.iter().map(|&z| f(z).0).collect();
    finish_op(x, shape, out, Vec::new(), move |g, gx| {
        for ((d, g), &z) in gx.iter_mut().zip(g).zip(&xd) {
            *d += g * f(z).1;
        }
        Vec::new()
    })
}

/// One layer's parameters (indices into the store).
#[derive(Clone, Debug)]
struct Layer {
    choice: GnnLayer,
    attention: Attention,
    aggregate: Aggregate,
    heads: usize,
    f: usize,
    weight: usize,
    /// Zeros for the projection's bias (the layer's bias comes after
    /// aggregation).
    no_bias: Param,
    /// `a_l`, `a_r`, `w`, when the attention type learns them.
    vectors: [Option<usize>; 3],
    /// Per-head linear layers of the `mlp` aggregator: grouped 1×1 conv
    /// weight and bias.
    mlp: Option<(usize, usize)>,
    bias: usize,
    /// Skip projection, when the widths differ, with zeros for its bias.
    skip: Option<(usize, Param)>,
    last: bool,
}

/// A GraphNAS / Auto-GNN network with its parameters.
pub struct AutoGnnNet {
    /// Parameters.
    pub store: ParamStore,
    layers: Vec<Layer>,
    dropout: f32,
    /// An empty vector standing for an attention vector the type lacks.
    empty: Param,
}

/// Glorot-uniform bound, as PyG's layers use.
fn glorot(inp: usize, out: usize) -> f32 {
    (6.0 / (inp + out) as f32).sqrt()
}

impl AutoGnnNet {
    /// The network of `arch` for `features` inputs and `classes` outputs,
    /// with `dropout` before every layer, initialised from `seed`.
    pub fn new(arch: &[GnnLayer], features: usize, classes: usize, dropout: f32, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut store = ParamStore::new(Cpu::default());
        let mut d_in = features;
        let mut layers = Vec::with_capacity(arch.len());
        for (i, &choice) in arch.iter().enumerate() {
            let last = i + 1 == arch.len();
            let heads = choice.heads as usize;
            let f = if last { classes } else { choice.hidden as usize };
            let d_out = if last { f } else { heads * f };
            let name = format!("layer{i}");
            let weight = store.uniform(&format!("{name}.weight"), &[heads * f, d_in], glorot(d_in, heads * f), &mut rng);
            let no_bias = store.device().zeros_like(&(heads * f,));
            let attention = Attention::from_index(choice.attention);
            let aggregate = match AGGREGATORS[usize::from(choice.aggregator)] {
                "mean" => Aggregate::Mean,
                "max" => Aggregate::Max,
                // `mlp` sums, then applies its per-head layers.
                _ => Aggregate::Sum,
            };
            let vectors = [("att_l", 0), ("att_r", 1), ("att_w", 2)].map(|(n, k)| {
                attention.vectors()[k].then(|| store.uniform(&format!("{name}.{n}"), &[heads * f], glorot(f, 1), &mut rng))
            });
            let mlp = (AGGREGATORS[usize::from(choice.aggregator)] == "mlp").then(|| {
                let w = store.uniform(&format!("{name}.mlp.weight"), &[heads * f, f, 1, 1], 1.0 / (f as f32).sqrt(), &mut rng);
                (w, store.constant(&format!("{name}.mlp.bias"), &[heads * f], 0.0))
            });
            let bias = store.constant(&format!("{name}.bias"), &[d_out], 0.0);
            let skip = (choice.skip && d_in != d_out).then(|| {
                (store.uniform(&format!("{name}.skip"), &[d_out, d_in], glorot(d_in, d_out), &mut rng), store.device().zeros_like(&(d_out,)))
            });
            layers.push(Layer { choice, attention, aggregate, heads, f, weight, no_bias, vectors, mlp, bias, skip, last });
            d_in = d_out;
        }
        let empty = store.device().zeros_like(&(0,));
        Self { store, layers, dropout, empty }
    }
}

impl GraphClassifier for AutoGnnNet {
    fn forward<T: Tape<f32, Cpu> + Merge<T>>(&self, x: T2<T>, adj: &Adjacency, train: bool, seed: u64) -> T2<T> {
        let p = &self.store.params;
        let mut x = x;
        let mut drop_seed = seed;
        for l in &self.layers {
            drop_seed = nasforge_core::splitmix64(drop_seed);
            let input = if train { dropout(x, self.dropout, drop_seed) } else { x };
            let n = input.shape().0;
            let skip = l.choice.skip.then(|| input.with_empty_tape());
            let h = linear(input, &p[l.weight], &l.no_bias, l.heads * l.f);
            let vectors = l.vectors.map(|v| v.map_or(&self.empty, |i| &p[i]));
            let mut y = attend(h, vectors, l.attention, l.aggregate, &adj.gcn, l.heads);
            if let Some((w, b)) = l.mlp {
                // Per-head linear layers as a grouped 1×1 convolution.
                let hf = l.heads * l.f;
                let conv = Conv { groups: l.heads, ..Conv::new(hf, hf, 1, 1) };
                let y4 = conv2d(y.reshape_like(&(n, hf, 1, 1)), &p[w], conv);
                y = add_bias(y4.reshape_like(&(n, hf)), &p[b]);
            }
            if l.last {
                y = mean_heads(y, l.heads);
            }
            let mut y = activate(add_bias(y, &p[l.bias]), l.choice.activation);
            if let Some(s) = skip {
                let s = match &l.skip {
                    Some((w, no_bias)) => linear(s, &p[*w], no_bias, no_bias.shape().0),
                    None => s,
                };
                y = y + s;
            }
            x = y;
        }
        x
    }

    fn store(&mut self) -> &mut ParamStore {
        &mut self.store
    }
}

/// Trains Auto-GNN architectures on one graph.
pub struct AutoGnnTrainer {
    graph: Arc<nasforge_datasets::Graph>,
    adjacency: Arc<Adjacency>,
    config: crate::gnn::GnnTrainConfig,
}

impl AutoGnnTrainer {
    /// A trainer over `graph`: `config`'s epochs (the default when a
    /// budget names none), optimiser and dropout apply; its `dim` and
    /// `post_layers` do not (the architecture fixes the widths).
    pub fn new(graph: Arc<nasforge_datasets::Graph>, config: crate::gnn::GnnTrainConfig) -> Self {
        let adjacency = Arc::new(Adjacency::new(&graph));
        Self { graph, adjacency, config }
    }
}

impl nasforge_core::Trainer<Vec<GnnLayer>> for AutoGnnTrainer {
    fn name(&self) -> &str {
        "dfdx-auto-gnn"
    }

    fn train(&mut self, arch: &Vec<GnnLayer>, budget: &nasforge_core::TrainBudget, seed: u64) -> Result<nasforge_core::TrainReport, nasforge_core::EvalError> {
        let epochs = crate::gnn::full_batch_epochs(budget, self.config.epochs)?;
        let start = std::time::Instant::now();
        let g = &self.graph;
        let net = AutoGnnNet::new(arch, g.feature_dim, g.classes, self.config.shape.dropout, nasforge_core::splitmix64(seed));
        let r = crate::gnn::train_graph_classifier(net, g, &self.adjacency, epochs, &self.config.optimizer, seed)?;
        Ok(crate::gnn::report(&r, epochs, start))
    }
}

#[cfg(test)]
mod tests {
    use nasforge_core::SearchSpace;
    use nasforge_space_autognn::AutoGnnSpace;

    use super::*;
    use crate::ops::tests::grad_check;

    #[test]
    fn every_attention_and_aggregator_matches_finite_differences() {
        let g = crate::gnn::tests::tiny_graph();
        let adj = Adjacency::new(&g);
        let attentions =
            [Attention::Const, Attention::Gcn, Attention::Gat, Attention::SymGat, Attention::Cos, Attention::Linear, Attention::GeneralizedLinear];
        for attention in attentions {
            // Unused vectors get one element (dfdx cannot read back an
            // empty tensor's gradient) and must be ignored.
            let lens = attention.vectors().map(|v| if v { 6 } else { 1 });
            for aggregate in [Aggregate::Sum, Aggregate::Mean, Aggregate::Max] {
                let err = grad_check((5, 6), &lens, 1e-3, &|x, p| attend(x, [&p[0], &p[1], &p[2]], attention, aggregate, &adj.gcn, 2));
                assert!(err < 1e-3, "{attention:?}, {aggregate:?}: relative error {err}");
            }
        }
    }

    #[test]
    fn the_built_network_has_the_analytic_parameter_count() {
        let space = AutoGnnSpace { layers: 3, features: 30, classes: 4 };
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for _ in 0..30 {
            let arch = space.sample(&mut rng);
            let net = AutoGnnNet::new(&arch, 30, 4, 0.5, 0);
            assert_eq!(net.store.count() as u64, space.param_count(&arch), "{}", space.format(&arch));
        }
    }

    #[test]
    fn a_two_layer_gat_learns_cora() {
        let g = nasforge_datasets::graph_npz(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/graphs/cora.npz"),
            nasforge_datasets::GraphSplit::default(),
        )
        .unwrap();
        let adj = Adjacency::new(&g);
        let space = AutoGnnSpace::default();
        let gat = space.parse("gat,sum,elu,8,8,0|gat,sum,linear,1,8,0").unwrap();
        let optimizer = crate::params::OptimizerConfig::Adam { lr: 0.005, weight_decay: 5e-4 };
        let net = AutoGnnNet::new(&gat, g.feature_dim, g.classes, 0.6, 1);
        let r = crate::gnn::train_graph_classifier(net, &g, &adj, 100, &optimizer, 1).unwrap();
        // GAT's paper: 83.0 % at convergence; the majority class is 30 %.
        assert!(r.test > 0.7, "{r:?}");
    }
}
