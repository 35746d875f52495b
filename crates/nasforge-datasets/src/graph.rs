//! Citation graphs (Cora, Citeseer) stored as CSR arrays in an `.npz`,
//! read within a byte budget and checked before npyz sees them, with a
//! seeded Planetoid-style node split.

use std::io::Read;
use std::path::Path;

use crate::{DataError, MAX_INFLATED_BYTES, data_error, shuffled};

/// An undirected graph for full-batch node classification.
#[derive(Clone, Debug, PartialEq)]
pub struct Graph {
    /// Number of nodes.
    pub nodes: usize,
    /// Dense node features, row-normalised (each row sums to 1), `nodes × features`.
    pub features: Vec<f32>,
    /// Features per node.
    pub feature_dim: usize,
    /// Class of each node.
    pub labels: Vec<u32>,
    /// Number of classes.
    pub classes: usize,
    /// Undirected edges `(u, v)` with `u < v`, no self loops, no duplicates.
    pub edges: Vec<(u32, u32)>,
    /// Training nodes.
    pub train: Vec<u32>,
    /// Validation nodes.
    pub valid: Vec<u32>,
    /// Test nodes.
    pub test: Vec<u32>,
}

/// How a graph's nodes are split: the Planetoid protocol by default
/// (20 training nodes per class, 500 validation, 1,000 test), seeded.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GraphSplit {
    /// Training nodes per class.
    pub train_per_class: usize,
    /// Validation nodes.
    pub valid: usize,
    /// Test nodes.
    pub test: usize,
    /// Seed of the split.
    pub seed: u64,
}

impl Default for GraphSplit {
    fn default() -> Self {
        Self { train_per_class: 20, valid: 500, test: 1000, seed: 0 }
    }
}

/// Reads the `shape` of an `.npy` header (a Python dict literal) before
/// npyz does, because npyz multiplies the dimensions unchecked (a panic
/// in debug builds, a wrapped count in release) and its parser recurses
/// on nesting. The grammar is deliberately narrow, what numpy writes for
/// plain dtypes: string keys, values that are strings without escapes,
/// `True`/`False`, or a tuple or list of decimal integers. Anything else,
/// and duplicate keys (which npyz would resolve differently from a first
/// match), is an error, so npyz can only ever see the shape read here.
fn npy_shape(header: &str) -> Result<Vec<u64>, String> {
    let b = header.as_bytes();
    let mut i = 0;
    let skip = |i: &mut usize| {
        while *i < b.len() && b[*i].is_ascii_whitespace() {
            *i += 1;
        }
    };
    let expect = |i: &mut usize, c: u8| {
        skip(i);
        if b.get(*i) == Some(&c) {
            *i += 1;
            Ok(())
        } else {
            Err(format!("expected `{}` at header byte {}", c as char, *i))
        }
    };
    let string = |i: &mut usize| -> Result<String, String> {
        skip(i);
        let quote = *b.get(*i).filter(|&&q| q == b'\'' || q == b'"').ok_or_else(|| format!("expected a string at header byte {}", *i))?;
        let start = *i + 1;
        let len = b[start..].iter().position(|&c| c == quote).ok_or("unterminated string")?;
        let s = &header[start..start + len];
        if s.contains('\\') {
            return Err("escapes in header strings are not supported".into());
        }
        *i = start + len + 1;
        Ok(s.to_owned())
    };
    let (mut keys, mut shape) = (Vec::new(), None);
    expect(&mut i, b'{')?;
    loop {
        skip(&mut i);
        if b.get(i) == Some(&b'}') {
            i += 1;
            break;
        }
        let key = string(&mut i)?;
        if keys.contains(&key) {
            return Err(format!("key '{key}' appears twice"));
        }
        expect(&mut i, b':')?;
        skip(&mut i);
        match b.get(i) {
            Some(b'\'' | b'"') => {
                string(&mut i)?;
            }
            Some(&open @ (b'(' | b'[')) => {
                let close = if open == b'(' { b')' } else { b']' };
                i += 1;
                let mut dims = Vec::new();
                loop {
                    skip(&mut i);
                    if b.get(i) == Some(&close) {
                        i += 1;
                        break;
                    }
                    let digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
                    let text = &header[i..i + digits];
                    if b.get(i) == Some(&b'-') {
                        return Err(format!("'{key}' has a negative dimension"));
                    }
                    if digits == 0 || (digits > 1 && text.starts_with('0')) {
                        return Err(format!("'{key}' holds something other than decimal integers"));
                    }
                    dims.push(text.parse::<u64>().map_err(|_| format!("'{key}' has a dimension past 2^64: {text}"))?);
                    i += digits;
                    skip(&mut i);
                    match b.get(i) {
                        Some(b',') => i += 1,
                        Some(&c) if c == close => {}
                        _ => return Err(format!("expected `,` or `{}` at header byte {i}", close as char)),
                    }
                }
                if key == "shape" {
                    shape = Some(dims);
                }
            }
            _ => {
                let word = b[i..].iter().take_while(|c| c.is_ascii_alphabetic()).count();
                if !matches!(&header[i..i + word], "True" | "False") {
                    return Err(format!("unsupported value for '{key}'"));
                }
                i += word;
            }
        }
        keys.push(key);
        skip(&mut i);
        match b.get(i) {
            Some(b',') => i += 1,
            Some(b'}') => {}
            _ => return Err(format!("expected `,` or `}}` at header byte {i}")),
        }
    }
    if !b[i..].iter().all(u8::is_ascii_whitespace) {
        return Err("text after the header's dict".into());
    }
    shape.ok_or_else(|| "no 'shape' key".into())
}

/// Reads array `name` (`name.npy`) of an `.npz` as a flat vector of a
/// one-dimensional array, drawing its bytes from `budget`. The entry is
/// read whole (within the budget) and its header checked against its
/// length before npyz parses it, so that a header claiming more data
/// than there is, or dimensions whose product overflows, is an error
/// naming the array, never a panic or an allocation of what it claims.
fn npz_array<T: npyz::Deserialize, R: Read + std::io::Seek>(
    archive: &mut npyz::npz::NpzArchive<R>,
    path: &Path,
    name: &str,
    budget: &mut usize,
) -> Result<Vec<T>, DataError> {
    let fail = |reason: String| data_error(path, format!("array `{name}`: {reason}"));
    if !archive.array_names().any(|n| n == name) {
        return Err(data_error(path, format!("no array `{name}` in the archive")));
    }
    let mut entry = archive
        .zip_archive()
        .by_name(&npyz::npz::file_name_from_array_name(name))
        .map_err(|e| data_error(path, format!("cannot read `{name}`: {e}")))?;
    if entry.size() > *budget as u64 {
        return Err(fail(format!("{} bytes, more than the {} left of the {MAX_INFLATED_BYTES} an archive may inflate to", entry.size(), *budget)));
    }
    let mut bytes = Vec::new();
    (&mut entry).take(*budget as u64 + 1).read_to_end(&mut bytes).map_err(|e| data_error(path, format!("cannot read `{name}`: {e}")))?;
    if bytes.len() > *budget {
        return Err(fail(format!("inflates past the {} bytes left of the {MAX_INFLATED_BYTES} an archive may inflate to", *budget)));
    }
    *budget -= bytes.len();

    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(fail("not an .npy array (magic \\x93NUMPY)".into()));
    }
    let (header_len, start) = match bytes[6] {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        2 | 3 if bytes.len() >= 12 => (usize::try_from(u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]])).unwrap_or(usize::MAX), 12),
        v => return Err(fail(format!(".npy version {v}.{} is not supported", bytes[7]))),
    };
    let data_len = bytes.len() - start;
    if header_len > data_len {
        return Err(fail(format!("the header claims {header_len} bytes, the entry has {data_len} after the preamble")));
    }
    let header = std::str::from_utf8(&bytes[start..start + header_len]).map_err(|_| fail("the header is not UTF-8".into()))?;
    let shape = npy_shape(header).map_err(|e| fail(format!("header {:?}: {e}", header.trim_end())))?;
    let data_len = data_len - header_len;
    // npyz also multiplies in other orders (strides): the product of the
    // nonzero dimensions bounds every partial product, zeros or not.
    let nonzero = shape.iter().filter(|&&d| d != 0).try_fold(1u64, |a, &d| a.checked_mul(d));
    let count = nonzero.map(|c| if shape.contains(&0) { 0 } else { c });
    if count.is_none_or(|c| c > data_len as u64) {
        return Err(fail(format!("the header claims shape {shape:?}, more values than the {data_len} bytes of data hold")));
    }
    if shape.len() != 1 {
        return Err(fail(format!("shape {shape:?}, expected one dimension")));
    }
    let npy = npyz::NpyFile::new(&bytes[..]).map_err(|e| fail(e.to_string()))?;
    if npy.shape() != shape.as_slice() {
        return Err(fail(format!("npyz reads shape {:?} from the header, not {shape:?}", npy.shape())));
    }
    let item = npy.dtype().num_bytes().ok_or_else(|| fail("its dtype has no fixed size".into()))?;
    if (item as u64).checked_mul(shape[0]) != Some(data_len as u64) {
        return Err(fail(format!("the header claims {} values of {item} bytes, the entry holds {data_len} bytes of data", shape[0])));
    }
    npy.into_vec::<T>().map_err(|e| fail(e.to_string()))
}

/// The rows of a CSR matrix: `indptr` (one more entry than `rows`) must
/// be non-negative, non-decreasing, and end within the `nnz` stored
/// entries.
fn csr_rows(path: &Path, what: &str, indptr: &[i32], rows: usize, nnz: usize) -> Result<Vec<std::ops::Range<usize>>, DataError> {
    if indptr.len() != rows + 1 {
        return Err(data_error(path, format!("`{what}_indptr` has {} entries, expected {} (one more than the {rows} labels)", indptr.len(), rows + 1)));
    }
    let mut spans = Vec::with_capacity(rows);
    for (row, w) in indptr.windows(2).enumerate() {
        let (Ok(a), Ok(b)) = (usize::try_from(w[0]), usize::try_from(w[1])) else {
            return Err(data_error(path, format!("`{what}_indptr` is negative at row {row}: {} .. {}", w[0], w[1])));
        };
        if a > b {
            return Err(data_error(path, format!("`{what}_indptr` decreases at row {row}: {a} .. {b}")));
        }
        if b > nnz {
            return Err(data_error(path, format!("`{what}_indptr` points past the {nnz} stored entries at row {row}: {a} .. {b}")));
        }
        spans.push(a..b);
    }
    Ok(spans)
}

/// The most dense feature values a graph may have (1 GiB of `f32`):
/// `nodes × feature_dim` is allocated up front, and both come from the file.
const MAX_FEATURE_VALUES: usize = 1 << 28;

/// Loads a graph stored as CSR arrays (`adj_data/adj_indices/adj_indptr/
/// adj_shape`, `attr_*`, `labels`) in an `.npz`, as in the gnn-benchmark
/// release of Cora and Citeseer.
pub fn graph_npz(path: impl AsRef<Path>, split: GraphSplit) -> Result<Graph, DataError> {
    let path = path.as_ref();
    let file = std::fs::File::open(path).map_err(|e| data_error(path, format!("cannot open as an .npz archive: {e}")))?;
    graph_npz_from_reader(std::io::BufReader::new(file), path, split)
}

/// [`graph_npz`] on any seekable stream (an in-memory archive, a fuzzer's
/// bytes in a `Cursor`); `path` names it in errors.
pub fn graph_npz_from_reader<R: Read + std::io::Seek>(reader: R, path: &Path, split: GraphSplit) -> Result<Graph, DataError> {
    let mut archive = npyz::npz::NpzArchive::new(reader).map_err(|e| data_error(path, format!("not a readable .npz archive: {e}")))?;
    let mut budget = MAX_INFLATED_BYTES;
    let adj_indices: Vec<i32> = npz_array(&mut archive, path, "adj_indices", &mut budget)?;
    let adj_indptr: Vec<i32> = npz_array(&mut archive, path, "adj_indptr", &mut budget)?;
    let attr_data: Vec<f32> = npz_array(&mut archive, path, "attr_data", &mut budget)?;
    let attr_indices: Vec<i32> = npz_array(&mut archive, path, "attr_indices", &mut budget)?;
    let attr_indptr: Vec<i32> = npz_array(&mut archive, path, "attr_indptr", &mut budget)?;
    let attr_shape: Vec<i64> = npz_array(&mut archive, path, "attr_shape", &mut budget)?;
    let labels: Vec<i8> = npz_array(&mut archive, path, "labels", &mut budget)?;

    let nodes = labels.len();
    if u32::try_from(nodes).is_err() {
        return Err(data_error(path, format!("{nodes} nodes, more than node ids (u32) can number")));
    }
    let &[rows, cols] = attr_shape.as_slice() else {
        return Err(data_error(path, format!("`attr_shape` has {} entries, expected 2", attr_shape.len())));
    };
    if i64::try_from(nodes).ok() != Some(rows) {
        return Err(data_error(path, format!("`attr_shape` is [{rows}, {cols}], but there are {nodes} labels")));
    }
    let feature_dim = match usize::try_from(cols) {
        Ok(d) if d > 0 => d,
        _ => return Err(data_error(path, format!("`attr_shape` is [{rows}, {cols}]: the feature dimension must be positive"))),
    };
    if nodes.checked_mul(feature_dim).is_none_or(|n| n > MAX_FEATURE_VALUES) {
        return Err(data_error(path, format!("{nodes} nodes × {feature_dim} features is more than the {MAX_FEATURE_VALUES} dense values allowed")));
    }
    if attr_data.len() != attr_indices.len() {
        return Err(data_error(path, format!("`attr_data` has {} entries, `attr_indices` {}", attr_data.len(), attr_indices.len())));
    }
    let attr_rows = csr_rows(path, "attr", &attr_indptr, nodes, attr_indices.len())?;
    let adj_rows = csr_rows(path, "adj", &adj_indptr, nodes, adj_indices.len())?;
    let column = |what: &str, row: usize, col: i32, bound: usize| match usize::try_from(col) {
        Ok(c) if c < bound => Ok(c),
        _ => Err(data_error(path, format!("`{what}_indices` has column {col} in row {row}, outside 0..{bound}"))),
    };
    let mut features = vec![0.0f32; nodes * feature_dim];
    for (row, span) in attr_rows.into_iter().enumerate() {
        for (&col, &v) in attr_indices[span.clone()].iter().zip(&attr_data[span]) {
            features[row * feature_dim + column("attr", row, col, feature_dim)?] = v;
        }
        let r = &mut features[row * feature_dim..(row + 1) * feature_dim];
        let sum: f32 = r.iter().sum();
        if sum > 0.0 {
            r.iter_mut().for_each(|v| *v /= sum);
        }
    }
    let mut edges = Vec::with_capacity(adj_indices.len());
    for (row, span) in adj_rows.into_iter().enumerate() {
        for &col in &adj_indices[span] {
            let col = column("adj", row, col, nodes)?;
            if col != row {
                // Both are below `nodes`, which fits in u32 (checked above).
                edges.push((row.min(col) as u32, row.max(col) as u32));
            }
        }
    }
    edges.sort_unstable();
    edges.dedup();
    if let Some(node) = labels.iter().position(|&l| l < 0) {
        return Err(data_error(path, format!("negative label {} at node {node}", labels[node])));
    }
    let labels: Vec<u32> = labels.iter().map(|&l| l as u32).collect();
    let classes = labels.iter().max().map_or(0, |&m| m as usize + 1);

    // Planetoid-style split: the first `train_per_class` nodes of each class
    // in a seeded order train; then validation, then test, from the rest.
    let order = shuffled(nodes, split.seed);
    let mut per_class = vec![0usize; classes];
    let (mut train, mut rest) = (Vec::new(), Vec::new());
    for &n in &order {
        let c = labels[n] as usize;
        if per_class[c] < split.train_per_class {
            per_class[c] += 1;
            train.push(n as u32);
        } else {
            rest.push(n as u32);
        }
    }
    if rest.len() < split.valid.saturating_add(split.test) {
        return Err(data_error(path, format!("{} nodes left for {} validation + {} test", rest.len(), split.valid, split.test)));
    }
    let valid = rest[..split.valid].to_vec();
    let test = rest[split.valid..split.valid + split.test].to_vec();
    Ok(Graph { nodes, features, feature_dim, labels, classes, edges, train, valid, test })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::shared;

    #[test]
    fn cora_loads_with_the_planetoid_split() {
        let g = graph_npz(shared("graphs/cora.npz"), GraphSplit::default()).unwrap();
        assert_eq!((g.nodes, g.feature_dim, g.classes), (2708, 1433, 7));
        assert_eq!((g.train.len(), g.valid.len(), g.test.len()), (140, 500, 1000));
        assert!(g.edges.len() > 5000 && g.edges.iter().all(|&(u, v)| u < v));
        let mut all: Vec<u32> = g.train.iter().chain(&g.valid).chain(&g.test).copied().collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 1640, "splits are disjoint");
        let c = graph_npz(shared("graphs/citeseer.npz"), GraphSplit::default()).unwrap();
        assert_eq!((c.nodes, c.feature_dim, c.classes), (3312, 3703, 6));
    }

    /// An `.npy` entry as numpy writes it (version 1.0, header padded to
    /// 64 bytes), with `header` as the dict's text.
    fn npy_raw(header: &str, data: &[u8]) -> Vec<u8> {
        let mut header = header.to_owned();
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend(u16::try_from(header.len()).unwrap().to_le_bytes());
        out.extend(header.as_bytes());
        out.extend(data);
        out
    }

    fn npy(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
        npy_raw(&format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}"), data)
    }

    fn i4(v: &[i32]) -> Vec<u8> {
        npy("<i4", &format!("({},)", v.len()), &v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<_>>())
    }

    fn f4(v: &[f32]) -> Vec<u8> {
        npy("<f4", &format!("({},)", v.len()), &v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<_>>())
    }

    fn i8s(v: &[i64]) -> Vec<u8> {
        npy("<i8", &format!("({},)", v.len()), &v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<_>>())
    }

    fn labels(v: &[i8]) -> Vec<u8> {
        npy("|i1", &format!("({},)", v.len()), &v.iter().map(|&x| x as u8).collect::<Vec<_>>())
    }

    /// A 4-node ring with 3 features per node, labels 0, 1, 0, 1.
    fn ring() -> Vec<(&'static str, Vec<u8>)> {
        vec![
            ("adj_data", f4(&[1.0; 8])),
            ("adj_indices", i4(&[1, 3, 0, 2, 1, 3, 0, 2])),
            ("adj_indptr", i4(&[0, 2, 4, 6, 8])),
            ("adj_shape", i8s(&[4, 4])),
            ("attr_data", f4(&[1.0, 1.0, 1.0, 2.0])),
            ("attr_indices", i4(&[0, 1, 2, 0])),
            ("attr_indptr", i4(&[0, 1, 2, 3, 4])),
            ("attr_shape", i8s(&[4, 3])),
            ("labels", labels(&[0, 1, 0, 1])),
        ]
    }

    fn with(mut arrays: Vec<(&'static str, Vec<u8>)>, name: &str, bytes: Vec<u8>) -> Vec<(&'static str, Vec<u8>)> {
        arrays.iter_mut().find(|(n, _)| *n == name).expect("an array of the ring").1 = bytes;
        arrays
    }

    fn npz(arrays: &[(&str, Vec<u8>)]) -> Vec<u8> {
        use std::io::Write;
        let mut w = npyz::npz::NpzWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, bytes) in arrays {
            w.zip_writer().start_file(format!("{name}.npy"), Default::default()).unwrap();
            w.zip_writer().write_all(bytes).unwrap();
        }
        w.zip_writer().finish().unwrap().into_inner()
    }

    const TINY: GraphSplit = GraphSplit { train_per_class: 1, valid: 1, test: 1, seed: 0 };

    fn load(arrays: &[(&str, Vec<u8>)]) -> Result<Graph, DataError> {
        graph_npz_from_reader(std::io::Cursor::new(npz(arrays)), Path::new("fuzz/input.npz"), TINY)
    }

    /// Loading fails with a message naming the input and containing `what`.
    fn fails(arrays: &[(&str, Vec<u8>)], what: &str) {
        let err = load(arrays).unwrap_err().to_string();
        assert!(err.starts_with("fuzz/input.npz: ") && err.contains(what), "wanted `{what}` in: {err}");
    }

    #[test]
    fn a_small_npz_graph_loads_from_memory() {
        let g = load(&ring()).unwrap();
        assert_eq!((g.nodes, g.feature_dim, g.classes), (4, 3, 2));
        assert_eq!(g.edges, vec![(0, 1), (0, 3), (1, 2), (2, 3)]);
        assert_eq!(g.features[9..], [1.0, 0.0, 0.0], "row 3 is normalised");
        assert_eq!((g.train.len(), g.valid.len(), g.test.len()), (2, 1, 1));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ring.npz");
        std::fs::write(&path, npz(&ring())).unwrap();
        assert_eq!(graph_npz(&path, TINY).unwrap(), g);
    }

    #[test]
    fn negative_or_absurd_npz_dimensions_are_errors() {
        fails(&with(ring(), "attr_shape", i8s(&[4, -3])), "`attr_shape` is [4, -3]: the feature dimension must be positive");
        fails(&with(ring(), "attr_shape", i8s(&[-4, 3])), "`attr_shape` is [-4, 3], but there are 4 labels");
        fails(&with(ring(), "attr_shape", i8s(&[4, 0])), "the feature dimension must be positive");
        fails(&with(ring(), "attr_shape", i8s(&[4, 1 << 40])), "4 nodes × 1099511627776 features is more than");
        fails(&with(ring(), "attr_shape", i8s(&[4, i64::MAX])), "features is more than");
        fails(&with(ring(), "attr_shape", i8s(&[4])), "`attr_shape` has 1 entries, expected 2");
        fails(&with(ring(), "labels", labels(&[0, 1, -1, 1])), "negative label -1 at node 2");
    }

    #[test]
    fn bad_csr_pointers_and_indices_are_errors() {
        fails(&with(ring(), "attr_indptr", i4(&[0, -1, 2, 3, 4])), "`attr_indptr` is negative at row 0: 0 .. -1");
        fails(&with(ring(), "adj_indptr", i4(&[0, 2, 4, 6, i32::MIN])), "`adj_indptr` is negative at row 3");
        fails(&with(ring(), "attr_indptr", i4(&[0, 2, 1, 3, 4])), "`attr_indptr` decreases at row 1: 2 .. 1");
        fails(&with(ring(), "attr_indptr", i4(&[0, 1, 2, 3, 9])), "`attr_indptr` points past the 4 stored entries at row 3: 3 .. 9");
        fails(&with(ring(), "adj_indptr", i4(&[0, 2, 4, 6, i32::MAX])), "`adj_indptr` points past the 8 stored entries");
        fails(&with(ring(), "attr_indptr", i4(&[0, 1, 2])), "`attr_indptr` has 3 entries, expected 5 (one more than the 4 labels)");
        fails(&with(ring(), "adj_indptr", i4(&[])), "`adj_indptr` has 0 entries, expected 5");
        fails(&with(ring(), "attr_data", f4(&[1.0, 1.0])), "`attr_data` has 2 entries, `attr_indices` 4");
        fails(&with(ring(), "attr_indices", i4(&[0, 1, 3, 0])), "`attr_indices` has column 3 in row 2, outside 0..3");
        fails(&with(ring(), "adj_indices", i4(&[1, 3, 0, 2, 1, -1, 0, 2])), "`adj_indices` has column -1 in row 2, outside 0..4");
        fails(&with(ring(), "adj_indices", i4(&[1, 3, 0, 2, 1, 3, 0])), "`adj_indptr` points past the 7 stored entries");
        let mut no_labels = ring();
        no_labels.retain(|(n, _)| *n != "labels");
        fails(&no_labels, "no array `labels` in the archive");
        let err = graph_npz_from_reader(std::io::Cursor::new(b"PK\x03\x04 not really".to_vec()), Path::new("x.npz"), TINY).unwrap_err();
        assert!(err.to_string().starts_with("x.npz: not a readable .npz archive"), "{err}");
    }

    #[test]
    fn malformed_npy_headers_are_errors_not_panics() {
        let data = [0u8; 16];
        for (header, what) in [
            ("{'descr': '<i4', 'fortran_order': False, 'shape': (-1,), }", "negative dimension"),
            // npyz multiplies these unchecked (a panic in debug builds).
            ("{'descr': '<i4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", "more values than the 16 bytes"),
            ("{'descr': '<i4', 'fortran_order': False, 'shape': (0, 4294967296, 4294967296), }", "more values than the 16 bytes"),
            ("{'descr': '<i4', 'fortran_order': False, 'shape': (99999999999999999999999,), }", "past 2^64"),
            ("{'descr': '<i4', 'fortran_order': False, 'shape': (1000,), }", "shape [1000], more values than the 16 bytes"),
            ("{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }", "2 values of 4 bytes, the entry holds 16 bytes"),
            ("{'descr': '<i4', 'fortran_order': False, 'shape': (2, 2), }", "shape [2, 2], expected one dimension"),
            ("{'descr': '<i4', 'fortran_order': False, 'shape': (4,), 'shape': (5000000000,)}", "'shape' appears twice"),
            ("{'descr': '<i4', 'fortran_order': False, 'shape': ((((((((4,),),),),),),),), }", "decimal integers"),
            ("{'descr': '<i4', 'fortran_order': False, 'shape': (0x10,), }", "expected `,` or `)`"),
            ("{'descr': '<i4', 'fortran_order': False, 'shape': (04,), }", "decimal integers"),
            ("{'descr': '<i\\x34', 'fortran_order': False, 'shape': (4,), }", "escapes"),
            ("{'descr': '<i4', 'fortran_order': None, 'shape': (4,), }", "unsupported value for 'fortran_order'"),
            ("{'descr': '<i4', 'fortran_order': False}", "no 'shape' key"),
            ("{'descr': '<i4', 'fortran_order': False, 'shape': (4,), } x", "text after"),
            ("[1, 2]", "expected `{`"),
            ("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", "array `labels`"),
        ] {
            fails(&with(ring(), "labels", npy_raw(header, &data)), what);
        }
        let mut long = b"\x93NUMPY\x02\x00\xf0\xff\xff\xff".to_vec();
        long.extend(b"{'shape': (1,)}");
        fails(&with(ring(), "labels", long), "the header claims 4294967280 bytes, the entry has 15 after the preamble");
        fails(&with(ring(), "labels", b"\x93NUMPY\x09\x00\x10\x00".to_vec()), ".npy version 9.0 is not supported");
        fails(&with(ring(), "labels", b"\x93NUMP".to_vec()), "not an .npy array");
        fails(&with(ring(), "labels", vec![0xff; 200]), "not an .npy array");
    }

    #[test]
    fn an_npz_array_past_the_byte_budget_is_an_error() {
        let bytes = npz(&ring());
        let mut archive = npyz::npz::NpzArchive::new(std::io::Cursor::new(bytes)).unwrap();
        // The entry is a 128-byte header and 8 × 4 bytes of data.
        let mut budget = 159;
        let err = npz_array::<i32, _>(&mut archive, Path::new("a.npz"), "adj_indices", &mut budget).unwrap_err().to_string();
        assert!(err.starts_with("a.npz: array `adj_indices`: 160 bytes, more than the 159 left"), "{err}");
        let mut budget = 170;
        let v = npz_array::<i32, _>(&mut archive, Path::new("a.npz"), "adj_indices", &mut budget).unwrap();
        assert_eq!((v.len(), budget), (8, 10));
    }
}
