//! The DARTS evaluation network (`NetworkCIFAR` of Liu et al.'s code),
//! built at run time from a [`Genotype`].
//!
//! A 3×3 stem conv to `3C` channels and BN; `layers` cells, the ones at
//! `layers/3` and `2·layers/3` reductions (channels doubled, edges from the
//! cell inputs at stride 2); each cell preprocesses its two inputs (the two
//! previous cells' outputs) with ReLU-Conv1×1-BN, or a factorized reduction
//! when the previous cell reduced; node `j` sums two ops of earlier nodes;
//! the cell outputs the concatenation of its four nodes. Global average
//! pooling and a linear classifier close it. The auxiliary head and drop
//! path are left out (drop path is off at probability 0, and the head only
//! adds a training loss). Parameter counts equal
//! `nasforge_space_darts::network_params` (tested).
//!
//! Tape handling: a node can be read by several edges and by the
//! concatenation, so every intermediate tensor's tape is split off into
//! one sink, each reader gets an empty tape, and the sink is merged into
//! the logits at the end. Backward ops run in creation order whatever tape
//! holds them, so no gradient is lost when a node has no reader.

use dfdx::prelude::*;
use nasforge_engine::blocks::{Chain, FactorizedReduce, concat_nodes, detach, reattach};
use nasforge_engine::onnx::OnnxGraph;
use nasforge_engine::ops::{Conv, Pool, T2, T4, avg_pool2d, global_avg_pool, linear, max_pool2d, sum_all};
use nasforge_engine::params::ParamStore;
use nasforge_space_darts::{Genotype, NODES, Op};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::train::ImageClassifier;

#[derive(Clone, Debug)]
enum EdgeOp {
    Zero { stride: usize },
    Identity,
    MaxPool { stride: usize },
    AvgPool { stride: usize },
    /// Separable convolutions are two chains in a row.
    Chains(Vec<Chain>),
    FactorizedReduce(FactorizedReduce),
}

#[derive(Clone, Debug)]
enum Preprocess {
    Chain(Chain),
    Reduce(FactorizedReduce),
}

#[derive(Clone, Debug)]
struct CellNet {
    pre0: Preprocess,
    pre1: Preprocess,
    /// Per edge: its input node and op, in genotype order.
    edges: Vec<(usize, EdgeOp)>,
}

/// A DARTS network with its parameters.
pub struct DartsNet {
    /// Parameters and batch-norm statistics.
    pub store: ParamStore,
    stem: Chain,
    cells: Vec<CellNet>,
    fc: (usize, usize),
    classes: usize,
}

struct Builder<'a> {
    store: &'a mut ParamStore,
    rng: ChaCha8Rng,
}

impl Builder<'_> {
    fn edge(&mut self, name: &str, op: Op, c: usize, stride: usize) -> EdgeOp {
        let rng = &mut self.rng;
        match op {
            Op::None => EdgeOp::Zero { stride },
            Op::MaxPool3x3 => EdgeOp::MaxPool { stride },
            Op::AvgPool3x3 => EdgeOp::AvgPool { stride },
            Op::SkipConnect if stride == 1 => EdgeOp::Identity,
            Op::SkipConnect => EdgeOp::FactorizedReduce(self.store.factorized_reduce(name, c, c, rng)),
            Op::SepConv3x3 | Op::SepConv5x5 => {
                let k = if op == Op::SepConv3x3 { 3 } else { 5 };
                let first = self.store.dw_pw(&format!("{name}.1"), c, c, (k, stride, 1), rng);
                EdgeOp::Chains(vec![first, self.store.dw_pw(&format!("{name}.2"), c, c, (k, 1, 1), rng)])
            }
            Op::DilConv3x3 | Op::DilConv5x5 => {
                let k = if op == Op::DilConv3x3 { 3 } else { 5 };
                EdgeOp::Chains(vec![self.store.dw_pw(name, c, c, (k, stride, 2), rng)])
            }
        }
    }
}

impl DartsNet {
    /// Builds the network of `arch` with `channels` initial channels (C),
    /// `layers` cells, inputs with `in_channels` and `classes` outputs,
    /// initialised from `seed`.
    pub fn new(arch: &Genotype, channels: usize, layers: usize, in_channels: usize, classes: usize, seed: u64) -> Self {
        let mut store = ParamStore::new(Cpu::default());
        let mut b = Builder { store: &mut store, rng: ChaCha8Rng::seed_from_u64(seed) };
        let stem_conv = b.store.conv_w("stem.conv", Conv::new(in_channels, 3 * channels, 3, 1), &mut b.rng);
        let stem = Chain { convs: vec![(stem_conv, false)], bn: b.store.batch_norm("stem.bn", 3 * channels) };
        let (mut c_pp, mut c_p, mut c) = (3 * channels, 3 * channels, channels);
        let mut reduction_prev = false;
        let mut cells = Vec::with_capacity(layers);
        for i in 0..layers {
            let reduction = i == layers / 3 || i == 2 * layers / 3;
            if reduction {
                c *= 2;
            }
            let name = format!("cell{i}");
            let pre0 = if reduction_prev {
                Preprocess::Reduce(b.store.factorized_reduce(&format!("{name}.pre0"), c_pp, c, &mut b.rng))
            } else {
                Preprocess::Chain(b.store.relu_conv1x1_bn(&format!("{name}.pre0"), c_pp, c, &mut b.rng))
            };
            let pre1 = Preprocess::Chain(b.store.relu_conv1x1_bn(&format!("{name}.pre1"), c_p, c, &mut b.rng));
            let genes = if reduction { &arch.reduce } else { &arch.normal };
            let edges = genes
                .edges
                .iter()
                .enumerate()
                .map(|(e, edge)| {
                    let stride = if reduction && edge.input < 2 { 2 } else { 1 };
                    (usize::from(edge.input), b.edge(&format!("{name}.edge{e}"), edge.op, c, stride))
                })
                .collect();
            cells.push(CellNet { pre0, pre1, edges });
            (c_pp, c_p, reduction_prev) = (c_p, NODES * c, reduction);
        }
        let bound = 1.0 / (c_p as f32).sqrt();
        let fc = (b.store.uniform("fc.weight", &[classes, c_p], bound, &mut b.rng), b.store.uniform("fc.bias", &[classes], bound, &mut b.rng));
        Self { store, stem, cells, fc, classes }
    }
}

impl DartsNet {
    /// The network as an ONNX model for `(C, H, W)` images, in inference
    /// mode: the same blocks as [`ImageClassifier::forward`], in the same
    /// order.
    pub fn to_onnx(&self, input: (usize, usize, usize), doc: &str) -> Vec<u8> {
        let (mut g, s) = (OnnxGraph::new(), &self.store);
        let stem = g.chain(s, &self.stem, OnnxGraph::INPUT);
        let (mut s0, mut s1) = (stem.clone(), stem);
        for cell in &self.cells {
            let pre = |g: &mut OnnxGraph, p: &Preprocess, x: &str| match p {
                Preprocess::Chain(c) => g.chain(s, c, x),
                Preprocess::Reduce(f) => g.factorized_reduce(s, f, x),
            };
            let mut states = vec![pre(&mut g, &cell.pre0, &s0), pre(&mut g, &cell.pre1, &s1)];
            for pair in cell.edges.chunks(2) {
                let terms: Vec<String> = pair.iter().map(|(input, op)| edge_onnx(&mut g, s, op, &states[*input])).collect();
                states.push(g.sum(&terms));
            }
            (s0, s1) = (s1, g.concat(&states[2..]));
        }
        let pooled = g.global_avg_pool(&s1);
        let logits = g.linear(s, self.fc.0, self.fc.1, &pooled);
        g.finish(&logits, input, self.classes, doc)
    }
}

fn edge_onnx(g: &mut OnnxGraph, store: &ParamStore, op: &EdgeOp, x: &str) -> String {
    let pool = |stride| Pool { kernel: 3, stride, padding: 1 };
    match op {
        EdgeOp::Zero { stride: 1 } => g.scale(x, 0.0),
        EdgeOp::Zero { stride } => {
            let strided = g.avg_pool(x, Pool { kernel: 1, stride: *stride, padding: 0 });
            g.scale(&strided, 0.0)
        }
        EdgeOp::Identity => x.to_owned(),
        EdgeOp::MaxPool { stride } => g.max_pool(x, pool(*stride)),
        EdgeOp::AvgPool { stride } => g.avg_pool(x, pool(*stride)),
        EdgeOp::Chains(chains) => chains.iter().fold(x.to_owned(), |y, c| g.chain(store, c, &y)),
        EdgeOp::FactorizedReduce(f) => g.factorized_reduce(store, f, x),
    }
}

fn apply_edge<T: Tape<f32, Cpu> + Merge<T>>(store: &mut ParamStore, op: &EdgeOp, x: T4<T>, train: bool, sink: &mut T) -> T4<T> {
    let pool = |stride| Pool { kernel: 3, stride, padding: 1 };
    match op {
        // Zero keeps the tape (`x * 0`), so a zero edge is a real edge.
        EdgeOp::Zero { stride: 1 } => x * 0.0,
        EdgeOp::Zero { stride } => avg_pool2d(x, Pool { kernel: 1, stride: *stride, padding: 0 }) * 0.0,
        EdgeOp::Identity => x,
        EdgeOp::MaxPool { stride } => max_pool2d(x, pool(*stride)),
        EdgeOp::AvgPool { stride } => avg_pool2d(x, pool(*stride)),
        EdgeOp::Chains(chains) => chains.iter().fold(x, |x, c| store.apply_chain(c, x, train)),
        EdgeOp::FactorizedReduce(f) => store.apply_factorized_reduce(f, x, train, sink),
    }
}

impl ImageClassifier for DartsNet {
    fn store(&mut self) -> &mut ParamStore {
        &mut self.store
    }

    fn forward<T: Tape<f32, Cpu> + Merge<T>>(&mut self, x: T4<T>, train: bool) -> T2<T> {
        let store = &mut self.store;
        let mut sink = T::default();
        let stem = detach(store.apply_chain(&self.stem, x, train), &mut sink);
        let (mut s0, mut s1) = (stem.clone(), stem);
        for cell in &self.cells {
            let mut pre = |p: &Preprocess, s: &Tensor<(usize, usize, usize, usize), f32, Cpu>, sink: &mut T| {
                let y = match p {
                    Preprocess::Chain(c) => store.apply_chain(c, s.retaped::<T>(), train),
                    Preprocess::Reduce(f) => store.apply_factorized_reduce(f, s.retaped::<T>(), train, sink),
                };
                detach(y, sink)
            };
            let mut states = vec![pre(&cell.pre0, &s0, &mut sink), pre(&cell.pre1, &s1, &mut sink)];
            for pair in cell.edges.chunks(2) {
                let terms = pair.iter().map(|(input, op)| apply_edge(store, op, states[*input].retaped::<T>(), train, &mut sink)).collect();
                let node = sum_all(terms);
                states.push(detach(node, &mut sink));
            }
            (s0, s1) = (s1, detach(concat_nodes::<T>(&states[2..]), &mut sink));
        }
        let pooled = global_avg_pool(s1.retaped::<T>());
        reattach(linear(pooled, &store.params[self.fc.0], &store.params[self.fc.1], self.classes), sink)
    }
}

#[cfg(test)]
mod tests {
    use nasforge_core::SearchSpace;
    use nasforge_space_darts::{DartsSpace, network_params};

    use super::*;

    const DARTS_V2: &str = "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])";

    #[test]
    fn the_built_network_has_the_analytic_parameter_count() {
        let v2 = DartsSpace.parse(DARTS_V2).unwrap();
        // The published CIFAR-10 network: 3,349,342 parameters.
        assert_eq!(DartsNet::new(&v2, 36, 20, 3, 10, 0).store.count() as u64, network_params(&v2, 36, 20, 10));
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..5 {
            let g = DartsSpace.sample(&mut rng);
            assert_eq!(DartsNet::new(&g, 8, 5, 3, 10, 0).store.count() as u64, network_params(&g, 8, 5, 10), "{g}");
        }
    }

    #[test]
    fn every_op_gets_gradients_and_shapes_agree() {
        // Every op in both cells, at both strides; odd-free 8×8 input.
        let g = DartsSpace
            .parse(
                "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_5x5', 1), ('dil_conv_3x3', 0), ('dil_conv_5x5', 2), \
                 ('max_pool_3x3', 3), ('avg_pool_3x3', 1), ('skip_connect', 4), ('none', 0)], normal_concat=[2, 3, 4, 5], \
                 reduce=[('skip_connect', 0), ('none', 1), ('avg_pool_3x3', 0), ('max_pool_3x3', 1), ('sep_conv_5x5', 0), \
                 ('dil_conv_5x5', 1), ('none', 2), ('sep_conv_3x3', 1)], reduce_concat=[2, 3, 4, 5])",
            )
            .unwrap();
        let mut net = DartsNet::new(&g, 4, 5, 1, 3, 0);
        let dev = net.store.device().clone();
        let x: T4<NoneTape> = dev.tensor_from_vec((0..2 * 64).map(|i| (i as f32 * 0.37).sin()).collect(), (2, 1, 8, 8));
        assert_eq!(*net.forward(x.clone(), false).shape(), (2, 3));
        let silent = crate::train::parameters_without_gradient(&mut net, x);
        assert!(silent.is_empty(), "parameters without gradient: {silent:?}");
    }
}
