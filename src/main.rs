//! The `nasforge` command line.

// Training allocates and frees activation-sized buffers every step: see
// the allocator module for why this one.
#[global_allocator]
static GLOBAL: nasforge_trainer_dfdx::allocator::Allocator = nasforge_trainer_dfdx::allocator::Allocator;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use nasforge_core::SearchSpace;
use nasforge_experiment::{Progress, RunSummary};
use nasforge_journal::Journal;

/// Neural architecture search: run experiments described in TOML, keep
/// every trial in a SQLite journal, resume killed runs.
#[derive(Parser)]
#[command(name = "nasforge", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the experiment an experiment file describes.
    Run {
        /// The experiment TOML file.
        experiment: PathBuf,
        /// Override the file's `seed`.
        #[arg(long)]
        seed: Option<u64>,
        /// Override the file's `journal`.
        #[arg(long)]
        journal: Option<PathBuf>,
        /// Print a JSON summary as the last line of stdout.
        #[arg(long)]
        json: bool,
    },
    /// Continue a killed or interrupted experiment to its budget.
    Resume {
        /// The journal file.
        journal: PathBuf,
        /// The experiment's id (default: the latest unfinished one).
        #[arg(long)]
        experiment: Option<i64>,
        /// Print a JSON summary as the last line of stdout.
        #[arg(long)]
        json: bool,
    },
    /// Summarise the experiments of a journal.
    Show {
        /// The journal file.
        journal: PathBuf,
        /// Only this experiment (default: all; with --json, the latest).
        #[arg(long)]
        experiment: Option<i64>,
        /// Print the (latest or chosen) experiment's JSON summary last.
        #[arg(long)]
        json: bool,
    },
    /// Train one architecture for real, as a training file describes.
    Train {
        /// The training TOML file.
        file: PathBuf,
        /// Override the file's `seed`.
        #[arg(long)]
        seed: Option<u64>,
        /// Print a JSON summary as the last line of stdout.
        #[arg(long)]
        json: bool,
    },
    /// Inspect the plugins an experiment file declares.
    Plugins {
        #[command(subcommand)]
        command: PluginsCommand,
    },
    /// Describe an architecture: canonical key, standard string, known facts.
    Describe {
        /// The space: nas-bench-201, nas-bench-graph, nas-bench-graph-proteins, nas-bench-macro, darts, mobilenet, transformer, auto-gnn, hytra.
        space: String,
        /// The architecture in the space's standard string.
        arch: String,
        /// Print `{"key":S,"arch":S,"params":N,"flops":N}` (FLOPs as
        /// multiply-accumulates; null where the space cannot count them) as
        /// the last line of stdout.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum PluginsCommand {
    /// Load each declared plugin: its kind, versions and load status.
    List {
        /// The experiment TOML file.
        experiment: PathBuf,
        /// Print one JSON array as the last line of stdout.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    nasforge_trainer_dfdx::allocator::keep_freed_pages();
    match dispatch(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Run { experiment, seed, journal, json } => {
            let mut config = nasforge_experiment::load(&experiment)?;
            if let Some(seed) = seed {
                config.seed = seed;
            }
            if let Some(journal) = journal {
                config.journal = Some(journal);
            }
            let bar = progress_bar(config.budget.evaluations);
            let mut on_trial = |p: Progress| update(&bar, p);
            let summary = nasforge_experiment::run(&config, Some(&mut on_trial))?;
            bar.finish_and_clear();
            report(&summary, config.journal.as_deref(), json)
        }
        Command::Resume { journal, experiment, json } => {
            let bar = progress_bar(None);
            let mut on_trial = |p: Progress| update(&bar, p);
            let summary = nasforge_experiment::resume(&journal, experiment, Some(&mut on_trial))?;
            bar.finish_and_clear();
            report(&summary, Some(&journal), json)
        }
        Command::Show { journal, experiment, json } => show(&journal, experiment, json),
        Command::Describe { space, arch, json } => describe(&space, &arch, json),
        Command::Plugins { command: PluginsCommand::List { experiment, json } } => list_plugins(&experiment, json),
        Command::Train { file, seed, json } => {
            let mut job = nasforge_experiment::load_train_job(&file)?;
            if let Some(seed) = seed {
                job.seed = seed;
            }
            let bar = progress_bar(None);
            let summary = nasforge_experiment::train(&job, &mut |step, planned, loss| {
                if let Some(total) = planned {
                    bar.set_length(total);
                }
                bar.set_position(step);
                bar.set_message(format!("loss {loss:.4}"));
            })?;
            bar.finish_and_clear();
            println!(
                "valid {:.4}  test {:.4}  ece {:.4}  params {}  seconds {:.1}",
                summary.valid, summary.test, summary.ece, summary.params, summary.seconds
            );
            println!("loss per epoch: {:?}", summary.loss_curve.iter().map(|l| (l * 1e4).round() / 1e4).collect::<Vec<_>>());
            if let Some(path) = &job.checkpoint {
                println!("checkpoint: {}", path.display());
            }
            if json {
                println!("{}", serde_json::to_string(&summary)?);
            }
            Ok(())
        }
    }
}

fn progress_bar(total: Option<u64>) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total.unwrap_or(0));
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len}  {msg}")
            .expect("a valid template"),
    );
    bar
}

fn update(bar: &ProgressBar, p: Progress) {
    if let Some(total) = p.budget {
        bar.set_length(total);
    }
    bar.set_position(p.trials);
    if let Some(best) = p.best_valid {
        bar.set_message(format!("best valid {best:.4}"));
    }
}

fn json_line(summary: &RunSummary) -> Result<String> {
    Ok(serde_json::to_string(summary)?)
}

fn report(summary: &RunSummary, journal: Option<&Path>, json: bool) -> Result<()> {
    match &summary.best {
        Some(b) => println!(
            "best: {}  valid {:.4}  test {}",
            b.arch,
            b.valid,
            b.test.map_or("n/a".into(), |t| format!("{t:.4}"))
        ),
        None => println!("best: none (no trial succeeded)"),
    }
    println!("trials: {} ({} failed)  seconds: {:.3}", summary.trials, summary.failed, summary.seconds);
    if let (Some(j), Some(id)) = (journal, summary.experiment) {
        println!("journal: {} (experiment {id})", j.display());
    }
    if json {
        println!("{}", json_line(summary)?);
    }
    Ok(())
}

fn show(path: &Path, only: Option<i64>, json: bool) -> Result<()> {
    let journal = Journal::open_existing(path)?;
    let experiments = journal.experiments()?;
    let chosen: Vec<_> = experiments.iter().filter(|e| only.is_none_or(|id| e.id == id)).collect();
    if chosen.is_empty() {
        bail!("{}: no experiment{}", path.display(), only.map(|id| format!(" with id {id}")).unwrap_or_default());
    }
    let mut last = None;
    for e in &chosen {
        let s = nasforge_experiment::summarize(&journal, e.id)?;
        println!(
            "experiment {} [{}] {} on {} with {} (seed {}): {} trials, {} failed, {:.3} s",
            e.id,
            if e.finished_at.is_some() { "finished" } else { "unfinished" },
            e.strategy,
            e.space,
            e.estimator,
            e.seed,
            s.trials,
            s.failed,
            s.seconds
        );
        if let Some(b) = &s.best {
            println!(
                "  best by validation: {}  valid {:.4}  test {}",
                b.arch,
                b.valid,
                b.test.map_or("n/a".into(), |t| format!("{t:.4}"))
            );
        }
        last = Some(s);
    }
    if json {
        println!("{}", json_line(&last.expect("at least one experiment"))?);
    }
    Ok(())
}

fn describe(space: &str, arch: &str, json: bool) -> Result<()> {
    let print = |space: &dyn Fn() -> Result<serde_json::Value>| -> Result<()> {
        let v = space()?;
        if json {
            println!("{v}");
        }
        Ok(())
    };
    fn facts<S: SearchSpace>(space: &S, arch: &str) -> Result<serde_json::Value> {
        // A file holding the architecture works too (`examples/archs/`).
        let text = match std::fs::read_to_string(arch) {
            Ok(t) => t.trim().to_owned(),
            Err(_) => arch.to_owned(),
        };
        let a = space.parse(&text)?;
        println!("space: {}", space.name());
        println!("standard string: {}", space.format(&a));
        println!("canonical key: {}", space.canonical_key(&a));
        for (label, value) in space.describe(&a) {
            println!("{label}: {value}");
        }
        Ok(serde_json::json!({ "key": space.canonical_key(&a), "arch": space.format(&a), "params": space.params(&a), "flops": space.macs(&a) }))
    }
    match space {
        "nas-bench-201" => print(&|| facts(&nasforge_space_nb201::Nb201Space, arch)),
        "nas-bench-graph" => print(&|| facts(&nasforge_space_nbgraph::NbGraphSpace::standard(), arch)),
        "nas-bench-graph-proteins" => print(&|| facts(&nasforge_space_nbgraph::NbGraphSpace::proteins(), arch)),
        "darts" => print(&|| facts(&nasforge_space_darts::DartsSpace, arch)),
        "mobilenet" => print(&|| facts(&nasforge_space_mobilenet::MobileNetSpace::default(), arch)),
        "nas-bench-macro" => print(&|| facts(&nasforge_space_mobilenet::NbMacroSpace, arch)),
        "transformer" => print(&|| facts(&nasforge_space_transformer::TransformerSpace::default(), arch)),
        "auto-gnn" => print(&|| facts(&nasforge_space_autognn::AutoGnnSpace::default(), arch)),
        "hytra" => print(&|| facts(&nasforge_space_hytra::HyTraSpace::default(), arch)),
        other => Err(anyhow::anyhow!(
            "unknown space `{other}`; valid choices: nas-bench-201, nas-bench-graph, nas-bench-graph-proteins, nas-bench-macro, darts, mobilenet, transformer, auto-gnn, hytra"
        ))
            .context("nasforge describe"),
    }
}

fn list_plugins(experiment: &Path, json: bool) -> Result<()> {
    let manifests = nasforge_experiment::load_plugin_manifests(experiment)?;
    let inspected = nasforge_experiment::inspect_plugins(&manifests);
    let mut rows = Vec::new();
    if inspected.is_empty() {
        println!("{} declares no plugins", experiment.display());
    }
    for (m, outcome) in &inspected {
        let (status, version, api, rustc) = match outcome {
            Ok(info) => ("ok".to_owned(), info.version.clone(), format!("{}.{}.{}", info.api.major, info.api.minor, info.api.patch), info.rustc.clone()),
            Err(e) => (format!("error: {e}"), String::new(), String::new(), String::new()),
        };
        println!("{:<24} {:<13} {:<9} protocol {:<7} {}", m.name, m.kind.as_str(), version, api, m.path.display());
        println!("{:<24} {status}{}", "", if rustc.is_empty() { String::new() } else { format!(" (built by {rustc})") });
        rows.push(serde_json::json!({
            "name": m.name, "kind": m.kind.as_str(), "path": m.path, "version": version, "protocol": api,
            "rustc": rustc, "loaded": outcome.is_ok(), "status": status,
        }));
    }
    if json {
        println!("{}", serde_json::Value::Array(rows));
    }
    Ok(())
}
