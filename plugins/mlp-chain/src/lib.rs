//! `mlp-chain`: a small search space that nasforge does not ship, as a
//! search-space plugin. An architecture is a chain of 1 to 4 hidden dense
//! layers between a 784-wide input and 10 outputs, each layer choosing a
//! width in {32, 64, 128, 256} and an activation in {relu, tanh, gelu}.
//! Standard string: the layers joined by `|`, each `ACT-WIDTH`
//! (`relu-128|tanh-64`). 12 + 12² + 12³ + 12⁴ = 22,620 architectures; no two
//! compute the same function, so the canonical key is the string.

use nasforge_plugin_sdk::core::{ArchGraph, AttrValue, ParseArchError, Rng, SearchSpace};
use nasforge_plugin_sdk::export_plugin;
use nasforge_plugin_sdk::protocol::Create;
use rand::Rng as _;

const WIDTHS: [u32; 4] = [32, 64, 128, 256];
const ACTS: [&str; 3] = ["relu", "tanh", "gelu"];
const MAX_DEPTH: usize = 4;
const INPUTS: u64 = 784;
const OUTPUTS: u64 = 10;

/// One hidden layer: indices into the activations and the widths.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Layer {
    act: usize,
    width: usize,
}

/// The space.
pub struct MlpChain;

impl MlpChain {
    fn layers() -> impl Iterator<Item = Layer> {
        (0..ACTS.len()).flat_map(|act| (0..WIDTHS.len()).map(move |width| Layer { act, width }))
    }

    fn random_layer(rng: &mut Rng) -> Layer {
        Layer { act: rng.random_range(0..ACTS.len()), width: rng.random_range(0..WIDTHS.len()) }
    }

    /// Weights and biases of the network.
    pub fn params(arch: &[Layer]) -> u64 {
        let mut fan_in = INPUTS;
        let mut total = 0;
        for l in arch {
            let w = u64::from(WIDTHS[l.width]);
            total += fan_in * w + w;
            fan_in = w;
        }
        total + fan_in * OUTPUTS + OUTPUTS
    }
}

impl SearchSpace for MlpChain {
    type Arch = Vec<Layer>;

    fn name(&self) -> &str {
        "mlp-chain"
    }

    fn sample(&self, rng: &mut Rng) -> Vec<Layer> {
        let depth = rng.random_range(1..=MAX_DEPTH);
        (0..depth).map(|_| Self::random_layer(rng)).collect()
    }


    /// The depth (1..=4), then activation and width of each of 4 layers,
    /// those past the depth unused (read back as option 0).
    fn decisions(&self) -> Option<Vec<usize>> {
        Some(std::iter::once(MAX_DEPTH).chain((0..MAX_DEPTH).flat_map(|_| [ACTS.len(), WIDTHS.len()])).collect())
    }

    fn arch_from_decisions(&self, choices: &[usize]) -> Option<Vec<Layer>> {
        if choices.len() != 1 + 2 * MAX_DEPTH || choices[0] >= MAX_DEPTH {
            return None;
        }
        choices[1..3 + 2 * choices[0]]
            .chunks(2)
            .map(|c| (c[0] < ACTS.len() && c[1] < WIDTHS.len()).then_some(Layer { act: c[0], width: c[1] }))
            .collect()
    }

    fn arch_decisions(&self, arch: &Vec<Layer>) -> Option<Vec<usize>> {
        let mut out = vec![arch.len().checked_sub(1)?];
        for i in 0..MAX_DEPTH {
            out.extend(arch.get(i).map_or([0, 0], |l| [l.act, l.width]));
        }
        Some(out)
    }

    fn params(&self, arch: &Vec<Layer>) -> Option<u64> {
        Some(MlpChain::params(arch))
    }

    /// A dense layer's multiply-accumulates are its weights.
    fn macs(&self, arch: &Vec<Layer>) -> Option<u64> {
        Some(MlpChain::params(arch) - arch.iter().map(|l| u64::from(WIDTHS[l.width])).sum::<u64>() - OUTPUTS)
    }

    fn neighbours(&self, arch: &Vec<Layer>) -> Vec<Vec<Layer>> {
        let mut out = Vec::new();
        for i in 0..arch.len() {
            for l in Self::layers().filter(|l| (l.act == arch[i].act) != (l.width == arch[i].width)) {
                let mut a = arch.clone();
                a[i] = l;
                out.push(a);
            }
        }
        if arch.len() < MAX_DEPTH {
            for l in Self::layers() {
                let mut a = arch.clone();
                a.push(l);
                out.push(a);
            }
        }
        if arch.len() > 1 {
            out.push(arch[..arch.len() - 1].to_vec());
        }
        out
    }

    fn format(&self, arch: &Vec<Layer>) -> String {
        arch.iter().map(|l| format!("{}-{}", ACTS[l.act], WIDTHS[l.width])).collect::<Vec<_>>().join("|")
    }

    fn parse(&self, s: &str) -> Result<Vec<Layer>, ParseArchError> {
        let err = |reason: String| ParseArchError { space: "mlp-chain".into(), input: s.into(), reason };
        let layers: Vec<Layer> = s
            .split('|')
            .map(|part| {
                let (act, width) = part.trim().split_once('-').ok_or_else(|| err(format!("`{part}` is not ACT-WIDTH")))?;
                let act = ACTS.iter().position(|a| *a == act).ok_or_else(|| err(format!("unknown activation `{act}`; valid: {}", ACTS.join(", "))))?;
                let width = width
                    .parse::<u32>()
                    .ok()
                    .and_then(|w| WIDTHS.iter().position(|x| *x == w))
                    .ok_or_else(|| err(format!("width `{width}` is not one of 32, 64, 128, 256")))?;
                Ok(Layer { act, width })
            })
            .collect::<Result<_, _>>()?;
        if layers.len() > MAX_DEPTH {
            return Err(err(format!("{} layers; at most {MAX_DEPTH}", layers.len())));
        }
        Ok(layers)
    }

    fn canonical_key(&self, arch: &Vec<Layer>) -> String {
        self.format(arch)
    }

    fn to_graph(&self, arch: &Vec<Layer>) -> ArchGraph {
        let mut g = ArchGraph::default();
        let mut prev = g.add_node("input");
        for l in arch {
            let n = g.add_node(format!("dense-{}", ACTS[l.act]));
            g.nodes[n].attrs.insert("width".into(), AttrValue::Int(i64::from(WIDTHS[l.width])));
            g.add_edge(prev, n);
            prev = n;
        }
        let out = g.add_node("output");
        g.add_edge(prev, out);
        g
    }

    fn encode(&self, arch: &Vec<Layer>) -> Vec<f32> {
        // Per slot: one-hot activation, one-hot width, "absent".
        let slot = ACTS.len() + WIDTHS.len() + 1;
        let mut v = vec![0.0; MAX_DEPTH * slot];
        for i in 0..MAX_DEPTH {
            match arch.get(i) {
                Some(l) => {
                    v[i * slot + l.act] = 1.0;
                    v[i * slot + ACTS.len() + l.width] = 1.0;
                }
                None => v[i * slot + slot - 1] = 1.0,
            }
        }
        v
    }

    fn size(&self) -> Option<u128> {
        let per = (ACTS.len() * WIDTHS.len()) as u128;
        Some((1..=MAX_DEPTH as u32).map(|d| per.pow(d)).sum())
    }

    fn describe(&self, arch: &Vec<Layer>) -> Vec<(String, String)> {
        vec![("depth".into(), arch.len().to_string()), ("params".into(), Self::params(arch).to_string())]
    }
}

fn create(c: Create) -> Result<MlpChain, String> {
    match c.config.as_object() {
        Some(m) if !m.is_empty() => Err(format!("mlp-chain takes no configuration, got keys: {:?}", m.keys().collect::<Vec<_>>())),
        _ => Ok(MlpChain),
    }
}

export_plugin!(search_space, "mlp-chain", env!("CARGO_PKG_VERSION"), create);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_counts_every_chain() {
        assert_eq!(MlpChain.size(), Some(22_620));
    }

    #[test]
    fn the_space_and_decision_laws_hold() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        nasforge_plugin_sdk::core::laws::check(&MlpChain, &mut rng, 200).unwrap();
    }

    #[test]
    fn parameters_of_a_one_layer_chain() {
        // 784·32 + 32 + 32·10 + 10
        assert_eq!(MlpChain::params(&MlpChain.parse("relu-32").unwrap()), 25_450);
    }
}
