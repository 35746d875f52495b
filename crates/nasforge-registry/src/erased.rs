//! Spaces and architectures behind trait objects, so that a strategy or an
//! estimator chosen by name at run time works with a space chosen by name.
//!
//! Strategies stay generic over [`SearchSpace`]; composed at run time they
//! are instantiated once, at [`ErasedSpace`], whose architecture type is
//! [`DynArch`]. Typed code (a hand-composed stack, a benchmark) uses the
//! concrete space and never pays for the erasure.

use std::any::Any;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::sync::Arc;

use nasforge_core::{ArchGraph, EvalContext, EvalError, Estimator, Metrics, ParseArchError, Rng, SearchSpace};

/// What an architecture type must offer to travel erased.
trait ArchValue: Any + fmt::Debug + Send + Sync {
    fn eq_value(&self, other: &dyn ArchValue) -> bool;
    fn hash_value(&self, state: &mut dyn Hasher);
    fn as_any(&self) -> &dyn Any;
}

impl<A: fmt::Debug + Eq + Hash + Send + Sync + 'static> ArchValue for A {
    fn eq_value(&self, other: &dyn ArchValue) -> bool {
        other.as_any().downcast_ref::<A>().is_some_and(|o| o == self)
    }
    fn hash_value(&self, mut state: &mut dyn Hasher) {
        self.hash(&mut state);
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// An architecture of some space, its type erased. Cloning shares it (the
/// strategies clone architectures into populations and archives).
#[derive(Clone)]
pub struct DynArch(Arc<dyn ArchValue>);

impl DynArch {
    /// Erases `arch`.
    pub fn new<A: fmt::Debug + Eq + Hash + Send + Sync + 'static>(arch: A) -> Self {
        DynArch(Arc::new(arch))
    }

    /// The architecture, when it is an `A`.
    pub fn downcast_ref<A: 'static>(&self) -> Option<&A> {
        self.0.as_any().downcast_ref()
    }
}

impl PartialEq for DynArch {
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_value(&*other.0)
    }
}

impl Eq for DynArch {}

impl Hash for DynArch {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash_value(state);
    }
}

impl fmt::Debug for DynArch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// [`SearchSpace`] with its architecture type erased: what [`ErasedSpace`]
/// holds. Implemented for every space; not meant to be implemented by hand.
pub trait DynSpace: Send + Sync + 'static {
    /// [`SearchSpace::name`].
    fn name(&self) -> &str;
    /// [`SearchSpace::sample`].
    fn sample(&self, rng: &mut Rng) -> DynArch;
    /// [`SearchSpace::mutate`].
    fn mutate(&self, arch: &DynArch, rng: &mut Rng) -> DynArch;
    /// [`SearchSpace::crossover`].
    fn crossover(&self, a: &DynArch, b: &DynArch, rng: &mut Rng) -> Option<DynArch>;
    /// [`SearchSpace::decisions`].
    fn decisions(&self) -> Option<Vec<usize>>;
    /// [`SearchSpace::arch_from_decisions`].
    fn arch_from_decisions(&self, choices: &[usize]) -> Option<DynArch>;
    /// [`SearchSpace::arch_decisions`].
    fn arch_decisions(&self, arch: &DynArch) -> Option<Vec<usize>>;
    /// [`SearchSpace::neighbours`].
    fn neighbours(&self, arch: &DynArch) -> Vec<DynArch>;
    /// [`SearchSpace::format`].
    fn format(&self, arch: &DynArch) -> String;
    /// [`SearchSpace::parse`].
    fn parse(&self, s: &str) -> Result<DynArch, ParseArchError>;
    /// [`SearchSpace::canonical_key`].
    fn canonical_key(&self, arch: &DynArch) -> String;
    /// [`SearchSpace::to_graph`].
    fn to_graph(&self, arch: &DynArch) -> ArchGraph;
    /// [`SearchSpace::encode`].
    fn encode(&self, arch: &DynArch) -> Vec<f32>;
    /// [`SearchSpace::size`].
    fn size(&self) -> Option<u128>;
    /// [`SearchSpace::enumerate`].
    fn enumerate(&self) -> Option<Box<dyn Iterator<Item = DynArch> + '_>>;
    /// [`SearchSpace::describe`].
    fn describe(&self, arch: &DynArch) -> Vec<(String, String)>;
    /// [`SearchSpace::params`].
    fn params(&self, arch: &DynArch) -> Option<u64>;
    /// [`SearchSpace::macs`].
    fn macs(&self, arch: &DynArch) -> Option<u64>;
    /// [`SearchSpace::failure`].
    fn failure(&self) -> Option<String>;
    /// The space itself, to recover its type.
    fn as_any(&self) -> &dyn Any;
}

/// The typed architecture inside `arch`. Within a run every architecture
/// comes from the run's one space, so a mismatch is a bug in the caller.
fn typed<'a, S: SearchSpace>(space: &S, arch: &'a DynArch) -> &'a S::Arch {
    arch.downcast_ref::<S::Arch>()
        .unwrap_or_else(|| panic!("an architecture of another space ({arch:?}) was handed to space `{}`", space.name()))
}

impl<S: SearchSpace + 'static> DynSpace for S {
    fn name(&self) -> &str {
        SearchSpace::name(self)
    }
    fn sample(&self, rng: &mut Rng) -> DynArch {
        DynArch::new(SearchSpace::sample(self, rng))
    }
    fn mutate(&self, arch: &DynArch, rng: &mut Rng) -> DynArch {
        DynArch::new(SearchSpace::mutate(self, typed(self, arch), rng))
    }
    fn crossover(&self, a: &DynArch, b: &DynArch, rng: &mut Rng) -> Option<DynArch> {
        SearchSpace::crossover(self, typed(self, a), typed(self, b), rng).map(DynArch::new)
    }
    fn decisions(&self) -> Option<Vec<usize>> {
        SearchSpace::decisions(self)
    }
    fn arch_from_decisions(&self, choices: &[usize]) -> Option<DynArch> {
        SearchSpace::arch_from_decisions(self, choices).map(DynArch::new)
    }
    fn arch_decisions(&self, arch: &DynArch) -> Option<Vec<usize>> {
        SearchSpace::arch_decisions(self, typed(self, arch))
    }
    fn neighbours(&self, arch: &DynArch) -> Vec<DynArch> {
        SearchSpace::neighbours(self, typed(self, arch)).into_iter().map(DynArch::new).collect()
    }
    fn format(&self, arch: &DynArch) -> String {
        SearchSpace::format(self, typed(self, arch))
    }
    fn parse(&self, s: &str) -> Result<DynArch, ParseArchError> {
        SearchSpace::parse(self, s).map(DynArch::new)
    }
    fn canonical_key(&self, arch: &DynArch) -> String {
        SearchSpace::canonical_key(self, typed(self, arch))
    }
    fn to_graph(&self, arch: &DynArch) -> ArchGraph {
        SearchSpace::to_graph(self, typed(self, arch))
    }
    fn encode(&self, arch: &DynArch) -> Vec<f32> {
        SearchSpace::encode(self, typed(self, arch))
    }
    fn size(&self) -> Option<u128> {
        SearchSpace::size(self)
    }
    fn enumerate(&self) -> Option<Box<dyn Iterator<Item = DynArch> + '_>> {
        SearchSpace::enumerate(self).map(|it| Box::new(it.map(DynArch::new)) as Box<dyn Iterator<Item = DynArch>>)
    }
    fn describe(&self, arch: &DynArch) -> Vec<(String, String)> {
        SearchSpace::describe(self, typed(self, arch))
    }
    fn params(&self, arch: &DynArch) -> Option<u64> {
        SearchSpace::params(self, typed(self, arch))
    }
    fn macs(&self, arch: &DynArch) -> Option<u64> {
        SearchSpace::macs(self, typed(self, arch))
    }
    fn failure(&self) -> Option<String> {
        SearchSpace::failure(self)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Any space, its architecture type erased: a [`SearchSpace`] whose
/// architectures are [`DynArch`]s. Cheap to clone (shared).
#[derive(Clone)]
pub struct ErasedSpace(Arc<dyn DynSpace>);

impl ErasedSpace {
    /// Erases `space` (an `ErasedSpace` is returned as it is, not wrapped
    /// twice).
    pub fn new<S: SearchSpace + 'static>(space: S) -> Self {
        match (&space as &dyn Any).downcast_ref::<ErasedSpace>() {
            Some(erased) => erased.clone(),
            None => ErasedSpace(Arc::new(space)),
        }
    }

    /// The space, when it is an `S`: how an estimator that serves several
    /// spaces finds out which one it was given.
    pub fn downcast_ref<S: 'static>(&self) -> Option<&S> {
        self.0.as_any().downcast_ref()
    }
}

impl fmt::Debug for ErasedSpace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ErasedSpace({})", self.0.name())
    }
}

impl SearchSpace for ErasedSpace {
    type Arch = DynArch;

    fn name(&self) -> &str {
        self.0.name()
    }
    fn sample(&self, rng: &mut Rng) -> DynArch {
        self.0.sample(rng)
    }
    fn mutate(&self, arch: &DynArch, rng: &mut Rng) -> DynArch {
        self.0.mutate(arch, rng)
    }
    fn crossover(&self, a: &DynArch, b: &DynArch, rng: &mut Rng) -> Option<DynArch> {
        self.0.crossover(a, b, rng)
    }
    fn decisions(&self) -> Option<Vec<usize>> {
        self.0.decisions()
    }
    fn arch_from_decisions(&self, choices: &[usize]) -> Option<DynArch> {
        self.0.arch_from_decisions(choices)
    }
    fn arch_decisions(&self, arch: &DynArch) -> Option<Vec<usize>> {
        self.0.arch_decisions(arch)
    }
    fn neighbours(&self, arch: &DynArch) -> Vec<DynArch> {
        self.0.neighbours(arch)
    }
    fn format(&self, arch: &DynArch) -> String {
        self.0.format(arch)
    }
    fn parse(&self, s: &str) -> Result<DynArch, ParseArchError> {
        self.0.parse(s)
    }
    fn canonical_key(&self, arch: &DynArch) -> String {
        self.0.canonical_key(arch)
    }
    fn to_graph(&self, arch: &DynArch) -> ArchGraph {
        self.0.to_graph(arch)
    }
    fn encode(&self, arch: &DynArch) -> Vec<f32> {
        self.0.encode(arch)
    }
    fn size(&self) -> Option<u128> {
        self.0.size()
    }
    fn enumerate(&self) -> Option<Box<dyn Iterator<Item = DynArch> + '_>> {
        self.0.enumerate()
    }
    fn describe(&self, arch: &DynArch) -> Vec<(String, String)> {
        self.0.describe(arch)
    }
    fn params(&self, arch: &DynArch) -> Option<u64> {
        self.0.params(arch)
    }
    fn macs(&self, arch: &DynArch) -> Option<u64> {
        self.0.macs(arch)
    }
    fn failure(&self) -> Option<String> {
        self.0.failure()
    }
}

/// An estimator of typed architectures `A`, serving erased ones.
struct Typed<A, E> {
    inner: E,
    // fn(&A): Send and Sync whatever `A` is; the estimator holds no `A`.
    arch: PhantomData<fn(&A)>,
}

impl<A: 'static, E: Estimator<A>> Estimator<DynArch> for Typed<A, E> {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn evaluate(&mut self, arch: &DynArch, ctx: EvalContext) -> Result<Metrics, EvalError> {
        match arch.downcast_ref::<A>() {
            Some(a) => self.inner.evaluate(a, ctx),
            None => Err(EvalError::Invalid(format!("estimator `{}` cannot evaluate {arch:?}: it is of another space", self.inner.name()))),
        }
    }
    fn failure(&self) -> Option<String> {
        self.inner.failure()
    }
}

/// An estimator of `A`s as one of erased architectures (an architecture of
/// another type is an invalid trial, not a crash).
pub fn erase_estimator<A: 'static, E: Estimator<A> + 'static>(estimator: E) -> Box<dyn Estimator<DynArch>> {
    Box::new(Typed { inner: estimator, arch: PhantomData })
}
