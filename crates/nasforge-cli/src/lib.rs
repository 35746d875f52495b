//! The nasforge command line over any [`Registry`]: a binary is its
//! families plus this.
//!
//! ```no_run
//! fn main() -> std::process::ExitCode {
//!     let mut registry = nasforge_registry::Registry::new();
//!     // registry.add(nasforge_evolution::register).add(my_crate::register) ...
//!     nasforge_cli::App::new(registry).main()
//! }
//! ```
//!
//! Subcommands: `run`, `resume`, `show`, `report`, `dashboard`, `export`,
//! `describe`, `list`, `plugins list`; a binary may add its own ([`App::with_command`]).

mod list;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use nasforge_core::SearchSpace;
use nasforge_experiment::{Progress, RunSummary};
use nasforge_journal::{ExperimentRecord, Journal, TrialRecord};
use nasforge_registry::Registry;

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
    /// Write an HTML report of the journals' searches (DIR/index.html, one
    /// self-contained page): best-so-far curves against evaluations and
    /// time (the seeds of one configuration as mean ± sd), Pareto fronts,
    /// supernets' α trajectories and eigenvalues, the top trials and each
    /// configuration's best architecture, drawn.
    Report {
        /// Journal files.
        #[arg(required = true)]
        journals: Vec<PathBuf>,
        /// The folder to write the page into.
        #[arg(long)]
        out: PathBuf,
    },
    /// Serve the report of the journals live (default
    /// http://127.0.0.1:8787/): each load reads the journals afresh, and
    /// the page reloads itself when trials land.
    Dashboard {
        /// Journal files.
        #[arg(required = true)]
        journals: Vec<PathBuf>,
        /// The port (0: any free one).
        #[arg(long, default_value_t = 8787)]
        port: u16,
        /// The address to listen on; anything but the loopback default
        /// shows the journals to the network.
        #[arg(long, default_value = "127.0.0.1")]
        host: std::net::IpAddr,
    },
    /// Export one trial's architecture: JSON (standard string, canonical
    /// key, decisions, graph, metrics), Graphviz DOT or an SVG drawing.
    Export {
        /// The journal file.
        journal: PathBuf,
        /// The experiment's id (default: the latest).
        #[arg(long)]
        experiment: Option<i64>,
        /// The best trial by validation score.
        #[arg(long, conflicts_with = "trial", required_unless_present = "trial")]
        best: bool,
        /// This trial.
        #[arg(long)]
        trial: Option<u64>,
        /// json, dot, svg, or a format the binary adds (the `nasforge`
        /// binary: onnx).
        #[arg(long, default_value = "json")]
        format: String,
        /// Trained weights for the network of a binary format (`nasforge
        /// train`'s safetensors; default: the trial's initialisation).
        #[arg(long)]
        checkpoint: Option<PathBuf>,
        /// The file to write (default: stdout).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// List every registered space, strategy, estimator, dataset and
    /// trainer with its parameters.
    List {
        /// Only this kind: space, strategy, estimator, dataset, trainer.
        kind: Option<String>,
        /// Print one JSON object as the last line of stdout.
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
        /// The space (`nasforge list space` shows them).
        space: String,
        /// The architecture in the space's standard string, or a file
        /// holding it.
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
    /// Load each declared plugin and create an instance with its
    /// `[plugin.config]`: kind, versions and status. Exits non-zero when
    /// one fails.
    List {
        /// The experiment TOML file.
        experiment: PathBuf,
        /// Print one JSON array as the last line of stdout.
        #[arg(long)]
        json: bool,
    },
}

type Handler = Box<dyn Fn(&Registry, &ArgMatches) -> Result<()>>;

/// An `export --format NAME` of the binary's own: the experiment's record,
/// the chosen trial and `--checkpoint`, to the file's bytes.
pub type Exporter = Box<dyn Fn(&Registry, &ExperimentRecord, &TrialRecord, Option<&Path>) -> Result<Vec<u8>>>;

/// The command line: a registry and any extra subcommands.
pub struct App {
    registry: Registry,
    extra: Vec<(clap::Command, Handler)>,
    exporters: Vec<(&'static str, Exporter)>,
    name: Option<(&'static str, &'static str, &'static str)>,
}

impl App {
    /// The standard subcommands over `registry`.
    pub fn new(registry: Registry) -> Self {
        App { registry, extra: Vec::new(), exporters: Vec::new(), name: None }
    }

    /// Adds `export --format FORMAT`, written by `exporter` (the root
    /// binary adds `onnx`, which needs the engine this crate goes
    /// without).
    pub fn with_exporter(mut self, format: &'static str, exporter: impl Fn(&Registry, &ExperimentRecord, &TrialRecord, Option<&Path>) -> Result<Vec<u8>> + 'static) -> Self {
        self.exporters.push((format, Box::new(exporter)));
        self
    }

    /// The binary's own name, one-line description and version, for
    /// `--help` and `--version` (default: nasforge's), as in
    /// `.named(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_DESCRIPTION"), env!("CARGO_PKG_VERSION"))`.
    pub fn named(mut self, name: &'static str, about: &'static str, version: &'static str) -> Self {
        self.name = Some((name, about, version));
        self
    }

    /// Adds a subcommand of the binary's own, handled by `handler`.
    pub fn with_command(mut self, command: clap::Command, handler: impl Fn(&Registry, &ArgMatches) -> Result<()> + 'static) -> Self {
        self.extra.push((command, Box::new(handler)));
        self
    }

    /// Parses the process's arguments and runs the subcommand; errors are
    /// printed once, as `error: ...`.
    pub fn main(self) -> ExitCode {
        let mut command = Cli::command();
        if let Some((name, about, version)) = self.name {
            command = command.name(name).bin_name(name).about(about).version(version);
        }
        for (c, _) in &self.extra {
            command = command.subcommand(c.clone());
        }
        let matches = command.get_matches();
        let outcome = match matches.subcommand().and_then(|(name, sub)| self.extra.iter().find(|(c, _)| c.get_name() == name).map(|(_, h)| (h, sub))) {
            Some((handler, sub)) => handler(&self.registry, sub),
            None => Cli::from_arg_matches(&matches).map_err(anyhow::Error::from).and_then(|cli| dispatch(&self.registry, &self.exporters, cli)),
        };
        match outcome {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {}", error_text(&e));
                ExitCode::FAILURE
            }
        }
    }
}

/// An error and its causes, each said once: many errors already quote
/// their source in their own message (`journal x: <sqlite's reason>`), and
/// printing the chain as well said the same reason two or three times.
pub fn error_text(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        if !text.contains(&part) {
            if !text.is_empty() {
                text += ": ";
            }
            text += &part;
        }
    }
    text
}

fn dispatch(registry: &Registry, exporters: &[(&'static str, Exporter)], cli: Cli) -> Result<()> {
    match cli.command {
        Command::Run { experiment, seed, journal, json } => {
            let mut config = nasforge_experiment::load(registry, &experiment)?;
            if let Some(seed) = seed {
                config.seed = seed;
            }
            if let Some(journal) = journal {
                config.journal = Some(journal);
            }
            let bar = progress_bar(config.budget.evaluations);
            let mut on_trial = |p: Progress| update(&bar, p);
            let summary = nasforge_experiment::run(registry, &config, Some(&mut on_trial))?;
            bar.finish_and_clear();
            report(&summary, config.journal.as_deref(), json)
        }
        Command::Resume { journal, experiment, json } => {
            // Chosen once: the note and the resume speak of one experiment.
            let target = nasforge_experiment::resume_target(&Journal::open_existing(&journal)?, &journal, experiment)?;
            if target.finished_at.is_some() {
                eprintln!("note: experiment {} had reached its budget: its trials are replayed from the journal, none evaluated", target.id);
            }
            let bar = progress_bar(None);
            let mut on_trial = |p: Progress| update(&bar, p);
            let summary = nasforge_experiment::resume(registry, &journal, Some(target.id), Some(&mut on_trial))?;
            bar.finish_and_clear();
            report(&summary, Some(&journal), json)
        }
        Command::Show { journal, experiment, json } => show(registry, &journal, experiment, json),
        Command::Dashboard { journals, port, host } => nasforge_report::dashboard::serve(registry, &journals, std::net::SocketAddr::new(host, port), |addr| {
            use std::io::Write;
            println!("dashboard: http://{addr}/ (Ctrl-C to stop)");
            // The line is how scripts (and the tests) learn the port.
            let _ = std::io::stdout().flush();
        }),
        Command::Export { journal, experiment, best, trial, format, checkpoint, out } => export(registry, exporters, &journal, experiment, trial.filter(|_| !best), &format, checkpoint.as_deref(), out.as_deref()),
        Command::Report { journals, out } => {
            let report = nasforge_report::Report::load(registry, &journals)?;
            for note in &report.notes {
                eprintln!("note: {note}");
            }
            let path = report.write(&out)?;
            println!("report: {} ({} experiments, {} series)", path.display(), report.runs.len(), report.series.len());
            Ok(())
        }
        Command::List { kind, json } => list::list(registry, kind.as_deref(), json),
        Command::Describe { space, arch, json } => describe(registry, &space, &arch, json),
        Command::Plugins { command: PluginsCommand::List { experiment, json } } => list_plugins(registry, &experiment, json),
    }
}

/// A progress bar on a terminal, hidden otherwise.
pub fn progress_bar(total: Option<u64>) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total.unwrap_or(0));
    bar.set_style(ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len}  {msg}").expect("a valid template"));
    bar
}

fn update(bar: &ProgressBar, p: Progress) {
    if let Some((step, log)) = &p.step {
        // A long strategy's step (a supernet's epoch): its phase and scores.
        bar.set_message(step_message(*step, log));
        return;
    }
    if let Some(total) = p.budget {
        bar.set_length(total);
    }
    bar.set_position(p.trials);
    if let Some(best) = p.best_valid {
        bar.set_message(format!("best valid {best:.4}"));
    }
}

/// `step 3 (train, epoch 3): valid_acc 81.2 ...` from a step's JSON log.
fn step_message(step: u64, log: &str) -> String {
    let Ok(serde_json::Value::Object(m)) = serde_json::from_str::<serde_json::Value>(log) else { return format!("step {step}") };
    let phase = m.get("phase").and_then(|v| v.as_str()).unwrap_or("step");
    let mut text = match m.get("epoch").and_then(serde_json::Value::as_u64) {
        Some(e) => format!("step {step} ({phase}, epoch {e})"),
        None => format!("step {step} ({phase})"),
    };
    for key in ["train_acc", "valid_acc", "eigenvalue", "kept", "cell"] {
        match m.get(key) {
            Some(serde_json::Value::Number(n)) => text.push_str(&format!("  {key} {:.4}", n.as_f64().unwrap_or(f64::NAN))),
            Some(serde_json::Value::String(s)) => text.push_str(&format!("  {key} {s}")),
            _ => {}
        }
    }
    text
}

fn report(summary: &RunSummary, journal: Option<&Path>, json: bool) -> Result<()> {
    match &summary.best {
        Some(b) => println!("best: {}  valid {:.4}  test {}", b.arch, b.valid, b.test.map_or("n/a".into(), |t| format!("{t:.4}"))),
        None => println!("best: none (no trial succeeded)"),
    }
    println!("trials: {} ({} failed)  seconds: {:.3}", summary.trials, summary.failed, summary.seconds);
    for note in &summary.notes {
        println!("note: {note}");
    }
    if let (Some(j), Some(id)) = (journal, summary.experiment) {
        println!("journal: {} (experiment {id})", j.display());
    }
    if json {
        println!("{}", serde_json::to_string(summary)?);
    }
    Ok(())
}

fn show(registry: &Registry, path: &Path, only: Option<i64>, json: bool) -> Result<()> {
    let journal = Journal::open_existing(path)?;
    let experiments = journal.experiments()?;
    let chosen: Vec<_> = experiments.iter().filter(|e| only.is_none_or(|id| e.id == id)).collect();
    if chosen.is_empty() {
        bail!("{}: no experiment{}", path.display(), only.map(|id| format!(" with id {id}")).unwrap_or_default());
    }
    let mut last = None;
    for e in &chosen {
        let trials = journal.trials(e.id)?;
        let mut s = nasforge_experiment::summarize_trials(&trials, e.id);
        s.notes = nasforge_experiment::notes(registry, &e.estimator);
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
            println!("  best by validation: {}  valid {:.4}  test {}", b.arch, b.valid, b.test.map_or("n/a".into(), |t| format!("{t:.4}")));
        }
        // Why trials failed, the commonest reasons first.
        let mut reasons: std::collections::BTreeMap<String, usize> = Default::default();
        for t in &trials {
            if let Err(err) = &t.outcome {
                *reasons.entry(err.to_string()).or_default() += 1;
            }
        }
        let mut reasons: Vec<_> = reasons.into_iter().collect();
        reasons.sort_by_key(|r| std::cmp::Reverse(r.1));
        for (reason, n) in reasons.iter().take(5) {
            println!("  failed ×{n}: {reason}");
        }
        if reasons.len() > 5 {
            println!("  ... and {} other failure reasons", reasons.len() - 5);
        }
        for note in &s.notes {
            println!("  note: {note}");
        }
        // A long strategy's steps (a supernet's epochs), the last one shown.
        let steps = journal.steps(e.id)?;
        if let Some((step, log)) = steps.last() {
            println!("  {} steps journaled; last: {}", steps.len(), step_message(*step, log));
        }
        let mut value = serde_json::to_value(&s)?;
        if !steps.is_empty() {
            let logs: Vec<serde_json::Value> = steps.iter().map(|(_, l)| serde_json::from_str(l)).collect::<Result<_, _>>()?;
            value["steps"] = serde_json::Value::Array(logs);
        }
        last = Some(value);
    }
    if json {
        println!("{}", serde_json::to_string(&last.expect("at least one experiment"))?);
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)] // one per flag of `export`
fn export(
    registry: &Registry,
    exporters: &[(&'static str, Exporter)],
    journal: &Path,
    experiment: Option<i64>,
    trial: Option<u64>,
    format: &str,
    checkpoint: Option<&Path>,
    out: Option<&Path>,
) -> Result<()> {
    use nasforge_report::export::{Format, Which, render, select};
    let which = trial.map_or(Which::Best, Which::Trial);
    let write = |bytes: &[u8]| match out {
        Some(path) => std::fs::write(path, bytes).map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display())),
        None => {
            use std::io::Write;
            std::io::stdout().write_all(bytes).map_err(anyhow::Error::from)
        }
    };
    if let Some((_, exporter)) = exporters.iter().find(|(name, _)| *name == format) {
        if out.is_none() {
            bail!("--format {format} writes a binary file: name it with --out");
        }
        let (e, t) = select(journal, experiment, which)?;
        return write(&exporter(registry, &e, &t, checkpoint)?);
    }
    let format = Format::parse(format).map_err(|e| anyhow::anyhow!("{e}{}", exporters.iter().map(|(n, _)| format!(", {n}")).collect::<String>()))?;
    if checkpoint.is_some() {
        bail!("--checkpoint gives a network its weights: json, dot and svg describe the architecture alone");
    }
    let (e, t) = select(journal, experiment, which)?;
    write(render(registry, journal, &e, &t, format)?.as_bytes())
}

fn describe(registry: &Registry, space: &str, arch: &str, json: bool) -> Result<()> {
    let Some(entry) = registry.space(space) else {
        bail!("nasforge describe: unknown space `{space}`; valid choices: {}", registry.names(nasforge_registry::Kind::Space).join(", "));
    };
    let config = registry.configure(nasforge_registry::Kind::Space, space, "")?;
    let space = entry.build(&config, 0).map_err(anyhow::Error::msg)?;
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
    if json {
        let v = serde_json::json!({ "key": space.canonical_key(&a), "arch": space.format(&a), "params": space.params(&a), "flops": space.macs(&a) });
        println!("{v}");
    }
    Ok(())
}

fn list_plugins(registry: &Registry, experiment: &Path, json: bool) -> Result<()> {
    let manifests = nasforge_experiment::load_plugin_manifests(registry, experiment)?;
    // Instances are created for the experiment's space, as a run would; the
    // rest of the file may be what is being debugged.
    let (file, text, _) = nasforge_registry::read_file(experiment, "experiment")?;
    let doc = nasforge_registry::Document::parse(&file, &text)?;
    let space = match doc.section("space")? {
        Some(s) => s.required_string("name")?.into_inner(),
        None => bail!("{file}: no `[space]`: plugins are instantiated for the experiment's space"),
    };
    let inspected = nasforge_experiment::inspect_plugins(&manifests, &space);
    let mut rows = Vec::new();
    if inspected.is_empty() {
        println!("{} declares no plugins", experiment.display());
    }
    let mut failed = 0;
    for (m, outcome) in &inspected {
        let (status, version, api, rustc) = match outcome {
            Ok(info) => ("ok".to_owned(), info.version.clone(), format!("{}.{}.{}", info.api.major, info.api.minor, info.api.patch), info.rustc.clone()),
            Err(e) => {
                failed += 1;
                (format!("error: {e}"), String::new(), String::new(), String::new())
            }
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
    if failed > 0 {
        bail!("{failed} of {} plugins failed to load or to create an instance", inspected.len());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[derive(Debug, thiserror::Error)]
    #[error("journal j.sqlite: {source}")]
    struct Outer {
        source: std::io::Error,
    }

    #[test]
    fn an_error_that_quotes_its_source_is_said_once() {
        let inner = std::io::Error::other("invalid type: null, expected f64");
        let e = anyhow::Error::from(Outer { source: inner }).context("show failed");
        assert_eq!(super::error_text(&e), "show failed: journal j.sqlite: invalid type: null, expected f64");
    }
}
