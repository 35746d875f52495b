//! Trainers on dfdx: networks built at run time from an architecture
//! description, trained on real data on the CPU.
//!
//! The networks compose the ops of [`nasforge_engine`], the only layer
//! that uses dfdx's tape directly (every custom op and backward pass lives
//! there); this crate adds what knows the search spaces and data sets:
//! networks built from their architectures, training loops and
//! [`nasforge_core::Trainer`]s, through which the rest of the workspace
//! reaches them.

// The unit tests train small networks: they too want the allocator that
// training wants.
#[cfg(test)]
#[global_allocator]
static GLOBAL: allocator::Allocator = allocator::Allocator;

/// The engine's modules and dfdx itself, re-exported at their old paths
/// for callers that build tensors, declare the allocator or drive an
/// optimiser themselves.
pub use nasforge_engine::{allocator, dfdx, ops, params};
pub mod autognn;
pub mod darts;
pub mod family;
pub mod mobilenet;
pub mod gnn;
pub mod nb201;
pub mod onnx;
pub mod recipe;
pub mod train;
pub mod transformer;

pub use darts::DartsNet;
pub use family::register;
pub use mobilenet::MobileNet;
pub use nb201::{Nb201Net, Nb201Shape};
pub use params::{OptimizerConfig, ParamStore};
pub use train::{
    DartsTrainer, Evaluation, ImageArch, ImageClassifier, ImageTrainConfig, ImageTrainer, MobileNetTrainer, Nb201Trainer, Trained, evaluate,
    train_classifier,
    train_darts, train_mobilenet, train_nb201,
};
