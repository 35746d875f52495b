//! Real training through the command line: `nasforge train`, and a search
//! whose estimator trains every candidate (on the small digits set, so the
//! suite stays fast; Fashion-MNIST runs are in the examples).

mod common;

use std::path::{Path, PathBuf};

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

const TRAINER: &str = "[trainer]\nchannels = 4\ncells = 1\nbatch-size = 32\nepochs = 2\nlr = 0.1\n";

#[test]
fn train_reports_accuracy_calibration_and_is_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "train.toml",
        &format!(
            "seed = 3\ncheckpoint = \"net.safetensors\"\n\n[space]\nname = \"nas-bench-201\"\n\
             arch = \"|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|\"\n\n\
             [dataset]\nname = \"digits\"\n\n{TRAINER}"
        ),
    );
    let run = || common::last_json(&common::nasforge(&["train", file.to_str().unwrap(), "--json"]));
    let a = run();
    for key in ["valid", "test", "ece", "params", "seconds"] {
        assert!(a.get(key).is_some(), "{key} missing in {a}");
    }
    assert!(a["test"].as_f64().unwrap() > 0.8, "{a}");
    assert!((0.0..1.0).contains(&a["ece"].as_f64().unwrap()));
    assert!(dir.path().join("net.safetensors").is_file());
    let b = run();
    for key in ["valid", "test", "ece", "params"] {
        assert_eq!(a[key], b[key], "same seed, same {key}");
    }
}

#[test]
fn a_search_with_real_training_journals_every_candidate() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "search.toml",
        &format!(
            "seed = 1\njournal = \"j.sqlite\"\n\n[space]\nname = \"nas-bench-201\"\n\n[strategy]\nname = \"regularized-evolution\"\n\
             population = 3\nsample-size = 2\n\n[estimator]\nname = \"dfdx-train\"\n\n[dataset]\nname = \"digits\"\n\n{TRAINER}\n\
             [budget]\nevaluations = 5\n"
        ),
    );
    let summary = common::last_json(&common::nasforge(&["run", file.to_str().unwrap(), "--json"]));
    assert_eq!(summary["trials"], 5);
    let best = summary["best"]["valid"].as_f64().unwrap();
    assert!(best > 0.3 && best <= 1.0, "{summary}");
    // The stored config rebuilds the trainer: resume replays, adds nothing.
    let again = common::last_json(&common::nasforge(&["resume", dir.path().join("j.sqlite").to_str().unwrap(), "--json"]));
    assert_eq!(again["best"], summary["best"]);
    assert_eq!(again["trials"], 5);
}

#[test]
fn darts_genotypes_are_searched_by_the_lstm_controller_and_trained() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "darts.toml",
        "seed = 2\njournal = \"j.sqlite\"\n\n[space]\nname = \"darts\"\n\n[strategy]\nname = \"reinforce\"\ncontroller = \"lstm\"\n\n\
         [estimator]\nname = \"dfdx-train\"\n\n[dataset]\nname = \"digits\"\n\n\
         [trainer]\nchannels = 4\ncells = 3\nbatch-size = 32\nepochs = 1\nlr = 0.05\n\n[budget]\nevaluations = 3\n",
    );
    let summary = common::last_json(&common::nasforge(&["run", file.to_str().unwrap(), "--json"]));
    assert_eq!(summary["trials"], 3);
    let best = &summary["best"];
    assert!(best["arch"].as_str().unwrap().starts_with("Genotype(normal=["), "{summary}");
    assert!(best["valid"].as_f64().unwrap() > 0.2, "{summary}");
    let again = common::last_json(&common::nasforge(&["resume", dir.path().join("j.sqlite").to_str().unwrap(), "--json"]));
    assert_eq!(again["best"], summary["best"]);
}

#[test]
fn mobilenets_are_searched_with_q_learning_mutation_and_trained() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "mobilenet.toml",
        "seed = 3\n\n[space]\nname = \"mobilenet\"\n\n[strategy]\nname = \"q-mutation\"\npopulation = 2\nsample-size = 2\n\n\
         [estimator]\nname = \"dfdx-train\"\n\n[dataset]\nname = \"digits\"\n\n\
         [trainer]\nwidth = 0.35\nbatch-size = 32\nepochs = 1\nlr = 0.02\n\n[budget]\nevaluations = 4\n",
    );
    let summary = common::last_json(&common::nasforge(&["run", file.to_str().unwrap(), "--json"]));
    assert_eq!(summary["trials"], 4);
    let arch = summary["best"]["arch"].as_str().unwrap();
    assert_eq!(arch.split('|').count(), 6, "{summary}");
    let valid = summary["best"]["valid"].as_f64().unwrap();
    assert!(valid > 0.0 && valid <= 1.0, "{summary}");
}

#[test]
fn auto_gnn_architectures_are_trained_on_cora() {
    let dir = tempfile::tempdir().unwrap();
    let data = common::root().join("../shared/data/graphs/cora.npz");
    let file = write(
        dir.path(),
        "autognn.toml",
        &format!(
            "seed = 4\n\n[space]\nname = \"auto-gnn\"\n\n[strategy]\nname = \"regularized-evolution\"\npopulation = 2\nsample-size = 2\n\n\
             [estimator]\nname = \"dfdx-train\"\n\n[dataset]\nname = \"graph-npz\"\npath = \"{}\"\n\n\
             [trainer]\ndropout = 0.6\nepochs = 30\noptimizer = \"adam\"\nlr = 0.005\n\n[budget]\nevaluations = 3\n",
            data.display()
        ),
    );
    let summary = common::last_json(&common::nasforge(&["run", file.to_str().unwrap(), "--json"]));
    assert_eq!(summary["trials"], 3);
    assert_eq!(summary["best"]["arch"].as_str().unwrap().split('|').count(), 2, "{summary}");
    // Cora's majority class is 30 %.
    assert!(summary["best"]["valid"].as_f64().unwrap() > 0.3, "{summary}");
}

#[test]
fn transformers_are_trained_as_character_language_models() {
    let dir = tempfile::tempdir().unwrap();
    let data = common::root().join("../shared/data/text/tinyshakespeare.txt");
    let file = write(
        dir.path(),
        "lm.toml",
        &format!(
            "seed = 5\njournal = \"j.sqlite\"\n\n[space]\nname = \"transformer\"\n\n[strategy]\nname = \"reinforce\"\n\n\
             [estimator]\nname = \"dfdx-train\"\n\n[dataset]\nname = \"text\"\npath = \"{}\"\n\n\
             [trainer]\nseq-len = 16\nbatch-size = 4\nsteps = 5\noptimizer = \"adam\"\nlr = 0.001\n\n[budget]\nevaluations = 2\n",
            data.display()
        ),
    );
    let summary = common::last_json(&common::nasforge(&["run", file.to_str().unwrap(), "--json"]));
    assert_eq!(summary["trials"], 2);
    let valid = summary["best"]["valid"].as_f64().unwrap();
    assert!(valid > 0.0 && valid < 1.0, "{summary}");
    // The stored config (dataset and seq-len included) replays.
    let again = common::last_json(&common::nasforge(&["resume", dir.path().join("j.sqlite").to_str().unwrap(), "--json"]));
    assert_eq!(again["best"], summary["best"]);
    // An image dataset for a transformer is refused with what it needs.
    let bad = std::fs::read_to_string(&file).unwrap().replace("name = \"text\"", "name = \"digits\"");
    std::fs::write(&file, bad).unwrap();
    let out = common::nasforge(&["run", file.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("trains on a text dataset"), "{stderr}");
}

#[test]
fn broken_training_files_name_the_key_and_the_choices() {
    let dir = tempfile::tempdir().unwrap();
    let base = "[space]\nname = \"nas-bench-201\"\narch = \"|none~0|+|none~0|none~1|+|none~0|none~1|none~2|\"\n\n";
    for (text, expect) in [
        (format!("{base}[dataset]\nname = \"imagenet\"\n\n{TRAINER}"), "valid choices: fashion-mnist, idx, digits"),
        (format!("{base}[dataset]\nname = \"digits\"\n\n{TRAINER}optimizer = \"lamb\"\n"), "key `trainer.optimizer`"),
        (format!("{base}[dataset]\nname = \"digits\"\n\n[trainer]\nchannels = 4\n"), "needs `epochs`, `steps` or `seconds`"),
        (format!("{base}[dataset]\nname = \"idx\"\npath = \"/no/such\"\n\n{TRAINER}"), "no such data folder"),
        (base.replace("none~2", "conv~2") + "[dataset]\nname = \"digits\"\n\n" + TRAINER, "key `space.arch`"),
        (base.replace("nas-bench-201", "transformer") + "[dataset]\nname = \"digits\"\n\n" + TRAINER, "valid choices: nas-bench-201, darts, mobilenet"),
        (base.replace("nas-bench-201", "darts") + "[dataset]\nname = \"digits\"\n\n" + TRAINER, "key `space.arch`"),
        (base.replace("[space]\n", "[space]\nwidth = 0.35\n") + "[dataset]\nname = \"digits\"\n\n" + TRAINER, "`[trainer] width`"),
    ] {
        let file = write(dir.path(), "bad.toml", &text);
        let out = common::nasforge(&["train", file.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && !stderr.contains("panicked"), "{stderr}");
        assert!(stderr.contains(expect), "expected `{expect}` in: {stderr}");
    }
}

#[test]
fn every_example_file_is_a_valid_experiment_or_training_file() {
    let registry = nasforge::families();
    let (mut checked, mut nb301) = (0, false);
    for entry in std::fs::read_dir(common::root().join("examples")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        if text.contains("fashion-mnist") {
            common::require_fashion_mnist();
        }
        if text.contains("[[plugin]]") {
            // Plugin examples name `cargo build -p ...` outputs; check them
            // against the test build of the same plugins.
            let built = format!("{}/", common::example_plugins().display());
            let text = text.replace("../target/debug/", &built);
            let base = path.parent().unwrap();
            let file = path.display().to_string();
            let mut config = nasforge::experiment::parse_str(&registry, &text, &file, base).unwrap_or_else(|e| panic!("{e}"));
            // And they run (fast: tables and synthetic scores only).
            config.journal = None;
            nasforge::experiment::run(&registry, &config, None).unwrap_or_else(|e| panic!("{file}: {e}"));
        } else if text.contains("[trainer]") && !text.contains("[strategy]") {
            nasforge::trainer_dfdx::family::load_train_job(&registry, &path).unwrap_or_else(|e| panic!("{e}"));
        } else {
            let config = nasforge::experiment::load(&registry, &path).unwrap_or_else(|e| panic!("{e}"));
            if config.components.estimator.name() == "nas-bench-301-zero-cost" {
                // The NB301 table is wired for the DARTS space: a run scores
                // what is in the table and fails the rest as not in it.
                let summary = nasforge::experiment::run(&registry, &nasforge::experiment::ExperimentConfig { journal: None, ..config }, None).unwrap();
                assert_eq!(summary.trials, 20);
                assert!(summary.notes[0].contains("725"), "{:?}", summary.notes);
                nb301 = true;
            }
        }
        checked += 1;
    }
    assert!(checked >= 8 && nb301, "{checked}");
}

#[test]
fn a_graph_search_trains_gnn_cells_on_cora() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "gnn.toml",
        "seed = 2\njournal = \"g.sqlite\"\n\n[space]\nname = \"nas-bench-graph\"\n\n[strategy]\nname = \"random-search\"\n\n\
         [estimator]\nname = \"dfdx-train\"\n\n[dataset]\nname = \"graph-npz\"\npath = \"graphs/cora.npz\"\n\n\
         [trainer]\ndim = 16\nepochs = 15\noptimizer = \"adam\"\nlr = 0.01\n\n[budget]\nevaluations = 2\n",
    );
    let summary = common::last_json(&common::nasforge(&["run", file.to_str().unwrap(), "--json"]));
    assert_eq!(summary["trials"], 2);
    assert!(summary["best"]["valid"].as_f64().unwrap() > 0.2, "{summary}");

    // A graph space cannot train on images, nor the other way round.
    let bad = write(dir.path(), "bad.toml", &std::fs::read_to_string(&file).unwrap().replace("name = \"graph-npz\"", "name = \"digits\""));
    let out = common::nasforge(&["run", bad.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("trains on a graph dataset"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_trial_cut_off_before_its_first_step_fails_with_its_reason_and_the_journal_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "cut.toml",
        "seed = 1\njournal = \"j.sqlite\"\n\n[space]\nname = \"nas-bench-201\"\n\n[strategy]\nname = \"random-search\"\n\n\
         [estimator]\nname = \"dfdx-train\"\n\n[dataset]\nname = \"digits\"\n\n\
         [trainer]\nchannels = 4\ncells = 1\nseconds = 0.000000001\n\n[budget]\nevaluations = 3\n",
    );
    let summary = common::last_json(&common::nasforge(&["run", file.to_str().unwrap(), "--json"]));
    assert_eq!((summary["trials"].as_u64(), summary["best"].is_null()), (Some(3), true), "{summary}");
    let journal = dir.path().join("j.sqlite");
    let shown = common::nasforge(&["show", journal.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.status.success(), "{}", String::from_utf8_lossy(&shown.stderr));
    assert!(text.contains("ended before the first step"), "{text}");
    let again = common::last_json(&common::nasforge(&["resume", journal.to_str().unwrap(), "--json"]));
    assert_eq!(again["trials"], 3);
}
