//! The NAS-Bench-201 cell search space (Dong & Yang, ICLR 2020).
//!
//! A cell has 4 nodes; node `j` sums one operation applied to each earlier
//! node, so there are 6 edges and 5 operations: 5^6 = 15,625 cells.
//! Edges are ordered as in the standard string
//! `|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`: (1←0), (2←0), (2←1), (3←0),
//! (3←1), (3←2).
//!
//! Three numberings exist and all are offered: the genome ([`Cell`]), its
//! base-5 [`Cell::code`] (edge 0 most significant), and the benchmark's
//! official index ([`Cell::official_index`]), which is an arbitrary
//! permutation shipped in `data/official-order.txt` (derived from the
//! NAS-Bench-201 release, MIT licence; see the repository README).

use std::sync::OnceLock;

use nasforge_core::{ArchGraph, AttrValue, ParseArchError, Rng, SearchSpace};
use rand::Rng as _;

/// The number of edges in a cell.
pub const EDGES: usize = 6;
/// The number of cells in the space.
pub const SIZE: usize = 15_625;
/// `(from, to)` node pairs of the edges, in standard-string order.
pub const EDGE_NODES: [(usize, usize); EDGES] = [(0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3)];

/// An operation on an edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Op {
    /// The zero operation: the edge does not exist.
    None = 0,
    /// Identity.
    SkipConnect = 1,
    /// ReLU, 1×1 convolution, batch norm.
    NorConv1x1 = 2,
    /// ReLU, 3×3 convolution, batch norm.
    NorConv3x3 = 3,
    /// 3×3 average pooling, stride 1 (padding not counted).
    AvgPool3x3 = 4,
}

impl Op {
    /// All operations, in the benchmark's order.
    pub const ALL: [Op; 5] = [Op::None, Op::SkipConnect, Op::NorConv1x1, Op::NorConv3x3, Op::AvgPool3x3];

    /// The benchmark's name of the operation.
    pub fn name(self) -> &'static str {
        match self {
            Op::None => "none",
            Op::SkipConnect => "skip_connect",
            Op::NorConv1x1 => "nor_conv_1x1",
            Op::NorConv3x3 => "nor_conv_3x3",
            Op::AvgPool3x3 => "avg_pool_3x3",
        }
    }

    /// The operation with this benchmark name.
    pub fn from_name(name: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|op| op.name() == name)
    }

    fn from_digit(d: u8) -> Op {
        Op::ALL[usize::from(d)]
    }
}

/// A NAS-Bench-201 cell: one operation per edge, in standard-string order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cell {
    /// The operation on each edge.
    pub ops: [Op; EDGES],
}

impl Cell {
    /// The cell with `op` on every edge.
    pub fn uniform(op: Op) -> Cell {
        Cell { ops: [op; EDGES] }
    }

    /// The base-5 number of the cell, edge 0 most significant (0..15,625).
    pub fn code(&self) -> usize {
        self.ops.iter().fold(0, |acc, &op| acc * 5 + op as usize)
    }

    /// The cell with base-5 number `code`.
    ///
    /// # Panics
    /// When `code >= 15,625`.
    pub fn from_code(mut code: usize) -> Cell {
        assert!(code < SIZE, "NAS-Bench-201 code {code} out of range");
        let mut ops = [Op::None; EDGES];
        for slot in ops.iter_mut().rev() {
            *slot = Op::from_digit((code % 5) as u8);
            code /= 5;
        }
        Cell { ops }
    }

    /// The cell's index in the official NAS-Bench-201 release.
    pub fn official_index(&self) -> usize {
        usize::from(official_order().code_to_index[self.code()])
    }

    /// The cell at `index` of the official release, when in range.
    pub fn from_official_index(index: usize) -> Option<Cell> {
        official_order().index_to_code.get(index).map(|&c| Cell::from_code(usize::from(c)))
    }

    /// Parameters of the full benchmark network (C = 16, N = 5 cells per
    /// stage, 10 classes), in millions: the figure of the benchmark's
    /// `params` column.
    pub fn params_m(&self) -> f64 {
        self.param_count(16, 5, 3, 10) as f64 / 1e6
    }

    /// Trainable parameters of the benchmark's macro network around this
    /// cell: a 3×3 stem conv and BN, three stages of `cells` cells with
    /// `c`, `2c`, `4c` channels joined by residual reduction blocks, a final
    /// BN, and a linear classifier.
    pub fn param_count(&self, c: usize, cells: usize, in_channels: usize, classes: usize) -> usize {
        let conv_bn = |cin: usize, cout: usize, k: usize| cin * cout * k * k + 2 * cout;
        let cell = |ch: usize| -> usize {
            self.ops
                .iter()
                .map(|op| match op {
                    Op::NorConv1x1 => conv_bn(ch, ch, 1),
                    Op::NorConv3x3 => conv_bn(ch, ch, 3),
                    _ => 0,
                })
                .sum()
        };
        // A reduction block: two ReLU-Conv-BN 3×3 and a 1×1 shortcut conv.
        let reduction = |cin: usize, cout: usize| conv_bn(cin, cout, 3) + conv_bn(cout, cout, 3) + cin * cout;
        let stem = conv_bn(in_channels, c, 3);
        let cells_total = cells * (cell(c) + cell(2 * c) + cell(4 * c));
        let head = 2 * 4 * c + 4 * c * classes + classes;
        stem + cells_total + reduction(c, 2 * c) + reduction(2 * c, 4 * c) + head
    }

    /// The isomorphism-aware canonical form (see [`Nb201Space`]'s
    /// `canonical_key`).
    pub fn canonical_key(&self) -> String {
        // Each node is a sorted multiset of terms summed into it. A `none`
        // edge, or any edge from a node that is identically zero,
        // contributes nothing; `skip_connect` contributes the source's terms
        // themselves (a sum of sums is one sum); any other op contributes one
        // term `op(source)`. Sorting the terms makes the form independent
        // of node order, and only what reaches node 3 is ever looked at.
        let mut nodes: [Vec<String>; 4] = Default::default();
        nodes[0].push("x".to_owned());
        for to in 1..4 {
            for (edge, &(from, t)) in EDGE_NODES.iter().enumerate() {
                let op = self.ops[edge];
                if t != to || op == Op::None || nodes[from].is_empty() {
                    continue;
                }
                let terms = if op == Op::SkipConnect {
                    nodes[from].clone()
                } else {
                    vec![format!("{}({})", op.name(), nodes[from].join("+"))]
                };
                nodes[to].extend(terms);
            }
            nodes[to].sort();
        }
        if nodes[3].is_empty() { "zero".to_owned() } else { nodes[3].join("+") }
    }
}

struct OfficialOrder {
    index_to_code: Vec<u16>,
    code_to_index: Vec<u16>,
}

fn official_order() -> &'static OfficialOrder {
    static ORDER: OnceLock<OfficialOrder> = OnceLock::new();
    ORDER.get_or_init(|| {
        let text = include_str!("../data/official-order.txt");
        let index_to_code: Vec<u16> = text
            .lines()
            .map(|line| line.bytes().fold(0u16, |acc, b| acc * 5 + u16::from(b - b'0')))
            .collect();
        assert_eq!(index_to_code.len(), SIZE, "official-order.txt must list every cell once");
        let mut code_to_index = vec![u16::MAX; SIZE];
        for (index, &code) in index_to_code.iter().enumerate() {
            code_to_index[usize::from(code)] = index as u16;
        }
        assert!(!code_to_index.contains(&u16::MAX), "official-order.txt must be a permutation");
        OfficialOrder { index_to_code, code_to_index }
    })
}

/// The NAS-Bench-201 search space.
///
/// Its canonical key merges cells that compute the same function: edges
/// whose result never reaches the output, `none` edges and edges from
/// identically-zero nodes, chains of `skip_connect`, and any order of the
/// summands at a node. On the 15,625 cells it finds 4,930 classes; the
/// benchmark's own `to_unique_str(consider_zero=True)` finds 6,466 because
/// it keeps a `#` token for each zero summand and sorts unflattened sums.
#[derive(Clone, Debug, Default)]
pub struct Nb201Space;

impl Nb201Space {
    /// The space.
    pub fn new() -> Self {
        Self
    }
}

fn parse_error(input: &str, reason: impl Into<String>) -> ParseArchError {
    ParseArchError { space: "nas-bench-201".into(), input: input.into(), reason: reason.into() }
}

impl SearchSpace for Nb201Space {
    type Arch = Cell;

    fn name(&self) -> &str {
        "nas-bench-201"
    }

    fn sample(&self, rng: &mut Rng) -> Cell {
        Cell::from_code(rng.random_range(0..SIZE))
    }

    fn mutate(&self, arch: &Cell, rng: &mut Rng) -> Cell {
        let edge = rng.random_range(0..EDGES);
        // Draw among the four other ops: shift by 1..=4 modulo 5.
        let shift = rng.random_range(1..5u8);
        let mut child = *arch;
        child.ops[edge] = Op::from_digit((arch.ops[edge] as u8 + shift) % 5);
        child
    }

    fn crossover(&self, a: &Cell, b: &Cell, rng: &mut Rng) -> Option<Cell> {
        // Uniform: each edge's op from either parent.
        let mut child = *a;
        for (edge, op) in child.ops.iter_mut().enumerate() {
            if rng.random::<bool>() {
                *op = b.ops[edge];
            }
        }
        Some(child)
    }

    fn decisions(&self) -> Option<Vec<usize>> {
        Some(vec![Op::ALL.len(); EDGES])
    }

    fn arch_from_decisions(&self, choices: &[usize]) -> Option<Cell> {
        if choices.len() != EDGES {
            return None;
        }
        let mut cell = Cell::uniform(Op::None);
        for (op, &c) in cell.ops.iter_mut().zip(choices) {
            *op = *Op::ALL.get(c)?;
        }
        Some(cell)
    }

    fn arch_decisions(&self, arch: &Cell) -> Option<Vec<usize>> {
        arch.ops.iter().map(|op| Op::ALL.iter().position(|o| o == op)).collect()
    }

    fn neighbours(&self, arch: &Cell) -> Vec<Cell> {
        let mut out = Vec::with_capacity(EDGES * 4);
        for edge in 0..EDGES {
            for op in Op::ALL {
                if op != arch.ops[edge] {
                    let mut n = *arch;
                    n.ops[edge] = op;
                    out.push(n);
                }
            }
        }
        out
    }

    fn format(&self, arch: &Cell) -> String {
        let o = |e: usize| arch.ops[e].name();
        format!(
            "|{}~0|+|{}~0|{}~1|+|{}~0|{}~1|{}~2|",
            o(0),
            o(1),
            o(2),
            o(3),
            o(4),
            o(5)
        )
    }

    fn parse(&self, s: &str) -> Result<Cell, ParseArchError> {
        let nodes: Vec<&str> = s.trim().split('+').collect();
        if nodes.len() != 3 {
            return Err(parse_error(s, format!("expected 3 nodes separated by `+`, found {}", nodes.len())));
        }
        let mut ops = [Op::None; EDGES];
        let mut edge = 0;
        for (j, node) in nodes.iter().enumerate() {
            let inner = node
                .strip_prefix('|')
                .and_then(|n| n.strip_suffix('|'))
                .ok_or_else(|| parse_error(s, format!("node {} must be enclosed in `|`", j + 1)))?;
            let edges: Vec<&str> = inner.split('|').collect();
            if edges.len() != j + 1 {
                return Err(parse_error(s, format!("node {} needs {} inputs, found {}", j + 1, j + 1, edges.len())));
            }
            for (i, e) in edges.iter().enumerate() {
                let (name, from) = e
                    .split_once('~')
                    .ok_or_else(|| parse_error(s, format!("edge `{e}` is not `op~input`")))?;
                if from != i.to_string() {
                    return Err(parse_error(s, format!("edge `{e}` of node {} must read from node {i}", j + 1)));
                }
                ops[edge] = Op::from_name(name).ok_or_else(|| {
                    let valid: Vec<&str> = Op::ALL.iter().map(|o| o.name()).collect();
                    parse_error(s, format!("unknown op `{name}`; valid: {}", valid.join(", ")))
                })?;
                edge += 1;
            }
        }
        Ok(Cell { ops })
    }

    fn canonical_key(&self, arch: &Cell) -> String {
        arch.canonical_key()
    }

    fn to_graph(&self, arch: &Cell) -> ArchGraph {
        // Op-on-node form: input, one node per non-`none` edge op, a `sum`
        // per intermediate node, and the output (node 3's sum).
        let mut g = ArchGraph::default();
        let mut node_ids = [0usize; 4];
        node_ids[0] = g.add_node("input");
        for to in 1..4 {
            let mut inputs = Vec::new();
            for (edge, &(from, t)) in EDGE_NODES.iter().enumerate() {
                if t != to || arch.ops[edge] == Op::None {
                    continue;
                }
                let op = g.add_node(arch.ops[edge].name());
                if let Some(k) = match arch.ops[edge] {
                    Op::NorConv1x1 => Some(1),
                    Op::NorConv3x3 | Op::AvgPool3x3 => Some(3),
                    _ => None,
                } {
                    g.nodes[op].attrs.insert("kernel".into(), AttrValue::Int(k));
                }
                g.add_edge(node_ids[from], op);
                inputs.push(op);
            }
            node_ids[to] = g.add_node(if to == 3 { "output" } else { "sum" });
            for i in inputs {
                g.add_edge(i, node_ids[to]);
            }
        }
        g
    }

    fn encode(&self, arch: &Cell) -> Vec<f32> {
        let mut v = vec![0.0; EDGES * 5];
        for (edge, &op) in arch.ops.iter().enumerate() {
            v[edge * 5 + op as usize] = 1.0;
        }
        v
    }

    fn size(&self) -> Option<u128> {
        Some(SIZE as u128)
    }

    fn enumerate(&self) -> Option<Box<dyn Iterator<Item = Cell> + '_>> {
        Some(Box::new((0..SIZE).map(Cell::from_code)))
    }

    fn params(&self, arch: &Cell) -> Option<u64> {
        Some(arch.param_count(16, 5, 3, 10) as u64)
    }

    fn describe(&self, arch: &Cell) -> Vec<(String, String)> {
        vec![
            ("official index".into(), arch.official_index().to_string()),
            ("params (M, C=16 N=5, CIFAR-10)".into(), format!("{:.6}", arch.params_m())),
        ]
    }
}

/// Registers this crate's spaces: `nas-bench-201`.
pub fn register(registry: &mut nasforge_registry::Registry) {
    registry.add_space(nasforge_registry::SpaceEntry::new::<nasforge_registry::NoParams, _>(
        "nas-bench-201",
        "The NAS-Bench-201 cell (Dong & Yang, ICLR 2020): 6 edges, each one of 5 operations; 15,625 cells.",
        |_| Nb201Space,
    ));
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use rand::SeedableRng;

    use super::*;

    #[test]
    fn the_space_laws_hold() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        nasforge_core::laws::check(&Nb201Space, &mut rng, 300).unwrap();
    }

    const ALL_SKIP: &str = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|";

    #[test]
    fn string_round_trips_for_every_cell() {
        let space = Nb201Space;
        for cell in space.enumerate().unwrap() {
            assert_eq!(space.parse(&space.format(&cell)).unwrap(), cell);
        }
    }

    #[test]
    fn official_index_is_a_bijection_with_known_anchors() {
        let mut seen = HashSet::new();
        for index in 0..SIZE {
            let cell = Cell::from_official_index(index).unwrap();
            assert_eq!(cell.official_index(), index);
            assert!(seen.insert(cell));
        }
        assert!(Cell::from_official_index(SIZE).is_none());
        let space = Nb201Space;
        // Anchors from the benchmark: the all-skip cell and index 0.
        assert_eq!(space.parse(ALL_SKIP).unwrap().official_index(), 1835);
        assert_eq!(
            space.format(&Cell::from_official_index(0).unwrap()),
            "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
        );
    }

    #[test]
    fn parse_rejects_malformed_strings_with_reasons() {
        let space = Nb201Space;
        for bad in [
            "",
            "|none~0|",
            "|none~0|+|none~0|none~1|+|none~0|none~1|",
            "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|",
            "|none~1|+|none~0|none~1|+|none~0|none~1|none~2|",
            "none~0+|none~0|none~1|+|none~0|none~1|none~2|",
        ] {
            let err = space.parse(bad).unwrap_err();
            assert!(!err.reason.is_empty());
        }
        let err = space.parse("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|").unwrap_err();
        assert!(err.reason.contains("nor_conv_3x3"), "{err}");
    }

    #[test]
    fn canonical_key_merges_exactly_the_isomorphic_cells() {
        let space = Nb201Space;
        let classes: HashSet<String> = space.enumerate().unwrap().map(|c| c.canonical_key()).collect();
        assert_eq!(classes.len(), 4_930);

        let conv = |e: usize| {
            let mut c = Cell::uniform(Op::None);
            c.ops[e] = Op::NorConv3x3;
            c
        };
        // A lone conv straight to the output, with and without a dead edge.
        let mut dead = conv(3);
        dead.ops[0] = Op::NorConv1x1; // 0→1, but node 1 never reaches node 3
        assert_eq!(dead.canonical_key(), conv(3).canonical_key());
        // Symmetric paths through node 1 or node 2 are the same.
        let mut via1 = Cell::uniform(Op::None);
        via1.ops[0] = Op::NorConv3x3;
        via1.ops[4] = Op::SkipConnect;
        let mut via2 = Cell::uniform(Op::None);
        via2.ops[1] = Op::NorConv3x3;
        via2.ops[5] = Op::SkipConnect;
        assert_eq!(via1.canonical_key(), via2.canonical_key());
        assert_eq!(via1.canonical_key(), conv(3).canonical_key());
        // Different functions stay apart.
        assert_ne!(conv(3).canonical_key(), Cell::uniform(Op::NorConv3x3).canonical_key());
        assert_eq!(Cell::uniform(Op::None).canonical_key(), "zero");
    }

    #[test]
    fn mutation_changes_exactly_one_edge_and_reaches_every_neighbour() {
        let space = Nb201Space;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let parent = space.sample(&mut rng);
        let neighbours: HashSet<Cell> = space.neighbours(&parent).into_iter().collect();
        assert_eq!(neighbours.len(), 24);
        let mut hits: HashMap<Cell, usize> = HashMap::new();
        for _ in 0..24_000 {
            let child = space.mutate(&parent, &mut rng);
            assert!(neighbours.contains(&child));
            *hits.entry(child).or_default() += 1;
        }
        assert_eq!(hits.len(), 24);
        assert!(hits.values().all(|&n| (800..1200).contains(&n)), "{hits:?}");
    }

    #[test]
    fn graph_form_and_encoding_are_consistent() {
        let space = Nb201Space;
        let cell = space.parse(ALL_SKIP).unwrap();
        let g = space.to_graph(&cell);
        g.validate().unwrap();
        assert_eq!(g.nodes.iter().filter(|n| n.op == "skip_connect").count(), 6);
        assert_eq!(g.nodes.last().unwrap().op, "output");
        let none = space.to_graph(&Cell::uniform(Op::None));
        assert_eq!(none.edges.len(), 0);
        let enc = space.encode(&cell);
        assert_eq!(enc.iter().sum::<f32>(), 6.0);
    }

    #[test]
    fn params_of_the_plain_skeleton() {
        // No conv in the cells: stem, two reductions, final BN, classifier.
        assert_eq!(Cell::uniform(Op::None).param_count(16, 5, 3, 10), 73_306);
    }
}
