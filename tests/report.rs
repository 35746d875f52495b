//! `nasforge report`: one page over journals of several strategies and
//! seeds, a multi-objective run and a supernet search.

mod common;

use std::path::{Path, PathBuf};

fn run(file: &Path, seed: u64, journal: &Path) {
    let out = common::nasforge(&["run", file.to_str().unwrap(), "--seed", &seed.to_string(), "--journal", journal.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn report(journals: &[PathBuf], out: &Path) -> std::process::Output {
    let mut args = vec!["report".to_owned()];
    args.extend(journals.iter().map(|j| j.display().to_string()));
    args.extend(["--out".to_owned(), out.display().to_string()]);
    common::nasforge(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

#[test]
fn a_report_shows_every_series_its_front_its_supernet_and_its_best_architecture() {
    let dir = tempfile::tempdir().unwrap();
    let mut journals = Vec::new();
    for (strategy, params) in [("random-search", ""), ("regularized-evolution", "population = 10\nsample-size = 5"), ("local-search", "")] {
        let sub = dir.path().join(strategy);
        std::fs::create_dir_all(&sub).unwrap();
        let file = common::nb201_experiment(&sub, &format!("name = \"{strategy}\"\n{params}"), 40);
        let journal = sub.join("journal.sqlite");
        for seed in 1..=5 {
            run(&file, seed, &journal);
        }
        journals.push(journal);
    }
    let nsga2 = dir.path().join("nsga2.sqlite");
    let hw = common::root().join("examples/nb201-hw-nsga2.toml");
    run(&hw, 0, &nsga2);
    journals.push(nsga2);
    let darts_file = dir.path().join("darts.toml");
    std::fs::write(
        &darts_file,
        "seed = 1\n[space]\nname = \"nas-bench-201\"\n[strategy]\nname = \"darts\"\nchannels = 4\ncells = 1\nbatch-size = 32\nepochs = 2\nhessian = true\nhessian-iterations = 2\n\
         [dataset]\nname = \"digits\"\n[estimator]\nname = \"nas-bench-201\"\npath = \"nas-bench-201/nb201_cifar10_v1_1.csv\"\n[budget]\nevaluations = 1\n",
    )
    .unwrap();
    let darts = dir.path().join("darts.sqlite");
    run(&darts_file, 1, &darts);
    journals.push(darts.clone());

    let out = dir.path().join("report");
    let done = report(&journals, &out);
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    assert!(String::from_utf8_lossy(&done.stdout).contains("(17 experiments, 5 series)"), "{}", String::from_utf8_lossy(&done.stdout));
    let page = std::fs::read_to_string(out.join("index.html")).unwrap();
    // Kept for a look: `target/report-test/index.html`.
    let kept = common::root().join("target/report-test");
    std::fs::create_dir_all(&kept).unwrap();
    std::fs::write(kept.join("index.html"), &page).unwrap();
    // 3 × 5 × 40 trials, NSGA-II's 300, DARTS' derived cell.
    assert!(page.contains("<span id=\"trial-count\">901</span>"), "trial count");
    for label in ["random-search", "regularized-evolution", "local-search", "nsga2", "darts"] {
        assert!(page.contains(&format!(">{label}<")), "{label} is not in the page");
    }
    for section in ["Best so far", "Pareto fronts", "Supernets", "Top 10 trials", "Best architecture of each series"] {
        assert!(page.contains(section), "no {section} section");
    }
    assert!(page.contains("valid against edgegpu_latency"), "the front is drawn on NSGA-II's objectives");
    assert!(page.contains("Dominant eigenvalue") && page.contains("α of darts seed 1"), "the supernet's figures");
    // The α key names the candidates, the drawings the chosen operations.
    assert!(page.contains("</i>nor_conv_3x3</span>") && page.contains("</i>avg_pool_3x3</span>"));
    // 4 best-so-far figures, 1 front, 3 supernet figures, 6 α panels, 5 drawings.
    assert!(page.matches("<svg").count() >= 19, "{} figures", page.matches("<svg").count());
    // The same journals give the same page.
    let again = dir.path().join("again");
    assert!(report(&journals, &again).status.success());
    assert_eq!(std::fs::read_to_string(again.join("index.html")).unwrap(), page);

    // A configuration this build cannot rebuild loses its drawing, not the page.
    rusqlite::Connection::open(&darts).unwrap().execute("UPDATE experiments SET config = replace(config, 'nas-bench-201', 'no-such-space')", []).unwrap();
    let partial = report(std::slice::from_ref(&darts), &dir.path().join("partial"));
    assert!(partial.status.success(), "{}", String::from_utf8_lossy(&partial.stderr));
    assert!(String::from_utf8_lossy(&partial.stderr).contains("no drawing of its architectures") && String::from_utf8_lossy(&partial.stderr).contains("unknown space `no-such-space`; valid choices"), "{}", String::from_utf8_lossy(&partial.stderr));

    let missing = report(&[dir.path().join("missing.sqlite")], &dir.path().join("none"));
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("missing.sqlite"), "{}", String::from_utf8_lossy(&missing.stderr));
}

#[test]
fn export_writes_the_best_trial_as_json_dot_and_svg() {
    let dir = tempfile::tempdir().unwrap();
    let file = common::nb201_experiment(dir.path(), "name = \"random-search\"", 30);
    let journal = dir.path().join("journal.sqlite");
    run(&file, 4, &journal);
    let j = journal.to_str().unwrap();
    let best = common::last_json(&common::nasforge(&["show", j, "--json"]))["best"].clone();
    let json_file = dir.path().join("best.json");
    let out = common::nasforge(&["export", j, "--best", "--format", "json", "--out", json_file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json_file).unwrap()).unwrap();
    assert_eq!(v["arch"], best["arch"]);
    assert_eq!(v["metrics"]["valid"], best["valid"]);
    assert_eq!(v["space"], "nas-bench-201");
    assert_eq!(v["decisions"].as_array().unwrap().len(), 6, "one choice per edge");
    assert!(v["canonical_key"].is_string() && v["graph"]["nodes"].is_array());

    let dot = common::nasforge(&["export", j, "--trial", "7", "--format", "dot"]);
    assert!(dot.status.success());
    let dot = String::from_utf8(dot.stdout).unwrap();
    let trial7 = rusqlite::Connection::open(&journal).unwrap().query_row("SELECT arch FROM trials WHERE trial = 7", [], |r| r.get::<_, String>(0)).unwrap();
    assert!(dot.starts_with("digraph arch {") && dot.contains(&trial7), "{dot}");
    let svg = common::nasforge(&["export", j, "--best", "--format", "svg"]);
    assert!(String::from_utf8(svg.stdout).unwrap().starts_with("<svg"));

    let none = common::nasforge(&["export", j, "--trial", "30"]);
    assert!(String::from_utf8_lossy(&none.stderr).contains("no trial 30 (it has 30)"), "{}", String::from_utf8_lossy(&none.stderr));
    let bad = common::nasforge(&["export", j, "--best", "--format", "png"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("valid choices: json, dot, svg"));
}
