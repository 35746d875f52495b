//! The evolution family's registry entries: each strategy by name, with
//! its parameters as experiment files write them.

use nasforge_core::{Objective, ParamError};
use nasforge_registry::{NoParams, Params, Registry, StrategyEntry};
use serde::{Deserialize, Serialize};

use crate::{
    LocalSearch, Nsga2, Nsga2Config, Nsga2Params, QMutation, QMutationConfig, QMutationParams, RandomSearch, RegularizedEvolution,
    RegularizedEvolutionConfig, RegularizedEvolutionParams,
};

/// `[strategy] name = "regularized-evolution"`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct RegularizedEvolutionToml {
    /// Population size P (the first P proposals are random).
    pub population: usize,
    /// Tournament size S.
    pub sample_size: usize,
}

impl Default for RegularizedEvolutionToml {
    fn default() -> Self {
        let d = RegularizedEvolutionParams::default();
        Self { population: d.population, sample_size: d.sample_size }
    }
}

impl Params for RegularizedEvolutionToml {
    type Checked = RegularizedEvolutionConfig;
    fn check(&self) -> Result<Self::Checked, ParamError> {
        RegularizedEvolutionParams::default().population(self.population).sample_size(self.sample_size).check()
    }
}

/// `[strategy] name = "local-search"`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct LocalSearchToml {
    /// Move at the first better neighbour instead of the best one.
    pub first_improvement: bool,
}

impl Params for LocalSearchToml {
    type Checked = bool;
    fn check(&self) -> Result<bool, ParamError> {
        Ok(self.first_improvement)
    }
}

/// `[strategy] name = "nsga2"`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Nsga2Toml {
    /// Population size N.
    #[serde(default = "nsga2_population")]
    pub population: usize,
    /// The objectives by metric name: `valid` and `test` maximised, every
    /// other metric minimised.
    pub objectives: Vec<String>,
    /// Probability that a child is a crossover of its parents.
    #[serde(default = "nsga2_crossover")]
    pub crossover_prob: f64,
    /// Probability that a child is mutated.
    #[serde(default = "nsga2_mutation")]
    pub mutation_prob: f64,
}

fn nsga2_population() -> usize {
    Nsga2Params::new(Vec::new()).population
}
fn nsga2_crossover() -> f64 {
    Nsga2Params::new(Vec::new()).crossover_prob
}
fn nsga2_mutation() -> f64 {
    Nsga2Params::new(Vec::new()).mutation_prob
}

/// NSGA-II's checked parameters with the objectives' names.
#[derive(Clone, Debug)]
pub struct Nsga2Checked {
    /// The checked config.
    pub config: Nsga2Config,
    /// The objectives as named.
    pub names: Vec<String>,
}

impl Params for Nsga2Toml {
    type Checked = Nsga2Checked;
    fn check(&self) -> Result<Nsga2Checked, ParamError> {
        let mut params = Nsga2Params::new(self.objectives.iter().map(|n| Objective::named(n)).collect());
        params.population = self.population;
        params.crossover_prob = self.crossover_prob;
        params.mutation_prob = self.mutation_prob;
        Ok(Nsga2Checked { config: params.check()?, names: self.objectives.clone() })
    }
    fn objectives(checked: &Nsga2Checked) -> Option<(&'static str, Vec<String>)> {
        Some(("objectives", checked.names.clone()))
    }
}

/// `[strategy] name = "q-mutation"`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct QMutationToml {
    /// Population size (aging).
    pub population: usize,
    /// Tournament size.
    pub sample_size: usize,
    /// Probability of a random action.
    pub epsilon: f64,
    /// Learning rate of the Q-values.
    pub alpha: f64,
}

impl Default for QMutationToml {
    fn default() -> Self {
        let d = QMutationParams::default();
        Self { population: d.population, sample_size: d.sample_size, epsilon: d.epsilon, alpha: d.alpha }
    }
}

impl Params for QMutationToml {
    type Checked = QMutationConfig;
    fn check(&self) -> Result<QMutationConfig, ParamError> {
        QMutationParams { population: self.population, sample_size: self.sample_size, epsilon: self.epsilon, alpha: self.alpha, ..Default::default() }
            .check()
    }
}

/// Registers random search, regularized evolution, local search, NSGA-II
/// and Q-learning mutation.
pub fn register(registry: &mut Registry) {
    registry
        .add_strategy(StrategyEntry::new::<NoParams>("random-search", "Independent uniform samples from the space.", |_, ctx| {
            Ok(Box::new(RandomSearch::new(ctx.seed)))
        }))
        .add_strategy(StrategyEntry::new::<RegularizedEvolutionToml>(
            "regularized-evolution",
            "Aging evolution (Real et al., AAAI 2019): tournament selection, single-choice mutation, the oldest member dies.",
            |c, ctx| Ok(Box::new(RegularizedEvolution::new(c.clone(), ctx.seed))),
        ))
        .add_strategy(StrategyEntry::new::<LocalSearchToml>(
            "local-search",
            "Hill climbing over the neighbourhood with restarts, no revisits by canonical key (White et al. 2020).",
            |first, ctx| Ok(Box::new(LocalSearch::new(*first, ctx.seed))),
        ))
        .add_strategy(StrategyEntry::new::<Nsga2Toml>(
            "nsga2",
            "NSGA-II (Deb et al. 2002): non-dominated sorting, crowding distance, binary tournaments, crossover where the space has one.",
            |c, ctx| Ok(Box::new(Nsga2::new(c.config.clone(), ctx.seed))),
        ))
        .add_strategy(StrategyEntry::new::<QMutationToml>(
            "q-mutation",
            "Aging evolution whose mutated decision is chosen by epsilon-greedy Q-learning on the fitness change.",
            |c, ctx| Ok(Box::new(QMutation::new(c.clone(), ctx.seed))),
        ));
}
