//! Gradient-boosted trees on smartcore, with LightGBM's settings as
//! GBDT-NAS uses them.
//!
//! smartcore's `XGRegressor` grows the trees (exact greedy splits on the
//! second-order gain, depth-wise). It fits a whole ensemble on one column
//! set and one row subsample per round, while LightGBM draws a column
//! subset per tree (`feature_fraction`) and a row bag every
//! `bagging_freq` rounds. So the boosting loop is run here, one round at a
//! time: each round fits a one-tree `XGRegressor` (squared error, base
//! score 0) to the current residuals on that round's rows and columns,
//! which for squared error is exactly the tree smartcore's own next round
//! would grow on those rows and columns. The tree is then read out of
//! smartcore's serde form (its fields are private) into [`Tree`], which
//! predicts without per-row allocation and carries the node covers
//! TreeSHAP needs ([`crate::shap`]).
//!
//! LightGBM → here: `num_leaves = 31` has no equivalent (smartcore grows
//! depth-wise): `max_depth = 5`, at most 32 leaves; `learning_rate`,
//! `num_boost_round`, `lambda_l2` (0) and `min_gain_to_split` (0) map
//! exactly; `min_data_in_leaf` is `min_child_weight` (the squared error's
//! hessian is 1 per row, so the sums agree exactly), 5 by default as
//! NASLib's `lgb.py` sets it: LightGBM's own default, 20, leaves the small
//! training sets of a search (20 architectures, a bag of 16) without a
//! single split, so every prediction would tie;
//! `feature_fraction` and `bagging_fraction`/`bagging_freq` are this
//! loop's; `max_bin = 255` has none (smartcore splits exactly, which on
//! one-hot features is the same).

use nasforge_core::{Rng, seeded_rng};
use rand::seq::SliceRandom;
use serde::Deserialize;
use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::xgboost::{XGRegressor, XGRegressorParameters};

use crate::{Predictor, standardise};

/// Features smartcore cannot order (NaN) are given this value.
const MISSING: f64 = -1.0e300;

/// The boosting settings (GBDT-NAS's LightGBM defaults, mapped as the
/// module says).
#[derive(Clone, Debug, PartialEq)]
pub struct GbdtConfig {
    /// Boosting rounds (`num_boost_round`, 100).
    pub rounds: usize,
    /// Shrinkage (`learning_rate`, 0.05).
    pub learning_rate: f64,
    /// Depth of each tree (5: at most 32 leaves, for `num_leaves = 31`).
    pub max_depth: u16,
    /// Rows a leaf must hold (`min_data_in_leaf`; NASLib's 5).
    pub min_child_weight: usize,
    /// L2 penalty on leaf values (`lambda_l2`, 0).
    pub lambda: f64,
    /// Columns each tree may split on (`feature_fraction`, 0.9).
    pub feature_fraction: f64,
    /// Rows each bag holds (`bagging_fraction`, 0.8).
    pub bagging_fraction: f64,
    /// Rounds between new bags (`bagging_freq`, 5).
    pub bagging_freq: usize,
}

impl Default for GbdtConfig {
    fn default() -> Self {
        GbdtConfig { rounds: 100, learning_rate: 0.05, max_depth: 5, min_child_weight: 5, lambda: 0.0, feature_fraction: 0.9, bagging_fraction: 0.8, bagging_freq: 5 }
    }
}

/// One node of a [`Tree`]: a split (`feature < usize::MAX`) or a leaf.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// The feature split on; `usize::MAX` at a leaf.
    pub feature: usize,
    /// Rows with `x[feature] <= threshold` go left.
    pub threshold: f64,
    /// Child indices (0 at a leaf).
    pub left: usize,
    /// See `left`.
    pub right: usize,
    /// The node's output, shrinkage included (a leaf's is the prediction).
    pub value: f64,
    /// Training rows that reached the node (TreeSHAP's cover).
    pub cover: f64,
}

impl Node {
    /// Whether the node is a leaf.
    pub fn is_leaf(&self) -> bool {
        self.feature == usize::MAX
    }
}

/// A regression tree, nodes in preorder (the root first).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tree {
    /// The nodes.
    pub nodes: Vec<Node>,
}

impl Tree {
    /// The tree's output for `row`.
    pub fn predict(&self, row: &[f64]) -> f64 {
        let mut i = 0;
        loop {
            let n = &self.nodes[i];
            if n.is_leaf() {
                return n.value;
            }
            i = if clean(row[n.feature]) <= n.threshold { n.left } else { n.right };
        }
    }
}

/// smartcore's serde form of one tree (the fields read here).
#[derive(Deserialize)]
struct SmartTree {
    left: Option<Box<SmartTree>>,
    right: Option<Box<SmartTree>>,
    value: f64,
    threshold: f64,
    split_feature_idx: usize,
}

#[derive(Deserialize)]
struct SmartModel {
    regressors: Option<Vec<SmartTree>>,
}

/// Flattens `t` into `out` (preorder), mapping its column indices through
/// `cols` and scaling values by `shrink`; returns the node's index.
fn flatten(t: &SmartTree, cols: &[usize], shrink: f64, out: &mut Vec<Node>) -> usize {
    let at = out.len();
    out.push(Node { feature: usize::MAX, threshold: 0.0, left: 0, right: 0, value: shrink * t.value, cover: 0.0 });
    if let (Some(l), Some(r)) = (&t.left, &t.right) {
        let left = flatten(l, cols, shrink, out);
        let right = flatten(r, cols, shrink, out);
        out[at] = Node { feature: cols[t.split_feature_idx], threshold: t.threshold, left, right, value: shrink * t.value, cover: 0.0 };
    }
    at
}

/// A feature as the trees compare it (NaN below every value).
pub(crate) fn clean(x: f64) -> f64 {
    if x.is_nan() { MISSING } else { x }
}

/// A gradient-boosted tree ensemble.
#[derive(Clone, Debug, Default)]
pub struct Gbdt {
    config: GbdtConfig,
    trees: Vec<Tree>,
    /// Label mean and standard deviation (labels are standardised).
    scale: (f64, f64),
    width: usize,
}

impl Gbdt {
    /// An unfitted ensemble.
    pub fn new(config: GbdtConfig) -> Self {
        Gbdt { config, trees: Vec::new(), scale: (0.0, 1.0), width: 0 }
    }

    /// The fitted trees (values in standardised label units).
    pub fn trees(&self) -> &[Tree] {
        &self.trees
    }

    /// The feature count it was fitted on.
    pub fn width(&self) -> usize {
        self.width
    }

    /// The prediction for one row, in standardised label units.
    pub fn raw(&self, row: &[f64]) -> f64 {
        self.trees.iter().map(|t| t.predict(row)).sum()
    }

    fn one_round(&self, x: &[Vec<f64>], residual: &[f64], rows: &[usize], cols: &[usize]) -> Result<Tree, String> {
        let sub: Vec<Vec<f64>> = rows.iter().map(|&i| cols.iter().map(|&c| clean(x[i][c])).collect()).collect();
        let target: Vec<f64> = rows.iter().map(|&i| residual[i]).collect();
        let matrix = DenseMatrix::from_2d_vec(&sub).map_err(|e| e.to_string())?;
        let params = XGRegressorParameters::default()
            .with_n_estimators(1)
            .with_learning_rate(1.0)
            .with_max_depth(self.config.max_depth)
            .with_min_child_weight(self.config.min_child_weight)
            .with_lambda(self.config.lambda)
            .with_gamma(0.0)
            .with_base_score(0.0)
            .with_subsample(1.0);
        let model = XGRegressor::fit(&matrix, &target, params).map_err(|e| e.to_string())?;
        let form: SmartModel = serde_json::from_value(serde_json::to_value(&model).map_err(|e| e.to_string())?).map_err(|e| format!("smartcore's tree form changed: {e}"))?;
        let smart = form.regressors.and_then(|mut r| r.pop()).ok_or("smartcore fitted no tree")?;
        let mut tree = Tree::default();
        flatten(&smart, cols, self.config.learning_rate, &mut tree.nodes);
        for &i in rows {
            let mut n = 0;
            loop {
                tree.nodes[n].cover += 1.0;
                let node = &tree.nodes[n];
                if node.is_leaf() {
                    break;
                }
                n = if clean(x[i][node.feature]) <= node.threshold { node.left } else { node.right };
            }
        }
        Ok(tree)
    }
}

/// `k` of `0..n` without replacement, in increasing order (at least one).
fn draw(n: usize, fraction: f64, rng: &mut Rng) -> Vec<usize> {
    let mut all: Vec<usize> = (0..n).collect();
    if fraction >= 1.0 {
        return all;
    }
    all.shuffle(rng);
    all.truncate(((n as f64 * fraction).round() as usize).clamp(1, n));
    all.sort_unstable();
    all
}

impl Predictor for Gbdt {
    fn name(&self) -> &str {
        "gbdt"
    }

    fn fit(&mut self, x: &[Vec<f64>], y: &[f64], seed: u64) -> Result<(), String> {
        let (z, scale) = standardise(y)?;
        let width = x.first().map_or(0, Vec::len);
        if width == 0 {
            return Err("no features to fit on".into());
        }
        let mut rng = seeded_rng(seed);
        let mut residual = z.clone();
        let mut trees = Vec::with_capacity(self.config.rounds);
        let mut bag = Vec::new();
        for round in 0..self.config.rounds {
            if round % self.config.bagging_freq.max(1) == 0 {
                bag = draw(z.len(), self.config.bagging_fraction, &mut rng);
            }
            let cols = draw(width, self.config.feature_fraction, &mut rng);
            let tree = self.one_round(x, &residual, &bag, &cols)?;
            for (r, row) in residual.iter_mut().zip(x) {
                *r -= tree.predict(row);
            }
            trees.push(tree);
        }
        self.trees = trees;
        self.scale = scale;
        self.width = width;
        Ok(())
    }

    fn predict(&self, x: &[Vec<f64>]) -> Vec<f64> {
        x.iter().map(|r| self.scale.0 + self.scale.1 * self.raw(r)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize, seed: u64) -> (Vec<Vec<f64>>, Vec<f64>) {
        use rand::Rng as _;
        let mut rng = seeded_rng(seed);
        let x: Vec<Vec<f64>> = (0..n).map(|_| (0..6).map(|_| rng.random_range(0.0..1.0)).collect()).collect();
        let y = x.iter().map(|r| 3.0 * r[0] + (r[1] > 0.5) as u8 as f64 - 2.0 * r[2] * r[3]).collect();
        (x, y)
    }

    #[test]
    fn boosting_fits_a_nonlinear_function_and_generalises() {
        let (x, y) = data(600, 1);
        let (tx, ty) = data(300, 2);
        let mut g = Gbdt::new(GbdtConfig { rounds: 200, learning_rate: 0.1, ..GbdtConfig::default() });
        g.fit(&x, &y, 7).unwrap();
        let p = g.predict(&tx);
        let mean = ty.iter().sum::<f64>() / ty.len() as f64;
        let sse: f64 = p.iter().zip(&ty).map(|(a, b)| (a - b).powi(2)).sum();
        let sst: f64 = ty.iter().map(|b| (b - mean).powi(2)).sum();
        assert!(1.0 - sse / sst > 0.85, "R² {}", 1.0 - sse / sst);
    }

    #[test]
    fn one_round_is_smartcores_own_round_and_covers_count_rows() {
        // Without subsampling, one round here equals smartcore's one-tree
        // ensemble with the same shrinkage.
        let (x, y) = data(200, 3);
        let config = GbdtConfig { rounds: 1, feature_fraction: 1.0, bagging_fraction: 1.0, min_child_weight: 20, ..GbdtConfig::default() };
        let mut g = Gbdt::new(config.clone());
        g.fit(&x, &y, 1).unwrap();
        let (z, (m, s)) = standardise(&y).unwrap();
        let params = XGRegressorParameters::default()
            .with_n_estimators(1)
            .with_learning_rate(config.learning_rate)
            .with_max_depth(config.max_depth)
            .with_min_child_weight(config.min_child_weight)
            .with_lambda(0.0)
            .with_gamma(0.0)
            .with_base_score(0.0);
        let theirs = XGRegressor::fit(&DenseMatrix::from_2d_vec(&x).unwrap(), &z, params).unwrap();
        let theirs: Vec<f64> = theirs.predict(&DenseMatrix::from_2d_vec(&x).unwrap()).unwrap();
        for (a, b) in g.predict(&x).iter().zip(theirs) {
            assert!((a - (m + s * b)).abs() < 1e-9, "{a} vs {}", m + s * b);
        }
        assert_eq!(g.trees()[0].nodes[0].cover, 200.0);
        let t = &g.trees()[0];
        for n in t.nodes.iter().filter(|n| !n.is_leaf()) {
            assert_eq!(n.cover, t.nodes[n.left].cover + t.nodes[n.right].cover);
            assert!(t.nodes[n.left].cover >= 20.0 && t.nodes[n.right].cover >= 20.0, "min_data_in_leaf");
        }
    }

    #[test]
    fn same_seed_same_model_nan_features_do_not_panic() {
        let (mut x, y) = data(100, 4);
        x[3][2] = f64::NAN;
        let fit = |seed| {
            let mut g = Gbdt::new(GbdtConfig::default());
            g.fit(&x, &y, seed).unwrap();
            g.predict(&x)
        };
        assert_eq!(fit(5), fit(5));
        assert_ne!(fit(5), fit(6));
    }
}
