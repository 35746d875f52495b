//! The MobileNet/MBConv search space (ProxylessNAS, FBNet, Single-Path,
//! Once-for-All).
//!
//! The macro skeleton is MobileNetV2's: a 3×3 stride-2 stem to 32
//! channels, a fixed first block (depthwise 3×3, expansion 1, 16
//! channels), six searchable stages with the output channels and first
//! strides of MobileNetV2 — (24, 2), (32, 2), (64, 2), (96, 1), (160, 2),
//! (320, 1) — a 1×1 conv to 1280 channels and a linear classifier. Each
//! stage chooses its depth (1–4 blocks); each block, an inverted residual
//! (1×1 expansion, k×k depthwise, 1×1 projection, BN after each, ReLU6 after
//! the first two, a residual connection when shapes allow), chooses its
//! kernel in {3, 5, 7} and expansion in {3, 4, 6}. The width multiplier
//! and input resolution are settings of the space ([`MobileNetSpace`]).
//!
//! Standard string: stages separated by `|`, blocks by `,`, a block as
//! `e{expansion}k{kernel}`. MobileNetV2-1.0 is
//! `e6k3,e6k3|e6k3,e6k3,e6k3|e6k3,e6k3,e6k3,e6k3|e6k3,e6k3,e6k3|e6k3,e6k3,e6k3|e6k3`
//! (examples/archs/mobilenet-v2.txt).
//!
//! Size: per stage Σ_{d=1..4} 9^d = 7,380 choices, 7,380⁶ ≈ 1.6 × 10²³ in
//! all; no two architectures compute the same function.

use nasforge_core::{ArchGraph, AttrValue, ParseArchError, Rng, SearchSpace};
use rand::Rng as _;

/// Kernel sizes a block may choose.
pub const KERNELS: [u8; 3] = [3, 5, 7];
/// Expansion ratios a block may choose.
pub const EXPANSIONS: [u8; 3] = [3, 4, 6];
/// Most blocks per stage.
pub const MAX_DEPTH: usize = 4;
/// (output channels, stride of the first block) of the searchable stages.
pub const STAGES: [(usize, usize); 6] = [(24, 2), (32, 2), (64, 2), (96, 1), (160, 2), (320, 1)];

/// One inverted-residual block's choices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Block {
    /// Expansion ratio.
    pub expansion: u8,
    /// Depthwise kernel size.
    pub kernel: u8,
}

/// An architecture: the blocks of each searchable stage.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MbNet {
    /// Per stage, 1 to [`MAX_DEPTH`] blocks.
    pub stages: [Vec<Block>; 6],
}

/// The space with its network settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MobileNetSpace {
    /// Width multiplier (channels scaled and rounded to multiples of 8, as
    /// MobileNetV2 does; the last conv keeps 1280 below 1.0).
    pub width: f64,
    /// Input resolution (square).
    pub resolution: usize,
    /// Classifier outputs.
    pub classes: usize,
}

impl Default for MobileNetSpace {
    fn default() -> Self {
        Self { width: 1.0, resolution: 224, classes: 1000 }
    }
}

/// MobileNetV2's channel rounding: to a multiple of 8, never below 90 %.
fn make_divisible(v: f64) -> usize {
    let d = 8.0;
    let mut n = ((v + d / 2.0) / d).floor() * d;
    n = n.max(d);
    if n < 0.9 * v {
        n += d;
    }
    n as usize
}

/// Parameters and MACs of one network.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cost {
    /// Trainable parameters (conv weights, BN scale and shift, the
    /// classifier's weights and biases).
    pub params: u64,
    /// Of those, batch norm's scales and shifts (the counts that leave BN
    /// out, as TF-slim's 3.47 M for MobileNetV2, are `params - batch_norm`).
    pub batch_norm: u64,
    /// Multiply-accumulates of convolutions and the classifier.
    pub macs: u64,
}

impl Cost {
    fn conv(&mut self, cin: usize, cout: usize, k: usize, groups: usize, out_side: usize) {
        let w = (cin / groups * cout * k * k) as u64;
        self.params += w + 2 * cout as u64;
        self.batch_norm += 2 * cout as u64;
        self.macs += w * (out_side * out_side) as u64;
    }
}

impl MobileNetSpace {
    /// `channels` of the width-1.0 network at this width multiplier.
    pub fn scaled(&self, channels: usize) -> usize {
        make_divisible(channels as f64 * self.width)
    }

    /// Channels of the last 1×1 conv: 1280, scaled only above width 1.0.
    pub fn last_channels(&self) -> usize {
        if self.width > 1.0 { self.scaled(1280) } else { 1280 }
    }

    /// Parameters and MACs of `arch`'s network at this space's settings.
    pub fn cost(&self, arch: &MbNet) -> Cost {
        let mut c = Cost::default();
        let mut side = self.resolution.div_ceil(2);
        let mut cin = self.scaled(32);
        c.conv(3, cin, 3, 1, side);
        // The fixed first block: depthwise 3×3 then projection (t = 1).
        let first = self.scaled(16);
        c.conv(cin, cin, 3, cin, side);
        c.conv(cin, first, 1, 1, side);
        cin = first;
        for (stage, &(channels, stride)) in arch.stages.iter().zip(&STAGES) {
            let cout = self.scaled(channels);
            for (i, b) in stage.iter().enumerate() {
                let s = if i == 0 { stride } else { 1 };
                let hidden = cin * b.expansion as usize;
                c.conv(cin, hidden, 1, 1, side);
                let out_side = side.div_ceil(s);
                c.conv(hidden, hidden, b.kernel as usize, hidden, out_side);
                c.conv(hidden, cout, 1, 1, out_side);
                side = out_side;
                cin = cout;
            }
        }
        let last = self.last_channels();
        c.conv(cin, last, 1, 1, side);
        c.params += (last * self.classes + self.classes) as u64;
        c.macs += (last * self.classes) as u64;
        c
    }

    fn random_block(rng: &mut Rng) -> Block {
        Block { expansion: EXPANSIONS[rng.random_range(0..3)], kernel: KERNELS[rng.random_range(0..3)] }
    }
}

fn block_text(b: &Block) -> String {
    format!("e{}k{}", b.expansion, b.kernel)
}

impl SearchSpace for MobileNetSpace {
    type Arch = MbNet;

    fn name(&self) -> &str {
        "mobilenet"
    }

    fn sample(&self, rng: &mut Rng) -> MbNet {
        MbNet {
            stages: std::array::from_fn(|_| {
                let depth = rng.random_range(1..=MAX_DEPTH);
                (0..depth).map(|_| Self::random_block(rng)).collect()
            }),
        }
    }

    /// Uniform over stages: each stage (depth and blocks) from one parent
    /// or the other.
    fn crossover(&self, a: &MbNet, b: &MbNet, rng: &mut Rng) -> Option<MbNet> {
        let mut child = a.clone();
        for (stage, other) in child.stages.iter_mut().zip(&b.stages) {
            if rng.random::<bool>() {
                stage.clone_from(other);
            }
        }
        Some(child)
    }

    /// Per stage: its depth (1..=4), then expansion and kernel of each of
    /// [`MAX_DEPTH`] blocks, the ones past the depth unused (as in
    /// ProxylessNAS/OFA controllers): 54 decisions. Unused blocks read back
    /// as option 0.
    fn decisions(&self) -> Option<Vec<usize>> {
        let stage = std::iter::once(MAX_DEPTH).chain((0..MAX_DEPTH).flat_map(|_| [EXPANSIONS.len(), KERNELS.len()]));
        Some((0..STAGES.len()).flat_map(|_| stage.clone()).collect())
    }

    fn arch_from_decisions(&self, choices: &[usize]) -> Option<MbNet> {
        let per_stage = 1 + 2 * MAX_DEPTH;
        if choices.len() != STAGES.len() * per_stage {
            return None;
        }
        let mut stages: [Vec<Block>; 6] = Default::default();
        for (stage, c) in stages.iter_mut().zip(choices.chunks(per_stage)) {
            let depth = c[0] + 1;
            if depth > MAX_DEPTH {
                return None;
            }
            *stage = c[1..1 + 2 * depth]
                .chunks(2)
                .map(|b| Some(Block { expansion: *EXPANSIONS.get(b[0])?, kernel: *KERNELS.get(b[1])? }))
                .collect::<Option<_>>()?;
        }
        Some(MbNet { stages })
    }

    fn arch_decisions(&self, arch: &MbNet) -> Option<Vec<usize>> {
        let mut out = Vec::new();
        for stage in &arch.stages {
            out.push(stage.len().checked_sub(1)?);
            for i in 0..MAX_DEPTH {
                match stage.get(i) {
                    Some(b) => out.extend([
                        EXPANSIONS.iter().position(|&e| e == b.expansion)?,
                        KERNELS.iter().position(|&k| k == b.kernel)?,
                    ]),
                    None => out.extend([0, 0]),
                }
            }
        }
        Some(out)
    }

    fn neighbours(&self, arch: &MbNet) -> Vec<MbNet> {
        let mut out = Vec::new();
        for s in 0..STAGES.len() {
            for i in 0..arch.stages[s].len() {
                let b = arch.stages[s][i];
                for e in EXPANSIONS.into_iter().filter(|&e| e != b.expansion) {
                    let mut n = arch.clone();
                    n.stages[s][i].expansion = e;
                    out.push(n);
                }
                for k in KERNELS.into_iter().filter(|&k| k != b.kernel) {
                    let mut n = arch.clone();
                    n.stages[s][i].kernel = k;
                    out.push(n);
                }
            }
            if arch.stages[s].len() < MAX_DEPTH {
                // A new last block, like the stage's last one.
                let mut n = arch.clone();
                let last = *n.stages[s].last().expect("stages have a block");
                n.stages[s].push(last);
                out.push(n);
            }
            if arch.stages[s].len() > 1 {
                let mut n = arch.clone();
                n.stages[s].pop();
                out.push(n);
            }
        }
        out
    }

    fn format(&self, arch: &MbNet) -> String {
        arch.stages.iter().map(|s| s.iter().map(block_text).collect::<Vec<_>>().join(",")).collect::<Vec<_>>().join("|")
    }

    fn parse(&self, s: &str) -> Result<MbNet, ParseArchError> {
        let err = |reason: String| ParseArchError { space: "mobilenet".into(), input: s.into(), reason };
        let stages: Vec<&str> = s.trim().split('|').collect();
        if stages.len() != STAGES.len() {
            return Err(err(format!("{} stages; the space has {}", stages.len(), STAGES.len())));
        }
        let mut out: [Vec<Block>; 6] = Default::default();
        for (i, text) in stages.iter().enumerate() {
            let blocks: Vec<Block> = text
                .split(',')
                .map(|b| {
                    let b = b.trim();
                    let (e, k) = b.strip_prefix('e').and_then(|r| r.split_once('k')).ok_or_else(|| err(format!("`{b}` is not e<expansion>k<kernel>")))?;
                    let expansion: u8 = e.parse().ok().filter(|e| EXPANSIONS.contains(e)).ok_or_else(|| err(format!("expansion `{e}`; valid: 3, 4, 6")))?;
                    let kernel: u8 = k.parse().ok().filter(|k| KERNELS.contains(k)).ok_or_else(|| err(format!("kernel `{k}`; valid: 3, 5, 7")))?;
                    Ok(Block { expansion, kernel })
                })
                .collect::<Result<_, _>>()?;
            if blocks.len() > MAX_DEPTH {
                return Err(err(format!("stage {} has {} blocks; at most {MAX_DEPTH}", i + 1, blocks.len())));
            }
            out[i] = blocks;
        }
        Ok(MbNet { stages: out })
    }

    fn canonical_key(&self, arch: &MbNet) -> String {
        self.format(arch)
    }

    fn to_graph(&self, arch: &MbNet) -> ArchGraph {
        let mut g = ArchGraph::default();
        // MobileNetV2's fixed stem (32 channels) and first block (t = 1, 16).
        let mut prev = g.add_node("stem");
        g.nodes[prev].attrs.insert("channels".into(), AttrValue::Int(32));
        g.nodes[prev].attrs.insert("stride".into(), AttrValue::Int(2));
        let first = g.add_node("mbconv");
        for (key, v) in [("expansion", 1), ("kernel", 3), ("channels", 16)] {
            g.nodes[first].attrs.insert(key.into(), AttrValue::Int(v));
        }
        g.add_edge(prev, first);
        prev = first;
        for (stage, &(channels, stride)) in arch.stages.iter().zip(&STAGES) {
            for (i, b) in stage.iter().enumerate() {
                let n = g.add_node("mbconv");
                for (key, v) in [
                    ("expansion", b.expansion as i64),
                    ("kernel", b.kernel as i64),
                    ("channels", channels as i64),
                    ("stride", if i == 0 { stride as i64 } else { 1 }),
                ] {
                    g.nodes[n].attrs.insert(key.into(), AttrValue::Int(v));
                }
                g.add_edge(prev, n);
                prev = n;
            }
        }
        // MobileNetV2's last 1×1 conv to 1280 channels, then pooling and the classifier.
        let head = g.add_node("head");
        g.nodes[head].attrs.insert("channels".into(), AttrValue::Int(1280));
        g.add_edge(prev, head);
        g
    }

    fn encode(&self, arch: &MbNet) -> Vec<f32> {
        // Per block slot: one-hot expansion, one-hot kernel, "absent".
        let mut v = Vec::with_capacity(STAGES.len() * MAX_DEPTH * 7);
        for stage in &arch.stages {
            for slot in 0..MAX_DEPTH {
                let mut chunk = [0.0f32; 7];
                match stage.get(slot) {
                    Some(b) => {
                        chunk[EXPANSIONS.iter().position(|&e| e == b.expansion).expect("valid")] = 1.0;
                        chunk[3 + KERNELS.iter().position(|&k| k == b.kernel).expect("valid")] = 1.0;
                    }
                    None => chunk[6] = 1.0,
                }
                v.extend_from_slice(&chunk);
            }
        }
        v
    }

    fn size(&self) -> Option<u128> {
        let per_stage: u128 = (1..=MAX_DEPTH as u32).map(|d| 9u128.pow(d)).sum();
        Some(per_stage.pow(STAGES.len() as u32))
    }

    fn params(&self, arch: &MbNet) -> Option<u64> {
        Some(self.cost(arch).params)
    }

    fn macs(&self, arch: &MbNet) -> Option<u64> {
        Some(self.cost(arch).macs)
    }

    fn describe(&self, arch: &MbNet) -> Vec<(String, String)> {
        let c = self.cost(arch);
        vec![
            (format!("params (width {}, {} classes)", self.width, self.classes), c.params.to_string()),
            ("  of which batch-norm scales and shifts".into(), c.batch_norm.to_string()),
            (format!("MACs ({0}×{0} input)", self.resolution), c.macs.to_string()),
        ]
    }
}

/// Registers this crate's spaces: `nas-bench-macro` and `mobilenet`.
pub fn register(registry: &mut nasforge_registry::Registry) {
    registry.add_space(nasforge_registry::SpaceEntry::new::<nasforge_registry::NoParams, _>(
        "nas-bench-macro",
        "NAS-Bench-Macro (Su et al. 2021): 8 layers, each identity, MBConv 3x3 t3 or MBConv 5x5 t6; 6,561 networks.",
        |_| NbMacroSpace,
    ));
    registry.add_space(nasforge_registry::SpaceEntry::new::<nasforge_registry::NoParams, _>(
        "mobilenet",
        "MBConv stages on MobileNetV2's skeleton: depth 1-4 per stage, kernel {3,5,7} and expansion {3,4,6} per block.",
        |_| MobileNetSpace::default(),
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
        nasforge_core::laws::check(&MobileNetSpace::default(), &mut rng, 300).unwrap();
        nasforge_core::laws::check(&NbMacroSpace, &mut rng, 300).unwrap();
    }

    const MOBILENET_V2: &str = "e6k3,e6k3|e6k3,e6k3,e6k3|e6k3,e6k3,e6k3,e6k3|e6k3,e6k3,e6k3|e6k3,e6k3,e6k3|e6k3";

    #[test]
    fn mobilenet_v2_has_its_published_size() {
        let space = MobileNetSpace::default();
        let v2 = space.parse(MOBILENET_V2).unwrap();
        let c = space.cost(&v2);
        // torchvision's mobilenet_v2 (BN scale and shift included) has
        // exactly 3,504,872 parameters; without BN, 3,470,760: TF-slim's
        // "3.47 M", which the paper rounds to 3.4 M. 300 M multiply-adds.
        assert_eq!(c.params, 3_504_872);
        assert_eq!(c.params - c.batch_norm, 3_470_760);
        assert!((c.macs as f64 / 300e6 - 1.0).abs() < 0.03, "{}", c.macs);
    }

    #[test]
    fn text_round_trips_and_errors_say_why() {
        let space = MobileNetSpace::default();
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        for _ in 0..100 {
            let a = space.sample(&mut rng);
            assert_eq!(space.parse(&space.format(&a)).unwrap(), a);
            let m = space.mutate(&a, &mut rng);
            assert_ne!(m, a);
            space.to_graph(&m).validate().unwrap();
            assert_eq!(space.encode(&m).len(), 6 * 4 * 7);
        }
        for (bad, why) in [("e6k3", "1 stages"), (MOBILENET_V2.replace("e6k3|e6k3,e6k3,e6k3|", "e6k9|e6k3,e6k3,e6k3|").as_str(), "kernel `9`")] {
            let e = space.parse(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{e}");
        }
        assert_eq!(space.size(), Some(7380u128.pow(6)));
    }
}

/// NAS-Bench-Macro's space (Su et al., CVPR 2021): 8 layers of a
/// MobileNet-style network, each one of three candidates — `0` identity,
/// `1` inverted residual 3×3 with expansion 3, `2` inverted residual 5×5
/// with expansion 6. An architecture is its 8 digits (`02012100`), the
/// benchmark's own key; 3⁸ = 6,561 architectures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NbMacroSpace;

/// Layers of a NAS-Bench-Macro network.
pub const MACRO_LAYERS: usize = 8;
/// Layers per stage of a NAS-Bench-Macro network (each stage's first
/// layer has stride 2 and doubles the channels).
pub const MACRO_STAGES: [usize; 3] = [2, 3, 3];
/// Channels of its stem.
pub const MACRO_STEM_CHANNELS: usize = 32;
const _: () = assert!(MACRO_STAGES[0] + MACRO_STAGES[1] + MACRO_STAGES[2] == MACRO_LAYERS);
/// Its candidate ops, by digit.
pub const MACRO_OPS: [&str; 3] = ["identity", "ir_3x3_t3", "ir_5x5_t6"];

impl SearchSpace for NbMacroSpace {
    type Arch = [u8; MACRO_LAYERS];

    fn name(&self) -> &str {
        "nas-bench-macro"
    }

    fn sample(&self, rng: &mut Rng) -> [u8; MACRO_LAYERS] {
        std::array::from_fn(|_| rng.random_range(0..3))
    }

    fn mutate(&self, arch: &[u8; MACRO_LAYERS], rng: &mut Rng) -> [u8; MACRO_LAYERS] {
        let mut a = *arch;
        let layer = rng.random_range(0..MACRO_LAYERS);
        a[layer] = (a[layer] + rng.random_range(1..3)) % 3;
        a
    }

    fn neighbours(&self, arch: &[u8; MACRO_LAYERS]) -> Vec<[u8; MACRO_LAYERS]> {
        (0..MACRO_LAYERS)
            .flat_map(|l| {
                (1..3).map(move |d| {
                    let mut a = *arch;
                    a[l] = (a[l] + d) % 3;
                    a
                })
            })
            .collect()
    }

    fn format(&self, arch: &[u8; MACRO_LAYERS]) -> String {
        arch.iter().map(|d| char::from(b'0' + d)).collect()
    }

    fn parse(&self, s: &str) -> Result<[u8; MACRO_LAYERS], ParseArchError> {
        let err = |reason: String| ParseArchError { space: "nas-bench-macro".into(), input: s.into(), reason };
        let digits: Vec<u8> = s.trim().bytes().map(|b| b.wrapping_sub(b'0')).collect();
        if digits.len() != MACRO_LAYERS || digits.iter().any(|&d| d > 2) {
            return Err(err(format!("expected {MACRO_LAYERS} digits 0-2 (0 identity, 1 ir_3x3_t3, 2 ir_5x5_t6)")));
        }
        Ok(std::array::from_fn(|i| digits[i]))
    }

    fn canonical_key(&self, arch: &[u8; MACRO_LAYERS]) -> String {
        self.format(arch)
    }

    /// The benchmark's network (`train/model.py`): a 32-channel stem, then
    /// stages of 2, 3 and 3 layers whose first layer has stride 2 and
    /// doubles the channels (an identity there is the network's 1×1
    /// stride-2 downsampling), then a 1×1 conv to 1280; its blocks use
    /// ReLU. Each layer and the head carry `channels`, `stride` and
    /// `activation` attributes.
    fn to_graph(&self, arch: &[u8; MACRO_LAYERS]) -> ArchGraph {
        let mut g = ArchGraph::default();
        let mut prev = g.add_node("stem");
        g.nodes[prev].attrs.insert("channels".into(), AttrValue::Int(MACRO_STEM_CHANNELS as i64));
        let mut layer = 0;
        let mut channels = MACRO_STEM_CHANNELS;
        for &depth in &MACRO_STAGES {
            for i in 0..depth {
                let n = g.add_node(MACRO_OPS[arch[layer] as usize]);
                if i == 0 {
                    channels *= 2;
                }
                let attrs = &mut g.nodes[n].attrs;
                attrs.insert("channels".into(), AttrValue::Int(channels as i64));
                attrs.insert("stride".into(), AttrValue::Int(if i == 0 { 2 } else { 1 }));
                attrs.insert("activation".into(), AttrValue::Text("relu".into()));
                g.add_edge(prev, n);
                prev = n;
                layer += 1;
            }
        }
        // The benchmark's 1×1 conv to 1280 channels (ReLU), then pooling and the classifier.
        let head = g.add_node("head");
        g.nodes[head].attrs.insert("channels".into(), AttrValue::Int(1280));
        g.nodes[head].attrs.insert("activation".into(), AttrValue::Text("relu".into()));
        g.add_edge(prev, head);
        g
    }

    fn encode(&self, arch: &[u8; MACRO_LAYERS]) -> Vec<f32> {
        let mut v = vec![0.0; MACRO_LAYERS * 3];
        for (l, &d) in arch.iter().enumerate() {
            v[l * 3 + d as usize] = 1.0;
        }
        v
    }

    fn size(&self) -> Option<u128> {
        Some(3u128.pow(MACRO_LAYERS as u32))
    }

    fn enumerate(&self) -> Option<Box<dyn Iterator<Item = [u8; MACRO_LAYERS]> + '_>> {
        Some(Box::new((0..3usize.pow(MACRO_LAYERS as u32)).map(|mut code| {
            std::array::from_fn(|_| {
                let d = (code % 3) as u8;
                code /= 3;
                d
            })
        })))
    }

    fn decisions(&self) -> Option<Vec<usize>> {
        Some(vec![3; MACRO_LAYERS])
    }

    fn arch_from_decisions(&self, choices: &[usize]) -> Option<[u8; MACRO_LAYERS]> {
        (choices.len() == MACRO_LAYERS && choices.iter().all(|&c| c < 3)).then(|| std::array::from_fn(|i| choices[i] as u8))
    }

    fn arch_decisions(&self, arch: &[u8; MACRO_LAYERS]) -> Option<Vec<usize>> {
        Some(arch.iter().map(|&d| d as usize).collect())
    }
}

#[cfg(test)]
mod macro_tests {
    use super::*;

    #[test]
    fn the_macro_space_enumerates_its_6561_architectures_once() {
        let all: std::collections::HashSet<_> = NbMacroSpace.enumerate().unwrap().collect();
        assert_eq!(all.len(), 6561);
        for a in all.iter().take(50) {
            assert_eq!(NbMacroSpace.parse(&NbMacroSpace.format(a)).unwrap(), *a);
            assert_eq!(NbMacroSpace.neighbours(a).len(), 16);
        }
        assert!(NbMacroSpace.parse("0201210").is_err());
        assert!(NbMacroSpace.parse("02012103").is_err());
    }
}
