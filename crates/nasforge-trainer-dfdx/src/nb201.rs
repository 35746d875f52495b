//! The NAS-Bench-201 network, built at run time from a [`Cell`].
//!
//! As in the benchmark: a 3×3 stem conv and BN, three stages of `N` cells
//! with `C`, `2C`, `4C` channels joined by residual reduction blocks, then
//! BN, ReLU, global average pooling and a linear classifier. Cell ops are
//! ReLU-Conv-BN (1×1, 3×3), 3×3 average pooling without counting padding,
//! identity, and zero (`x * 0`, which keeps the tape so gradients upstream
//! never vanish silently).

use dfdx::prelude::*;
use nasforge_engine::ops::{Conv, Pool, T2, T4, avg_pool2d, global_avg_pool, linear, relu, sum_all};
use nasforge_engine::blocks::ResidualReduce;
use nasforge_engine::onnx::OnnxGraph;
use nasforge_engine::params::{BatchNorm, ConvBn, ParamStore};
use nasforge_space_nb201::{Cell, EDGE_NODES, Op};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::train::ImageClassifier;

#[derive(Clone, Copy, Debug)]
enum EdgeOp {
    Zero,
    Skip,
    Pool,
    ConvBn(ConvBn),
}

#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant)] // built once per network, never moved in a hot loop
enum Block {
    Cell([EdgeOp; 6]),
    Reduction(ResidualReduce),
}

/// Macro-skeleton settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Nb201Shape {
    /// Channels of the first stage (the benchmark: 16).
    pub channels: usize,
    /// Cells per stage (the benchmark: 5).
    pub cells: usize,
}

/// A NAS-Bench-201 network with its parameters.
pub struct Nb201Net {
    /// Parameters and batch-norm statistics.
    pub store: ParamStore,
    stem: ConvBn,
    blocks: Vec<Block>,
    head_bn: BatchNorm,
    fc: (usize, usize),
    classes: usize,
}

impl Nb201Net {
    /// Builds the network for `cell` on inputs with `in_channels` and
    /// `classes` outputs, initialised from `seed`.
    pub fn new(cell: &Cell, shape: Nb201Shape, in_channels: usize, classes: usize, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut store = ParamStore::new(Cpu::default());
        let c = shape.channels;
        let stem = store.conv_bn("stem", Conv::new(in_channels, c, 3, 1), false, &mut rng);
        let mut blocks = Vec::new();
        let mut ch = c;
        for stage in 0..3 {
            if stage > 0 {
                let name = format!("reduce{stage}");
                let out = ch * 2;
                blocks.push(Block::Reduction(store.residual_reduce(&name, ch, out, &mut rng)));
                ch = out;
            }
            for i in 0..shape.cells {
                let ops = std::array::from_fn(|e| {
                    let name = format!("stage{stage}.cell{i}.edge{e}");
                    match cell.ops[e] {
                        Op::None => EdgeOp::Zero,
                        Op::SkipConnect => EdgeOp::Skip,
                        Op::AvgPool3x3 => EdgeOp::Pool,
                        Op::NorConv1x1 => EdgeOp::ConvBn(store.conv_bn(&name, Conv::new(ch, ch, 1, 1), true, &mut rng)),
                        Op::NorConv3x3 => EdgeOp::ConvBn(store.conv_bn(&name, Conv::new(ch, ch, 3, 1), true, &mut rng)),
                    }
                });
                blocks.push(Block::Cell(ops));
            }
        }
        let head_bn = store.batch_norm("head.bn", ch);
        let bound = 1.0 / (ch as f32).sqrt();
        let fc = (store.uniform("fc.weight", &[classes, ch], bound, &mut rng), store.uniform("fc.bias", &[classes], bound, &mut rng));
        Self { store, stem, blocks, head_bn, fc, classes }
    }

    /// Trainable parameters.
    pub fn param_count(&self) -> usize {
        self.store.count()
    }
}

impl ImageClassifier for Nb201Net {
    fn store(&mut self) -> &mut ParamStore {
        &mut self.store
    }

    fn forward<T: Tape<f32, Cpu> + Merge<T>>(&mut self, x: T4<T>, train: bool) -> T2<T> {
        let store = &mut self.store;
        let mut x = store.apply_conv_bn(&self.stem, x, train);
        for block in &self.blocks {
            x = match block {
                Block::Cell(ops) => cell_forward(store, ops, x, train),
                Block::Reduction(r) => store.apply_residual_reduce(r, x, train),
            };
        }
        let x = relu(store.apply_batch_norm(&self.head_bn, x, train));
        let pooled = global_avg_pool(x);
        linear(pooled, &store.params[self.fc.0], &store.params[self.fc.1], self.classes)
    }
}

impl Nb201Net {
    /// The network as an ONNX model for `(C, H, W)` images, in inference
    /// mode (batch norm on its running statistics): the same blocks as
    /// [`ImageClassifier::forward`], in the same order.
    pub fn to_onnx(&self, input: (usize, usize, usize), doc: &str) -> Vec<u8> {
        let (mut g, s) = (OnnxGraph::new(), &self.store);
        let mut x = g.conv_bn(s, &self.stem, OnnxGraph::INPUT);
        for block in &self.blocks {
            x = match block {
                Block::Cell(ops) => cell_onnx(&mut g, s, ops, &x),
                Block::Reduction(r) => g.residual_reduce(s, r, &x),
            };
        }
        let x = g.batch_norm(s, &self.head_bn, &x);
        let x = g.relu(&x);
        let x = g.global_avg_pool(&x);
        let logits = g.linear(s, self.fc.0, self.fc.1, &x);
        g.finish(&logits, input, self.classes, doc)
    }
}

fn cell_onnx(g: &mut OnnxGraph, store: &ParamStore, ops: &[EdgeOp; 6], x: &str) -> String {
    let mut nodes: [Option<String>; 4] = [Some(x.to_owned()), None, None, None];
    for to in 1..4 {
        let mut terms = Vec::with_capacity(3);
        for (e, &(from, t)) in EDGE_NODES.iter().enumerate() {
            if t != to {
                continue;
            }
            let input = nodes[from].clone().expect("node computed before it is read");
            terms.push(match &ops[e] {
                EdgeOp::Zero => g.scale(&input, 0.0),
                EdgeOp::Skip => input,
                EdgeOp::Pool => g.avg_pool(&input, Pool { kernel: 3, stride: 1, padding: 1 }),
                EdgeOp::ConvBn(cb) => g.conv_bn(store, cb, &input),
            });
        }
        nodes[to] = Some(g.sum(&terms));
    }
    nodes[3].take().expect("node 3 has inputs")
}

fn cell_forward<T: Tape<f32, Cpu> + Merge<T>>(store: &mut ParamStore, ops: &[EdgeOp; 6], x: T4<T>, train: bool) -> T4<T> {
    let mut nodes: [Option<T4<T>>; 4] = [Some(x), None, None, None];
    // How many edges still read each node: the last reader takes the tape,
    // earlier ones branch with an empty tape (same id, so gradients add up).
    let mut readers = [3usize, 2, 1, 0];
    for to in 1..4 {
        let mut terms = Vec::with_capacity(3);
        for (e, &(from, t)) in EDGE_NODES.iter().enumerate() {
            if t != to {
                continue;
            }
            readers[from] -= 1;
            let input = if readers[from] == 0 {
                nodes[from].take().expect("node computed before it is read")
            } else {
                nodes[from].as_ref().expect("node computed before it is read").with_empty_tape()
            };
            let y = match &ops[e] {
                EdgeOp::Zero => input * 0.0,
                EdgeOp::Skip => input,
                EdgeOp::Pool => avg_pool2d(input, Pool { kernel: 3, stride: 1, padding: 1 }),
                EdgeOp::ConvBn(cb) => store.apply_conv_bn(cb, input, train),
            };
            terms.push(y);
        }
        nodes[to] = Some(sum_all(terms));
    }
    nodes[3].take().expect("node 3 has inputs")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_count_matches_the_benchmark_formula() {
        for op in [Op::None, Op::SkipConnect, Op::NorConv1x1, Op::NorConv3x3, Op::AvgPool3x3] {
            let cell = Cell::uniform(op);
            let net = Nb201Net::new(&cell, Nb201Shape { channels: 16, cells: 5 }, 3, 10, 0);
            assert_eq!(net.param_count(), cell.param_count(16, 5, 3, 10), "{op:?}");
        }
    }

    #[test]
    fn skip_only_cells_train_without_aliasing_trouble() {
        // node 2 = x + x and node 3 = x + x + 2x: the same tensor summed with
        // itself, which dfdx's binary `+` refuses.
        let dev = Cpu::default();
        let mut net = Nb201Net::new(&Cell::uniform(Op::SkipConnect), Nb201Shape { channels: 4, cells: 2 }, 1, 3, 1);
        let x: T4<NoneTape> = dev.sample_normal_like(&(2, 1, 8, 8));
        let grads = net.forward(x.leaky_trace(), true).sum().backward();
        assert!(grads.get(&x).as_vec().iter().any(|&v| v != 0.0));
    }

    #[test]
    fn every_parameter_gets_a_gradient_even_through_zero_edges() {
        let dev = Cpu::default();
        let mut cell = Cell::uniform(Op::NorConv3x3);
        cell.ops[5] = Op::None; // 2→3 is zero: node 2's convs only reach the loss through `x * 0`
        let mut net = Nb201Net::new(&cell, Nb201Shape { channels: 4, cells: 1 }, 1, 3, 1);
        let x: T4<NoneTape> = dev.sample_normal_like(&(2, 1, 8, 8));
        let logits = net.forward(x.leaky_trace(), true);
        let grads = logits.sum().backward();
        for (p, (name, _)) in net.store.params.iter().zip(&net.store.meta) {
            // get() panics when no gradient was recorded for the parameter.
            let g = grads.get(p).as_vec();
            assert!(g.iter().all(|v| v.is_finite()), "{name}");
        }
    }
}
