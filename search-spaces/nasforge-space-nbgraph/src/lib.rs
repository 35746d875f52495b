//! The NAS-Bench-Graph GNN cell search space (Qin et al., NeurIPS 2022).
//!
//! A cell has 4 computing nodes; node `i` (1..=4) reads the output of an
//! earlier node `links[i-1] ∈ 0..i` (0 is the cell input) and applies one
//! operation. There are 4! = 24 link patterns and 9 operations (5 for the
//! `proteins` table), so 24 × 9^4 = 157,464 raw choices, of which the 24
//! all-`skip` cells are invalid.
//!
//! Ops are always stored as digits of the 9-op list [`OPS`], also in the
//! `proteins` space: its table is keyed with those digits and base 10
//! (the reference hashes every table without its `use_proteins` switch).
//!
//! Many raw choices compute the same function. The benchmark canonicalises
//! a cell before hashing it; [`GnnCell::canonical_hash`] reimplements that
//! procedure step by step (link relabelling, moving `skip` nodes, sorting
//! ops of symmetric nodes), and the test suite checks it maps the 157,440
//! valid choices onto exactly the table's 26,206 keys.

use nasforge_core::{ArchGraph, ParseArchError, Rng, SearchSpace};
use rand::Rng as _;

/// The nine link patterns that remain after canonicalisation, in hash order.
pub const CANONICAL_LINKS: [[u8; 4]; 9] = [
    [0, 0, 0, 0],
    [0, 0, 0, 1],
    [0, 0, 1, 1],
    [0, 0, 1, 2],
    [0, 0, 1, 3],
    [0, 1, 1, 1],
    [0, 1, 1, 2],
    [0, 1, 2, 2],
    [0, 1, 2, 3],
];

/// The operations of the full tables (cora, citeseer, pubmed, cs, ...), in
/// hash-digit order. `gat` has 2 heads, `graph` is k-GNN.
pub const OPS: [&str; 9] = ["gat", "gcn", "gin", "cheb", "sage", "arma", "graph", "fc", "skip"];
/// The digits (into [`OPS`]) of the `proteins` table's 5 operations:
/// `gcn, sage, arma, fc, skip`.
pub const PROTEINS_OPS: [u8; 5] = [1, 4, 5, 7, 8];
/// The digit of `skip`.
pub const SKIP: u8 = 8;
const ALL_OPS: [u8; 9] = [0, 1, 2, 3, 4, 5, 6, 7, 8];

/// A cell: where each node reads from, and which op it applies (a digit
/// into [`OPS`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GnnCell {
    /// `links[i]` is the input of node `i + 1`, in `0..=i`.
    pub links: [u8; 4],
    /// `ops[i]` is the op of node `i + 1`.
    pub ops: [u8; 4],
}

impl GnnCell {
    /// The benchmark's canonical hash, or `None` for an invalid
    /// (all-`skip`) cell.
    pub fn canonical_hash(&self) -> Option<u64> {
        if self.ops.iter().all(|&o| o == SKIP) {
            return None;
        }
        let (links, ops) = regularize(self.links, self.ops);
        let (links, ops) = move_skip_ops(links, ops);
        let ops = sort_symmetric(links, ops);
        let pattern = CANONICAL_LINKS.iter().position(|&l| l == links)?;
        Some(ops.iter().fold(pattern as u64, |h, &o| h * 10 + u64::from(o)))
    }

    /// The canonical cell with this hash, when it is one.
    pub fn from_hash(hash: u64) -> Option<GnnCell> {
        let mut rest = hash;
        let mut ops = [0u8; 4];
        for slot in ops.iter_mut().rev() {
            let digit = rest % 10;
            if digit >= OPS.len() as u64 {
                return None;
            }
            *slot = digit as u8;
            rest /= 10;
        }
        let links = *CANONICAL_LINKS.get(usize::try_from(rest).ok()?)?;
        let cell = GnnCell { links, ops };
        (cell.canonical_hash() == Some(hash)).then_some(cell)
    }
}

/// Step 1: relabel nodes so the links form one of a few patterns.
fn regularize(l: [u8; 4], o: [u8; 4]) -> ([u8; 4], [u8; 4]) {
    // Each raw pattern outside the canonical list is a relabelling of one in
    // it; `perm[k]` is the raw node whose op lands on node `k`.
    let (links, perm): ([u8; 4], [usize; 4]) = match l {
        [0, 0, 0, 2] => ([0, 0, 0, 1], [1, 0, 2, 3]),
        [0, 0, 0, 3] => ([0, 0, 0, 1], [2, 0, 1, 3]),
        [0, 0, 1, 0] => ([0, 0, 0, 1], [0, 1, 3, 2]),
        [0, 0, 2, 0] => ([0, 0, 0, 1], [1, 0, 3, 2]),
        [0, 0, 2, 1] => ([0, 0, 1, 2], [1, 0, 2, 3]),
        [0, 0, 2, 2] => ([0, 0, 1, 1], [1, 0, 2, 3]),
        [0, 0, 2, 3] => ([0, 0, 1, 3], [1, 0, 2, 3]),
        [0, 1, 0, 0] => ([0, 0, 0, 1], [0, 2, 3, 1]),
        [0, 1, 0, 1] => ([0, 0, 1, 1], [0, 2, 1, 3]),
        [0, 1, 0, 2] => ([0, 0, 1, 3], [0, 2, 1, 3]),
        [0, 1, 0, 3] => ([0, 0, 1, 2], [0, 2, 1, 3]),
        [0, 1, 1, 0] => ([0, 0, 1, 1], [0, 3, 1, 2]),
        [0, 1, 1, 3] => ([0, 1, 1, 2], [0, 2, 1, 3]),
        [0, 1, 2, 0] => ([0, 0, 1, 3], [0, 3, 1, 2]),
        [0, 1, 2, 1] => ([0, 1, 1, 2], [0, 1, 3, 2]),
        other => (other, [0, 1, 2, 3]),
    };
    (links, perm.map(|p| o[p]))
}

/// Step 2: move `skip` nodes to the front, so that equivalent placements of
/// identities coincide. Mirrors the benchmark's `move_skip_op`, including
/// its order of in-place updates, because the table's keys depend on it.
fn move_skip_ops(mut link: [u8; 4], mut ops: [u8; 4]) -> ([u8; 4], [u8; 4]) {
    // Whether node k+1 carries the cell input unchanged (skips all the way).
    let passes_input = |link: &[u8; 4], ops: &[u8; 4], mut k: i32| {
        while k > -1 {
            if ops[k as usize] != SKIP {
                return false;
            }
            k = i32::from(link[k as usize]) - 1;
        }
        true
    };
    for i in 0..4 {
        if ops[i] != SKIP {
            continue;
        }
        let mut son = false;
        let mut brother = false;
        for (j, &fa) in link.iter().enumerate() {
            if usize::from(fa) == i + 1 {
                son = true;
            } else if j != i && fa == link[i] {
                brother = true;
            }
        }
        // The reference writes `son or not brother or (check_dim and not son)`;
        // the `not son` is implied there.
        if son || !brother || passes_input(&link, &ops, i as i32) {
            (link, ops) = move_to_front(i, link, ops);
        }
    }
    match link {
        [0, 1, 2, 1] => ([0, 1, 1, 2], [ops[0], ops[1], ops[3], ops[2]]),
        [0, 1, 1, 3] => ([0, 1, 1, 2], [ops[0], ops[2], ops[1], ops[3]]),
        _ => (link, ops),
    }
}

/// Moves node `k + 1` to the front of the cell, renumbering links.
fn move_to_front(k: usize, mut link: [u8; 4], ops: [u8; 4]) -> ([u8; 4], [u8; 4]) {
    let mut new_ops = [0u8; 4];
    new_ops[0] = ops[k];
    let mut n = 1;
    for (i, &o) in ops.iter().enumerate() {
        if i != k {
            new_ops[n] = o;
            n += 1;
        }
    }
    // In place and in order, as the reference does: a node after k that
    // read from k+1 takes k's (already renumbered) input.
    for i in 0..4 {
        let father = usize::from(link[i]);
        if father == k + 1 {
            link[i] = link[k];
        }
        if father <= k {
            link[i] += 1;
        }
    }
    let mut new_link = [0u8; 4];
    let mut n = 1;
    for (i, &l) in link.iter().enumerate() {
        if i != k {
            new_link[n] = l;
            n += 1;
        }
    }
    (new_link, new_ops)
}

/// Step 3: sort the ops of nodes that play symmetric roles.
fn sort_symmetric(link: [u8; 4], mut ops: [u8; 4]) -> [u8; 4] {
    let ids: &[usize] = match link {
        [0, 0, 0, 0] => &[0, 1, 2, 3],
        [0, 0, 0, 1] => &[1, 2],
        [0, 0, 1, 1] => &[2, 3],
        [0, 1, 1, 1] => &[1, 2, 3],
        [0, 1, 2, 2] => &[2, 3],
        [0, 0, 1, 2] => {
            // Two chains 1→3 and 2→4: order the chains.
            if ops[0] > ops[1] || (ops[0] == ops[1] && ops[2] > ops[3]) {
                ops = [ops[1], ops[0], ops[3], ops[2]];
            }
            &[]
        }
        _ => &[],
    };
    let mut vals: Vec<u8> = ids.iter().map(|&i| ops[i]).collect();
    vals.sort_unstable();
    for (&i, v) in ids.iter().zip(vals) {
        ops[i] = v;
    }
    ops
}

/// The NAS-Bench-Graph search space over one op set.
#[derive(Clone, Debug)]
pub struct NbGraphSpace {
    /// The allowed op digits, ascending, `skip` last.
    ops: &'static [u8],
}

impl Default for NbGraphSpace {
    fn default() -> Self {
        Self::standard()
    }
}

impl NbGraphSpace {
    /// The 9-op space of every table but `proteins`.
    pub fn standard() -> Self {
        Self { ops: &ALL_OPS }
    }

    /// The 5-op space of the `proteins` table.
    pub fn proteins() -> Self {
        Self { ops: &PROTEINS_OPS }
    }

    /// The names of the space's ops, in hash-digit order.
    pub fn op_names(&self) -> Vec<&'static str> {
        self.ops.iter().map(|&o| OPS[usize::from(o)]).collect()
    }

    /// The canonical hash of `cell`, or `None` when it is not a valid cell
    /// of this space.
    pub fn hash(&self, cell: &GnnCell) -> Option<u64> {
        if !self.is_valid(cell) {
            return None;
        }
        cell.canonical_hash()
    }

    /// Whether `hash` is the canonical hash of a cell of this space.
    pub fn is_canonical_hash(&self, hash: u64) -> bool {
        GnnCell::from_hash(hash).is_some_and(|c| self.is_valid(&c))
    }

    fn is_valid(&self, cell: &GnnCell) -> bool {
        cell.ops.iter().any(|&o| o != SKIP)
            && cell.links.iter().enumerate().all(|(i, &l)| usize::from(l) <= i)
            && cell.ops.iter().all(|o| self.ops.contains(o))
    }

    /// The position of op digit `o` in this space's op set.
    fn slot(&self, o: u8) -> usize {
        self.ops.iter().position(|&x| x == o).expect("a valid cell's op is in the space")
    }

    /// The number of single-choice changes of a cell: the links of nodes
    /// 2..4 have 1, 2 and 3 alternatives, each op `n_ops - 1`.
    fn changes(&self) -> usize {
        6 + 4 * (self.ops.len() - 1)
    }

    /// Applies the `c`-th single-choice change.
    fn change(&self, cell: &GnnCell, c: usize) -> GnnCell {
        let mut out = *cell;
        if c < 6 {
            // Links: node 2 has alternative 0, node 3 has 1..=2, node 4 3..=5.
            let (node, shift) = match c {
                0 => (1, 1),
                1 | 2 => (2, c as u8),
                _ => (3, c as u8 - 2),
            };
            out.links[node] = (cell.links[node] + shift) % (node as u8 + 1);
        } else {
            let c = c - 6;
            let (node, shift) = (c / (self.ops.len() - 1), c % (self.ops.len() - 1) + 1);
            out.ops[node] = self.ops[(self.slot(cell.ops[node]) + shift) % self.ops.len()];
        }
        out
    }

    fn parse_error(&self, input: &str, reason: impl Into<String>) -> ParseArchError {
        ParseArchError { space: self.name().into(), input: input.into(), reason: reason.into() }
    }
}

impl SearchSpace for NbGraphSpace {
    type Arch = GnnCell;

    fn name(&self) -> &str {
        if self.ops.len() == ALL_OPS.len() { "nas-bench-graph" } else { "nas-bench-graph-proteins" }
    }

    fn sample(&self, rng: &mut Rng) -> GnnCell {
        loop {
            let cell = GnnCell {
                links: [0, rng.random_range(0..2), rng.random_range(0..3), rng.random_range(0..4)],
                ops: [(); 4].map(|_| self.ops[rng.random_range(0..self.ops.len())]),
            };
            if self.is_valid(&cell) {
                return cell;
            }
        }
    }

    fn mutate(&self, arch: &GnnCell, rng: &mut Rng) -> GnnCell {
        loop {
            let child = self.change(arch, rng.random_range(0..self.changes()));
            if self.is_valid(&child) {
                return child;
            }
        }
    }

    /// Links of nodes 2..4 (2, 3 and 4 options; node 1 always reads the
    /// input, so it is no decision), then the four ops.
    fn decisions(&self) -> Option<Vec<usize>> {
        Some(vec![2, 3, 4, self.ops.len(), self.ops.len(), self.ops.len(), self.ops.len()])
    }

    fn arch_from_decisions(&self, choices: &[usize]) -> Option<GnnCell> {
        let [l2, l3, l4, o1, o2, o3, o4] = *choices else { return None };
        let link = |c: usize, options: usize| (c < options).then_some(c as u8);
        let op = |c: usize| self.ops.get(c).copied();
        let cell = GnnCell { links: [0, link(l2, 2)?, link(l3, 3)?, link(l4, 4)?], ops: [op(o1)?, op(o2)?, op(o3)?, op(o4)?] };
        self.is_valid(&cell).then_some(cell)
    }

    fn arch_decisions(&self, arch: &GnnCell) -> Option<Vec<usize>> {
        if !self.is_valid(arch) {
            return None;
        }
        let links = arch.links[1..].iter().map(|&l| usize::from(l));
        Some(links.chain(arch.ops.iter().map(|&o| self.slot(o))).collect())
    }

    fn neighbours(&self, arch: &GnnCell) -> Vec<GnnCell> {
        (0..self.changes()).map(|c| self.change(arch, c)).filter(|c| self.is_valid(c)).collect()
    }

    fn format(&self, arch: &GnnCell) -> String {
        let links: Vec<String> = arch.links.iter().map(u8::to_string).collect();
        let ops: Vec<&str> = arch.ops.iter().map(|&o| OPS[usize::from(o)]).collect();
        format!("{}|{}", links.join(","), ops.join(","))
    }

    /// Parses `L,L,L,L|op,op,op,op` (links then ops), or a canonical
    /// benchmark hash such as `88887`.
    fn parse(&self, s: &str) -> Result<GnnCell, ParseArchError> {
        let s_trim = s.trim();
        if !s_trim.is_empty() && s_trim.bytes().all(|b| b.is_ascii_digit()) {
            let hash: u64 = s_trim.parse().map_err(|_| self.parse_error(s, "hash out of range"))?;
            return GnnCell::from_hash(hash)
                .filter(|c| self.is_valid(c))
                .ok_or_else(|| self.parse_error(s, "not a canonical hash of this space"));
        }
        let (links, ops) = s_trim
            .split_once('|')
            .ok_or_else(|| self.parse_error(s, "expected `links|ops`, e.g. `0,0,1,2|gcn,gat,skip,fc`, or a hash"))?;
        let links: Vec<&str> = links.split(',').map(str::trim).collect();
        let ops: Vec<&str> = ops.split(',').map(str::trim).collect();
        if links.len() != 4 || ops.len() != 4 {
            return Err(self.parse_error(s, "expected 4 links and 4 ops"));
        }
        let mut cell = GnnCell { links: [0; 4], ops: [0; 4] };
        for i in 0..4 {
            cell.links[i] = links[i]
                .parse::<u8>()
                .ok()
                .filter(|&l| usize::from(l) <= i)
                .ok_or_else(|| self.parse_error(s, format!("link of node {} must be in 0..={i}", i + 1)))?;
            cell.ops[i] = *self.ops.iter().find(|&&o| OPS[usize::from(o)] == ops[i]).ok_or_else(|| {
                self.parse_error(s, format!("unknown op `{}`; valid: {}", ops[i], self.op_names().join(", ")))
            })?;
        }
        if !self.is_valid(&cell) {
            return Err(self.parse_error(s, "an all-`skip` cell is invalid"));
        }
        Ok(cell)
    }

    fn canonical_key(&self, arch: &GnnCell) -> String {
        self.hash(arch).map_or_else(|| "invalid".to_owned(), |h| h.to_string())
    }

    fn to_graph(&self, arch: &GnnCell) -> ArchGraph {
        let mut g = ArchGraph::default();
        let input = g.add_node("input");
        let mut consumed = [false; 5];
        let nodes: Vec<usize> = (0..4)
            .map(|i| {
                let n = g.add_node(OPS[usize::from(arch.ops[i])]);
                let from = usize::from(arch.links[i]);
                consumed[from] = true;
                g.add_edge(if from == 0 { input } else { from }, n);
                n
            })
            .collect();
        let output = g.add_node("output");
        for (i, &n) in nodes.iter().enumerate() {
            if !consumed[i + 1] {
                g.add_edge(n, output);
            }
        }
        g
    }

    fn encode(&self, arch: &GnnCell) -> Vec<f32> {
        let n = self.ops.len();
        let mut v = vec![0.0; 10 + 4 * n];
        let link_offsets = [0, 1, 3, 6];
        for i in 0..4 {
            v[link_offsets[i] + usize::from(arch.links[i])] = 1.0;
            v[10 + i * n + self.slot(arch.ops[i])] = 1.0;
        }
        v
    }

    fn size(&self) -> Option<u128> {
        Some(24 * (self.ops.len() as u128).pow(4) - 24)
    }

    fn enumerate(&self) -> Option<Box<dyn Iterator<Item = GnnCell> + '_>> {
        let ops = self.ops;
        let n = ops.len() as u32;
        let cells = (0..24u8).flat_map(move |l| {
            let links = [0, l % 2, (l / 2) % 3, l / 6];
            (0..n.pow(4)).map(move |code| {
                let d = |p: u32| ops[(code / n.pow(p) % n) as usize];
                GnnCell { links, ops: [d(3), d(2), d(1), d(0)] }
            })
        });
        Some(Box::new(cells.filter(|c| self.is_valid(c))))
    }

    fn describe(&self, arch: &GnnCell) -> Vec<(String, String)> {
        let hash = self.hash(arch).expect("parsed cells are valid");
        let canonical = GnnCell::from_hash(hash).expect("a canonical hash decodes");
        vec![
            ("benchmark hash".into(), hash.to_string()),
            ("canonical cell".into(), self.format(&canonical)),
        ]
    }
}

/// Registers this crate's spaces: `nas-bench-graph` and `nas-bench-graph-proteins`.
pub fn register(registry: &mut nasforge_registry::Registry) {
    registry.add_space(nasforge_registry::SpaceEntry::new::<nasforge_registry::NoParams, _>(
        "nas-bench-graph",
        "The NAS-Bench-Graph GNN cell (Qin et al., NeurIPS 2022): 4 links, 4 of 9 operations; 26,206 unique cells.",
        |_| NbGraphSpace::standard(),
    ));
    registry.add_space(nasforge_registry::SpaceEntry::new::<nasforge_registry::NoParams, _>(
        "nas-bench-graph-proteins",
        "The NAS-Bench-Graph cell over the 5 operations its ogbn-proteins table covers.",
        |_| NbGraphSpace::proteins(),
    ));
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use rand::SeedableRng;

    use super::*;

    #[test]
    fn the_space_laws_hold() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        nasforge_core::laws::check(&NbGraphSpace::standard(), &mut rng, 300).unwrap();
        nasforge_core::laws::check(&NbGraphSpace::proteins(), &mut rng, 300).unwrap();
    }

    #[test]
    fn raw_choices_map_onto_26206_canonical_hashes() {
        let space = NbGraphSpace::standard();
        let cells: Vec<GnnCell> = space.enumerate().unwrap().collect();
        assert_eq!(cells.len(), 157_440);
        assert_eq!(space.size(), Some(157_440));
        let hashes: HashSet<u64> = cells.iter().map(|c| space.hash(c).unwrap()).collect();
        assert_eq!(hashes.len(), 26_206);
        // Every hash decodes to a cell that hashes to itself.
        for &h in &hashes {
            let c = GnnCell::from_hash(h).unwrap();
            assert_eq!(space.hash(&c), Some(h));
        }
    }

    #[test]
    fn all_skip_cells_are_invalid() {
        let space = NbGraphSpace::standard();
        for l in 0..24u8 {
            let cell = GnnCell { links: [0, l % 2, (l / 2) % 3, l / 6], ops: [8; 4] };
            assert_eq!(space.hash(&cell), None);
        }
        assert!(space.parse("0,1,2,3|skip,skip,skip,skip").is_err());
    }

    #[test]
    fn hash_matches_the_benchmark_documentation() {
        let space = NbGraphSpace::standard();
        let cell = space.parse("0,1,2,3|skip,skip,skip,fc").unwrap();
        // `88887`: links [0,1,2,3], ops skip, skip, skip, fc — canonicalised
        // by moving the skips, it is a single fc node on the input.
        let h = space.hash(&cell).unwrap();
        assert_eq!(space.parse(&h.to_string()).unwrap().canonical_hash(), Some(h));
        assert_eq!(space.parse("88887").unwrap().canonical_hash(), Some(88887));
    }

    #[test]
    fn format_parse_round_trip_and_neighbours() {
        let space = NbGraphSpace::standard();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        for _ in 0..500 {
            let c = space.sample(&mut rng);
            assert_eq!(space.parse(&space.format(&c)).unwrap(), c);
            let n: HashSet<GnnCell> = space.neighbours(&c).into_iter().collect();
            assert!(n.len() >= 37, "{}", n.len());
            let m = space.mutate(&c, &mut rng);
            assert!(n.contains(&m));
        }
        assert!(space.parse("0,0,3,0|gcn,gcn,gcn,gcn").is_err());
        assert!(space.parse("0,0,0,0|gcn,gcn,gcn,foo").unwrap_err().reason.contains("sage"));
    }

    #[test]
    fn decisions_name_every_valid_cell_once() {
        for space in [NbGraphSpace::standard(), NbGraphSpace::proteins()] {
            let sizes = space.decisions().unwrap();
            let mut choices = vec![0; sizes.len()];
            let (mut valid, mut seen) = (0usize, std::collections::HashSet::new());
            'all: loop {
                if let Some(cell) = space.arch_from_decisions(&choices) {
                    valid += 1;
                    assert_eq!(space.arch_decisions(&cell).as_deref(), Some(&choices[..]));
                    assert!(seen.insert(cell));
                }
                for (c, &n) in choices.iter_mut().zip(&sizes) {
                    *c += 1;
                    if *c < n {
                        continue 'all;
                    }
                    *c = 0;
                }
                break;
            }
            // 24 link patterns × n⁴ ops, less the 24 all-skip cells.
            let n = space.op_names().len();
            assert_eq!(valid, 24 * n.pow(4) - 24, "{}", space.name());
        }
        assert_eq!(NbGraphSpace::standard().arch_from_decisions(&[2, 0, 0, 0, 0, 0, 0]), None);
    }

    #[test]
    fn proteins_space_has_its_own_ops() {
        let space = NbGraphSpace::proteins();
        assert_eq!(space.size(), Some(24 * 625 - 24));
        let hashes: HashSet<u64> = space.enumerate().unwrap().filter_map(|c| space.hash(&c)).collect();
        assert_eq!(hashes.len(), 2_021);
        // gcn on every node of the input: the table's key 1111.
        assert!(hashes.contains(&1111));
        assert!(space.parse("0,0,0,0|gat,gcn,gcn,gcn").is_err());
    }
}
