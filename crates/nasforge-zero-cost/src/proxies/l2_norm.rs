//! `l2_norm` (foresight, NASLib): `Σ_layers ‖W‖₂`.

use nasforge_engine::ops::values;

use super::{Proxy, Session, layer_weights, total};

pub(super) const PROXY: Proxy = Proxy {
    name: "l2_norm",
    about: "sum over convolution and linear layers of the L2 norm of the weights",
    needs_data: false,
    score: |s| total(layers(s)),
    layers: Some(layers),
};

fn layers(s: &mut Session<'_>) -> Result<Vec<f64>, String> {
    let store = s.net.store();
    Ok(layer_weights(store).iter().map(|&i| values(&store.params[i]).iter().map(|&w| f64::from(w) * f64::from(w)).sum::<f64>().sqrt()).collect())
}
