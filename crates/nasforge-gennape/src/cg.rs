//! GENNAPE's computation graphs: every space's architecture lowered to
//! one vocabulary of primitive operations, so that architectures of
//! different spaces live in one representation.
//!
//! GENNAPE builds its graphs from a network's frozen TensorFlow graph and
//! names each node's primitive by the longest keyword its op name contains
//! (`tf_comp_graph.py`). Here a space's [`ArchGraph`] (nodes are the
//! space's own operations: `nor_conv_3x3`, `sep_conv_5x5`, `ir_5x5_t6`,
//! `mbconv`, `gat`, ...) is lowered the same way: each node's op name is
//! matched by keyword to the primitive sequence that operation computes
//! (NB201's ReLU-conv-BN, DARTS' separable and dilated convolutions,
//! MobileNet's inverted residuals, a GNN layer's aggregation and
//! transform), with kernel size, stride, expansion and relative channels
//! from the name or the node's attributes. An op no keyword names becomes
//! [`Prim::Other`] (GENNAPE's `<oov>`). The lowering's rules are
//! [`lower_op`]'s table, documented per keyword.
//!
//! Deviation: shapes are relative (kernel / 7, stride, expansion / 6,
//! channels / the graph's first, resolution halving at each stride 2 and
//! in DARTS' reduction cell), not GENNAPE's absolute H, W and C of the
//! traced network, since a space's graph here does not carry its
//! network's input size; and NB201 and DARTS graphs are their cells, not
//! the whole stacked networks (MobileNet and NAS-Bench-Macro graphs are
//! whole networks, with their stages' channels and strides).

use nasforge_core::{ArchGraph, AttrValue, GraphNode, Rng};
use rand::Rng as _;

/// The primitive vocabulary (GENNAPE's `tf_primitive_ops_simplified.txt`,
/// the subset these spaces produce, plus GNN and attention primitives).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Prim {
    /// A graph input.
    Input,
    /// A graph output.
    Output,
    /// A dense convolution.
    Conv,
    /// A depthwise convolution.
    Depthwise,
    /// Batch normalisation.
    BatchNorm,
    /// ReLU.
    Relu,
    /// ReLU6.
    Relu6,
    /// Element-wise addition.
    Add,
    /// Channel concatenation.
    Concat,
    /// Average pooling.
    AvgPool,
    /// Max pooling.
    MaxPool,
    /// Global average pooling (`mean`).
    Mean,
    /// Identity.
    Identity,
    /// The zero operation.
    Zero,
    /// A dense matrix product (fully connected layers).
    Matmul,
    /// Message aggregation over graph neighbours.
    Aggregate,
    /// Attention scores over neighbours or tokens.
    Attention,
    /// Softmax.
    Softmax,
    /// Layer normalisation.
    LayerNorm,
    /// A smooth activation (ELU, GELU, sigmoid, tanh, ...).
    Activation,
    /// An op no keyword names (GENNAPE's `<oov>`).
    Other,
}

impl Prim {
    /// Every primitive, in one-hot order.
    pub const ALL: [Prim; 21] = [
        Prim::Input,
        Prim::Output,
        Prim::Conv,
        Prim::Depthwise,
        Prim::BatchNorm,
        Prim::Relu,
        Prim::Relu6,
        Prim::Add,
        Prim::Concat,
        Prim::AvgPool,
        Prim::MaxPool,
        Prim::Mean,
        Prim::Identity,
        Prim::Zero,
        Prim::Matmul,
        Prim::Aggregate,
        Prim::Attention,
        Prim::Softmax,
        Prim::LayerNorm,
        Prim::Activation,
        Prim::Other,
    ];
}

/// One node: a primitive with its relative shape.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CgNode {
    /// The primitive.
    pub prim: Prim,
    /// Kernel size / 7 (0 where there is none).
    pub kernel: f32,
    /// Stride (1 or 2).
    pub stride: f32,
    /// Channel expansion / 6 (inverted residuals' hidden width).
    pub expansion: f32,
    /// Channels relative to the graph's first stage.
    pub channels: f32,
    /// Resolution relative to the input (1, 1/2, 1/4, ...).
    pub resolution: f32,
}

impl CgNode {
    fn new(prim: Prim) -> Self {
        CgNode { prim, kernel: 0.0, stride: 1.0, expansion: 0.0, channels: 1.0, resolution: 1.0 }
    }

    /// Features per node: the one-hot primitive and the five numbers.
    pub const WIDTH: usize = Prim::ALL.len() + 5;

    /// The node's features.
    pub fn features(&self) -> [f32; Self::WIDTH] {
        let mut f = [0.0; Self::WIDTH];
        f[Prim::ALL.iter().position(|&p| p == self.prim).expect("in ALL")] = 1.0;
        let n = Prim::ALL.len();
        f[n] = self.kernel;
        f[n + 1] = self.stride - 1.0;
        f[n + 2] = self.expansion;
        // Clamped: a plugin's graph may carry a channel count of 0.
        f[n + 3] = self.channels.max(1.0 / 64.0).log2() / 4.0;
        f[n + 4] = self.resolution.max(1.0 / 1024.0).log2() / 4.0;
        f
    }
}

/// A computation graph: primitives, and edges `(from, to)` carrying
/// tensors.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Cg {
    /// The nodes.
    pub nodes: Vec<CgNode>,
    /// The edges.
    pub edges: Vec<(usize, usize)>,
}

impl Cg {
    fn push(&mut self, node: CgNode) -> usize {
        self.nodes.push(node);
        self.nodes.len() - 1
    }
}

fn int_attr(node: &GraphNode, key: &str) -> Option<i64> {
    match node.attrs.get(key) {
        Some(AttrValue::Int(v)) => Some(*v),
        _ => None,
    }
}

/// The `K` of a `KxK` in an op name (the first `x` between digits).
fn kernel_in(name: &str) -> Option<i64> {
    let b = name.as_bytes();
    let x = (1..b.len().saturating_sub(1)).find(|&i| b[i] == b'x' && b[i - 1].is_ascii_digit() && b[i + 1].is_ascii_digit())?;
    let start = b[..x].iter().rposition(|c| !c.is_ascii_digit()).map_or(0, |i| i + 1);
    name[start..x].parse().ok()
}

/// The `E` of a `_tE` in an op name.
fn expansion_in(name: &str) -> Option<i64> {
    let t = name.rfind("_t")?;
    name[t + 2..].chars().take_while(char::is_ascii_digit).collect::<String>().parse().ok()
}

/// The primitive sequence one space op computes, by keyword (the more
/// specific keywords tried first, where GENNAPE takes the longest match):
/// returns the chain's nodes in order.
///
/// - `input`, `stem` → input (a stem adds conv 3×3, BN, ReLU);
///   `output` → output; `head` → mean, matmul, output (after conv 1,
///   BN, ReLU6 when it has `channels` of its own);
/// - `sep_conv_KxK` → (ReLU, depthwise K, conv 1, BN) twice (DARTS);
///   `dil_conv_KxK` → ReLU, depthwise of the dilated extent 2K − 1,
///   conv 1, BN; `nor_conv_KxK` → ReLU, conv K, BN (NB201);
/// - `ir_KxK_tE`, `mbconv` (with `kernel`/`expansion` attributes) →
///   conv 1 (when E > 1), BN, ReLU6, depthwise K, BN, ReLU6, conv 1, BN;
/// - `avg_pool`, `max_pool` → the pool with its kernel; `skip`,
///   `identity` → identity; `none`, `zero` → zero; `sum`, `add` → add;
///   `concat` → concat;
/// - GNN layers (`gat`, `gcn`, `gin`, `cheb`, `sage`, `arma`, `graph`,
///   Auto-GNN's `attention-aggregator`) → aggregate (with attention for
///   attention types), matmul; `fc` → matmul;
/// - `res-attention`, `encoder-layer` → attention, softmax, matmul, add,
///   layer norm (a transformer block); `res-conv` → conv 1, BN, ReLU,
///   conv 3, BN, ReLU, conv 1, BN, add; `downsample` → conv 1 with
///   stride 2, BN;
///   `embedding` → matmul;
/// - anything else → other.
pub fn lower_op(node: &GraphNode) -> Vec<CgNode> {
    let name = node.op.to_ascii_lowercase();
    let mk = |p: Prim| CgNode::new(p);
    let conv = |p: Prim, k: i64| CgNode { kernel: k as f32 / 7.0, ..CgNode::new(p) };
    let k = int_attr(node, "kernel").or_else(|| kernel_in(&name)).unwrap_or(3);
    if name.contains("sep_conv") {
        let half = [mk(Prim::Relu), conv(Prim::Depthwise, k), conv(Prim::Conv, 1), mk(Prim::BatchNorm)];
        return half.iter().chain(half.iter()).copied().collect();
    }
    if name.contains("dil_conv") {
        return vec![mk(Prim::Relu), conv(Prim::Depthwise, 2 * k - 1), conv(Prim::Conv, 1), mk(Prim::BatchNorm)];
    }
    if name.contains("nor_conv") {
        return vec![mk(Prim::Relu), conv(Prim::Conv, k), mk(Prim::BatchNorm)];
    }
    if name.starts_with("ir_") || name.contains("mbconv") {
        let e = int_attr(node, "expansion").or_else(|| expansion_in(&name)).unwrap_or(1);
        let mut chain = Vec::new();
        if e > 1 {
            chain.extend([conv(Prim::Conv, 1), mk(Prim::BatchNorm), mk(Prim::Relu6)]);
        }
        chain.extend([conv(Prim::Depthwise, k), mk(Prim::BatchNorm), mk(Prim::Relu6), conv(Prim::Conv, 1), mk(Prim::BatchNorm)]);
        for n in &mut chain {
            n.expansion = e as f32 / 6.0;
        }
        return chain;
    }
    if name.contains("res-attention") || name.contains("encoder-layer") {
        return vec![mk(Prim::Attention), mk(Prim::Softmax), mk(Prim::Matmul), mk(Prim::Add), mk(Prim::LayerNorm)];
    }
    if name.contains("res-conv") {
        return vec![
            conv(Prim::Conv, 1),
            mk(Prim::BatchNorm),
            mk(Prim::Relu),
            conv(Prim::Conv, 3),
            mk(Prim::BatchNorm),
            mk(Prim::Relu),
            conv(Prim::Conv, 1),
            mk(Prim::BatchNorm),
            mk(Prim::Add),
        ];
    }
    if name.contains("downsample") {
        return vec![CgNode { stride: 2.0, ..conv(Prim::Conv, 1) }, mk(Prim::BatchNorm)];
    }
    if name.contains("avg_pool") {
        return vec![conv(Prim::AvgPool, k)];
    }
    if name.contains("max_pool") {
        return vec![conv(Prim::MaxPool, k)];
    }
    if name.contains("skip") || name.contains("identity") {
        return vec![mk(Prim::Identity)];
    }
    if name == "none" || name.contains("zero") {
        return vec![mk(Prim::Zero)];
    }
    if name == "sum" || name == "add" {
        return vec![mk(Prim::Add)];
    }
    if name.contains("concat") {
        return vec![mk(Prim::Concat)];
    }
    if name == "stem" {
        return vec![mk(Prim::Input), conv(Prim::Conv, 3), mk(Prim::BatchNorm), mk(Prim::Relu)];
    }
    if name == "input" {
        return vec![mk(Prim::Input)];
    }
    if name == "output" {
        return vec![mk(Prim::Output)];
    }
    if name == "head" {
        // A head with its own width is a 1×1 conv to it first (MobileNetV2's 1280).
        let mut chain = vec![mk(Prim::Mean), mk(Prim::Matmul), mk(Prim::Output)];
        if int_attr(node, "channels").is_some() {
            chain.splice(0..0, [conv(Prim::Conv, 1), mk(Prim::BatchNorm), mk(Prim::Relu6)]);
        }
        return chain;
    }
    if name == "fc" || name.contains("embedding") {
        return vec![mk(Prim::Matmul)];
    }
    let gnn = ["gat", "gcn", "gin", "cheb", "sage", "arma", "graph", "const", "linear", "generalized", "cos", "sym", "-sum", "-mean", "-max"];
    if gnn.iter().any(|g| name.contains(g)) {
        let mut chain = vec![mk(Prim::Aggregate), mk(Prim::Matmul)];
        if name.contains("gat") || name.contains("cos") || name.contains("sym") || name.contains("linear") || name.contains("generalized") {
            chain.insert(0, mk(Prim::Attention));
        }
        return chain;
    }
    vec![mk(Prim::Other)]
}

/// Lowers a space's graph: each node becomes its primitive chain, an edge
/// into a node enters its chain's first primitive, an edge out of it
/// leaves its last. Resolution halves at a stride 2, on the op's spatial
/// primitive (an inverted residual's depthwise conv, else its first conv
/// or pool); in DARTS' reduction cell (ops carry `cell = reduce`) the ops
/// that read the cell's inputs have stride 2 and double the channels, so
/// a skip there is a strided 1×1 conv as DARTS' FactorizedReduce.
/// Channels follow a node's `channels` attribute relative to the first
/// seen, and a node without one keeps its input's. What the network around an op adds is
/// lowered too, as the traced networks GENNAPE reads show it:
///
/// - an identity that changes stride or channels is the network's 1×1
///   (strided) convolution and BN;
/// - an inverted residual (`ir_*`, `mbconv`) of stride 1 whose channels
///   equal its input's ends in an add that its input also enters
///   (MobileNetV2's shortcut), and so do `res-conv` and `res-attention`
///   blocks and transformer `encoder-layer`s at their add;
/// - `activation = "relu"` replaces ReLU6 in an inverted residual
///   (NAS-Bench-Macro's blocks).
///
/// An empty graph lowers to one [`Prim::Other`] node (every graph has a
/// readout).
pub fn lower(g: &ArchGraph) -> Cg {
    let mut cg = Cg::default();
    if g.nodes.is_empty() {
        cg.push(CgNode::new(Prim::Other));
        return cg;
    }
    let mut ends = Vec::with_capacity(g.nodes.len());
    // The add a node's inputs also enter (a residual shortcut).
    let mut shortcut: Vec<Option<usize>> = vec![None; g.nodes.len()];
    let first_channels = g.nodes.iter().find_map(|n| int_attr(n, "channels")).unwrap_or(1).max(1) as f32;
    let mut resolution = vec![1.0f32; g.nodes.len()];
    let mut out_channels = vec![1.0f32; g.nodes.len()];
    let mut reduced = vec![false; g.nodes.len()];
    for (i, node) in g.nodes.iter().enumerate() {
        let preds: Vec<usize> = g.edges.iter().filter(|e| e.1 == i).map(|e| e.0).collect();
        let mut res = preds.iter().map(|&p| resolution[p]).fold(None, |a: Option<f32>, r| Some(a.map_or(r, |a| a.min(r)))).unwrap_or(1.0);
        let in_channels = preds.first().map_or(1.0, |&p| out_channels[p]);
        // In a reduction cell the ops that read the cell's inputs have
        // stride 2 and double the channels (DARTS); the rest run at the
        // reduced shape they read.
        let reduce = matches!(node.attrs.get("cell"), Some(AttrValue::Text(t)) if t == "reduce");
        let halve = reduce && preds.iter().any(|&p| !reduced[p]);
        reduced[i] = reduce || preds.iter().any(|&p| reduced[p]);
        let stride = if halve { 2 } else { int_attr(node, "stride").unwrap_or(1) };
        let channels = int_attr(node, "channels").map_or(if halve { in_channels * 2.0 } else { in_channels }, |c| c as f32 / first_channels);
        let name = node.op.to_ascii_lowercase();
        let mut chain = lower_op(node);
        let changes_shape = stride == 2 || channels != in_channels;
        if chain.len() == 1 && chain[0].prim == Prim::Identity && changes_shape && !preds.is_empty() {
            chain = vec![CgNode { kernel: 1.0 / 7.0, ..CgNode::new(Prim::Conv) }, CgNode::new(Prim::BatchNorm)];
        }
        if matches!(node.attrs.get("activation"), Some(AttrValue::Text(t)) if t == "relu") {
            for n in &mut chain {
                if n.prim == Prim::Relu6 {
                    n.prim = Prim::Relu;
                }
            }
        }
        let inverted_residual = name.starts_with("ir_") || name.contains("mbconv");
        if inverted_residual && !changes_shape && !preds.is_empty() {
            chain.push(CgNode::new(Prim::Add));
        }
        let residual = (inverted_residual && !changes_shape) || name.contains("res-conv") || name.contains("res-attention") || name.contains("encoder-layer");
        // A stride sits on the op's spatial primitive: the depthwise conv
        // of an inverted residual (its expansion runs at the input's
        // resolution), else its first conv or pool, else its first node.
        let strided = chain
            .iter()
            .position(|n| n.prim == Prim::Depthwise)
            .or_else(|| chain.iter().position(|n| matches!(n.prim, Prim::Conv | Prim::AvgPool | Prim::MaxPool)))
            .unwrap_or(0);
        let op_stride = stride == 2 || chain.iter().any(|n| n.stride == 2.0);
        let mut prev = None;
        let mut start = 0;
        for (j, mut n) in chain.into_iter().enumerate() {
            n.stride = 1.0;
            if op_stride && j == strided {
                n.stride = 2.0;
                res /= 2.0;
            }
            n.resolution = res;
            n.channels = channels;
            let id = cg.push(n);
            if let Some(p) = prev {
                cg.edges.push((p, id));
            } else {
                start = id;
            }
            if residual && n.prim == Prim::Add && shortcut[i].is_none() && !preds.is_empty() {
                shortcut[i] = Some(id);
            }
            prev = Some(id);
        }
        resolution[i] = res;
        out_channels[i] = channels;
        ends.push((start, prev.expect("every chain has a node")));
    }
    for &(a, b) in &g.edges {
        cg.edges.push((ends[a].1, ends[b].0));
        if let Some(add) = shortcut[b] {
            cg.edges.push((ends[a].1, add));
        }
    }
    cg
}

/// A function-preserving rewrite of `cg` (a contrastive positive): node
/// indices relabelled at random, and, with probability `p` each, an
/// identity inserted on an edge.
pub fn rewrite(cg: &Cg, p: f64, rng: &mut Rng) -> Cg {
    let mut out = Cg { nodes: cg.nodes.clone(), edges: Vec::with_capacity(cg.edges.len()) };
    for &(a, b) in &cg.edges {
        if rng.random_bool(p) {
            let mut id = CgNode::new(Prim::Identity);
            id.resolution = cg.nodes[a].resolution;
            id.channels = cg.nodes[a].channels;
            let i = out.push(id);
            out.edges.push((a, i));
            out.edges.push((i, b));
        } else {
            out.edges.push((a, b));
        }
    }
    // Relabel: a random permutation of the node order.
    let n = out.nodes.len();
    let mut perm: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        perm.swap(i, rng.random_range(0..=i));
    }
    let mut nodes = vec![out.nodes[0]; n];
    for (old, &new) in perm.iter().enumerate() {
        nodes[new] = out.nodes[old];
    }
    Cg { nodes, edges: out.edges.iter().map(|&(a, b)| (perm[a], perm[b])).collect() }
}

#[cfg(test)]
mod tests {
    use nasforge_core::{SearchSpace, seeded_rng};

    use super::*;

    #[test]
    fn nb201_convolutions_lower_to_relu_conv_bn_and_macro_layers_to_inverted_residuals() {
        let space = nasforge_space_nb201::Nb201Space;
        let cell = space.parse("|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_1x1~2|").unwrap();
        let cg = lower(&space.to_graph(&cell));
        let count = |p: Prim| cg.nodes.iter().filter(|n| n.prim == p).count();
        assert_eq!((count(Prim::Conv), count(Prim::Relu), count(Prim::BatchNorm)), (2, 2, 2));
        assert_eq!((count(Prim::AvgPool), count(Prim::Identity), count(Prim::Input), count(Prim::Output)), (1, 1, 1, 1));
        assert!(cg.nodes.iter().all(|n| n.prim != Prim::Other));
        let m = nasforge_space_mobilenet::NbMacroSpace;
        let arch = m.parse("01220120").unwrap();
        let cg = lower(&m.to_graph(&arch));
        assert!(cg.nodes.iter().all(|n| n.prim != Prim::Other), "{:?}", cg.nodes);
        let depthwise: Vec<f32> = cg.nodes.iter().filter(|n| n.prim == Prim::Depthwise).map(|n| n.kernel * 7.0).collect();
        assert_eq!(depthwise.len(), 5);
        assert_eq!((kernel_in("max_pool_5x5"), kernel_in("sep_conv_3x3"), kernel_in("mbconv")), (Some(5), Some(3), None));
        assert!(depthwise.iter().all(|&k| k == 3.0 || k == 5.0));
        for &(a, b) in &cg.edges {
            assert!(a < cg.nodes.len() && b < cg.nodes.len());
        }
    }

    #[test]
    fn macro_networks_lower_with_their_shortcuts_downsamplings_and_shapes() {
        let m = nasforge_space_mobilenet::NbMacroSpace;
        // Layer 0 (stride 2) is an identity: the network's 1x1 downsampling.
        // Layer 1 (stride 1, same channels) is an inverted residual: its add
        // is also entered by its input.
        let cg = lower(&m.to_graph(&m.parse("01000000").unwrap()));
        let count = |p: Prim| cg.nodes.iter().filter(|n| n.prim == p).count();
        assert_eq!(count(Prim::Add), 1);
        assert_eq!(count(Prim::Relu6), 0, "NAS-Bench-Macro's blocks use ReLU");
        let add = cg.nodes.iter().position(|n| n.prim == Prim::Add).unwrap();
        assert_eq!(cg.edges.iter().filter(|e| e.1 == add).count(), 2);
        let downsample = cg.nodes.iter().position(|n| n.prim == Prim::Conv && n.stride == 2.0 && n.kernel == 1.0 / 7.0).expect("a strided 1x1 conv");
        assert_eq!(cg.nodes[downsample].channels, 2.0);
        // Three stride-2 layers: the head sees 1/8 of the input; its 1x1
        // conv widens to 1280 = 40x the stem's 32 channels, with ReLU.
        let last = cg.nodes.iter().rev().find(|n| n.prim == Prim::Output).unwrap();
        assert_eq!((last.resolution, last.channels), (0.125, 40.0));
        let before_pool = cg.nodes.iter().position(|n| n.prim == Prim::Mean).unwrap();
        assert_eq!(cg.nodes[before_pool - 1].prim, Prim::Relu);
        // The strided 1x1 of layer 0 halves the resolution; in a stride-2
        // block the depthwise conv does (the expansion conv before it runs
        // at the input's).
        assert_eq!(cg.nodes[downsample].resolution, 0.5);
        let cg2 = lower(&m.to_graph(&m.parse("20000000").unwrap()));
        let dw = cg2.nodes.iter().position(|n| n.prim == Prim::Depthwise).unwrap();
        assert_eq!((cg2.nodes[dw].stride, cg2.nodes[dw].resolution), (2.0, 0.5));
        let expand = cg2.nodes[..dw].iter().rposition(|n| n.prim == Prim::Conv).unwrap();
        assert_eq!((cg2.nodes[expand].stride, cg2.nodes[expand].resolution), (1.0, 1.0));
        // A stride-2 inverted residual has no shortcut.
        let cg = lower(&m.to_graph(&m.parse("20000000").unwrap()));
        assert!(cg.nodes.iter().all(|n| n.prim != Prim::Add));
    }

    #[test]
    fn every_darts_op_has_a_primitive_lowering() {
        let space = nasforge_space_darts::DartsSpace;
        let mut rng = seeded_rng(1);
        for _ in 0..20 {
            let cg = lower(&space.to_graph(&space.sample(&mut rng)));
            assert!(cg.nodes.iter().all(|n| n.prim != Prim::Other));
            assert!(cg.nodes.iter().any(|n| n.resolution < 1.0), "the reduction cell halves the resolution");
            // What the reduction cell computes reaches the output at half
            // the resolution and twice the channels, once.
            let out = cg.nodes.iter().rev().find(|n| n.prim == Prim::Output).unwrap();
            assert_eq!((out.resolution, out.channels), (0.5, 2.0));
        }
    }

    #[test]
    fn op_names_with_other_scripts_lower_without_panicking() {
        assert_eq!(kernel_in("é3x3"), Some(3));
        assert_eq!(kernel_in("конв5x5"), Some(5));
    }

    #[test]
    fn a_rewrite_keeps_the_multiset_of_operations_and_adds_only_identities() {
        let space = nasforge_space_nb201::Nb201Space;
        let mut rng = seeded_rng(2);
        let cg = lower(&space.to_graph(&space.sample(&mut rng)));
        let r = rewrite(&cg, 0.3, &mut rng);
        let non_identity = |g: &Cg| {
            let mut v: Vec<Prim> = g.nodes.iter().map(|n| n.prim).filter(|&p| p != Prim::Identity).collect();
            v.sort();
            v
        };
        assert_eq!(non_identity(&cg), non_identity(&r));
        assert_eq!(r.edges.len() - cg.edges.len(), r.nodes.len() - cg.nodes.len());
    }
}
