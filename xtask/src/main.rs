//! Project automation: `cargo xtask <command>`.
//!
//! - `bench tabular`: regularized-evolution throughput on the NAS-Bench-201
//!   table, journal off and on, against a plain-Python reference.
//! - `nb201-order CSV`: regenerates the NAS-Bench-201 official index order
//!   shipped with the space crate, from a NAS-Bench-201 CSV.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use nasforge_core::{SearchSpace, Strategy};
use nasforge_experiment::{Budget, Runner};
use nasforge_journal::{ExperimentRecord, Journal};
use nasforge_space_nb201::Nb201Space;
use nasforge_strategies::{RegularizedEvolution, RegularizedEvolutionParams};
use nasforge_tabular::{Nb201Estimator, Nb201Table};

#[derive(Parser)]
#[command(name = "xtask", about = "nasforge project automation")]
struct Cli {
    #[command(subcommand)]
    command: Top,
}

#[derive(Subcommand)]
enum Top {
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        which: Bench,
    },
    /// Regenerate `search-spaces/nasforge-space-nb201/data/official-order.txt`.
    Nb201Order {
        /// A NAS-Bench-201 CSV with columns `arch` (index) and `cellstr`.
        csv: PathBuf,
    },
}

#[derive(Subcommand)]
enum Bench {
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

fn main() -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::env::set_current_dir(&root).context("entering the repository root")?;
    match Cli::parse().command {
        Top::Bench { which: Bench::Tabular { csv, evaluations, repeats } } => bench_tabular(&csv, evaluations, repeats),
        Top::Nb201Order { csv } => nb201_order(&csv),
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
    println!("evaluations_per_second_journal: {:.0}", median(journal_rates));

    let python = python_reference(csv)?;
    if let Some(py) = python {
        println!("python_evaluations_per_second: {py:.0}");
        println!("ratio_vs_python: {:.1}", rust / py);
    } else {
        println!("python3 not found: no reference ratio");
    }
    println!("evaluations_per_second: {rust:.0}");
    Ok(())
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

fn nb201_order(csv: &Path) -> Result<()> {
    let space = Nb201Space;
    let mut reader = csv::Reader::from_path(csv)?;
    let headers = reader.headers()?.clone();
    let col = |name: &str| headers.iter().position(|h| h == name).with_context(|| format!("no `{name}` column"));
    let (c_index, c_str) = (col("arch")?, col("cellstr")?);
    let mut order = vec![None; nasforge_space_nb201::SIZE];
    for record in reader.records() {
        let record = record?;
        let index: usize = record[c_index].parse()?;
        let cell = space.parse(&record[c_str])?;
        let slot = order.get_mut(index).with_context(|| format!("index {index} out of range"))?;
        *slot = Some(cell);
    }
    let mut text = String::new();
    for (i, cell) in order.iter().enumerate() {
        let cell = cell.with_context(|| format!("index {i} missing"))?;
        text.extend(cell.ops.iter().map(|&op| char::from(b'0' + op as u8)));
        text.push('\n');
    }
    let out = Path::new("search-spaces/nasforge-space-nb201/data/official-order.txt");
    std::fs::write(out, text)?;
    println!("wrote {}", out.display());
    Ok(())
}
