//! Zero-cost proxies: training-free scores of architectures, computed on
//! each space's dfdx network at initialisation from one batch (or none),
//! and the estimators and strategies that search with them.
//!
//! - [`proxies`]: synflow, params, flops, l2_norm, zen (data-free);
//!   grad_norm, snip, grasp, fisher, jacob_cov, nwot, gradsign, epe_nas,
//!   plain (one batch); w_pca and hidden_cov (transformers). Each is one
//!   function in one file, listed in [`proxies::PROXIES`].
//! - [`Scorer`]: builds an architecture's network (NB201, DARTS,
//!   MobileNet, NAS-Bench-Graph, Auto-GNN, transformer), runs each proxy
//!   on a fresh copy of its initial parameters, and gives the proxy vector
//!   the predictors use as features.
//! - [`scores_file`]: the resumable, parallel scores CSV behind
//!   `nasforge zero-cost`.
//! - [`parzc`]: a ParZC-style combination of node-wise proxy statistics
//!   learned from a few labels with a differentiable Kendall τ.
//! - [`robot`]: the RoBoT strategy (Bayesian optimisation of a proxy
//!   combination, then greedy exploitation).
//! - Estimators: `zero-cost` (proxies computed live) and `zero-cost-table`
//!   (a scores CSV, or NASLib's NB201 zero-cost JSON: [`ProxyTable`]),
//!   both scoring by one proxy or a weighted sum of normalised proxies
//!   ([`Combination`]).
//!
//! Rows are keyed by the architecture's standard string, not its canonical
//! key: proxies see the network, dead edges included.

pub mod batch;
pub mod cli;
mod family;
mod live;
pub mod net;
pub mod parzc;
pub mod proxies;
pub mod robot;
pub mod score;
pub mod scores_file;
pub mod stats;
mod table;

pub use batch::Batch;
pub use family::{RobotToml, ZeroCostConfig, ZeroCostTableToml, ZeroCostToml, read_table, register};
pub use live::ZeroCostEstimator;
pub use net::{NetShape, ZcNet};
pub use score::Scorer;
pub use table::{Combination, ProxyTable, TableError, ZeroCostTableEstimator};
