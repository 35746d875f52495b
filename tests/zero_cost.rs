//! Zero-cost proxies end to end: the scores CSV (kill and resume, thread
//! counts), cross-checks against NASLib's published scores, the
//! `zero-cost` estimator on every space that has a network, and RoBoT.

mod common;

use std::path::Path;

use nasforge::core::SearchSpace;
use nasforge::registry::{DynArch, ErasedSpace};
use nasforge::zero_cost::stats::spearman;
use nasforge::zero_cost::{NetShape, ProxyTable, Scorer, score::blank_images};

fn naslib_json() -> std::path::PathBuf {
    common::data().join("zero-cost/zc_nasbench201_6639fd15.json")
}

fn scores_run(dir: &Path, out: &str, threads: &str) -> std::process::Output {
    let out = dir.join(out);
    common::nasforge(&[
        "zero-cost",
        "nas-bench-201",
        "--proxies",
        "synflow,params,flops,nwot",
        "--archs",
        "12",
        "--dataset",
        "digits",
        "--channels",
        "4",
        "--cells",
        "1",
        "--batch-size",
        "8",
        "--seed",
        "4",
        "--threads",
        threads,
        "--out",
        out.to_str().unwrap(),
    ])
}

#[test]
fn a_killed_scores_run_resumes_without_recomputing_and_any_thread_count_writes_the_same_file() {
    let dir = tempfile::tempdir().unwrap();
    let one = scores_run(dir.path(), "one.csv", "1");
    assert!(one.status.success(), "{}", String::from_utf8_lossy(&one.stderr));
    let two = scores_run(dir.path(), "two.csv", "2");
    assert!(two.status.success(), "{}", String::from_utf8_lossy(&two.stderr));
    let full = std::fs::read_to_string(dir.path().join("one.csv")).unwrap();
    assert_eq!(full, std::fs::read_to_string(dir.path().join("two.csv")).unwrap(), "one thread and two wrote different files");
    let lines: Vec<&str> = full.lines().collect();
    assert_eq!(lines.len(), 13);
    assert_eq!(lines[0], "arch,synflow,params,flops,nwot");
    // A run killed while writing its sixth row: five rows and a torn line.
    let torn = format!("{}\n{}", lines[..6].join("\n"), &lines[6][..20]);
    std::fs::write(dir.path().join("killed.csv"), torn).unwrap();
    // (The settings file is written before the first row.)
    std::fs::copy(dir.path().join("one.csv.settings"), dir.path().join("killed.csv.settings")).unwrap();
    let resumed = scores_run(dir.path(), "killed.csv", "2");
    let stdout = String::from_utf8_lossy(&resumed.stdout);
    assert!(stdout.contains("12 rows (5 already there, 7 scored"), "{stdout}");
    assert_eq!(std::fs::read_to_string(dir.path().join("killed.csv")).unwrap(), full);
    // A file written for other proxies is refused, untouched; so is one
    // whose rows were scored with another seed.
    let one = dir.path().join("one.csv");
    let other = common::nasforge(&["zero-cost", "nas-bench-201", "--proxies", "params", "--archs", "3", "--out", one.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&other.stderr).contains("written for other proxies"), "{}", String::from_utf8_lossy(&other.stderr));
    let reseeded = common::nasforge(&[
        "zero-cost", "nas-bench-201", "--proxies", "synflow,params,flops,nwot", "--archs", "3", "--dataset", "digits", "--channels", "4", "--cells", "1",
        "--batch-size", "8", "--seed", "5", "--out", one.to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&reseeded.stderr).contains("scored with other settings"), "{}", String::from_utf8_lossy(&reseeded.stderr));
    assert_eq!(std::fs::read_to_string(&one).unwrap(), full);
}

#[test]
fn scores_files_of_spaces_whose_strings_hold_commas_read_back_and_list_each_architecture_once() {
    // DARTS genotypes print with commas: the CSV quotes them.
    let dir = tempfile::tempdir().unwrap();
    let space = ErasedSpace::new(nasforge::darts::DartsSpace);
    let mut rng = nasforge::core::seeded_rng(2);
    let archs: Vec<String> = (0..3).map(|_| space.format(&space.sample(&mut rng))).collect();
    let list = dir.path().join("archs.txt");
    std::fs::write(&list, format!("{}\n{}\n{}\n{}\n", archs[0], archs[1], archs[0], archs[2])).unwrap();
    let out = dir.path().join("darts.csv");
    let run = || common::nasforge(&["zero-cost", "darts", "--proxies", "params,synflow", "--archs", list.to_str().unwrap(), "--channels", "4", "--cells", "3", "--out", out.to_str().unwrap()]);
    let first = run();
    assert!(String::from_utf8_lossy(&first.stdout).contains("3 rows (0 already there, 3 scored"), "{}{}", String::from_utf8_lossy(&first.stdout), String::from_utf8_lossy(&first.stderr));
    let table = ProxyTable::from_csv(&out, &space).unwrap();
    assert_eq!(table.len(), 3);
    assert!(archs.iter().all(|a| table.scores(a).is_some_and(|r| r.iter().all(|v| v.is_finite()))));
    let again = run();
    assert!(String::from_utf8_lossy(&again.stdout).contains("3 rows (3 already there, 0 scored"), "{}", String::from_utf8_lossy(&again.stdout));
}

#[test]
fn a_dataset_of_the_wrong_kind_for_the_space_is_refused_with_the_file() {
    let registry = nasforge::families();
    let file = experiment("nas-bench-201", "[dataset]\nname = \"graph-npz\"\npath = \"graphs/cora.npz\"\n", "\"nwot\"", "");
    let e = nasforge::experiment::parse_str(&registry, &file, "zc.toml", Path::new(".")).unwrap_err();
    assert_eq!(e.key.as_deref(), Some("dataset.name"));
    assert!(e.message.contains("`zero-cost` scores space `nas-bench-201`'s networks on image data (fashion-mnist, idx, digits); dataset `graph-npz` loads graph data"), "{e}");
}

#[test]
fn data_free_proxies_agree_with_naslibs_scores_of_the_same_cells() {
    // NASLib's 725 NB201 cells with its synflow, params and flops (CIFAR-10
    // networks, C=16, N=5): the same formulas on another initialisation.
    let table = ProxyTable::from_naslib_nb201(naslib_json(), "cifar10").unwrap();
    let space = ErasedSpace::new(nasforge::nb201::Nb201Space);
    let names = ["synflow", "params", "flops"].map(String::from);
    let scorer = Scorer::new(space.clone(), NetShape::for_space("nas-bench-201"), blank_images(2, 32), false, &names, 0).unwrap();
    let cols: Vec<usize> = names.iter().map(|n| table.names().iter().position(|c| c == n).unwrap()).collect();
    let (mut ours, mut theirs) = (vec![Vec::new(); 3], vec![Vec::new(); 3]);
    for (key, row) in table.rows() {
        let arch: DynArch = space.parse(key).unwrap();
        for (k, s) in scorer.proxy_vector(&arch).unwrap().into_iter().enumerate() {
            if row[cols[k]].is_finite() {
                ours[k].push(s);
                theirs[k].push(row[cols[k]]);
            }
        }
    }
    assert_eq!(ours[1].len(), 725);
    let rho: Vec<f64> = (0..3).map(|k| spearman(&ours[k], &theirs[k])).collect();
    // Measured: 0.9992, 1.0, 0.996.
    assert!(rho[0] >= 0.99 && rho[1] >= 0.999 && rho[2] >= 0.99, "synflow, params, flops: {rho:?}");
}

fn experiment(space: &str, dataset: &str, proxies: &str, extra: &str) -> String {
    format!(
        "seed = 3\ndata-root = \"{}\"\n\n[space]\nname = \"{space}\"\n\n[strategy]\nname = \"random-search\"\n\n[estimator]\nname = \"zero-cost\"\nproxies = [{proxies}]\nbatch-size = 8\nreference = 4\n{extra}\n{dataset}\n[budget]\nevaluations = 3\n",
        common::data().display()
    )
}

#[test]
fn the_zero_cost_estimator_searches_every_space_that_has_a_network() {
    let registry = nasforge::families();
    let digits = "[dataset]\nname = \"digits\"\n";
    let cora = "[dataset]\nname = \"graph-npz\"\npath = \"graphs/cora.npz\"\n";
    let text = "[dataset]\nname = \"text\"\npath = \"text/tinyshakespeare.txt\"\n";
    let cases = [
        ("nas-bench-201", digits, "\"synflow\", \"nwot\"", "channels = 4\ncells = 1\nimage-size = 16"),
        ("darts", digits, "\"synflow\", \"snip\"", "channels = 4\ncells = 3\nimage-size = 16"),
        ("mobilenet", digits, "\"params\", \"grad_norm\"", "image-size = 32"),
        ("nas-bench-graph", cora, "\"synflow\", \"jacob_cov\"", "dim = 16"),
        ("auto-gnn", cora, "\"nwot\"", ""),
        ("transformer", text, "\"w_pca\", \"hidden_cov\"", "seq-len = 16"),
    ];
    for (space, data, proxies, extra) in cases {
        let file = experiment(space, data, proxies, extra);
        let config = nasforge::experiment::parse_str(&registry, &file, "zc.toml", Path::new(".")).unwrap_or_else(|e| panic!("{space}: {e}"));
        let summary = nasforge::experiment::run(&registry, &config, None).unwrap_or_else(|e| panic!("{space}: {e}"));
        assert_eq!(summary.trials, 3, "{space}");
        let best = summary.best.unwrap_or_else(|| panic!("{space}: no trial succeeded"));
        assert!(best.valid.is_finite(), "{space}: {}", best.valid);
    }
    // A data-dependent proxy without a batch is refused at build, by name.
    let file = experiment("nas-bench-201", "", "\"snip\"", "");
    let config = nasforge::experiment::parse_str(&registry, &file, "zc.toml", Path::new(".")).unwrap();
    let e = nasforge::experiment::run(&registry, &config, None).unwrap_err().to_string();
    assert!(e.contains("proxy `snip` reads a batch of data: give a dataset"), "{e}");
}

#[test]
fn robot_on_naslibs_table_finds_the_best_cells_of_the_table() {
    // RoBoT over NASLib's 725 cells and four of its proxies, evaluated by
    // the NB201 table: 20 evaluations, 10 seeds.
    let registry = nasforge::families();
    let text = |strategy: &str| {
        format!(
            "seed = 0\ndata-root = \"{}\"\n\n[space]\nname = \"nas-bench-201\"\n\n[strategy]\n{strategy}\n\n[estimator]\nname = \"nas-bench-201\"\npath = \"nas-bench-201/nb201_cifar10_v1_1.csv\"\n\n[budget]\nevaluations = 20\n",
            common::data().display()
        )
    };
    let robot = format!("name = \"robot\"\ntable = \"{}\"\nproxies = [\"synflow\", \"jacov\", \"nwot\", \"snip\"]", naslib_json().display());
    let mut config = nasforge::experiment::parse_str(&registry, &text(&robot), "robot.toml", Path::new(".")).unwrap();
    let mut tests = Vec::new();
    for seed in 0..10 {
        config.seed = seed;
        let s = nasforge::experiment::run(&registry, &config, None).unwrap();
        assert_eq!(s.trials, 20);
        tests.push(s.best.unwrap().test.unwrap());
    }
    let mean = tests.iter().sum::<f64>() / tests.len() as f64;
    // The same seeds give the same search.
    assert_eq!(nasforge::experiment::run(&registry, &config, None).unwrap().best.unwrap().test.unwrap(), tests[9]);
    // The table's cells: the best test accuracy among them.
    let table = ProxyTable::from_naslib_nb201(naslib_json(), "cifar10").unwrap();
    let nb201 = nasforge::tabular::Nb201Table::load(common::data().join("nas-bench-201/nb201_cifar10_v1_1.csv")).unwrap();
    let space = nasforge::nb201::Nb201Space;
    let best_in_table = table.rows().map(|(k, _)| nb201.get(&space.parse(k).unwrap()).unwrap().test).fold(f64::NEG_INFINITY, f64::max);
    assert!(mean >= best_in_table - 0.6, "RoBoT mean test {mean} over 10 seeds; best cell of the table {best_in_table}");
}

#[test]
fn synflow_and_params_of_darts_networks_agree_with_naslibs_nb301_scores() {
    // NASLib's NB301 table: 725 DARTS genotypes with synflow and params of
    // its own DARTS networks; ours at C = 16, 8 cells, on 120 of them.
    use nasforge::tabular::Nb301ZeroCostTable;
    let table = Nb301ZeroCostTable::load(common::data().join("zero-cost/zc_nasbench301_6639fd15.json")).unwrap();
    let space = ErasedSpace::new(nasforge::darts::DartsSpace);
    let names = ["synflow", "params"].map(String::from);
    let scorer = Scorer::new(space.clone(), NetShape::for_space("darts"), blank_images(2, 32), false, &names, 0).unwrap();
    let (mut ours, mut theirs) = (vec![Vec::new(); 2], vec![Vec::new(); 2]);
    // The table is a hash map: a fixed 120, by standard string.
    let mut rows: Vec<_> = table.iter().collect();
    rows.sort_by_key(|(g, _)| space.format(&DynArch::new(**g)));
    for (genotype, row) in rows.into_iter().take(120) {
        let scores = scorer.proxy_vector(&DynArch::new(*genotype)).unwrap();
        for (k, name) in names.iter().enumerate() {
            if let Some(&(_, v)) = row.proxies.iter().find(|(n, v)| n == name && v.is_finite()) {
                ours[k].push(scores[k]);
                theirs[k].push(v);
            }
        }
    }
    let rho: Vec<f64> = (0..2).map(|k| spearman(&ours[k], &theirs[k])).collect();
    eprintln!("DARTS vs NASLib NB301, {} genotypes: synflow ρ {:.4}, params ρ {:.4}", ours[0].len(), rho[0], rho[1]);
    assert!(ours[0].len() >= 100, "{}", ours[0].len());
    assert!(rho[0] >= 0.9 && rho[1] >= 0.95, "synflow, params: {rho:?}");
}
