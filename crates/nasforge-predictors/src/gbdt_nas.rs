//! GBDT-NAS and GBDT-NAS-3S (Luo, Tan, Wang, Qin, Chen and Liu, "Neural
//! Architecture Search with GBDT", 2020; renqianluo/GBDT-NAS).
//!
//! GBDT-NAS: evaluate `initial` random architectures; then repeatedly fit
//! the [`Gbdt`] on every evaluation so far, predict the candidates (the
//! whole space where it lists up to `enumerate-up-to` architectures, as
//! the reference does on NAS-Bench-101; else `candidates` fresh samples),
//! and evaluate the `top-k` predicted that were never proposed. The
//! reference runs one such round with N = K = 1,000 on NAS-Bench-101;
//! these defaults (20 random, then rounds of 10) spend a 100-evaluation
//! budget in eight rounds. The reference also drops initial architectures
//! under 85% accuracy before fitting (an NB-101 outlier rule), which is
//! not done here.
//!
//! GBDT-NAS-3S adds search-space search: after each of the first
//! `prune-rounds` fits it computes exact SHAP values ([`crate::shap`]) of
//! the decision one-hot features on the evaluated architectures, and
//! prunes up to `prune-per-round` (decision, option) pairs (by default the
//! reference's share, 20 of its 147 pairs, of the space's) whose mean
//! SHAP value over the architectures that take them is negative, most
//! negative first (the reference's first-order rule, whose loop counts a
//! pair per running mean it appends, an indentation slip: here each pair
//! is counted once). Candidates then avoid pruned pairs (until the pruned
//! space is used up). A decision keeps at least one option.

use std::collections::HashSet;

use nasforge_core::{SearchSpace, derive_seed};

use crate::encoding::Encoding;
use crate::gbdt::{Gbdt, GbdtConfig};
use crate::guided::{self, Guided};
use crate::{Features, Predictor, shap};

/// Settings of GBDT-NAS's loop.
#[derive(Clone, Debug, PartialEq)]
pub struct GbdtNasConfig {
    /// Random architectures before the first fit (20).
    pub initial: usize,
    /// Architectures evaluated per round (10).
    pub top_k: usize,
    /// Candidates sampled per round where the space is not listed (10,000).
    pub candidates: usize,
    /// Spaces of at most this many architectures are listed whole (100,000).
    pub enumerate_up_to: u128,
    /// The trees.
    pub gbdt: GbdtConfig,
    /// GBDT-NAS-3S's pruning, when on.
    pub prune: Option<PruneConfig>,
}

impl Default for GbdtNasConfig {
    fn default() -> Self {
        GbdtNasConfig { initial: 20, top_k: 10, candidates: 10_000, enumerate_up_to: 100_000, gbdt: GbdtConfig::default(), prune: None }
    }
}

/// GBDT-NAS-3S's pruning settings.
#[derive(Clone, Debug, PartialEq)]
pub struct PruneConfig {
    /// Fits after which pairs are pruned (the reference's 3 controller
    /// iterations).
    pub rounds: usize,
    /// Pairs pruned at most per round; by default the reference's share,
    /// `prune_num = 20` of its 147 (layer, op) pairs, of this space's pairs
    /// (NB201: 4 of 30).
    pub per_round: Option<usize>,
}

impl Default for PruneConfig {
    fn default() -> Self {
        PruneConfig { rounds: 3, per_round: None }
    }
}

/// The reference prunes 20 of ImageNet's 21 × 7 (layer, op) pairs a round.
const PRUNE_SHARE: f64 = 20.0 / 147.0;

/// The strategy, over architectures of type `A`.
pub struct GbdtNas<A> {
    name: &'static str,
    config: GbdtNasConfig,
    seed: u64,
    g: Guided<A>,
    /// The listed space with its rows and canonical keys, once listed.
    listed: Option<Vec<(A, Vec<f64>, String)>>,
    /// Pruned (decision, option) pairs.
    pruned: HashSet<(usize, usize)>,
    options: Vec<usize>,
}

impl<A: Clone> GbdtNas<A> {
    /// GBDT-NAS (or, with `config.prune`, GBDT-NAS-3S) on `features`.
    /// GBDT-NAS-3S needs the decision encoding first in its features, and
    /// `options`, the space's decisions.
    pub fn new(config: GbdtNasConfig, features: Features, options: Option<Vec<usize>>, seed: u64) -> Result<Self, String> {
        let name = if config.prune.is_some() { "gbdt-nas-3s" } else { "gbdt-nas" };
        let options = match (&config.prune, options) {
            (None, o) => o.unwrap_or_default(),
            (Some(_), Some(o)) if features.encoder().is_some_and(|e| e.kind() == Encoding::Decisions) => o,
            (Some(_), _) => return Err("gbdt-nas-3s prunes decision options: it needs `encoding = \"decisions\"` on a space with a decision view".into()),
        };
        Ok(GbdtNas { name, config, seed, g: Guided::new(features, seed), listed: None, pruned: HashSet::new(), options })
    }

    /// The (decision, option) pairs pruned so far.
    pub fn pruned(&self) -> &HashSet<(usize, usize)> {
        &self.pruned
    }

    fn allowed<S: SearchSpace<Arch = A>>(&self, space: &S, arch: &A) -> bool {
        if self.pruned.is_empty() {
            return true;
        }
        space.arch_decisions(arch).is_none_or(|c| !c.iter().enumerate().any(|(d, &o)| self.pruned.contains(&(d, o))))
    }

    /// GBDT-NAS-3S's first-order rule on the fitted trees.
    fn prune(&mut self, gbdt: &Gbdt, x: &[Vec<f64>], per_round: usize) {
        let width: usize = self.options.iter().sum();
        let mut sums = vec![(0.0, 0usize); width];
        for row in x {
            let phi = shap::shap_values(gbdt, row);
            for f in 0..width {
                if row[f] == 1.0 {
                    sums[f].0 += phi[f];
                    sums[f].1 += 1;
                }
            }
        }
        let mut negative: Vec<(f64, usize)> = sums.iter().enumerate().filter(|(_, s)| s.1 > 0 && s.0 < 0.0).map(|(f, s)| (s.0 / s.1 as f64, f)).collect();
        negative.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let mut done = 0;
        for (_, f) in negative {
            if done == per_round {
                break;
            }
            let (mut d, mut o) = (0, f);
            while o >= self.options[d] {
                o -= self.options[d];
                d += 1;
            }
            let left = (0..self.options[d]).filter(|&k| !self.pruned.contains(&(d, k))).count();
            if left > 1 && self.pruned.insert((d, o)) {
                done += 1;
            }
        }
    }

    fn round<S: SearchSpace<Arch = A>>(&mut self, space: &S) {
        let (x, y) = self.g.training_set();
        let mut gbdt = Gbdt::new(self.config.gbdt.clone());
        let fit_seed = derive_seed(self.seed, &format!("fit-{}", self.g.fits));
        let fitted = !y.is_empty() && gbdt.fit(&x, &y, fit_seed).is_ok();
        self.g.fits += 1;
        if let (true, Some(p)) = (fitted, self.config.prune.clone()) {
            if self.g.fits as usize <= p.rounds {
                let pairs: usize = self.options.iter().sum();
                let per_round = p.per_round.unwrap_or_else(|| ((pairs as f64 * PRUNE_SHARE).round() as usize).max(1));
                self.prune(&gbdt, &x, per_round);
            }
        }
        if self.listed.is_none() && space.size().is_some_and(|n| n <= self.config.enumerate_up_to) {
            if let Some(all) = space.enumerate() {
                self.listed = Some(all.map(|a| (a.clone(), self.g.features.row(space, &a), space.canonical_key(&a))).collect());
            }
        }
        let sampled: Vec<(A, Vec<f64>, String)>;
        let pool: &[(A, Vec<f64>, String)] = match &self.listed {
            Some(l) => l,
            None => {
                sampled = (0..self.config.candidates)
                    .map(|_| {
                        let a = space.sample(&mut self.g.rng);
                        let r = self.g.features.row(space, &a);
                        let k = space.canonical_key(&a);
                        (a, r, k)
                    })
                    .collect();
                &sampled
            }
        };
        let mut fresh: Vec<&(A, Vec<f64>, String)> = pool.iter().filter(|(a, _, k)| !self.g.seen.contains(k) && self.allowed(space, a)).collect();
        if fresh.is_empty() {
            // The pruned space is used up: the rest of the space is next.
            fresh = pool.iter().filter(|(_, _, k)| !self.g.seen.contains(k)).collect();
        }
        let rows: Vec<Vec<f64>> = fresh.iter().map(|(_, r, _)| r.clone()).collect();
        let scores = if fitted { gbdt.predict(&rows) } else { vec![0.0; rows.len()] };
        let archs: Vec<&A> = fresh.iter().map(|f| &f.0).collect();
        let keys: Vec<&String> = fresh.iter().map(|f| &f.2).collect();
        self.g.enqueue_best(&archs, Some(&keys), &scores, self.config.top_k);
    }
}

guided::round_strategy!(GbdtNas, |s| s.name);

#[cfg(test)]
mod tests {
    use nasforge_core::{Metrics, Strategy};
    use nasforge_space_nb201::Nb201Space;
    use nasforge_tabular::Nb201Table;

    use super::*;
    use crate::{Encoder, Encoding};

    fn table() -> Nb201Table {
        Nb201Table::load(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/nas-bench-201/nb201_cifar10_v1_1.csv")).expect("the NB201 table at ../shared/data")
    }

    /// Drives `s` for `n` evaluations on the table; the evaluated cells.
    fn drive(s: &mut GbdtNas<nasforge_space_nb201::Cell>, t: &Nb201Table, n: usize) -> Vec<String> {
        let space = Nb201Space;
        (0..n)
            .map(|_| {
                let a = Strategy::<Nb201Space>::ask(s, &space).expect("candidates left");
                let valid = t.get(&a).expect("every cell").valid;
                Strategy::<Nb201Space>::tell(s, &space, &a, &Ok(Metrics { valid, ..Metrics::default() }));
                space.format(&a)
            })
            .collect()
    }

    #[test]
    fn gbdt_nas_3s_prunes_options_with_negative_attributions_and_never_repeats_a_function() {
        let t = table();
        let space = Nb201Space;
        let features = Features::new(Encoder::new(&space, Encoding::Decisions, None, 0).unwrap());
        let config = GbdtNasConfig { prune: Some(PruneConfig::default()), ..GbdtNasConfig::default() };
        let mut s = GbdtNas::new(config, features, space.decisions(), 5).unwrap();
        let cells = drive(&mut s, &t, 60);
        assert!(!s.pruned().is_empty(), "three fits on 20–40 cells prune nothing");
        assert!(s.pruned().len() <= 3 * 4, "at most 4 of NB201's 30 options a round: {:?}", s.pruned());
        let keys: std::collections::HashSet<String> = cells.iter().map(|c| space.canonical_key(&space.parse(c).unwrap())).collect();
        assert_eq!(keys.len(), 60, "no function evaluated twice");
        // Pruning `none`, the option hurting accuracy most, is the expected
        // first step: some edge loses it.
        assert!(s.pruned().iter().any(|&(_, o)| o == 0), "{:?}", s.pruned());
    }

    #[test]
    fn the_first_refit_already_ranks_the_space() {
        // With 20 random cells a fit splits (NASLib's 5 rows per leaf), so
        // the next 10 cells are better than random ones.
        let t = table();
        let space = Nb201Space;
        let mean = |cells: &[String]| cells.iter().map(|c| t.get(&space.parse(c).unwrap()).unwrap().valid).sum::<f64>() / cells.len() as f64;
        let (mut first, mut second) = (0.0, 0.0);
        for seed in 1..=3 {
            let features = Features::new(Encoder::new(&space, Encoding::OneHot, None, 0).unwrap());
            let mut s = GbdtNas::new(GbdtNasConfig::default(), features, None, seed).unwrap();
            let cells = drive(&mut s, &t, 30);
            first += mean(&cells[..20]);
            second += mean(&cells[20..]);
        }
        assert!(second > first + 3.0, "random {:.2}, guided {:.2}", first / 3.0, second / 3.0);
    }
}
