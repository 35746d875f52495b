//! The search-space trait.

use std::fmt::Debug;
use std::hash::Hash;

use rand::Rng as _;

use crate::{ArchGraph, Rng};

/// A string that does not name an architecture of a space.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot parse `{input}` as a {space} architecture: {reason}")]
pub struct ParseArchError {
    /// The space's name.
    pub space: String,
    /// What was given.
    pub input: String,
    /// Why it is not an architecture.
    pub reason: String,
}

/// A search space: the set of architectures a search chooses from, with a
/// typed genome ([`SearchSpace::Arch`]) and the operations strategies need.
///
/// Required are sampling, the neighbourhood, the standard string both
/// ways, the canonical key, the graph form and the encoding; the rest
/// (mutation among them, from the neighbourhood) have defaults.
pub trait SearchSpace: Send + Sync {
    /// The typed genome: plain data, cheap to clone.
    type Arch: Clone + Debug + PartialEq + Eq + Hash + Send + Sync + 'static;

    /// The space's kebab-case name (`nas-bench-201`).
    fn name(&self) -> &str;

    /// A uniformly random valid architecture.
    fn sample(&self, rng: &mut Rng) -> Self::Arch;

    /// A copy of `arch` with exactly one choice changed to another value,
    /// uniformly among such changes that stay valid. By default, a uniform
    /// pick among [`SearchSpace::neighbours`]; spaces override it where a
    /// direct draw is cheaper than listing the neighbourhood.
    ///
    /// # Panics
    /// By default, when `arch` has no neighbours.
    fn mutate(&self, arch: &Self::Arch, rng: &mut Rng) -> Self::Arch {
        let mut options = self.neighbours(arch);
        let pick = rng.random_range(0..options.len());
        options.swap_remove(pick)
    }

    /// A child of `a` and `b` (each choice taken from either parent, say),
    /// for spaces that define one; `None` by default, and evolutionary
    /// strategies then mutate instead.
    fn crossover(&self, _a: &Self::Arch, _b: &Self::Arch, _rng: &mut Rng) -> Option<Self::Arch> {
        None
    }

    /// The space as a fixed list of categorical decisions, for strategies
    /// that learn a distribution over choices (REINFORCE, say): the number
    /// of options of each decision. `None` (the default) for spaces without
    /// such a form.
    fn decisions(&self) -> Option<Vec<usize>> {
        None
    }

    /// The architecture one option per decision names (indices into
    /// [`SearchSpace::decisions`]), or `None` when that combination is not
    /// a valid architecture.
    fn arch_from_decisions(&self, _choices: &[usize]) -> Option<Self::Arch> {
        None
    }

    /// The option `arch` takes at each decision (the inverse of
    /// [`SearchSpace::arch_from_decisions`]); `None` by default.
    fn arch_decisions(&self, _arch: &Self::Arch) -> Option<Vec<usize>> {
        None
    }

    /// Every valid architecture one choice away from `arch`.
    fn neighbours(&self, arch: &Self::Arch) -> Vec<Self::Arch>;

    /// Formats `arch` in the space's standard string.
    fn format(&self, arch: &Self::Arch) -> String;

    /// Parses the space's standard string.
    fn parse(&self, s: &str) -> Result<Self::Arch, ParseArchError>;

    /// A key shared by exactly the architectures that compute the same
    /// function (isomorphic cells, unreachable edges, ...).
    fn canonical_key(&self, arch: &Self::Arch) -> String;

    /// The architecture as a computation graph.
    fn to_graph(&self, arch: &Self::Arch) -> ArchGraph;

    /// A fixed-length numeric encoding (one-hot choices by default in the
    /// spaces shipped here) for predictors.
    fn encode(&self, arch: &Self::Arch) -> Vec<f32>;

    /// The number of valid raw architectures, when finite and known.
    fn size(&self) -> Option<u128> {
        None
    }

    /// Every valid architecture once, when the space is small enough to list.
    fn enumerate(&self) -> Option<Box<dyn Iterator<Item = Self::Arch> + '_>> {
        None
    }

    /// Human-readable facts about `arch` (index, parameters, ...), as
    /// `(label, value)` pairs; empty by default.
    fn describe(&self, _arch: &Self::Arch) -> Vec<(String, String)> {
        Vec::new()
    }

    /// Trainable parameters of the space's reference network for `arch`
    /// (the one [`SearchSpace::describe`] names), when the space can count
    /// them analytically.
    fn params(&self, _arch: &Self::Arch) -> Option<u64> {
        None
    }

    /// Multiply-accumulates of one forward pass of that network on its
    /// reference input, when the space can count them.
    fn macs(&self, _arch: &Self::Arch) -> Option<u64> {
        None
    }

    /// Why this space can no longer serve, for spaces that can fail outside
    /// their methods' signatures (a plugin whose instance panicked answers
    /// with neutral values from then on). Runners stop the search when it
    /// is `Some`. `None` by default.
    fn failure(&self) -> Option<String> {
        None
    }
}
