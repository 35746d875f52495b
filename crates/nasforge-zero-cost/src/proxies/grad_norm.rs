//! `grad_norm` (foresight): `Σ_layers ‖∂L/∂W‖₂` after one training-mode
//! pass of the batch.

use super::{Proxy, Session, layer_weights, loss_gradients, total};

pub(super) const PROXY: Proxy = Proxy {
    name: "grad_norm",
    about: "sum over layers of the L2 norm of the loss gradient of the weights",
    needs_data: true,
    score: |s| total(layers(s)),
    layers: Some(layers),
};

fn layers(s: &mut Session<'_>) -> Result<Vec<f64>, String> {
    let layers = layer_weights(s.net.store());
    let grads = loss_gradients(s.net, s.batch, &layers);
    Ok(grads.iter().map(|g| g.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>().sqrt()).collect())
}
