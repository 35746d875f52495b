//! nasforge: neural architecture search in Rust.
//!
//! This facade re-exports the workspace's crates under short names; depend
//! on the individual crates to take only what you need.

pub use nasforge_core as core;
pub use nasforge_experiment as experiment;
pub use nasforge_journal as journal;
pub use nasforge_space_nb201 as nb201;
pub use nasforge_space_nbgraph as nbgraph;
pub use nasforge_space_darts as darts;
pub use nasforge_space_mobilenet as mobilenet;
pub use nasforge_space_transformer as transformer;
pub use nasforge_space_autognn as autognn;
pub use nasforge_space_hytra as hytra;
pub use nasforge_strategies as strategies;
pub use nasforge_tabular as tabular;
pub use nasforge_datasets as datasets;
pub use nasforge_trainer_dfdx as trainer_dfdx;
