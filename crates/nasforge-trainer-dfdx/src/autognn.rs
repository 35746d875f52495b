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
//! Scores, softmax and aggregation are one fused op of the engine
//! ([`nasforge_engine::ops::attend`], with a hand-written backward pass
//! checked there against finite differences for every attention type and
//! aggregator): per-edge messages are never materialised.

use std::sync::Arc;

use dfdx::prelude::*;
use nasforge_engine::ops::{Activation, Aggregate, Attention, Conv, Param, T2, activate, add_bias, attend, conv2d, dropout, linear, mean_heads};
use nasforge_engine::params::ParamStore;
use nasforge_space_autognn::{ACTIVATIONS, AGGREGATORS, ATTENTIONS, GnnLayer};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::gnn::{Adjacency, GraphClassifier};

/// The engine's attention type for `i`, an index into [`ATTENTIONS`].
fn attention_of(i: u8) -> Attention {
    match ATTENTIONS[usize::from(i)] {
        "const" => Attention::Const,
        "gcn" => Attention::Gcn,
        "gat" => Attention::Gat,
        "sym-gat" => Attention::SymGat,
        "cos" => Attention::Cos,
        "linear" => Attention::Linear,
        _ => Attention::GeneralizedLinear,
    }
}

/// The engine's activation for `i`, an index into [`ACTIVATIONS`].
fn activation_of(i: u8) -> Activation {
    match ACTIVATIONS[usize::from(i)] {
        "sigmoid" => Activation::Sigmoid,
        "tanh" => Activation::Tanh,
        "relu" => Activation::Relu,
        "linear" => Activation::Linear,
        "softplus" => Activation::Softplus,
        "leaky-relu" => Activation::LeakyRelu,
        "relu6" => Activation::Relu6,
        _ => Activation::Elu,
    }
}

/// One layer's parameters (indices into the store).
#[derive(Clone, Debug)]
struct Layer {
    choice: GnnLayer,
    attention: Attention,
    aggregate: Aggregate,
    activation: Activation,
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
            let attention = attention_of(choice.attention);
            let aggregate = match AGGREGATORS[usize::from(choice.aggregator)] {
                "mean" => Aggregate::Mean,
                "max" => Aggregate::Max,
                // `mlp` sums, then applies its per-head layers.
                _ => Aggregate::Sum,
            };
            let activation = activation_of(choice.activation);
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
            layers.push(Layer { choice, attention, aggregate, activation, heads, f, weight, no_bias, vectors, mlp, bias, skip, last });
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
            let mut y = activate(add_bias(y, &p[l.bias]), l.activation);
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

    #[test]
    fn every_attention_and_activation_name_has_its_own_op() {
        // (The ops' gradients are checked in nasforge-engine.)
        let attentions: Vec<Attention> = (0..ATTENTIONS.len() as u8).map(attention_of).collect();
        let activations: Vec<Activation> = (0..ACTIVATIONS.len() as u8).map(activation_of).collect();
        for (i, a) in attentions.iter().enumerate() {
            assert!(!attentions[..i].contains(a), "{} maps to {a:?} twice", ATTENTIONS[i]);
        }
        for (i, a) in activations.iter().enumerate() {
            assert!(!activations[..i].contains(a), "{} maps to {a:?} twice", ACTIVATIONS[i]);
        }
        assert_eq!((attention_of(6), activation_of(7)), (Attention::GeneralizedLinear, Activation::Elu));
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
        let optimizer = nasforge_engine::params::OptimizerConfig::Adam { lr: 0.005, weight_decay: 5e-4 };
        let net = AutoGnnNet::new(&gat, g.feature_dim, g.classes, 0.6, 1);
        let r = crate::gnn::train_graph_classifier(net, &g, &adj, 100, &optimizer, 1).unwrap();
        // GAT's paper: 83.0 % at convergence; the majority class is 30 %.
        assert!(r.test > 0.7, "{r:?}");
    }
}
