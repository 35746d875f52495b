//! Tables of proxy scores and the estimator that reads them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nasforge_core::{EvalContext, EvalError, Estimator, Metrics, SearchSpace};
use nasforge_space_nb201::{Cell, EDGES, Nb201Space, Op};

/// A proxy table that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct TableError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong.
    pub reason: String,
}

fn error(path: &Path, reason: impl Into<String>) -> TableError {
    TableError { path: path.to_owned(), reason: reason.into() }
}

/// Proxy scores of some architectures of one space, by standard string.
///
/// Not by canonical key, as accuracy tables are: two cells that compute
/// the same function can still differ in their proxies (a convolution on
/// an edge that reaches no output adds parameters, FLOPs and synflow
/// mass), and NASLib's 725 NB201 cells fall into only 445 canonical keys.
#[derive(Clone, Debug, PartialEq)]
pub struct ProxyTable {
    names: Vec<String>,
    /// Ordered, so the moments sum in the same order in every process:
    /// a hash map's order differs per process and so did the last bits
    /// of every normalised score.
    rows: BTreeMap<String, Vec<f64>>,
}

/// NASLib's NAS-Bench-201 op indices, in its order (`OP_NAMES` of
/// `naslib/search_spaces/nasbench201`): Identity, Zero, ReLUConvBN3x3,
/// ReLUConvBN1x1, AvgPool1x1.
const NASLIB_OPS: [Op; 5] = [Op::SkipConnect, Op::None, Op::NorConv3x3, Op::NorConv1x1, Op::AvgPool3x3];

/// Where each edge of NASLib's op tuple goes in the standard string: NASLib
/// orders edges (0→1, 0→2, 0→3, 1→2, 1→3, 2→3), the standard string
/// (0→1, 0→2, 1→2, 0→3, 1→3, 2→3). Checked against the NB201 table's
/// validation accuracies in the tests.
const NASLIB_EDGE_TO_STANDARD: [usize; EDGES] = [0, 1, 3, 2, 4, 5];

impl ProxyTable {
    /// A table from rows of (standard string, scores in `names` order).
    pub fn new(names: Vec<String>, rows: impl IntoIterator<Item = (String, Vec<f64>)>) -> Self {
        Self { names, rows: rows.into_iter().collect() }
    }

    /// Reads a scores CSV: a column `arch` holding `space`'s standard
    /// strings and one numeric column per proxy (empty or `NaN` for a
    /// score that could not be computed).
    pub fn from_csv<S: SearchSpace + ?Sized>(path: impl AsRef<Path>, space: &S) -> Result<Self, TableError> {
        let path = path.as_ref();
        let mut reader = csv::Reader::from_path(path).map_err(|e| error(path, format!("cannot read as CSV: {e}")))?;
        let header = reader.headers().map_err(|e| error(path, format!("no header row: {e}")))?.clone();
        let arch_col = header.iter().position(|h| h == "arch").ok_or_else(|| error(path, "no `arch` column"))?;
        let names: Vec<String> = header.iter().enumerate().filter(|(i, _)| *i != arch_col).map(|(_, h)| h.to_owned()).collect();
        if names.is_empty() {
            return Err(error(path, "no proxy columns beside `arch`"));
        }
        let mut rows = BTreeMap::new();
        for (line, record) in reader.records().enumerate() {
            let line = line + 2;
            let record = record.map_err(|e| error(path, format!("line {line}: {e}")))?;
            let text = record.get(arch_col).unwrap_or_default();
            let arch = space.parse(text).map_err(|e| error(path, format!("line {line}: {e}")))?;
            let mut scores = Vec::with_capacity(names.len());
            for (i, field) in record.iter().enumerate().filter(|(i, _)| *i != arch_col) {
                let field = field.trim();
                let value = if field.is_empty() { f64::NAN } else { field.parse::<f64>().map_err(|_| error(path, format!("line {line}, column `{}`: `{field}` is not a number", header.get(i).unwrap_or_default())))? };
                scores.push(value);
            }
            if rows.insert(space.format(&arch), scores).is_some() {
                return Err(error(path, format!("line {line}: `{text}` repeats an architecture already in the table")));
            }
        }
        Ok(Self { names, rows })
    }

    /// Every row, by key (the standard string), in key order.
    pub fn rows(&self) -> impl Iterator<Item = (&String, &Vec<f64>)> {
        self.rows.iter()
    }

    /// Reads NASLib's NAS-Bench-201 zero-cost JSON (`zc_nasbench201_*.json`)
    /// for one task (`cifar10`, `cifar100`, `ImageNet16-120`): every proxy
    /// score, and NASLib's `val_accuracy` as the column `val_accuracy`.
    pub fn from_naslib_nb201(path: impl AsRef<Path>, task: &str) -> Result<Self, TableError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| error(path, format!("cannot read: {e}")))?;
        let doc: serde_json::Value = serde_json::from_str(&python_json(&text)).map_err(|e| error(path, format!("not JSON: {e}")))?;
        let tasks: Vec<&str> = doc.as_object().map(|o| o.keys().map(String::as_str).collect()).unwrap_or_default();
        let entries = doc
            .get(task)
            .and_then(|t| t.as_object())
            .ok_or_else(|| error(path, format!("no task `{task}`; the file has: {}", tasks.join(", "))))?;
        let mut names: Vec<String> = Vec::new();
        let mut parsed = Vec::with_capacity(entries.len());
        for (arch, entry) in entries {
            let cell = naslib_cell(arch).map_err(|e| error(path, format!("architecture {arch}: {e}")))?;
            let mut scores: Vec<(String, f64)> = entry
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(k, v)| Some((k.clone(), number(v.get("score")?)?)))
                .collect();
            if let Some(v) = entry.get("val_accuracy").and_then(|v| v.as_f64()) {
                scores.push(("val_accuracy".into(), v));
            }
            for (n, _) in &scores {
                if !names.contains(n) {
                    names.push(n.clone());
                }
            }
            parsed.push((cell, scores));
        }
        names.sort();
        let mut rows = BTreeMap::new();
        for (cell, scores) in parsed {
            let row = names.iter().map(|n| scores.iter().find(|(k, _)| k == n).map_or(f64::NAN, |s| s.1)).collect();
            rows.insert(Nb201Space.format(&cell), row);
        }
        Ok(Self { names, rows })
    }

    /// The proxies, in column order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The scores of the architecture whose standard string is `key`.
    pub fn scores(&self, key: &str) -> Option<&[f64]> {
        self.rows.get(key).map(Vec::as_slice)
    }

    /// Rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The mean and standard deviation of each proxy over the table's
    /// finite scores (`(0, 1)` for a proxy with fewer than two).
    pub fn moments(&self) -> Vec<(f64, f64)> {
        (0..self.names.len())
            .map(|i| {
                let v: Vec<f64> = self.rows.values().map(|r| r[i]).collect();
                match crate::stats::mean_sd(&v) {
                    Some((mean, sd)) => (mean, if sd > 0.0 { sd } else { 1.0 }),
                    None => (0.0, 1.0),
                }
            })
            .collect()
    }
}

/// Python's `json` writes NaN and infinities as the bare words `NaN`,
/// `Infinity` and `-Infinity`, which are not JSON (NASLib's files hold
/// `-Infinity` NASWOT scores); outside strings they become the strings
/// [`number`] reads back.
fn python_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else if c == '"' {
            in_string = true;
        } else if let Some((word, as_string)) =
            [("-Infinity", "\"-inf\""), ("Infinity", "\"inf\""), ("NaN", "\"NaN\"")].into_iter().find(|(w, _)| rest.starts_with(w))
        {
            out.push_str(as_string);
            rest = &rest[word.len()..];
            continue;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// A JSON number, or one of the strings [`python_json`] writes.
fn number(v: &serde_json::Value) -> Option<f64> {
    match v.as_str() {
        Some("NaN") => Some(f64::NAN),
        Some("inf") => Some(f64::INFINITY),
        Some("-inf") => Some(f64::NEG_INFINITY),
        Some(_) => None,
        None => v.as_f64(),
    }
}

/// NASLib's NB201 key, an op-index tuple such as `(0, 2, 3, 2, 3, 1)`.
fn naslib_cell(text: &str) -> Result<Cell, String> {
    let digits: Vec<usize> = text
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(|e| format!("{e}")))
        .collect::<Result<_, _>>()?;
    if digits.len() != EDGES {
        return Err(format!("expected {EDGES} op indices, found {}", digits.len()));
    }
    let mut ops = [Op::None; EDGES];
    for (e, &d) in digits.iter().enumerate() {
        ops[NASLIB_EDGE_TO_STANDARD[e]] = *NASLIB_OPS.get(d).ok_or_else(|| format!("op index {d} (NASLib has 5 NB201 ops)"))?;
    }
    Ok(Cell { ops })
}

/// How an architecture's proxies make its score: one proxy as it is, or
/// a weighted sum of proxies each normalised to zero mean and unit
/// variance over the table (raw proxies differ by orders of magnitude).
#[derive(Clone, Debug, PartialEq)]
pub struct Combination {
    /// Column index, weight, and the column's mean and sd.
    terms: Vec<(usize, f64, (f64, f64))>,
    normalised: bool,
}

impl Combination {
    /// The combination of `proxies` with `weights` (1 each when `None`)
    /// over `table`; fails naming the proxies the table lacks.
    pub fn new(table: &ProxyTable, proxies: &[String], weights: Option<&[f64]>) -> Result<Self, String> {
        let moments = table.moments();
        let mut terms = Vec::new();
        for (i, p) in proxies.iter().enumerate() {
            let col = table
                .names()
                .iter()
                .position(|n| n == p)
                .ok_or_else(|| format!("the table has no proxy `{p}`; it has: {}", table.names().join(", ")))?;
            terms.push((col, weights.map_or(1.0, |w| w[i]), moments[col]));
        }
        Ok(Self { normalised: terms.len() > 1, terms })
    }

    /// The score of a row; NaN when a proxy it uses is missing there.
    pub fn score(&self, row: &[f64]) -> f64 {
        if !self.normalised {
            let (col, w, _) = self.terms[0];
            return w * row[col];
        }
        self.terms.iter().map(|&(col, w, (mean, sd))| w * (row[col] - mean) / sd).sum()
    }
}

/// Scores architectures of space `S` from a [`ProxyTable`]: `valid` is the
/// [`Combination`]'s score, every proxy of the row a named metric;
/// architectures outside the table fail as `NotInTable`. A NaN score fails
/// its trial through the runner, like any non-finite objective.
#[derive(Clone)]
pub struct ZeroCostTableEstimator<S> {
    space: S,
    table: Arc<ProxyTable>,
    combination: Combination,
}

impl<S> ZeroCostTableEstimator<S> {
    /// An estimator over `table` for `space`.
    pub fn new(space: S, table: Arc<ProxyTable>, combination: Combination) -> Self {
        Self { space, table, combination }
    }
}

impl<S: SearchSpace + Send> Estimator<S::Arch> for ZeroCostTableEstimator<S> {
    fn name(&self) -> &str {
        "zero-cost-table"
    }

    fn evaluate(&mut self, arch: &S::Arch, _ctx: EvalContext) -> Result<Metrics, EvalError> {
        let key = self.space.format(arch);
        let row = self.table.scores(&key).ok_or(EvalError::NotInTable(key))?;
        let extra = self.table.names().iter().cloned().zip(row.iter().copied()).collect();
        Ok(Metrics { valid: self.combination.score(row), extra, ..Metrics::default() })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn shared(rel: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data").join(rel)
    }

    #[test]
    fn naslibs_nb201_keys_map_to_the_cells_the_benchmark_measured() {
        let t = ProxyTable::from_naslib_nb201(shared("zero-cost/zc_nasbench201_6639fd15.json"), "cifar10").unwrap();
        assert_eq!(t.len(), 725);
        for p in ["synflow", "jacov", "nwot", "snip", "params", "flops", "val_accuracy"] {
            assert!(t.names().iter().any(|n| n == p), "{p} missing from {:?}", t.names());
        }
        // NASLib's val_accuracy against the NB201 table's validation column,
        // under our op and edge mapping: within 0.5 points on average
        // (another edge order lands 3.7 points off).
        let csv = shared("nas-bench-201/nb201_cifar10_v1_1.csv");
        let mut reader = csv::Reader::from_path(&csv).unwrap();
        let header = reader.headers().unwrap().clone();
        let (cs, va) = (header.iter().position(|h| h == "cellstr").unwrap(), header.iter().position(|h| h == "valid_test_top1").unwrap());
        let valid: HashMap<String, f64> = reader
            .records()
            .map(|r| r.unwrap())
            .map(|r| (Nb201Space.format(&Nb201Space.parse(&r[cs]).unwrap()), r[va].parse().unwrap()))
            .collect();
        let col = t.names().iter().position(|n| n == "val_accuracy").unwrap();
        let diffs: Vec<f64> = t.rows.iter().map(|(k, r)| (r[col] - valid[k]).abs()).collect();
        let mean = diffs.iter().sum::<f64>() / diffs.len() as f64;
        assert!(mean < 0.5, "mean |NASLib val − NB201 valid| = {mean}");
        assert!(matches!(ProxyTable::from_naslib_nb201(shared("zero-cost/zc_nasbench201_6639fd15.json"), "mnist"), Err(e) if e.reason.contains("cifar100")));
    }

    #[test]
    fn a_scores_csv_is_keyed_by_standard_string_and_bad_rows_name_their_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scores.csv");
        std::fs::write(
            &path,
            "arch,synflow,nwot\n\
             |nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|,10,2\n\
             |nor_conv_3x3~0|+|skip_connect~0|none~1|+|none~0|none~1|skip_connect~2|,1,\n",
        )
        .unwrap();
        let t = ProxyTable::from_csv(&path, &Nb201Space).unwrap();
        assert_eq!((t.len(), t.names()), (2, &["synflow".to_owned(), "nwot".to_owned()][..]));
        // Keyed by the architecture itself: a cell of the same function
        // but another (dead) operation is another network, with other
        // proxies.
        let dead_differs = Nb201Space.parse("|avg_pool_3x3~0|+|skip_connect~0|none~1|+|none~0|none~1|skip_connect~2|").unwrap();
        assert!(t.scores(&Nb201Space.format(&dead_differs)).is_none());
        let row = t.scores("|nor_conv_3x3~0|+|skip_connect~0|none~1|+|none~0|none~1|skip_connect~2|").unwrap();
        assert!(row[0] == 1.0 && row[1].is_nan());
        let one = Combination::new(&t, &["synflow".into()], None).unwrap();
        assert_eq!(one.score(row), 1.0);
        assert!(Combination::new(&t, &["zen".into()], None).unwrap_err().contains("it has: synflow, nwot"));
        std::fs::write(&path, "arch,synflow\n|nor_conv_3x3~0|+|x|,1\n").unwrap();
        let e = ProxyTable::from_csv(&path, &Nb201Space).unwrap_err().to_string();
        assert!(e.contains("scores.csv: line 2"), "{e}");
        std::fs::write(&path, "arch,synflow\n|none~0|+|none~0|none~1|+|none~0|none~1|none~2|,many\n").unwrap();
        let e = ProxyTable::from_csv(&path, &Nb201Space).unwrap_err().to_string();
        assert!(e.contains("line 2, column `synflow`: `many` is not a number"), "{e}");
    }

    #[test]
    fn normalised_scores_are_the_same_bits_in_every_load() {
        let path = shared("zero-cost/zc_nasbench201_6639fd15.json");
        let moments = |t: &ProxyTable| t.moments().iter().map(|(m, s)| (m.to_bits(), s.to_bits())).collect::<Vec<_>>();
        let a = ProxyTable::from_naslib_nb201(&path, "cifar10").unwrap();
        for _ in 0..5 {
            assert_eq!(moments(&ProxyTable::from_naslib_nb201(&path, "cifar10").unwrap()), moments(&a));
        }
    }

    #[test]
    fn pythons_non_finite_words_are_read_outside_strings_only() {
        let v: serde_json::Value = serde_json::from_str(&python_json(r#"{"a": -Infinity, "b": [NaN, Infinity], "NaN \" -Infinity": 1}"#)).unwrap();
        assert_eq!(number(&v["a"]), Some(f64::NEG_INFINITY));
        assert!(number(&v["b"][0]).unwrap().is_nan());
        assert_eq!(number(&v["b"][1]), Some(f64::INFINITY));
        assert_eq!(v["NaN \" -Infinity"], 1);
    }

    #[test]
    fn several_proxies_combine_as_a_weighted_sum_of_normalised_scores() {
        let rows = HashMap::from([("a".to_owned(), vec![1.0, 100.0]), ("b".to_owned(), vec![3.0, 300.0]), ("c".to_owned(), vec![2.0, 200.0])]);
        let t = ProxyTable::new(vec!["x".into(), "y".into()], rows);
        let c = Combination::new(&t, &["x".into(), "y".into()], Some(&[1.0, 2.0])).unwrap();
        // Both columns normalise to (-1, 1, 0): 1·z + 2·z = 3z.
        assert!((c.score(&[3.0, 300.0]) - 3.0).abs() < 1e-12);
        assert!((c.score(&[2.0, 200.0])).abs() < 1e-12);
    }
}
