//! The GraphNAS / Auto-GNN search space (Gao et al. 2020; Zhou et al. 2019):
//! a stack of message-passing layers, each choosing
//!
//! - the attention (correlation) type: `const`, `gcn`, `gat`, `sym-gat`,
//!   `cos`, `linear`, `generalized-linear`;
//! - the aggregator: `sum`, `mean`, `max`, `mlp`;
//! - the activation: `sigmoid`, `tanh`, `relu`, `linear`, `softplus`,
//!   `leaky-relu`, `relu6`, `elu`;
//! - the number of heads: 1, 2, 4, 6, 8, 16;
//! - the hidden size per head: 4, 8, 16, 32, 64, 128, 256 (the last layer
//!   outputs the classes instead, its heads averaged);
//! - a skip connection (Auto-GNN; projected when widths differ).
//!
//! Standard string: layers joined by `|`, each
//! `attention,aggregator,activation,heads,hidden,skip` with skip `0`/`1`
//! (`gat,sum,elu,8,8,0|gat,sum,linear,1,8,0` is a two-layer GAT in the
//! manner of Veličković et al.). Layers, input features and classes are
//! settings of [`AutoGnnSpace`] (defaults: 2 layers, Cora's 1,433 features
//! and 7 classes).
//!
//! Parameters, as this crate's network defines them: a layer maps `d_in`
//! to `heads × hidden` with one weight matrix (`d_in × heads·hidden`) and a
//! bias per output; attention adds per head `2·hidden` (gat, sym-gat, cos),
//! `hidden` (linear) or `3·hidden` (generalized-linear: both sides and the
//! general vector); an `mlp` aggregator adds per head a `hidden × hidden`
//! layer with bias; a skip adds a `d_in × d_out` projection unless the
//! widths agree.

use nasforge_core::{ArchGraph, AttrValue, ParseArchError, Rng, SearchSpace};
use rand::Rng as _;

/// Attention types.
pub const ATTENTIONS: [&str; 7] = ["const", "gcn", "gat", "sym-gat", "cos", "linear", "generalized-linear"];
/// Aggregators.
pub const AGGREGATORS: [&str; 4] = ["sum", "mean", "max", "mlp"];
/// Activations.
pub const ACTIVATIONS: [&str; 8] = ["sigmoid", "tanh", "relu", "linear", "softplus", "leaky-relu", "relu6", "elu"];
/// Head counts.
pub const HEADS: [u32; 6] = [1, 2, 4, 6, 8, 16];
/// Hidden sizes per head.
pub const HIDDEN: [u32; 7] = [4, 8, 16, 32, 64, 128, 256];

/// One layer's choices, as indices into the option lists (heads and
/// hidden as values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GnnLayer {
    /// Index into [`ATTENTIONS`].
    pub attention: u8,
    /// Index into [`AGGREGATORS`].
    pub aggregator: u8,
    /// Index into [`ACTIVATIONS`].
    pub activation: u8,
    /// Heads.
    pub heads: u32,
    /// Hidden size per head.
    pub hidden: u32,
    /// Skip connection.
    pub skip: bool,
}

/// The space and its network settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AutoGnnSpace {
    /// Layers.
    pub layers: usize,
    /// Input node features.
    pub features: u64,
    /// Output classes.
    pub classes: u64,
}

impl Default for AutoGnnSpace {
    fn default() -> Self {
        Self { layers: 2, features: 1433, classes: 7 }
    }
}

/// The choices per layer, in decision order.
const OPTIONS: [usize; 6] = [ATTENTIONS.len(), AGGREGATORS.len(), ACTIVATIONS.len(), HEADS.len(), HIDDEN.len(), 2];

impl GnnLayer {
    fn from_choices(c: &[usize]) -> Option<GnnLayer> {
        Some(GnnLayer {
            attention: u8::try_from(*c.first().filter(|&&v| v < OPTIONS[0])?).ok()?,
            aggregator: u8::try_from(*c.get(1).filter(|&&v| v < OPTIONS[1])?).ok()?,
            activation: u8::try_from(*c.get(2).filter(|&&v| v < OPTIONS[2])?).ok()?,
            heads: *HEADS.get(*c.get(3)?)?,
            hidden: *HIDDEN.get(*c.get(4)?)?,
            skip: match c.get(5)? {
                0 => false,
                1 => true,
                _ => return None,
            },
        })
    }

    fn choices(&self) -> [usize; 6] {
        [
            self.attention as usize,
            self.aggregator as usize,
            self.activation as usize,
            HEADS.iter().position(|&h| h == self.heads).expect("valid"),
            HIDDEN.iter().position(|&h| h == self.hidden).expect("valid"),
            usize::from(self.skip),
        ]
    }
}

impl AutoGnnSpace {
    /// Trainable parameters of `arch` (see the crate docs).
    pub fn param_count(&self, arch: &[GnnLayer]) -> u64 {
        let mut d_in = self.features;
        let mut total = 0;
        for (i, l) in arch.iter().enumerate() {
            let last = i + 1 == arch.len();
            let (heads, hidden) = (u64::from(l.heads), if last { self.classes } else { u64::from(l.hidden) });
            let d_out = if last { hidden } else { heads * hidden };
            total += d_in * heads * hidden + d_out;
            total += heads
                * hidden
                * match ATTENTIONS[l.attention as usize] {
                    "gat" | "sym-gat" | "cos" => 2,
                    "linear" => 1,
                    "generalized-linear" => 3,
                    _ => 0,
                };
            if AGGREGATORS[l.aggregator as usize] == "mlp" {
                total += heads * (hidden * hidden + hidden);
            }
            if l.skip && d_in != d_out {
                total += d_in * d_out;
            }
            d_in = d_out;
        }
        total
    }
}

impl SearchSpace for AutoGnnSpace {
    type Arch = Vec<GnnLayer>;

    fn name(&self) -> &str {
        "auto-gnn"
    }

    fn sample(&self, rng: &mut Rng) -> Vec<GnnLayer> {
        (0..self.layers)
            .map(|_| {
                let c: Vec<usize> = OPTIONS.iter().map(|&n| rng.random_range(0..n)).collect();
                GnnLayer::from_choices(&c).expect("in range")
            })
            .collect()
    }

    fn mutate(&self, arch: &Vec<GnnLayer>, rng: &mut Rng) -> Vec<GnnLayer> {
        let mut choices = self.arch_decisions(arch).expect("always");
        let d = rng.random_range(0..choices.len());
        let n = OPTIONS[d % OPTIONS.len()];
        choices[d] = (choices[d] + rng.random_range(1..n)) % n;
        self.arch_from_decisions(&choices).expect("in range")
    }

    fn neighbours(&self, arch: &Vec<GnnLayer>) -> Vec<Vec<GnnLayer>> {
        let choices = self.arch_decisions(arch).expect("always");
        let mut out = Vec::new();
        for d in 0..choices.len() {
            for v in (0..OPTIONS[d % OPTIONS.len()]).filter(|&v| v != choices[d]) {
                let mut c = choices.clone();
                c[d] = v;
                out.push(self.arch_from_decisions(&c).expect("in range"));
            }
        }
        out
    }

    fn format(&self, arch: &Vec<GnnLayer>) -> String {
        arch.iter()
            .map(|l| {
                format!(
                    "{},{},{},{},{},{}",
                    ATTENTIONS[l.attention as usize],
                    AGGREGATORS[l.aggregator as usize],
                    ACTIVATIONS[l.activation as usize],
                    l.heads,
                    l.hidden,
                    u8::from(l.skip)
                )
            })
            .collect::<Vec<_>>()
            .join("|")
    }

    fn parse(&self, s: &str) -> Result<Vec<GnnLayer>, ParseArchError> {
        let err = |reason: String| ParseArchError { space: "auto-gnn".into(), input: s.into(), reason };
        let layers: Vec<GnnLayer> = s
            .trim()
            .split('|')
            .map(|part| {
                let f: Vec<&str> = part.split(',').map(str::trim).collect();
                if f.len() != 6 {
                    return Err(err(format!("`{part}`: expected attention,aggregator,activation,heads,hidden,skip")));
                }
                let pick = |list: &[&str], v: &str, what: &str| {
                    list.iter().position(|x| *x == v).ok_or_else(|| err(format!("unknown {what} `{v}`; valid: {}", list.join(", "))))
                };
                let number = |list: &[u32], v: &str, what: &str| {
                    v.parse::<u32>().ok().and_then(|n| list.iter().position(|&x| x == n)).ok_or_else(|| err(format!("{what} `{v}`; valid: {list:?}")))
                };
                let skip = match f[5] {
                    "0" => 0,
                    "1" => 1,
                    other => return Err(err(format!("skip `{other}`; valid: 0, 1"))),
                };
                let c = [
                    pick(&ATTENTIONS, f[0], "attention")?,
                    pick(&AGGREGATORS, f[1], "aggregator")?,
                    pick(&ACTIVATIONS, f[2], "activation")?,
                    number(&HEADS, f[3], "heads")?,
                    number(&HIDDEN, f[4], "hidden size")?,
                    skip,
                ];
                Ok(GnnLayer::from_choices(&c).expect("checked above"))
            })
            .collect::<Result<_, _>>()?;
        if layers.len() != self.layers {
            return Err(err(format!("{} layers; this space has {}", layers.len(), self.layers)));
        }
        Ok(layers)
    }

    fn canonical_key(&self, arch: &Vec<GnnLayer>) -> String {
        // The last layer's hidden size is unused (it outputs the classes).
        let mut a = arch.clone();
        if let Some(last) = a.last_mut() {
            last.hidden = HIDDEN[0];
        }
        self.format(&a)
    }

    fn to_graph(&self, arch: &Vec<GnnLayer>) -> ArchGraph {
        let mut g = ArchGraph::default();
        let mut prev = g.add_node("input");
        for l in arch {
            let n = g.add_node(format!("{}-{}", ATTENTIONS[l.attention as usize], AGGREGATORS[l.aggregator as usize]));
            for (k, v) in [("heads", i64::from(l.heads)), ("hidden", i64::from(l.hidden)), ("skip", i64::from(l.skip))] {
                g.nodes[n].attrs.insert(k.into(), AttrValue::Int(v));
            }
            g.nodes[n].attrs.insert("activation".into(), AttrValue::Text(ACTIVATIONS[l.activation as usize].into()));
            g.add_edge(prev, n);
            prev = n;
        }
        g
    }

    fn encode(&self, arch: &Vec<GnnLayer>) -> Vec<f32> {
        let width: usize = OPTIONS.iter().sum();
        let mut v = vec![0.0; width * arch.len()];
        for (i, l) in arch.iter().enumerate() {
            let mut offset = i * width;
            for (c, n) in l.choices().iter().zip(OPTIONS) {
                v[offset + c] = 1.0;
                offset += n;
            }
        }
        v
    }

    fn size(&self) -> Option<u128> {
        Some((OPTIONS.iter().product::<usize>() as u128).pow(self.layers as u32))
    }

    fn params(&self, arch: &Vec<GnnLayer>) -> Option<u64> {
        Some(self.param_count(arch))
    }

    fn decisions(&self) -> Option<Vec<usize>> {
        Some((0..self.layers).flat_map(|_| OPTIONS).collect())
    }

    fn arch_from_decisions(&self, choices: &[usize]) -> Option<Vec<GnnLayer>> {
        if choices.len() != self.layers * OPTIONS.len() {
            return None;
        }
        choices.chunks(OPTIONS.len()).map(GnnLayer::from_choices).collect()
    }

    fn arch_decisions(&self, arch: &Vec<GnnLayer>) -> Option<Vec<usize>> {
        Some(arch.iter().flat_map(|l| l.choices()).collect())
    }

    fn describe(&self, arch: &Vec<GnnLayer>) -> Vec<(String, String)> {
        vec![(format!("params ({} features, {} classes)", self.features, self.classes), self.param_count(arch).to_string())]
    }
}

/// Registers this crate's spaces: `auto-gnn`.
pub fn register(registry: &mut nasforge_registry::Registry) {
    registry.add_space(nasforge_registry::SpaceEntry::new::<nasforge_registry::NoParams, _>(
        "auto-gnn",
        "The GraphNAS/Auto-GNN layer space: attention, aggregator, activation, heads, hidden size and skip per layer.",
        |_| AutoGnnSpace::default(),
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
        nasforge_core::laws::check(&AutoGnnSpace::default(), &mut rng, 300).unwrap();
    }

    #[test]
    fn a_two_layer_gat_counts_like_pyg() {
        // PyG's GATConv(1433, 8, heads=8) + GATConv(64, 7, heads=1):
        // 1433·64 + 64 (bias) + 2·64 (attention) = 91,904 and
        // 64·7 + 7 + 2·7 = 469: 92,373 in all.
        let space = AutoGnnSpace::default();
        let gat = space.parse("gat,sum,elu,8,8,0|gat,sum,linear,1,8,0").unwrap();
        assert_eq!(space.param_count(&gat), 92_373);
    }

    #[test]
    fn round_trips_mutations_and_sizes() {
        let space = AutoGnnSpace::default();
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        for _ in 0..100 {
            let a = space.sample(&mut rng);
            assert_eq!(space.parse(&space.format(&a)).unwrap(), a);
            let m = space.mutate(&a, &mut rng);
            assert_ne!(m, a);
            assert_eq!(space.arch_from_decisions(&space.arch_decisions(&m).unwrap()).unwrap(), m);
            assert_eq!(space.encode(&m).len(), 2 * 34);
            space.to_graph(&m).validate().unwrap();
        }
        assert_eq!(space.size(), Some((7 * 4 * 8 * 6 * 7 * 2u128).pow(2)));
        assert!(space.parse("gat,sum,elu,8,8,0").unwrap_err().to_string().contains("1 layers"));
        assert!(space.parse("gat,sum,elu,3,8,0|gat,sum,elu,1,8,0").unwrap_err().to_string().contains("heads `3`"));
    }
}
