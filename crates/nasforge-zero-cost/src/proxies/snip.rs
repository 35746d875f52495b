//! `snip` (foresight): `Σ |∂L/∂W ⊙ W|`, the gradient of a unit mask on
//! every weight.

use super::{Proxy, layer_weights, loss_gradients, sum_over};

pub(super) const PROXY: Proxy = Proxy {
    name: "snip",
    about: "connection sensitivity: sum of |weight × loss gradient| over layers",
    needs_data: true,
    score: |s| {
        let layers = layer_weights(s.net.store());
        let grads = loss_gradients(s.net, s.batch, &layers);
        Ok(sum_over(s.net.store(), &layers, &grads, |w, g| f64::from(w * g).abs()))
    },
};
