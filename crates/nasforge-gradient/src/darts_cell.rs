//! DARTS' search network (`Network` of Liu et al.'s `model_search.py`):
//! a 3×3 stem conv to 3C channels and BN; `layers` search cells, the ones
//! at `layers/3` and `2·layers/3` reductions (channels doubled, edges from
//! the cell inputs at stride 2); each cell preprocesses its two inputs
//! (ReLU-conv1×1-BN, or a factorized reduction after a reduction cell),
//! node `i` sums a mixed edge from each of the `2 + i` states before it
//! (14 edges), and the cell outputs its four nodes concatenated. Every
//! mixed edge holds the eight DARTS operations (`none`, max and average
//! pooling each followed by BN, skip or a factorized reduction at stride
//! 2, separable and dilated 3×3 and 5×5 convolutions); every BN inside
//! the cells has no scale and shift (`affine=False`, kept fixed). α is
//! two 14 × 8 blocks, normal then reduction (rows 0–13 and 14–27),
//! initialised as 1e-3 · N(0, 1). The derived genotype keeps, for each
//! node, the two incoming edges of the strongest non-`none` softmax
//! weight, each with its strongest non-`none` operation (`_parse` of the
//! reference's `genotype()`).

use nasforge_engine::blocks::{Chain, FactorizedReduce, concat_nodes, detach, reattach};
use nasforge_engine::dfdx::prelude::*;
use nasforge_engine::ops::{Conv, Pool, T2, T4, avg_pool2d, global_avg_pool, linear, max_pool2d, mix, mix_one, sum_all};
use nasforge_engine::params::{BatchNorm, ParamStore};
use nasforge_space_darts::{CellGenes, Edge, Genotype, NODES, Op};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::nb201::EdgeChoice;

/// Mixed edges per cell: node `i` has `2 + i` inputs.
pub const EDGES: usize = 14;
/// Candidate operations per edge.
pub const OPS: usize = 8;

/// The search network's size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DartsShape {
    /// Initial channels C (16 in DARTS' search).
    pub channels: usize,
    /// Cells (8 in DARTS' search).
    pub layers: usize,
    /// Input channels.
    pub in_channels: usize,
    /// Classes.
    pub classes: usize,
    /// sharpDARTS' SharpSepConv for the dilated candidates (its `OPS`
    /// table, `dil_conv_k` = `SharpSepConv(k, dilation 2)`): the dilated
    /// depthwise-pointwise-BN block followed by an undilated one, as the
    /// separable candidates are. The separable candidates are
    /// SharpSepConv already (at `C_mid = C_out` it is DARTS' `SepConv`).
    pub sharp_sep_conv: bool,
}

/// One mixed edge's parameterised candidates.
#[derive(Clone, Debug)]
struct MixedEdge {
    stride: usize,
    max_bn: BatchNorm,
    avg_bn: BatchNorm,
    /// The skip at stride 2.
    reduce: Option<FactorizedReduce>,
    sep3: [Chain; 2],
    sep5: [Chain; 2],
    /// DARTS' `DilConv`: one block; SharpSepConv: two.
    dil3: Vec<Chain>,
    dil5: Vec<Chain>,
}

#[derive(Clone, Debug)]
enum Preprocess {
    Chain(Chain),
    Reduce(FactorizedReduce),
}

#[derive(Clone, Debug)]
struct SearchCell {
    reduction: bool,
    pre0: Preprocess,
    pre1: Chain,
    edges: Vec<MixedEdge>,
}

/// DARTS' supernet: network weights and α in separate stores.
pub struct DartsSupernet {
    /// Network weights and batch-norm statistics.
    pub weights: ParamStore,
    /// α: 28 rows of 8 (normal cell's edges, then the reduction cell's).
    pub alpha: ParamStore,
    frozen: Vec<usize>,
    stem: Chain,
    cells: Vec<SearchCell>,
    fc: (usize, usize),
    classes: usize,
}

impl DartsSupernet {
    /// A supernet of `shape`, every weight and α drawn from `seed`.
    pub fn new(shape: DartsShape, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut w = ParamStore::new(Cpu::default());
        let mut frozen = Vec::new();
        let c = shape.channels;
        let stem_conv = w.conv_w("stem.conv", Conv::new(shape.in_channels, 3 * c, 3, 1), &mut rng);
        let stem = Chain { convs: vec![(stem_conv, false)], bn: w.batch_norm("stem.bn", 3 * c) };
        let (mut c_pp, mut c_p, mut c_cur) = (3 * c, 3 * c, c);
        let mut reduction_prev = false;
        let mut cells = Vec::with_capacity(shape.layers);
        for i in 0..shape.layers {
            let reduction = i == shape.layers / 3 || i == 2 * shape.layers / 3;
            if reduction {
                c_cur *= 2;
            }
            let name = format!("cell{i}");
            let pre0 = if reduction_prev {
                let f = w.factorized_reduce(&format!("{name}.pre0"), c_pp, c_cur, &mut rng);
                frozen.extend(f.affine_indices());
                Preprocess::Reduce(f)
            } else {
                let ch = w.relu_conv1x1_bn(&format!("{name}.pre0"), c_pp, c_cur, &mut rng);
                frozen.extend(ch.affine_indices());
                Preprocess::Chain(ch)
            };
            let pre1 = w.relu_conv1x1_bn(&format!("{name}.pre1"), c_p, c_cur, &mut rng);
            frozen.extend(pre1.affine_indices());
            let mut edges = Vec::with_capacity(EDGES);
            for node in 0..NODES {
                for input in 0..2 + node {
                    let stride = if reduction && input < 2 { 2 } else { 1 };
                    let en = format!("{name}.edge{}", edges.len());
                    let max_bn = w.batch_norm(&format!("{en}.max_pool.bn"), c_cur);
                    let avg_bn = w.batch_norm(&format!("{en}.avg_pool.bn"), c_cur);
                    let reduce = (stride == 2).then(|| w.factorized_reduce(&format!("{en}.skip"), c_cur, c_cur, &mut rng));
                    let sep = |w: &mut ParamStore, k: usize, rng: &mut ChaCha8Rng| {
                        [w.dw_pw(&format!("{en}.sep{k}.1"), c_cur, c_cur, (k, stride, 1), rng), w.dw_pw(&format!("{en}.sep{k}.2"), c_cur, c_cur, (k, 1, 1), rng)]
                    };
                    let sep3 = sep(&mut w, 3, &mut rng);
                    let sep5 = sep(&mut w, 5, &mut rng);
                    let dil = |w: &mut ParamStore, k: usize, rng: &mut ChaCha8Rng| {
                        if shape.sharp_sep_conv {
                            vec![w.dw_pw(&format!("{en}.dil{k}.1"), c_cur, c_cur, (k, stride, 2), rng), w.dw_pw(&format!("{en}.dil{k}.2"), c_cur, c_cur, (k, 1, 1), rng)]
                        } else {
                            vec![w.dw_pw(&format!("{en}.dil{k}"), c_cur, c_cur, (k, stride, 2), rng)]
                        }
                    };
                    let dil3 = dil(&mut w, 3, &mut rng);
                    let dil5 = dil(&mut w, 5, &mut rng);
                    frozen.extend(max_bn.affine_indices().into_iter().chain(avg_bn.affine_indices()));
                    frozen.extend(reduce.iter().flat_map(FactorizedReduce::affine_indices));
                    frozen.extend(sep3.iter().chain(&sep5).chain(&dil3).chain(&dil5).flat_map(Chain::affine_indices));
                    edges.push(MixedEdge { stride, max_bn, avg_bn, reduce, sep3, sep5, dil3, dil5 });
                }
            }
            cells.push(SearchCell { reduction, pre0, pre1, edges });
            (c_pp, c_p, reduction_prev) = (c_p, NODES * c_cur, reduction);
        }
        let bound = 1.0 / (c_p as f32).sqrt();
        let fc = (w.uniform("fc.weight", &[shape.classes, c_p], bound, &mut rng), w.uniform("fc.bias", &[shape.classes], bound, &mut rng));
        let mut alpha = ParamStore::new(Cpu::default());
        let mut arng = ChaCha8Rng::seed_from_u64(nasforge_core::derive_seed(seed, "alpha"));
        for kind in ["normal", "reduce"] {
            for e in 0..EDGES {
                let idx = alpha.constant(&format!("alpha.{kind}.edge{e}"), &[OPS], 0.0);
                let v: Vec<f32> = (0..OPS).map(|_| 1e-3 * Distribution::<f32>::sample(&StandardNormal, &mut arng)).collect();
                alpha.params[idx] = alpha.device().tensor_from_vec(v, (OPS,));
            }
        }
        frozen.sort_unstable();
        DartsSupernet { weights: w, alpha, frozen, stem, cells, fc, classes: shape.classes }
    }

    /// The indices of the weights an optimiser steps (all but the cells'
    /// fixed BN scales and shifts).
    pub fn trainable(&self) -> Vec<usize> {
        (0..self.weights.params.len()).filter(|i| self.frozen.binary_search(i).is_err()).collect()
    }

    /// The genotype DARTS derives from α.
    pub fn derive(&self) -> Genotype {
        let cell = |base: usize| -> CellGenes {
            let w: Vec<Vec<f32>> = (0..EDGES).map(|e| softmax(&self.alpha.params[base + e].as_vec())).collect();
            let mut edges = [Edge { op: Op::None, input: 0 }; 2 * NODES];
            let mut start = 0;
            for node in 0..NODES {
                let n = 2 + node;
                let strongest = |e: usize| (1..OPS).fold(1, |b, k| if w[e][k] > w[e][b] { k } else { b });
                let mut inputs: Vec<usize> = (0..n).collect();
                // Stable: ties keep the earlier input, as Python's `sorted`.
                inputs.sort_by(|&a, &b| w[start + b][strongest(start + b)].total_cmp(&w[start + a][strongest(start + a)]));
                for (k, &j) in inputs[..2].iter().enumerate() {
                    edges[2 * node + k] = Edge { op: Op::ALL[strongest(start + j)], input: j as u8 };
                }
                start += n;
            }
            CellGenes { edges }
        };
        Genotype { normal: cell(0), reduce: cell(EDGES) }
    }

    /// The logits of `x` with each cell's edges as `choice(row)` says, `row`
    /// the edge's α row (0–13 in normal cells, 14–27 in reduction cells).
    pub fn forward_with<T: Tape<f32, Cpu> + Merge<T>>(&mut self, x: T4<T>, train: bool, choice: &mut dyn FnMut(usize) -> EdgeChoice<T>) -> T2<T> {
        let store = &mut self.weights;
        let mut sink = T::default();
        let stem = detach(store.apply_chain(&self.stem, x, train), &mut sink);
        let (mut s0, mut s1) = (stem.clone(), stem);
        for cell in &self.cells {
            let p0 = match &cell.pre0 {
                Preprocess::Chain(c) => store.apply_chain(c, s0.retaped::<T>(), train),
                Preprocess::Reduce(f) => store.apply_factorized_reduce(f, s0.retaped::<T>(), train, &mut sink),
            };
            let p1 = store.apply_chain(&cell.pre1, s1.retaped::<T>(), train);
            let mut states = vec![detach(p0, &mut sink), detach(p1, &mut sink)];
            let base = if cell.reduction { EDGES } else { 0 };
            let mut e = 0;
            for node in 0..NODES {
                let mut terms = Vec::with_capacity(2 + node);
                for state in &states[..2 + node] {
                    let edge = &cell.edges[e];
                    if let Some(t) = edge_forward(store, edge, state, choice(base + e), train, &mut sink) {
                        terms.push(t);
                    }
                    e += 1;
                }
                let node_out = if terms.is_empty() {
                    let (n, c, h, w) = *states[0].shape();
                    let s = if cell.reduction { 2 } else { 1 };
                    Cpu::default().zeros_like(&(n, c, (h - 1) / s + 1, (w - 1) / s + 1)).put_tape(T::default())
                } else {
                    sum_all(terms)
                };
                states.push(detach(node_out, &mut sink));
            }
            (s0, s1) = (s1, detach(concat_nodes::<T>(&states[2..]), &mut sink));
        }
        let pooled = global_avg_pool(s1.retaped::<T>());
        reattach(linear(pooled, &store.params[self.fc.0], &store.params[self.fc.1], self.classes), sink)
    }
}

fn softmax(v: &[f32]) -> Vec<f32> {
    let max = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f32> = v.iter().map(|x| (x - max).exp()).collect();
    let z: f32 = e.iter().sum();
    e.into_iter().map(|x| x / z).collect()
}

/// Candidate `k` (DARTS' `PRIMITIVES` order, 1..8) of `edge` on `x`.
fn candidate<T: Tape<f32, Cpu> + Merge<T>>(store: &mut ParamStore, edge: &MixedEdge, k: usize, x: T4<T>, train: bool, sink: &mut T) -> T4<T> {
    let pool = Pool { kernel: 3, stride: edge.stride, padding: 1 };
    match Op::ALL[k] {
        Op::MaxPool3x3 => store.apply_batch_norm(&edge.max_bn, max_pool2d(x, pool), train),
        Op::AvgPool3x3 => store.apply_batch_norm(&edge.avg_bn, avg_pool2d(x, pool), train),
        Op::SkipConnect => match &edge.reduce {
            Some(f) => store.apply_factorized_reduce(f, x, train, sink),
            None => x,
        },
        Op::SepConv3x3 => edge.sep3.iter().fold(x, |x, c| store.apply_chain(c, x, train)),
        Op::SepConv5x5 => edge.sep5.iter().fold(x, |x, c| store.apply_chain(c, x, train)),
        Op::DilConv3x3 => edge.dil3.iter().fold(x, |x, c| store.apply_chain(c, x, train)),
        Op::DilConv5x5 => edge.dil5.iter().fold(x, |x, c| store.apply_chain(c, x, train)),
        Op::None => unreachable!("`none` computes nothing"),
    }
}

/// One edge's output on state `x`; `None` when it contributes nothing.
fn edge_forward<T: Tape<f32, Cpu> + Merge<T>>(
    store: &mut ParamStore,
    edge: &MixedEdge,
    x: &Tensor<(usize, usize, usize, usize), f32, Cpu>,
    choice: EdgeChoice<T>,
    train: bool,
    sink: &mut T,
) -> Option<T4<T>> {
    let (n, c, h, w) = *x.shape();
    let s = edge.stride;
    let shape = (n, c, (h - 1) / s + 1, (w - 1) / s + 1);
    match choice {
        EdgeChoice::All(weights) => {
            let terms = (1..OPS).map(|k| (k, candidate(store, edge, k, x.retaped::<T>(), train, sink))).collect();
            Some(mix(terms, weights))
        }
        EdgeChoice::One(0, weights) => Some(mix_one(0, None, shape, weights)),
        EdgeChoice::One(k, weights) => {
            let y = candidate(store, edge, k, x.retaped::<T>(), train, sink);
            Some(mix_one(k, Some(y), shape, weights))
        }
        EdgeChoice::Path(0) => None,
        EdgeChoice::Path(k) => Some(candidate(store, edge, k, x.retaped::<T>(), train, sink)),
    }
}

#[cfg(test)]
mod tests {
    use nasforge_core::SearchSpace;
    use nasforge_space_darts::DartsSpace;

    use super::*;
    use crate::train::soft;

    type Labels = Tensor<(usize, usize), f32, Cpu>;

    fn tiny() -> (DartsSupernet, T4<NoneTape>, Labels) {
        tiny_with(false)
    }

    fn tiny_with(sharp_sep_conv: bool) -> (DartsSupernet, T4<NoneTape>, Labels) {
        // Three cells: normal, then both reductions (at 1 and 2).
        let net = DartsSupernet::new(DartsShape { channels: 2, layers: 3, in_channels: 1, classes: 3, sharp_sep_conv }, 5);
        let dev = Cpu::default();
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let x: Vec<f32> = (0..4 * 8 * 8).map(|_| StandardNormal.sample(&mut rng)).collect();
        let y: Vec<f32> = (0..4).flat_map(|i| (0..3).map(move |c| if c == i % 3 { 1.0 } else { 0.0 })).collect();
        (net, dev.tensor_from_vec(x, (4, 1, 8, 8)), dev.tensor_from_vec(y, (4, 3)))
    }

    /// The summed squared logits: smooth in the logits and large enough
    /// that f32 rounding stays well below the differences measured.
    fn loss(net: &mut DartsSupernet, x: &T4<NoneTape>, _y: &Labels) -> f64 {
        let alpha = net.alpha.params.clone();
        let total: Tensor<(), f32, Cpu> = net.forward_with(x.clone(), true, &mut soft(&alpha)).square().sum();
        f64::from(total.array())
    }

    #[test]
    fn alpha_gradients_through_every_mixed_edge_match_finite_differences() {
        alpha_gradients_match_finite_differences(false);
    }

    #[test]
    fn alpha_gradients_with_sharp_sep_convs_match_finite_differences() {
        alpha_gradients_match_finite_differences(true);
    }

    #[test]
    fn sharp_sep_conv_adds_an_undilated_block_to_each_dilated_candidate() {
        let count = |net: &DartsSupernet| net.weights.params.iter().map(|p| p.shape().0).sum::<usize>();
        let (plain, sharp) = (tiny_with(false).0, tiny_with(true).0);
        // Cells at C = 2, 4, 8 (the reductions double it); per edge, each
        // dilated candidate gains a depthwise k×k and a pointwise c×c conv
        // and a BN (whose scale and shift are stored, and kept fixed).
        let extra: usize = [2usize, 4, 8].iter().map(|&c| EDGES * (c * 9 + c * c + 2 * c + c * 25 + c * c + 2 * c)).sum();
        assert_eq!(count(&sharp), count(&plain) + extra);
    }

    fn alpha_gradients_match_finite_differences(sharp_sep_conv: bool) {
        let (mut net, x, y) = tiny_with(sharp_sep_conv);
        for r in 0..2 * EDGES {
            let v: Vec<f32> = (0..OPS).map(|o| 0.3 * ((r * OPS + o) % 7) as f32 - 0.9).collect();
            net.alpha.params[r] = net.alpha.device().tensor_from_vec(v, (OPS,));
        }
        let alpha = net.alpha.params.clone();
        let logits = net.forward_with(x.leaky_trace(), true, &mut soft(&alpha));
        let total: Tensor<(), f32, Cpu, _> = logits.square().sum();
        let grads = total.backward();
        let analytic: Vec<Vec<f32>> = alpha.iter().map(|a| grads.get(a).as_vec()).collect();
        let eps = 2e-3f32;
        let (mut num, mut den) = (0.0f64, 0.0f64);
        for (r, row) in analytic.iter().enumerate() {
            // Every row, both cell kinds: some operation of each gets a gradient.
            assert!(row.iter().any(|g| g.abs() > 0.0), "row {r}: {row:?}");
            for (o, &g) in row.iter().enumerate() {
                let mut at = |d: f32| {
                    let mut v = net.alpha.params[r].as_vec();
                    v[o] += d;
                    net.alpha.params[r] = net.alpha.device().tensor_from_vec(v, (OPS,));
                    let l = loss(&mut net, &x, &y);
                    let mut v = net.alpha.params[r].as_vec();
                    v[o] -= d;
                    net.alpha.params[r] = net.alpha.device().tensor_from_vec(v, (OPS,));
                    l
                };
                let fd = (at(eps) - at(-eps)) / f64::from(2.0 * eps);
                num += (f64::from(g) - fd).powi(2);
                den += fd.powi(2);
            }
        }
        let rel = (num / den).sqrt();
        assert!(den > 0.0 && rel < 2e-2, "relative error {rel}");
    }

    #[test]
    fn the_genotype_keeps_each_nodes_two_strongest_edges_without_none() {
        let (mut net, _, _) = tiny();
        // Normal cell: `none` strongest everywhere, else sep_conv_3x3, and
        // node k's edges from inputs k and k+1 stronger than the others.
        for r in 0..2 * EDGES {
            let mut v = vec![0.0f32; OPS];
            v[0] = 5.0;
            v[if r < EDGES { 4 } else { 1 }] = 1.0;
            net.alpha.params[r] = net.alpha.device().tensor_from_vec(v, (OPS,));
        }
        let mut start = 0;
        for node in 0..NODES {
            for input in 0..2 + node {
                if input == node || input == node + 1 {
                    let mut v = net.alpha.params[start + input].as_vec();
                    v[4] = 2.0;
                    net.alpha.params[start + input] = net.alpha.device().tensor_from_vec(v, (OPS,));
                }
            }
            start += 2 + node;
        }
        let g = net.derive();
        let text = DartsSpace.format(&g);
        assert!(text.starts_with("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('sep_conv_3x3', 2), ('sep_conv_3x3', 2), ('sep_conv_3x3', 3), ('sep_conv_3x3', 3), ('sep_conv_3x3', 4)]"), "{text}");
        // Reduction cell: all ties, so each node's first two inputs, max pooling.
        assert!(g.reduce.edges.iter().all(|e| e.op == Op::MaxPool3x3), "{text}");
        assert_eq!(g.reduce.edges.iter().map(|e| e.input).collect::<Vec<_>>(), vec![0, 1, 0, 1, 0, 1, 0, 1]);
        // Cells' BN scales and shifts are fixed; the stem's are not.
        let frozen = net.weights.params.len() - net.trainable().len();
        assert!(frozen > 0 && net.trainable().contains(&1), "{frozen}");
    }
}
