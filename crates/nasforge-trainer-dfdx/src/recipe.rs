//! The training recipe as part of the searched configuration (FBNetV3's
//! joint architecture–recipe search, Dai et al., CVPR 2021).
//!
//! A `[trainer]` that lists values for `search-lr`, `search-epochs`,
//! `search-weight-decay` or `search-batch-size` turns the experiment's
//! space into a [`RecipeSpace`]: each architecture is the inner space's
//! architecture and one value of every searched hyper-parameter, written
//! `<architecture> @ lr=0.05 epochs=2 weight-decay=0.0005 batch-size=64`,
//! with the recipe's choices appended to the inner space's decisions. The
//! [`RecipeEstimator`] trains the inner architecture with that recipe.
//! Recipes change neither the network's parameters nor its MACs, which
//! the space reports as the inner space does.

use std::sync::Arc;

use nasforge_core::{ArchGraph, EvalContext, EvalError, Estimator, Metrics, ParseArchError, Rng, SearchSpace, TrainBudget, Trainer, TrainingEstimator};
use nasforge_engine::params::OptimizerConfig;
use rand::Rng as _;

use crate::ImageTrainConfig;

/// The searched values of each hyper-parameter (a fixed one has one).
#[derive(Clone, Debug, PartialEq)]
pub struct RecipeChoices {
    /// Learning rates.
    pub lr: Vec<f64>,
    /// Epochs.
    pub epochs: Vec<u32>,
    /// Weight decays.
    pub weight_decay: Vec<f64>,
    /// Batch sizes.
    pub batch_size: Vec<usize>,
}

/// One recipe: an index into each list of [`RecipeChoices`].
pub type Recipe = [u8; 4];

const KEYS: [&str; 4] = ["lr", "epochs", "weight-decay", "batch-size"];

impl RecipeChoices {
    fn sizes(&self) -> [usize; 4] {
        [self.lr.len(), self.epochs.len(), self.weight_decay.len(), self.batch_size.len()]
    }

    fn value(&self, which: usize, i: u8) -> String {
        let i = usize::from(i);
        match which {
            0 => self.lr[i].to_string(),
            1 => self.epochs[i].to_string(),
            2 => self.weight_decay[i].to_string(),
            _ => self.batch_size[i].to_string(),
        }
    }

    /// The training configuration and budget `recipe` makes of `base`.
    pub fn apply(&self, recipe: &Recipe, base: &ImageTrainConfig, budget: &TrainBudget) -> (ImageTrainConfig, TrainBudget) {
        let mut config = base.clone();
        let (lr, wd) = (self.lr[usize::from(recipe[0])], self.weight_decay[usize::from(recipe[2])]);
        config.optimizer = match config.optimizer {
            OptimizerConfig::Sgd { momentum, nesterov, .. } => OptimizerConfig::Sgd { lr, momentum, nesterov, weight_decay: wd },
            OptimizerConfig::Adam { .. } => OptimizerConfig::Adam { lr, weight_decay: wd },
        };
        config.batch_size = self.batch_size[usize::from(recipe[3])];
        let budget = TrainBudget { epochs: Some(self.epochs[usize::from(recipe[1])]), ..budget.clone() };
        (config, budget)
    }
}

/// An inner space with a recipe per architecture.
#[derive(Clone, Debug)]
pub struct RecipeSpace<S> {
    inner: S,
    choices: Arc<RecipeChoices>,
    name: String,
}

impl<S: SearchSpace> RecipeSpace<S> {
    /// `inner` with these recipes.
    pub fn new(inner: S, choices: RecipeChoices) -> Self {
        let name = inner.name().to_owned();
        RecipeSpace { inner, choices: Arc::new(choices), name }
    }

    /// The recipes.
    pub fn choices(&self) -> &RecipeChoices {
        &self.choices
    }

    fn recipe_text(&self, r: &Recipe) -> String {
        KEYS.iter().enumerate().map(|(k, key)| format!("{key}={}", self.choices.value(k, r[k]))).collect::<Vec<_>>().join(" ")
    }

    /// The searched hyper-parameters (those with more than one value).
    fn searched(&self) -> Vec<usize> {
        (0..4).filter(|&k| self.choices.sizes()[k] > 1).collect()
    }
}

impl<S: SearchSpace> SearchSpace for RecipeSpace<S> {
    type Arch = (S::Arch, Recipe);

    fn name(&self) -> &str {
        &self.name
    }

    fn sample(&self, rng: &mut Rng) -> Self::Arch {
        let arch = self.inner.sample(rng);
        let sizes = self.choices.sizes();
        (arch, std::array::from_fn(|k| rng.random_range(0..sizes[k]) as u8))
    }

    fn neighbours(&self, (arch, recipe): &Self::Arch) -> Vec<Self::Arch> {
        let mut out: Vec<Self::Arch> = self.inner.neighbours(arch).into_iter().map(|a| (a, *recipe)).collect();
        for k in self.searched() {
            for v in 0..self.choices.sizes()[k] as u8 {
                if v != recipe[k] {
                    let mut r = *recipe;
                    r[k] = v;
                    out.push((arch.clone(), r));
                }
            }
        }
        out
    }

    fn format(&self, (arch, recipe): &Self::Arch) -> String {
        format!("{} @ {}", self.inner.format(arch), self.recipe_text(recipe))
    }

    fn parse(&self, s: &str) -> Result<Self::Arch, ParseArchError> {
        let err = |reason: String| ParseArchError { space: self.name.clone(), input: s.into(), reason };
        let (arch, recipe) = s.rsplit_once(" @ ").ok_or_else(|| err("expected `<architecture> @ lr=… epochs=… weight-decay=… batch-size=…`".into()))?;
        let arch = self.inner.parse(arch)?;
        let mut out = [u8::MAX; 4];
        for part in recipe.split_whitespace() {
            let (key, value) = part.split_once('=').ok_or_else(|| err(format!("`{part}` is not key=value")))?;
            let k = KEYS.iter().position(|&n| n == key).ok_or_else(|| err(format!("unknown recipe key `{key}`; the keys: {}", KEYS.join(", "))))?;
            let i = (0..self.choices.sizes()[k]).find(|&i| self.choices.value(k, i as u8) == value).ok_or_else(|| err(format!("`{key}={value}` is not one of the searched values")))?;
            out[k] = i as u8;
        }
        if let Some(k) = out.iter().position(|&v| v == u8::MAX) {
            return Err(err(format!("no `{}` in the recipe", KEYS[k])));
        }
        Ok((arch, out))
    }

    fn canonical_key(&self, (arch, recipe): &Self::Arch) -> String {
        format!("{} @ {}", self.inner.canonical_key(arch), self.recipe_text(recipe))
    }

    /// The inner graph with the recipe as a `recipe` attribute of its
    /// first node: the adjacency encoding sees it; readers of operations
    /// alone (BANANAS' paths, GENNAPE, the zero-cost proxies) do not, so a
    /// recipe search reads the one-hot or decision encodings.
    fn to_graph(&self, (arch, recipe): &Self::Arch) -> ArchGraph {
        let mut g = self.inner.to_graph(arch);
        if let Some(first) = g.nodes.first_mut() {
            first.attrs.insert("recipe".into(), nasforge_core::AttrValue::Text(self.recipe_text(recipe)));
        }
        g
    }

    fn encode(&self, (arch, recipe): &Self::Arch) -> Vec<f32> {
        let mut v = self.inner.encode(arch);
        for (k, &n) in self.choices.sizes().iter().enumerate() {
            v.extend((0..n).map(|i| if i == usize::from(recipe[k]) { 1.0 } else { 0.0 }));
        }
        v
    }

    fn decisions(&self) -> Option<Vec<usize>> {
        let mut d = self.inner.decisions()?;
        d.extend(self.searched().into_iter().map(|k| self.choices.sizes()[k]));
        Some(d)
    }

    fn arch_from_decisions(&self, choices: &[usize]) -> Option<Self::Arch> {
        let searched = self.searched();
        let split = choices.len().checked_sub(searched.len())?;
        let arch = self.inner.arch_from_decisions(&choices[..split])?;
        let mut recipe = [0u8; 4];
        for (&k, &c) in searched.iter().zip(&choices[split..]) {
            if c >= self.choices.sizes()[k] {
                return None;
            }
            recipe[k] = c as u8;
        }
        Some((arch, recipe))
    }

    fn arch_decisions(&self, (arch, recipe): &Self::Arch) -> Option<Vec<usize>> {
        let mut d = self.inner.arch_decisions(arch)?;
        d.extend(self.searched().into_iter().map(|k| usize::from(recipe[k])));
        Some(d)
    }

    fn size(&self) -> Option<u128> {
        Some(self.inner.size()? * self.choices.sizes().iter().map(|&n| n as u128).product::<u128>())
    }

    fn describe(&self, (arch, recipe): &Self::Arch) -> Vec<(String, String)> {
        let mut d = self.inner.describe(arch);
        d.extend(KEYS.iter().enumerate().map(|(k, key)| ((*key).to_owned(), self.choices.value(k, recipe[k]))));
        d
    }

    fn params(&self, (arch, _): &Self::Arch) -> Option<u64> {
        self.inner.params(arch)
    }

    fn macs(&self, (arch, _): &Self::Arch) -> Option<u64> {
        self.inner.macs(arch)
    }
}

/// Trains each architecture with its recipe: a trainer built from the
/// recipe's configuration, for the recipe's epochs.
pub struct RecipeEstimator<T> {
    choices: Arc<RecipeChoices>,
    base: ImageTrainConfig,
    budget: TrainBudget,
    make: Box<dyn Fn(ImageTrainConfig) -> T + Send>,
}

impl<T> RecipeEstimator<T> {
    /// Trainers from `make`, configured from `base` and `budget` with each
    /// architecture's recipe.
    pub fn new(choices: &RecipeChoices, base: ImageTrainConfig, budget: TrainBudget, make: impl Fn(ImageTrainConfig) -> T + Send + 'static) -> Self {
        RecipeEstimator { choices: Arc::new(choices.clone()), base, budget, make: Box::new(make) }
    }
}

impl<A, T: Trainer<A>> Estimator<(A, Recipe)> for RecipeEstimator<T> {
    fn name(&self) -> &str {
        "dfdx-train"
    }

    fn evaluate(&mut self, (arch, recipe): &(A, Recipe), ctx: EvalContext) -> Result<Metrics, EvalError> {
        let (config, budget) = self.choices.apply(recipe, &self.base, &self.budget);
        TrainingEstimator::new((self.make)(config), budget).evaluate(arch, ctx)
    }
}

#[cfg(test)]
mod tests {
    use nasforge_core::seeded_rng;
    use nasforge_space_nb201::Nb201Space;

    use super::*;

    fn space() -> RecipeSpace<Nb201Space> {
        RecipeSpace::new(Nb201Space, RecipeChoices { lr: vec![0.01, 0.05, 0.1], epochs: vec![1, 2], weight_decay: vec![5e-4], batch_size: vec![32, 64] })
    }

    #[test]
    fn the_recipe_space_keeps_every_space_law() {
        nasforge_core::laws::check(&space(), &mut seeded_rng(3), 200).unwrap();
        let s = space();
        assert_eq!(s.decisions().unwrap().len(), 6 + 3, "weight decay is fixed, so not a decision");
        let a = s.parse("|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2| @ lr=0.05 epochs=2 weight-decay=0.0005 batch-size=32").unwrap();
        assert_eq!(a.1, [1, 1, 0, 0]);
        assert!(s.parse("|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2| @ lr=0.07 epochs=2 weight-decay=0.0005 batch-size=32").is_err());
        let (config, budget) = s.choices().apply(&a.1, &ImageTrainConfig::default(), &TrainBudget::default());
        assert_eq!((config.optimizer.lr(), config.batch_size, budget.epochs), (0.05, 32, Some(2)));
    }
}
