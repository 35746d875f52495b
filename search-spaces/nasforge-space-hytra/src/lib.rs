//! HyTra, the hybrid CNN-transformer space of BossNAS (Li et al., ICCV
//! 2021), in a fabric form: a stem brings the image to 1/4 resolution, then
//! a fixed number of blocks (16 by default) each choose
//!
//! - its kind: a residual bottleneck convolution (`conv`: 1×1 reduce to a
//!   quarter, 3×3, 1×1 expand, BN after each) or a residual bottleneck
//!   self-attention (`attn`: the 3×3 replaced by multi-head self-attention
//!   over all positions, BoTNet-style, with 1×1 query, key and value
//!   projections);
//! - whether it first moves down one scale (`v`: halve the resolution,
//!   double the channels, through a strided 1×1 projection with BN).
//!
//! There are four scales (1/4 … 1/32, channels `base`·1, 2, 4, 8), so at
//! most three blocks move down; where they do is searched. A global pool
//! and a linear classifier end the network.
//!
//! Standard string: the blocks joined by `,`, each `conv`/`attn` prefixed
//! with `v` when it moves down: `conv,conv,vconv,attn,...`.

use nasforge_core::{ArchGraph, AttrValue, ParseArchError, Rng, SearchSpace};
use rand::Rng as _;

/// Scales below the stem's 1/4 resolution.
pub const SCALES: usize = 4;

/// One block's choices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HyBlock {
    /// Self-attention (`true`) or convolution.
    pub attention: bool,
    /// Moves down one scale first.
    pub down: bool,
}

/// The space and its network settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HyTraSpace {
    /// Blocks.
    pub blocks: usize,
    /// Channels at the first scale.
    pub base: u64,
    /// Input resolution (square).
    pub resolution: u64,
    /// Classes.
    pub classes: u64,
}

impl Default for HyTraSpace {
    fn default() -> Self {
        Self { blocks: 16, base: 64, resolution: 224, classes: 1000 }
    }
}

/// Parameters and MACs of a network.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cost {
    /// Trainable parameters.
    pub params: u64,
    /// Multiply-accumulates: convolutions, projections, the attention
    /// products (`QKᵀ` and the weighted sum) and the classifier.
    pub macs: u64,
}

impl HyTraSpace {
    /// Parameters and MACs of `arch` (see the crate docs for the blocks).
    pub fn cost(&self, arch: &[HyBlock]) -> Cost {
        let mut c = Cost::default();
        let mut side = self.resolution / 2;
        // Stem: 7×7 stride-2 conv to `base` channels, BN; a 3×3 stride-2
        // max pool (no parameters).
        c.params += 3 * self.base * 49 + 2 * self.base;
        c.macs += 3 * self.base * 49 * side * side;
        side /= 2;
        let mut ch = self.base;
        for b in arch {
            if b.down {
                let next = ch * 2;
                side /= 2;
                c.params += ch * next + 2 * next;
                c.macs += ch * next * side * side;
                ch = next;
            }
            let (mid, px) = (ch / 4, side * side);
            // 1×1 reduce and 1×1 expand, with BN.
            c.params += 2 * ch * mid + 2 * mid + 2 * ch;
            c.macs += 2 * ch * mid * px;
            if b.attention {
                // Q, K, V projections and BN; QKᵀ and the weighted sum.
                c.params += 3 * mid * mid + 2 * mid;
                c.macs += 3 * mid * mid * px + 2 * px * px * mid;
            } else {
                c.params += 9 * mid * mid + 2 * mid;
                c.macs += 9 * mid * mid * px;
            }
        }
        c.params += ch * self.classes + self.classes;
        c.macs += ch * self.classes;
        c
    }

    fn downs(arch: &[HyBlock]) -> usize {
        arch.iter().filter(|b| b.down).count()
    }
}

impl SearchSpace for HyTraSpace {
    type Arch = Vec<HyBlock>;

    fn name(&self) -> &str {
        "hytra"
    }

    fn sample(&self, rng: &mut Rng) -> Vec<HyBlock> {
        // Uniform over architectures: the number of down-samplings k with
        // probability ∝ C(blocks, k), then a uniform k-subset, then a kind
        // per block.
        let counts: Vec<u128> = (0..SCALES.min(self.blocks + 1)).map(|k| binomial(self.blocks as u128, k as u128)).collect();
        let mut pick = rng.random_range(0..counts.iter().sum::<u128>());
        let k = counts.iter().position(|&c| {
            if pick < c {
                true
            } else {
                pick -= c;
                false
            }
        });
        let k = k.expect("pick < the sum");
        let downs = rand::seq::index::sample(rng, self.blocks, k).into_vec();
        (0..self.blocks).map(|i| HyBlock { attention: rng.random(), down: downs.contains(&i) }).collect()
    }

    /// Per block: conv or attention, then whether it moves down a scale
    /// (2 options each); more than `SCALES - 1` down-samplings is invalid.
    fn decisions(&self) -> Option<Vec<usize>> {
        Some(vec![2; 2 * self.blocks])
    }

    fn arch_from_decisions(&self, choices: &[usize]) -> Option<Vec<HyBlock>> {
        if choices.len() != 2 * self.blocks || choices.iter().any(|&c| c > 1) {
            return None;
        }
        let arch: Vec<HyBlock> = choices.chunks(2).map(|c| HyBlock { attention: c[0] == 1, down: c[1] == 1 }).collect();
        (Self::downs(&arch) < SCALES).then_some(arch)
    }

    fn arch_decisions(&self, arch: &Vec<HyBlock>) -> Option<Vec<usize>> {
        (arch.len() == self.blocks).then(|| arch.iter().flat_map(|b| [usize::from(b.attention), usize::from(b.down)]).collect())
    }

    fn neighbours(&self, arch: &Vec<HyBlock>) -> Vec<Vec<HyBlock>> {
        let mut out = Vec::new();
        for i in 0..arch.len() {
            let mut kind = arch.clone();
            kind[i].attention = !kind[i].attention;
            out.push(kind);
            let mut down = arch.clone();
            down[i].down = !down[i].down;
            if Self::downs(&down) < SCALES {
                out.push(down);
            }
        }
        out
    }

    fn format(&self, arch: &Vec<HyBlock>) -> String {
        arch.iter()
            .map(|b| format!("{}{}", if b.down { "v" } else { "" }, if b.attention { "attn" } else { "conv" }))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn parse(&self, s: &str) -> Result<Vec<HyBlock>, ParseArchError> {
        let err = |reason: String| ParseArchError { space: "hytra".into(), input: s.into(), reason };
        let arch: Vec<HyBlock> = s
            .trim()
            .split(',')
            .map(|b| {
                let b = b.trim();
                let (down, kind) = b.strip_prefix('v').map_or((false, b), |k| (true, k));
                match kind {
                    "conv" => Ok(HyBlock { attention: false, down }),
                    "attn" => Ok(HyBlock { attention: true, down }),
                    _ => Err(err(format!("`{b}`: a block is conv or attn, prefixed with v to move down"))),
                }
            })
            .collect::<Result<_, _>>()?;
        if arch.len() != self.blocks {
            return Err(err(format!("{} blocks; this space has {}", arch.len(), self.blocks)));
        }
        if Self::downs(&arch) >= SCALES {
            return Err(err(format!("{} down-samplings; at most {}", Self::downs(&arch), SCALES - 1)));
        }
        Ok(arch)
    }

    fn canonical_key(&self, arch: &Vec<HyBlock>) -> String {
        self.format(arch)
    }

    fn to_graph(&self, arch: &Vec<HyBlock>) -> ArchGraph {
        let mut g = ArchGraph::default();
        let mut prev = g.add_node("stem");
        let mut scale = 0;
        for b in arch {
            if b.down {
                scale += 1;
                let d = g.add_node("downsample");
                g.add_edge(prev, d);
                prev = d;
            }
            let n = g.add_node(if b.attention { "res-attention" } else { "res-conv" });
            g.nodes[n].attrs.insert("scale".into(), AttrValue::Int(scale));
            g.add_edge(prev, n);
            prev = n;
        }
        let head = g.add_node("head");
        g.add_edge(prev, head);
        g
    }

    fn encode(&self, arch: &Vec<HyBlock>) -> Vec<f32> {
        arch.iter().flat_map(|b| [f32::from(u8::from(b.attention)), f32::from(u8::from(b.down))]).collect()
    }

    fn size(&self) -> Option<u128> {
        // 2^blocks kinds times the down-sampling subsets of size ≤ 3.
        let subsets: u128 = (0..SCALES as u128).map(|k| binomial(self.blocks as u128, k)).sum();
        Some((1u128 << self.blocks) * subsets)
    }

    fn params(&self, arch: &Vec<HyBlock>) -> Option<u64> {
        Some(self.cost(arch).params)
    }

    fn macs(&self, arch: &Vec<HyBlock>) -> Option<u64> {
        Some(self.cost(arch).macs)
    }

    fn describe(&self, arch: &Vec<HyBlock>) -> Vec<(String, String)> {
        let c = self.cost(arch);
        vec![("params".into(), c.params.to_string()), (format!("MACs ({0}×{0} input)", self.resolution), c.macs.to_string())]
    }
}

/// `n` choose `k`.
fn binomial(n: u128, k: u128) -> u128 {
    if k > n {
        return 0;
    }
    (0..k).fold(1, |acc, i| acc * (n - i) / (i + 1))
}

/// Registers this crate's spaces: `hytra`.
pub fn register(registry: &mut nasforge_registry::Registry) {
    registry.add_space(nasforge_registry::SpaceEntry::new::<nasforge_registry::NoParams, _>(
        "hytra",
        "HyTra (BossNAS): 16 blocks, each a residual convolution or self-attention, with searched down-sampling.",
        |_| HyTraSpace::default(),
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
        nasforge_core::laws::check(&HyTraSpace::default(), &mut rng, 300).unwrap();
    }

    #[test]
    fn round_trips_mutations_and_the_down_sampling_limit() {
        let space = HyTraSpace::default();
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        for _ in 0..200 {
            let a = space.sample(&mut rng);
            assert_eq!(space.parse(&space.format(&a)).unwrap(), a);
            let m = space.mutate(&a, &mut rng);
            assert_ne!(m, a);
            assert!(HyTraSpace::downs(&m) < SCALES);
            space.to_graph(&m).validate().unwrap();
        }
        let four_downs = ["vconv"; 4].iter().chain(["conv"; 12].iter()).copied().collect::<Vec<_>>().join(",");
        assert!(space.parse(&four_downs).unwrap_err().to_string().contains("at most 3"));
        // C(16,0..=3) = 1 + 16 + 120 + 560 subsets.
        assert_eq!(space.size(), Some(65_536 * 697));
    }

    #[test]
    fn attention_costs_more_at_high_resolution_and_fewer_parameters() {
        let space = HyTraSpace::default();
        let conv = space.parse(&["conv"; 16].join(",")).unwrap();
        let mut attn = conv.clone();
        attn[0].attention = true; // at 56×56: 3,136 positions
        let (c, a) = (space.cost(&conv), space.cost(&attn));
        assert!(a.params < c.params);
        assert!(a.macs > c.macs);
        // The same swap at the last scale is cheaper than the convolution.
        let late = space.parse(&format!("vconv,vconv,vconv,{}", ["conv"; 13].join(","))).unwrap();
        let mut late_attn = late.clone();
        late_attn[15].attention = true; // 7×7: 49 positions
        assert!(space.cost(&late_attn).macs < space.cost(&late).macs);
    }
}
