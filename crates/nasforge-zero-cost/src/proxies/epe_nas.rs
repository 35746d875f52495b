//! `epe_nas` (Lopes et al. 2021; NASLib's code): per class, the
//! correlation matrix of that class's input Jacobians, `s_c = Σ log(|C| +
//! k)`, `k = 1e-5`; the score is `Σ_c |s_c|` for at most 100 classes, and
//! above that (NASLib's other branch) `Σ_c Σ_c' |s_c − s_c'| / classes`
//! with each `s_c` divided by its matrix's rows.

use std::collections::BTreeMap;

use super::{Proxy, Session, corrcoef, input_jacobian, item_classes};

pub(super) const PROXY: Proxy = Proxy {
    name: "epe_nas",
    about: "EPE-NAS: per-class correlation of input Jacobians",
    needs_data: true,
    score: epe_nas,
    layers: None,
};

fn epe_nas(s: &mut Session<'_>) -> Result<f64, String> {
    let classes = item_classes(s.batch)?;
    let jacobians = input_jacobian(s.net, s.batch);
    let mut by_class: BTreeMap<u32, Vec<Vec<f64>>> = BTreeMap::new();
    for (j, c) in jacobians.into_iter().zip(classes) {
        by_class.entry(c).or_default().push(j);
    }
    let k = 1e-5;
    let many = s.batch.classes > 100;
    let per_class: Vec<f64> = by_class
        .values()
        .map(|rows| {
            // numpy's corrcoef of one row is the scalar 1.
            let s_c: f64 = if rows.len() == 1 { (1.0f64 + k).ln() } else { corrcoef(rows).iter().map(|c| (c.abs() + k).ln()).sum() };
            if many { s_c / rows.len() as f64 } else { s_c }
        })
        .collect();
    if !many {
        return Ok(per_class.iter().map(|s| s.abs()).sum());
    }
    let pairs: f64 = per_class.iter().map(|a| per_class.iter().map(|b| (a - b).abs()).sum::<f64>()).sum();
    Ok(pairs / per_class.len().max(1) as f64)
}
