//! FBNetV3's predictor-guided joint search (Dai et al., "FBNetV3: Joint
//! Architecture-Recipe Search using Predictor Pretraining", CVPR 2021),
//! over any space, typically a recipe space (`search-*` keys of the
//! `[trainer]`, `nasforge_trainer_dfdx::recipe`), so that architecture
//! and training recipe are chosen together.
//!
//! 1. Predictor pre-training on architecture statistics: an MLP over the
//!    configuration's encoding learns the (standardised, log) parameter
//!    count and MACs (those the space counts: NB201 counts parameters
//!    only) of `pretrain` (2,000) sampled configurations, which cost no
//!    training; a space that counts neither skips this step.
//! 2. Iterative optimisation (the paper's constrained iterative
//!    optimisation, without a resource constraint): `initial` (10) random
//!    configurations are evaluated; then each round the predictor's head
//!    is replaced by an accuracy head and the whole predictor fine-tuned
//!    on every evaluation (MSE, standardised labels), a pool of
//!    `candidates` (1,000) fresh samples is ranked, and the `top-k` (5)
//!    never proposed (by canonical key) are evaluated.
//!
//! Deviations: the paper draws its initial and candidate pools by Sobol
//! quasi-Monte-Carlo within resource constraints and ranks candidates
//! with early-stopped training before full training; here pools are
//! uniform samples, every evaluation is the estimator's, and the final
//! predictor-based evolutionary search stage is not run. The paper trains
//! its predictor with a Huber loss, first with the pre-trained layers
//! frozen and then all of them at a tenth of the learning rate; here each
//! round fine-tunes every layer at one rate with the mean squared error.

use nasforge_core::{SearchSpace, derive_seed};

use crate::guided::{self, Guided};
use crate::mlp::{Loss, Mlp};
use crate::{Features, standardise};

/// FBNetV3's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct FbnetV3Config {
    /// Random configurations first (10).
    pub initial: usize,
    /// Evaluations per round (5).
    pub top_k: usize,
    /// Candidates ranked per round (1,000).
    pub candidates: usize,
    /// Configurations the predictor pre-trains on (2,000).
    pub pretrain: usize,
    /// The predictor's hidden layers (2) and width (64).
    pub layers: usize,
    /// See `layers`.
    pub width: usize,
    /// Pre-training epochs (50) and fine-tuning epochs (200).
    pub pretrain_epochs: usize,
    /// See `pretrain_epochs`.
    pub epochs: usize,
    /// Adam's learning rate (1e-3).
    pub lr: f64,
}

impl Default for FbnetV3Config {
    fn default() -> Self {
        FbnetV3Config { initial: 10, top_k: 5, candidates: 1_000, pretrain: 2_000, layers: 2, width: 64, pretrain_epochs: 50, epochs: 200, lr: 1e-3 }
    }
}

/// The strategy over configurations of type `A`.
pub struct FbnetV3<A> {
    config: FbnetV3Config,
    seed: u64,
    g: Guided<A>,
    /// The predictor pre-trained on statistics (built at the first round).
    pretrained: Option<Option<Mlp>>,
}

impl<A: Clone> FbnetV3<A> {
    /// FBNetV3 on `features` (the configuration's encoding).
    pub fn new(config: FbnetV3Config, features: Features, seed: u64) -> Self {
        FbnetV3 { config, seed, g: Guided::new(features, seed), pretrained: None }
    }

    fn flat(rows: &[Vec<f64>]) -> Vec<f32> {
        rows.iter().flat_map(|r| r.iter().map(|&v| if v.is_finite() { v as f32 } else { 0.0 })).collect()
    }

    /// The MLP pre-trained on log parameters and MACs (those the space
    /// counts; `None` when it counts neither).
    fn pretrain<S: SearchSpace<Arch = A>>(&mut self, space: &S) -> Option<Mlp> {
        let c = &self.config;
        if c.pretrain == 0 {
            return None;
        }
        let mut rng = nasforge_core::seeded_rng(derive_seed(self.seed, "pretrain-samples"));
        let probe = space.sample(&mut rng);
        let (use_params, use_macs) = (space.params(&probe).is_some(), space.macs(&probe).is_some());
        let k = usize::from(use_params) + usize::from(use_macs);
        if k == 0 {
            return None;
        }
        let mut rows = Vec::with_capacity(c.pretrain);
        let mut stats: Vec<Vec<f64>> = vec![Vec::with_capacity(c.pretrain); k];
        for _ in 0..c.pretrain {
            let a = space.sample(&mut rng);
            let mut col = 0;
            for (on, v) in [(use_params, space.params(&a)), (use_macs, space.macs(&a))] {
                if on {
                    stats[col].push((v? as f64 + 1.0).ln());
                    col += 1;
                }
            }
            rows.push(self.g.features.row(space, &a));
        }
        let mut targets = vec![0.0f32; k * rows.len()];
        for (col, values) in stats.iter().enumerate() {
            let (z, _) = standardise(values).ok()?;
            for (i, v) in z.into_iter().enumerate() {
                targets[k * i + col] = v as f32;
            }
        }
        let width = self.g.features.width();
        let mut mlp = Mlp::new(width, c.layers, c.width, k, derive_seed(self.seed, "predictor"));
        mlp.train(&Self::flat(&rows), &targets, width, k, c.pretrain_epochs, 64, c.lr, Loss::Mse, derive_seed(self.seed, "pretrain-batches"));
        Some(mlp)
    }

    fn round<S: SearchSpace<Arch = A>>(&mut self, space: &S) {
        if self.pretrained.is_none() {
            self.pretrained = Some(self.pretrain(space));
        }
        let width = self.g.features.width();
        let c = self.config.clone();
        let round = self.g.fits;
        self.g.fits += 1;
        let (x, y) = self.g.training_set();
        let model = standardise(&y).ok().map(|(z, _)| {
            let mut mlp = match self.pretrained.as_ref().and_then(Option::as_ref) {
                Some(pre) => {
                    let mut m = pre.clone();
                    m.replace_head(1, derive_seed(self.seed, &format!("head-{round}")));
                    m
                }
                None => Mlp::new(width, c.layers, c.width, 1, derive_seed(self.seed, &format!("predictor-{round}"))),
            };
            let labels: Vec<f32> = z.iter().map(|&v| v as f32).collect();
            mlp.train(&Self::flat(&x), &labels, width, 1, c.epochs, 32, c.lr, Loss::Mse, derive_seed(self.seed, &format!("fine-tune-{round}")));
            mlp
        });
        let mut pool: Vec<A> = Vec::with_capacity(c.candidates);
        let mut keys = std::collections::HashSet::new();
        for _ in 0..c.candidates {
            let a = space.sample(&mut self.g.rng);
            let key = space.canonical_key(&a);
            if !self.g.seen.contains(&key) && keys.insert(key) {
                pool.push(a);
            }
        }
        let rows: Vec<Vec<f64>> = pool.iter().map(|a| self.g.features.row(space, a)).collect();
        let scores: Vec<f32> = match &model {
            Some(m) => m.predict(&Self::flat(&rows), rows.len(), width),
            None => vec![0.0; rows.len()],
        };
        let refs: Vec<&A> = pool.iter().collect();
        self.g.enqueue_best(&refs, None, &scores, c.top_k);
    }
}

guided::round_strategy!(FbnetV3, |s| "fbnetv3");
