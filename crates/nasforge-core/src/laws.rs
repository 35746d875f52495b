//! Checks of the laws a [`SearchSpace`] promises, for space authors' tests
//! (and plugin conformance): each returns what broke, with the
//! architecture's text.

use std::collections::HashSet;

use rand::Rng as _;

use crate::{Rng, SearchSpace};

/// Every law below, over `samples` sampled architectures each: what a
/// space crate's test calls.
pub fn check<S: SearchSpace>(space: &S, rng: &mut Rng, samples: usize) -> Result<(), String> {
    check_space(space, rng, samples)?;
    check_decisions(space, rng, samples)
}

/// The laws every space keeps, over `samples` sampled architectures:
/// `parse ∘ format` is the identity and keeps the canonical key; a
/// mutation is a valid architecture other than its parent; neighbours are
/// valid, distinct, and differ from their centre; encodings have one
/// length; graphs are well-formed. (Invariance of the canonical key under
/// isomorphism needs the space's own isomorphisms: each space tests it.)
pub fn check_space<S: SearchSpace>(space: &S, rng: &mut Rng, samples: usize) -> Result<(), String> {
    let mut encoding_len = None;
    for _ in 0..samples {
        let arch = space.sample(rng);
        let text = space.format(&arch);
        let round_trip = |a: &S::Arch, what: &str| -> Result<(), String> {
            let t = space.format(a);
            match space.parse(&t) {
                Ok(back) if &back == a => Ok(()),
                Ok(back) => Err(format!("{what} `{t}` parses to `{}`", space.format(&back))),
                Err(e) => Err(format!("{what} `{t}` does not parse: {e}")),
            }
        };
        round_trip(&arch, "sample")?;
        let key = space.canonical_key(&arch);
        if space.parse(&text).map(|a| space.canonical_key(&a)).as_ref() != Ok(&key) {
            return Err(format!("`{text}`: the canonical key changes through its text"));
        }
        let child = space.mutate(&arch, rng);
        if child == arch {
            return Err(format!("`{text}` mutated to itself"));
        }
        round_trip(&child, "mutant")?;
        let neighbours = space.neighbours(&arch);
        let mut seen = HashSet::new();
        for n in &neighbours {
            if n == &arch {
                return Err(format!("`{text}` is its own neighbour"));
            }
            if !seen.insert(n) {
                return Err(format!("`{text}` lists the neighbour `{}` twice", space.format(n)));
            }
            round_trip(n, "neighbour")?;
        }
        let len = space.encode(&arch).len();
        if *encoding_len.get_or_insert(len) != len {
            return Err(format!("`{text}` encodes to {len} numbers, others to {}", encoding_len.unwrap_or(0)));
        }
        space.to_graph(&arch).validate().map_err(|e| format!("`{text}`: {e}"))?;
    }
    Ok(())
}

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

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;
    use crate::{ArchGraph, ParseArchError};

    /// Three bits; `lossy` formats the last bit away, breaking
    /// parse ∘ format.
    struct Bits {
        lossy: bool,
    }

    impl SearchSpace for Bits {
        type Arch = [bool; 3];

        fn name(&self) -> &str {
            "bits"
        }

        fn sample(&self, rng: &mut Rng) -> [bool; 3] {
            [rng.random(), rng.random(), rng.random()]
        }

        fn neighbours(&self, arch: &[bool; 3]) -> Vec<[bool; 3]> {
            (0..3).map(|i| {
                let mut n = *arch;
                n[i] = !n[i];
                n
            })
            .collect()
        }

        fn format(&self, arch: &[bool; 3]) -> String {
            let bits = if self.lossy { &arch[..2] } else { &arch[..] };
            bits.iter().map(|&b| if b { '1' } else { '0' }).collect()
        }

        fn parse(&self, s: &str) -> Result<[bool; 3], ParseArchError> {
            let mut out = [false; 3];
            for (o, c) in out.iter_mut().zip(s.chars()) {
                *o = c == '1';
            }
            Ok(out)
        }

        fn canonical_key(&self, arch: &[bool; 3]) -> String {
            self.format(arch)
        }

        fn to_graph(&self, _arch: &[bool; 3]) -> ArchGraph {
            ArchGraph::default()
        }

        fn encode(&self, arch: &[bool; 3]) -> Vec<f32> {
            arch.iter().map(|&b| f32::from(u8::from(b))).collect()
        }

        fn decisions(&self) -> Option<Vec<usize>> {
            Some(vec![2; 3])
        }

        fn arch_from_decisions(&self, choices: &[usize]) -> Option<[bool; 3]> {
            // Wrong on purpose when lossy: ignores the last choice.
            Some([choices[0] == 1, choices[1] == 1, !self.lossy && choices[2] == 1])
        }

        fn arch_decisions(&self, arch: &[bool; 3]) -> Option<Vec<usize>> {
            Some(arch.iter().map(|&b| usize::from(b)).collect())
        }
    }

    #[test]
    fn the_laws_hold_for_a_sound_space_and_catch_a_broken_one() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(0);
        check(&Bits { lossy: false }, &mut rng, 50).unwrap();
        let e = check_space(&Bits { lossy: true }, &mut rng, 50).unwrap_err();
        assert!(e.contains("parses to"), "{e}");
        let e = check_decisions(&Bits { lossy: true }, &mut rng, 50).unwrap_err();
        assert!(e.contains("→"), "{e}");
    }
}
