//! Fuzzy c-means (Bezdek 1981) over embeddings: `k` centroids and soft
//! memberships `u_ik = 1 / Σ_j (d_ik / d_ij)^(2/(m−1))`, alternated until
//! memberships move by less than `tol` (or `iterations` pass). GENNAPE
//! weights its MLP heads by these memberships; its public code does not
//! include this part, so `k`, `m` and the stopping rule are the method's
//! usual ones (m = 2), chosen here.

use nasforge_core::seeded_rng;
use rand::Rng;

/// Fitted centroids with the fuzziness they were fitted under.
#[derive(Clone, Debug, PartialEq)]
pub struct FuzzyCMeans {
    /// The centroids.
    pub centroids: Vec<Vec<f32>>,
    /// The fuzziness exponent m (> 1).
    pub m: f64,
}

fn dist2(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| f64::from(x - y).powi(2)).sum()
}

impl FuzzyCMeans {
    /// Fits `k` clusters to `points` from seeded random memberships.
    ///
    /// # Panics
    /// When `points` is empty, `k` is 0 or `m` is not above 1.
    pub fn fit(points: &[Vec<f32>], k: usize, m: f64, iterations: usize, tol: f64, seed: u64) -> Self {
        assert!(!points.is_empty() && k > 0 && m > 1.0, "fuzzy c-means needs points, k ≥ 1 and m > 1");
        let d = points[0].len();
        let mut rng = seeded_rng(seed);
        let mut u: Vec<Vec<f64>> = points
            .iter()
            .map(|_| {
                let r: Vec<f64> = (0..k).map(|_| rng.random_range(0.01..1.0)).collect();
                let s: f64 = r.iter().sum();
                r.into_iter().map(|v| v / s).collect()
            })
            .collect();
        let mut model = FuzzyCMeans { centroids: vec![vec![0.0; d]; k], m };
        for _ in 0..iterations {
            for c in 0..k {
                let mut acc = vec![0.0f64; d];
                let mut total = 0.0;
                for (p, ui) in points.iter().zip(&u) {
                    let w = ui[c].powf(m);
                    total += w;
                    acc.iter_mut().zip(p).for_each(|(a, &x)| *a += w * f64::from(x));
                }
                model.centroids[c] = acc.iter().map(|a| (a / total.max(1e-300)) as f32).collect();
            }
            let next: Vec<Vec<f64>> = points.iter().map(|p| model.memberships(p)).collect();
            let moved = next.iter().zip(&u).flat_map(|(a, b)| a.iter().zip(b).map(|(x, y)| (x - y).abs())).fold(0.0, f64::max);
            u = next;
            if moved < tol {
                break;
            }
        }
        model
    }

    /// The memberships of `p` in each cluster (they sum to 1).
    pub fn memberships(&self, p: &[f32]) -> Vec<f64> {
        let d: Vec<f64> = self.centroids.iter().map(|c| dist2(p, c)).collect();
        if let Some(at) = d.iter().position(|&x| x < 1e-24) {
            return (0..d.len()).map(|c| if c == at { 1.0 } else { 0.0 }).collect();
        }
        // (d_ik / d_ij)^(2/(m−1)) with squared distances: exponent 1/(m−1).
        let e = 1.0 / (self.m - 1.0);
        d.iter().map(|&dk| 1.0 / d.iter().map(|&dj| (dk / dj).powf(e)).sum::<f64>()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_blobs_get_two_centroids_and_crisp_memberships_at_their_centres() {
        let mut pts = Vec::new();
        for i in 0..50 {
            let j = (i as f32) / 500.0;
            pts.push(vec![0.0 + j, 0.0 - j]);
            pts.push(vec![5.0 - j, 5.0 + j]);
        }
        let f = FuzzyCMeans::fit(&pts, 2, 2.0, 100, 1e-6, 1);
        let mut c = f.centroids.clone();
        c.sort_by(|a, b| a[0].total_cmp(&b[0]));
        assert!(c[0][0].abs() < 0.2 && (c[1][0] - 5.0).abs() < 0.2, "{c:?}");
        let u = f.memberships(&[0.0, 0.0]);
        assert!(u.iter().copied().fold(0.0, f64::max) > 0.99);
        let mid = f.memberships(&[2.5, 2.5]);
        assert!((mid[0] - 0.5).abs() < 0.05 && (mid.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }
}
