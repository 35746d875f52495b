//! Experiment files through the registry: checked configs round-trip
//! through their stored form; every mistake names line, column, key and
//! the valid choices, whether a section is a `[table]` or inline; pairs of
//! components that do not work together are refused with those that do.

mod common;

use std::path::Path;

use nasforge::experiment::{ConfigError, ExperimentConfig, parse_str};
use nasforge::registry::Kind;

fn nb201_csv() -> String {
    common::data().join("nas-bench-201/nb201_cifar10_v1_1.csv").display().to_string()
}

fn doc(strategy: &str, budget: &str) -> String {
    format!(
        "seed = 4\n\n[space]\nname = \"nas-bench-201\"\n\n[strategy]\n{strategy}\n\n[estimator]\nname = \"nas-bench-201\"\npath = \"{}\"\n\n[budget]\n{budget}\n",
        nb201_csv()
    )
}

fn parse(text: &str) -> Result<ExperimentConfig, ConfigError> {
    parse_str(&nasforge::families(), text, "x.toml", Path::new("."))
}

fn err(text: &str) -> ConfigError {
    parse(text).unwrap_err()
}

#[test]
fn a_valid_file_round_trips_through_its_stored_form() {
    let text = doc("name = \"regularized-evolution\"\npopulation = 30\nsample-size = 7", "evaluations = 50");
    let c = parse(&text).unwrap();
    assert_eq!(c.seed, 4);
    assert_eq!(c.budget.evaluations, Some(50));
    assert_eq!(c.components.strategy.table().get("population").and_then(|v| v.as_integer()), Some(30));
    let again = parse_str(&nasforge::families(), &c.to_toml(), "journal:1", Path::new("/")).unwrap();
    assert_eq!(again, c);
    // Defaults are stored filled in: a later change of a default cannot
    // change what a resumed run rebuilds.
    let c = parse(&doc("name = \"q-mutation\"", "evaluations = 5")).unwrap();
    assert!(c.to_toml().contains("epsilon = 0.2"), "{}", c.to_toml());
    // Defaults that `check` resolves (REINFORCE's step size depends on its
    // controller) are stored resolved, and two spellings of one config
    // store the same.
    let plain = parse(&doc("name = \"reinforce\"", "evaluations = 5")).unwrap();
    let spelled = parse(&doc("name = \"reinforce\"\ncontroller = \"factorised\"\nlr = 0.1", "evaluations = 5")).unwrap();
    assert!(plain.to_toml().contains("controller = \"factorised\"") && plain.to_toml().contains("lr = 0.1"), "{}", plain.to_toml());
    assert_eq!(plain, spelled);
    assert_eq!(nasforge::experiment::experiment_hash(&plain), nasforge::experiment::experiment_hash(&spelled));
    // A training run stores its trainer by name, with every setting.
    let train = "seed = 1\n[space]\nname = \"nas-bench-201\"\n[strategy]\nname = \"random-search\"\n[estimator]\nname = \"dfdx-train\"\n\
                 [dataset]\nname = \"digits\"\n[trainer]\nepochs = 1\n[budget]\nevaluations = 1\n";
    let stored = parse(train).unwrap().to_toml();
    for key in ["name = \"image\"", "momentum = 0.9", "channels = 16", "valid-fraction = 0.1", "seq-len = 64"] {
        assert!(stored.contains(key), "`{key}` missing from:\n{stored}");
    }
    assert_eq!(parse_str(&nasforge::families(), &stored, "journal:1", Path::new("/")).unwrap(), parse(train).unwrap());
}

#[test]
fn errors_name_line_key_and_choices() {
    let e = err(&doc("name = \"regularised-evolution\"", "evaluations = 5"));
    assert_eq!((e.line, e.key.as_deref()), (Some(7), Some("strategy.name")));
    assert!(e.message.contains("random-search, regularized-evolution"), "{e}");

    let e = err(&doc("name = \"regularized-evolution\"\npopulaton = 3", "evaluations = 5"));
    assert_eq!((e.line, e.column, e.key.as_deref()), (Some(8), Some(1), Some("strategy.populaton")));
    assert!(e.message.contains("`population`") && e.message.contains("`sample-size`"), "{e}");

    let e = err(&doc("name = \"regularized-evolution\"\npopulation = \"many\"", "evaluations = 5"));
    assert_eq!((e.line, e.key.as_deref()), (Some(8), Some("strategy.population")));

    let e = err(&doc("name = \"regularized-evolution\"\npopulation = 4\nsample-size = 9", "evaluations = 5"));
    assert_eq!((e.line, e.key.as_deref()), (Some(9), Some("strategy.sample-size")));

    let e = err(&doc("name = \"random-search\"", "evaluations = 0"));
    assert_eq!(e.key.as_deref(), Some("budget.evaluations"));
    let e = err(&doc("name = \"random-search\"", "seconds = -1.0"));
    assert_eq!(e.key.as_deref(), Some("budget.seconds"));

    let e = err(&doc("name = \"random-search\"", "evaluations = 5").replace("seed = 4", "sede = 4"));
    assert_eq!((e.line, e.key.as_deref()), (Some(1), Some("sede")));

    let e = err(&doc("name = \"random-search\"", "evaluations = 5").replace("cifar10_v1_1", "nope"));
    assert_eq!(e.key.as_deref(), Some("estimator.path"));
    assert!(e.message.contains("no such data file"), "{e}");
}

#[test]
fn inline_tables_keep_their_positions() {
    // The same mistakes written as inline tables: positions come from the
    // toml crate's spans, not from scanning the text for `[section]`.
    let text = |strategy: &str| {
        format!(
            "seed = 1\nspace = {{ name = \"nas-bench-201\" }}\nstrategy = {strategy}\nestimator = {{ name = \"nas-bench-201\", path = \"{}\" }}\nbudget = {{ evaluations = 5 }}\n",
            nb201_csv()
        )
    };
    let e = err(&text("{ name = \"regularized-evolution\", population = 0 }"));
    assert_eq!((e.line, e.key.as_deref()), (Some(3), Some("strategy.population")), "{e}");
    assert_eq!(e.column, Some(46), "{e}");
    assert!(e.message.contains("must be at least 2"), "{e}");
    let e = err(&text("{ name = \"regularized-evolution\", popul = 3 }"));
    assert_eq!((e.line, e.column, e.key.as_deref()), (Some(3), Some(46), Some("strategy.popul")), "{e}");
    let e = err(&text("{ name = \"regularized-evolution\", population = \"x\" }"));
    assert_eq!((e.line, e.key.as_deref()), (Some(3), Some("strategy.population")), "{e}");
    let e = err(&text("{ name = \"nsga\" }"));
    assert_eq!((e.line, e.column, e.key.as_deref()), (Some(3), Some(21), Some("strategy.name")), "{e}");
    assert!(parse(&text("{ name = \"regularized-evolution\", population = 10 }")).is_ok());
}

#[test]
fn an_unsupported_pair_lists_the_estimators_that_serve_the_space() {
    let text = doc("name = \"random-search\"", "evaluations = 5");
    let e = err(&text.replace("name = \"nas-bench-201\"\npath", "name = \"nas-bench-graph\"\npath"));
    assert_eq!(e.key.as_deref(), Some("estimator.name"));
    assert!(e.message.contains("estimator `nas-bench-graph` cannot evaluate space `nas-bench-201`; valid choices for it: nas-bench-201, zero-cost, zero-cost-table, predicted, dfdx-train"), "{e}");
    // The graph table keys NAS-Bench-Graph cells of either op set, and
    // only those: darts has NASLib's NB301 table and the training estimator.
    let e = err(&text.replace("name = \"nas-bench-201\"\n\n[strategy]", "name = \"darts\"\n\n[strategy]"));
    assert!(e.message.contains("cannot evaluate space `darts`; valid choices for it: nas-bench-301-zero-cost, zero-cost, zero-cost-table, predicted, dfdx-train"), "{e}");
    let e = err(&text.replace("name = \"nas-bench-201\"\npath", "name = \"no-such-table\"\npath"));
    assert!(e.message.contains("unknown estimator `no-such-table`; valid choices for space `nas-bench-201`: nas-bench-201, zero-cost, zero-cost-table, predicted, dfdx-train"), "{e}");
}

#[test]
fn reinforce_controllers_are_checked_and_round_trip() {
    let e = err(&doc("name = \"reinforce\"\ncontroller = \"gru\"", "evaluations = 5"));
    assert_eq!((e.line, e.key.as_deref()), (Some(8), Some("strategy.controller")));
    assert!(e.message.contains("valid choices: factorised, lstm"), "{e}");
    let e = err(&doc("name = \"reinforce\"\nhidden = 32", "evaluations = 5"));
    assert_eq!((e.line, e.key.as_deref()), (Some(8), Some("strategy.hidden")));
    assert!(e.message.contains("controller = \"lstm\""), "{e}");
    let e = err(&doc("name = \"reinforce\"\ncontroller = \"lstm\"\nhidden = 0", "evaluations = 5"));
    assert_eq!((e.line, e.key.as_deref()), (Some(9), Some("strategy.hidden")));

    let c = parse(&doc("name = \"reinforce\"\ncontroller = \"lstm\"\nhidden = 32", "evaluations = 5")).unwrap();
    let r = c.components.strategy.checked::<nasforge::rl::ReinforceChecked>().unwrap();
    let nasforge::rl::Controller::Lstm(l) = &r.controller else { panic!("{:?}", r.controller) };
    assert_eq!((r.config.params().lr, l.params().hidden), (0.005, 32));
    assert_eq!(parse_str(&nasforge::families(), &c.to_toml(), "x.toml", Path::new(".")).unwrap(), c);
}

#[test]
fn every_u64_seed_round_trips_through_the_stored_config() {
    let base = doc("name = \"random-search\"", "evaluations = 5");
    for seed in [0, 1, i64::MAX as u64, i64::MAX as u64 + 1, u64::MAX] {
        let mut c = parse(&base).unwrap();
        c.seed = seed;
        let again = parse_str(&nasforge::families(), &c.to_toml(), "journal:1", Path::new("/")).unwrap();
        assert_eq!(again.seed, seed, "{}", c.to_toml());
    }
    assert_eq!(parse(&base.replace("seed = 4", "seed = \"18446744073709551615\"")).unwrap().seed, u64::MAX);
    let e = err(&base.replace("seed = 4", "seed = -1"));
    assert_eq!((e.line, e.key.as_deref()), (Some(1), Some("seed")));
    assert!(e.message.contains("as a string"), "{e}");
}

#[test]
fn components_configured_in_code_are_checked_like_sections() {
    let registry = nasforge::families();
    let e = registry.configure(Kind::Strategy, "regularized-evolution", "population = 1").unwrap_err();
    assert_eq!(e.key.as_deref(), Some("population"));
    assert!(registry.configure(Kind::Strategy, "local-search", "first-improvement = true").is_ok());
    let e = registry.configure(Kind::Space, "nas-bench-301", "").unwrap_err();
    assert!(e.message.contains("valid choices: nas-bench-201"), "{e}");
}

#[test]
fn every_registered_component_has_a_description_and_builds_its_defaults() {
    let registry = nasforge::families();
    for (kind, names) in [Kind::Space, Kind::Strategy, Kind::Estimator, Kind::Dataset, Kind::Trainer].map(|k| (k, registry.names(k))) {
        assert!(!names.is_empty(), "{kind:?}");
        for name in names {
            let about = registry.about(kind, name).unwrap();
            assert!(about.about.len() > 20, "{name}: {}", about.about);
        }
    }
    // Every space builds from its defaults and names itself as registered.
    for entry in registry.spaces() {
        let config = registry.configure(Kind::Space, &entry.about.name, "").unwrap();
        let space = entry.build(&config, 0).unwrap();
        assert_eq!(nasforge::core::SearchSpace::name(&space), entry.about.name);
    }
    // Every estimator that serves a space names a registered one.
    for e in registry.estimators() {
        if let nasforge::registry::Serves::Spaces(s) = &e.serves {
            assert!(s.iter().all(|n| registry.space(n).is_some()), "{}: {s:?}", e.about.name);
        }
    }
}
