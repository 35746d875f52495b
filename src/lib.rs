//! nasforge: neural architecture search in Rust.
//!
//! This facade re-exports the workspace's crates under short names and
//! names the default set of families ([`families`]): what the `nasforge`
//! binary registers. Depend on the individual crates to take only what you
//! need; a binary of your own composes [`families`] with its own
//! components and gets the whole command line from [`cli`].

pub use nasforge_cli as cli;
pub use nasforge_core as core;
pub use nasforge_datasets as datasets;
pub use nasforge_experiment as experiment;
pub use nasforge_journal as journal;
pub use nasforge_registry as registry;
pub use nasforge_rl as rl;
pub use nasforge_runner as runner;
pub use nasforge_space_autognn as autognn;
pub use nasforge_space_darts as darts;
pub use nasforge_space_hytra as hytra;
pub use nasforge_space_mobilenet as mobilenet;
pub use nasforge_space_nb201 as nb201;
pub use nasforge_space_nbgraph as nbgraph;
pub use nasforge_space_transformer as transformer;
pub use nasforge_evolution as evolution;
pub use nasforge_tabular as tabular;
pub use nasforge_zero_cost as zero_cost;
pub use nasforge_predictors as predictors;
pub use nasforge_gennape as gennape;
pub use nasforge_gradient as gradient;
pub use nasforge_trainer_dfdx as trainer_dfdx;

use nasforge_registry::Registry;

/// The default families: every shipped space, strategy, estimator,
/// dataset and trainer. Add your own to the registry this returns.
pub fn families() -> Registry {
    let mut registry = Registry::new();
    registry
        .add(nasforge_space_nb201::register)
        .add(nasforge_space_nbgraph::register)
        .add(nasforge_space_mobilenet::register)
        .add(nasforge_space_darts::register)
        .add(nasforge_space_transformer::register)
        .add(nasforge_space_autognn::register)
        .add(nasforge_space_hytra::register)
        .add(nasforge_evolution::register)
        .add(nasforge_rl::register)
        .add(nasforge_tabular::register)
        .add(nasforge_zero_cost::register)
        .add(nasforge_predictors::register)
        .add(nasforge_gradient::register)
        .add(nasforge_datasets::register)
        .add(nasforge_trainer_dfdx::register);
    registry
}
