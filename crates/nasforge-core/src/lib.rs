//! The nasforge core: the vocabulary every other crate speaks.
//!
//! One trait per concept and plain data between them:
//!
//! - [`SearchSpace`]: what can be searched: sample, mutate, enumerate, parse,
//!   format, canonicalise, encode, and convert to the common [`ArchGraph`].
//! - [`Strategy`]: how to search: `ask`/`tell`, or [`Strategy::drive`] for a
//!   strategy that runs the loop itself (one-shot methods that own a supernet).
//! - [`Estimator`]: what an architecture is worth: [`Metrics`] or a typed
//!   [`EvalError`].
//! - [`Trainer`]: trains a network for a budget; engines implement it in
//!   their own crates.
//!
//! This crate depends on no ML engine and changes slowly: everything else
//! depends on it.

mod arch;
mod estimator;
mod float;
pub mod laws;
mod metrics;
pub mod pareto;
mod space;
mod strategy;
mod trainer;

pub use arch::{ArchGraph, AttrValue, GraphNode};
pub use estimator::{EvalContext, EvalError, Estimator};
pub use metrics::{Evaluation, Goal, Metric, Metrics, Objective};
pub use space::{ParseArchError, SearchSpace};
pub use strategy::{Evaluator, SearchStopped, Strategy};
pub use trainer::{TrainBudget, TrainReport, Trainer, TrainingEstimator};

/// A parameter out of its valid range, found when a component checks its
/// parameters into its config type (before anything runs).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{key}` {reason}")]
pub struct ParamError {
    /// The parameter's (kebab-case) name, as written in experiment files.
    pub key: &'static str,
    /// Why the value is invalid.
    pub reason: String,
}

/// The `rand` this crate's [`Rng`] belongs to, for component authors: a
/// crate that adds another `rand` (say a newer major version) gets a
/// generator that does not implement this one's `RngCore`, and the build
/// error does not say why. Use `nasforge_core::rand` instead.
pub use rand;

/// The `rand_distr` that matches [`rand`] (normal, gamma, ... samplers for
/// the core's generators), for the same reason.
pub use rand_distr;

/// The seeded generator the shipped components use (ChaCha8: one stream
/// on every platform and version).
pub type SeededRng = rand_chacha::ChaCha8Rng;

/// A [`SeededRng`] seeded from `seed`: what a component draws its random
/// choices from, so that one seed fixes a whole search.
pub fn seeded_rng(seed: u64) -> SeededRng {
    use rand::SeedableRng as _;
    SeededRng::seed_from_u64(seed)
}

/// The random number generator spaces draw from.
///
/// A trait object, so that spaces stay object-safe and independent of the
/// generator; the strategies shipped here pass ChaCha8, whose stream is
/// fixed across platforms and versions, which makes "same seed, same
/// result" hold beyond one build.
pub type Rng = dyn rand::RngCore;

/// Derives an independent seed for a named sub-component from a root seed,
/// so that adding a component never shifts the random stream of another.
pub fn derive_seed(root: u64, stream: &str) -> u64 {
    // FNV-1a over the stream name, then a SplitMix64 finaliser: cheap,
    // stable across platforms, and well mixed.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in stream.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    splitmix64(root ^ h)
}

/// One step of SplitMix64: a bijective mixer of 64-bit values.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_seeds_differ_by_stream_and_root() {
        assert_ne!(derive_seed(1, "strategy"), derive_seed(1, "estimator"));
        assert_ne!(derive_seed(1, "strategy"), derive_seed(2, "strategy"));
        assert_eq!(derive_seed(7, "x"), derive_seed(7, "x"));
    }
}
