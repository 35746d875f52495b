//! `zen` (Zen-NAS, Lin et al. 2021; NASLib's code): weights re-drawn from
//! N(0, 1) (batch norm scale 1, shifts and biases 0), Gaussian inputs and
//! a mixup perturbation (γ = 0.01); the score is `log(mean_n Σ |f(x) −
//! f(x + γε)|) + Σ_BN log √mean(running var)`, with `f` the features before
//! global average pooling and batch norm in training mode.

use nasforge_engine::dfdx::prelude::*;
use nasforge_engine::probe::{Probe, observe};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use super::{Proxy, Session, dev, layer_weights};
use crate::net::ZcNet;

pub(super) const PROXY: Proxy = Proxy {
    name: "zen",
    about: "Zen-NAS: expressivity of the pre-pooling features under a Gaussian mixup, with the batch-norm scaling",
    needs_data: false,
    score: zen,
    layers: None,
};

fn zen(s: &mut Session<'_>) -> Result<f64, String> {
    let mut rng = ChaCha8Rng::seed_from_u64(s.seed);
    let mut normal = |n: usize| -> Vec<f32> { (0..n).map(|_| StandardNormal.sample(&mut rng)).collect() };
    let store = s.net.store();
    let layers = layer_weights(store);
    for i in 0..store.params.len() {
        let (name, shape) = &store.meta[i];
        let n: usize = shape.iter().product();
        let v = if layers.contains(&i) {
            normal(n)
        } else if name.ends_with(".gamma") {
            vec![1.0; n]
        } else if name.ends_with(".beta") || name.ends_with(".bias") {
            vec![0.0; n]
        } else {
            continue;
        };
        store.params[i].copy_from(&v);
    }
    let b = s.batch;
    let len = b.input.len();
    let x = normal(len);
    let noise = normal(len);
    let mixed: Vec<f32> = x.iter().zip(&noise).map(|(a, e)| a + 0.01 * e).collect();
    let net: &mut dyn ZcNet = s.net;
    let mut features = |v: Vec<f32>| {
        let t = dev().tensor_from_vec(v, (len,));
        let (_, probe) = observe(Probe { pre_pool: true, ..Probe::default() }, || net.logits(t.leaky_trace(), b, true));
        probe.pooled
    };
    let (Some((f1, shape)), Some((f2, _))) = (features(x), features(mixed)) else {
        return Err("Zen-NAS scores the features before global average pooling, and this network has none".into());
    };
    let diff: f64 = f1.iter().zip(&f2).map(|(a, b)| f64::from((a - b).abs())).sum();
    let nas = diff / shape[0] as f64;
    let bn: f64 = s.net.store().stats.iter().map(|st| (st.var.iter().map(|&v| f64::from(v)).sum::<f64>() / st.var.len() as f64).sqrt().ln()).sum();
    Ok(nas.ln() + bn)
}
