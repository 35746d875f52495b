//! Trainers on dfdx: networks built at run time from an architecture
//! description, trained on real data on the CPU.
//!
//! This is the only crate of the workspace that depends on dfdx; the rest
//! reach it through [`nasforge_core::Trainer`].

mod gemm;

// The unit tests train small networks: they too want the allocator that
// training wants.
#[cfg(test)]
#[global_allocator]
static GLOBAL: allocator::Allocator = allocator::Allocator;

/// The engine, re-exported for callers that build tensors themselves.
pub use dfdx;
pub mod allocator;
pub mod autognn;
pub mod controller;
pub mod darts;
pub mod mobilenet;
pub mod gnn;
pub mod nb201;
pub mod ops;
pub mod params;
pub mod train;
pub mod transformer;

pub use controller::{LstmPolicy, LstmPolicyConfig, LstmPolicyParams};
pub use darts::DartsNet;
pub use mobilenet::MobileNet;
pub use nb201::{Nb201Net, Nb201Shape};
pub use params::{OptimizerConfig, ParamStore};
pub use train::{
    DartsTrainer, Evaluation, ImageArch, ImageClassifier, ImageTrainConfig, ImageTrainer, MobileNetTrainer, Nb201Trainer, Trained, evaluate,
    train_classifier,
    train_darts, train_mobilenet, train_nb201,
};
