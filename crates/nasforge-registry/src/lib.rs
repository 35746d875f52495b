//! The component registry: every search space, strategy, estimator,
//! dataset and trainer by name, with its parameter type, the spaces it
//! serves, its builder and its description.
//!
//! A family crate exposes one registration function (a [`Family`]); a
//! binary is the families it adds:
//!
//! ```
//! use nasforge_registry::{NoParams, Registry, StrategyEntry};
//! # struct Mine;
//! # impl<S: nasforge_core::SearchSpace> nasforge_core::Strategy<S> for Mine {
//! #     fn name(&self) -> &str { "mine" }
//! #     fn ask(&mut self, _: &S) -> Option<S::Arch> { None }
//! #     fn tell(&mut self, _: &S, _: &S::Arch, _: &nasforge_core::Evaluation) {}
//! # }
//! fn my_family(registry: &mut Registry) {
//!     registry.add_strategy(StrategyEntry::new::<NoParams>("mine", "My strategy.", |_, _ctx| Ok(Box::new(Mine))));
//! }
//! let mut registry = Registry::new();
//! registry.add(my_family);
//! assert!(registry.strategy("mine").is_some());
//! ```
//!
//! The config checker reads parameters through the registry, so an
//! experiment file can name any registered component, and every mistake is
//! reported with file, line, column, key and the valid choices. Spaces are
//! composed at run time as [`ErasedSpace`]s (architectures as
//! [`DynArch`]); typed code that composes a stack itself keeps the
//! concrete types.

mod entry;
mod erased;
mod params;
mod registry;
mod source;
#[cfg(test)]
mod tests;

pub use entry::{
    About, Built, Configured, Data, DataKindFn, DatasetEntry, EstimatorContext, EstimatorEntry, ParamSpec, Serves, SpaceEntry, StrategyContext,
    StrategyEntry, TrainerContext, TrainerEntry,
};
pub use erased::{DynArch, DynSpace, ErasedSpace, erase_estimator};
pub use params::{DATA_ENV, DataDir, DataFile, NoParams, OutputDir, Params, fields_of};
pub use registry::{BuildError, Components, Family, Kind, Registry, Stack};
pub use source::{ConfigError, Document, Section, Source, array_of_tables, read_file};

pub use params::PathContext;
