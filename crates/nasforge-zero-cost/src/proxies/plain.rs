//! `plain` (foresight): `Σ ∂L/∂W ⊙ W`, signed.

use super::{Proxy, Session, loss_gradient_layers, total};

pub(super) const PROXY: Proxy = Proxy {
    name: "plain",
    about: "sum of weight × loss gradient over layers, signed",
    needs_data: true,
    score: |s| total(layers(s)),
    layers: Some(layers),
};

fn layers(s: &mut Session<'_>) -> Result<Vec<f64>, String> {
    Ok(loss_gradient_layers(s, |w, g| f64::from(w * g)))
}
