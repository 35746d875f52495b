//! A transformer-encoder search space in the manner of FlexiBERT and HAT:
//! the number of layers (1–12) and, per layer, its hidden size
//! {128, 256, 512, 768}, attention heads {2, 4, 8, 12} (dividing the hidden
//! size) and feed-forward size {512, 1024, 2048, 3072}. Where consecutive
//! layers differ in hidden size, a linear projection joins them (as in
//! FlexiBERT). The network is a BERT encoder: token, position and segment
//! embeddings with layer norm, then post-norm layers (self-attention with
//! Q, K, V and output projections, feed-forward with GELU); no pooler.
//!
//! Standard string: layers joined by `|`, each `h{hidden}a{heads}f{ffn}`;
//! BERT-base is twelve `h768a12f3072` (examples/archs/bert-base.txt).
//! [`TransformerSpace`] holds the vocabulary, the positions and the sequence
//! length the MACs are counted for.

use nasforge_core::{ArchGraph, AttrValue, ParseArchError, Rng, SearchSpace};
use rand::Rng as _;

/// Hidden sizes a layer may choose.
pub const HIDDEN: [u32; 4] = [128, 256, 512, 768];
/// Attention heads a layer may choose (they must divide its hidden size).
pub const HEADS: [u32; 4] = [2, 4, 8, 12];
/// Feed-forward sizes a layer may choose.
pub const FFN: [u32; 4] = [512, 1024, 2048, 3072];
/// Most layers.
pub const MAX_LAYERS: usize = 12;

/// One encoder layer's choices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Layer {
    /// Hidden size.
    pub hidden: u32,
    /// Attention heads.
    pub heads: u32,
    /// Feed-forward size.
    pub ffn: u32,
}

impl Layer {
    fn valid(&self) -> bool {
        HIDDEN.contains(&self.hidden) && HEADS.contains(&self.heads) && FFN.contains(&self.ffn) && self.hidden % self.heads == 0
    }
}

/// An encoder: 1 to [`MAX_LAYERS`] layers.
pub type Encoder = Vec<Layer>;

/// The space with the settings its counts depend on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransformerSpace {
    /// Vocabulary size (BERT's WordPiece: 30,522).
    pub vocab: u64,
    /// Position embeddings (512).
    pub positions: u64,
    /// Segment (token type) embeddings (2).
    pub segments: u64,
    /// Sequence length the MACs are counted for (128).
    pub seq_len: u64,
}

impl Default for TransformerSpace {
    fn default() -> Self {
        Self { vocab: 30_522, positions: 512, segments: 2, seq_len: 128 }
    }
}

/// Parameters and MACs of an encoder.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cost {
    /// Trainable parameters.
    pub params: u64,
    /// Multiply-accumulates of one forward pass over `seq_len` tokens
    /// (matrix products only).
    pub macs: u64,
}

impl TransformerSpace {
    /// Parameters and MACs of `arch`.
    pub fn cost(&self, arch: &Encoder) -> Cost {
        let n = self.seq_len;
        let Some(first) = arch.first() else { return Cost::default() };
        let h0 = u64::from(first.hidden);
        // Embeddings and their layer norm.
        let mut params = (self.vocab + self.positions + self.segments) * h0 + 2 * h0;
        let mut macs = 0;
        let mut prev = h0;
        for l in arch {
            let (h, f) = (u64::from(l.hidden), u64::from(l.ffn));
            if h != prev {
                params += prev * h + h;
                macs += n * prev * h;
            }
            // Q, K, V, output projection (weights and biases), layer norm.
            params += 4 * (h * h + h) + 2 * h;
            macs += 4 * n * h * h + 2 * n * n * h;
            // Feed-forward and layer norm.
            params += h * f + f + f * h + h + 2 * h;
            macs += 2 * n * h * f;
            prev = h;
        }
        Cost { params, macs }
    }

    fn random_layer(rng: &mut Rng) -> Layer {
        let hidden = HIDDEN[rng.random_range(0..HIDDEN.len())];
        let heads: Vec<u32> = HEADS.into_iter().filter(|a| hidden % a == 0).collect();
        Layer { hidden, heads: heads[rng.random_range(0..heads.len())], ffn: FFN[rng.random_range(0..FFN.len())] }
    }
}

impl SearchSpace for TransformerSpace {
    type Arch = Encoder;

    fn name(&self) -> &str {
        "transformer"
    }

    fn sample(&self, rng: &mut Rng) -> Encoder {
        let depth = rng.random_range(1..=MAX_LAYERS);
        (0..depth).map(|_| Self::random_layer(rng)).collect()
    }

    /// The number of layers (1..=12), then hidden size, heads and
    /// feed-forward size of each of [`MAX_LAYERS`] layers, the ones past
    /// the depth unused (read back as option 0): 37 decisions. A layer
    /// whose heads do not divide its hidden size makes the choice invalid.
    fn decisions(&self) -> Option<Vec<usize>> {
        let layer = [HIDDEN.len(), HEADS.len(), FFN.len()];
        Some(std::iter::once(MAX_LAYERS).chain((0..MAX_LAYERS).flat_map(|_| layer)).collect())
    }

    fn arch_from_decisions(&self, choices: &[usize]) -> Option<Encoder> {
        if choices.len() != 1 + 3 * MAX_LAYERS || choices[0] >= MAX_LAYERS {
            return None;
        }
        choices[1..1 + 3 * (choices[0] + 1)]
            .chunks(3)
            .map(|c| {
                let l = Layer { hidden: *HIDDEN.get(c[0])?, heads: *HEADS.get(c[1])?, ffn: *FFN.get(c[2])? };
                l.valid().then_some(l)
            })
            .collect()
    }

    fn arch_decisions(&self, arch: &Encoder) -> Option<Vec<usize>> {
        let mut out = vec![arch.len().checked_sub(1)?];
        for i in 0..MAX_LAYERS {
            match arch.get(i) {
                Some(l) => out.extend([
                    HIDDEN.iter().position(|&h| h == l.hidden)?,
                    HEADS.iter().position(|&a| a == l.heads)?,
                    FFN.iter().position(|&f| f == l.ffn)?,
                ]),
                None => out.extend([0, 0, 0]),
            }
        }
        Some(out)
    }

    fn neighbours(&self, arch: &Encoder) -> Vec<Encoder> {
        let mut out = Vec::new();
        for i in 0..arch.len() {
            let l = arch[i];
            let variants = HIDDEN
                .into_iter()
                .filter(|&h| h != l.hidden)
                .map(|hidden| Layer { hidden, ..l })
                .chain(HEADS.into_iter().filter(|&a| a != l.heads).map(|heads| Layer { heads, ..l }))
                .chain(FFN.into_iter().filter(|&f| f != l.ffn).map(|ffn| Layer { ffn, ..l }));
            for v in variants.filter(Layer::valid) {
                let mut n = arch.clone();
                n[i] = v;
                out.push(n);
            }
        }
        if arch.len() < MAX_LAYERS {
            let mut n = arch.clone();
            n.push(*arch.last().expect("an encoder has a layer"));
            out.push(n);
        }
        if arch.len() > 1 {
            let mut n = arch.clone();
            n.pop();
            out.push(n);
        }
        out
    }

    fn format(&self, arch: &Encoder) -> String {
        arch.iter().map(|l| format!("h{}a{}f{}", l.hidden, l.heads, l.ffn)).collect::<Vec<_>>().join("|")
    }

    fn parse(&self, s: &str) -> Result<Encoder, ParseArchError> {
        let err = |reason: String| ParseArchError { space: "transformer".into(), input: s.into(), reason };
        let layers: Encoder = s
            .trim()
            .split('|')
            .map(|part| {
                let part = part.trim();
                let parsed = part.strip_prefix('h').and_then(|r| {
                    let (h, r) = r.split_once('a')?;
                    let (a, f) = r.split_once('f')?;
                    Some(Layer { hidden: h.parse().ok()?, heads: a.parse().ok()?, ffn: f.parse().ok()? })
                });
                let l = parsed.ok_or_else(|| err(format!("`{part}` is not h<hidden>a<heads>f<ffn>")))?;
                if !l.valid() {
                    return Err(err(format!(
                        "`{part}`: hidden in {HIDDEN:?}, heads in {HEADS:?} dividing it, feed-forward in {FFN:?}"
                    )));
                }
                Ok(l)
            })
            .collect::<Result<_, _>>()?;
        if layers.len() > MAX_LAYERS {
            return Err(err(format!("{} layers; at most {MAX_LAYERS}", layers.len())));
        }
        Ok(layers)
    }

    fn canonical_key(&self, arch: &Encoder) -> String {
        self.format(arch)
    }

    fn to_graph(&self, arch: &Encoder) -> ArchGraph {
        let mut g = ArchGraph::default();
        let mut prev = g.add_node("embedding");
        for l in arch {
            let n = g.add_node("encoder-layer");
            for (k, v) in [("hidden", l.hidden), ("heads", l.heads), ("ffn", l.ffn)] {
                g.nodes[n].attrs.insert(k.into(), AttrValue::Int(i64::from(v)));
            }
            g.add_edge(prev, n);
            prev = n;
        }
        g
    }

    fn encode(&self, arch: &Encoder) -> Vec<f32> {
        // Per layer slot: one-hot hidden, heads, ffn, and "absent".
        let mut v = Vec::with_capacity(MAX_LAYERS * 13);
        for slot in 0..MAX_LAYERS {
            let mut chunk = [0.0f32; 13];
            match arch.get(slot) {
                Some(l) => {
                    chunk[HIDDEN.iter().position(|&h| h == l.hidden).expect("valid")] = 1.0;
                    chunk[4 + HEADS.iter().position(|&a| a == l.heads).expect("valid")] = 1.0;
                    chunk[8 + FFN.iter().position(|&f| f == l.ffn).expect("valid")] = 1.0;
                }
                None => chunk[12] = 1.0,
            }
            v.extend_from_slice(&chunk);
        }
        v
    }

    fn size(&self) -> Option<u128> {
        // Valid (hidden, heads) pairs times ffn choices, per layer.
        let per_layer = HIDDEN.iter().map(|h| HEADS.iter().filter(|&&a| h % a == 0).count()).sum::<usize>() * FFN.len();
        Some((1..=MAX_LAYERS as u32).map(|d| (per_layer as u128).pow(d)).sum())
    }

    fn params(&self, arch: &Encoder) -> Option<u64> {
        Some(self.cost(arch).params)
    }

    fn macs(&self, arch: &Encoder) -> Option<u64> {
        Some(self.cost(arch).macs)
    }

    fn describe(&self, arch: &Encoder) -> Vec<(String, String)> {
        let c = self.cost(arch);
        vec![("params (no pooler)".into(), c.params.to_string()), (format!("MACs ({} tokens)", self.seq_len), c.macs.to_string())]
    }
}

/// Registers this crate's spaces: `transformer`.
pub fn register(registry: &mut nasforge_registry::Registry) {
    registry.add_space(nasforge_registry::SpaceEntry::new::<nasforge_registry::NoParams, _>(
        "transformer",
        "BERT-like encoders (FlexiBERT/HAT): 1-12 layers with hidden size, heads and feed-forward width per layer.",
        |_| TransformerSpace::default(),
    ));
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    #[test]
    fn the_space_laws_hold() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        nasforge_core::laws::check(&TransformerSpace::default(), &mut rng, 300).unwrap();
    }

    #[test]
    fn bert_base_has_its_published_parameter_count() {
        let space = TransformerSpace::default();
        let bert = space.parse(&["h768a12f3072"; 12].join("|")).unwrap();
        // BERT-base: 109,482,240 parameters with its 590,592-parameter
        // pooler (the "110 M" of the paper).
        assert_eq!(space.cost(&bert).params + 768 * 768 + 768, 109_482_240);
    }

    #[test]
    fn round_trips_mutations_and_errors() {
        let space = TransformerSpace::default();
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        for _ in 0..100 {
            let a = space.sample(&mut rng);
            assert_eq!(space.parse(&space.format(&a)).unwrap(), a);
            let m = space.mutate(&a, &mut rng);
            assert_ne!(m, a);
            assert!(m.iter().all(Layer::valid));
            space.to_graph(&m).validate().unwrap();
            assert_eq!(space.encode(&m).len(), MAX_LAYERS * 13);
        }
        assert!(space.parse("h128a12f512").unwrap_err().to_string().contains("dividing"));
        assert!(space.parse("h100a2f512").is_err());
        // A projection joins layers of different widths.
        let mixed = space.parse("h256a4f1024|h512a8f2048").unwrap();
        let (a, b) = (space.cost(&space.parse("h256a4f1024").unwrap()), space.cost(&mixed));
        assert!(b.params > a.params + 256 * 512);
    }
}
