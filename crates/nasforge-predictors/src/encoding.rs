//! Architecture encodings: the feature rows predictors learn from.
//!
//! - [`Encoding::OneHot`]: the space's own [`SearchSpace::encode`], a
//!   one-hot of its choices (NB201: 6 edges × 5 ops; DARTS: per edge of
//!   both cells, op and input; NAS-Bench-Graph: links and ops; MobileNet:
//!   per block slot, expansion, kernel or absent; NAS-Bench-Macro: 8
//!   layers × 3; Auto-GNN, transformer, HyTra: per layer, each choice).
//! - [`Encoding::Decisions`]: a one-hot of the categorical decision view
//!   ([`SearchSpace::decisions`]), for every space that has one.
//! - [`Encoding::Adjacency`]: GBDT-NAS's encoding, over the space's
//!   [`ArchGraph`]: the upper triangle of the adjacency matrix, then a
//!   one-hot of each node's operation (its op and attributes). Graphs are
//!   padded to the most nodes seen in a scan of the space; operations the
//!   scan never saw get no bit.
//! - [`Encoding::Path`]: BANANAS' path encoding: one bit per distinct
//!   input-to-output path of operations (a path is the sequence of its
//!   nodes' operations, so NB201's paths 0→1→3 and 0→2→3 share a bit, as
//!   in naszilla's encoding). The vocabulary is every path in a scan of
//!   the space, most frequent first, optionally truncated (BANANAS'
//!   `cutoff`). Deviation: NB201 graphs omit `none` edges, so paths
//!   through them are absent rather than encoded as paths over `none`.
//!   Meant for cell spaces; a chain (MobileNet) has one path.
//!
//! The scan is every architecture of a space that enumerates up to 50,000
//! of them, else 2,000 seeded samples, so an encoder is a function of its
//! space and seed.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use nasforge_core::{ArchGraph, AttrValue, SearchSpace, seeded_rng};
use nasforge_zero_cost::ProxyTable;

/// The encodings by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// The space's one-hot (`one-hot`).
    OneHot,
    /// The decision view's one-hot (`decisions`).
    Decisions,
    /// GBDT-NAS's adjacency and operations (`adjacency`).
    Adjacency,
    /// BANANAS' paths (`path`).
    Path,
}

impl Encoding {
    /// Names in TOML.
    pub const NAMES: [&'static str; 4] = ["one-hot", "decisions", "adjacency", "path"];

    /// The encoding's TOML name.
    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// The encoding a TOML name means.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "one-hot" => Encoding::OneHot,
            "decisions" => Encoding::Decisions,
            "adjacency" => Encoding::Adjacency,
            "path" => Encoding::Path,
            _ => return None,
        })
    }
}

/// Paths per graph beyond which the rest are not listed (a guard against
/// graphs whose path count explodes).
const MAX_PATHS: usize = 10_000;
const SCAN_ENUMERATE: u128 = 50_000;
const SCAN_SAMPLES: usize = 2_000;

/// A node's label: its op and attributes.
fn label(g: &ArchGraph, n: usize) -> String {
    let node = &g.nodes[n];
    if node.attrs.is_empty() {
        return node.op.clone();
    }
    let attrs: Vec<String> = node
        .attrs
        .iter()
        .map(|(k, v)| match v {
            AttrValue::Int(i) => format!("{k}={i}"),
            AttrValue::Float(f) => format!("{k}={f}"),
            AttrValue::Text(t) => format!("{k}={t}"),
        })
        .collect();
    format!("{}[{}]", node.op, attrs.join(","))
}

/// Every input-to-output path of `g` as its labels joined by `>`.
pub fn paths(g: &ArchGraph) -> Vec<String> {
    let n = g.nodes.len();
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut has_in = vec![false; n];
    for &(a, b) in &g.edges {
        out[a].push(b);
        has_in[b] = true;
    }
    let labels: Vec<String> = (0..n).map(|i| label(g, i)).collect();
    // The graph's `input` and `output` nodes where it names them (a dead
    // end inside a cell is no input-to-output path), else its sources and
    // sinks.
    let named = |op: &str| g.nodes.iter().any(|x| x.op == op);
    let (named_in, named_out) = (named("input"), named("output"));
    let is_source = |i: usize| if named_in { g.nodes[i].op == "input" } else { !has_in[i] };
    let is_sink = |i: usize| if named_out { g.nodes[i].op == "output" } else { out[i].is_empty() };
    let mut found = Vec::new();
    let mut stack: Vec<(usize, String)> = (0..n).filter(|&i| is_source(i)).map(|i| (i, labels[i].clone())).collect();
    while let Some((node, path)) = stack.pop() {
        if found.len() >= MAX_PATHS {
            break;
        }
        if is_sink(node) {
            found.push(path);
            continue;
        }
        for &next in out[node].iter().rev() {
            stack.push((next, format!("{path}>{}", labels[next])));
        }
    }
    found
}

/// The graphs an encoder's vocabulary is read from.
fn scan<S: SearchSpace + ?Sized>(space: &S, seed: u64) -> Vec<ArchGraph> {
    if space.size().is_some_and(|n| n <= SCAN_ENUMERATE) {
        if let Some(all) = space.enumerate() {
            return all.map(|a| space.to_graph(&a)).collect();
        }
    }
    let mut rng = seeded_rng(seed);
    (0..SCAN_SAMPLES).map(|_| space.to_graph(&space.sample(&mut rng))).collect()
}

/// An encoding fixed for one space: its vocabulary and width.
#[derive(Clone, Debug)]
pub struct Encoder {
    kind: Encoding,
    width: usize,
    /// Adjacency: node labels and the padded node count.
    labels: HashMap<String, usize>,
    max_nodes: usize,
    /// Path: the path vocabulary.
    paths: HashMap<String, usize>,
    /// Decisions: the options of each decision.
    options: Vec<usize>,
}

impl Encoder {
    /// The encoder of `kind` for `space`; `cutoff` truncates the path
    /// vocabulary; `seed` fixes the scan of spaces too large to list.
    pub fn new<S: SearchSpace + ?Sized>(space: &S, kind: Encoding, cutoff: Option<usize>, seed: u64) -> Result<Self, String> {
        let mut e = Encoder { kind, width: 0, labels: HashMap::new(), max_nodes: 0, paths: HashMap::new(), options: Vec::new() };
        match kind {
            Encoding::OneHot => {
                let mut rng = seeded_rng(seed);
                e.width = space.encode(&space.sample(&mut rng)).len();
            }
            Encoding::Decisions => {
                e.options = space.decisions().ok_or_else(|| format!("the `{}` space has no decision view: use `one-hot`", space.name()))?;
                e.width = e.options.iter().sum();
            }
            Encoding::Adjacency => {
                let graphs = scan(space, seed);
                let mut vocab: Vec<String> = graphs.iter().flat_map(|g| (0..g.nodes.len()).map(|n| label(g, n))).collect();
                vocab.sort();
                vocab.dedup();
                e.labels = vocab.into_iter().enumerate().map(|(i, l)| (l, i)).collect();
                e.max_nodes = graphs.iter().map(|g| g.nodes.len()).max().unwrap_or(0);
                e.width = e.max_nodes * (e.max_nodes.saturating_sub(1)) / 2 + e.max_nodes * e.labels.len();
            }
            Encoding::Path => {
                let mut counts: BTreeMap<String, usize> = BTreeMap::new();
                for g in scan(space, seed) {
                    let mut p = paths(&g);
                    p.sort();
                    p.dedup();
                    for key in p {
                        *counts.entry(key).or_default() += 1;
                    }
                }
                let mut vocab: Vec<(String, usize)> = counts.into_iter().collect();
                vocab.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.matches('>').count().cmp(&b.0.matches('>').count())).then(a.0.cmp(&b.0)));
                if let Some(c) = cutoff {
                    vocab.truncate(c);
                }
                e.paths = vocab.into_iter().enumerate().map(|(i, (k, _))| (k, i)).collect();
                e.width = e.paths.len();
            }
        }
        if e.width == 0 {
            return Err(format!("the `{}` encoding of `{}` has no features", kind.name(), space.name()));
        }
        Ok(e)
    }

    /// The encoding.
    pub fn kind(&self) -> Encoding {
        self.kind
    }

    /// Features per architecture.
    pub fn width(&self) -> usize {
        self.width
    }

    /// `arch`'s features.
    pub fn encode<S: SearchSpace + ?Sized>(&self, space: &S, arch: &S::Arch) -> Vec<f64> {
        let mut v = vec![0.0; self.width];
        match self.kind {
            Encoding::OneHot => {
                for (slot, x) in v.iter_mut().zip(space.encode(arch)) {
                    *slot = f64::from(x);
                }
            }
            Encoding::Decisions => {
                if let Some(choices) = space.arch_decisions(arch) {
                    let mut offset = 0;
                    for (c, n) in choices.iter().zip(&self.options) {
                        v[offset + c] = 1.0;
                        offset += n;
                    }
                }
            }
            Encoding::Adjacency => {
                let g = space.to_graph(arch);
                let m = self.max_nodes;
                let upper = |a: usize, b: usize| a * (2 * m - a - 1) / 2 + (b - a - 1);
                for &(a, b) in &g.edges {
                    if b < m {
                        v[upper(a, b)] = 1.0;
                    }
                }
                let base = m * m.saturating_sub(1) / 2;
                for n in 0..g.nodes.len().min(m) {
                    if let Some(&l) = self.labels.get(&label(&g, n)) {
                        v[base + n * self.labels.len() + l] = 1.0;
                    }
                }
            }
            Encoding::Path => {
                for p in paths(&space.to_graph(arch)) {
                    if let Some(&i) = self.paths.get(&p) {
                        v[i] = 1.0;
                    }
                }
            }
        }
        v
    }
}

/// An encoding, optionally followed by zero-cost proxy scores read from a
/// table (rows keyed by standard string; an architecture the table lacks
/// gets NaN, which each predictor treats its own way).
#[derive(Clone, Debug)]
pub struct Features {
    encoder: Option<Encoder>,
    proxies: Option<(Arc<ProxyTable>, Vec<usize>)>,
}

impl Features {
    /// The encoding alone.
    pub fn new(encoder: Encoder) -> Self {
        Features { encoder: Some(encoder), proxies: None }
    }

    /// The encoding followed by the named proxies of `table`.
    pub fn with_proxies(mut self, table: Arc<ProxyTable>, names: &[String]) -> Result<Self, String> {
        self.proxies = Some((table.clone(), columns(&table, names)?));
        Ok(self)
    }

    /// The encoding, when the features have one.
    pub fn encoder(&self) -> Option<&Encoder> {
        self.encoder.as_ref()
    }

    /// Features per architecture.
    pub fn width(&self) -> usize {
        self.encoder.as_ref().map_or(0, Encoder::width) + self.proxies.as_ref().map_or(0, |p| p.1.len())
    }

    /// `arch`'s row.
    pub fn row<S: SearchSpace + ?Sized>(&self, space: &S, arch: &S::Arch) -> Vec<f64> {
        let mut v = self.encoder.as_ref().map(|e| e.encode(space, arch)).unwrap_or_default();
        if let Some((table, cols)) = &self.proxies {
            match table.scores(&space.format(arch)) {
                Some(s) => v.extend(cols.iter().map(|&c| s[c])),
                None => v.extend(std::iter::repeat_n(f64::NAN, cols.len())),
            }
        }
        v
    }
}

fn columns(table: &ProxyTable, names: &[String]) -> Result<Vec<usize>, String> {
    names
        .iter()
        .map(|p| table.names().iter().position(|n| n == p).ok_or_else(|| format!("the proxy table has no `{p}`; it has: {}", table.names().join(", "))))
        .collect()
}

#[cfg(test)]
mod tests {
    use nasforge_space_nb201::{Cell, Nb201Space};

    use super::*;

    #[test]
    fn nb201_paths_are_bananas_paths_without_none() {
        let space = Nb201Space;
        let e = Encoder::new(&space, Encoding::Path, None, 0).unwrap();
        // 4 ops on a one-edge path, 16 on two-edge paths (0→1→3 and
        // 0→2→3 share them), 64 on the three-edge path.
        assert_eq!(e.width(), 4 + 16 + 64);
        let cell = space.parse("|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|nor_conv_3x3~1|none~2|").unwrap();
        // Paths: 0→3 (skip), 0→1→3 (conv, conv); 0→2 is none.
        let v = e.encode(&space, &cell);
        assert_eq!(v.iter().filter(|&&b| b == 1.0).count(), 2);
        assert_eq!(paths(&space.to_graph(&cell)).len(), 2);
        let all_none = space.parse("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|").unwrap();
        assert!(e.encode(&space, &all_none).iter().all(|&b| b == 0.0));
        let _: &Cell = &cell;
    }

    #[test]
    fn encodings_are_fixed_width_and_tell_cells_apart() {
        let space = Nb201Space;
        let mut rng = seeded_rng(3);
        let cells: Vec<Cell> = (0..50).map(|_| space.sample(&mut rng)).collect();
        for kind in [Encoding::OneHot, Encoding::Decisions, Encoding::Adjacency, Encoding::Path] {
            let e = Encoder::new(&space, kind, None, 0).unwrap();
            let rows: Vec<Vec<f64>> = cells.iter().map(|c| e.encode(&space, c)).collect();
            assert!(rows.iter().all(|r| r.len() == e.width()), "{kind:?}");
            let distinct: std::collections::HashSet<String> = rows.iter().map(|r| format!("{r:?}")).collect();
            assert!(distinct.len() > 40, "{kind:?}: {}", distinct.len());
        }
        let onehot = Encoder::new(&space, Encoding::OneHot, None, 0).unwrap();
        let decisions = Encoder::new(&space, Encoding::Decisions, None, 0).unwrap();
        assert_eq!(onehot.width(), 30);
        assert_eq!(decisions.width(), 30);
    }
}
