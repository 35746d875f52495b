//! Plugins end to end: the example plugins are built as real cdylibs (in
//! their own target folder, so that this test never waits on the outer
//! cargo's lock) and loaded through the host, from experiment files.

mod common;

use std::path::Path;

use common::example_plugins as plugins;
use nasforge::registry::Registry;
use nasforge_experiment::{ExperimentError, RunError};

fn registry() -> Registry {
    nasforge::families()
}

fn parse_str(text: &str, file: &str, base: &Path) -> Result<nasforge_experiment::ExperimentConfig, nasforge_experiment::ConfigError> {
    nasforge_experiment::parse_str(&registry(), text, file, base)
}

fn run(config: &nasforge_experiment::ExperimentConfig, progress: Option<&mut dyn FnMut(nasforge_experiment::Progress)>) -> Result<nasforge_experiment::RunSummary, ExperimentError> {
    nasforge_experiment::run(&registry(), config, progress)
}

fn lib(name: &str) -> String {
    let file = format!("{}nasforge_plugin_{}{}", std::env::consts::DLL_PREFIX, name.replace('-', "_"), std::env::consts::DLL_SUFFIX);
    plugins().join(file).display().to_string()
}

fn csv() -> String {
    common::data().join("nas-bench-201/nb201_cifar10_v1_1.csv").display().to_string()
}

/// An NB201 experiment whose strategy and estimator sections, and plugin
/// entries, are given.
fn nb201(plugins: &str, strategy: &str, estimator: &str) -> String {
    format!(
        "seed = 3\n{plugins}\n[space]\nname = \"nas-bench-201\"\n\n[strategy]\n{strategy}\n\n[estimator]\n{estimator}\n\n[budget]\nevaluations = 300\n"
    )
}

fn table_plugin(name: &str, path: &str) -> String {
    format!("[[plugin]]\nname = \"{name}\"\nkind = \"estimator\"\npath = \"{path}\"\n[plugin.config]\npath = \"{}\"\n", csv())
}

fn run_text(text: &str) -> Result<nasforge_experiment::RunSummary, ExperimentError> {
    let config = parse_str(text, "test.toml", &common::root()).map_err(ExperimentError::from)?;
    run(&config, None)
}

const REA: &str = "name = \"regularized-evolution\"\npopulation = 20\nsample-size = 5";

#[test]
fn an_estimator_plugin_wrapping_the_table_gives_the_built_in_results() {
    let builtin = run_text(&nb201("", REA, &format!("name = \"nas-bench-201\"\npath = \"{}\"", csv()))).unwrap();
    let plugin = run_text(&nb201(&table_plugin("nb201-table", &lib("nb201-table")), REA, "name = \"nb201-table\"")).unwrap();
    assert_eq!(plugin.best, builtin.best);
    assert_eq!((plugin.trials, plugin.failed), (builtin.trials, builtin.failed));
}

#[test]
fn a_strategy_plugin_searches_deterministically() {
    let text = nb201(
        &format!("[[plugin]]\nname = \"simulated-annealing\"\nkind = \"strategy\"\npath = \"{}\"\n", lib("simulated-annealing")),
        "name = \"simulated-annealing\"",
        &format!("name = \"nas-bench-201\"\npath = \"{}\"", csv()),
    );
    let a = run_text(&text).unwrap();
    let b = run_text(&text).unwrap();
    assert_eq!(a.best, b.best);
    // Annealing over 300 cells finds a good one (random search's mean best
    // validation accuracy is about 91.1).
    assert!(a.best.unwrap().valid > 90.5);
    let other_seed = run_text(&text.replace("seed = 3", "seed = 4")).unwrap();
    assert_eq!(other_seed.trials, 300);
}

#[test]
fn a_plugin_space_runs_with_a_plugin_estimator_and_survives_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "seed = 0\njournal = \"j.sqlite\"\n[[plugin]]\nname = \"mlp-chain\"\nkind = \"search-space\"\npath = \"{}\"\n\n\
         [[plugin]]\nname = \"synthetic-score\"\nkind = \"estimator\"\npath = \"{}\"\n\n\
         [space]\nname = \"mlp-chain\"\n\n[strategy]\n{REA}\n\n[estimator]\nname = \"synthetic-score\"\n\n[budget]\nevaluations = 120\n",
        lib("mlp-chain"),
        lib("synthetic-score")
    );
    let config = parse_str(&text, "mlp.toml", dir.path()).unwrap();
    // What the journal stores (everything but the journal's own path)
    // reads back to the same checked config.
    let stored = parse_str(&config.to_toml(), "stored", dir.path()).unwrap();
    assert_eq!(stored, nasforge_experiment::ExperimentConfig { journal: None, ..config.clone() });
    let summary = run(&config, None).unwrap();
    assert_eq!(summary.trials, 120);
    let best = summary.best.unwrap();
    assert!(best.arch.split('|').all(|l| l.contains('-')), "{}", best.arch);
    assert!(best.valid > 0.8, "{best:?}");
    // The CLI runs the same file, with its journal.
    std::fs::write(dir.path().join("mlp.toml"), &text).unwrap();
    let out = common::nasforge(&["run", dir.path().join("mlp.toml").to_str().unwrap(), "--json"]);
    assert_eq!(common::last_json(&out)["best"]["arch"], best.arch);
    assert!(dir.path().join("j.sqlite").exists());
}

#[test]
fn reinforce_and_q_mutation_use_a_plugin_spaces_decisions() {
    // Protocol 1.1 carries the decision view across the boundary.
    let text = |strategy: &str| {
        format!(
            "seed = 5\n[[plugin]]\nname = \"mlp-chain\"\nkind = \"search-space\"\npath = \"{}\"\n\n\
             [[plugin]]\nname = \"synthetic-score\"\nkind = \"estimator\"\npath = \"{}\"\n\n\
             [space]\nname = \"mlp-chain\"\n\n[strategy]\n{strategy}\n\n[estimator]\nname = \"synthetic-score\"\n\n[budget]\nevaluations = 150\n",
            lib("mlp-chain"),
            lib("synthetic-score")
        )
    };
    let random = run_text(&text("name = \"random-search\"")).unwrap().best.unwrap().valid;
    for strategy in ["name = \"reinforce\"", "name = \"reinforce\"\ncontroller = \"lstm\"", "name = \"q-mutation\""] {
        let a = run_text(&text(strategy)).unwrap();
        let b = run_text(&text(strategy)).unwrap();
        assert_eq!(a.trials, 150, "{strategy}");
        assert_eq!(a.best, b.best, "{strategy}: same seed, same result");
        let best = a.best.unwrap();
        assert!(best.valid > 0.8 * random, "{strategy}: {best:?} vs random {random}");
    }
}

#[test]
fn every_strategy_searches_the_spaces_with_an_estimator_plugin() {
    // No built-in estimator evaluates hytra candidates yet (transformer
    // and auto-gnn ones are trained for real in tests/training.rs); an
    // estimator plugin can evaluate all three (here the data-free
    // synthetic one, so only that the searches run and repeat is checked).
    let text = |space: &str, strategy: &str| {
        format!(
            "seed = 1\n[[plugin]]\nname = \"synthetic-score\"\nkind = \"estimator\"\npath = \"{}\"\n\n\
             [space]\nname = \"{space}\"\n\n[strategy]\n{strategy}\n\n[estimator]\nname = \"synthetic-score\"\n\n[budget]\nevaluations = 40\n",
            lib("synthetic-score")
        )
    };
    let strategies = [
        "name = \"random-search\"",
        "name = \"regularized-evolution\"\npopulation = 10\nsample-size = 3",
        "name = \"local-search\"",
        "name = \"nsga2\"\npopulation = 10\nobjectives = [\"valid\", \"synthetic\"]",
        "name = \"reinforce\"",
        "name = \"reinforce\"\ncontroller = \"lstm\"",
        "name = \"q-mutation\"\npopulation = 10\nsample-size = 3",
    ];
    for space in ["transformer", "auto-gnn", "hytra"] {
        for strategy in strategies {
            let a = run_text(&text(space, strategy)).unwrap_or_else(|e| panic!("{space}, {strategy}: {e}"));
            assert_eq!(a.trials, 40, "{space}, {strategy}");
            assert_eq!(a.best, run_text(&text(space, strategy)).unwrap().best, "{space}, {strategy}");
        }
        let e = parse_str(&text(space, "name = \"random-search\"").replace("name = \"synthetic-score\"\n\n[budget]", "name = \"nas-bench-201\"\n\n[budget]"), "x.toml", Path::new("."))
            .unwrap_err();
        // Transformer and Auto-GNN networks are also trained for real.
        let expected = if space == "hytra" { "valid choices for it: zero-cost-table, predicted, synthetic-score" } else { "valid choices for it: zero-cost, zero-cost-table, predicted, dfdx-train, synthetic-score" };
        assert!(e.message.contains(expected), "{e}");
    }
}

#[test]
fn a_plugin_that_panics_stops_the_search_with_its_message_and_the_host_lives_on() {
    let panicking = |mode: &str| {
        format!("[[plugin]]\nname = \"panicking\"\nkind = \"estimator\"\npath = \"{}\"\n[plugin.config]\npanic-in = \"{mode}\"\ncalls-before-panic = 5\n", lib("panicking"))
    };
    let err = run_text(&nb201(&panicking("create"), REA, "name = \"panicking\"")).unwrap_err();
    assert!(err.to_string().contains("panicked: deliberate panic in create"), "{err}");

    let err = run_text(&nb201(&panicking("call"), REA, "name = \"panicking\"")).unwrap_err();
    assert!(matches!(err, ExperimentError::Run(RunError::ComponentFailed(_))), "{err}");
    assert!(err.to_string().contains("deliberate panic while estimating"), "{err}");

    // Failed evaluations are ordinary trial failures.
    let s = run_text(&nb201(&panicking("error"), REA, "name = \"panicking\"")).unwrap();
    assert_eq!((s.trials, s.failed), (300, 300));
}

#[test]
fn loading_refuses_what_is_not_the_declared_plugin() {
    let estimator = "name = \"x\"";
    let strategy = "name = \"random-search\"";
    let expect = |plugin: String, needle: &str| {
        let err = run_text(&nb201(&plugin, strategy, estimator)).unwrap_err().to_string();
        assert!(err.contains(needle), "expected `{needle}` in: {err}");
    };
    // Another plugin's library under this name.
    expect(table_plugin("x", &lib("synthetic-score")), "is the plugin `synthetic-score`, not `x`");
    // The right library, declared with the wrong kind.
    let wrong_kind = format!("[[plugin]]\nname = \"simulated-annealing\"\nkind = \"estimator\"\npath = \"{}\"\n", lib("simulated-annealing"));
    let err = run_text(&nb201(&wrong_kind, strategy, "name = \"simulated-annealing\"")).unwrap_err().to_string();
    assert!(err.contains("the manifest says kind `estimator`") && err.contains("is a strategy"), "{err}");
    // A pin that does not match.
    let mut pinned = table_plugin("x", &lib("nb201-table"));
    pinned = pinned.replace("[plugin.config]", &format!("sha256 = \"{}\"\n[plugin.config]", "ab".repeat(32)));
    expect(pinned, "refusing to load it");
    // A file that is no shared library.
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("libgarbage.so");
    std::fs::write(&garbage, b"\x7fELF but not really").unwrap();
    expect(table_plugin("x", &garbage.display().to_string()), "is not a shared library this machine can load");
    // A shared library that is no nasforge plugin: the C library itself.
    if let Some(libc) = ["/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libc.so.6", "/lib64/libc.so.6"].iter().find(|p| Path::new(p).exists()) {
        expect(table_plugin("x", libc), "exports no `NASFORGE_PLUGIN_HEADER`");
    }
    // A missing file is a config error, with line and key.
    let err = run_text(&nb201(&table_plugin("x", "/nonexistent/libx.so"), strategy, estimator)).unwrap_err().to_string();
    assert!(err.starts_with("test.toml:") && err.contains("key `plugin.path`") && err.contains("no such plugin library"), "{err}");
}

#[test]
fn the_example_plugins_pass_the_conformance_kit_and_a_faulty_one_does_not() {
    use nasforge_plugin_conformance::{Kind, Manifest, check};
    let manifest = |name: &str, kind, config| Manifest { name: name.into(), kind, path: lib(name).into(), sha256: None, config, base: common::root() };
    for m in [
        manifest("mlp-chain", Kind::SearchSpace, serde_json::json!({})),
        manifest("simulated-annealing", Kind::Strategy, serde_json::json!({})),
        manifest("nb201-table", Kind::Estimator, serde_json::json!({ "path": csv() })),
        manifest("synthetic-score", Kind::Estimator, serde_json::json!({})),
    ] {
        let report = check(&m, &nasforge::nb201::Nb201Space);
        assert!(report.passed(), "{}:\n{report}", m.name);
        assert!(report.checks.len() >= 6, "{}:\n{report}", m.name);
    }
    let faulty = check(&manifest("panicking", Kind::Estimator, serde_json::json!({ "calls-before-panic": 0 })), &nasforge::nb201::Nb201Space);
    assert!(!faulty.passed());
    assert!(faulty.failures()[0].failure.as_ref().unwrap().contains("panicked"), "{faulty}");
}

#[test]
fn plugins_list_shows_versions_and_load_status() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("libbroken.so");
    std::fs::write(&garbage, b"nope").unwrap();
    let file = dir.path().join("e.toml");
    let text = format!(
        "{}\n[[plugin]]\nname = \"broken\"\nkind = \"strategy\"\npath = \"{}\"\n",
        table_plugin("nb201-table", &lib("nb201-table")),
        garbage.display()
    );
    std::fs::write(&file, nb201(&text, REA, "name = \"nb201-table\"")).unwrap();
    let out = common::nasforge(&["plugins", "list", file.to_str().unwrap(), "--json"]);
    // A plugin that does not load fails the command, after the listing.
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 of 2 plugins failed"), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let rows: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(rows[0]["name"], "nb201-table");
    assert_eq!(rows[0]["loaded"], true);
    assert_eq!(rows[0]["protocol"], "1.2.0");
    assert_eq!(rows[1]["loaded"], false);
    assert!(rows[1]["status"].as_str().unwrap().contains("not a shared library"), "{rows}");

    // A plugin that loads but refuses its `[plugin.config]` is not "ok".
    let bad_config = format!("[[plugin]]\nname = \"panicking\"\nkind = \"estimator\"\npath = \"{}\"\n[plugin.config]\npanic-in = \"create\"\n", lib("panicking"));
    std::fs::write(&file, nb201(&bad_config, REA, "name = \"panicking\"")).unwrap();
    let out = common::nasforge(&["plugins", "list", file.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success() && stdout.contains("deliberate panic in create"), "{stdout}");
}

#[test]
fn a_plugin_named_under_the_wrong_kind_or_given_parameters_in_the_wrong_place_says_what_to_do() {
    let annealing = format!("[[plugin]]\nname = \"simulated-annealing\"\nkind = \"estimator\"\npath = \"{}\"\n", lib("simulated-annealing"));
    let table = format!("name = \"nas-bench-201\"\npath = \"{}\"", csv());
    let e = parse_str(&nb201(&annealing, "name = \"simulated-annealing\"", &table), "x.toml", Path::new(".")).unwrap_err();
    assert!(e.message.contains("`simulated-annealing` is an estimator"), "{e}");
    let right = annealing.replace("kind = \"estimator\"", "kind = \"strategy\"");
    let e = parse_str(&nb201(&right, "name = \"simulated-annealing\"\nsteps = 3", &table), "x.toml", Path::new(".")).unwrap_err();
    assert_eq!(e.key.as_deref(), Some("strategy.steps"), "{e}");
    assert!(e.message.contains("takes its parameters in `[plugin.config]`"), "{e}");
}
