//! The `nasforge` command line: the default families over the CLI
//! library, plus `train` (one image network trained for real: an NB201
//! cell, a DARTS genotype or a MobileNet),
//! `zero-cost` (a scores CSV of zero-cost proxies) and `export --format
//! onnx` (the trainer's network of a journalled architecture).

// Training allocates and frees activation-sized buffers every step: see
// the allocator module for why this one.
#[global_allocator]
static GLOBAL: nasforge_trainer_dfdx::allocator::Allocator = nasforge_trainer_dfdx::allocator::Allocator;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Arg, ArgAction, ArgMatches, Command};
use nasforge_registry::Registry;

fn main() -> ExitCode {
    nasforge_trainer_dfdx::allocator::keep_freed_pages();
    let train = Command::new("train")
        .about("Train one architecture for real, as a training file describes")
        .arg(Arg::new("file").required(true).value_parser(clap::value_parser!(PathBuf)).help("The training TOML file"))
        .arg(Arg::new("seed").long("seed").value_parser(clap::value_parser!(u64)).help("Override the file's `seed`"))
        .arg(Arg::new("json").long("json").action(ArgAction::SetTrue).help("Print a JSON summary as the last line of stdout"));
    nasforge_cli::App::new(nasforge::families())
        .with_command(train, train_command)
        .with_command(nasforge_zero_cost::cli::command(), nasforge_zero_cost::cli::run)
        .with_exporter("onnx", |registry, e, trial, checkpoint| {
            nasforge_trainer_dfdx::onnx::export(registry, &e.config, &e.space, &trial.arch, trial.seed, checkpoint).map_err(anyhow::Error::msg)
        })
        .main()
}

fn train_command(registry: &Registry, args: &ArgMatches) -> Result<()> {
    use nasforge_trainer_dfdx::family::{load_train_job, train};
    let file = args.get_one::<PathBuf>("file").expect("required");
    let mut job = load_train_job(registry, file)?;
    if let Some(seed) = args.get_one::<u64>("seed") {
        job.seed = *seed;
    }
    let bar = nasforge_cli::progress_bar(None);
    let summary = train(registry, &job, &mut |step, planned, loss| {
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
    if args.get_flag("json") {
        println!("{}", serde_json::to_string(&summary)?);
    }
    Ok(())
}
