//! The DARTS search space (Liu, Simonyan and Yang, ICLR 2019).
//!
//! An architecture is a [`Genotype`]: a normal and a reduction [`CellGenes`].
//! A cell has two inputs (the outputs of the two previous cells, `0` and
//! `1`) and four intermediate nodes `2..=5`; node `j` sums two edges, each
//! an [`Op`] applied to one of its predecessors `0..j`, the two from
//! different predecessors; the cell outputs the concatenation of the four
//! nodes. The text is DARTS' own `genotypes.py` form:
//!
//! ```text
//! Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ...], normal_concat=[2, 3, 4, 5],
//!          reduce=[('max_pool_3x3', 0), ...], reduce_concat=[2, 3, 4, 5])
//! ```
//!
//! Size. A node `j` (`i = j - 2` = 0..3) picks an ordered pair of distinct
//! predecessors out of `i + 2` — `(i+2)(i+1)` ways — and an op for each
//! edge, 8² ways; a cell has 2·6·12·20 · 8⁸ = 48,318,382,080 raw genotypes,
//! the space (normal × reduce) their square, 2.3 × 10²¹ ([`SearchSpace::size`]
//! counts these). The two edges of a node are summed, so swapping them
//! changes nothing: 180 · 8⁸ = 3,019,898,880 cells up to that swap, 9.1 ×
//! 10¹⁸ genotypes ([`DIFFERENT_GENOTYPES`]); without `none` (the op DARTS
//! never derives), 180 · 7⁸ per cell and 1.08 × 10¹⁸ in all, the figure
//! usually quoted for this space.
//!
//! [`network_params`] and [`network_macs`] count the CIFAR-10 evaluation
//! network of DARTS' `NetworkCIFAR` (stem, `layers` cells with reductions
//! at `layers/3` and `2·layers/3`, classifier; auxiliary head excluded).

use std::fmt;

use nasforge_core::{ArchGraph, AttrValue, ParseArchError, Rng, SearchSpace};
use rand::Rng as _;

/// An edge operation, in DARTS' `PRIMITIVES` order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    /// Zero.
    None,
    /// 3×3 max pooling.
    MaxPool3x3,
    /// 3×3 average pooling (padding not counted).
    AvgPool3x3,
    /// Identity (a factorized reduction at stride 2).
    SkipConnect,
    /// Two stacked ReLU, depthwise 3×3, pointwise, BN.
    SepConv3x3,
    /// Two stacked ReLU, depthwise 5×5, pointwise, BN.
    SepConv5x5,
    /// ReLU, dilated (2) depthwise 3×3, pointwise, BN.
    DilConv3x3,
    /// ReLU, dilated (2) depthwise 5×5, pointwise, BN.
    DilConv5x5,
}

impl Op {
    /// Every op, in `PRIMITIVES` order.
    pub const ALL: [Op; 8] =
        [Op::None, Op::MaxPool3x3, Op::AvgPool3x3, Op::SkipConnect, Op::SepConv3x3, Op::SepConv5x5, Op::DilConv3x3, Op::DilConv5x5];

    /// DARTS' name.
    pub fn name(self) -> &'static str {
        match self {
            Op::None => "none",
            Op::MaxPool3x3 => "max_pool_3x3",
            Op::AvgPool3x3 => "avg_pool_3x3",
            Op::SkipConnect => "skip_connect",
            Op::SepConv3x3 => "sep_conv_3x3",
            Op::SepConv5x5 => "sep_conv_5x5",
            Op::DilConv3x3 => "dil_conv_3x3",
            Op::DilConv5x5 => "dil_conv_5x5",
        }
    }

    fn parse(s: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|o| o.name() == s)
    }

    /// Parameters of the op on `c` channels (`stride` 2 in reductions).
    fn params(self, c: u64, stride: u64) -> u64 {
        let bn = 2 * c;
        match self {
            Op::None | Op::MaxPool3x3 | Op::AvgPool3x3 => 0,
            Op::SkipConnect if stride == 1 => 0,
            // FactorizedReduce(C, C): two 1×1 convs C → C/2, BN(C).
            Op::SkipConnect => c * c + bn,
            Op::SepConv3x3 => 2 * (c * 9 + c * c + bn),
            Op::SepConv5x5 => 2 * (c * 25 + c * c + bn),
            Op::DilConv3x3 => c * 9 + c * c + bn,
            Op::DilConv5x5 => c * 25 + c * c + bn,
        }
    }

    /// Multiply-accumulates of the op's convolutions on `c` channels with
    /// an `out × out` output (pooling, BN and additions not counted).
    fn macs(self, c: u64, stride: u64, out: u64) -> u64 {
        let px = out * out;
        match self {
            Op::None | Op::MaxPool3x3 | Op::AvgPool3x3 => 0,
            Op::SkipConnect if stride == 1 => 0,
            Op::SkipConnect => c * c * px,
            Op::SepConv3x3 => 2 * (c * 9 + c * c) * px,
            Op::SepConv5x5 => 2 * (c * 25 + c * c) * px,
            Op::DilConv3x3 => (c * 9 + c * c) * px,
            Op::DilConv5x5 => (c * 25 + c * c) * px,
        }
    }
}

/// One edge: an op on a predecessor (`0`, `1`: the cell inputs; `2..`: the
/// intermediate nodes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Edge {
    /// The op.
    pub op: Op,
    /// The predecessor.
    pub input: u8,
}

/// Intermediate nodes per cell.
pub const NODES: usize = 4;

/// One cell: edges `2i` and `2i+1` feed intermediate node `i + 2`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CellGenes {
    /// The 8 edges, in genotype order.
    pub edges: [Edge; 2 * NODES],
}

impl CellGenes {
    fn check(&self) -> Result<(), String> {
        for node in 0..NODES {
            let (a, b) = (self.edges[2 * node], self.edges[2 * node + 1]);
            let limit = node as u8 + 2;
            if a.input >= limit || b.input >= limit {
                return Err(format!("node {} reads node {}; it can read 0..={}", node + 2, a.input.max(b.input), limit - 1));
            }
            if a.input == b.input {
                return Err(format!("node {} reads node {} twice; its two edges come from different nodes", node + 2, a.input));
            }
        }
        Ok(())
    }

    fn random(rng: &mut Rng) -> Self {
        Self::random_from(rng, 0)
    }

    /// A uniform cell as DARTS derives them: two distinct inputs per node,
    /// each edge with an operation other than `none` (RSPS' sampling on
    /// the DARTS supernet).
    pub fn random_derived(rng: &mut Rng) -> Self {
        Self::random_from(rng, 1)
    }

    /// Two distinct uniform inputs per node, each edge with a uniform
    /// operation of `Op::ALL[first..]`.
    fn random_from(rng: &mut Rng, first: usize) -> Self {
        let mut edges = [Edge { op: Op::None, input: 0 }; 2 * NODES];
        for node in 0..NODES {
            let n = node as u8 + 2;
            let a = rng.random_range(0..n);
            let b = (a + rng.random_range(1..n)) % n;
            for (k, input) in [a, b].into_iter().enumerate() {
                edges[2 * node + k] = Edge { op: Op::ALL[rng.random_range(first..Op::ALL.len())], input };
            }
        }
        CellGenes { edges }
    }

    /// Every cell one choice away: one edge's op, or one edge's input (to a
    /// predecessor its sibling does not read).
    fn neighbours(&self) -> Vec<CellGenes> {
        let mut out = Vec::new();
        for e in 0..2 * NODES {
            let sibling = self.edges[e ^ 1].input;
            for op in Op::ALL.into_iter().filter(|&o| o != self.edges[e].op) {
                let mut c = *self;
                c.edges[e].op = op;
                out.push(c);
            }
            for input in (0..(e / 2) as u8 + 2).filter(|&i| i != self.edges[e].input && i != sibling) {
                let mut c = *self;
                c.edges[e].input = input;
                out.push(c);
            }
        }
        out
    }

    /// The node's value as an expression: `none` edges dropped, the two
    /// summands sorted; in a normal cell a skip is its input itself.
    fn expr(&self, node: usize, reduction: bool, memo: &mut [Option<String>; NODES + 2]) -> String {
        if let Some(e) = &memo[node] {
            return e.clone();
        }
        let mut terms: Vec<String> = self.edges[2 * (node - 2)..2 * (node - 2) + 2]
            .iter()
            .filter(|e| e.op != Op::None)
            .map(|e| {
                let inner = self.expr(e.input as usize, reduction, memo);
                // At stride 2 (a reduction cell's inputs) a skip is a
                // factorized reduction, an op like the others.
                let strided = reduction && e.input < 2;
                if e.op == Op::SkipConnect && !strided { inner } else { format!("{}({inner})", e.op.name()) }
            })
            .collect();
        terms.sort();
        let e = if terms.is_empty() { "0".to_owned() } else { format!("[{}]", terms.join("+")) };
        memo[node] = Some(e.clone());
        e
    }

    fn key(&self, reduction: bool) -> String {
        let mut memo: [Option<String>; NODES + 2] = [Some("k-2".into()), Some("k-1".into()), None, None, None, None];
        let mut nodes: Vec<String> = (2..NODES + 2).map(|n| self.expr(n, reduction, &mut memo)).collect();
        // The output concatenates the nodes; the next cell's 1×1
        // preprocessing absorbs any channel order.
        nodes.sort();
        nodes.join(",")
    }

    fn format(&self) -> String {
        let edges: Vec<String> = self.edges.iter().map(|e| format!("('{}', {})", e.op.name(), e.input)).collect();
        format!("[{}]", edges.join(", "))
    }
}

/// A DARTS architecture.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Genotype {
    /// The normal cell.
    pub normal: CellGenes,
    /// The reduction cell.
    pub reduce: CellGenes,
}

impl fmt::Display for Genotype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Genotype(normal={}, normal_concat=[2, 3, 4, 5], reduce={}, reduce_concat=[2, 3, 4, 5])",
            self.normal.format(),
            self.reduce.format()
        )
    }
}

/// Genotypes up to the order of each node's two edges:
/// (180 · 8⁸)² (see the crate docs).
pub const DIFFERENT_GENOTYPES: u128 = (180 * 16_777_216) * (180 * 16_777_216);

/// Raw genotypes: (2·6·12·20 · 8⁸)².
const RAW_GENOTYPES: u128 = (2880 * 16_777_216) * (2880 * 16_777_216);

/// The DARTS space.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DartsSpace;

fn parse_error(input: &str, reason: impl Into<String>) -> ParseArchError {
    ParseArchError { space: "darts".into(), input: input.into(), reason: reason.into() }
}

/// Parses `[('op', i), ...]` (8 edges) starting at `text`; returns the cell
/// and the rest of the text.
fn parse_cell<'a>(whole: &str, text: &'a str) -> Result<(CellGenes, &'a str), ParseArchError> {
    let text = text.trim_start().strip_prefix('[').ok_or_else(|| parse_error(whole, "expected `[` before a cell's edges"))?;
    let end = text.find(']').ok_or_else(|| parse_error(whole, "a cell's edge list has no closing `]`"))?;
    let (list, rest) = (&text[..end], &text[end + 1..]);
    let mut edges = Vec::new();
    for item in list.split(')').map(str::trim).filter(|s| !s.is_empty()) {
        let item = item.trim_start_matches(',').trim().strip_prefix('(').ok_or_else(|| parse_error(whole, format!("expected `('op', input)`, found `{item}`")))?;
        let (op, input) = item.split_once(',').ok_or_else(|| parse_error(whole, format!("expected `('op', input)`, found `({item})`")))?;
        let op_name = op.trim().trim_matches(|c| c == '\'' || c == '"');
        let op = Op::parse(op_name).ok_or_else(|| {
            parse_error(whole, format!("unknown op `{op_name}`; valid: {}", Op::ALL.map(Op::name).join(", ")))
        })?;
        let input: u8 = input.trim().parse().map_err(|_| parse_error(whole, format!("`{}` is not a node number", input.trim())))?;
        edges.push(Edge { op, input });
    }
    let edges: [Edge; 2 * NODES] =
        edges.try_into().map_err(|e: Vec<Edge>| parse_error(whole, format!("a cell has 8 edges (2 per node), not {}", e.len())))?;
    let cell = CellGenes { edges };
    cell.check().map_err(|r| parse_error(whole, r))?;
    Ok((cell, rest))
}

/// Checks `key=[2, 3, 4, 5]` or `key=range(2, 6)` at the start of `text`.
fn parse_concat<'a>(whole: &str, text: &'a str, key: &str) -> Result<&'a str, ParseArchError> {
    let text = text.trim_start().strip_prefix(',').unwrap_or(text).trim_start();
    let text = text.strip_prefix(key).ok_or_else(|| parse_error(whole, format!("expected `{key}=`")))?.trim_start();
    let text = text.strip_prefix('=').ok_or_else(|| parse_error(whole, format!("expected `=` after `{key}`")))?.trim_start();
    let compact = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    for form in ["[2,3,4,5]", "range(2,6)"] {
        // Find how much of the text spells this form, ignoring spaces.
        let mut taken = 0;
        let mut seen = String::new();
        for (i, ch) in text.char_indices() {
            if !ch.is_whitespace() {
                seen.push(ch);
            }
            taken = i + ch.len_utf8();
            if seen.len() >= form.len() {
                break;
            }
        }
        if compact(&seen) == form {
            return Ok(&text[taken..]);
        }
    }
    Err(parse_error(whole, format!("`{key}` must be [2, 3, 4, 5] (every node is concatenated in this space)")))
}

impl SearchSpace for DartsSpace {
    type Arch = Genotype;

    fn name(&self) -> &str {
        "darts"
    }

    fn sample(&self, rng: &mut Rng) -> Genotype {
        Genotype { normal: CellGenes::random(rng), reduce: CellGenes::random(rng) }
    }

    /// Uniform over nodes: each node of each cell takes both its edges from
    /// one parent or the other, so the child is always valid.
    fn crossover(&self, a: &Genotype, b: &Genotype, rng: &mut Rng) -> Option<Genotype> {
        let mut child = *a;
        for (cell, other) in [(&mut child.normal, &b.normal), (&mut child.reduce, &b.reduce)] {
            for node in 0..NODES {
                if rng.random::<bool>() {
                    cell.edges[2 * node..2 * node + 2].copy_from_slice(&other.edges[2 * node..2 * node + 2]);
                }
            }
        }
        Some(child)
    }

    /// Per cell (normal, then reduction) and node `j = i + 2`: the first
    /// edge's input (`i + 2` options), the second's as an offset past the
    /// first (`i + 1` options, so the two always differ), then the two
    /// edges' ops (8 each): 32 decisions, one-to-one with raw genotypes.
    fn decisions(&self) -> Option<Vec<usize>> {
        Some((0..2).flat_map(|_| (0..NODES).flat_map(|i| [i + 2, i + 1, Op::ALL.len(), Op::ALL.len()])).collect())
    }

    fn arch_from_decisions(&self, choices: &[usize]) -> Option<Genotype> {
        if choices.len() != 8 * NODES {
            return None;
        }
        let cell = |c: &[usize]| -> Option<CellGenes> {
            let mut edges = [Edge { op: Op::None, input: 0 }; 2 * NODES];
            for (i, d) in c.chunks(4).enumerate() {
                let n = i + 2;
                let (a, offset) = (d[0], d[1]);
                if a >= n || offset >= n - 1 {
                    return None;
                }
                let b = (a + 1 + offset) % n;
                edges[2 * i] = Edge { op: *Op::ALL.get(d[2])?, input: a as u8 };
                edges[2 * i + 1] = Edge { op: *Op::ALL.get(d[3])?, input: b as u8 };
            }
            Some(CellGenes { edges })
        };
        Some(Genotype { normal: cell(&choices[..4 * NODES])?, reduce: cell(&choices[4 * NODES..])? })
    }

    fn arch_decisions(&self, arch: &Genotype) -> Option<Vec<usize>> {
        let mut out = Vec::with_capacity(8 * NODES);
        for cell in [&arch.normal, &arch.reduce] {
            for i in 0..NODES {
                let n = i + 2;
                let (a, b) = (cell.edges[2 * i], cell.edges[2 * i + 1]);
                let (ia, ib) = (usize::from(a.input), usize::from(b.input));
                out.extend([ia, (ib + n - ia - 1) % n, a.op as usize, b.op as usize]);
            }
        }
        Some(out)
    }

    fn neighbours(&self, arch: &Genotype) -> Vec<Genotype> {
        let normal = arch.normal.neighbours().into_iter().map(|normal| Genotype { normal, ..*arch });
        let reduce = arch.reduce.neighbours().into_iter().map(|reduce| Genotype { reduce, ..*arch });
        normal.chain(reduce).collect()
    }

    fn format(&self, arch: &Genotype) -> String {
        arch.to_string()
    }

    fn parse(&self, s: &str) -> Result<Genotype, ParseArchError> {
        let text = s.trim().strip_prefix("Genotype(").ok_or_else(|| parse_error(s, "expected `Genotype(`"))?;
        let text = text.trim_start().strip_prefix("normal").ok_or_else(|| parse_error(s, "expected `normal=`"))?;
        let text = text.trim_start().strip_prefix('=').ok_or_else(|| parse_error(s, "expected `=` after `normal`"))?;
        let (normal, text) = parse_cell(s, text)?;
        let text = parse_concat(s, text, "normal_concat")?;
        let text = text.trim_start().strip_prefix(',').ok_or_else(|| parse_error(s, "expected `, reduce=`"))?.trim_start();
        let text = text.strip_prefix("reduce").ok_or_else(|| parse_error(s, "expected `reduce=`"))?.trim_start();
        let text = text.strip_prefix('=').ok_or_else(|| parse_error(s, "expected `=` after `reduce`"))?;
        let (reduce, text) = parse_cell(s, text)?;
        let text = parse_concat(s, text, "reduce_concat")?;
        if text.trim().trim_start_matches(',').trim() != ")" {
            return Err(parse_error(s, format!("unexpected text after the genotype: `{}`", text.trim())));
        }
        Ok(Genotype { normal, reduce })
    }

    fn canonical_key(&self, arch: &Genotype) -> String {
        format!("normal:{}|reduce:{}", arch.normal.key(false), arch.reduce.key(true))
    }

    fn to_graph(&self, arch: &Genotype) -> ArchGraph {
        // One cell after the other: each cell's inputs, an op node per
        // non-`none` edge, a sum per intermediate node, a concat.
        let mut g = ArchGraph::default();
        let mut prev = [g.add_node("input"), 0];
        prev[1] = prev[0];
        for (name, cell) in [("normal", &arch.normal), ("reduce", &arch.reduce)] {
            let mut ids = vec![prev[0], prev[1]];
            for node in 0..NODES {
                let sum = g.add_node("sum");
                for e in &cell.edges[2 * node..2 * node + 2] {
                    if e.op == Op::None {
                        continue;
                    }
                    let op = g.add_node(e.op.name());
                    g.nodes[op].attrs.insert("cell".into(), AttrValue::Text(name.into()));
                    g.add_edge(ids[e.input as usize], op);
                    g.add_edge(op, sum);
                }
                // Ops are added after their sum; keep edges pointing forward.
                ids.push(sum);
            }
            let concat = g.add_node("concat");
            for &n in &ids[2..] {
                g.add_edge(n, concat);
            }
            prev = [prev[1], concat];
        }
        let out = g.add_node("output");
        g.add_edge(prev[1], out);
        reorder_forward(g)
    }

    fn encode(&self, arch: &Genotype) -> Vec<f32> {
        // Per edge: one-hot op (8), one-hot input (5).
        let mut v = Vec::with_capacity(2 * 2 * NODES * 13);
        for cell in [&arch.normal, &arch.reduce] {
            for e in &cell.edges {
                let mut chunk = [0.0f32; 13];
                chunk[e.op as usize] = 1.0;
                chunk[8 + e.input as usize] = 1.0;
                v.extend_from_slice(&chunk);
            }
        }
        v
    }

    fn size(&self) -> Option<u128> {
        Some(RAW_GENOTYPES)
    }

    fn params(&self, arch: &Genotype) -> Option<u64> {
        Some(network_params(arch, 36, 20, 10))
    }

    fn macs(&self, arch: &Genotype) -> Option<u64> {
        Some(network_macs(arch, 36, 20, 10, 32))
    }

    fn describe(&self, arch: &Genotype) -> Vec<(String, String)> {
        vec![
            ("params (C=36, 20 cells, CIFAR-10, no auxiliary head)".into(), network_params(arch, 36, 20, 10).to_string()),
            ("MACs (32×32 input)".into(), network_macs(arch, 36, 20, 10, 32).to_string()),
        ]
    }
}

/// Renumbers a graph's nodes in a topological order (op nodes were added
/// after the sums they feed), so every edge points forward.
fn reorder_forward(g: ArchGraph) -> ArchGraph {
    let n = g.nodes.len();
    let mut indegree = vec![0usize; n];
    for &(_, b) in &g.edges {
        indegree[b] += 1;
    }
    let mut order = Vec::with_capacity(n);
    let mut ready: Vec<usize> = (0..n).filter(|&i| indegree[i] == 0).rev().collect();
    while let Some(v) = ready.pop() {
        order.push(v);
        let mut next: Vec<usize> = g.edges.iter().filter(|e| e.0 == v).map(|e| e.1).collect();
        next.sort_unstable();
        for w in next.into_iter().rev() {
            indegree[w] -= 1;
            if indegree[w] == 0 {
                ready.push(w);
            }
        }
    }
    let mut position = vec![0usize; n];
    for (p, &v) in order.iter().enumerate() {
        position[v] = p;
    }
    let mut edges: Vec<(usize, usize)> = g.edges.iter().map(|&(a, b)| (position[a], position[b])).collect();
    edges.sort_unstable();
    ArchGraph { nodes: order.iter().map(|&v| g.nodes[v].clone()).collect(), edges }
}

/// The evaluation network's layout: per cell, whether it reduces, its
/// channel count `C`, and its input/output sides.
fn walk(layers: usize, c: u64, side: u64, mut visit: impl FnMut(Stage)) {
    let (mut c_pp, mut c_p, mut c_cur) = (3 * c, 3 * c, c);
    let mut s_p = side;
    for i in 0..layers {
        let reduction = i == layers / 3 || i == 2 * layers / 3;
        if reduction {
            c_cur *= 2;
        }
        let s_out = if reduction { s_p / 2 } else { s_p };
        visit(Stage { c_pp, c_p, c: c_cur, reduction, s_in: s_p, s_out });
        (c_pp, c_p) = (c_p, NODES as u64 * c_cur);
        s_p = s_out;
    }
    visit(Stage { c_pp: 0, c_p, c: 0, reduction: false, s_in: s_p, s_out: 0 });
}

/// One cell of the evaluation network (or, with `c == 0`, the classifier).
struct Stage {
    c_pp: u64,
    c_p: u64,
    c: u64,
    reduction: bool,
    s_in: u64,
    s_out: u64,
}

fn cell_of(arch: &Genotype, reduction: bool) -> &CellGenes {
    if reduction { &arch.reduce } else { &arch.normal }
}

/// Parameters of DARTS' CIFAR evaluation network (`NetworkCIFAR`) for
/// `arch` with `c` initial channels, `layers` cells and `classes` outputs,
/// auxiliary head excluded.
pub fn network_params(arch: &Genotype, c: usize, layers: usize, classes: usize) -> u64 {
    let (c, classes) = (c as u64, classes as u64);
    // Stem: 3×3 conv 3 → 3C, BN.
    let mut total = 3 * 3 * c * 9 + 2 * 3 * c;
    walk(layers, c, 32, |s| {
        if s.c == 0 {
            total += s.c_p * classes + classes;
            return;
        }
        // preprocess0: FactorizedReduce after a reduction, else
        // ReLU-Conv1×1-BN; both C_pp·C weights and BN(C). preprocess1 too.
        total += s.c_pp * s.c + 2 * s.c;
        total += s.c_p * s.c + 2 * s.c;
        for e in &cell_of(arch, s.reduction).edges {
            let stride = if s.reduction && e.input < 2 { 2 } else { 1 };
            total += e.op.params(s.c, stride);
        }
    });
    total
}

/// Multiply-accumulates of the same network on a `side × side` image:
/// convolutions and the classifier (pooling, BN and sums not counted).
pub fn network_macs(arch: &Genotype, c: usize, layers: usize, classes: usize, side: usize) -> u64 {
    let (c, classes, side) = (c as u64, classes as u64, side as u64);
    let mut total = 3 * 3 * c * 9 * side * side;
    walk(layers, c, side, |s| {
        if s.c == 0 {
            total += s.c_p * classes;
            return;
        }
        // Both preprocessings produce C channels at the cell's input side
        // (a FactorizedReduce halves the previous-previous output to it).
        let px = s.s_in * s.s_in;
        total += s.c_pp * s.c * px;
        total += s.c_p * s.c * px;
        for e in &cell_of(arch, s.reduction).edges {
            let stride = if s.reduction && e.input < 2 { 2 } else { 1 };
            total += e.op.macs(s.c, stride, s.s_out);
        }
    });
    total
}

/// Registers this crate's spaces: `darts`.
pub fn register(registry: &mut nasforge_registry::Registry) {
    registry.add_space(nasforge_registry::SpaceEntry::new::<nasforge_registry::NoParams, _>(
        "darts",
        "The DARTS cell space (Liu et al., ICLR 2019): normal and reduction cells of 4 nodes, 2 inputs each, 8 operations.",
        |_| DartsSpace,
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
        nasforge_core::laws::check(&DartsSpace, &mut rng, 300).unwrap();
    }

    #[test]
    fn crossover_children_are_valid_and_take_every_node_from_a_parent() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        for _ in 0..200 {
            let (a, b) = (DartsSpace.sample(&mut rng), DartsSpace.sample(&mut rng));
            let c = DartsSpace.crossover(&a, &b, &mut rng).unwrap();
            assert_eq!(DartsSpace.parse(&DartsSpace.format(&c)).unwrap(), c);
            for (cc, (ca, cb)) in [(c.normal, (a.normal, b.normal)), (c.reduce, (a.reduce, b.reduce))] {
                for n in 0..NODES {
                    let pair = &cc.edges[2 * n..2 * n + 2];
                    assert!(pair == &ca.edges[2 * n..2 * n + 2] || pair == &cb.edges[2 * n..2 * n + 2]);
                }
            }
        }
    }

    /// DARTS-V2 (second order), as published in DARTS' genotypes.py.
    pub const DARTS_V2: &str = "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])";

    #[test]
    fn darts_v2_has_the_published_parameter_count() {
        let g = DartsSpace.parse(DARTS_V2).unwrap();
        let params = network_params(&g, 36, 20, 10) as f64;
        // The paper: 3.3 M; DARTS' own counter prints 3.349342 M.
        assert!((params / 3.3e6 - 1.0).abs() < 0.02, "{params}");
        assert_eq!(params as u64, 3_349_342);
        // 528 M multiply-accumulates: the figure later papers report for
        // DARTS-V2 on CIFAR-10.
        assert_eq!(network_macs(&g, 36, 20, 10, 32), 528_359_040);
    }

    #[test]
    fn text_round_trips_and_accepts_range_concat() {
        let g = DartsSpace.parse(DARTS_V2).unwrap();
        assert_eq!(DartsSpace.format(&g), DARTS_V2);
        let ranged = DARTS_V2.replace("[2, 3, 4, 5]", "range(2, 6)");
        assert_eq!(DartsSpace.parse(&ranged).unwrap(), g);
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        for _ in 0..200 {
            let a = DartsSpace.sample(&mut rng);
            assert_eq!(DartsSpace.parse(&DartsSpace.format(&a)).unwrap(), a);
        }
    }

    #[test]
    fn bad_genotypes_are_refused_with_a_reason() {
        for (text, reason) in [
            (DARTS_V2.replace("('dil_conv_3x3', 2)", "('dil_conv_3x3', 5)"), "reads node 5"),
            (DARTS_V2.replace("('skip_connect', 0), ('dil_conv_3x3', 2)", "('skip_connect', 2), ('dil_conv_3x3', 2)"), "twice"),
            (DARTS_V2.replace("sep_conv_3x3", "conv_9x9"), "unknown op `conv_9x9`"),
            (DARTS_V2.replace(", ('dil_conv_3x3', 2)", ""), "8 edges"),
            (DARTS_V2.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=[4, 5]"), "must be [2, 3, 4, 5]"),
            ("Genotype(".to_owned(), "expected `normal=`"),
        ] {
            let err = DartsSpace.parse(&text).unwrap_err().to_string();
            assert!(err.contains(reason), "{err}");
        }
    }

    #[test]
    fn mutations_change_exactly_one_choice_and_stay_valid() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..200 {
            let a = DartsSpace.sample(&mut rng);
            let b = DartsSpace.mutate(&a, &mut rng);
            let changed = |x: &CellGenes, y: &CellGenes| {
                x.edges.iter().zip(&y.edges).map(|(e, f)| usize::from(e.op != f.op) + usize::from(e.input != f.input)).sum::<usize>()
            };
            assert_eq!(changed(&a.normal, &b.normal) + changed(&a.reduce, &b.reduce), 1);
            b.normal.check().unwrap();
            b.reduce.check().unwrap();
        }
    }

    #[test]
    fn canonical_keys_ignore_edge_order_and_concat_order_but_not_ops() {
        let g = DartsSpace.parse(DARTS_V2).unwrap();
        let mut swapped = g;
        swapped.normal.edges.swap(4, 5); // node 4's two edges
        assert_ne!(swapped, g);
        assert_eq!(DartsSpace.canonical_key(&swapped), DartsSpace.canonical_key(&g));
        // Nodes 2 and 3 of the normal cell both read only the inputs:
        // renumbering them (and what reads them) keeps the function.
        let mut renumbered = g;
        renumbered.normal.edges.swap(0, 2);
        renumbered.normal.edges.swap(1, 3);
        for e in &mut renumbered.normal.edges[4..] {
            e.input = match e.input {
                2 => 3,
                3 => 2,
                i => i,
            };
        }
        renumbered.normal.edges[2].op = Op::DilConv5x5;
        let mut g5 = g;
        g5.normal.edges[0].op = Op::DilConv5x5;
        assert_eq!(DartsSpace.canonical_key(&renumbered), DartsSpace.canonical_key(&g5));
        let mut other = g;
        other.normal.edges[0].op = Op::SepConv5x5;
        assert_ne!(DartsSpace.canonical_key(&other), DartsSpace.canonical_key(&g));
        // A skip in a normal cell is the identity; in a reduction cell on
        // an input it is a strided op.
        assert!(DartsSpace.canonical_key(&g).contains("reduce:"));
    }

    #[test]
    fn graphs_are_well_formed_and_encodings_fixed_length() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        for _ in 0..50 {
            let a = DartsSpace.sample(&mut rng);
            DartsSpace.to_graph(&a).validate().unwrap();
            assert_eq!(DartsSpace.encode(&a).len(), 208);
        }
    }

    #[test]
    fn sizes() {
        // (2880/180)² = 256 orderings of the four nodes' edge pairs.
        assert_eq!(DartsSpace.size(), Some(256 * DIFFERENT_GENOTYPES));
        assert_eq!(DIFFERENT_GENOTYPES, 9_119_789_245_425_254_400);
    }
}
