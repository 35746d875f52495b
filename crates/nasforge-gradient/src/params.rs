//! The one-shot strategies' TOML tables: the keys every one of them
//! reads (in one general form, [`OneShotToml`], that the checks run on),
//! then each strategy's own ([`DartsToml`], ...). A key that belongs to
//! another method (`tau-max` in a `darts` section) is an error naming
//! its owner.

use nasforge_core::ParamError;
use nasforge_engine::params::OptimizerConfig;
use nasforge_registry::Params;
use serde::{Deserialize, Serialize};

use crate::config::{Distillation, EarlyStop, EvolutionConfig, HessianConfig, Method, OneShotConfig, PerturbationConfig, Selection};
use crate::train::{Optimisers, Schedule, Weighting};

/// Every one-shot strategy's keys in one table: the general form each
/// strategy's own table ([`DartsToml`], ...) is checked through.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct OneShotToml {
    /// Channels of the first stage (16).
    #[serde(default = "d_channels")]
    pub channels: usize,
    /// NAS-Bench-201: cells per stage (5, its search network's); DARTS:
    /// cells in all (8).
    pub cells: Option<usize>,
    /// Epochs of supernet training (the reference's: darts 50, gdas,
    /// rsps and spos 250, darts-pt 100).
    pub epochs: Option<usize>,
    /// Images per batch (64).
    #[serde(default = "d_batch")]
    pub batch_size: usize,
    /// The weights' initial learning rate (0.025), cosine-annealed to `lr-min`.
    #[serde(default = "d_lr")]
    pub lr: f64,
    /// The weights' final learning rate (0.001).
    #[serde(default = "d_lr_min")]
    pub lr_min: f64,
    /// The weights' momentum (0.9).
    #[serde(default = "d_momentum")]
    pub momentum: f64,
    /// Nesterov momentum (true, the NB201 reference's; Liu et al.'s
    /// DARTS search uses plain momentum and weight decay 3e-4).
    #[serde(default = "d_nesterov")]
    pub nesterov: bool,
    /// The weights' L2 weight decay (5e-4).
    #[serde(default = "d_wd")]
    pub weight_decay: f64,
    /// The weights' gradient-norm clip (5).
    #[serde(default = "d_clip")]
    pub clip: f64,
    /// α's Adam learning rate (3e-4).
    #[serde(default = "d_arch_lr")]
    pub arch_lr: f64,
    /// α's Adam weight decay (1e-3).
    #[serde(default = "d_arch_wd")]
    pub arch_weight_decay: f64,
    /// The weights' schedule: `cosine` (DARTS) or `cosine-power`
    /// (sharpDARTS' cosine power annealing).
    pub lr_schedule: Option<String>,
    /// `cosine-power`'s exponent p (2, sharpDARTS' command-line default).
    pub lr_power: Option<f64>,
    /// darts: `softmax` (DARTS) or `max-w` (sharpDARTS' Max-W weighting).
    pub weighting: Option<String>,
    /// The DARTS supernet's dilated candidates as sharpDARTS' SharpSepConv
    /// (false).
    #[serde(default)]
    pub sharp_sep_conv: bool,
    /// Track the dominant Hessian eigenvalue each epoch (false).
    #[serde(default)]
    pub hessian: bool,
    /// Power-iteration steps per tracked epoch (20).
    pub hessian_iterations: Option<usize>,
    /// Batches of α's half the tracked loss is taken on (1).
    pub hessian_batches: Option<usize>,
    /// Stop when the eigenvalue rises (RobustDARTS' rule; false).
    pub early_stop: Option<bool>,
    /// Uniform cells whose supernet accuracy is journaled after training (0).
    #[serde(default)]
    pub ranking_sample: usize,
    /// Batches each ranked cell is scored on (4).
    #[serde(default = "d_ranking_batches")]
    pub ranking_batches: usize,
    /// darts: 1 (first order, DARTS-V1) or 2 (second order, DARTS-V2).
    pub order: Option<u8>,
    /// gdas: τ of the first epoch (10).
    pub tau_max: Option<f64>,
    /// gdas: τ of the last epoch (0.1).
    pub tau_min: Option<f64>,
    /// rsps: cells sampled for the final choice (100).
    pub candidates: Option<usize>,
    /// spos: population (50).
    pub population: Option<usize>,
    /// spos: generations (20).
    pub generations: Option<usize>,
    /// spos: parents kept per generation (10).
    pub parents: Option<usize>,
    /// spos: per-edge mutation probability (0.1).
    pub mutation_prob: Option<f64>,
    /// spos, darts-pt: batches of α's half a candidate is scored on (spos 4, darts-pt 10).
    pub score_batches: Option<usize>,
    /// darts-pt: the supernet projected, `darts` (trained α) or `fixed-alpha`.
    pub supernet: Option<String>,
    /// darts-pt: epochs of fine-tuning after each decision (1; the reference's 5).
    pub finetune_epochs: Option<usize>,
    /// sd-darts: previous steps' supernets kept as teachers (2).
    pub teachers: Option<usize>,
    /// sd-darts: the softening temperature τ (2).
    pub temperature: Option<f64>,
    /// sd-darts: the distillation term's weight (1).
    pub distill_weight: Option<f64>,
    /// rarts: λ, the training loss' weight in the objective (1).
    pub lambda: Option<f64>,
    /// rarts: β, the penalty coupling the two weight sets (1).
    pub beta: Option<f64>,
}

fn d_channels() -> usize {
    16
}
fn d_batch() -> usize {
    64
}
fn d_lr() -> f64 {
    0.025
}
fn d_lr_min() -> f64 {
    0.001
}
fn d_momentum() -> f64 {
    0.9
}
fn d_nesterov() -> bool {
    true
}
fn d_wd() -> f64 {
    5e-4
}
fn d_clip() -> f64 {
    5.0
}
fn d_arch_lr() -> f64 {
    3e-4
}
fn d_arch_wd() -> f64 {
    1e-3
}
fn d_ranking_batches() -> usize {
    4
}

impl Default for OneShotToml {
    fn default() -> Self {
        toml::from_str("").expect("every key has a default")
    }
}

/// Which strategy a table configures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Darts,
    Gdas,
    Rsps,
    Spos,
    DartsPt,
    SdDarts,
    Rarts,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Darts => "darts",
            Kind::Gdas => "gdas",
            Kind::Rsps => "rsps",
            Kind::Spos => "spos",
            Kind::DartsPt => "darts-pt",
            Kind::SdDarts => "sd-darts",
            Kind::Rarts => "rarts",
        }
    }

    fn epochs(self) -> usize {
        match self {
            Kind::Darts | Kind::SdDarts | Kind::Rarts => 50,
            Kind::DartsPt => 100,
            Kind::Gdas | Kind::Rsps | Kind::Spos => 250,
        }
    }
}

fn bad(key: &'static str, reason: impl Into<String>) -> ParamError {
    ParamError { key, reason: reason.into() }
}

fn positive(key: &'static str, v: usize) -> Result<usize, ParamError> {
    if v == 0 { Err(bad(key, "must be at least 1")) } else { Ok(v) }
}

fn finite(key: &'static str, v: f64, min: f64) -> Result<f64, ParamError> {
    if v.is_finite() && v >= min { Ok(v) } else { Err(bad(key, format!("must be a finite number ≥ {min}, got {v}"))) }
}

impl OneShotToml {
    /// The method-specific keys set, with the strategies that read each.
    fn specific(&self) -> Vec<(&'static str, &'static [Kind])> {
        let mut out = Vec::new();
        let mut add = |set: bool, key: &'static str, owners: &'static [Kind]| {
            if set {
                out.push((key, owners));
            }
        };
        add(self.order.is_some(), "order", &[Kind::Darts, Kind::SdDarts]);
        add(self.weighting.is_some(), "weighting", &[Kind::Darts, Kind::SdDarts, Kind::Rarts]);
        add(self.tau_max.is_some(), "tau-max", &[Kind::Gdas]);
        add(self.tau_min.is_some(), "tau-min", &[Kind::Gdas]);
        add(self.candidates.is_some(), "candidates", &[Kind::Rsps]);
        add(self.population.is_some(), "population", &[Kind::Spos]);
        add(self.generations.is_some(), "generations", &[Kind::Spos]);
        add(self.parents.is_some(), "parents", &[Kind::Spos]);
        add(self.mutation_prob.is_some(), "mutation-prob", &[Kind::Spos]);
        add(self.score_batches.is_some(), "score-batches", &[Kind::Spos, Kind::DartsPt]);
        add(self.supernet.is_some(), "supernet", &[Kind::DartsPt]);
        add(self.finetune_epochs.is_some(), "finetune-epochs", &[Kind::DartsPt]);
        add(self.teachers.is_some(), "teachers", &[Kind::SdDarts]);
        add(self.temperature.is_some(), "temperature", &[Kind::SdDarts]);
        add(self.distill_weight.is_some(), "distill-weight", &[Kind::SdDarts]);
        add(self.lambda.is_some(), "lambda", &[Kind::Rarts]);
        add(self.beta.is_some(), "beta", &[Kind::Rarts]);
        out
    }

    fn check_for(&self, kind: Kind) -> Result<OneShotConfig, ParamError> {
        for (key, owners) in self.specific() {
            if !owners.contains(&kind) {
                let names: Vec<&str> = owners.iter().map(|k| k.name()).collect();
                return Err(bad(key, format!("is a setting of `{}`; strategy `{}` does not read it", names.join("` and `"), kind.name())));
            }
        }
        if !self.hessian && (self.hessian_iterations.is_some() || self.hessian_batches.is_some() || self.early_stop.is_some()) {
            let key = if self.hessian_iterations.is_some() { "hessian-iterations" } else if self.hessian_batches.is_some() { "hessian-batches" } else { "early-stop" };
            return Err(bad(key, "tunes the Hessian tracker, which is off: add `hessian = true`"));
        }
        let finite_pos = |key, v: f64| -> Result<f64, ParamError> {
            if v.is_finite() && v > 0.0 { Ok(v) } else { Err(bad(key, format!("must be a finite number > 0, got {v}"))) }
        };
        let lr = finite_pos("lr", self.lr)?;
        let lr_min = finite("lr-min", self.lr_min, 0.0)?;
        if lr_min > lr {
            return Err(bad("lr-min", format!("must not exceed `lr` ({lr}), got {lr_min}")));
        }
        let momentum = finite("momentum", self.momentum, 0.0)?;
        if momentum >= 1.0 {
            return Err(bad("momentum", format!("must be below 1, got {momentum}")));
        }
        let schedule = match self.lr_schedule.as_deref() {
            None | Some("cosine") => {
                if self.lr_power.is_some() {
                    return Err(bad("lr-power", "is the exponent of `lr-schedule = \"cosine-power\"`"));
                }
                Schedule::Cosine
            }
            Some("cosine-power") => Schedule::CosinePower(finite("lr-power", self.lr_power.unwrap_or(2.0), 1.0)?),
            Some(other) => return Err(bad("lr-schedule", format!("unknown schedule `{other}`; choose one of: cosine, cosine-power"))),
        };
        let weighting = match self.weighting.as_deref() {
            None | Some("softmax") => Weighting::Softmax,
            Some("max-w") => Weighting::MaxW,
            Some(other) => return Err(bad("weighting", format!("unknown weighting `{other}`; choose one of: softmax, max-w"))),
        };
        let method = match kind {
            Kind::Darts | Kind::SdDarts => match self.order.unwrap_or(1) {
                1 => Method::Darts { second_order: false },
                2 => Method::Darts { second_order: true },
                o => return Err(bad("order", format!("is 1 (first order) or 2 (second order), got {o}"))),
            },
            Kind::Gdas => {
                let tau_max = finite_pos("tau-max", self.tau_max.unwrap_or(10.0))?;
                let tau_min = finite_pos("tau-min", self.tau_min.unwrap_or(0.1))?;
                if tau_min > tau_max {
                    return Err(bad("tau-min", format!("must not exceed `tau-max` ({tau_max}), got {tau_min}")));
                }
                Method::Gdas { tau_max, tau_min }
            }
            Kind::Rarts => Method::Rarts { lambda: finite("lambda", self.lambda.unwrap_or(1.0), 0.0)?, beta: finite("beta", self.beta.unwrap_or(1.0), 0.0)? },
            Kind::Rsps | Kind::Spos => Method::UniformPaths,
            Kind::DartsPt => match self.supernet.as_deref().unwrap_or("darts") {
                "darts" => Method::Darts { second_order: false },
                "fixed-alpha" => Method::FixedAlpha,
                other => return Err(bad("supernet", format!("unknown supernet `{other}`; choose one of: darts, fixed-alpha"))),
            },
        };
        let selection = match kind {
            Kind::Darts | Kind::Gdas | Kind::SdDarts | Kind::Rarts => Selection::Magnitude,
            Kind::Rsps => Selection::Sampled { candidates: positive("candidates", self.candidates.unwrap_or(100))? },
            Kind::Spos => {
                let population = positive("population", self.population.unwrap_or(50))?;
                let parents = positive("parents", self.parents.unwrap_or(10))?;
                if parents > population {
                    return Err(bad("parents", format!("must not exceed `population` ({population}), got {parents}")));
                }
                let mutation_prob = self.mutation_prob.unwrap_or(0.1);
                if !(0.0..=1.0).contains(&mutation_prob) {
                    return Err(bad("mutation-prob", format!("must be in [0, 1], got {mutation_prob}")));
                }
                Selection::Evolution(EvolutionConfig {
                    population,
                    generations: positive("generations", self.generations.unwrap_or(20))?,
                    parents,
                    mutation_prob,
                    score_batches: positive("score-batches", self.score_batches.unwrap_or(4))?,
                })
            }
            Kind::DartsPt => Selection::Perturbation(PerturbationConfig {
                finetune_epochs: self.finetune_epochs.unwrap_or(1),
                score_batches: positive("score-batches", self.score_batches.unwrap_or(10))?,
            }),
        };
        // The tracker differentiates DARTS' objective in α: meaningless
        // where α is sampled (GDAS) or not trained at all.
        if self.hessian && !matches!(method, Method::Darts { .. }) {
            return Err(bad("hessian", "tracks the curvature of DARTS' objective in α: `darts`, `sd-darts`, and `darts-pt` on `supernet = \"darts\"`"));
        }
        let distillation = (kind == Kind::SdDarts)
            .then(|| -> Result<Distillation, ParamError> {
                Ok(Distillation {
                    teachers: positive("teachers", self.teachers.unwrap_or(2))?,
                    temperature: finite_pos("temperature", self.temperature.unwrap_or(2.0))?,
                    weight: finite("distill-weight", self.distill_weight.unwrap_or(1.0), 0.0)?,
                })
            })
            .transpose()?;
        let hessian = self.hessian.then(|| -> Result<HessianConfig, ParamError> {
            Ok(HessianConfig {
                iterations: positive("hessian-iterations", self.hessian_iterations.unwrap_or(20))?,
                batches: positive("hessian-batches", self.hessian_batches.unwrap_or(1))?,
                early_stop: self.early_stop.unwrap_or(false).then_some(EarlyStop { window: 5, delta: 4, factor: 1.3, start: 10 }),
            })
        });
        Ok(OneShotConfig {
            method,
            selection,
            channels: positive("channels", self.channels)?,
            cells: self.cells.map(|c| positive("cells", c)).transpose()?,
            sharp_sep_conv: self.sharp_sep_conv,
            epochs: positive("epochs", self.epochs.unwrap_or(kind.epochs()))?,
            batch_size: positive("batch-size", self.batch_size)?,
            optimisers: Optimisers {
                weights: OptimizerConfig::Sgd { lr, momentum, nesterov: self.nesterov, weight_decay: finite("weight-decay", self.weight_decay, 0.0)? },
                lr_min,
                clip: finite_pos("clip", self.clip)?,
                alpha: OptimizerConfig::Adam { lr: finite_pos("arch-lr", self.arch_lr)?, weight_decay: finite("arch-weight-decay", self.arch_weight_decay, 0.0)? },
                alpha_betas: (0.5, 0.999),
                schedule,
                weighting,
            },
            distillation,
            hessian: hessian.transpose()?,
            ranking_sample: self.ranking_sample,
            ranking_batches: positive("ranking-batches", self.ranking_batches)?,
        })
    }

    /// Every default the strategy reads written out.
    fn resolved_for(&self, kind: Kind, c: &OneShotConfig) -> Self {
        let mut out = self.clone();
        out.epochs = Some(c.epochs);
        match c.optimisers.schedule {
            Schedule::Cosine => out.lr_schedule = Some("cosine".into()),
            Schedule::CosinePower(p) => (out.lr_schedule, out.lr_power) = (Some("cosine-power".into()), Some(p)),
        }
        if matches!(kind, Kind::Darts | Kind::SdDarts | Kind::Rarts) {
            out.weighting = Some(if c.optimisers.weighting == Weighting::MaxW { "max-w" } else { "softmax" }.into());
        }
        if let Some(h) = &c.hessian {
            out.hessian_iterations = Some(h.iterations);
            out.hessian_batches = Some(h.batches);
            out.early_stop = Some(h.early_stop.is_some());
        }
        match (&c.method, kind) {
            (Method::Darts { second_order }, Kind::Darts | Kind::SdDarts) => out.order = Some(if *second_order { 2 } else { 1 }),
            (Method::Rarts { lambda, beta }, _) => (out.lambda, out.beta) = (Some(*lambda), Some(*beta)),
            (Method::Gdas { tau_max, tau_min }, _) => (out.tau_max, out.tau_min) = (Some(*tau_max), Some(*tau_min)),
            (m, Kind::DartsPt) => out.supernet = Some(if *m == Method::FixedAlpha { "fixed-alpha" } else { "darts" }.to_owned()),
            _ => {}
        }
        match &c.selection {
            Selection::Magnitude => {}
            Selection::Sampled { candidates } => out.candidates = Some(*candidates),
            Selection::Evolution(e) => {
                (out.population, out.generations, out.parents) = (Some(e.population), Some(e.generations), Some(e.parents));
                (out.mutation_prob, out.score_batches) = (Some(e.mutation_prob), Some(e.score_batches));
            }
            Selection::Perturbation(p) => (out.finetune_epochs, out.score_batches) = (Some(p.finetune_epochs), Some(p.score_batches)),
        }
        if let Some(d) = &c.distillation {
            (out.teachers, out.temperature, out.distill_weight) = (Some(d.teachers), Some(d.temperature), Some(d.weight));
        }
        out
    }
}

/// One strategy's table: the keys every one-shot strategy reads, then its
/// own; `deny_unknown_fields` refuses another method's key with the valid
/// choices. Checked through the general form, [`OneShotToml`].
macro_rules! one_shot_params {
    ($($(#[$doc:meta])* $ty:ident => $kind:expr, { $($(#[$fdoc:meta])* $field:ident: $fty:ty),* $(,)? };)*) => {$(
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        #[serde(rename_all = "kebab-case", deny_unknown_fields)]
        pub struct $ty {
            #[doc = "Channels of the first stage (16)."]
            #[serde(default = "d_channels")]
            pub channels: usize,
            #[doc = "NAS-Bench-201: cells per stage (5, its search network's); DARTS: cells in all (8)."]
            pub cells: Option<usize>,
            #[doc = "Epochs of supernet training (the reference's: darts 50, gdas, rsps and spos 250, darts-pt 100)."]
            pub epochs: Option<usize>,
            #[doc = "Images per batch (64)."]
            #[serde(default = "d_batch")]
            pub batch_size: usize,
            #[doc = "The weights' initial learning rate (0.025)."]
            #[serde(default = "d_lr")]
            pub lr: f64,
            #[doc = "The weights' final learning rate (0.001)."]
            #[serde(default = "d_lr_min")]
            pub lr_min: f64,
            #[doc = "The weights' momentum (0.9)."]
            #[serde(default = "d_momentum")]
            pub momentum: f64,
            #[doc = "Nesterov momentum (true, the NB201 reference's; Liu et al.'s DARTS search uses plain momentum and weight decay 3e-4)."]
            #[serde(default = "d_nesterov")]
            pub nesterov: bool,
            #[doc = "The weights' L2 weight decay (5e-4)."]
            #[serde(default = "d_wd")]
            pub weight_decay: f64,
            #[doc = "The weights' gradient-norm clip (5)."]
            #[serde(default = "d_clip")]
            pub clip: f64,
            #[doc = "α's Adam learning rate (3e-4)."]
            #[serde(default = "d_arch_lr")]
            pub arch_lr: f64,
            #[doc = "α's Adam weight decay (1e-3)."]
            #[serde(default = "d_arch_wd")]
            pub arch_weight_decay: f64,
            #[doc = "The weights' schedule: `cosine` (DARTS) or `cosine-power` (sharpDARTS' cosine power annealing)."]
            pub lr_schedule: Option<String>,
            #[doc = "`cosine-power`'s exponent p (2, sharpDARTS' command-line default)."]
            pub lr_power: Option<f64>,
            #[doc = "The DARTS supernet's dilated candidates as sharpDARTS' SharpSepConv: a dilated separable block then an undilated one (false)."]
            #[serde(default)]
            pub sharp_sep_conv: bool,
            #[doc = "Track the dominant Hessian eigenvalue each epoch (false)."]
            #[serde(default)]
            pub hessian: bool,
            #[doc = "Power-iteration steps per tracked epoch (20)."]
            pub hessian_iterations: Option<usize>,
            #[doc = "Batches of α's half the tracked loss is taken on (1)."]
            pub hessian_batches: Option<usize>,
            #[doc = "Stop when the eigenvalue rises (RobustDARTS' rule; false)."]
            pub early_stop: Option<bool>,
            #[doc = "Uniform cells whose supernet accuracy is journaled after training (0)."]
            #[serde(default)]
            pub ranking_sample: usize,
            #[doc = "Batches each ranked cell is scored on (4)."]
            #[serde(default = "d_ranking_batches")]
            pub ranking_batches: usize,
            $($(#[$fdoc])* pub $field: $fty,)*
        }

        impl Default for $ty {
            fn default() -> Self {
                toml::from_str("").expect("every key has a default")
            }
        }

        impl $ty {
            fn general(&self) -> OneShotToml {
                #[allow(unused_mut)]
                let mut g = OneShotToml { channels: self.channels.clone(), cells: self.cells.clone(), epochs: self.epochs.clone(), batch_size: self.batch_size.clone(), lr: self.lr.clone(), lr_min: self.lr_min.clone(), momentum: self.momentum.clone(), nesterov: self.nesterov.clone(), weight_decay: self.weight_decay.clone(), clip: self.clip.clone(), arch_lr: self.arch_lr.clone(), arch_weight_decay: self.arch_weight_decay.clone(), lr_schedule: self.lr_schedule.clone(), lr_power: self.lr_power.clone(), sharp_sep_conv: self.sharp_sep_conv, hessian: self.hessian.clone(), hessian_iterations: self.hessian_iterations.clone(), hessian_batches: self.hessian_batches.clone(), early_stop: self.early_stop.clone(), ranking_sample: self.ranking_sample.clone(), ranking_batches: self.ranking_batches.clone(), ..OneShotToml::default() };
                $(g.$field = self.$field.clone();)*
                g
            }

            /// The table from its general form (another method's keys dropped).
            pub fn from_general(g: &OneShotToml) -> Self {
                $ty { channels: g.channels.clone(), cells: g.cells.clone(), epochs: g.epochs.clone(), batch_size: g.batch_size.clone(), lr: g.lr.clone(), lr_min: g.lr_min.clone(), momentum: g.momentum.clone(), nesterov: g.nesterov.clone(), weight_decay: g.weight_decay.clone(), clip: g.clip.clone(), arch_lr: g.arch_lr.clone(), arch_weight_decay: g.arch_weight_decay.clone(), lr_schedule: g.lr_schedule.clone(), lr_power: g.lr_power.clone(), sharp_sep_conv: g.sharp_sep_conv, hessian: g.hessian.clone(), hessian_iterations: g.hessian_iterations.clone(), hessian_batches: g.hessian_batches.clone(), early_stop: g.early_stop.clone(), ranking_sample: g.ranking_sample.clone(), ranking_batches: g.ranking_batches.clone(), $($field: g.$field.clone(),)* }
            }
        }

        impl Params for $ty {
            type Checked = OneShotConfig;
            fn check(&self) -> Result<OneShotConfig, ParamError> {
                self.general().check_for($kind)
            }
            fn resolved(&self, c: &OneShotConfig) -> Self {
                $ty::from_general(&self.general().resolved_for($kind, c))
            }
        }
    )*};
}

one_shot_params! {
    /// `[strategy] name = "darts"`.
    DartsToml => Kind::Darts, {
        /// 1 (first order, DARTS-V1) or 2 (second order, DARTS-V2).
        order: Option<u8>,
        /// `softmax` (DARTS) or `max-w` (sharpDARTS' Max-W weighting).
        weighting: Option<String>,
    };
    /// `[strategy] name = "gdas"`.
    GdasToml => Kind::Gdas, {
        /// τ of the first epoch (10).
        tau_max: Option<f64>,
        /// τ of the last epoch (0.1).
        tau_min: Option<f64>,
    };
    /// `[strategy] name = "rsps"`.
    RspsToml => Kind::Rsps, {
        /// Cells sampled for the final choice (100).
        candidates: Option<usize>,
    };
    /// `[strategy] name = "spos"`.
    SposToml => Kind::Spos, {
        /// Population (50).
        population: Option<usize>,
        /// Generations (20).
        generations: Option<usize>,
        /// Parents kept per generation (10).
        parents: Option<usize>,
        /// Per-edge mutation probability (0.1).
        mutation_prob: Option<f64>,
        /// Batches of α's half a candidate is scored on (4).
        score_batches: Option<usize>,
    };
    /// `[strategy] name = "sd-darts"`.
    SdDartsToml => Kind::SdDarts, {
        /// 1 (first order) or 2 (second order) DARTS underneath.
        order: Option<u8>,
        /// `softmax` (DARTS) or `max-w` (sharpDARTS' Max-W weighting).
        weighting: Option<String>,
        /// Previous steps' supernets kept as teachers (2).
        teachers: Option<usize>,
        /// The softening temperature τ (2).
        temperature: Option<f64>,
        /// The distillation term's weight (1).
        distill_weight: Option<f64>,
    };
    /// `[strategy] name = "rarts"`.
    RartsToml => Kind::Rarts, {
        /// `softmax` (DARTS) or `max-w` (sharpDARTS' Max-W weighting).
        weighting: Option<String>,
        /// λ, the training loss' weight in the objective (1).
        lambda: Option<f64>,
        /// β, the penalty coupling the two weight sets (1).
        beta: Option<f64>,
    };
    /// `[strategy] name = "darts-pt"`.
    DartsPtToml => Kind::DartsPt, {
        /// The supernet projected: `darts` (trained α) or `fixed-alpha`.
        supernet: Option<String>,
        /// Epochs of fine-tuning after each decision (1; the reference's 5).
        finetune_epochs: Option<usize>,
        /// Batches of α's half each masked supernet is scored on (10).
        score_batches: Option<usize>,
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_of_another_method_is_refused_with_the_valid_keys_and_defaults_are_the_references() {
        let err = toml::from_str::<DartsToml>("tau-max = 5.0").unwrap_err().to_string();
        assert!(err.contains("unknown field `tau-max`") && err.contains("`order`"), "{err}");
        let gdas = toml::from_str::<GdasToml>("tau-max = 5.0").unwrap().check().unwrap();
        assert_eq!(gdas.method, Method::Gdas { tau_max: 5.0, tau_min: 0.1 });
        assert_eq!((gdas.epochs, gdas.channels, gdas.cells, gdas.batch_size), (250, 16, None, 64));
        // The general form still names a foreign key's owner.
        let err = OneShotToml { tau_max: Some(5.0), ..OneShotToml::default() }.check_for(Kind::Darts).unwrap_err();
        assert!(err.key == "tau-max" && err.reason.contains("`gdas`"), "{}", err.reason);
        let darts = DartsToml::default().check().unwrap();
        assert_eq!((darts.epochs, darts.method.clone()), (50, Method::Darts { second_order: false }));
        assert_eq!(DartsToml::default().resolved(&darts).order, Some(1));
        let err = DartsToml::from_general(&OneShotToml { order: Some(3), ..OneShotToml::default() }).check().unwrap_err();
        assert_eq!(err.key, "order");
        let err = DartsPtToml::from_general(&OneShotToml { supernet: Some("x".into()), ..OneShotToml::default() }).check().unwrap_err();
        assert!(err.reason.contains("darts, fixed-alpha"), "{}", err.reason);
        let err = DartsToml::from_general(&OneShotToml { early_stop: Some(true), ..OneShotToml::default() }).check().unwrap_err();
        assert_eq!(err.key, "early-stop");
        let err = GdasToml::from_general(&OneShotToml { tau_min: Some(20.0), ..OneShotToml::default() }).check().unwrap_err();
        assert_eq!(err.key, "tau-min");
        let sharp = DartsToml::from_general(&OneShotToml { lr_schedule: Some("cosine-power".into()), weighting: Some("max-w".into()), ..OneShotToml::default() }).check().unwrap();
        assert_eq!((sharp.optimisers.schedule, sharp.optimisers.weighting), (Schedule::CosinePower(2.0), Weighting::MaxW));
        assert!(toml::from_str::<GdasToml>("weighting = \"max-w\"").is_err(), "Max-W is DARTS'");
        assert_eq!(DartsToml::from_general(&OneShotToml { lr_power: Some(3.0), ..OneShotToml::default() }).check().unwrap_err().key, "lr-power");
        // The Hessian tracker is DARTS' objective's: not GDAS', not a fixed α's.
        assert_eq!(GdasToml::from_general(&OneShotToml { hessian: true, ..OneShotToml::default() }).check().unwrap_err().key, "hessian");
        let fixed = OneShotToml { hessian: true, supernet: Some("fixed-alpha".into()), ..OneShotToml::default() };
        assert_eq!(DartsPtToml::from_general(&fixed).check().unwrap_err().key, "hessian");
        assert!(DartsPtToml::from_general(&OneShotToml { hessian: true, ..OneShotToml::default() }).check().is_ok());
    }
}
