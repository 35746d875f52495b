//! `grad_norm` (foresight): `Σ_layers ‖∂L/∂W‖₂` after one training-mode
//! pass of the batch.

use super::{Proxy, Session, loss_gradient_layers, total};

pub(super) const PROXY: Proxy = Proxy {
    name: "grad_norm",
    about: "sum over layers of the L2 norm of the loss gradient of the weights",
    needs_data: true,
    score: |s| total(layers(s)),
    layers: Some(layers),
};

fn layers(s: &mut Session<'_>) -> Result<Vec<f64>, String> {
    Ok(loss_gradient_layers(s, |_, g| f64::from(g) * f64::from(g)).into_iter().map(f64::sqrt).collect())
}
