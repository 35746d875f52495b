//! `gradsign` (Zhang & Jia, ICLR 2022; the authors' `gradsign.py`): each
//! item's own loss gradient of the layer weights (one pass per item, batch
//! norm on that item alone), and `Σ_weights |Σ_items sign(g)|`.

use super::{Proxy, Session, layer_weights, loss_gradients};

pub(super) const PROXY: Proxy = Proxy {
    name: "gradsign",
    about: "GradSign: agreement of per-item gradient signs, summed over weights",
    needs_data: true,
    score: gradsign,
    layers: None,
};

fn gradsign(s: &mut Session<'_>) -> Result<f64, String> {
    let layers = layer_weights(s.net.store());
    let mut votes: Vec<Vec<i32>> = Vec::new();
    for i in 0..s.batch.scored_items().len() {
        let one = s.batch.item(i);
        let grads = loss_gradients(s.net, &one, &layers);
        if votes.is_empty() {
            votes = grads.iter().map(|g| vec![0; g.len()]).collect();
        }
        for (v, g) in votes.iter_mut().zip(&grads) {
            // numpy's sign: 0 for 0, NaN ignored by the reference's nansum.
            v.iter_mut().zip(g).for_each(|(v, &g)| *v += if g > 0.0 { 1 } else if g < 0.0 { -1 } else { 0 });
        }
    }
    Ok(votes.iter().flatten().map(|v| f64::from(v.abs())).sum())
}
