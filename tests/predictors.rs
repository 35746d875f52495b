//! The predictors family end to end: each predictor-guided strategy from
//! its example file, deterministic under its seed and thread count, and
//! resumed from a journal cut mid-run (what a kill leaves: every finished
//! trial, one commit each) to the uninterrupted run's trials; a search
//! killed for real; the `predicted` estimator ranking unseen cells (with
//! feature rows and with GENNAPE).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nasforge::core::SearchSpace;
use rusqlite::Connection;

/// The trial rows that must be reproducible: no timings (a trained
/// trial's `cost_s` is its measured seconds).
fn trial_rows(journal: &Path) -> Vec<(i64, String, String, Option<String>)> {
    let conn = Connection::open(journal).unwrap();
    let mut stmt = conn.prepare("SELECT trial, arch, status, metrics FROM trials ORDER BY experiment_id, trial").unwrap();
    let untimed = |m: Option<String>| {
        m.map(|m| {
            let mut v: serde_json::Value = serde_json::from_str(&m).unwrap();
            v.as_object_mut().unwrap().remove("cost_s");
            v.to_string()
        })
    };
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, untimed(r.get(3)?)))).unwrap().map(Result::unwrap).collect()
}

fn run(example: &str, journal: &Path, seed: u64, threads: Option<usize>) -> serde_json::Value {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nasforge"));
    cmd.args(["run", &format!("examples/{example}.toml"), "--journal", journal.to_str().unwrap(), "--seed", &seed.to_string(), "--json"])
        .current_dir(common::root())
        .env("NASFORGE_DATA", common::data());
    if let Some(t) = threads {
        cmd.env("RAYON_NUM_THREADS", t.to_string());
    }
    common::last_json(&cmd.output().unwrap())
}

/// A copy of `journal` as a kill after `keep` finished trials leaves it.
fn cut(journal: &Path, keep: i64, to: &Path) {
    std::fs::copy(journal, to).unwrap();
    let c = Connection::open(to).unwrap();
    c.execute("DELETE FROM trials WHERE trial >= ?1", [keep]).unwrap();
    c.execute("UPDATE experiments SET finished_at = NULL", []).unwrap();
    c.execute("DELETE FROM leases", []).unwrap();
}

#[test]
fn each_predictor_guided_strategy_is_deterministic_and_resumes_from_a_cut_journal_to_the_same_trials() {
    let dir = tempfile::tempdir().unwrap();
    for example in ["nb201-gbdt-nas", "nb201-gbdt-nas-3s", "nb201-bananas", "nb201-tpe", "nb201-fbnetv3"] {
        let whole = dir.path().join(format!("{example}.sqlite"));
        let summary = run(example, &whole, 3, None);
        assert_eq!(summary["trials"], 100, "{example}");
        let rows = trial_rows(&whole);
        assert_eq!(rows.len(), 100);

        let again = dir.path().join(format!("{example}-again.sqlite"));
        run(example, &again, 3, Some(1));
        assert_eq!(trial_rows(&again), rows, "{example}: same seed, one thread, same trials");
        let other = dir.path().join(format!("{example}-other.sqlite"));
        run(example, &other, 4, None);
        assert_ne!(trial_rows(&other), rows, "{example}: another seed, another search");

        // Cut inside a round (after 37 trials: mid-queue for the
        // round-based strategies, past TPE's random start).
        let killed = dir.path().join(format!("{example}-cut.sqlite"));
        cut(&whole, 37, &killed);
        assert_eq!(trial_rows(&killed).len(), 37);
        let resumed = common::last_json(&common::nasforge(&["resume", killed.to_str().unwrap(), "--json"]));
        assert_eq!(resumed["trials"], 100, "{example}");
        assert_eq!(resumed["best"], summary["best"], "{example}");
        assert_eq!(trial_rows(&killed), rows, "{example}: the resumed run is the uninterrupted run");
    }
}

#[test]
fn a_predictor_guided_search_killed_mid_run_resumes_to_the_uninterrupted_run() {
    // GBDT-NAS with a budget long enough to kill it mid-run: one refit
    // and a prediction of all 15,625 cells every 10 evaluations.
    let dir = tempfile::tempdir().unwrap();
    let file = common::nb201_experiment(dir.path(), "name = \"gbdt-nas\"", 1_000);
    let killed = dir.path().join("killed.sqlite");
    let mut child = Command::new(env!("CARGO_BIN_EXE_nasforge"))
        .args(["run", file.to_str().unwrap(), "--journal", killed.to_str().unwrap()])
        .env("NASFORGE_DATA", common::data())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    let done_at_kill = loop {
        std::thread::sleep(Duration::from_millis(20));
        let n: i64 = Connection::open(&killed).and_then(|c| c.query_row("SELECT COUNT(*) FROM trials", [], |r| r.get(0))).unwrap_or(0);
        if n >= 150 || Instant::now() > deadline {
            break n;
        }
    };
    assert!(done_at_kill >= 120, "only {done_at_kill} trials in 300 s");
    assert!(child.try_wait().unwrap().is_none(), "the run ended before the kill");
    child.kill().unwrap();
    child.wait().unwrap();
    let after_kill = trial_rows(&killed);
    assert!((after_kill.len() as i64) < 1_000);

    let resumed = common::last_json(&common::nasforge(&["resume", killed.to_str().unwrap(), "--json"]));
    let whole: PathBuf = dir.path().join("whole.sqlite");
    let summary = common::last_json(&common::nasforge(&["run", file.to_str().unwrap(), "--journal", whole.to_str().unwrap(), "--json"]));
    assert_eq!(resumed["trials"], 1_000);
    assert_eq!(resumed["best"], summary["best"]);
    let (resumed_rows, whole_rows) = (trial_rows(&killed), trial_rows(&whole));
    assert_eq!(&resumed_rows[..after_kill.len()], &after_kill[..], "finished trials survive unchanged");
    assert_eq!(resumed_rows, whole_rows);
}

#[test]
fn fbnetv3_searches_cells_and_recipes_with_real_training_and_resumes_to_the_same_trials() {
    // Digits (8×8) keep the training small; the recipe space is real.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fbnetv3.toml");
    std::fs::write(
        &file,
        "seed = 2\njournal = \"j.sqlite\"\n[space]\nname = \"nas-bench-201\"\n[strategy]\nname = \"fbnetv3\"\ninitial = 4\ntop-k = 2\n\
         candidates = 200\npretrain = 300\nepochs = 50\n[estimator]\nname = \"dfdx-train\"\n[dataset]\nname = \"digits\"\n\
         [trainer]\nchannels = 4\ncells = 1\nsearch-batch-size = [16, 32]\nsearch-epochs = [1, 2]\nsearch-lr = [0.05, 0.1]\n[budget]\nevaluations = 8\n",
    )
    .unwrap();
    let journal = dir.path().join("j.sqlite");
    let summary = common::last_json(&common::nasforge(&["run", file.to_str().unwrap(), "--json"]));
    assert_eq!(summary["trials"], 8);
    let rows = trial_rows(&journal);
    assert!(rows.iter().all(|r| r.1.contains(" @ lr=") && r.1.contains(" epochs=") && r.1.contains(" batch-size=")), "{:?}", rows[0].1);
    let recipes: std::collections::HashSet<&str> = rows.iter().map(|r| r.1.split(" @ ").nth(1).unwrap()).collect();
    assert!(recipes.len() > 1, "the recipe is searched: {recipes:?}");
    let best = summary["best"]["valid"].as_f64().unwrap();
    assert!(best > 0.3, "{summary}");

    let killed = dir.path().join("cut.sqlite");
    cut(&journal, 5, &killed);
    let resumed = common::last_json(&common::nasforge(&["resume", killed.to_str().unwrap(), "--json"]));
    assert_eq!(resumed["best"], summary["best"]);
    assert_eq!(trial_rows(&killed), rows, "resumed mid-round: the same cells, recipes and results");

    // A fixed value and a searched list of one hyper-parameter clash.
    let text = std::fs::read_to_string(&file).unwrap().replace("cells = 1\n", "cells = 1\nlr = 0.1\n");
    std::fs::write(&file, text).unwrap();
    let out = common::nasforge(&["run", file.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("search-lr") && stderr.contains("`lr` fixes the value"), "{stderr}");

    // A recipe is a number of epochs: a step budget cannot be one.
    let text = std::fs::read_to_string(&file).unwrap().replace("lr = 0.1\n", "steps = 20\n").replace("search-epochs = [1, 2]\n", "");
    std::fs::write(&file, text).unwrap();
    let out = common::nasforge(&["run", file.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("search-lr") && stderr.contains("a number of epochs"), "{stderr}");
}

/// An experiment whose `predicted` estimator trains on the NB201 table
/// with `keys` (samples, predictor and its settings).
fn predicted_experiment(keys: &str) -> String {
    format!(
        "seed = 1\ndata-root = \"{}\"\n[space]\nname = \"nas-bench-201\"\n[strategy]\nname = \"random-search\"\n\
         [estimator]\nname = \"predicted\"\nlabels = \"nas-bench-201/nb201_cifar10_v1_1.csv\"\narch-column = \"cellstr\"\n\
         label-column = \"valid_top1\"\n{keys}\n[budget]\nevaluations = 10\n",
        common::data().display()
    )
}

/// Spearman's ρ of the estimator `text` builds against the table, over
/// every `step`-th cell.
fn predicted_rho(registry: &nasforge::registry::Registry, text: &str, step: usize) -> f64 {
    let config = nasforge::experiment::parse_str(registry, text, "predicted.toml", Path::new(".")).unwrap();
    let mut stack = nasforge::experiment::build(registry, &config).unwrap();
    let table = nasforge::tabular::Nb201Table::load(common::data().join("nas-bench-201/nb201_cifar10_v1_1.csv")).unwrap();
    let space = nasforge::nb201::Nb201Space;
    let (mut predicted, mut truth) = (Vec::new(), Vec::new());
    for cell in space.enumerate().unwrap().step_by(step) {
        let arch = stack.space.parse(&space.format(&cell)).unwrap();
        let m = stack.estimator.evaluate(&arch, nasforge::core::EvalContext::default()).unwrap();
        predicted.push(m.valid);
        truth.push(table.get(&cell).unwrap().valid);
    }
    nasforge::zero_cost::stats::spearman(&predicted, &truth)
}

#[test]
fn the_predicted_estimator_ranks_cells_it_was_not_trained_on() {
    let registry = nasforge::families();
    let text = predicted_experiment("samples = 1000\npredictor = \"gbdt\"");
    let rho = predicted_rho(&registry, &text, 7);
    assert!(rho > 0.8, "ρ {rho}");

    // A label column that is not there names the columns that are.
    let broken = text.replace("valid_top1", "valid_acc");
    let config = nasforge::experiment::parse_str(&registry, &broken, "predicted.toml", Path::new(".")).unwrap();
    let err = nasforge::experiment::build(&registry, &config).err().expect("no such column").to_string();
    assert!(err.contains("no column `valid_acc`") && err.contains("valid_top1"), "{err}");
}

#[test]
fn the_predicted_estimator_ranks_with_gennape_on_computation_graphs() {
    let registry = nasforge::families();
    let text = predicted_experiment("samples = 200\npredictor = \"gennape\"\npretrain-graphs = 2000");
    let rho = predicted_rho(&registry, &text, 11);
    assert!(rho > 0.55, "ρ {rho}");

    // Keys of the row predictors do not apply to GENNAPE, and GENNAPE's
    // key not to them; an unknown predictor lists all four.
    let parse_err = |text: &str| nasforge::experiment::parse_str(&registry, text, "predicted.toml", Path::new(".")).expect_err("refused").to_string();
    let err = parse_err(&text.replace("pretrain-graphs = 2000", "encoding = \"path\""));
    assert!(err.contains("encoding") && err.contains("computation graph"), "{err}");
    let err = parse_err(&text.replace("\"gennape\"", "\"gbdt\""));
    assert!(err.contains("pretrain-graphs") && err.contains("gennape"), "{err}");
    let err = parse_err(&text.replace("\"gennape\"", "\"svm\""));
    assert!(err.contains("gbdt, forest, mlp-ensemble, gennape"), "{err}");
}
