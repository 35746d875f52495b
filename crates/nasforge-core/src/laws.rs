//! Checks of the laws a [`SearchSpace`] promises, for space authors' tests
//! (and plugin conformance): each returns what broke, with the
//! architecture's text.

use rand::Rng as _;

use crate::{Rng, SearchSpace};

/// The decision view's laws, over `samples` sampled architectures and as
/// many random choice vectors: `arch_from_decisions ∘ arch_decisions` is
/// the identity on sampled architectures; every choice vector within the
/// option counts maps to `None` or to an architecture whose text parses
/// back to it and whose own choices map to it again.
pub fn check_decisions<S: SearchSpace>(space: &S, rng: &mut Rng, samples: usize) -> Result<(), String> {
    let Some(options) = space.decisions() else { return Ok(()) };
    if options.contains(&0) {
        return Err(format!("a decision with no options: {options:?}"));
    }
    for _ in 0..samples {
        let arch = space.sample(rng);
        let text = space.format(&arch);
        let choices = space.arch_decisions(&arch).ok_or_else(|| format!("no choices for sampled `{text}`"))?;
        if choices.len() != options.len() || choices.iter().zip(&options).any(|(c, n)| c >= n) {
            return Err(format!("choices {choices:?} of `{text}` do not fit the options {options:?}"));
        }
        match space.arch_from_decisions(&choices) {
            Some(back) if back == arch => {}
            Some(back) => return Err(format!("`{text}` → {choices:?} → `{}`", space.format(&back))),
            None => return Err(format!("`{text}` → {choices:?} → no architecture")),
        }
        let random: Vec<usize> = options.iter().map(|&n| rng.random_range(0..n)).collect();
        if let Some(arch) = space.arch_from_decisions(&random) {
            let text = space.format(&arch);
            match space.parse(&text) {
                Ok(parsed) if parsed == arch => {}
                Ok(_) => return Err(format!("{random:?} → `{text}`, which parses to another architecture")),
                Err(e) => return Err(format!("{random:?} → `{text}`, which does not parse: {e}")),
            }
            let again = space.arch_decisions(&arch).and_then(|c| space.arch_from_decisions(&c));
            if again.as_ref() != Some(&arch) {
                return Err(format!("{random:?} → `{text}`, whose own choices do not lead back to it"));
            }
        }
    }
    Ok(())
}
