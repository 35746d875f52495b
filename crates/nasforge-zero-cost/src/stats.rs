//! Rank correlations, for judging proxies against accuracies.

/// Ranks from 1, ties sharing their average rank; NaN ranks lowest (as
/// NASLib maps a NaN score to −1e8).
pub fn ranks(v: &[f64]) -> Vec<f64> {
    let key = |x: f64| if x.is_nan() { f64::NEG_INFINITY } else { x };
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| key(v[a]).total_cmp(&key(v[b])));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && key(v[idx[j + 1]]) == key(v[idx[i]]) {
            j += 1;
        }
        for &k in &idx[i..=j] {
            r[k] = (i + j) as f64 / 2.0 + 1.0;
        }
        i = j + 1;
    }
    r
}

/// Mean and sample standard deviation of the finite values of `v`;
/// `None` with fewer than two.
pub fn mean_sd(v: &[f64]) -> Option<(f64, f64)> {
    let finite: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if finite.len() < 2 {
        return None;
    }
    let mean = finite.iter().sum::<f64>() / finite.len() as f64;
    let sd = (finite.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (finite.len() - 1) as f64).sqrt();
    Some((mean, sd))
}

/// Spearman's ρ: the Pearson correlation of the ranks.
pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "paired samples");
    let (ra, rb) = (ranks(a), ranks(b));
    let n = ra.len() as f64;
    let (ma, mb) = (ra.iter().sum::<f64>() / n, rb.iter().sum::<f64>() / n);
    let cov: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = ra.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = rb.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

/// Kendall's τ-b (ties in either variable corrected), O(n²); NaN ranks
/// lowest, as in [`ranks`].
pub fn kendall(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "paired samples");
    let (a, b) = (ranks(a), ranks(b));
    let (mut concordant, mut discordant, mut ties_a, mut ties_b) = (0f64, 0f64, 0f64, 0f64);
    for i in 0..a.len() {
        for j in i + 1..a.len() {
            let (da, db) = (a[i] - a[j], b[i] - b[j]);
            if da == 0.0 && db == 0.0 {
                continue;
            }
            if da == 0.0 {
                ties_a += 1.0;
            } else if db == 0.0 {
                ties_b += 1.0;
            } else if (da > 0.0) == (db > 0.0) {
                concordant += 1.0;
            } else {
                discordant += 1.0;
            }
        }
    }
    (concordant - discordant) / ((concordant + discordant + ties_a) * (concordant + discordant + ties_b)).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn correlations_match_scipy_on_a_small_case() {
        // scipy.stats: spearmanr → 0.8, kendalltau → 0.6 (no ties);
        // with ties [1,2,2,3] vs [1,3,2,4]: spearman 0.9486832980505138,
        // kendalltau 0.9128709291752769.
        let (a, b) = ([1.0, 2.0, 3.0, 4.0, 5.0], [2.0, 1.0, 4.0, 3.0, 5.0]);
        assert!((spearman(&a, &b) - 0.8).abs() < 1e-12);
        assert!((kendall(&a, &b) - 0.6).abs() < 1e-12);
        let (a, b) = ([1.0, 2.0, 2.0, 3.0], [1.0, 3.0, 2.0, 4.0]);
        assert!((spearman(&a, &b) - 0.9486832980505138).abs() < 1e-12);
        assert!((kendall(&a, &b) - 0.9128709291752769).abs() < 1e-12);
        assert_eq!(ranks(&[f64::NAN, 1.0, 1.0]), vec![1.0, 2.5, 2.5]);
    }
}
