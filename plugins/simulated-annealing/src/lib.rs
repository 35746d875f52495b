//! Simulated annealing as a nasforge strategy plugin.
//!
//! The chain starts from a random architecture; each proposal mutates the
//! current one, and a proposal replaces it when it scores better, or worse
//! by Δ with probability exp(−Δ/T). T starts at `initial-temperature`
//! (in units of the validation score) and is multiplied by `cooling` after
//! every evaluation. Failed evaluations are never accepted.
//!
//! ```toml
//! [[plugin]]
//! name = "simulated-annealing"
//! kind = "strategy"
//! path = "target/debug/libnasforge_plugin_simulated_annealing.so"
//! [plugin.config]
//! initial-temperature = 1.0
//! cooling = 0.97
//! ```

use nasforge_plugin_sdk::core::{Evaluation, SearchSpace, Strategy};
use nasforge_plugin_sdk::protocol::Create;
use nasforge_plugin_sdk::{HostSpace, export_plugin};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The annealing chain.
pub struct Annealing<A> {
    rng: ChaCha8Rng,
    temperature: f64,
    cooling: f64,
    current: Option<(A, f64)>,
}

impl<A: Clone> Annealing<A> {
    /// A chain seeded with `seed`.
    pub fn new(initial_temperature: f64, cooling: f64, seed: u64) -> Result<Self, String> {
        if !(initial_temperature > 0.0 && initial_temperature.is_finite()) {
            return Err(format!("`initial-temperature` must be positive, not {initial_temperature}"));
        }
        if !(cooling > 0.0 && cooling <= 1.0) {
            return Err(format!("`cooling` must lie in (0, 1], not {cooling}"));
        }
        Ok(Self { rng: ChaCha8Rng::seed_from_u64(seed), temperature: initial_temperature, cooling, current: None })
    }
}

impl<S: SearchSpace> Strategy<S> for Annealing<S::Arch> {
    fn name(&self) -> &str {
        "simulated-annealing"
    }

    fn ask(&mut self, space: &S) -> Option<S::Arch> {
        Some(match &self.current {
            None => space.sample(&mut self.rng),
            Some((arch, _)) => space.mutate(arch, &mut self.rng),
        })
    }

    fn tell(&mut self, _space: &S, arch: &S::Arch, outcome: &Evaluation) {
        if let Ok(m) = outcome {
            let accept = match &self.current {
                None => true,
                Some((_, score)) if m.valid >= *score => true,
                Some((_, score)) => self.rng.random::<f64>() < ((m.valid - score) / self.temperature).exp(),
            };
            if accept {
                self.current = Some((arch.clone(), m.valid));
            }
        }
        self.temperature *= self.cooling;
    }
}

fn create(c: Create) -> Result<Annealing<<HostSpace as SearchSpace>::Arch>, String> {
    let get = |key: &str, default: f64| match c.config.get(key) {
        None => Ok(default),
        Some(v) => v.as_f64().ok_or_else(|| format!("`{key}` must be a number, not {v}")),
    };
    if let Some(k) = c.config.as_object().and_then(|m| m.keys().find(|k| !["initial-temperature", "cooling"].contains(&k.as_str()))) {
        return Err(format!("unknown key `{k}`; valid keys: initial-temperature, cooling"));
    }
    Annealing::new(get("initial-temperature", 1.0)?, get("cooling", 0.97)?, c.seed)
}

export_plugin!(strategy, "simulated-annealing", env!("CARGO_PKG_VERSION"), create);
