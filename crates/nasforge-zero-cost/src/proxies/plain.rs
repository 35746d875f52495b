//! `plain` (foresight): `Σ ∂L/∂W ⊙ W`, signed.

use super::{Proxy, layer_weights, loss_gradients, sum_over};

pub(super) const PROXY: Proxy = Proxy {
    name: "plain",
    about: "sum of weight × loss gradient over layers, signed",
    needs_data: true,
    score: |s| {
        let layers = layer_weights(s.net.store());
        let grads = loss_gradients(s.net, s.batch, &layers);
        Ok(sum_over(s.net.store(), &layers, &grads, |w, g| f64::from(w * g)))
    },
};
