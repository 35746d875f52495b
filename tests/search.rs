//! End-to-end searches: quality against the published reference figures,
//! determinism, the journal, kill and resume, and clear errors for broken
//! experiment files.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nasforge::experiment;
use nasforge::registry::{Configured, Kind, Registry};
use rusqlite::Connection;

fn registry() -> Registry {
    nasforge::families()
}

/// A strategy configured as an experiment file's `[strategy]` would be.
fn strategy(name: &str, body: &str) -> Configured {
    registry().configure(Kind::Strategy, name, body).unwrap()
}

/// The mean test score of the best-by-validation trial over seeds 1..=20.
fn mean_best_test(file: &str, strategy: Option<Configured>) -> f64 {
    let registry = registry();
    let mut config = experiment::load(&registry, common::root().join("examples").join(file)).unwrap();
    config.journal = None;
    if let Some(s) = strategy {
        config.components.strategy = s;
    }
    let total: f64 = (1..=20)
        .map(|seed| {
            config.seed = seed;
            experiment::run(&registry, &config, None).unwrap().best.unwrap().test.unwrap()
        })
        .sum();
    total / 20.0
}

#[test]
fn regularized_evolution_reaches_the_reference_quality() {
    // On NB201 at 300 evaluations random search's exact expectation is
    // 93.96 and the optimum 94.37 (`cargo xtask repro nb201-search`). On Cora, random search's exact expected test
    // accuracy at 100 evaluations is 0.7998 (`cargo xtask repro
    // nbgraph-search`); no published figure at this budget was found.
    let rea = mean_best_test("nb201-regularized-evolution.toml", None);
    let random = mean_best_test("nb201-regularized-evolution.toml", Some(strategy("random-search", "")));
    assert!(rea >= 94.2, "REA mean test {rea}");
    assert!(random < rea, "random {random} vs REA {rea}");
    let cora = mean_best_test("nbgraph-cora-regularized-evolution.toml", None);
    assert!(cora >= 0.795, "REA mean test on Cora {cora}");
}

#[test]
fn reinforce_beats_the_published_reinforce() {
    // NAS-Bench-201 paper: REINFORCE 93.85 ± 0.37 (CIFAR-10 test).
    let rf = mean_best_test("nb201-reinforce.toml", None);
    assert!(rf >= 93.9, "REINFORCE mean test {rf}");
}

#[test]
fn the_lstm_controller_beats_the_published_reinforce() {
    // NASNet/ENAS controller (dfdx LSTM, Adam 0.005). Measured: 94.24
    // (`cargo xtask strategy-table --strategies reinforce-lstm`).
    let rf = mean_best_test("nb201-reinforce-lstm.toml", None);
    assert!(rf >= 93.9, "REINFORCE (LSTM) mean test {rf}");
}

#[test]
fn q_learning_mutation_is_on_par_with_regularized_evolution() {
    // Measured: 94.26 (REA 94.28, random search 93.94).
    let q = mean_best_test("nb201-q-mutation.toml", None);
    assert!(q >= 94.2, "Q-mutation mean test {q}");
}

#[test]
fn every_strategy_searches_nas_bench_macro() {
    // The benchmark's best mean accuracy is 93.13; 100 of 6,561 cells.
    let rea = mean_best_test("nbmacro-regularized-evolution.toml", None);
    let random = mean_best_test("nbmacro-regularized-evolution.toml", Some(strategy("random-search", "")));
    assert!(rea > random && rea > 92.8, "REA {rea}, random {random}");
    for strategy in [strategy("local-search", ""), strategy("reinforce", ""), strategy("q-mutation", "")] {
        let name = strategy.name().to_owned();
        let s = mean_best_test("nbmacro-regularized-evolution.toml", Some(strategy));
        assert!(s > random, "{name}: {s} vs random {random}");
    }
}

#[test]
fn every_strategy_searches_nas_bench_graph() {
    // On NAS-Bench-Graph the validation and test accuracies of the top
    // cells are only loosely related (`cargo xtask strategy-table`: REA's
    // mean test at 300 is below random's on cora), so the strategies are
    // judged on what they optimise: the best validation accuracy found.
    let registry = registry();
    let mean_best_valid = |strategy: Configured| {
        let mut config = experiment::load(&registry, common::root().join("examples/nbgraph-cora-regularized-evolution.toml")).unwrap();
        (config.journal, config.components.strategy) = (None, strategy);
        config.budget.evaluations = Some(300);
        let total: f64 = (1..=20)
            .map(|seed| {
                config.seed = seed;
                experiment::run(&registry, &config, None).unwrap().best.unwrap().valid
            })
            .sum();
        total / 20.0
    };
    let random = mean_best_valid(strategy("random-search", ""));
    for strategy in
        [strategy("regularized-evolution", ""), strategy("local-search", ""), strategy("reinforce", ""), strategy("q-mutation", "")]
    {
        let name = strategy.name().to_owned();
        let valid = mean_best_valid(strategy);
        assert!(valid > random, "{name}: mean best valid {valid} vs random {random}");
    }
}

#[test]
fn local_search_finds_the_nas_bench_201_optimum() {
    // White et al. 2020: local search is state of the art on NB201. Here
    // it reaches the best-validation cell (test 94.37) in 300 evaluations
    // for every seed 1..=20, with either move rule.
    for first_improvement in [false, true] {
        let ls = mean_best_test("nb201-local-search.toml", Some(strategy("local-search", &format!("first-improvement = {first_improvement}"))));
        assert!(ls >= 94.3, "local search (first improvement: {first_improvement}) mean test {ls}");
    }
}

/// Hypervolume of the trials a run evaluated (read back from its journal),
/// as a fraction of the true front's (all 15,625 cells), averaged over
/// seeds 1..=20; reference point: validation accuracy 89 and the largest
/// latency.
fn mean_hypervolume_ratio(strategy: Option<Configured>) -> f64 {
    use nasforge::evolution::hypervolume_2d;
    use nasforge::tabular::{HwTable, Nb201Table};
    let dir = tempfile::tempdir().unwrap();
    let registry = registry();
    let mut config = experiment::load(&registry, common::root().join("examples/nb201-hw-nsga2.toml")).unwrap();
    let is_nsga2 = strategy.is_none();
    if let Some(s) = strategy {
        config.components.strategy = s;
    }
    let table = Nb201Table::load(common::data().join("nas-bench-201/nb201_cifar10_v1_1.csv")).unwrap();
    let hw = HwTable::load(common::data().join("hw-nas-bench/hw_cifar10.csv")).unwrap();
    let latency = |m: &[(String, f64)]| m.iter().find(|m| m.0 == "edgegpu_latency").unwrap().1;
    let all: Vec<[f64; 2]> = table.iter().map(|(c, r)| [r.valid, -latency(hw.get(&c).unwrap())]).collect();
    let reference = [89.0, all.iter().map(|p| p[1]).fold(f64::INFINITY, f64::min)];
    let truth = hypervolume_2d(&all, reference);
    let total: f64 = (1..=20)
        .map(|seed| {
            config.seed = seed;
            config.journal = Some(dir.path().join(format!("{seed}-{is_nsga2}.sqlite")));
            let summary = experiment::run(&registry, &config, None).unwrap();
            let journal = nasforge::journal::Journal::open(config.journal.as_ref().unwrap()).unwrap();
            let trials = journal.trials(summary.experiment.unwrap()).unwrap();
            let points: Vec<[f64; 2]> =
                trials.iter().filter_map(|t| t.outcome.as_ref().ok()).map(|m| [m.valid, -latency(&m.extra)]).collect();
            let hv = hypervolume_2d(&points, reference);
            if is_nsga2 {
                // The summary's front spans the same hypervolume.
                let front: Vec<[f64; 2]> =
                    summary.pareto.unwrap().iter().map(|p| [p.objectives["valid"], -p.objectives["edgegpu_latency"]]).collect();
                assert!((hypervolume_2d(&front, reference) - hv).abs() < 1e-9);
            }
            hv / truth
        })
        .sum();
    total / 20.0
}

#[test]
fn nsga2_covers_the_accuracy_latency_front() {
    let nsga2 = mean_hypervolume_ratio(None);
    let random = mean_hypervolume_ratio(Some(strategy("random-search", "")));
    eprintln!("hypervolume ratio at 300 evaluations: NSGA-II {nsga2:.3}, random search {random:.3}");
    assert!(nsga2 >= 0.95, "NSGA-II {nsga2}");
    assert!(random < nsga2, "random {random} vs NSGA-II {nsga2}");
}

/// The trial rows of a journal that must be reproducible (no timings).
fn trial_rows(journal: &Path) -> Vec<(i64, String, String, String, Option<String>, i64)> {
    let conn = Connection::open(journal).unwrap();
    let mut stmt = conn
        .prepare("SELECT trial, arch, arch_key, status, metrics, seed FROM trials ORDER BY experiment_id, trial")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn same_seed_same_journal_and_other_seeds_differ() {
    let dir = tempfile::tempdir().unwrap();
    let file = common::nb201_experiment(dir.path(), "name = \"regularized-evolution\"", 200);
    let file = file.to_str().unwrap();
    let journals: Vec<_> = ["a", "a2", "b"]
        .iter()
        .zip([1, 1, 2])
        .map(|(name, seed)| {
            let j = dir.path().join(format!("{name}.sqlite"));
            let out = common::nasforge(&["run", file, "--seed", &seed.to_string(), "--journal", j.to_str().unwrap(), "--json"]);
            let summary = common::last_json(&out);
            assert_eq!(summary["trials"], 200);
            (j, summary)
        })
        .collect();
    let (a, a2, b) = (trial_rows(&journals[0].0), trial_rows(&journals[1].0), trial_rows(&journals[2].0));
    assert_eq!(a.len(), 200);
    assert_eq!(a, a2, "same seed, same journal");
    assert_ne!(a, b, "different seeds, different trajectories");
    assert_eq!(journals[0].1["best"], journals[1].1["best"]);

    // `show --json` reports what `run --json` did.
    let shown = common::last_json(&common::nasforge(&["show", journals[0].0.to_str().unwrap(), "--json"]));
    assert_eq!(shown["best"], journals[0].1["best"]);
    assert_eq!(shown["trials"], 200);
}

#[test]
fn kill_nine_then_resume_loses_nothing_and_matches_an_uninterrupted_run() {
    const BUDGET: i64 = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let file = common::nb201_experiment(dir.path(), "name = \"regularized-evolution\"\npopulation = 20\nsample-size = 5", BUDGET as u64);
    let killed = dir.path().join("killed.sqlite");
    let mut child = Command::new(env!("CARGO_BIN_EXE_nasforge"))
        .args(["run", file.to_str().unwrap(), "--journal", killed.to_str().unwrap()])
        .env("NASFORGE_DATA", common::data())
        .env("NASFORGE_LEASE_SECONDS", "2")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once a few thousand trials are in, well before the budget.
    let deadline = Instant::now() + Duration::from_secs(120);
    let done_at_kill = loop {
        std::thread::sleep(Duration::from_millis(5));
        let n: i64 = Connection::open(&killed)
            .and_then(|c| c.query_row("SELECT COUNT(*) FROM trials", [], |r| r.get(0)))
            .unwrap_or(0);
        if n >= 2_000 || Instant::now() > deadline {
            break n;
        }
    };
    assert!(done_at_kill >= 2_000, "only {done_at_kill} trials in 120 s");

    // While it runs, a second process may not take the experiment over.
    let refused = common::nasforge(&["resume", killed.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "a live experiment was resumed: {stderr}");
    assert!(stderr.contains(&format!("is being run by pid {} on ", child.id())), "{stderr}");
    assert_eq!(stderr.matches("error:").count(), 1, "{stderr}");

    assert!(child.try_wait().unwrap().is_none(), "the run ended before the kill: nothing was killed mid-run");
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    let after_kill = trial_rows(&killed);
    assert!(after_kill.len() as i64 >= done_at_kill && (after_kill.len() as i64) < BUDGET, "{}", after_kill.len());
    let unfinished: Option<f64> =
        Connection::open(&killed).unwrap().query_row("SELECT finished_at FROM experiments", [], |r| r.get(0)).unwrap();
    assert_eq!(unfinished, None, "killed mid-run, so not finished");

    // On this machine a dead holder frees its lease at once. Seen as a
    // holder on another machine (whose process cannot be checked), the
    // killed run's lease still refuses a resume until its 2-second time to
    // live runs out.
    let lease = Connection::open(&killed).unwrap();
    lease
        .execute(
            "UPDATE leases SET host = 'another-host', machine = 'another-machine', heartbeat_at = ?1",
            [nasforge::journal::unix_now()],
        )
        .unwrap();
    let refused = common::nasforge(&["resume", killed.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("on another-host"), "{}", String::from_utf8_lossy(&refused.stderr));
    std::thread::sleep(Duration::from_millis(2_100));

    let resumed = common::last_json(&common::nasforge(&["resume", killed.to_str().unwrap(), "--json"]));
    let uninterrupted_journal = dir.path().join("whole.sqlite");
    let whole = common::last_json(&common::nasforge(&[
        "run",
        file.to_str().unwrap(),
        "--journal",
        uninterrupted_journal.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(resumed["trials"], BUDGET);
    assert_eq!(resumed["best"], whole["best"]);
    let (resumed_rows, whole_rows) = (trial_rows(&killed), trial_rows(&uninterrupted_journal));
    assert_eq!(&resumed_rows[..after_kill.len()], &after_kill[..], "finished trials survive unchanged");
    assert_eq!(resumed_rows, whole_rows, "the resumed run is the uninterrupted run");
}

#[test]
fn broken_experiment_files_give_one_clear_error_each() {
    let corpus = common::root().join("tests/broken-configs");
    let mut files: Vec<_> = std::fs::read_dir(&corpus).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(files.len() >= 10);
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let expect = text.lines().next().and_then(|l| l.strip_prefix("# expect: ")).expect("an `# expect:` line");
        let out = common::nasforge(&["run", file.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{}: should fail", file.display());
        assert!(!stderr.contains("panicked"), "{}: {stderr}", file.display());
        assert_eq!(stderr.matches("error:").count(), 1, "{}: {stderr}", file.display());
        assert!(stderr.contains(&*file.to_string_lossy()), "{}: the error names the file: {stderr}", file.display());
        assert!(stderr.contains(expect), "{}:\n  expected: {expect}\n  got: {stderr}", file.display());
    }
}

#[test]
fn quickstart_runs_on_the_vendored_table_alone() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("q.sqlite");
    let out = Command::new(env!("CARGO_BIN_EXE_nasforge"))
        .args(["run", "examples/quickstart.toml", "--journal", journal.to_str().unwrap(), "--json"])
        .current_dir(common::root())
        .env_remove("NASFORGE_DATA")
        .output()
        .unwrap();
    let summary = common::last_json(&out);
    assert_eq!(summary["trials"], 100);
    assert!(summary["best"]["test"].as_f64().unwrap() > 0.75, "{summary}");
}

#[test]
fn describe_prints_key_string_and_facts() {
    let out = common::nasforge(&["describe", "nas-bench-201", "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(stdout.contains("official index: 11472"), "{stdout}");
    assert!(stdout.contains("canonical key: nor_conv_3x3(nor_conv_3x3(x))+x"), "{stdout}");
    let out = common::nasforge(&["describe", "nas-bench-graph", "0,1,2,3|skip,skip,skip,fc"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("benchmark hash: 88887"));
    let out = common::nasforge(&["describe", "nas-bench-201", "|bogus~0|"]);
    assert!(!out.status.success());
    let out = common::nasforge(&["describe", "no-such-space", "x"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("valid choices: nas-bench-201"));
}

#[test]
fn two_processes_share_one_journal() {
    let dir = tempfile::tempdir().unwrap();
    let file = common::nb201_experiment(dir.path(), "name = \"random-search\"", 5_000);
    let journal = dir.path().join("shared.sqlite");
    let children: Vec<_> = [1, 2]
        .iter()
        .map(|seed| {
            Command::new(env!("CARGO_BIN_EXE_nasforge"))
                .args(["run", file.to_str().unwrap(), "--seed", &seed.to_string(), "--journal", journal.to_str().unwrap()])
                .env("NASFORGE_DATA", common::data())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let conn = Connection::open(&journal).unwrap();
    let per_experiment: Vec<(i64, i64)> = conn
        .prepare("SELECT experiment_id, COUNT(*) FROM trials GROUP BY experiment_id ORDER BY experiment_id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(per_experiment, vec![(1, 5_000), (2, 5_000)]);
}

#[test]
fn strategies_search_with_a_zero_cost_table() {
    // NASLib's NB201 file scores 725 of the 15,625 cells: the rest fail as
    // not in the table, and every scored trial's `valid` is its proxy.
    let registry = registry();
    let text = |proxies: &str| {
        format!(
            "seed = 2\n[space]\nname = \"nas-bench-201\"\n[strategy]\nname = \"random-search\"\n\
             [estimator]\nname = \"zero-cost-table\"\npath = \"{}\"\n{proxies}\n[budget]\nevaluations = 400\n",
            common::data().join("zero-cost/zc_nasbench201_6639fd15.json").display()
        )
    };
    let config = nasforge::experiment::parse_str(&registry, &text("proxies = [\"synflow\"]"), "zc.toml", Path::new(".")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("zc.sqlite");
    let summary = nasforge::experiment::run(&registry, &nasforge::experiment::ExperimentConfig { journal: Some(journal.clone()), ..config }, None).unwrap();
    assert_eq!(summary.trials, 400);
    let j = nasforge::journal::Journal::open_existing(&journal).unwrap();
    let scored: Vec<_> = j.trials(1).unwrap().into_iter().filter_map(|t| t.outcome.ok()).collect();
    assert!(scored.len() >= 5 && scored.len() < 60, "{} scored", scored.len());
    for m in &scored {
        let synflow = m.extra.iter().find(|(n, _)| n == "synflow").unwrap().1;
        assert_eq!(m.valid, synflow);
    }
    let config = nasforge::experiment::parse_str(&registry, &text("proxies = [\"synflow\", \"nwot\"]\nweights = [1.0, 0.5]"), "zc.toml", Path::new(".")).unwrap();
    assert_eq!(nasforge::experiment::run(&registry, &config, None).unwrap().trials, 400);
    let e = nasforge::experiment::parse_str(&registry, &text("proxies = [\"synflow\"]\nweights = [1.0, 2.0]"), "zc.toml", Path::new(".")).unwrap_err();
    assert!(e.to_string().contains("key `estimator.weights`: 2 weights for 1 proxies"), "{e}");
    let config = nasforge::experiment::parse_str(&registry, &text("proxies = [\"zen\"]"), "zc.toml", Path::new(".")).unwrap();
    let e = nasforge::experiment::run(&registry, &config, None).unwrap_err().to_string();
    assert!(e.contains("the table has no proxy `zen`; it has: epe_nas, fisher"), "{e}");
}
