//! A GENNAPE-style predictor (Mills et al., "GENNAPE: Towards Generalized
//! Neural Architecture Performance Estimators", AAAI 2023): one
//! representation for every space's architectures, so that a predictor
//! trained on one space ranks another after few or no labels.
//!
//! - [`cg`]: an architecture's graph lowered to primitive operations with
//!   relative shapes, and the function-preserving rewrites that make
//!   contrastive pairs;
//! - [`encoder`]: the k-GNN encoder (6 GraphConv layers of 32, tanh, mean
//!   readout) on the engine;
//! - [`fcm`]: fuzzy c-means over embeddings;
//! - [`model`]: pre-training, the membership-weighted ensemble of MLP
//!   heads, fitting and fine-tuning.
//!
//! GENNAPE's public code (Ascend-Research/GENNAPE) has the graphs and the
//! k-GNN regressor; its contrastive pre-training, fuzzy clustering and
//! head ensemble are described in the paper only, so their settings here
//! are the methods' usual ones, named in [`model`] and [`fcm`].

pub mod cg;
pub mod encoder;
pub mod fcm;
pub mod model;

pub use cg::{Cg, CgNode, Prim, lower, rewrite};
pub use model::{Gennape, GennapeConfig};
