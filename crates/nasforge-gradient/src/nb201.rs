//! The NAS-Bench-201 search network, as the benchmark's reference code
//! builds it (`TinyNetworkDarts` of AutoDL-Projects): a 3×3 conv and BN
//! stem; three stages of `N` search cells with `C`, `2C` and `4C`
//! channels, joined by residual reduction blocks (ReLU-conv-BN 3×3 with
//! stride 2, ReLU-conv-BN 3×3, average-pool-and-1×1 shortcut); BN, ReLU,
//! global average pooling and a linear classifier. Each of a cell's six
//! edges is a mixed edge over the five operations (`none`,
//! `skip_connect`, `nor_conv_1x1`, `nor_conv_3x3`, `avg_pool_3x3`, in the
//! benchmark's order), whose convolutions are ReLU-conv-BN with a BN
//! without scale and shift (`affine=False`, as the reference's search
//! cells). α is 6 × 5, one row per edge shared by every cell, initialised
//! as 1e-3 · N(0, 1) as the reference does.

use nasforge_engine::dfdx::prelude::*;
use nasforge_engine::ops::{Conv, Pool, T2, T4, avg_pool2d, global_avg_pool, linear, mix, mix_one, relu, sum_all};
use nasforge_engine::blocks::{ResidualReduce, reattach};
use nasforge_engine::params::{BatchNorm, ConvBn, ParamStore};
use nasforge_space_nb201::{Cell, EDGE_NODES, EDGES, Op};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// The search network's size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SupernetShape {
    /// Channels of the first stage (the benchmark's search: 16).
    pub channels: usize,
    /// Cells per stage (the benchmark's search: 5).
    pub cells: usize,
    /// Input channels.
    pub in_channels: usize,
    /// Classes.
    pub classes: usize,
}

/// The parameterised candidates of one mixed edge.
#[derive(Clone, Copy, Debug)]
struct MixedEdge {
    conv1: ConvBn,
    conv3: ConvBn,
}

#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant)] // built once per supernet
enum Block {
    Cell([MixedEdge; EDGES]),
    Reduction(ResidualReduce),
}

/// The NAS-Bench-201 supernet: network weights and α in separate stores.
pub struct Nb201Supernet {
    /// Network weights and batch-norm statistics.
    pub weights: ParamStore,
    /// α: one parameter of 5 per edge.
    pub alpha: ParamStore,
    /// Indices in `weights` of the search cells' fixed BN scales and
    /// shifts (1 and 0; `affine=False`), which no optimiser steps.
    frozen: Vec<usize>,
    stem: ConvBn,
    blocks: Vec<Block>,
    head_bn: BatchNorm,
    fc: (usize, usize),
    classes: usize,
}

impl Nb201Supernet {
    /// A supernet of `shape`, every weight and α drawn from `seed`.
    pub fn new(shape: SupernetShape, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut weights = ParamStore::new(Cpu::default());
        let mut frozen = Vec::new();
        let c = shape.channels;
        let stem = weights.conv_bn("stem", Conv::new(shape.in_channels, c, 3, 1), false, &mut rng);
        let mut blocks = Vec::new();
        let mut ch = c;
        for stage in 0..3 {
            if stage > 0 {
                let name = format!("reduce{stage}");
                let out = ch * 2;
                blocks.push(Block::Reduction(weights.residual_reduce(&name, ch, out, &mut rng)));
                ch = out;
            }
            for i in 0..shape.cells {
                let edges = std::array::from_fn(|e| {
                    let name = format!("stage{stage}.cell{i}.edge{e}");
                    let conv1 = weights.conv_bn(&format!("{name}.conv1x1"), Conv::new(ch, ch, 1, 1), true, &mut rng);
                    let conv3 = weights.conv_bn(&format!("{name}.conv3x3"), Conv::new(ch, ch, 3, 1), true, &mut rng);
                    // Their BN's scale and shift stay 1 and 0 (`affine=False`).
                    frozen.extend(conv1.param_indices()[1..].iter().chain(&conv3.param_indices()[1..]));
                    MixedEdge { conv1, conv3 }
                });
                blocks.push(Block::Cell(edges));
            }
        }
        let head_bn = weights.batch_norm("head.bn", ch);
        let bound = 1.0 / (ch as f32).sqrt();
        let fc = (weights.uniform("fc.weight", &[shape.classes, ch], bound, &mut rng), weights.uniform("fc.bias", &[shape.classes], bound, &mut rng));
        let mut alpha = ParamStore::new(Cpu::default());
        let mut arng = ChaCha8Rng::seed_from_u64(nasforge_core::derive_seed(seed, "alpha"));
        for e in 0..EDGES {
            let idx = alpha.constant(&format!("alpha.edge{e}"), &[Op::ALL.len()], 0.0);
            let v: Vec<f32> = (0..Op::ALL.len()).map(|_| 1e-3 * Distribution::<f32>::sample(&StandardNormal, &mut arng)).collect();
            alpha.params[idx] = alpha.device().tensor_from_vec(v, (Op::ALL.len(),));
        }
        Nb201Supernet { weights, alpha, frozen, stem, blocks, head_bn, fc, classes: shape.classes }
    }

    /// The indices of the weights an optimiser steps (all but the search
    /// cells' fixed BN scales and shifts).
    pub fn trainable(&self) -> Vec<usize> {
        (0..self.weights.params.len()).filter(|i| self.frozen.binary_search(i).is_err()).collect()
    }

    /// α's values, edge by edge, in the benchmark's operation order.
    pub fn alpha_values(&self) -> [[f32; 5]; EDGES] {
        std::array::from_fn(|e| {
            let v = self.alpha.params[e].as_vec();
            std::array::from_fn(|o| v[o])
        })
    }

    /// The cell of the largest α on each edge (the reference's
    /// `genotype()`, `none` included).
    pub fn derive(&self) -> Cell {
        let a = self.alpha_values();
        Cell {
            ops: std::array::from_fn(|e| {
                let best = (0..Op::ALL.len()).fold(0, |b, o| if a[e][o] > a[e][b] { o } else { b });
                Op::ALL[best]
            }),
        }
    }

    /// The logits of `x`: every mixed edge weighs its candidates by the
    /// softmax of its α row (DARTS). Gradients reach the weights and α.
    pub fn forward<T: Tape<f32, Cpu> + Merge<T>>(&mut self, x: T4<T>, train: bool) -> T2<T> {
        let alpha = self.alpha.params.clone();
        self.forward_with(x, train, &mut |e| EdgeChoice::All(alpha[e].clone().put_tape(T::default()).softmax::<Axis<0>>()))
    }

    /// The logits of `x` with each cell's edges as `choice(edge)` says
    /// (asked once per cell and edge: each cell's weights are their own
    /// tape branch, whose gradients add up under α's ids).
    pub fn forward_with<T: Tape<f32, Cpu> + Merge<T>>(&mut self, x: T4<T>, train: bool, choice: &mut dyn FnMut(usize) -> EdgeChoice<T>) -> T2<T> {
        let weights = &mut self.weights;
        let mut x = weights.apply_conv_bn(&self.stem, x, train);
        for block in &self.blocks {
            x = match block {
                Block::Cell(edges) => {
                    let choices: Vec<EdgeChoice<T>> = (0..EDGES).map(&mut *choice).collect();
                    cell_forward(weights, edges, choices, x, train)
                }
                Block::Reduction(r) => weights.apply_residual_reduce(r, x, train),
            };
        }
        let x = relu(weights.apply_batch_norm(&self.head_bn, x, train));
        linear(global_avg_pool(x), &weights.params[self.fc.0], &weights.params[self.fc.1], self.classes)
    }
}

/// One edge's candidate weights, on the tape.
pub type EdgeWeights<T> = Tensor<(usize,), f32, Cpu, T>;

/// What one edge of a cell computes; candidates are indices in the
/// space's operation order, `none` first (index 0) in every space here.
pub enum EdgeChoice<T: Tape<f32, Cpu>> {
    /// Every candidate, weighed (DARTS' mixed edge; DARTS-PT's edge with
    /// one candidate's weight zeroed).
    All(EdgeWeights<T>),
    /// Only candidate `k`, weighed through [`mix_one`] so that every
    /// weight gets a gradient (GDAS' straight-through sample).
    One(usize, EdgeWeights<T>),
    /// Only candidate `k`, unweighed (a sampled path of RSPS and SPOS, a
    /// discretised edge); `none` contributes nothing.
    Path(usize),
}

/// The index of `none` in every space's operation order.
pub const NONE: usize = 0;

impl<T: Tape<f32, Cpu>> EdgeChoice<T> {
    /// How many candidate inputs read the edge's input node.
    fn reads(&self) -> usize {
        match self {
            EdgeChoice::All(_) => 4,
            EdgeChoice::One(k, _) | EdgeChoice::Path(k) => usize::from(*k != NONE),
        }
    }
}

/// One search cell: node `j` sums the edges from every node before it, as
/// the reference's `SearchCell`.
fn cell_forward<T: Tape<f32, Cpu> + Merge<T>>(store: &mut ParamStore, edges: &[MixedEdge; EDGES], choices: Vec<EdgeChoice<T>>, x: T4<T>, train: bool) -> T4<T> {
    let shape = *x.shape();
    let mut nodes: [Option<T4<T>>; 4] = [Some(x), None, None, None];
    // The last read of a node takes its tape; the others read a copy.
    let mut readers = [0usize; 4];
    for (e, &(from, _)) in EDGE_NODES.iter().enumerate() {
        readers[from] += choices[e].reads();
    }
    let mut dropped: Vec<T4<T>> = Vec::new();
    let mut choices: Vec<Option<EdgeChoice<T>>> = choices.into_iter().map(Some).collect();
    for to in 1..4 {
        if readers[to - 1] == 0 {
            dropped.extend(nodes[to - 1].take());
        }
        let mut terms = Vec::with_capacity(3);
        for (e, &(from, t)) in EDGE_NODES.iter().enumerate() {
            if t != to {
                continue;
            }
            let mut read = || {
                readers[from] -= 1;
                if readers[from] == 0 {
                    nodes[from].take().expect("a node is computed before it is read")
                } else {
                    nodes[from].as_ref().expect("a node is computed before it is read").with_empty_tape()
                }
            };
            let mut candidate = |op: Op, input: T4<T>| -> T4<T> {
                match op {
                    Op::SkipConnect => input,
                    Op::AvgPool3x3 => avg_pool2d(input, Pool { kernel: 3, stride: 1, padding: 1 }),
                    Op::NorConv1x1 => store.apply_conv_bn(&edges[e].conv1, input, train),
                    Op::NorConv3x3 => store.apply_conv_bn(&edges[e].conv3, input, train),
                    Op::None => unreachable!("`none` computes nothing"),
                }
            };
            match choices[e].take().expect("one choice per edge") {
                EdgeChoice::All(w) => {
                    let skip = read();
                    let pool = candidate(Op::AvgPool3x3, read());
                    let conv1 = candidate(Op::NorConv1x1, read());
                    let conv3 = candidate(Op::NorConv3x3, read());
                    // Candidate indices in the benchmark's order; `none` has no term.
                    terms.push(mix(vec![(Op::SkipConnect as usize, skip), (Op::NorConv1x1 as usize, conv1), (Op::NorConv3x3 as usize, conv3), (Op::AvgPool3x3 as usize, pool)], w));
                }
                EdgeChoice::One(k, w) => {
                    let y = (k != NONE).then(|| candidate(Op::ALL[k], read()));
                    terms.push(mix_one(k, y, shape, w));
                }
                EdgeChoice::Path(NONE) => {}
                EdgeChoice::Path(k) => terms.push(candidate(Op::ALL[k], read())),
            }
        }
        nodes[to] = Some(if terms.is_empty() { Cpu::default().zeros_like(&shape).put_tape(T::default()) } else { sum_all(terms) });
    }
    let mut out = nodes[3].take().expect("node 3 is computed");
    // A node nothing reads still holds the backward ops of what computed
    // it (and of what came before it).
    for d in dropped {
        out = reattach(out, d.split_tape().1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    type Labels = Tensor<(usize, usize), f32, Cpu>;

    fn tiny() -> (Nb201Supernet, T4<NoneTape>, Labels) {
        let net = Nb201Supernet::new(SupernetShape { channels: 4, cells: 1, in_channels: 1, classes: 3 }, 5);
        let dev = Cpu::default();
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let x: Vec<f32> = (0..4 * 8 * 8).map(|_| StandardNormal.sample(&mut rng)).collect();
        let y: Vec<f32> = (0..4).flat_map(|i| (0..3).map(move |c| if c == i % 3 { 1.0 } else { 0.0 })).collect();
        (net, dev.tensor_from_vec(x, (4, 1, 8, 8)), dev.tensor_from_vec(y, (4, 3)))
    }

    fn loss(net: &mut Nb201Supernet, x: &T4<NoneTape>, y: &Labels) -> f64 {
        f64::from(cross_entropy_with_logits_loss(net.forward(x.clone(), true), y.clone()).array())
    }

    #[test]
    fn alpha_gradients_through_every_mixed_edge_match_finite_differences() {
        let (mut net, x, y) = tiny();
        // Away from uniform, so every candidate's weight differs.
        for e in 0..EDGES {
            let v: Vec<f32> = (0..5).map(|o| 0.3 * ((e * 5 + o) % 7) as f32 - 0.9).collect();
            net.alpha.params[e] = net.alpha.device().tensor_from_vec(v, (5,));
        }
        let logits = net.forward(x.leaky_trace(), true);
        let grads = cross_entropy_with_logits_loss(logits, y.clone()).backward();
        let analytic: Vec<Vec<f32>> = (0..EDGES).map(|e| grads.get(&net.alpha.params[e]).as_vec()).collect();
        // Small: the loss has ReLU kinks, which a wide difference crosses.
        let eps = 2e-3f32;
        let (mut num, mut den) = (0.0f64, 0.0f64);
        for (e, row) in analytic.iter().enumerate() {
            for (o, &g) in row.iter().enumerate() {
                let at = |d: f32, net: &mut Nb201Supernet| {
                    let mut v = net.alpha.params[e].as_vec();
                    v[o] += d;
                    net.alpha.params[e] = net.alpha.device().tensor_from_vec(v, (5,));
                    let l = loss(net, &x, &y);
                    let mut v = net.alpha.params[e].as_vec();
                    v[o] -= d;
                    net.alpha.params[e] = net.alpha.device().tensor_from_vec(v, (5,));
                    l
                };
                let fd = (at(eps, &mut net) - at(-eps, &mut net)) / f64::from(2.0 * eps);
                num += (f64::from(g) - fd).powi(2);
                den += fd.powi(2);
            }
            // Softmax weights sum to one, so each row's gradient sums to 0.
            assert!(row.iter().sum::<f32>().abs() < 1e-5, "{row:?}");
        }
        let rel = (num / den).sqrt();
        assert!(den > 0.0 && rel < 2e-2, "relative error {rel}");
    }

    #[test]
    fn the_derived_cell_takes_each_edges_largest_alpha_and_the_seed_fixes_everything() {
        let (mut net, x, _) = tiny();
        for (e, op) in [Op::NorConv3x3, Op::SkipConnect, Op::None, Op::AvgPool3x3, Op::NorConv1x1, Op::NorConv3x3].into_iter().enumerate() {
            let mut v = vec![0.0f32; 5];
            v[op as usize] = 1.0;
            net.alpha.params[e] = net.alpha.device().tensor_from_vec(v, (5,));
        }
        assert_eq!(format_cell(&net.derive()), "|nor_conv_3x3~0|+|skip_connect~0|none~1|+|avg_pool_3x3~0|nor_conv_1x1~1|nor_conv_3x3~2|");
        let (mut a, _, _) = tiny();
        let (mut b, _, _) = tiny();
        assert_eq!(a.alpha_values(), b.alpha_values());
        assert_eq!(a.forward(x.clone(), false).as_vec(), b.forward(x, false).as_vec());
        // The search cells' BN has no trainable scale or shift.
        assert_eq!(a.weights.params.len() - a.trainable().len(), 3 * 6 * 2 * 2);
    }

    fn format_cell(cell: &Cell) -> String {
        use nasforge_core::SearchSpace;
        nasforge_space_nb201::Nb201Space.format(cell)
    }
}
