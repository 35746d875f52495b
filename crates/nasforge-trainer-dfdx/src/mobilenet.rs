//! The MobileNet/MBConv network of `nasforge_space_mobilenet`, built at
//! run time from an [`MbNet`]: MobileNetV2's skeleton (3×3 stride-2 stem,
//! the fixed depthwise first block, six searched stages of inverted
//! residuals, 1×1 conv to the last channels, global pooling, linear), with
//! the space's width multiplier. An inverted residual is 1×1 expansion,
//! k×k depthwise, 1×1 projection, BN after each and ReLU6 after the first
//! two, plus the input when stride and channels allow. Parameter counts
//! equal `MobileNetSpace::cost` (tested).

use dfdx::prelude::*;
use nasforge_engine::ops::{Conv, T2, T4, conv2d, global_avg_pool, linear, relu6};
use nasforge_engine::onnx::OnnxGraph;
use nasforge_engine::params::{BatchNorm, ParamStore};
use nasforge_space_mobilenet::{MbNet, MobileNetSpace, STAGES};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::train::ImageClassifier;

/// Conv, BN and whether ReLU6 follows.
#[derive(Clone, Copy, Debug)]
struct ConvBn {
    conv: Conv,
    weight: usize,
    bn: BatchNorm,
    relu6: bool,
}

#[derive(Clone, Debug)]
struct Block {
    layers: Vec<ConvBn>,
    residual: bool,
}

/// A MobileNet/MBConv network with its parameters.
pub struct MobileNet {
    /// Parameters and batch-norm statistics.
    pub store: ParamStore,
    stem: ConvBn,
    blocks: Vec<Block>,
    last: ConvBn,
    fc: (usize, usize),
    classes: usize,
}

/// A k×k depthwise convolution over `c` channels.
fn depthwise(c: usize, kernel: usize, stride: usize) -> Conv {
    Conv { groups: c, ..Conv::new(c, c, kernel, stride) }
}

/// A 1×1 convolution.
fn pointwise(cin: usize, cout: usize) -> Conv {
    Conv::new(cin, cout, 1, 1)
}

struct Builder<'a> {
    store: &'a mut ParamStore,
    rng: ChaCha8Rng,
}

impl Builder<'_> {
    fn conv_bn(&mut self, name: &str, conv: Conv, relu6: bool) -> ConvBn {
        let weight = self.store.conv_weight(name, conv, &mut self.rng);
        ConvBn { conv, weight, bn: self.store.batch_norm(&format!("{name}.bn"), conv.out_ch), relu6 }
    }
}

impl MobileNet {
    /// Builds `arch`'s network at `space`'s width for inputs with
    /// `in_channels` and `classes` outputs (the space's resolution and
    /// class count are for its cost figures), initialised from `seed`.
    pub fn new(arch: &MbNet, space: &MobileNetSpace, in_channels: usize, classes: usize, seed: u64) -> Self {
        let mut store = ParamStore::new(Cpu::default());
        let mut b = Builder { store: &mut store, rng: ChaCha8Rng::seed_from_u64(seed) };
        let mut cin = space.scaled(32);
        let stem = b.conv_bn("stem", Conv::new(in_channels, cin, 3, 2), true);
        let first = space.scaled(16);
        let mut blocks = vec![Block {
            layers: vec![b.conv_bn("first.dw", depthwise(cin, 3, 1), true), b.conv_bn("first.project", pointwise(cin, first), false)],
            residual: false,
        }];
        cin = first;
        for (s, (stage, &(channels, stride))) in arch.stages.iter().zip(&STAGES).enumerate() {
            let cout = space.scaled(channels);
            for (i, block) in stage.iter().enumerate() {
                let stride = if i == 0 { stride } else { 1 };
                let hidden = cin * usize::from(block.expansion);
                let k = usize::from(block.kernel);
                let name = format!("stage{s}.block{i}");
                blocks.push(Block {
                    layers: vec![
                        b.conv_bn(&format!("{name}.expand"), pointwise(cin, hidden), true),
                        b.conv_bn(&format!("{name}.dw"), depthwise(hidden, k, stride), true),
                        b.conv_bn(&format!("{name}.project"), pointwise(hidden, cout), false),
                    ],
                    residual: stride == 1 && cin == cout,
                });
                cin = cout;
            }
        }
        let last_ch = space.last_channels();
        let last = b.conv_bn("last", pointwise(cin, last_ch), true);
        let bound = 1.0 / (last_ch as f32).sqrt();
        let fc = (b.store.uniform("fc.weight", &[classes, last_ch], bound, &mut b.rng), b.store.uniform("fc.bias", &[classes], bound, &mut b.rng));
        Self { store, stem, blocks, last, fc, classes }
    }
}

impl MobileNet {
    /// The network as an ONNX model for `(C, H, W)` images, in inference
    /// mode: the same layers as [`ImageClassifier::forward`], in the same
    /// order.
    pub fn to_onnx(&self, input: (usize, usize, usize), doc: &str) -> Vec<u8> {
        let (mut g, s) = (OnnxGraph::new(), &self.store);
        let mut x = layer_onnx(&mut g, s, &self.stem, OnnxGraph::INPUT);
        for block in &self.blocks {
            let y = block.layers.iter().fold(x.clone(), |y, l| layer_onnx(&mut g, s, l, &y));
            x = if block.residual { g.add(&y, &x) } else { y };
        }
        let x = layer_onnx(&mut g, s, &self.last, &x);
        let pooled = g.global_avg_pool(&x);
        let logits = g.linear(s, self.fc.0, self.fc.1, &pooled);
        g.finish(&logits, input, self.classes, doc)
    }
}

fn layer_onnx(g: &mut OnnxGraph, store: &ParamStore, l: &ConvBn, x: &str) -> String {
    let y = g.conv(store, l.weight, l.conv, x);
    let y = g.batch_norm(store, &l.bn, &y);
    if l.relu6 { g.relu6(&y) } else { y }
}

fn apply<T: Tape<f32, Cpu>>(store: &mut ParamStore, l: &ConvBn, x: T4<T>, train: bool) -> T4<T> {
    let y = conv2d(x, &store.params[l.weight], l.conv);
    let y = store.apply_batch_norm(&l.bn, y, train);
    if l.relu6 { relu6(y) } else { y }
}

impl ImageClassifier for MobileNet {
    fn store(&mut self) -> &mut ParamStore {
        &mut self.store
    }

    fn forward<T: Tape<f32, Cpu> + Merge<T>>(&mut self, x: T4<T>, train: bool) -> T2<T> {
        let store = &mut self.store;
        let mut x = apply(store, &self.stem, x, train);
        for block in &self.blocks {
            let input = block.residual.then(|| x.with_empty_tape());
            let y = block.layers.iter().fold(x, |y, l| apply(store, l, y, train));
            // The block's own tape holds its input's history; the residual
            // branch shares the id, so its gradient joins there.
            x = match input {
                Some(skip) => y + skip,
                None => y,
            };
        }
        let x = apply(store, &self.last, x, train);
        let pooled = global_avg_pool(x);
        linear(pooled, &store.params[self.fc.0], &store.params[self.fc.1], self.classes)
    }
}

#[cfg(test)]
mod tests {
    use nasforge_core::SearchSpace;

    use super::*;

    #[test]
    fn the_built_network_has_the_analytic_parameter_count() {
        let space = MobileNetSpace::default();
        let v2 = space.parse("e6k3,e6k3|e6k3,e6k3,e6k3|e6k3,e6k3,e6k3,e6k3|e6k3,e6k3,e6k3|e6k3,e6k3,e6k3|e6k3").unwrap();
        // torchvision's mobilenet_v2: 3,504,872.
        assert_eq!(MobileNet::new(&v2, &space, 3, 1000, 0).store.count() as u64, space.cost(&v2).params);
        let narrow = MobileNetSpace { width: 0.35, classes: 10, ..space };
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        for _ in 0..5 {
            let arch = narrow.sample(&mut rng);
            assert_eq!(MobileNet::new(&arch, &narrow, 3, 10, 0).store.count() as u64, narrow.cost(&arch).params);
        }
    }

    #[test]
    fn every_parameter_gets_a_gradient_on_a_small_image() {
        let space = MobileNetSpace { width: 0.35, ..MobileNetSpace::default() };
        let arch = space.parse("e3k7,e6k5|e4k3|e6k7,e3k3|e3k5|e4k7,e6k3|e6k5").unwrap();
        let mut net = MobileNet::new(&arch, &space, 1, 3, 0);
        let dev = net.store.device().clone();
        let x: T4<NoneTape> = dev.tensor_from_vec((0..3 * 28 * 28).map(|i| (i as f32 * 0.37).sin()).collect(), (3, 1, 28, 28));
        assert_eq!(*net.forward(x.clone(), false).shape(), (3, 3));
        let silent = crate::train::parameters_without_gradient(&mut net, x);
        assert!(silent.is_empty(), "parameters without gradient: {silent:?}");
    }
}
