//! `epe_nas` (Lopes et al. 2021; NASLib's code): per class, the
//! correlation matrix of that class's input Jacobians, `s_c = Σ log(|C| +
//! k)`; the score is `Σ_c |s_c|` (NASLib's variant for at most 100
//! classes), `k = 1e-5`.

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
    let mut score = 0.0;
    for rows in by_class.values() {
        // numpy's corrcoef of one row is the scalar 1.
        let s_c: f64 = if rows.len() == 1 { (1.0f64 + k).ln() } else { corrcoef(rows).iter().map(|c| (c.abs() + k).ln()).sum() };
        score += s_c.abs();
    }
    Ok(score)
}
