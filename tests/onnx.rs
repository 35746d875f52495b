//! `nasforge export --format onnx`: the best architecture of a search
//! that trains every candidate (NAS-Bench-201 cells, DARTS genotypes and
//! MobileNets, on the digits), exported with the weights the search kept
//! (`save-weights`) and, retrained by `nasforge train`, with its
//! checkpoint; onnxruntime (PyPI, in `target/onnx-venv`)
//! runs each: its logits match dfdx's within 1e-4 and its test accuracy
//! is the one the journal or the trainer reports. The onnxruntime check
//! is skipped, saying so, only when onnxruntime cannot be installed (no
//! network to PyPI) and `NASFORGE_REQUIRE_ONNXRUNTIME` is unset;
//! `.ci/run` sets it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use nasforge::datasets::Images;
use nasforge::registry::Kind;

/// A Python that imports onnxruntime and numpy, installed on first use.
fn onnxruntime_python() -> Option<PathBuf> {
    let venv = common::root().join("target/onnx-venv");
    let python = venv.join("bin/python");
    let works = |p: &Path| Command::new(p).args(["-c", "import onnxruntime, numpy"]).status().is_ok_and(|s| s.success());
    if works(&python) {
        return Some(python);
    }
    let made = Command::new("python3").args(["-m", "venv"]).arg(&venv).status().is_ok_and(|s| s.success())
        && Command::new(venv.join("bin/pip")).args(["install", "--quiet", "onnxruntime", "numpy"]).status().is_ok_and(|s| s.success());
    (made && works(&python)).then_some(python)
}

/// The Python [`onnxruntime_python`] finds, set up once per test binary:
/// the tests run in parallel, and two pip installs into one venv collide.
fn python() -> Option<PathBuf> {
    static PYTHON: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    let found = PYTHON.get_or_init(onnxruntime_python).clone();
    if found.is_none() {
        // CI sets NASFORGE_REQUIRE_ONNXRUNTIME: there the check must run.
        assert!(std::env::var_os("NASFORGE_REQUIRE_ONNXRUNTIME").is_none(), "onnxruntime could not be installed from PyPI into target/onnx-venv, and NASFORGE_REQUIRE_ONNXRUNTIME is set");
        eprintln!("SKIPPED the onnxruntime check: onnxruntime could not be installed from PyPI into target/onnx-venv");
    }
    found
}

fn f32_file(path: &Path, values: &[f32]) {
    std::fs::write(path, values.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>()).unwrap();
}

const RUN: &str = "import sys, numpy as np, onnxruntime as ort\n\
model, inp, out, n, c, h, w = sys.argv[1:]\n\
x = np.fromfile(inp, dtype='<f4').reshape(int(n), int(c), int(h), int(w))\n\
s = ort.InferenceSession(model, providers=['CPUExecutionProvider'])\n\
assert [i.name for i in s.get_inputs()] == ['input'] and [o.name for o in s.get_outputs()] == ['logits']\n\
s.run(None, {'input': x})[0].astype('<f4').tofile(out)\n";

/// A random search of `space` on the digits that trains 4 candidates
/// and keeps their weights: the journal, the best architecture, its
/// trial's seed and journalled test accuracy.
fn search(dir: &Path, space: &str, trainer: &str) -> (PathBuf, String, u64, f64) {
    let file = dir.join(format!("{space}.toml"));
    std::fs::write(
        &file,
        format!(
            "seed = 2\n[space]\nname = \"{space}\"\n[strategy]\nname = \"random-search\"\n[estimator]\nname = \"dfdx-train\"\n[dataset]\nname = \"digits\"\n\
             {trainer}save-weights = \"{space}-weights\"\n[budget]\nevaluations = 4\n"
        ),
    )
    .unwrap();
    let journal = dir.join(format!("{space}.sqlite"));
    let out = common::last_json(&common::nasforge(&["run", file.to_str().unwrap(), "--journal", journal.to_str().unwrap(), "--json"]));
    let best = out["best"]["arch"].as_str().unwrap().to_owned();
    let (seed, test): (i64, f64) = rusqlite::Connection::open(&journal)
        .unwrap()
        .query_row("SELECT seed, test FROM trials WHERE arch = ?1 ORDER BY trial LIMIT 1", [&best], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    assert_eq!(std::fs::read_dir(dir.join(format!("{space}-weights"))).unwrap().count(), 4, "save-weights keeps every trial's network");
    (journal, best, seed as u64, test)
}

/// `nasforge export --format onnx` of `journal`'s best trial.
fn export(journal: &Path, out: &Path, checkpoint: Option<&Path>) {
    let mut args = vec!["export", journal.to_str().unwrap(), "--best", "--format", "onnx", "--out", out.to_str().unwrap()];
    if let Some(c) = checkpoint {
        args.extend(["--checkpoint", c.to_str().unwrap()]);
    }
    let done = common::nasforge(&args);
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
}

/// `arch` of `space` retrained by `nasforge train` with `trainer` (split
/// seed 0), its checkpoint kept, then `journal`'s best trial exported
/// with that checkpoint: the checkpoint, the model and the trainer's
/// test accuracy.
fn retrain_and_export(dir: &Path, space: &str, arch: &str, trainer: &str, journal: &Path) -> (PathBuf, PathBuf, f64) {
    let train = dir.join("train.toml");
    std::fs::write(&train, format!("seed = 0\ncheckpoint = \"best.safetensors\"\n[space]\nname = \"{space}\"\narch = \"{arch}\"\n[dataset]\nname = \"digits\"\n{trainer}")).unwrap();
    let trained = common::last_json(&common::nasforge(&["train", train.to_str().unwrap(), "--json"]));
    let (checkpoint, model) = (dir.join("best.safetensors"), dir.join(format!("{space}-retrained.onnx")));
    export(journal, &model, Some(&checkpoint));
    (checkpoint, model, trained["test"].as_f64().unwrap())
}

/// The digits' test split for a split seed.
fn test_split(seed: u64) -> Images {
    let registry = nasforge::families();
    let dataset = registry.configure(Kind::Dataset, "digits", "").unwrap();
    registry.dataset("digits").unwrap().load(&dataset, seed).unwrap().downcast::<nasforge::datasets::ImageSplits>().unwrap().test.clone()
}

/// Runs `model` in onnxruntime on `test`: its logits against the dfdx
/// network's (the exporter's own, rebuilt from the journal), and its
/// accuracy against `reported`.
#[allow(clippy::too_many_arguments)] // one per fact of the case checked
fn check(python: &Path, dir: &Path, model: &Path, journal: &Path, space: &str, arch: &str, seed: u64, checkpoint: Option<&Path>, test: &Images, reported: f64) {
    let registry = nasforge::families();
    let experiment = nasforge::journal::Journal::open_read_only(journal).unwrap().experiments().unwrap().remove(0);
    let mut exported = nasforge::trainer_dfdx::onnx::network(&registry, &experiment.config, space, arch, seed, checkpoint).unwrap();
    let (n, shape) = (test.len(), exported.input);
    let reference = exported.net.infer(test.pixels.clone(), n, shape);
    let (input, output, script) = (dir.join("x.bin"), dir.join("y.bin"), dir.join("run.py"));
    f32_file(&input, &test.pixels);
    std::fs::write(&script, RUN).unwrap();
    let ran = Command::new(python).arg(&script).args([model, &input, &output]).args([n, shape.0, shape.1, shape.2].map(|v| v.to_string())).output().unwrap();
    assert!(ran.status.success(), "{}", String::from_utf8_lossy(&ran.stderr));
    let logits: Vec<f32> = std::fs::read(&output).unwrap().chunks(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
    assert_eq!(logits.len(), reference.len());
    let worst = logits.iter().zip(&reference).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    eprintln!("{space} {}: largest |onnxruntime − dfdx| over {n} images' logits: {worst:e}", model.display());
    assert!(worst < 1e-4, "{}: onnxruntime and dfdx differ by {worst}", model.display());
    let classes = logits.len() / n;
    let argmax = |row: &[f32]| row.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
    let correct = logits.chunks(classes).zip(&test.labels).filter(|(row, label)| argmax(row) == **label as usize).count();
    let accuracy = correct as f64 / n as f64;
    assert!((accuracy - reported).abs() <= 1.0 / n as f64 + 1e-12, "{}: onnxruntime's test accuracy {accuracy}, reported {reported}", model.display());
}

#[test]
fn the_best_cell_of_a_training_search_exports_to_onnx_and_runs_in_onnxruntime_as_in_dfdx() {
    let dir = tempfile::tempdir().unwrap();
    let trainer = "[trainer]\nchannels = 4\ncells = 1\nbatch-size = 32\nepochs = 2\nlr = 0.05\n";
    let (journal, best, seed, journal_test) = search(dir.path(), "nas-bench-201", trainer);
    let j = journal.to_str().unwrap();
    let from_search = dir.path().join("search-best.onnx");
    export(&journal, &from_search, None);

    // The best cell retrained by `nasforge train`, exported with its checkpoint.
    let (checkpoint, retrained, trained_test) = retrain_and_export(dir.path(), "nas-bench-201", &best, trainer, &journal);

    // Weights of another architecture are refused, naming the file: the
    // search's kept weights say whose they are.
    let (other_trial, other_arch): (i64, String) = rusqlite::Connection::open(&journal)
        .unwrap()
        .query_row("SELECT trial, arch FROM trials WHERE arch != ?1 ORDER BY trial LIMIT 1", [&best], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    let best_weights = dir.path().join("nas-bench-201-weights").join(format!("{seed:016x}.safetensors"));
    let refused = common::nasforge(&["export", j, "--trial", &other_trial.to_string(), "--format", "onnx", "--checkpoint", best_weights.to_str().unwrap(), "--out", dir.path().join("x.onnx").to_str().unwrap()]);
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && why.contains(best_weights.to_str().unwrap()) && why.contains(&format!("not `{other_arch}`")), "{why}");

    let Some(python) = python() else { return };
    // The search splits with a seed derived from its own, `nasforge train`
    // with its file's.
    let search_split = test_split(nasforge::core::derive_seed(2, "data-split"));
    check(&python, dir.path(), &from_search, &journal, "nas-bench-201", &best, seed, None, &search_split, journal_test);
    check(&python, dir.path(), &retrained, &journal, "nas-bench-201", &best, seed, Some(&checkpoint), &test_split(0), trained_test);
}

#[test]
fn the_best_darts_genotype_of_a_training_search_exports_to_onnx_and_runs_in_onnxruntime_as_in_dfdx() {
    let dir = tempfile::tempdir().unwrap();
    // 4 cells: normal, the two reductions (strided edges, and a factorized
    // reduction preprocessing the cell after a reduction), normal.
    let trainer = "[trainer]\nchannels = 4\ncells = 4\nbatch-size = 32\nepochs = 1\nlr = 0.05\n";
    let (journal, best, seed, journal_test) = search(dir.path(), "darts", trainer);
    let model = dir.path().join("darts-best.onnx");
    export(&journal, &model, None);
    // The best genotype retrained by `nasforge train`, with its checkpoint.
    let (checkpoint, retrained, trained_test) = retrain_and_export(dir.path(), "darts", &best, trainer, &journal);
    let Some(python) = python() else { return };
    let split = test_split(nasforge::core::derive_seed(2, "data-split"));
    check(&python, dir.path(), &model, &journal, "darts", &best, seed, None, &split, journal_test);
    check(&python, dir.path(), &retrained, &journal, "darts", &best, seed, Some(&checkpoint), &test_split(0), trained_test);
    // Every trial: four random genotypes between them use (nearly) every
    // operation.
    let trials: Vec<(i64, String, i64, f64)> = {
        let c = rusqlite::Connection::open(&journal).unwrap();
        let mut stmt = c.prepare("SELECT trial, arch, seed, test FROM trials ORDER BY trial").unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).unwrap().map(Result::unwrap).collect()
    };
    let ops = ["max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5"];
    let used: Vec<&str> = ops.iter().copied().filter(|op| trials.iter().any(|t| t.1.contains(op))).collect();
    assert!(used.len() >= 6, "the trials use {used:?}");
    for (trial, arch, seed, test) in trials {
        let model = dir.path().join(format!("darts-{trial}.onnx"));
        let out = common::nasforge(&["export", journal.to_str().unwrap(), "--trial", &trial.to_string(), "--format", "onnx", "--out", model.to_str().unwrap()]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        check(&python, dir.path(), &model, &journal, "darts", &arch, seed as u64, None, &split, test);
    }
}

#[test]
fn the_best_mobilenet_of_a_training_search_exports_to_onnx_and_runs_in_onnxruntime_as_in_dfdx() {
    let dir = tempfile::tempdir().unwrap();
    let trainer = "[trainer]\nwidth = 0.35\nbatch-size = 32\nepochs = 1\nlr = 0.05\n";
    let (journal, best, seed, journal_test) = search(dir.path(), "mobilenet", trainer);
    let model = dir.path().join("mobilenet-best.onnx");
    export(&journal, &model, None);
    // The best network retrained by `nasforge train`, with its checkpoint.
    let (checkpoint, retrained, trained_test) = retrain_and_export(dir.path(), "mobilenet", &best, trainer, &journal);
    let Some(python) = python() else { return };
    check(&python, dir.path(), &model, &journal, "mobilenet", &best, seed, None, &test_split(nasforge::core::derive_seed(2, "data-split")), journal_test);
    check(&python, dir.path(), &retrained, &journal, "mobilenet", &best, seed, Some(&checkpoint), &test_split(0), trained_test);
}
