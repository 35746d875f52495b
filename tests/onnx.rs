//! `nasforge export --format onnx`: the best NB201 cell of a search that
//! trains every candidate, exported with the weights the search kept
//! (`save-weights`) and, retrained by `nasforge train`, with its
//! checkpoint; onnxruntime (PyPI, in `target/onnx-venv`) runs both: their
//! logits match dfdx's within 1e-4 and their test accuracy is the one
//! the journal and the trainer report. The onnxruntime check is skipped,
//! saying so, only when onnxruntime cannot be installed (no network to
//! PyPI) and `NASFORGE_REQUIRE_ONNXRUNTIME` is unset; `.ci/run` sets it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

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

fn f32_file(path: &Path, values: &[f32]) {
    std::fs::write(path, values.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>()).unwrap();
}

const RUN: &str = "import sys, numpy as np, onnxruntime as ort\n\
model, inp, out, n, c, h, w = sys.argv[1:]\n\
x = np.fromfile(inp, dtype='<f4').reshape(int(n), int(c), int(h), int(w))\n\
s = ort.InferenceSession(model, providers=['CPUExecutionProvider'])\n\
assert [i.name for i in s.get_inputs()] == ['input'] and [o.name for o in s.get_outputs()] == ['logits']\n\
s.run(None, {'input': x})[0].astype('<f4').tofile(out)\n";

#[test]
fn the_best_cell_of_a_training_search_exports_to_onnx_and_runs_in_onnxruntime_as_in_dfdx() {
    let dir = tempfile::tempdir().unwrap();
    let trainer = "[trainer]\nchannels = 4\ncells = 1\nbatch-size = 32\nepochs = 2\nlr = 0.05\n";
    let search_trainer = format!("{trainer}save-weights = \"weights\"\n");
    let search = dir.path().join("search.toml");
    std::fs::write(
        &search,
        format!("seed = 2\n[space]\nname = \"nas-bench-201\"\n[strategy]\nname = \"random-search\"\n[estimator]\nname = \"dfdx-train\"\n[dataset]\nname = \"digits\"\n{search_trainer}[budget]\nevaluations = 4\n"),
    )
    .unwrap();
    let journal = dir.path().join("search.sqlite");
    let j = journal.to_str().unwrap();
    let best = common::last_json(&common::nasforge(&["run", search.to_str().unwrap(), "--journal", j, "--json"]))["best"]["arch"].as_str().unwrap().to_owned();

    let (seed, journal_test): (i64, f64) = rusqlite::Connection::open(&journal)
        .unwrap()
        .query_row("SELECT seed, test FROM trials WHERE arch = ?1 ORDER BY trial LIMIT 1", [&best], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    let saved = std::fs::read_dir(dir.path().join("weights")).unwrap().count();
    assert_eq!(saved, 4, "save-weights keeps every trial's network");

    // The search's own weights of its best trial.
    let from_search = dir.path().join("search-best.onnx");
    let out = common::nasforge(&["export", j, "--best", "--format", "onnx", "--out", from_search.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // The best cell retrained by `nasforge train`, exported with its checkpoint.
    let train = dir.path().join("train.toml");
    std::fs::write(&train, format!("seed = 0\ncheckpoint = \"best.safetensors\"\n[space]\nname = \"nas-bench-201\"\narch = \"{best}\"\n[dataset]\nname = \"digits\"\n{trainer}")).unwrap();
    let trained = common::last_json(&common::nasforge(&["train", train.to_str().unwrap(), "--json"]));
    let checkpoint = dir.path().join("best.safetensors");
    let retrained = dir.path().join("retrained.onnx");
    let out = common::nasforge(&["export", j, "--best", "--format", "onnx", "--checkpoint", checkpoint.to_str().unwrap(), "--out", retrained.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Weights of another architecture are refused, naming the file: the
    // search's kept weights say whose they are.
    let (other_trial, other_arch): (i64, String) = rusqlite::Connection::open(&journal)
        .unwrap()
        .query_row("SELECT trial, arch FROM trials WHERE arch != ?1 ORDER BY trial LIMIT 1", [&best], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    let best_weights = dir.path().join("weights").join(format!("{:016x}.safetensors", seed as u64));
    let refused = common::nasforge(&["export", j, "--trial", &other_trial.to_string(), "--format", "onnx", "--checkpoint", best_weights.to_str().unwrap(), "--out", dir.path().join("x.onnx").to_str().unwrap()]);
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && why.contains(best_weights.to_str().unwrap()) && why.contains(&format!("not `{other_arch}`")), "{why}");

    // The test splits each scored: the search splits with a seed derived
    // from its own, `nasforge train` with its file's.
    let registry = nasforge::families();
    let dataset = registry.configure(Kind::Dataset, "digits", "").unwrap();
    let split = |seed: u64| registry.dataset("digits").unwrap().load(&dataset, seed).unwrap().downcast::<nasforge::datasets::ImageSplits>().unwrap().test.clone();
    let experiment = nasforge::journal::Journal::open_existing(&journal).unwrap().experiments().unwrap().remove(0);

    let Some(python) = onnxruntime_python() else {
        // CI sets NASFORGE_REQUIRE_ONNXRUNTIME: there the check must run.
        assert!(std::env::var_os("NASFORGE_REQUIRE_ONNXRUNTIME").is_none(), "onnxruntime could not be installed from PyPI into target/onnx-venv, and NASFORGE_REQUIRE_ONNXRUNTIME is set");
        eprintln!("SKIPPED the onnxruntime check: onnxruntime could not be installed from PyPI into target/onnx-venv");
        return;
    };
    let cases = [
        (&from_search, None, split(nasforge::core::derive_seed(experiment.seed, "data-split")), journal_test, "the search's trial"),
        (&retrained, Some(checkpoint.as_path()), split(0), trained["test"].as_f64().unwrap(), "nasforge train"),
    ];
    for (model, checkpoint, test, reported, what) in cases {
        let exported = nasforge::trainer_dfdx::onnx::network(&registry, &experiment.config, "nas-bench-201", &best, seed as u64, checkpoint).unwrap();
        let (mut net, shape) = (exported.net, exported.input);
        let n = test.len();
        let reference = nasforge::trainer_dfdx::train::infer(&mut net, test.pixels.clone(), n, shape);
        let (input, output, script) = (dir.path().join("x.bin"), dir.path().join("y.bin"), dir.path().join("run.py"));
        f32_file(&input, &test.pixels);
        std::fs::write(&script, RUN).unwrap();
        let ran = Command::new(&python).arg(&script).args([model, &input, &output]).args([n, shape.0, shape.1, shape.2].map(|v| v.to_string())).output().unwrap();
        assert!(ran.status.success(), "{}", String::from_utf8_lossy(&ran.stderr));
        let logits: Vec<f32> = std::fs::read(&output).unwrap().chunks(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
        assert_eq!(logits.len(), reference.len());
        let worst = logits.iter().zip(&reference).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(worst < 1e-4, "{what}: onnxruntime and dfdx differ by {worst}");
        let classes = logits.len() / n;
        let argmax = |row: &[f32]| row.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
        let correct = logits.chunks(classes).zip(&test.labels).filter(|(row, label)| argmax(row) == **label as usize).count();
        let accuracy = correct as f64 / n as f64;
        assert!((accuracy - reported).abs() <= 1.0 / n as f64 + 1e-12, "{what}: onnxruntime's test accuracy {accuracy}, reported {reported}");
    }
}
