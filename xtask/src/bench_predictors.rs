//! `cargo xtask bench predictors`: the GBDT predictor's fit and predict
//! times on NAS-Bench-201 one-hot rows, beside LightGBM and scikit-learn's
//! HistGradientBoostingRegressor on the same rows in the same run
//! (`bench_predictors.py`, in `target/optuna-venv`, installed on first
//! use). Every model runs on one thread (ours has no parallel fit).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use nasforge::predictors::gbdt::{Gbdt, GbdtConfig};
use nasforge::predictors::{Encoder, Encoding, Features, Predictor};
use nasforge_core::rand::seq::SliceRandom;
use nasforge_core::seeded_rng;
use nasforge_space_nb201::Nb201Space;
use nasforge_tabular::Nb201Table;
use nasforge_zero_cost::stats::spearman;

use crate::bench::median;

const TRAIN: usize = 1_000;

fn timed<T>(repeats: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut out = f();
    let mut ms = Vec::with_capacity(repeats);
    for _ in 0..repeats.max(1) {
        let t0 = Instant::now();
        out = f();
        ms.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    (median(ms), out)
}

/// The peers' `name: value` lines.
fn peers(csv: &Path, repeats: usize) -> Result<Option<Vec<(String, String)>>> {
    let Some(py) = crate::bench::optuna_python() else { return Ok(None) };
    let has = |m: &str| Command::new(&py).args(["-c", &format!("import {m}")]).output().is_ok_and(|o| o.status.success());
    if !(has("lightgbm") && has("sklearn") && has("threadpoolctl")) {
        println!("installing LightGBM and scikit-learn into the Optuna venv ...");
        let ok = Command::new(&py).args(["-m", "pip", "install", "-q", "lightgbm", "scikit-learn", "scipy", "threadpoolctl"]).status().is_ok_and(|s| s.success());
        if !ok {
            return Ok(None);
        }
    }
    let script = tempfile::Builder::new().suffix(".py").tempfile()?;
    std::fs::write(script.path(), include_str!("bench_predictors.py"))?;
    let out = Command::new(&py).arg(script.path()).arg(csv).arg(repeats.to_string()).output()?;
    if !out.status.success() {
        bail!("the Python peers failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(Some(String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| l.split_once(": ")).map(|(k, v)| (k.to_owned(), v.trim().to_owned())).collect()))
}

pub fn run(csv: &Path, repeats: usize) -> Result<()> {
    let table = Nb201Table::load(csv).with_context(|| format!("loading {}", csv.display()))?;
    let space = Nb201Space;
    let features = Features::new(Encoder::new(&space, Encoding::OneHot, None, 0).map_err(anyhow::Error::msg)?);
    let cells: Vec<_> = table.iter().map(|(c, _)| c).collect();
    let labels: Vec<f64> = table.iter().map(|(_, r)| r.valid).collect();
    let rows: Vec<Vec<f64>> = cells.iter().map(|c| features.row(&space, c)).collect();
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.shuffle(&mut seeded_rng(0));
    let (train, held_out) = order.split_at(TRAIN.min(rows.len()));
    let x: Vec<Vec<f64>> = train.iter().map(|&i| rows[i].clone()).collect();
    let y: Vec<f64> = train.iter().map(|&i| labels[i]).collect();

    let (fit_ms, model) = timed(repeats, || {
        // LightGBM's default 20 rows per leaf, as the peers run.
        let mut g = Gbdt::new(GbdtConfig { min_child_weight: 20, ..GbdtConfig::default() });
        g.fit(&x, &y, 0).map(|()| g)
    });
    let model = model.map_err(anyhow::Error::msg)?;
    let (predict_train_ms, _) = timed(repeats, || model.predict(&x));
    let (predict_all_ms, all) = timed(repeats, || model.predict(&rows));
    let held: Vec<f64> = held_out.iter().map(|&i| all[i]).collect();
    let truth: Vec<f64> = held_out.iter().map(|&i| labels[i]).collect();
    let rho = spearman(&held, &truth);

    println!("GBDT on {TRAIN} NAS-Bench-201 one-hot rows (30 features), 100 rounds, depth 5 / 31 leaves, lr 0.05, 20 rows per leaf; one thread; medians of {repeats}");
    println!("{:<28} {:>10} {:>14} {:>16} {:>10}", "model", "fit ms", "predict 1k ms", "predict 15,625 ms", "spearman");
    println!("{:<28} {fit_ms:>10.1} {predict_train_ms:>14.2} {predict_all_ms:>16.2} {rho:>10.3}", "nasforge gbdt (smartcore)");
    match peers(csv, repeats)? {
        None => println!("Python with LightGBM and scikit-learn unavailable: no peer ratios"),
        Some(kv) => {
            let get = |k: &str| kv.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_else(|| "?".into());
            let num = |k: &str| get(k).parse::<f64>().ok();
            for (name, key) in [("LightGBM", "lightgbm"), ("scikit-learn HGB", "sklearn_hgb")] {
                println!(
                    "{:<28} {:>10} {:>14} {:>16} {:>10}",
                    format!("{name} {}", get(&format!("{key}_version").replace("sklearn_hgb", "sklearn"))),
                    get(&format!("{key}_fit_ms")),
                    get(&format!("{key}_predict_1000_ms")),
                    get(&format!("{key}_predict_all_ms")),
                    get(&format!("{key}_spearman"))
                );
            }
            for (name, key) in [("lightgbm", "lightgbm"), ("sklearn_hgb", "sklearn_hgb")] {
                if let (Some(f), Some(p)) = (num(&format!("{key}_fit_ms")), num(&format!("{key}_predict_all_ms"))) {
                    println!("ratio_fit_{name}_over_nasforge: {:.2}", f / fit_ms);
                    println!("ratio_predict_all_{name}_over_nasforge: {:.2}", p / predict_all_ms);
                }
            }
        }
    }
    Ok(())
}
