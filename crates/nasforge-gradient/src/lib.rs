//! Gradient-based one-shot NAS (the gradient strategy family).
//!
//! A supernet holds every candidate operation on every edge of its cells;
//! a mixed edge outputs the candidates' outputs weighted by a softmax of
//! architecture parameters α (DARTS, Liu et al., ICLR 2019), so that α is
//! learnt by gradient descent alongside the network weights, and a
//! discrete cell is derived from α at the end. The network weights and α
//! live in separate parameter stores, each with its own optimiser.
//!
//! - [`supernet`]: what a method needs of a supernet; [`nb201`]: the
//!   NAS-Bench-201 search network (the benchmark paper's: stem, three
//!   stages of N cells with residual reductions between them), one α row
//!   per edge shared by every cell; each edge computes every candidate,
//!   one sampled candidate, or one path; [`darts_cell`]: DARTS' search
//!   network (8 cells, 14 mixed edges of 8 operations, normal and
//!   reduction α).
//! - [`data`]: DARTS' protocol, the training split halved between the
//!   weights and α.
//! - [`train`]: the two optimisers and the steps (weights, α, GDAS'
//!   Gumbel sample, uniform paths); [`darts2`]: DARTS' second-order α
//!   step; [`sd_darts`]: SD-DARTS' voting teachers and distilled weight
//!   step; [`rarts`]: RARTS' iteration on two weight sets.
//! - [`select`]: cells from a trained supernet (RSPS' sample, SPOS'
//!   evolution, DARTS-PT's projection) and the ranking sample.
//! - [`hessian`]: the dominant eigenvalue of the validation Hessian in α
//!   and RobustDARTS' early stop.
//! - [`strategy`]: the search as a strategy that drives its own loop,
//!   journaling every epoch with a checkpoint; [`params`]: each
//!   strategy's TOML table; [`family`]: the registry entries.

pub mod config;
pub mod darts2;
pub mod darts_cell;
pub mod data;
pub mod family;
pub mod hessian;
pub mod nb201;
pub mod params;
pub mod rarts;
pub mod sd_darts;
pub mod select;
pub mod strategy;
pub mod supernet;
pub mod train;

pub use config::{Method, OneShotConfig, Selection};
pub use family::register;
pub use nb201::{EdgeChoice, Nb201Supernet, SupernetShape};
pub use strategy::OneShot;
pub use supernet::Supernet;
pub use train::{Optimisers, Training};

#[cfg(test)]
mod tests;
