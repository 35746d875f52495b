//! The engine under nasforge's trainers: dfdx operations on tensors whose
//! shapes are known only at run time, with the parameters, optimisers and
//! checkpoints of the networks built from them.
//!
//! This is the only layer that uses dfdx's tape directly. Every custom op
//! in [`ops`] computes its forward pass on raw buffers and registers its
//! backward pass with `Tape::add_backward_op`, next to a finite-difference
//! check of its gradients; networks (in `nasforge-trainer-dfdx`) compose
//! these ops with dfdx's built-in ones and write no backward pass of their
//! own. The engine knows no search space, strategy or data set: ops take
//! plain geometry ([`ops::Conv`], [`ops::Pool`]), enums
//! ([`ops::Attention`], [`ops::Activation`]) and matrices ([`ops::Sparse`]).
//!
//! Its two `unsafe` blocks are here too, each with its reasons: the one
//! call into `gemm` (behind a bounds-checked matrix view, private to the
//! crate) and the mimalloc option [`allocator::keep_freed_pages`] sets.

// The tests run the ops on batches: they too want the allocator that
// training wants.
#[cfg(test)]
#[global_allocator]
static GLOBAL: allocator::Allocator = allocator::Allocator;

/// dfdx itself, for callers that build tensors.
pub use dfdx;
pub mod allocator;
pub mod blocks;
mod gemm;
pub mod onnx;
pub mod ops;
pub mod params;
pub mod probe;
pub mod state;

pub use ops::{Param, T2, T4};
pub use params::{BatchNorm, Dense, Optimizer, OptimizerConfig, ParamStore};
