//! Gradient-based one-shot NAS (the gradient strategy family).
//!
//! A supernet holds every candidate operation on every edge of its cells;
//! a mixed edge outputs the candidates' outputs weighted by a softmax of
//! architecture parameters α (DARTS, Liu et al., ICLR 2019), so that α is
//! learnt by gradient descent alongside the network weights, and a
//! discrete cell is derived from α at the end. The network weights and α
//! live in separate parameter stores, each with its own optimiser.
//!
//! - [`nb201`]: the NAS-Bench-201 search network (the benchmark paper's:
//!   stem, three stages of N cells with residual reductions between
//!   them), one α row per edge shared by every cell.
//! - [`darts`]: DARTS' first-order step, weights on a training batch and
//!   α on a validation batch, each with its own optimiser.

pub mod darts;
pub mod nb201;

pub use darts::{Darts, DartsConfig, StepLosses};
pub use nb201::{Nb201Supernet, SupernetShape};
