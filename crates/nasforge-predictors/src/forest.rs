//! smartcore's random-forest regressor, the baseline beside [`crate::gbdt`]
//! (same encodings, same samples).
//!
//! Settings are scikit-learn's regressor defaults: 100 trees, every
//! feature a split candidate (`max_features = 1.0`), leaves of one row,
//! bootstrap samples (smartcore always bootstraps). Labels are
//! standardised as the trees' are.

use smartcore::ensemble::random_forest_regressor::{RandomForestRegressor, RandomForestRegressorParameters};
use smartcore::linalg::basic::matrix::DenseMatrix;

use crate::{Predictor, standardise};

/// The forest's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct ForestConfig {
    /// Trees (100).
    pub trees: usize,
    /// Split candidates per node as a fraction of the features (1.0).
    pub max_features: f64,
    /// Rows a leaf must hold (1).
    pub min_samples_leaf: usize,
}

impl Default for ForestConfig {
    fn default() -> Self {
        ForestConfig { trees: 100, max_features: 1.0, min_samples_leaf: 1 }
    }
}

type Model = RandomForestRegressor<f64, f64, DenseMatrix<f64>, Vec<f64>>;

/// A random forest.
#[derive(Debug, Default)]
pub struct Forest {
    config: ForestConfig,
    model: Option<Model>,
    scale: (f64, f64),
}

/// NaN has no order for smartcore's splits: it goes below every value.
fn rows(x: &[Vec<f64>]) -> Result<DenseMatrix<f64>, String> {
    let clean: Vec<Vec<f64>> = x.iter().map(|r| r.iter().map(|&v| crate::gbdt::clean(v)).collect()).collect();
    DenseMatrix::from_2d_vec(&clean).map_err(|e| e.to_string())
}

impl Forest {
    /// An unfitted forest.
    pub fn new(config: ForestConfig) -> Self {
        Forest { config, model: None, scale: (0.0, 1.0) }
    }
}

impl Predictor for Forest {
    fn name(&self) -> &str {
        "forest"
    }

    fn fit(&mut self, x: &[Vec<f64>], y: &[f64], seed: u64) -> Result<(), String> {
        let (z, scale) = standardise(y)?;
        let width = x.first().map_or(0, Vec::len);
        let m = ((width as f64 * self.config.max_features).round() as usize).clamp(1, width.max(1));
        let params = RandomForestRegressorParameters {
            max_depth: None,
            min_samples_leaf: self.config.min_samples_leaf,
            min_samples_split: 2,
            n_trees: self.config.trees,
            m: Some(m),
            keep_samples: false,
            seed,
        };
        self.model = Some(Model::fit(&rows(x)?, &z, params).map_err(|e| e.to_string())?);
        self.scale = scale;
        Ok(())
    }

    fn predict(&self, x: &[Vec<f64>]) -> Vec<f64> {
        let model = self.model.as_ref().expect("predict after fit");
        let z = rows(x).and_then(|m| model.predict(&m).map_err(|e| e.to_string())).expect("a fitted forest predicts rows of its width");
        z.into_iter().map(|v| self.scale.0 + self.scale.1 * v).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forest_learns_and_is_seeded() {
        let x: Vec<Vec<f64>> = (0..200).map(|i| vec![(i % 10) as f64, (i / 10) as f64]).collect();
        let y: Vec<f64> = x.iter().map(|r| r[0] * r[0] - r[1]).collect();
        let mut f = Forest::new(ForestConfig { trees: 20, ..ForestConfig::default() });
        f.fit(&x, &y, 3).unwrap();
        let p = f.predict(&x);
        let err: f64 = p.iter().zip(&y).map(|(a, b)| (a - b).abs()).sum::<f64>() / 200.0;
        assert!(err < 3.0, "{err}");
        let mut g = Forest::new(ForestConfig { trees: 20, ..ForestConfig::default() });
        g.fit(&x, &y, 3).unwrap();
        assert_eq!(p, g.predict(&x));
    }
}
