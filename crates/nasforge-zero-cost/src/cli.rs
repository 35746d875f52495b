//! `nasforge zero-cost`: a scores CSV for a space's architectures, for any
//! binary built on `nasforge-cli` (`App::with_command(cli::command(),
//! cli::run)`).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Arg, ArgMatches, Command};
use nasforge_core::{SearchSpace, derive_seed, seeded_rng};
use nasforge_registry::{DynArch, ErasedSpace, Kind, Params, Registry};

use crate::family::ZeroCostToml;
use crate::scores_file::write_scores;

/// The subcommand's arguments.
pub fn command() -> Command {
    let value = |name: &'static str, help: &'static str| Arg::new(name).long(name).help(help);
    Command::new("zero-cost")
        .about("Score architectures with zero-cost proxies at initialisation into a CSV (resumable, parallel)")
        .arg(Arg::new("space").required(true).help("The space (`nasforge list space`)"))
        .arg(value("proxies", "Comma-separated proxies: params, flops, l2_norm, synflow, zen, grad_norm, snip, grasp, fisher, jacob_cov, nwot, gradsign, epe_nas, plain, w_pca, hidden_cov").required(true))
        .arg(value("archs", "`all` (a space that enumerates), a number of seeded samples, or a file of standard strings, one per line").default_value("all"))
        .arg(value("out", "The scores CSV (an existing one is resumed)").required(true).value_parser(clap::value_parser!(PathBuf)))
        .arg(value("dataset", "The dataset a batch is drawn from (`nasforge list dataset`); data-free proxies on image spaces need none"))
        .arg(value("data-path", "The dataset's `path` (a folder or file)"))
        .arg(value("seed", "Seed of the batch, the samples and every network's initialisation").default_value("0").value_parser(clap::value_parser!(u64)))
        .arg(value("threads", "Architectures scored at once (default: the machine's cores)").value_parser(clap::value_parser!(usize)))
        .arg(value("channels", "Initial channels of cell networks (default 16)").value_parser(clap::value_parser!(usize)))
        .arg(value("cells", "Cells per stage (NB201, default 5) or in all (DARTS, default 8)").value_parser(clap::value_parser!(usize)))
        .arg(value("batch-size", "Items in the batch (default 64)").value_parser(clap::value_parser!(usize)))
}

/// Runs `nasforge zero-cost`.
pub fn run(registry: &Registry, args: &ArgMatches) -> Result<()> {
    let space_name = args.get_one::<String>("space").expect("required");
    let seed = *args.get_one::<u64>("seed").expect("defaulted");
    let out = args.get_one::<PathBuf>("out").expect("required");
    let Some(entry) = registry.space(space_name) else {
        bail!("unknown space `{space_name}`; valid choices: {}", registry.names(Kind::Space).join(", "));
    };
    let space = entry.build(&registry.configure(Kind::Space, space_name, "")?, seed).map_err(anyhow::Error::msg)?;
    let toml = ZeroCostToml {
        proxies: args.get_one::<String>("proxies").expect("required").split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect(),
        channels: args.get_one::<usize>("channels").copied(),
        cells: args.get_one::<usize>("cells").copied(),
        batch_size: args.get_one::<usize>("batch-size").copied(),
        ..ZeroCostToml::default()
    };
    let config = toml.check().map_err(|e| anyhow::anyhow!("--{}: {}", e.key, e.reason))?;
    let data = match args.get_one::<String>("dataset") {
        Some(name) => {
            let dataset = registry.dataset(name).with_context(|| format!("unknown dataset `{name}`; valid choices: {}", registry.names(Kind::Dataset).join(", ")))?;
            let body = match args.get_one::<String>("data-path") {
                Some(p) => format!("path = {}", toml::Value::String(p.clone())),
                None => String::new(),
            };
            let configured = registry.configure(Kind::Dataset, name, &body)?;
            Some(dataset.load(&configured, derive_seed(seed, "data-split")).map_err(anyhow::Error::msg)?)
        }
        None if args.get_one::<String>("data-path").is_some() => bail!("--data-path needs --dataset"),
        None => None,
    };
    let scorer = config.scorer(space.clone(), data.as_ref(), seed).map_err(anyhow::Error::msg)?;
    let archs = architectures(&space, args.get_one::<String>("archs").expect("defaulted"), seed)?;
    let threads = args.get_one::<usize>("threads").copied().unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let bar = nasforge_cli::progress_bar(Some(archs.len() as u64));
    let started = std::time::Instant::now();
    let summary = write_scores(&scorer, &archs, out, threads, &mut |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })?;
    bar.finish_and_clear();
    println!(
        "{}: {} rows ({} already there, {} scored in {:.1} s)",
        out.display(),
        summary.resumed + summary.written,
        summary.resumed,
        summary.written,
        started.elapsed().as_secs_f64()
    );
    for (proxy, failed, reason) in &summary.failures {
        if *failed > 0 {
            println!("  {proxy}: {failed} architectures not scored (NaN), e.g. {}", reason.as_deref().unwrap_or(""));
        }
    }
    Ok(())
}

/// `all`, `N` seeded distinct samples, or a file of standard strings.
fn architectures(space: &ErasedSpace, which: &str, seed: u64) -> Result<Vec<DynArch>> {
    if which == "all" {
        let Some(all) = space.enumerate() else {
            bail!("space `{}` cannot enumerate its architectures: give --archs N (samples) or a file", space.name());
        };
        return Ok(all.collect());
    }
    if let Ok(n) = which.parse::<usize>() {
        let mut rng = seeded_rng(derive_seed(seed, "zero-cost-archs"));
        let (mut seen, mut out) = (std::collections::HashSet::new(), Vec::new());
        let mut tries = 0;
        while out.len() < n && tries < n.saturating_mul(100).saturating_add(1000) {
            let a = space.sample(&mut rng);
            if seen.insert(space.format(&a)) {
                out.push(a);
            }
            tries += 1;
        }
        return Ok(out);
    }
    let text = std::fs::read_to_string(which).with_context(|| format!("--archs {which}: neither `all`, a number, nor a readable file"))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|(i, l)| space.parse(l.trim()).with_context(|| format!("{which}:{}", i + 1)))
        .collect()
}
