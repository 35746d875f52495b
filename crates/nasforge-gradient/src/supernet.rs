//! What a one-shot method needs of a supernet: its two parameter stores,
//! the weights an optimiser steps, a forward pass whose edges the method
//! chooses (by α row), and the architecture it derives. The NAS-Bench-201
//! and DARTS search networks implement it.

use nasforge_engine::dfdx::prelude::*;
use nasforge_engine::ops::{T2, T4};
use nasforge_engine::params::ParamStore;

use crate::nb201::EdgeChoice;

/// What a supernet is built for: its size, its options and the images.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SupernetSpec {
    /// Channels of the first stage (C).
    pub channels: usize,
    /// Cells (per stage on NAS-Bench-201, in all on DARTS); the
    /// supernet's default when `None`.
    pub cells: Option<usize>,
    /// sharpDARTS' SharpSepConv for the dilated candidates (DARTS only).
    pub sharp_sep_conv: bool,
    /// Image channels.
    pub in_channels: usize,
    /// Classes.
    pub classes: usize,
}

/// A weight-sharing supernet with architecture parameters α, one row per
/// mixed edge.
pub trait Supernet: Sized + Send + 'static {
    /// What it derives (a cell, a genotype).
    type Arch: Copy + Eq + std::hash::Hash + std::fmt::Debug + Send + Sync + 'static;

    /// Whether first-order DARTS steps α before the weights on this
    /// supernet, as its reference does (Liu et al.'s `train_search.py`:
    /// yes; the NB201 reference's DARTS-V1: no).
    const ALPHA_FIRST: bool = false;

    /// The network `spec` describes, every weight and α drawn from `seed`.
    fn build(spec: &SupernetSpec, seed: u64) -> Self;

    /// Network weights and batch-norm statistics.
    fn weights(&self) -> &ParamStore;
    /// The same, mutably.
    fn weights_mut(&mut self) -> &mut ParamStore;
    /// α, one parameter per mixed edge.
    fn alpha(&self) -> &ParamStore;
    /// The same, mutably.
    fn alpha_mut(&mut self) -> &mut ParamStore;

    /// The indices of the weights an optimiser steps.
    fn trainable(&self) -> Vec<usize>;

    /// The logits of `x` with each edge as `choice(α row)` says.
    fn forward_with<T: Tape<f32, Cpu> + Merge<T>>(&mut self, x: T4<T>, train: bool, choice: &mut dyn FnMut(usize) -> EdgeChoice<T>) -> T2<T>;

    /// The architecture α selects.
    fn derive(&self) -> Self::Arch;

    /// The architecture's standard string.
    fn format(arch: &Self::Arch) -> String;

    /// Reads [`Supernet::format`]'s string.
    fn parse(text: &str) -> Result<Self::Arch, String>;

    /// A uniformly random architecture (RSPS' and SPOS' sampling of a
    /// path).
    fn random_arch(rng: &mut rand_chacha::ChaCha8Rng) -> Self::Arch;

    /// `arch` as a path: the candidate on each α row (0, `none`, where
    /// the architecture has no edge).
    fn path_of(arch: &Self::Arch) -> Vec<usize>;

    /// The candidates of a mixed edge, by name, in α's column order
    /// (none by default: reports then number them).
    fn op_names() -> Vec<&'static str> {
        Vec::new()
    }

    /// α's values, row by row.
    fn alpha_rows(&self) -> Vec<Vec<f32>> {
        self.alpha().params.iter().map(|p| p.as_vec()).collect()
    }
}

impl Supernet for crate::nb201::Nb201Supernet {
    type Arch = nasforge_space_nb201::Cell;

    fn op_names() -> Vec<&'static str> {
        nasforge_space_nb201::Op::ALL.iter().map(|o| o.name()).collect()
    }

    /// NAS-Bench-201 has no separable candidates: `sharp_sep_conv` is
    /// refused by the family's space check before this.
    fn build(s: &SupernetSpec, seed: u64) -> Self {
        Self::new(crate::nb201::SupernetShape { channels: s.channels, cells: s.cells.unwrap_or(5), in_channels: s.in_channels, classes: s.classes }, seed)
    }
    fn weights(&self) -> &ParamStore {
        &self.weights
    }
    fn weights_mut(&mut self) -> &mut ParamStore {
        &mut self.weights
    }
    fn alpha(&self) -> &ParamStore {
        &self.alpha
    }
    fn alpha_mut(&mut self) -> &mut ParamStore {
        &mut self.alpha
    }
    fn trainable(&self) -> Vec<usize> {
        crate::nb201::Nb201Supernet::trainable(self)
    }
    fn forward_with<T: Tape<f32, Cpu> + Merge<T>>(&mut self, x: T4<T>, train: bool, choice: &mut dyn FnMut(usize) -> EdgeChoice<T>) -> T2<T> {
        crate::nb201::Nb201Supernet::forward_with(self, x, train, choice)
    }
    fn derive(&self) -> Self::Arch {
        crate::nb201::Nb201Supernet::derive(self)
    }
    fn format(arch: &Self::Arch) -> String {
        use nasforge_core::SearchSpace;
        nasforge_space_nb201::Nb201Space.format(arch)
    }
    fn parse(text: &str) -> Result<Self::Arch, String> {
        use nasforge_core::SearchSpace;
        nasforge_space_nb201::Nb201Space.parse(text).map_err(|e| e.to_string())
    }
    /// RSPS' `random_genotype`: one operation per edge, shared by every
    /// cell of the network.
    fn random_arch(rng: &mut rand_chacha::ChaCha8Rng) -> Self::Arch {
        use nasforge_space_nb201::Op;
        use rand::Rng;
        nasforge_space_nb201::Cell { ops: std::array::from_fn(|_| Op::ALL[rng.random_range(0..Op::ALL.len())]) }
    }
    fn path_of(arch: &Self::Arch) -> Vec<usize> {
        arch.ops.iter().map(|&o| o as usize).collect()
    }
}

impl Supernet for crate::darts_cell::DartsSupernet {
    type Arch = nasforge_space_darts::Genotype;
    const ALPHA_FIRST: bool = true;

    fn op_names() -> Vec<&'static str> {
        nasforge_space_darts::Op::ALL.iter().map(|o| o.name()).collect()
    }

    fn build(s: &SupernetSpec, seed: u64) -> Self {
        let shape = crate::darts_cell::DartsShape {
            channels: s.channels,
            layers: s.cells.unwrap_or(8),
            in_channels: s.in_channels,
            classes: s.classes,
            sharp_sep_conv: s.sharp_sep_conv,
        };
        Self::new(shape, seed)
    }
    fn weights(&self) -> &ParamStore {
        &self.weights
    }
    fn weights_mut(&mut self) -> &mut ParamStore {
        &mut self.weights
    }
    fn alpha(&self) -> &ParamStore {
        &self.alpha
    }
    fn alpha_mut(&mut self) -> &mut ParamStore {
        &mut self.alpha
    }
    fn trainable(&self) -> Vec<usize> {
        crate::darts_cell::DartsSupernet::trainable(self)
    }
    fn forward_with<T: Tape<f32, Cpu> + Merge<T>>(&mut self, x: T4<T>, train: bool, choice: &mut dyn FnMut(usize) -> EdgeChoice<T>) -> T2<T> {
        crate::darts_cell::DartsSupernet::forward_with(self, x, train, choice)
    }
    fn derive(&self) -> Self::Arch {
        crate::darts_cell::DartsSupernet::derive(self)
    }
    fn format(arch: &Self::Arch) -> String {
        use nasforge_core::SearchSpace;
        nasforge_space_darts::DartsSpace.format(arch)
    }
    fn parse(text: &str) -> Result<Self::Arch, String> {
        use nasforge_core::SearchSpace;
        nasforge_space_darts::DartsSpace.parse(text).map_err(|e| e.to_string())
    }
    /// A genotype as DARTS derives one (Li & Talwalkar's `sample_arch` on
    /// this space): each node of each cell kind takes two distinct inputs,
    /// each with a uniform operation other than `none` (a derived
    /// genotype never holds `none`; excluding it is our reading).
    fn random_arch(rng: &mut rand_chacha::ChaCha8Rng) -> Self::Arch {
        use nasforge_space_darts::CellGenes;
        let normal = CellGenes::random_derived(rng);
        nasforge_space_darts::Genotype { normal, reduce: CellGenes::random_derived(rng) }
    }
    /// Rows as the supernet's edges: node `i`'s edge from state `j` is row
    /// `2i + i(i−1)/2 + j` of its cell kind (the reduction's after the
    /// normal's 14).
    fn path_of(arch: &Self::Arch) -> Vec<usize> {
        use nasforge_space_darts::{NODES, Op};
        let edges = crate::darts_cell::EDGES;
        let mut ops = vec![0; 2 * edges];
        for (base, cell) in [(0, &arch.normal), (edges, &arch.reduce)] {
            for (k, e) in cell.edges.iter().enumerate() {
                let node = k / 2;
                debug_assert!(node < NODES);
                let row = base + 2 * node + node * node.saturating_sub(1) / 2 + e.input as usize;
                ops[row] = Op::ALL.iter().position(|&o| o == e.op).expect("a DARTS operation");
            }
        }
        ops
    }
}

#[cfg(test)]
mod tests {
    use nasforge_core::SearchSpace;
    use nasforge_space_darts::{DartsSpace, Op};
    use rand::SeedableRng;

    use super::*;
    use crate::darts_cell::DartsSupernet;

    /// DARTS-V2, as published in DARTS' `genotypes.py`.
    const DARTS_V2: &str = "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])";

    #[test]
    fn a_darts_genotype_is_the_path_of_its_sixteen_edges() {
        // DARTS-V2: normal node 0 reads states 0 and 1 with sep_conv_3x3,
        // node 3 reads 0 (skip) and 2 (dil_conv_3x3).
        let g = DartsSpace.parse(DARTS_V2).unwrap();
        let p = DartsSupernet::path_of(&g);
        assert_eq!(p.len(), 28);
        assert_eq!(p.iter().filter(|&&o| o != 0).count(), 16);
        let index = |op: Op| Op::ALL.iter().position(|&o| o == op).unwrap();
        assert_eq!((p[0], p[1]), (index(Op::SepConv3x3), index(Op::SepConv3x3)));
        // Node 3's edges are rows 9..14: from state 0 (row 9) and 2 (row 11).
        assert_eq!((p[9], p[11], p[10]), (index(Op::SkipConnect), index(Op::DilConv3x3), 0));
        // The reduction cell's rows follow: node 0 reads 0 and 1 with max pools.
        assert_eq!((p[14], p[15]), (index(Op::MaxPool3x3), index(Op::MaxPool3x3)));
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for _ in 0..50 {
            let g = DartsSupernet::random_arch(&mut rng);
            let p = DartsSupernet::path_of(&g);
            // Two distinct inputs per node, never `none`: 8 edges per cell kind.
            assert_eq!(p.iter().filter(|&&o| o != 0).count(), 16, "{}", DartsSpace.format(&g));
            assert!(DartsSpace.parse(&DartsSpace.format(&g)).is_ok());
        }
    }

    #[test]
    fn spos_children_of_darts_genotypes_are_valid_and_mutation_changes_something() {
        use crate::select::Evolve;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(8);
        let mut changed = 0;
        for _ in 0..200 {
            let (a, b) = (DartsSupernet::random_arch(&mut rng), DartsSupernet::random_arch(&mut rng));
            for child in [DartsSupernet::mutate(&a, 0.3, &mut rng), DartsSupernet::crossover(&a, &b, &mut rng)] {
                let text = DartsSpace.format(&child);
                assert_eq!(DartsSpace.parse(&text).unwrap_or_else(|e| panic!("{text}: {e}")), child);
                assert_eq!(DartsSupernet::path_of(&child).iter().filter(|&&o| o != 0).count(), 16, "{text}");
            }
            changed += usize::from(DartsSupernet::mutate(&a, 0.3, &mut rng) != a);
            assert_eq!(DartsSupernet::mutate(&a, 0.0, &mut rng), a);
        }
        assert!(changed > 190, "{changed}");
    }
}
