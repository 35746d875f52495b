//! `synthetic-score`: scores any architecture from its graph alone, with
//! no data. It is a stand-in for exercising searches over spaces without a
//! benchmark (and is labelled as such in every result): the score rises
//! with the total `width` attribute of the graph's nodes with diminishing
//! returns, falls with depth beyond `best-depth`, and carries a
//! deterministic per-architecture jitter of ±`noise`.
//!
//! ```toml
//! [[plugin]]
//! name = "synthetic-score"
//! kind = "estimator"
//! path = "target/debug/libnasforge_plugin_synthetic_score.so"
//! [plugin.config]
//! best-depth = 3
//! noise = 0.01
//! ```

use nasforge_plugin_sdk::core::{AttrValue, EvalContext, EvalError, Estimator, Metrics};
use nasforge_plugin_sdk::export_plugin;
use nasforge_plugin_sdk::protocol::{ArchMessage, Create};

/// The scorer.
pub struct Synthetic {
    best_depth: f64,
    noise: f64,
}

/// FNV-1a: a stable hash of the architecture's text, for the jitter.
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

impl Estimator<ArchMessage> for Synthetic {
    fn name(&self) -> &str {
        "synthetic-score"
    }

    fn evaluate(&mut self, arch: &ArchMessage, _ctx: EvalContext) -> Result<Metrics, EvalError> {
        let g = &arch.graph;
        if g.nodes.is_empty() {
            return Err(EvalError::Invalid("an empty graph".into()));
        }
        let width: f64 = g
            .nodes
            .iter()
            .filter_map(|n| match n.attrs.get("width") {
                Some(AttrValue::Int(w)) => Some(*w as f64),
                Some(AttrValue::Float(w)) => Some(*w),
                _ => None,
            })
            .sum();
        let depth = g.nodes.len().saturating_sub(2) as f64;
        let capacity = 1.0 - (-width / 256.0).exp();
        let depth_penalty = 0.05 * (depth - self.best_depth).max(0.0);
        let jitter = ((fnv(&arch.text) % 2001) as f64 / 1000.0 - 1.0) * self.noise;
        let valid = (0.5 + 0.4 * capacity - depth_penalty + jitter).clamp(0.0, 1.0);
        Ok(Metrics { valid, extra: vec![("synthetic".into(), 1.0)], ..Metrics::default() })
    }
}

fn create(c: Create) -> Result<Synthetic, String> {
    let get = |key: &str, default: f64| match c.config.get(key) {
        None => Ok(default),
        Some(v) => v.as_f64().ok_or_else(|| format!("`{key}` must be a number, not {v}")),
    };
    Ok(Synthetic { best_depth: get("best-depth", 3.0)?, noise: get("noise", 0.01)? })
}

export_plugin!(estimator, "synthetic-score", env!("CARGO_PKG_VERSION"), create);
