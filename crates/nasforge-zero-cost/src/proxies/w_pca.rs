//! `w_pca` (W-PCA, for lightweight language models): for every
//! feed-forward layer, the number of principal components of its hidden
//! activations over the batch's tokens needed to explain η = 99 % of their
//! variance; the score is the parameter count times their sum, as the
//! paper's equation defines it (its code was not available to check).

use nasforge_engine::dfdx::prelude::*;
use nasforge_engine::probe::{Probe, observe};

use super::{Proxy, Session, input, symmetric_eigenvalues};
use crate::net::ZcNet;

pub(super) const PROXY: Proxy = Proxy {
    name: "w_pca",
    about: "W-PCA (transformers): parameters × Σ over feed-forward layers of the principal components reaching 99 % of the activation variance",
    needs_data: true,
    score: w_pca,
    layers: None,
};

/// The variance the principal components must explain.
const ETA: f64 = 0.99;

fn w_pca(s: &mut Session<'_>) -> Result<f64, String> {
    let (net, b): (&mut dyn ZcNet, _) = (s.net, s.batch);
    let (_, probe) = observe(Probe { keep_marked: true, ..Probe::default() }, || net.logits(input(b).leaky_trace(), b, false));
    let layers: Vec<_> = probe.marked.iter().filter(|(tag, _, _)| *tag == "ffn").collect();
    if layers.is_empty() {
        return Err("W-PCA reads feed-forward activations, which only transformer networks mark".into());
    }
    let dims: usize = layers.iter().map(|(_, v, rows)| components(v, *rows, ETA)).sum();
    Ok(s.net.store().count() as f64 * dims as f64)
}

/// Principal components of `rows × (len / rows)` observations needed to
/// reach `eta` of the total variance. The spectrum comes from the smaller
/// of the covariance and the Gram matrix of the centred rows (their
/// nonzero eigenvalues agree): a thousand tokens of a 3,072-wide layer
/// need a 1,000², not a 3,072², eigenproblem.
pub(crate) fn components(values: &[f32], rows: usize, eta: f64) -> usize {
    let d = values.len() / rows;
    let mut mean = vec![0.0f64; d];
    for r in 0..rows {
        mean.iter_mut().zip(&values[r * d..(r + 1) * d]).for_each(|(m, &v)| *m += f64::from(v) / rows as f64);
    }
    let centred: Vec<Vec<f64>> = (0..rows).map(|r| values[r * d..(r + 1) * d].iter().zip(&mean).map(|(&v, m)| f64::from(v) - m).collect()).collect();
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let (n, m) = if rows < d {
        let mut gram = vec![0.0f64; rows * rows];
        for i in 0..rows {
            for j in i..rows {
                let v = dot(&centred[i], &centred[j]);
                gram[i * rows + j] = v;
                gram[j * rows + i] = v;
            }
        }
        (rows, gram)
    } else {
        let mut cov = vec![0.0f64; d * d];
        for x in &centred {
            for i in 0..d {
                for j in i..d {
                    cov[i * d + j] += x[i] * x[j];
                }
            }
        }
        for i in 0..d {
            for j in 0..i {
                cov[i * d + j] = cov[j * d + i];
            }
        }
        (d, cov)
    };
    let mut eig = symmetric_eigenvalues(&m, n);
    eig.sort_by(|a, b| b.total_cmp(a));
    let total: f64 = eig.iter().map(|v| v.max(0.0)).sum();
    if total <= 0.0 {
        return 0;
    }
    let mut acc = 0.0;
    for (k, v) in eig.iter().enumerate() {
        acc += v.max(0.0);
        if acc >= eta * total {
            return k + 1;
        }
    }
    n
}
