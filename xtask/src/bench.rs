//! `cargo xtask bench ...`: throughput of the tabular search (against
//! plain Python and Optuna), of the dfdx trainer (against PyTorch) and of
//! a strategy through the plugin ABI (against the same strategy in
//! process).

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
}

/// Runs one benchmark.
pub fn run(which: Bench) -> Result<()> {
    match which {
        Bench::Tabular { csv, evaluations, repeats } => bench_tabular(&csv, evaluations, repeats),
        Bench::Trainer { threads, steps, python } => bench_trainer(threads, steps, python),
        Bench::Plugin { csv, evaluations, repeats } => bench_plugin(&csv, evaluations, repeats),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
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
fn optuna_python() -> Option<PathBuf> {
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
fn peak_rss_mb() -> Option<f64> {
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
    let Some(python) = torch_python(python)? else {
        println!("PyTorch unavailable: no ratio");
        return Ok(());
    };
    let script = tempfile::Builder::new().suffix(".py").tempfile()?;
    std::fs::write(script.path(), include_str!("nb201_torch.py"))?;
    let out = Command::new(&python)
        .arg(script.path())
        .args([threads.to_string(), batch.to_string(), steps.to_string()])
        .env("OMP_NUM_THREADS", threads.to_string())
        .output()?;
    if !out.status.success() {
        bail!("the PyTorch peer failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let field = |name: &str| stdout.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.trim().to_owned());
    let torch_ms: f64 = field("ms_per_step: ").context("no PyTorch timing")?.parse()?;
    println!("torch_params: {}", field("params: ").unwrap_or_default());
    println!("torch_ms_per_step: {torch_ms:.1}");
    println!("torch_peak_rss_mb: {}", field("peak_rss_mb: ").unwrap_or_default());
    // steps/s ratio = (1/ours) / (1/torch)
    println!("ratio: {:.2}", torch_ms / ours);
    Ok(())
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
