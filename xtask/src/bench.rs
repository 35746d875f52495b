//! `cargo xtask bench ...`: throughput of the tabular search (against
//! plain Python and Optuna), of the dfdx trainer (against PyTorch), of
//! a strategy through the plugin ABI (against the same strategy in
//! process) and of the zero-cost proxies (against NASLib's code in
//! PyTorch); `bench predictors` (`bench_predictors.rs`): the GBDT against
//! LightGBM and scikit-learn.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use nasforge_core::{SearchSpace, Strategy};
use nasforge_evolution::{RegularizedEvolution, RegularizedEvolutionParams};
use nasforge_journal::{ExperimentRecord, Journal};
use nasforge_runner::{Budget, Runner};
use nasforge_space_nb201::{Cell, Nb201Space};
use nasforge_tabular::{Nb201Estimator, Nb201Table};

#[derive(Subcommand)]
pub enum Bench {
    /// Train steps of the NB201 network (all nor_conv_3x3, C=16, N=1,
    /// batch 64, 3×32×32) in dfdx and in PyTorch: ms/step and the ratio.
    Trainer {
        /// Threads for both.
        #[arg(long, default_value_t = 2)]
        threads: usize,
        /// Timed steps (after 2 warm-up steps); the median is reported.
        #[arg(long, default_value_t = 10)]
        steps: usize,
        /// The Python with torch (default: `target/torch-venv`, created
        /// with `pip install torch` when missing).
        #[arg(long)]
        python: Option<PathBuf>,
    },
    /// The same strategy (simulated annealing) in process and as a plugin
    /// (a cdylib through the C ABI), on the NAS-Bench-201 table:
    /// evaluations/s of each and the ratio.
    Plugin {
        /// The NAS-Bench-201 CSV.
        #[arg(long, default_value = "../shared/data/nas-bench-201/nb201_cifar10_v1_1.csv")]
        csv: PathBuf,
        /// Evaluations per timed run.
        #[arg(long, default_value_t = 500_000)]
        evaluations: u64,
        /// Timed runs of each; medians are reported.
        #[arg(long, default_value_t = 3)]
        repeats: usize,
    },
    /// Regularized evolution on the NAS-Bench-201 table: evaluations/s.
    Tabular {
        /// The NAS-Bench-201 CSV.
        #[arg(long, default_value = "../shared/data/nas-bench-201/nb201_cifar10_v1_1.csv")]
        csv: PathBuf,
        /// Evaluations per timed run with the journal off.
        #[arg(long, default_value_t = 5_000_000)]
        evaluations: u64,
        /// Timed runs; the median is reported.
        #[arg(long, default_value_t = 5)]
        repeats: usize,
    },
    /// The zero-cost proxies synflow and nwot on NAS-Bench-201 networks
    /// (C=16, N=5, 3×32×32, 10 classes) through `nasforge zero-cost` and in
    /// PyTorch (NASLib's code re-typed, `bench_zero_cost.py`) in the same
    /// run: ms/network and the ratio, the Spearman ρ of the two scores
    /// (the initialisations differ, so the scores are not equal), peak
    /// memory at 500 and 2000 architectures, and the projected time of the
    /// whole table.
    ZeroCost {
        /// Architectures sampled (seeded, distinct) and scored by both.
        #[arg(long, default_value_t = 100)]
        archs: usize,
        /// Seed of the samples, of nasforge's batch and initialisations.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// The Python with torch (default: `target/torch-venv`, created
        /// with `pip install torch` when missing).
        #[arg(long)]
        python: Option<PathBuf>,
    },
    /// One first-order DARTS step (weights, then α) of the NAS-Bench-201
    /// supernet (C=16, N=1, batch 64, 3×32×32) in dfdx and in PyTorch
    /// (`TinyNetworkDarts` re-typed) in the same run: ms/step, peak RSS
    /// and the ratios.
    Supernet {
        /// Threads for both.
        #[arg(long, default_value_t = 2)]
        threads: usize,
        /// Timed steps (after 2 warm-up steps); the median is reported.
        #[arg(long, default_value_t = 10)]
        steps: usize,
        /// The Python with torch (default: `target/torch-venv`, created
        /// with `pip install torch` when missing).
        #[arg(long)]
        python: Option<PathBuf>,
    },
    /// The GBDT predictor (smartcore trees, GBDT-NAS's LightGBM settings)
    /// on 1,000 NAS-Bench-201 one-hot rows beside LightGBM and
    /// scikit-learn's HistGradientBoostingRegressor in the same run: fit
    /// and predict times (1,000 rows and all 15,625 cells), ratios, and
    /// each model's Spearman ρ on the held-out cells.
    Predictors {
        /// The NAS-Bench-201 CSV.
        #[arg(long, default_value = "../shared/data/nas-bench-201/nb201_cifar10_v1_1.csv")]
        csv: PathBuf,
        /// Timed runs of each (after a warm-up); medians are reported.
        #[arg(long, default_value_t = 5)]
        repeats: usize,
    },
}

/// Runs one benchmark.
pub fn run(which: Bench) -> Result<()> {
    match which {
        Bench::Tabular { csv, evaluations, repeats } => bench_tabular(&csv, evaluations, repeats),
        Bench::Trainer { threads, steps, python } => bench_trainer(threads, steps, python),
        Bench::Plugin { csv, evaluations, repeats } => bench_plugin(&csv, evaluations, repeats),
        Bench::ZeroCost { archs, seed, python } => bench_zero_cost(archs, seed, python),
        Bench::Predictors { csv, repeats } => crate::bench_predictors::run(&csv, repeats),
        Bench::Supernet { threads, steps, python } => crate::bench_supernet::run(threads, steps, python),
    }
}

pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// One timed search through the framework's own runner; evaluations/s.
fn rea_rate(table: &Arc<Nb201Table>, evaluations: u64, seed: u64, journal: Option<&mut Journal>) -> Result<f64> {
    let space = Nb201Space;
    let mut estimator = Nb201Estimator::new(table.clone());
    let config = RegularizedEvolutionParams::default().check()?;
    let mut strategy = RegularizedEvolution::new(config, seed);
    let budget = Budget { evaluations: Some(evaluations), seconds: None };
    let t0 = Instant::now();
    let mut runner = Runner::new(&space, &mut estimator, budget, seed);
    if let Some(j) = journal {
        let record = ExperimentRecord::composed(space.name(), "regularized-evolution", "nas-bench-201", seed);
        let id = j.create_experiment(&record)?;
        runner = runner.with_journal(j, id, record.hash);
    }
    strategy.drive(&space, &mut runner);
    let summary = runner.finish()?;
    let seconds = t0.elapsed().as_secs_f64();
    if summary.trials != evaluations {
        bail!("the run did {} evaluations, not {evaluations}", summary.trials);
    }
    Ok(evaluations as f64 / seconds)
}

/// Evaluations/s of `strategy` on the NB201 table, journal off.
fn strategy_rate(table: &Arc<Nb201Table>, strategy: &mut dyn Strategy<Nb201Space>, evaluations: u64) -> Result<f64> {
    drive_rate(&Nb201Space, &mut Nb201Estimator::new(table.clone()), strategy, evaluations, 0)
}

/// Evaluations/s of one search driven through the runner, journal off.
fn drive_rate<S: SearchSpace>(
    space: &S,
    estimator: &mut dyn nasforge_core::Estimator<S::Arch>,
    strategy: &mut dyn Strategy<S>,
    evaluations: u64,
    seed: u64,
) -> Result<f64> {
    let budget = Budget { evaluations: Some(evaluations), seconds: None };
    let t0 = Instant::now();
    let mut runner = Runner::new(space, estimator, budget, seed);
    strategy.drive(space, &mut runner);
    let summary = runner.finish_with(strategy.failure())?;
    let seconds = t0.elapsed().as_secs_f64();
    if summary.trials != evaluations {
        bail!("the run did {} evaluations, not {evaluations}", summary.trials);
    }
    Ok(evaluations as f64 / seconds)
}

fn bench_plugin(csv: &Path, evaluations: u64, repeats: usize) -> Result<()> {
    use nasforge_plugin_host::{Kind, Manifest, PluginStrategy};
    use nasforge_plugin_simulated_annealing::Annealing;

    let status = Command::new(env!("CARGO")).args(["build", "--release", "--quiet", "-p", "nasforge-plugin-simulated-annealing"]).status()?;
    if !status.success() {
        bail!("building the plugin failed");
    }
    let file = format!("{}nasforge_plugin_simulated_annealing{}", std::env::consts::DLL_PREFIX, std::env::consts::DLL_SUFFIX);
    let manifest = Manifest {
        name: "simulated-annealing".into(),
        kind: Kind::Strategy,
        path: Path::new("target/release").join(file),
        sha256: None,
        config: serde_json::json!({ "initial-temperature": 2.0, "cooling": 0.98 }),
        base: ".".into(),
    };
    let plugin = nasforge_plugin_host::load(&manifest)?;
    let table = Arc::new(Nb201Table::load(csv)?);
    println!("simulated annealing on {} ({} cells), one thread, journal off", csv.display(), table.len());
    let in_process = |seed| -> Result<f64> { strategy_rate(&table, &mut Annealing::<Cell>::new(2.0, 0.98, seed).map_err(anyhow::Error::msg)?, evaluations) };
    let as_plugin = |seed| -> Result<f64> { strategy_rate(&table, &mut PluginStrategy::new(plugin.instantiate(seed, "nas-bench-201")?), evaluations) };
    in_process(99)?; // warm-up
    as_plugin(99)?;
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for i in 0..repeats as u64 {
        ours.push(in_process(i)?);
        theirs.push(as_plugin(i)?);
    }
    let (ours, theirs) = (median(ours), median(theirs));
    println!("{evaluations} evaluations x {repeats} runs each, interleaved");
    println!("in_process_evaluations_per_second: {ours:.0}");
    println!("plugin_evaluations_per_second: {theirs:.0}");
    println!("overhead_per_evaluation_us: {:.2}", (1.0 / theirs - 1.0 / ours) * 1e6);
    println!("ratio_plugin_vs_in_process: {:.3}", theirs / ours);
    Ok(())
}

fn bench_tabular(csv: &Path, evaluations: u64, repeats: usize) -> Result<()> {
    let table = Arc::new(Nb201Table::load(csv)?);
    println!("regularized evolution (P=20, S=5) on {} ({} cells), one thread", csv.display(), table.len());
    rea_rate(&table, evaluations / 10, 0, None)?; // warm-up
    let rates: Vec<f64> = (0..repeats).map(|i| rea_rate(&table, evaluations, i as u64, None)).collect::<Result<_>>()?;
    let rust = median(rates);
    println!("journal off: {evaluations} evaluations x {repeats} runs");

    let dir = tempfile::tempdir()?;
    let journal_evals = 200_000;
    let mut journal_rates = Vec::new();
    for i in 0..3 {
        let mut journal = Journal::open(dir.path().join(format!("bench-{i}.sqlite")))?;
        journal_rates.push(rea_rate(&table, journal_evals, i, Some(&mut journal))?);
    }
    println!("journal on (SQLite, WAL, one commit per trial): {journal_evals} evaluations x 3 runs");
    println!("evaluations_per_second_journal: {:.0}", median(journal_rates.clone()));

    // The same search composed at run time: named in TOML, built through
    // the registry, architectures erased behind `DynArch`.
    let registry_rates: Vec<f64> = (0..repeats).map(|i| registry_rate(csv, evaluations, i as u64)).collect::<Result<_>>()?;
    let registry = median(registry_rates);
    println!("through the registry (TOML, erased architectures), journal off: {evaluations} evaluations x {repeats} runs");
    println!("evaluations_per_second_registry: {registry:.0}");
    println!("ratio_registry_vs_typed: {:.3}", registry / rust);

    let python = python_reference(csv)?;
    if let Some(py) = python {
        println!("python_evaluations_per_second: {py:.0}");
        println!("ratio_vs_python: {:.1}", rust / py);
    } else {
        println!("python3 not found: no reference ratio");
    }
    match optuna_reference(csv)? {
        Some(rates) => {
            let journal = median(journal_rates.clone());
            for (name, rate) in &rates {
                println!("optuna_{name}_trials_per_second: {rate:.1}");
            }
            let get = |n: &str| rates.iter().find(|r| r.0 == n).map(|r| r.1);
            if let (Some(random), Some(sqlite)) = (get("random_in_memory"), get("random_sqlite")) {
                println!("ratio_vs_optuna_random_in_memory: {:.0}", rust / random);
                println!("ratio_journal_vs_optuna_random_sqlite: {:.0}", journal / sqlite);
            }
            if let Some(tpe) = get("tpe_in_memory") {
                println!("ratio_vs_optuna_tpe_in_memory: {:.0}", rust / tpe);
            }
        }
        None => println!("optuna not installable here: no Optuna ratios"),
    }
    println!("evaluations_per_second: {rust:.0}");
    Ok(())
}

/// Regularized evolution on the table composed from TOML through the
/// default registry (as `nasforge run` composes it); evaluations/s of the
/// search alone (the table is loaded before the clock starts).
fn registry_rate(csv: &Path, evaluations: u64, seed: u64) -> Result<f64> {
    let registry = nasforge::families();
    let text = format!(
        "seed = {seed}\n[space]\nname = \"nas-bench-201\"\n[strategy]\nname = \"regularized-evolution\"\npopulation = 20\nsample-size = 5\n\
         [estimator]\nname = \"nas-bench-201\"\npath = {:?}\n[budget]\nevaluations = {evaluations}\n",
        std::path::absolute(csv)?
    );
    let config = nasforge_experiment::parse_str(&registry, &text, "bench.toml", Path::new("."))?;
    let nasforge_registry::Stack { space, mut strategy, mut estimator, .. } = nasforge_experiment::build(&registry, &config)?;
    drive_rate(&space, &mut *estimator, &mut *strategy, evaluations, seed)
}

/// A Python that imports optuna: `target/optuna-venv`, created with `pip
/// install optuna` on first use; `None` if that cannot be done.
pub(crate) fn optuna_python() -> Option<PathBuf> {
    let works = |py: &Path| Command::new(py).args(["-c", "import optuna"]).output().is_ok_and(|o| o.status.success());
    let venv = Path::new("target/optuna-venv");
    let py = venv.join("bin/python");
    if works(&py) {
        return Some(py);
    }
    println!("installing Optuna into {} ...", venv.display());
    let ok = Command::new("python3").args(["-m", "venv"]).arg(venv).status().is_ok_and(|s| s.success())
        && Command::new(&py).args(["-m", "pip", "install", "-q", "optuna"]).status().is_ok_and(|s| s.success());
    (ok && works(&py)).then_some(py)
}

/// Optuna's trials/s on the same table (see `optuna_reference.py`).
fn optuna_reference(csv: &Path) -> Result<Option<Vec<(String, f64)>>> {
    let Some(py) = optuna_python() else { return Ok(None) };
    let script = tempfile::Builder::new().suffix(".py").tempfile()?;
    std::fs::write(script.path(), include_str!("optuna_reference.py"))?;
    let out = Command::new(py).arg(script.path()).arg(csv).output()?;
    if !out.status.success() {
        bail!("the Optuna reference failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    if let Some(v) = stdout.lines().find_map(|l| l.strip_prefix("optuna_version: ")) {
        println!("optuna {v}");
    }
    Ok(Some(
        stdout
            .lines()
            .filter(|l| !l.starts_with("optuna_version"))
            .filter_map(|l| l.split_once(": ").and_then(|(k, v)| Some((k.to_owned(), v.trim().parse().ok()?))))
            .collect(),
    ))
}

/// Runs the plain-Python reference three times; the median rate.
fn python_reference(csv: &Path) -> Result<Option<f64>> {
    let script = tempfile::Builder::new().suffix(".py").tempfile()?;
    std::fs::write(script.path(), include_str!("rea_reference.py"))?;
    let mut rates = Vec::new();
    for _ in 0..3 {
        let out = match Command::new("python3").arg(script.path()).arg(csv).arg("300000").output() {
            Ok(out) => out,
            Err(_) => return Ok(None),
        };
        if !out.status.success() {
            bail!("the Python reference failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        let rate = stdout
            .lines()
            .find_map(|l| l.strip_prefix("evaluations_per_second: "))
            .context("the Python reference printed no rate")?
            .trim()
            .parse::<f64>()?;
        rates.push(rate);
    }
    Ok(Some(median(rates)))
}

/// Peak resident memory of this process, in MiB (Linux `VmHWM`).
pub(crate) fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb / 1024.0)
}

fn bench_trainer(threads: usize, steps: usize, python: Option<PathBuf>) -> Result<()> {
    use nasforge_space_nb201::{Cell, Op};
    use nasforge_trainer_dfdx::dfdx::prelude::*;
    use nasforge_trainer_dfdx::params::Optimizer;
    use nasforge_trainer_dfdx::{ImageClassifier, Nb201Net, Nb201Shape, OptimizerConfig};

    rayon::ThreadPoolBuilder::new().num_threads(threads).build_global()?;
    let batch = 64;
    let mut net = Nb201Net::new(&Cell::uniform(Op::NorConv3x3), Nb201Shape { channels: 16, cells: 1 }, 3, 10, 0);
    let mut opt = Optimizer::new(OptimizerConfig::Sgd { lr: 0.1, momentum: 0.9, nesterov: true, weight_decay: 5e-4 });
    let dev = net.store.device().clone();
    let x: Tensor<(usize, usize, usize, usize), f32, Cpu> = dev.sample_normal_like(&(batch, 3, 32, 32));
    let mut onehot = vec![0.0f32; batch * 10];
    for i in 0..batch {
        onehot[i * 10 + (i * 7) % 10] = 1.0;
    }
    let y: Tensor<(usize, usize), f32, Cpu> = dev.tensor_from_vec(onehot, (batch, 10));
    let mut times = Vec::new();
    for i in 0..steps + 2 {
        let t0 = Instant::now();
        let logits = net.forward(x.leaky_trace(), true);
        let loss = cross_entropy_with_logits_loss(logits, y.clone());
        let mut grads = loss.backward();
        opt.step(&mut net.store.params, &mut grads, 0.1).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        if i >= 2 {
            times.push(t0.elapsed().as_secs_f64() * 1000.0);
        }
    }
    let ours = median(times);
    println!("nb201 all-nor_conv_3x3, C=16, N=1, batch {batch}, 3x32x32, {threads} threads, median of {steps} steps");
    println!("params: {}", net.param_count());
    println!("dfdx_ms_per_step: {ours:.1}");
    if let Some(rss) = peak_rss_mb() {
        println!("dfdx_peak_rss_mb: {rss:.0}");
    }
    let Some(peer) = torch_peer(python, include_str!("nb201_torch.py"), threads, batch, steps)? else {
        println!("PyTorch unavailable: no ratio");
        return Ok(());
    };
    let torch_ms = peer.ms_per_step;
    println!("torch_params: {}", peer.params);
    println!("torch_ms_per_step: {torch_ms:.1}");
    println!("torch_peak_rss_mb: {}", peer.peak_rss_mb.map_or("?".into(), |r| format!("{r:.0}")));
    // steps/s ratio = (1/ours) / (1/torch)
    println!("ratio: {:.2}", torch_ms / ours);
    Ok(())
}

/// What a PyTorch peer script printed: `params: N`, `ms_per_step: MS`,
/// `peak_rss_mb: MB`.
pub(crate) struct TorchPeer {
    pub params: String,
    pub ms_per_step: f64,
    pub peak_rss_mb: Option<f64>,
}

/// Runs the peer `script` (its arguments: threads, batch, timed steps) on
/// `threads` threads; `None` when no Python imports torch.
pub(crate) fn torch_peer(python: Option<PathBuf>, script: &str, threads: usize, batch: usize, steps: usize) -> Result<Option<TorchPeer>> {
    let Some(python) = torch_python(python)? else { return Ok(None) };
    let file = tempfile::Builder::new().suffix(".py").tempfile()?;
    std::fs::write(file.path(), script)?;
    let out = Command::new(&python)
        .arg(file.path())
        .args([threads.to_string(), batch.to_string(), steps.to_string()])
        .env("OMP_NUM_THREADS", threads.to_string())
        .output()?;
    if !out.status.success() {
        bail!("the PyTorch peer failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let field = |name: &str| stdout.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.trim().to_owned());
    Ok(Some(TorchPeer {
        params: field("params: ").unwrap_or_default(),
        ms_per_step: field("ms_per_step: ").context("no PyTorch timing")?.parse()?,
        peak_rss_mb: field("peak_rss_mb: ").and_then(|v| v.parse().ok()),
    }))
}

/// A Python that imports torch: the one given, else `target/torch-venv`
/// (created with `pip install torch` on first use); `None` if impossible.
fn torch_python(given: Option<PathBuf>) -> Result<Option<PathBuf>> {
    let works = |py: &Path| Command::new(py).args(["-c", "import torch"]).output().is_ok_and(|o| o.status.success());
    if let Some(py) = given {
        return Ok(works(&py).then_some(py));
    }
    let venv = Path::new("target/torch-venv");
    let py = venv.join("bin/python");
    if works(&py) {
        return Ok(Some(py));
    }
    println!("installing PyTorch into {} (PyPI's wheel with its CUDA libraries: several GB) ...", venv.display());
    let ok = Command::new("python3").args(["-m", "venv"]).arg(venv).status().is_ok_and(|s| s.success())
        && Command::new(&py).args(["-m", "pip", "install", "-q", "torch"]).status().is_ok_and(|s| s.success());
    Ok((ok && works(&py)).then_some(py))
}

/// Where the zero-cost benchmark leaves its inputs and outputs.
const ZC_DIR: &str = "target/bench";
/// Architectures in the NAS-Bench-201 table (the projection's multiplier).
const NB201_CELLS: usize = 15_625;

/// The arguments of one `nasforge zero-cost nas-bench-201` run into `out`
/// (`threads`: `None` for the binary's default, the machine's cores).
fn zero_cost_args(proxy: &str, archs: &str, out: &Path, threads: Option<usize>, seed: u64) -> Vec<String> {
    let mut args: Vec<String> = ["zero-cost", "nas-bench-201", "--proxies", proxy, "--archs", archs, "--seed"].map(String::from).into();
    args.push(seed.to_string());
    args.push("--out".into());
    args.push(out.display().to_string());
    if proxy == "nwot" {
        args.extend(["--dataset".into(), "fashion-mnist".into()]);
    }
    if let Some(t) = threads {
        args.extend(["--threads".into(), t.to_string()]);
    }
    args
}

/// Runs `nasforge zero-cost` into a fresh `out` (it resumes an existing
/// one, which would time nothing); wall-clock seconds of the process.
fn time_zero_cost(proxy: &str, archs: &str, out: &Path, threads: Option<usize>, seed: u64) -> Result<f64> {
    let _ = std::fs::remove_file(out);
    let t0 = Instant::now();
    let o = Command::new("target/release/nasforge").args(zero_cost_args(proxy, archs, out, threads, seed)).output()?;
    let seconds = t0.elapsed().as_secs_f64();
    if !o.status.success() {
        bail!("nasforge zero-cost --proxies {proxy} failed: {}", String::from_utf8_lossy(&o.stderr));
    }
    Ok(seconds)
}

/// One proxy's column of a scores CSV, by standard string.
fn read_scores(path: &Path, proxy: &str) -> Result<std::collections::HashMap<String, f64>> {
    let mut reader = csv::Reader::from_path(path).with_context(|| path.display().to_string())?;
    let col = reader.headers()?.iter().position(|h| h == proxy).with_context(|| format!("{}: no `{proxy}` column", path.display()))?;
    reader
        .records()
        .map(|r| {
            let r = r?;
            Ok((r[0].to_owned(), r[col].parse::<f64>().unwrap_or(f64::NAN)))
        })
        .collect()
}

/// Spearman's ρ over the pairs where neither score is NaN (−∞, NASWOT's
/// score of a singular kernel, ranks last on both sides); the pairs used.
fn spearman_of(a: &[f64], b: &[f64]) -> (f64, usize) {
    let (x, y): (Vec<f64>, Vec<f64>) = a.iter().zip(b).filter(|(x, y)| !x.is_nan() && !y.is_nan()).map(|(x, y)| (*x, *y)).unzip();
    (super::spearman(&x, &y), x.len())
}

/// The batch `nasforge zero-cost --dataset fashion-mnist --seed SEED` scores
/// nwot on, drawn as the command draws it (same split seed, same batch
/// seed, same resizing), so that the PyTorch peer reads the same images.
fn zero_cost_batch(seed: u64) -> Result<Vec<f32>> {
    use nasforge::zero_cost::ZeroCostToml;
    use nasforge_core::derive_seed;
    use nasforge_registry::{Kind, Params};

    let registry = nasforge::families();
    let dataset = registry.dataset("fashion-mnist").context("no fashion-mnist dataset in the registry")?;
    let data = dataset.load(&registry.configure(Kind::Dataset, "fashion-mnist", "")?, derive_seed(seed, "data-split")).map_err(anyhow::Error::msg)?;
    let config = ZeroCostToml { proxies: vec!["nwot".into()], ..ZeroCostToml::default() }.check().map_err(|e| anyhow::anyhow!("{}: {}", e.key, e.reason))?;
    let (batch, _) = config.batch("nas-bench-201", Some(&data), derive_seed(seed, "zero-cost-batch")).map_err(anyhow::Error::msg)?;
    if batch.input.len() != batch.items * 3 * 32 * 32 {
        bail!("the batch is not 3×32×32 images ({} values for {} items)", batch.input.len(), batch.items);
    }
    Ok(batch.input)
}

/// Peak resident memory (MiB) of one `nasforge zero-cost` run, read from
/// GNU time's `-v` report (the child's own `ru_maxrss`: a poll of
/// `/proc` can miss the last peak, and `RUSAGE_CHILDREN` is the maximum
/// over every child this process has waited for, PyTorch's included);
/// `None` without `/usr/bin/time`.
fn zero_cost_peak_rss(proxy: &str, archs: &str, out: &Path, seed: u64) -> Result<Option<(f64, f64)>> {
    let time = Path::new("/usr/bin/time");
    if !time.exists() {
        return Ok(None);
    }
    let _ = std::fs::remove_file(out);
    let t0 = Instant::now();
    let o = Command::new(time).arg("-v").arg("target/release/nasforge").args(zero_cost_args(proxy, archs, out, None, seed)).output()?;
    let seconds = t0.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&o.stderr);
    if !o.status.success() {
        bail!("nasforge zero-cost --archs {archs} failed: {stderr}");
    }
    let kb: f64 = stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):"))
        .context("GNU time printed no maximum resident set size")?
        .trim()
        .parse()?;
    Ok(Some((kb / 1024.0, seconds)))
}

fn bench_zero_cost(n: usize, seed: u64, python: Option<PathBuf>) -> Result<()> {
    use nasforge_core::{derive_seed, seeded_rng};

    if n == 0 || n > NB201_CELLS {
        bail!("--archs must be 1..={NB201_CELLS}");
    }
    let status = Command::new(env!("CARGO")).args(["build", "--release", "--quiet", "--bin", "nasforge"]).status()?;
    if !status.success() {
        bail!("building nasforge failed");
    }
    let dir = Path::new(ZC_DIR);
    std::fs::create_dir_all(dir)?;

    // The architectures: seeded, distinct, in a file both sides read.
    let space = Nb201Space;
    let mut rng = seeded_rng(derive_seed(seed, "bench-zero-cost"));
    let mut archs: Vec<String> = Vec::with_capacity(n);
    let mut seen = std::collections::HashSet::new();
    while archs.len() < n {
        let a = space.format(&space.sample(&mut rng));
        if seen.insert(a.clone()) {
            archs.push(a);
        }
    }
    let archs_file = dir.join("zero-cost-archs.txt");
    std::fs::write(&archs_file, archs.join("\n") + "\n")?;
    let empty_file = dir.join("zero-cost-none.txt");
    std::fs::write(&empty_file, "")?;
    let batch_file = dir.join("zero-cost-batch.f32");
    let batch = zero_cost_batch(seed)?;
    std::fs::write(&batch_file, batch.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>())?;
    let items = batch.len() / (3 * 32 * 32);
    let (archs_arg, empty_arg) = (archs_file.display().to_string(), empty_file.display().to_string());
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());

    // nasforge: wall-clock of the whole command less that of the same
    // command on no architectures (process start, data load, CSV header),
    // so that both sides count network construction and scoring only.
    // synflow is quick: the median of three runs.
    let ms_per_net = |proxy: &str, threads: Option<usize>, repeats: usize| -> Result<f64> {
        let out = dir.join(format!("zero-cost-{proxy}.csv"));
        let start = time_zero_cost(proxy, &empty_arg, &out, threads, seed)?;
        let runs: Vec<f64> = (0..repeats).map(|_| time_zero_cost(proxy, &archs_arg, &out, threads, seed)).collect::<Result<_>>()?;
        Ok((median(runs) - start).max(0.0) * 1000.0 / n as f64)
    };
    let synflow_1 = ms_per_net("synflow", Some(1), 3)?;
    let synflow_all = ms_per_net("synflow", None, 3)?;
    let nwot_1 = ms_per_net("nwot", Some(1), 1)?;
    let nwot_all = ms_per_net("nwot", None, 1)?;
    // Scores do not depend on the threads (one seed per architecture):
    // the last run's CSVs are compared.
    let ours_synflow = read_scores(&dir.join("zero-cost-synflow.csv"), "synflow")?;
    let ours_nwot = read_scores(&dir.join("zero-cost-nwot.csv"), "nwot")?;
    let column = |m: &std::collections::HashMap<String, f64>| -> Vec<f64> { archs.iter().map(|a| m.get(a).copied().unwrap_or(f64::NAN)).collect() };
    let (ours_synflow, ours_nwot) = (column(&ours_synflow), column(&ours_nwot));

    // PyTorch, one thread, on the same architectures and batch.
    let Some(python) = torch_python(python)? else {
        bail!("PyTorch unavailable: no peer to compare with");
    };
    let script = tempfile::Builder::new().suffix(".py").tempfile()?;
    std::fs::write(script.path(), include_str!("bench_zero_cost.py"))?;
    let out = Command::new(&python)
        .arg(script.path())
        .arg(&archs_file)
        .arg(&batch_file)
        .arg(items.to_string())
        .env("OMP_NUM_THREADS", "1")
        .env("MKL_NUM_THREADS", "1")
        .output()?;
    if !out.status.success() {
        bail!("the PyTorch peer failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    std::fs::write(dir.join("zero-cost-torch.json"), stdout.as_bytes())?;
    let torch: serde_json::Value = serde_json::from_str(stdout.trim()).context("the PyTorch peer's JSON")?;
    // Per proxy: ms/network (mean: total time over the networks) and the
    // scores, non-finite ones written as strings ("inf", "-inf", "nan").
    let peer = |key: &str| -> Result<(f64, Vec<f64>)> {
        let p = &torch[key];
        let seconds: Vec<f64> = p["seconds"].as_array().context("no seconds")?.iter().filter_map(serde_json::Value::as_f64).collect();
        let scores: Vec<f64> =
            p["scores"].as_array().context("no scores")?.iter().map(|v| v.as_f64().or_else(|| v.as_str()?.parse().ok()).unwrap_or(f64::NAN)).collect();
        if seconds.len() != n || scores.len() != n {
            bail!("the PyTorch peer scored {} of {n} architectures with {key}", scores.len());
        }
        Ok((seconds.iter().sum::<f64>() * 1000.0 / n as f64, scores))
    };
    let (torch_f64, torch_synflow) = peer("synflow_f64")?;
    let (torch_f32, torch_synflow_f32) = peer("synflow_f32")?;
    let (torch_nwot_ms, torch_nwot) = peer("nwot")?;
    let (rho_synflow, pairs_synflow) = spearman_of(&ours_synflow, &torch_synflow);
    let (rho_nwot, pairs_nwot) = spearman_of(&ours_nwot, &torch_nwot);
    let overflowed = torch_synflow_f32.iter().filter(|v| !v.is_finite()).count();

    println!("zero-cost proxies on NB201 networks (C=16, N=5, 3x32x32, 10 classes), {n} architectures ({}), seed {seed}", archs_file.display());
    println!(
        "nasforge: the release binary, wall-clock less its start-up (and data load) on no architectures; PyTorch {}: construction + score per network, {} thread",
        torch["torch"].as_str().unwrap_or("?"),
        torch["threads"]
    );
    println!("nwot batch: {items} Fashion-MNIST training images, the one nasforge draws (resized to 32x32, 3 channels), the same for both");
    println!("{:<12} {:>16} {:>16} {:>16} {:>12} {:>9}", "proxy", "nasforge 1 thr", format!("nasforge {cores} thr"), "PyTorch 1 thr", "ratio 1 thr", "spearman");
    println!("{:<12} {:>13.1} ms {:>13.1} ms {:>13.1} ms {:>11.2}x {:>9.3}", "synflow f64", synflow_1, synflow_all, torch_f64, torch_f64 / synflow_1, rho_synflow);
    println!("{:<12} {:>16} {:>16} {:>13.1} ms {:>11.2}x {:>9}", "synflow f32", "(same)", "(same)", torch_f32, torch_f32 / synflow_1, "");
    println!("{:<12} {:>13.1} ms {:>13.1} ms {:>13.1} ms {:>11.2}x {:>9.3}", "nwot", nwot_1, nwot_all, torch_nwot_ms, torch_nwot_ms / nwot_1, rho_nwot);
    println!("ratio: PyTorch ms / nasforge ms, both on one thread (above 1: nasforge is faster)");
    println!("nasforge's synflow is float32 with an exact 2^-64 rescale where R overflows; PyTorch's float32 synflow overflowed in {overflowed} of {n}");
    println!("spearman_synflow: {rho_synflow:.3} over {pairs_synflow} architectures (nasforge vs PyTorch float64; initialisations differ; expected > 0.9)");
    println!("spearman_nwot: {rho_nwot:.3} over {pairs_nwot} architectures (same batch, initialisations differ)");

    // Memory: the scores are written as they come, so the peak should not
    // grow with the number of architectures.
    for count in [500, 2000] {
        let out = dir.join(format!("zero-cost-synflow-{count}.csv"));
        match zero_cost_peak_rss("synflow", &count.to_string(), &out, seed)? {
            Some((mb, s)) => println!("synflow_peak_rss_mb_{count}_archs: {mb:.1} ({cores} threads, {s:.1} s, {:.1} ms/network)", s * 1000.0 / count as f64),
            None => println!("/usr/bin/time not found: no peak RSS"),
        }
    }
    let minutes = synflow_all * NB201_CELLS as f64 / 60_000.0;
    println!("projected_full_table_minutes: {minutes:.1} (synflow, {NB201_CELLS} cells x {synflow_all:.1} ms at {cores} threads; the floor: 30)");
    Ok(())
}
