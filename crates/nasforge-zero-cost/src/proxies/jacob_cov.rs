//! `jacob_cov` (foresight; NASWOT's first version): the correlation matrix
//! of the per-item input Jacobians `∂(Σ y)/∂x_i`, scored
//! `−Σ log(λ + k) + 1/(λ + k)` over its eigenvalues, `k = 1e-5`.
//! NASLib names it `jacov`.

use super::{Proxy, correlation_score, input_jacobian};

pub(super) const PROXY: Proxy = Proxy {
    name: "jacob_cov",
    about: "eigenvalue score of the correlation of per-item input Jacobians (NaN where a Jacobian is constant)",
    needs_data: true,
    score: |s| {
        if s.batch.scored_items().len() < 2 {
            return Err("needs a batch of at least 2 items".into());
        }
        Ok(correlation_score(&input_jacobian(s.net, s.batch)))
    },
    layers: None,
};
