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

    /// α's values, row by row.
    fn alpha_rows(&self) -> Vec<Vec<f32>> {
        self.alpha().params.iter().map(|p| p.as_vec()).collect()
    }
}

impl Supernet for crate::nb201::Nb201Supernet {
    type Arch = nasforge_space_nb201::Cell;

    /// NAS-Bench-201 has no separable candidates: `sharp_sep_conv` is
    /// refused by the family's builder before this.
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
}

impl Supernet for crate::darts_cell::DartsSupernet {
    type Arch = nasforge_space_darts::Genotype;
    const ALPHA_FIRST: bool = true;

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
}
