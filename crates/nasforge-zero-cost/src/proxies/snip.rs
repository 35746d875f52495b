//! `snip` (foresight): `Σ |∂L/∂W ⊙ W|`, the gradient of a unit mask on
//! every weight.

use super::{Proxy, Session, layer_weights, loss_gradients, per_layer, total};

pub(super) const PROXY: Proxy = Proxy {
    name: "snip",
    about: "connection sensitivity: sum of |weight × loss gradient| over layers",
    needs_data: true,
    score: |s| total(layers(s)),
    layers: Some(layers),
};

fn layers(s: &mut Session<'_>) -> Result<Vec<f64>, String> {
    let layers = layer_weights(s.net.store());
    let grads = loss_gradients(s.net, s.batch, &layers);
    Ok(per_layer(s.net.store(), &layers, &grads, |w, g| f64::from(w * g).abs()))
}
