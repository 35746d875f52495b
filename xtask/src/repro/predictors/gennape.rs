//! GENNAPE's rows of the `predictors` suite: ranking within a space, and
//! transfer from NB201 to NAS-Bench-Macro and NB301.

use anyhow::Result;
use nasforge::gennape::{Cg, Gennape, GennapeConfig, lower};
use nasforge::predictors::PredictorSpec;
use nasforge_core::rand::seq::SliceRandom;
use nasforge_core::{SearchSpace, seeded_rng};
use nasforge_space_nb201::Nb201Space;
use nasforge_tabular::{Nb201Table, NbMacroTable};
use nasforge_zero_cost::stats::{kendall, spearman};
use rayon::prelude::*;

use super::super::table::{Check, Row, Table, Value};
use super::super::{Mode, data_root};
use super::{Bench, naslib_gbdt};

/// Seeds of GENNAPE's in-space ranking rows (its training takes about a
/// minute per seed and space on two cores, against milliseconds for the
/// trees).
const RANKING_SEEDS: u64 = 3;

/// GENNAPE fitted on N labelled architectures of a space, ranking the
/// rest, beside the other predictors' rows: pre-trained contrastively on
/// 2,000 of the space's graphs (unlabelled; drawn from the whole table),
/// then trained on the N labels with the reference's schedule for N
/// ([`Gennape::for_labels`]).
pub(super) fn ranking_rows(t: &mut Table, mode: Mode, benches: &[Bench]) -> Result<()> {
    let seeds = mode.seeds(RANKING_SEEDS, 1);
    let sizes: &[usize] = if mode.quick { &[20] } else { &[20, 100, 1000] };
    for b in benches.iter().take(if mode.quick { 1 } else { benches.len() }) {
        let mut pool: Vec<usize> = (0..b.graphs.len()).collect();
        pool.shuffle(&mut seeded_rng(0));
        let unlabelled: Vec<Cg> = pool.iter().take(2_000).map(|&i| b.graphs[i].clone()).collect();
        // Per seed, per N: (τ, ρ).
        let per_seed: Vec<Vec<(f64, f64)>> = (1..=seeds)
            .into_par_iter()
            .map(|seed| {
                let config = if mode.quick { GennapeConfig { pretrain_epochs: 1, fine_tune_epochs: 20, ..GennapeConfig::default() } } else { GennapeConfig::default() };
                let mut pretrained = Gennape::new(config, seed);
                pretrained.pretrain(if mode.quick { &unlabelled[..300] } else { &unlabelled });
                sizes
                    .iter()
                    .map(|&n| {
                        let mut order: Vec<usize> = (0..b.graphs.len()).collect();
                        order.shuffle(&mut seeded_rng(seed));
                        let (train, test) = order.split_at(n);
                        let mut model = pretrained.for_labels(n);
                        let graphs = |idx: &[usize]| idx.iter().map(|&i| b.graphs[i].clone()).collect::<Vec<_>>();
                        let labels = |idx: &[usize]| idx.iter().map(|&i| b.labels[i]).collect::<Vec<_>>();
                        model.fit(&graphs(train), &labels(train));
                        let (p, y) = (model.predict(&graphs(test)), labels(test));
                        (kendall(&p, &y), spearman(&p, &y))
                    })
                    .collect()
            })
            .collect();
        for (k, &n) in sizes.iter().enumerate() {
            let (tau, rho): (Vec<f64>, Vec<f64>) = per_seed.iter().map(|s| s[k]).unzip();
            let label = format!("{}: GENNAPE (computation graphs), N = {n}", b.name);
            let info = || Check::Info(format!("ranking of the other architectures; seeds 1..={seeds}"));
            t.rows.push(Row { label: format!("{label}: Spearman ρ"), paper: None, ours: Some(Value::of(&rho)), ri: None, check: info() });
            t.rows.push(Row { label: format!("{label}: Kendall τ"), paper: None, ours: Some(Value::of(&tau)), ri: None, check: info() });
        }
    }
    Ok(())
}

/// GENNAPE pre-trained on unlabelled NB201, DARTS and NAS-Bench-Macro
/// graphs and trained on NB201's labels, then ranking NAS-Bench-Macro and
/// NASLib's NB301 genotypes with 0 and 50 labels, beside GBDT trained on
/// the same 50 labels alone.
pub(super) fn transfer_rows(t: &mut Table, mode: Mode) -> Result<()> {
    let seeds = mode.seeds(3, 1);
    let root = data_root();
    let mut rng = seeded_rng(0);
    let nb201 = Nb201Table::load(root.join("nas-bench-201/nb201_cifar10_v1_1.csv"))?;
    let mut source: Vec<(Cg, f64)> = nb201.iter().map(|(c, r)| (lower(&Nb201Space.to_graph(&c)), r.valid)).collect();
    source.shuffle(&mut rng);
    source.truncate(if mode.quick { 2_000 } else { 15_625 });
    let darts = nasforge::darts::DartsSpace;
    let macro_space = nasforge::mobilenet::NbMacroSpace;
    let macro_table = NbMacroTable::load(root.join("nas-bench-macro/nas-bench-macro_cifar10.json"))?;
    let mut macro_rows: Vec<_> = macro_table.iter().map(|(a, r)| (*a, r.mean_acc)).collect();
    macro_rows.sort_by_key(|r| r.0);
    let nb301 = nasforge_tabular::Nb301ZeroCostTable::load(root.join("zero-cost/zc_nasbench301_6639fd15.json"))?;
    let mut nb301_rows: Vec<_> = nb301.iter().map(|(g, r)| (*g, r.valid)).collect();
    nb301_rows.sort_by_key(|r| darts.format(&r.0));

    let per_space = if mode.quick { 300 } else { 2_000 };
    let mut unlabelled: Vec<Cg> = source.iter().take(per_space).map(|s| s.0.clone()).collect();
    unlabelled.extend((0..per_space).map(|_| lower(&darts.to_graph(&darts.sample(&mut rng)))));
    unlabelled.extend((0..per_space).map(|_| lower(&macro_space.to_graph(&macro_space.sample(&mut rng)))));

    let config = if mode.quick { GennapeConfig { pretrain_epochs: 2, epochs: 3, fine_tune_epochs: 20, ..GennapeConfig::default() } } else { GennapeConfig::default() };
    let one_hot = |space: &dyn Fn(usize) -> Vec<f64>, n: usize| (0..n).map(space).collect::<Vec<_>>();
    // (name, graphs, labels, one-hot rows) of each target space.
    type Target<'a> = (&'a str, Vec<Cg>, Vec<f64>, Vec<Vec<f64>>);
    let targets: Vec<Target> = vec![
        (
            "NAS-Bench-Macro",
            macro_rows.iter().map(|(a, _)| lower(&macro_space.to_graph(a))).collect(),
            macro_rows.iter().map(|r| r.1).collect(),
            one_hot(&|i| macro_space.encode(&macro_rows[i].0).into_iter().map(f64::from).collect(), macro_rows.len()),
        ),
        (
            "NB301 (NASLib's 725 genotypes)",
            nb301_rows.iter().map(|(g, _)| lower(&darts.to_graph(g))).collect(),
            nb301_rows.iter().map(|r| r.1).collect(),
            one_hot(&|i| darts.encode(&nb301_rows[i].0).into_iter().map(f64::from).collect(), nb301_rows.len()),
        ),
    ];
    const LABELS: usize = 50;
    let mut results: Vec<Vec<(f64, f64, f64)>> = vec![Vec::new(); targets.len()];
    for seed in 1..=seeds {
        let mut model = Gennape::new(config.clone(), seed);
        let losses = model.pretrain(&unlabelled);
        if seed == 1 {
            t.notes.push(format!(
                "GENNAPE pre-training (NT-Xent, seed 1): mean loss {:.3} in the first epoch, {:.3} in the last, over {} unlabelled graphs ({per_space} each of NB201, DARTS, NAS-Bench-Macro); then trained on {} labelled NB201 cells.",
                losses.first().copied().unwrap_or(f64::NAN),
                losses.last().copied().unwrap_or(f64::NAN),
                unlabelled.len(),
                source.len()
            ));
        }
        let (graphs, labels): (Vec<Cg>, Vec<f64>) = source.iter().cloned().unzip();
        model.fit(&graphs, &labels);
        for (k, (_, cgs, y, rows)) in targets.iter().enumerate() {
            let zero_shot = spearman(&model.predict(cgs), y);
            let mut order: Vec<usize> = (0..cgs.len()).collect();
            order.shuffle(&mut seeded_rng(seed));
            let (train, test) = order.split_at(LABELS);
            let pick_cg = |idx: &[usize]| idx.iter().map(|&i| cgs[i].clone()).collect::<Vec<_>>();
            let pick_y = |idx: &[usize]| idx.iter().map(|&i| y[i]).collect::<Vec<_>>();
            let tuned = model.fine_tuned(&pick_cg(train), &pick_y(train), seed);
            let fifty = spearman(&tuned.predict(&pick_cg(test)), &pick_y(test));
            let mut gbdt = PredictorSpec::Gbdt(naslib_gbdt()).build();
            let rx = |idx: &[usize]| idx.iter().map(|&i| rows[i].clone()).collect::<Vec<_>>();
            gbdt.fit(&rx(train), &pick_y(train), seed).map_err(anyhow::Error::msg)?;
            let gbdt_rho = spearman(&gbdt.predict(&rx(test)), &pick_y(test));
            results[k].push((zero_shot, fifty, gbdt_rho));
        }
    }
    for ((name, ..), r) in targets.iter().zip(&results) {
        let col = |f: fn(&(f64, f64, f64)) -> f64| Value::of(&r.iter().map(f).collect::<Vec<_>>());
        let (zero, fifty, gbdt) = (col(|x| x.0), col(|x| x.1), col(|x| x.2));
        let info = |s: &str| Check::Info(s.into());
        t.rows.push(Row { label: format!("GENNAPE transfer NB201 → {name}, 0 labels: Spearman ρ"), paper: None, ours: Some(zero), ri: None, check: info("zero-shot: pre-trained across spaces, trained on NB201 only") });
        let floor = name.starts_with("NAS-Bench-Macro") && !mode.quick;
        t.rows.push(Row {
            label: format!("GENNAPE transfer NB201 → {name}, {LABELS} labels: Spearman ρ"),
            paper: None,
            ours: Some(fifty),
            ri: None,
            check: if floor {
                Check::AtLeast { floor: gbdt.mean, reference: gbdt.mean, against: format!("GBDT on the same {LABELS} labels (one-hot)") }
            } else {
                info("fine-tuned on the labels, ranking the rest")
            },
        });
        t.rows.push(Row { label: format!("GBDT on the same {LABELS} {name} labels alone: Spearman ρ"), paper: None, ours: Some(gbdt), ri: None, check: info("one-hot, NASLib's LightGBM settings") });
    }
    Ok(())
}

