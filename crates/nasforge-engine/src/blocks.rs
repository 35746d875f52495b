//! Building blocks that cell networks and their supernets share, by
//! indices in a [`ParamStore`]: chains of convolutions closed by batch
//! norm (DARTS' ReLU-conv-BN, separable and dilated convolutions), DARTS'
//! factorized reduction, and NAS-Bench-201's residual reduction block.
//!
//! Tapes: a block's output carries its input's tape, except where a block
//! reads its input twice; those take a `sink` for the tape of the shared
//! read (the caller merges it into its result), as cell networks do for
//! nodes several edges read.

use dfdx::prelude::*;
use rand::Rng;

use crate::ops::{Conv, Pool, T4, avg_pool2d, conv2d, relu, relu_conv2d};
use crate::params::{BatchNorm, ConvBn, ParamStore};

/// A convolution and the index of its weight.
#[derive(Clone, Copy, Debug)]
pub struct ConvW {
    /// The convolution.
    pub conv: Conv,
    /// Its weight's index.
    pub weight: usize,
}

/// `[ReLU,] conv, [ReLU,] conv, ..., BN`: convolutions (each preceded by
/// a ReLU when its flag is set), then batch norm.
#[derive(Clone, Debug)]
pub struct Chain {
    /// The convolutions and whether a ReLU precedes each.
    pub convs: Vec<(ConvW, bool)>,
    /// The closing batch norm.
    pub bn: BatchNorm,
}

/// DARTS' `FactorizedReduce`: ReLU, two 1×1 stride-2 convolutions (the
/// second on the input shifted by one pixel) to half the channels each,
/// concatenated, BN: halves an even resolution, each convolution reading
/// every other pixel. As in DARTS' code, an odd side makes the two
/// halves differ in size, which the concatenation refuses.
#[derive(Clone, Copy, Debug)]
pub struct FactorizedReduce {
    pub(crate) a: ConvW,
    pub(crate) b: ConvW,
    /// The closing batch norm.
    pub bn: BatchNorm,
}

/// NAS-Bench-201's residual reduction (`ResNetBasicblock` at stride 2):
/// ReLU-conv3×3-BN at stride 2, ReLU-conv3×3-BN, plus an average-pooled
/// 1×1-convolved shortcut.
#[derive(Clone, Copy, Debug)]
pub struct ResidualReduce {
    pub(crate) a: ConvBn,
    pub(crate) b: ConvBn,
    pub(crate) shortcut: ConvW,
}

impl ParamStore {
    /// A convolution with its weight `NAME.weight` (see
    /// [`ParamStore::conv_weight`]).
    pub fn conv_w(&mut self, name: &str, conv: Conv, rng: &mut impl Rng) -> ConvW {
        ConvW { conv, weight: self.conv_weight(name, conv, rng) }
    }

    /// DARTS' `ReLUConvBN` with a 1×1 kernel: `NAME.conv`, `NAME.bn`.
    pub fn relu_conv1x1_bn(&mut self, name: &str, c_in: usize, c_out: usize, rng: &mut impl Rng) -> Chain {
        let conv = Conv { padding: 0, ..Conv::new(c_in, c_out, 1, 1) };
        Chain { convs: vec![(self.conv_w(&format!("{name}.conv"), conv, rng), true)], bn: self.batch_norm(&format!("{name}.bn"), c_out) }
    }

    /// ReLU, depthwise k×k (`(kernel, stride, dilation)`, "same"
    /// padding), pointwise to `c_out`, BN: DARTS' `DilConv`, and each half
    /// of its `SepConv`. Parameters `NAME.dw`, `NAME.pw`, `NAME.bn`.
    pub fn dw_pw(&mut self, name: &str, c: usize, c_out: usize, (kernel, stride, dilation): (usize, usize, usize), rng: &mut impl Rng) -> Chain {
        let dw = Conv { padding: dilation * (kernel - 1) / 2, dilation, groups: c, ..Conv::new(c, c, kernel, stride) };
        let pw = Conv { padding: 0, ..Conv::new(c, c_out, 1, 1) };
        Chain {
            convs: vec![(self.conv_w(&format!("{name}.dw"), dw, rng), true), (self.conv_w(&format!("{name}.pw"), pw, rng), false)],
            bn: self.batch_norm(&format!("{name}.bn"), c_out),
        }
    }

    /// A factorized reduction `c_in → c_out` (`c_out` even): `NAME.conv1`,
    /// `NAME.conv2`, `NAME.bn`.
    pub fn factorized_reduce(&mut self, name: &str, c_in: usize, c_out: usize, rng: &mut impl Rng) -> FactorizedReduce {
        let conv = Conv { padding: 0, ..Conv::new(c_in, c_out / 2, 1, 2) };
        FactorizedReduce {
            a: self.conv_w(&format!("{name}.conv1"), conv, rng),
            b: self.conv_w(&format!("{name}.conv2"), conv, rng),
            bn: self.batch_norm(&format!("{name}.bn"), c_out),
        }
    }

    /// A residual reduction `c_in → c_out`: `NAME.a`, `NAME.b`,
    /// `NAME.shortcut` (drawn in that order).
    pub fn residual_reduce(&mut self, name: &str, c_in: usize, c_out: usize, rng: &mut impl Rng) -> ResidualReduce {
        let a = self.conv_bn(&format!("{name}.a"), Conv::new(c_in, c_out, 3, 2), true, rng);
        let b = self.conv_bn(&format!("{name}.b"), Conv::new(c_out, c_out, 3, 1), true, rng);
        let shortcut = self.conv_w(&format!("{name}.shortcut"), Conv { padding: 0, ..Conv::new(c_in, c_out, 1, 1) }, rng);
        ResidualReduce { a, b, shortcut }
    }

    /// Applies `chain` to `x`.
    pub fn apply_chain<T: Tape<f32, Cpu>>(&mut self, chain: &Chain, mut x: T4<T>, train: bool) -> T4<T> {
        for (cw, relu_first) in &chain.convs {
            let w = &self.params[cw.weight];
            x = if *relu_first { relu_conv2d(x, w, cw.conv) } else { conv2d(x, w, cw.conv) };
        }
        self.apply_batch_norm(&chain.bn, x, train)
    }

    /// Applies `f` to `x`; the tape of the ReLU both convolutions read
    /// goes to `sink`.
    pub fn apply_factorized_reduce<T: Tape<f32, Cpu> + Merge<T>>(&mut self, f: &FactorizedReduce, x: T4<T>, train: bool, sink: &mut T) -> T4<T> {
        let x = detach(relu(x), sink);
        let a = conv2d(x.retaped::<T>(), &self.params[f.a.weight], f.a.conv);
        let shifted = x.retaped::<T>().slice((.., .., 1.., 1..));
        let b = conv2d(shifted, &self.params[f.b.weight], f.b.conv);
        self.apply_batch_norm(&f.bn, (a, b).concat_along(Axis::<1>), train)
    }

    /// Applies `r` to `x`.
    pub fn apply_residual_reduce<T: Tape<f32, Cpu> + Merge<T>>(&mut self, r: &ResidualReduce, x: T4<T>, train: bool) -> T4<T> {
        let pooled = avg_pool2d(x.with_empty_tape(), Pool { kernel: 2, stride: 2, padding: 0 });
        let residual = conv2d(pooled, &self.params[r.shortcut.weight], r.shortcut.conv);
        let y = self.apply_conv_bn(&r.a, x, train);
        self.apply_conv_bn(&r.b, y, train) + residual
    }
}

impl Chain {
    /// The indices of its BN's scale and shift (for supernets whose BN
    /// has none: `affine=False`).
    pub fn affine_indices(&self) -> [usize; 2] {
        self.bn.affine_indices()
    }
}

impl FactorizedReduce {
    /// The indices of its BN's scale and shift.
    pub fn affine_indices(&self) -> [usize; 2] {
        self.bn.affine_indices()
    }
}

/// A cell's output: its nodes (detached into a sink) concatenated along
/// the channels, each read with an empty tape.
pub fn concat_nodes<T: Tape<f32, Cpu> + Merge<T>>(nodes: &[T4<NoneTape>]) -> T4<T> {
    let mut out = nodes[0].retaped::<T>();
    for n in &nodes[1..] {
        out = (out, n.retaped::<T>()).concat_along(Axis::<1>);
    }
    out
}

/// `x` carrying `sink`'s tape too: what a network whose intermediate
/// tensors were detached into `sink` returns.
pub fn reattach<S: Shape, T: Tape<f32, Cpu> + Merge<T>>(x: Tensor<S, f32, Cpu, T>, sink: T) -> Tensor<S, f32, Cpu, T> {
    let (x, tape) = x.split_tape();
    x.put_tape(tape.merge(sink))
}

/// Moves `x`'s tape into `sink`; readers then take `x.retaped()`.
pub fn detach<S: Shape, T: Tape<f32, Cpu>>(x: Tensor<S, f32, Cpu, T>, sink: &mut T) -> Tensor<S, f32, Cpu> {
    let (x, tape) = x.split_tape();
    *sink = std::mem::take(sink).merge(tape);
    x
}
