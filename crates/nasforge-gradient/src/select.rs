//! Choosing a cell from a trained supernet, and scoring cells on it:
//! RSPS' sampled candidates, SPOS' evolutionary search, DARTS-PT's
//! perturbation-based projection, and the ranking sample that measures
//! how well the supernet orders cells.

use nasforge_core::derive_seed;
use nasforge_engine::dfdx::prelude::*;
use nasforge_engine::ops::Param;
use nasforge_space_darts::{Genotype, Op as DartsOp};
use nasforge_space_nb201::{Cell, EDGES, Nb201Space, Op};
use nasforge_core::SearchSpace;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use crate::config::{EvolutionConfig, PerturbationConfig};
use crate::data::{Batch, SearchData};
use crate::nb201::{EdgeChoice, Nb201Supernet};
use crate::supernet::Supernet;
use crate::train::{Meter, Training, path, score_batch};

/// Training of the NAS-Bench-201 supernet, which every selection here works on.
type Nb201Training = Training<Nb201Supernet>;

/// The supernet's accuracy (%) for `arch`'s path over `batches`, batch
/// norm in `train` mode or on the running statistics.
fn path_accuracy<N: Supernet>(net: &mut N, arch: &N::Arch, batches: &[Batch], train: bool) -> f64 {
    let mut m = Meter::default();
    for b in batches {
        m.add(score_batch(net, b, train, &mut path(N::path_of(arch))));
    }
    m.mean().1
}

/// `n` distinct uniform cells.
fn distinct_cells(n: usize, rng: &mut impl Rng) -> Vec<Cell> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(n);
    while out.len() < n.min(nasforge_space_nb201::SIZE) {
        let c = Cell::from_code(rng.random_range(0..nasforge_space_nb201::SIZE));
        if seen.insert(c.code()) {
            out.push(c);
        }
    }
    out
}

/// The ranking sample's log row: `n` distinct uniform cells and the
/// supernet's accuracy for each on the same `batches` of α's half (batch
/// statistics: each path's own, as SPOS' recalibration gives it).
pub fn ranking(net: &mut Nb201Supernet, data: &SearchData, n: usize, nbatches: usize, seed: u64) -> Value {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let cells = distinct_cells(n, &mut rng);
    let bs = data.alpha_batch_set(nbatches, derive_seed(seed, "batches"));
    let acc: Vec<f64> = cells.iter().map(|c| path_accuracy(net, c, &bs, true)).collect();
    json!({ "phase": "ranking", "cells": cells.iter().map(|c| Nb201Space.format(c)).collect::<Vec<_>>(), "supernet_acc": acc })
}

/// RSPS' selection: `candidates` uniform architectures, the i-th scored
/// on the i-th batch of α's half (one batch each, as `search_find_best`
/// draws them from the loader) in evaluation mode (the running
/// statistics, as the reference's `network.eval()`), the most accurate
/// chosen. The reference's batches are 512 images; these are the search's
/// batch size.
pub fn sampled<N: Supernet>(net: &mut N, data: &SearchData, candidates: usize, seed: u64) -> (N::Arch, Value) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let archs: Vec<N::Arch> = (0..candidates).map(|_| N::random_arch(&mut rng)).collect();
    let bs = data.alpha_batch_set(candidates, derive_seed(seed, "batches"));
    let acc: Vec<f64> = archs.iter().zip(&bs).map(|(a, b)| path_accuracy(net, a, std::slice::from_ref(b), false)).collect();
    let best = (0..archs.len()).fold(0, |b, i| if acc[i] > acc[b] { i } else { b });
    let row = json!({
        "phase": "selected", "by": "sampled", "cell": N::format(&archs[best]),
        "candidates": archs.iter().map(N::format).collect::<Vec<_>>(), "supernet_acc": acc,
    });
    (archs[best], row)
}

/// What SPOS' evolution draws and breeds on a supernet's architectures.
pub trait Evolve: Supernet {
    /// A uniform architecture (the first population's and the fill's).
    fn uniform(rng: &mut ChaCha8Rng) -> Self::Arch;
    /// `parent` with each choice redrawn with probability `p`.
    fn mutate(parent: &Self::Arch, p: f64, rng: &mut ChaCha8Rng) -> Self::Arch;
    /// A uniform crossover of `a` and `b`.
    fn crossover(a: &Self::Arch, b: &Self::Arch, rng: &mut ChaCha8Rng) -> Self::Arch;
}

impl Evolve for Nb201Supernet {
    fn uniform(rng: &mut ChaCha8Rng) -> Cell {
        Cell::from_code(rng.random_range(0..nasforge_space_nb201::SIZE))
    }
    /// The reference's: each edge redrawn with `p`.
    fn mutate(parent: &Cell, p: f64, rng: &mut ChaCha8Rng) -> Cell {
        Cell { ops: std::array::from_fn(|k| if rng.random_bool(p) { Op::ALL[rng.random_range(0..5)] } else { parent.ops[k] }) }
    }
    /// The reference's: each edge from either parent.
    fn crossover(a: &Cell, b: &Cell, rng: &mut ChaCha8Rng) -> Cell {
        Cell { ops: std::array::from_fn(|k| if rng.random_bool(0.5) { a.ops[k] } else { b.ops[k] }) }
    }
}

impl Evolve for crate::darts_cell::DartsSupernet {
    fn uniform(rng: &mut ChaCha8Rng) -> Genotype {
        Self::random_arch(rng)
    }
    /// Each edge's operation (never `none`) and each edge's input (never
    /// its sibling's) redrawn with `p`: SPOS' per-choice mutation on this
    /// space's choices (our reading; SPOS searched its own space).
    fn mutate(parent: &Genotype, p: f64, rng: &mut ChaCha8Rng) -> Genotype {
        let mut g = *parent;
        for cell in [&mut g.normal, &mut g.reduce] {
            for k in 0..2 * nasforge_space_darts::NODES {
                let node = k / 2;
                if rng.random_bool(p) {
                    cell.edges[k].op = DartsOp::ALL[rng.random_range(1..DartsOp::ALL.len())];
                }
                if rng.random_bool(p) {
                    let sibling = cell.edges[k ^ 1].input;
                    let n = node as u8 + 2;
                    // Uniform over the n − 1 states the sibling does not read.
                    let pick = rng.random_range(0..n - 1);
                    cell.edges[k].input = if pick >= sibling { pick + 1 } else { pick };
                }
            }
        }
        g
    }
    /// Each node of each cell kind from either parent, both its edges
    /// together (so the child's nodes keep two distinct inputs).
    fn crossover(a: &Genotype, b: &Genotype, rng: &mut ChaCha8Rng) -> Genotype {
        let mut g = *a;
        for (cell, other) in [(&mut g.normal, &b.normal), (&mut g.reduce, &b.reduce)] {
            for node in 0..nasforge_space_darts::NODES {
                if rng.random_bool(0.5) {
                    cell.edges[2 * node] = other.edges[2 * node];
                    cell.edges[2 * node + 1] = other.edges[2 * node + 1];
                }
            }
        }
        g
    }
}

/// SPOS' evolutionary search on supernet accuracy (the reference's
/// `search.py`): a random population; each generation keeps the
/// `parents` best architectures seen, breeds `population / 2` children by
/// mutation (a random parent, each choice redrawn with `mutation_prob`)
/// and `population / 2` by uniform crossover of two parents, and fills up
/// with random ones; an architecture is scored once. SPOS recalibrates
/// batch norm for each candidate on 200 training batches; here each
/// candidate is scored with batch statistics, which is what that
/// recalibration converges to, on `score_batches` batches.
pub fn evolution<N: Evolve>(net: &mut N, data: &SearchData, e: &EvolutionConfig, seed: u64) -> (N::Arch, Value) {
    use std::collections::{HashMap, HashSet};
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let bs = data.alpha_batch_set(e.score_batches, derive_seed(seed, "batches"));
    let mut scored: HashMap<N::Arch, f64> = HashMap::new();
    let score = |net: &mut N, c: &N::Arch, scored: &mut HashMap<N::Arch, f64>| *scored.entry(*c).or_insert_with(|| path_accuracy(net, c, &bs, true));
    // Distinct: the first population never repeats an architecture (a
    // bounded number of draws, for a space smaller than the population).
    let mut population: Vec<N::Arch> = Vec::with_capacity(e.population);
    let mut drawn = HashSet::new();
    for _ in 0..1000 * e.population {
        if population.len() == e.population {
            break;
        }
        let c = N::uniform(&mut rng);
        if drawn.insert(c) {
            population.push(c);
        }
    }
    let mut top: Vec<(f64, N::Arch)> = Vec::new();
    let mut best_per_generation = Vec::with_capacity(e.generations);
    for _ in 0..e.generations {
        for c in &population {
            let s = score(net, c, &mut scored);
            if !top.iter().any(|(_, t)| t == c) {
                top.push((s, *c));
            }
        }
        // A stable sort: ties keep the earlier architecture, in the seed's order.
        top.sort_by(|a, b| b.0.total_cmp(&a.0));
        top.truncate(e.parents);
        best_per_generation.push(top[0].0);
        let mut next: Vec<N::Arch> = Vec::with_capacity(e.population);
        // The reference's `is_legal`: nothing is proposed twice.
        let seen: HashSet<N::Arch> = scored.keys().copied().collect();
        let breed = |next: &mut Vec<N::Arch>, n: usize, child: &mut dyn FnMut() -> N::Arch| {
            let (goal, mut tries) = (next.len() + n, 0);
            while next.len() < goal && tries < 10 * n {
                tries += 1;
                let c = child();
                if !next.contains(&c) && !seen.contains(&c) {
                    next.push(c);
                }
            }
        };
        let half = e.population / 2;
        let parents: Vec<N::Arch> = top.iter().map(|t| t.1).collect();
        let rng = &mut rng;
        {
            let mut mutate = || {
                let p = parents[rng.random_range(0..parents.len())];
                N::mutate(&p, e.mutation_prob, rng)
            };
            breed(&mut next, half, &mut mutate);
        }
        {
            let mut cross = || {
                let (a, b) = (parents[rng.random_range(0..parents.len())], parents[rng.random_range(0..parents.len())]);
                N::crossover(&a, &b, rng)
            };
            breed(&mut next, half, &mut cross);
        }
        let fill = e.population - next.len();
        breed(&mut next, fill, &mut || N::uniform(rng));
        population = next;
    }
    let (acc, arch) = top[0];
    let row = json!({
        "phase": "selected", "by": "evolution", "cell": N::format(&arch), "supernet_acc": acc,
        "best_per_generation": best_per_generation, "scored": scored.len(),
    });
    (arch, row)
}

/// DARTS-PT's decisions so far: the operation kept on each decided edge.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Projection {
    /// Per edge, the operation kept once decided.
    pub ops: [Option<Op>; EDGES],
}

impl Projection {
    /// The next undecided edge in `order`.
    pub fn next(&self, order: &[usize; EDGES]) -> Option<usize> {
        order.iter().copied().find(|&e| self.ops[e].is_none())
    }

    /// The cell, once every edge is decided.
    pub fn cell(&self) -> Option<Cell> {
        let ops: Option<Vec<Op>> = self.ops.iter().copied().collect();
        ops.map(|o| Cell { ops: std::array::from_fn(|e| o[e]) })
    }

    /// `op|op|-|...`, for the checkpoint.
    pub fn to_text(&self) -> String {
        self.ops.iter().map(|o| o.map_or("-", Op::name)).collect::<Vec<_>>().join("|")
    }

    /// Reads [`Projection::to_text`].
    pub fn from_text(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split('|').collect();
        if parts.len() != EDGES {
            return Err(format!("a projection has {EDGES} edges: `{s}`"));
        }
        let mut ops = [None; EDGES];
        for (e, p) in parts.iter().enumerate() {
            if *p != "-" {
                ops[e] = Some(Op::from_name(p).ok_or_else(|| format!("unknown operation `{p}` in `{s}`"))?);
            }
        }
        Ok(Projection { ops })
    }

    /// DARTS-PT's edges: a decided edge computes only its operation; an
    /// undecided one mixes every candidate by softmax(α), with `masked`'s
    /// weight set to 0 where it names the edge.
    fn edges<'a, T: Tape<f32, Cpu>>(&'a self, alpha: &'a [Param], masked: Option<(usize, Op)>) -> impl FnMut(usize) -> EdgeChoice<T> + 'a {
        move |e| match self.ops[e] {
            Some(op) => EdgeChoice::Path(op as usize),
            None => {
                let w = alpha[e].clone().put_tape(T::default()).softmax::<Axis<0>>();
                match masked {
                    Some((m, op)) if m == e => {
                        let mut keep = vec![1.0f32; 5];
                        keep[op as usize] = 0.0;
                        EdgeChoice::All(w * alpha[e].device().tensor_from_vec(keep, (5,)))
                    }
                    _ => EdgeChoice::All(w),
                }
            }
        }
    }
}

/// The order DARTS-PT visits edges in: a permutation drawn from `seed`.
pub fn edge_order(seed: u64) -> [usize; EDGES] {
    let mut order: [usize; EDGES] = std::array::from_fn(|e| e);
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    order
}

/// One DARTS-PT decision (`pt_project` of the reference's NB201 code):
/// the supernet's accuracy on α's half with each of `edge`'s operations
/// (`none` included) masked out in turn, its weight zeroed without
/// renormalising; the operation whose removal costs the most accuracy is
/// kept; then the supernet is fine-tuned with the decided edges fixed, α
/// first (unless α is fixed) and then the weights, by a fresh SGD from a
/// tenth of the initial rate, cosine-annealed to the final rate over the
/// projection phase. The reference scores on the whole
/// validation half and tunes 5 epochs per decision; both are settings
/// here ([`PerturbationConfig`]).
pub fn project_edge(t: &mut Nb201Training, data: &SearchData, projection: &mut Projection, edge: usize, pt: &PerturbationConfig, fixed_alpha: bool, seed: u64) -> Value {
    let decision = projection.ops.iter().filter(|o| o.is_some()).count();
    if decision == 0 {
        // The reference makes a fresh SGD optimiser for the projection phase.
        t.reset_weight_optimiser();
    }
    let bs = data.alpha_batch_set(pt.score_batches, derive_seed(seed, &format!("pt-score{decision}")));
    let alpha = t.net.alpha.params.clone();
    let mut full = Meter::default();
    for b in &bs {
        full.add(score_batch(&mut t.net, b, true, &mut projection.edges(&alpha, None)));
    }
    let mut masked = Vec::with_capacity(5);
    for op in Op::ALL {
        let mut m = Meter::default();
        for b in &bs {
            m.add(score_batch(&mut t.net, b, true, &mut projection.edges(&alpha, Some((edge, op)))));
        }
        masked.push(m.mean().1);
    }
    // The lowest accuracy without it; ties keep the earlier operation.
    let keep = (0..5).fold(0, |b, o| if masked[o] < masked[b] { o } else { b });
    projection.ops[edge] = Some(Op::ALL[keep]);
    let mut tune = (Meter::default(), Meter::default());
    // The reference's fresh SGD at a tenth of the rate, cosine-annealed to
    // `lr_min` over the whole projection phase.
    let (top, bottom) = (t.config.weights.lr() / 10.0, t.config.lr_min.min(t.config.weights.lr() / 10.0));
    let total = (pt.finetune_epochs * EDGES).max(1) as f64;
    for k in 0..pt.finetune_epochs {
        let at = (decision * pt.finetune_epochs + k) as f64;
        let lr = bottom + 0.5 * (top - bottom) * (1.0 + (std::f64::consts::PI * at / total).cos());
        let order = derive_seed(seed, &format!("pt-tune{decision}.{k}"));
        for (wi, ai) in data.epoch(order) {
            let (wb, ab) = (data.batch(&wi), data.batch(&ai));
            let alpha = t.net.alpha.params.clone();
            if fixed_alpha {
                tune.1.add(score_batch(&mut t.net, &ab, true, &mut projection.edges(&alpha, None)));
            } else {
                tune.1.add(t.alpha_step(&ab, &mut projection.edges(&alpha, None)));
            }
            let alpha = t.net.alpha.params.clone();
            tune.0.add(t.weight_step(&wb, lr, &mut projection.edges(&alpha, None)));
        }
    }
    json!({
        "phase": "projection", "decision": decision, "edge": edge, "kept": Op::ALL[keep].name(),
        "supernet_acc": full.mean().1, "acc_without": masked,
        "tune_train_acc": tune.0.mean().1, "tune_valid_acc": tune.1.mean().1,
        "alpha": t.net.alpha_values(), "projection": projection.to_text(),
    })
}
