//! Export to ONNX (IR version 10, default-domain opset 17): an
//! [`OnnxGraph`] gets one call per block of a network's forward pass
//! (the engine's blocks, with their weights and batch-norm running
//! statistics from the [`ParamStore`]) and writes the model, inference
//! mode (batch norm on its running statistics). The networks that can be
//! exported mirror their forward pass in the builder's calls; a test per
//! network compares onnxruntime's outputs with dfdx's.

mod proto;

use prost::Message;

use crate::blocks::{Chain, ConvW, FactorizedReduce, ResidualReduce};
use crate::ops::{Conv, Pool};
use crate::params::{BatchNorm, ConvBn, Dense, ParamStore};
use proto::*;

/// The IR version written.
pub const IR_VERSION: i64 = 10;
/// The default domain's operator set written: every operator used
/// (Conv, BatchNormalization, Relu, Clip, AveragePool, MaxPool, Sum, Mul, Add,
/// Concat, Slice, GlobalAveragePool, Flatten, Gemm, Identity) has this version's semantics.
pub const OPSET: i64 = 17;

/// A network's ONNX graph under construction. Values are named by the
/// builder; methods take and return those names.
#[derive(Default)]
pub struct OnnxGraph {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    counter: usize,
}

fn ints(name: &str, values: &[i64]) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: ATTR_INTS, ints: values.to_vec(), ..Default::default() }
}

fn int(name: &str, value: i64) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: ATTR_INT, i: value, ..Default::default() }
}

fn float(name: &str, value: f32) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: ATTR_FLOAT, f: value, ..Default::default() }
}

fn tensor_type(dims: &[Dimension]) -> Option<TypeProto> {
    Some(TypeProto { tensor_type: Some(TensorTypeProto { elem_type: FLOAT, shape: Some(TensorShapeProto { dim: dims.to_vec() }) }) })
}

fn fixed(n: usize) -> Dimension {
    Dimension { dim_value: Some(n as i64), dim_param: None }
}

fn batch() -> Dimension {
    Dimension { dim_value: None, dim_param: Some("batch".into()) }
}

impl OnnxGraph {
    /// An empty graph whose input is [`OnnxGraph::INPUT`].
    pub fn new() -> Self {
        Self::default()
    }

    /// The graph input's name: images `(batch, C, H, W)`.
    pub const INPUT: &'static str = "input";
    /// The graph output's name: logits `(batch, classes)`.
    pub const OUTPUT: &'static str = "logits";

    fn node(&mut self, op: &str, inputs: &[&str], attributes: Vec<AttributeProto>) -> String {
        self.counter += 1;
        let out = format!("{}_{}", op.to_lowercase(), self.counter);
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| (*s).to_owned()).collect(),
            output: vec![out.clone()],
            name: out.clone(),
            op_type: op.into(),
            attribute: attributes,
        });
        out
    }

    /// A constant tensor (an initializer) named `name`.
    pub fn constant(&mut self, name: &str, dims: &[usize], values: &[f32]) -> String {
        debug_assert_eq!(dims.iter().product::<usize>(), values.len());
        self.initializers.push(TensorProto {
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: FLOAT,
            name: name.into(),
            raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        });
        name.into()
    }

    /// A constant int64 tensor (the axes and bounds of a `Slice`).
    fn int64s(&mut self, values: &[i64]) -> String {
        self.counter += 1;
        let name = format!("ints_{}", self.counter);
        self.initializers.push(TensorProto { dims: vec![values.len() as i64], data_type: INT64, name: name.clone(), raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect() });
        name
    }

    /// The store's parameter `index` as an initializer of its own name
    /// and shape.
    pub fn parameter(&mut self, store: &ParamStore, index: usize) -> String {
        let (name, shape) = &store.meta[index];
        let values = store.params[index].as_vec();
        self.constant(name, shape, &values)
    }

    /// ReLU.
    pub fn relu(&mut self, x: &str) -> String {
        self.node("Relu", &[x], Vec::new())
    }

    /// The convolution `conv` with the store's weight `weight`, no bias.
    pub fn conv(&mut self, store: &ParamStore, weight: usize, conv: Conv, x: &str) -> String {
        let w = self.parameter(store, weight);
        let (k, p) = (conv.kernel as i64, conv.padding as i64);
        let attrs = vec![
            ints("kernel_shape", &[k, k]),
            ints("strides", &[conv.stride as i64; 2]),
            ints("pads", &[p; 4]),
            ints("dilations", &[conv.dilation as i64; 2]),
            int("group", conv.groups as i64),
        ];
        self.node("Conv", &[x, &w], attrs)
    }

    /// [`ConvW`]: a weight and its convolution.
    pub fn conv_w(&mut self, store: &ParamStore, c: &ConvW, x: &str) -> String {
        self.conv(store, c.weight, c.conv, x)
    }

    /// Batch norm on its running statistics (inference).
    pub fn batch_norm(&mut self, store: &ParamStore, bn: &BatchNorm, x: &str) -> String {
        let scale = self.parameter(store, bn.gamma);
        let shift = self.parameter(store, bn.beta);
        let stats = &store.stats[bn.stats];
        let base = &store.meta[bn.gamma].0;
        let prefix = base.strip_suffix(".gamma").unwrap_or(base);
        let mean = self.constant(&format!("{prefix}.running_mean"), &[stats.mean.len()], &stats.mean);
        let var = self.constant(&format!("{prefix}.running_var"), &[stats.var.len()], &stats.var);
        self.node("BatchNormalization", &[x, &scale, &shift, &mean, &var], vec![float("epsilon", crate::params::BN_EPS)])
    }

    /// [`ConvBn`]: ReLU (when it has one), convolution, batch norm.
    pub fn conv_bn(&mut self, store: &ParamStore, cb: &ConvBn, x: &str) -> String {
        let input = if cb.relu_first { self.relu(x) } else { x.to_owned() };
        let y = self.conv(store, cb.weight, cb.conv, &input);
        self.batch_norm(store, &cb.bn, &y)
    }

    /// [`Chain`]: its convolutions, each after a ReLU where flagged, then
    /// batch norm.
    pub fn chain(&mut self, store: &ParamStore, c: &Chain, x: &str) -> String {
        let mut y = x.to_owned();
        for (cw, relu_first) in &c.convs {
            if *relu_first {
                y = self.relu(&y);
            }
            y = self.conv_w(store, cw, &y);
        }
        self.batch_norm(store, &c.bn, &y)
    }

    /// DARTS' [`FactorizedReduce`]: ReLU, the two strided 1×1
    /// convolutions (the second on the input shifted by one pixel: a
    /// `Slice` from row and column 1), concatenated, batch norm.
    pub fn factorized_reduce(&mut self, store: &ParamStore, f: &FactorizedReduce, x: &str) -> String {
        let r = self.relu(x);
        let a = self.conv_w(store, &f.a, &r);
        let (starts, ends, axes) = (self.int64s(&[1, 1]), self.int64s(&[i64::MAX, i64::MAX]), self.int64s(&[2, 3]));
        let shifted = self.node("Slice", &[&r, &starts, &ends, &axes], Vec::new());
        let b = self.conv_w(store, &f.b, &shifted);
        let both = self.concat(&[a, b]);
        self.batch_norm(store, &f.bn, &both)
    }

    /// Max pooling (the engine's `max_pool2d`: padding never wins).
    pub fn max_pool(&mut self, x: &str, p: Pool) -> String {
        let (k, s, pad) = (p.kernel as i64, p.stride as i64, p.padding as i64);
        self.node("MaxPool", &[x], vec![ints("kernel_shape", &[k, k]), ints("strides", &[s, s]), ints("pads", &[pad; 4])])
    }

    /// `xs` concatenated along the channels.
    pub fn concat(&mut self, xs: &[String]) -> String {
        self.node("Concat", &xs.iter().map(String::as_str).collect::<Vec<_>>(), vec![int("axis", 1)])
    }

    /// NAS-Bench-201's residual reduction ([`ResidualReduce`]).
    pub fn residual_reduce(&mut self, store: &ParamStore, r: &ResidualReduce, x: &str) -> String {
        let pooled = self.avg_pool(x, Pool { kernel: 2, stride: 2, padding: 0 });
        let shortcut = self.conv_w(store, &r.shortcut, &pooled);
        let a = self.conv_bn(store, &r.a, x);
        let b = self.conv_bn(store, &r.b, &a);
        self.add(&b, &shortcut)
    }

    /// Average pooling, padding not counted (the engine's `avg_pool2d`).
    pub fn avg_pool(&mut self, x: &str, p: Pool) -> String {
        let (k, s, pad) = (p.kernel as i64, p.stride as i64, p.padding as i64);
        self.node("AveragePool", &[x], vec![ints("kernel_shape", &[k, k]), ints("strides", &[s, s]), ints("pads", &[pad; 4]), int("count_include_pad", 0)])
    }

    /// The sum of `xs` (one input is returned as it is).
    pub fn sum(&mut self, xs: &[String]) -> String {
        match xs {
            [one] => one.clone(),
            _ => self.node("Sum", &xs.iter().map(String::as_str).collect::<Vec<_>>(), Vec::new()),
        }
    }

    /// A constant scalar.
    fn scalar(&mut self, value: f32) -> String {
        self.counter += 1;
        self.constant(&format!("scalar_{}", self.counter), &[], &[value])
    }

    /// `x · factor` (a zero edge is `x · 0`, as the engine computes it).
    pub fn scale(&mut self, x: &str, factor: f32) -> String {
        let c = self.scalar(factor);
        self.node("Mul", &[x, &c], Vec::new())
    }

    /// ReLU6: `Clip` to [0, 6].
    pub fn relu6(&mut self, x: &str) -> String {
        let (lo, hi) = (self.scalar(0.0), self.scalar(6.0));
        self.node("Clip", &[x, &lo, &hi], Vec::new())
    }

    /// `a + b` (a residual connection).
    pub fn add(&mut self, a: &str, b: &str) -> String {
        self.node("Add", &[a, b], Vec::new())
    }

    /// Global average pooling to `(batch, C)`.
    pub fn global_avg_pool(&mut self, x: &str) -> String {
        let pooled = self.node("GlobalAveragePool", &[x], Vec::new());
        self.node("Flatten", &[&pooled], vec![int("axis", 1)])
    }

    /// A dense layer from the store's `weight` (`[out, in]`) and `bias`.
    pub fn linear(&mut self, store: &ParamStore, weight: usize, bias: usize, x: &str) -> String {
        let w = self.parameter(store, weight);
        let b = self.parameter(store, bias);
        self.node("Gemm", &[x, &w, &b], vec![int("transB", 1)])
    }

    /// [`Dense`].
    pub fn dense(&mut self, store: &ParamStore, d: &Dense, x: &str) -> String {
        self.linear(store, d.w, d.b, x)
    }

    /// The serialised model: input `(batch, C, H, W)` images, `output`
    /// the `(batch, classes)` logits.
    pub fn finish(mut self, output: &str, (c, h, w): (usize, usize, usize), classes: usize, doc: &str) -> Vec<u8> {
        // The output gets a name of its own, whatever node computes it.
        self.nodes.push(NodeProto { input: vec![output.into()], output: vec![Self::OUTPUT.into()], name: Self::OUTPUT.into(), op_type: "Identity".into(), attribute: Vec::new() });
        let output = Self::OUTPUT;
        let graph = GraphProto {
            node: self.nodes,
            name: "nasforge".into(),
            initializer: self.initializers,
            input: vec![ValueInfoProto { name: Self::INPUT.into(), r#type: tensor_type(&[batch(), fixed(c), fixed(h), fixed(w)]) }],
            output: vec![ValueInfoProto { name: output.into(), r#type: tensor_type(&[batch(), fixed(classes)]) }],
        };
        ModelProto {
            ir_version: IR_VERSION,
            opset_import: vec![OperatorSetIdProto { domain: String::new(), version: OPSET }],
            producer_name: "nasforge".into(),
            producer_version: env!("CARGO_PKG_VERSION").into(),
            doc_string: doc.into(),
            graph: Some(graph),
        }
        .encode_to_vec()
    }
}

#[cfg(test)]
mod tests {
    use dfdx::prelude::Cpu;
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn a_model_decodes_with_its_opset_its_weights_and_named_ends() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let mut store = ParamStore::new(Cpu::default());
        let cb = store.conv_bn("stem", Conv::new(1, 4, 3, 1), true, &mut rng);
        let fc = store.dense("fc", 4, 3, 0.5, &mut rng);
        store.stats[0].mean = vec![0.5; 4];
        let mut g = OnnxGraph::new();
        let x = g.conv_bn(&store, &cb, OnnxGraph::INPUT);
        let x = g.global_avg_pool(&x);
        let y = g.dense(&store, &fc, &x);
        let m = ModelProto::decode(g.finish(&y, (1, 8, 8), 3, "test").as_slice()).unwrap();
        assert_eq!((m.ir_version, m.opset_import[0].version), (IR_VERSION, OPSET));
        let graph = m.graph.unwrap();
        let ops: Vec<&str> = graph.node.iter().map(|n| n.op_type.as_str()).collect();
        assert_eq!(ops, ["Relu", "Conv", "BatchNormalization", "GlobalAveragePool", "Flatten", "Gemm", "Identity"]);
        let names: Vec<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["stem.weight", "stem.bn.gamma", "stem.bn.beta", "stem.bn.running_mean", "stem.bn.running_var", "fc.weight", "fc.bias"]);
        let mean = &graph.initializer[3];
        assert_eq!((mean.dims.as_slice(), &mean.raw_data[..4]), (&[4i64][..], &0.5f32.to_le_bytes()[..]));
        assert_eq!(graph.initializer[0].dims, [4, 1, 3, 3]);
        assert_eq!((graph.input[0].name.as_str(), graph.output[0].name.as_str()), ("input", "logits"));
        let pads = graph.node[1].attribute.iter().find(|a| a.name == "pads").unwrap();
        assert_eq!(pads.ints, [1, 1, 1, 1]);
    }
}
