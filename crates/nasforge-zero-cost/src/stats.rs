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

/// Kendall's τ-b (ties in either variable corrected) by Knight's
/// O(n log n) algorithm (scipy's `kendalltau`): sort by `a` then `b`, count
/// the swaps a merge sort of `b` makes (the discordant pairs); NaN ranks
/// lowest, as in [`ranks`].
pub fn kendall(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "paired samples");
    let (a, b) = (ranks(a), ranks(b));
    let n = a.len();
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|&i, &j| a[i].total_cmp(&a[j]).then(b[i].total_cmp(&b[j])));
    let pairs = |t: f64| t * (t - 1.0) / 2.0;
    // Ties in `a`, and in `a` and `b` together, over runs of the sort.
    let (mut ties_a, mut ties_ab) = (0.0, 0.0);
    let (mut run_a, mut run_ab) = (1.0, 1.0);
    for w in idx.windows(2) {
        if a[w[0]] == a[w[1]] {
            run_a += 1.0;
            if b[w[0]] == b[w[1]] {
                run_ab += 1.0;
            } else {
                ties_ab += pairs(run_ab);
                run_ab = 1.0;
            }
        } else {
            ties_a += pairs(run_a);
            ties_ab += pairs(run_ab);
            (run_a, run_ab) = (1.0, 1.0);
        }
    }
    ties_a += pairs(run_a);
    ties_ab += pairs(run_ab);
    let mut seq: Vec<f64> = idx.iter().map(|&i| b[i]).collect();
    let swaps = merge_count(&mut seq);
    let mut ties_b = 0.0;
    let mut run = 1.0;
    for w in seq.windows(2) {
        if w[0] == w[1] {
            run += 1.0;
        } else {
            ties_b += pairs(run);
            run = 1.0;
        }
    }
    ties_b += pairs(run);
    let total = pairs(n as f64);
    (total - ties_a - ties_b + ties_ab - 2.0 * swaps) / ((total - ties_a) * (total - ties_b)).sqrt()
}

/// Sorts `v` ascending; returns the number of inversions (pairs out of
/// order, equal values not counted).
fn merge_count(v: &mut [f64]) -> f64 {
    let n = v.len();
    if n < 2 {
        return 0.0;
    }
    let mid = n / 2;
    let mut count = merge_count(&mut v[..mid]) + merge_count(&mut v[mid..]);
    let mut merged = Vec::with_capacity(n);
    let (mut i, mut j) = (0, mid);
    while i < mid && j < n {
        if v[j] < v[i] {
            count += (mid - i) as f64;
            merged.push(v[j]);
            j += 1;
        } else {
            merged.push(v[i]);
            i += 1;
        }
    }
    merged.extend_from_slice(&v[i..mid]);
    merged.extend_from_slice(&v[j..]);
    v.copy_from_slice(&merged);
    count
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

    /// τ-b by counting every pair, the definition.
    fn kendall_by_pairs(a: &[f64], b: &[f64]) -> f64 {
        let (a, b) = (ranks(a), ranks(b));
        let (mut c, mut d, mut ta, mut tb) = (0f64, 0f64, 0f64, 0f64);
        for i in 0..a.len() {
            for j in i + 1..a.len() {
                let (da, db) = (a[i] - a[j], b[i] - b[j]);
                if da == 0.0 && db == 0.0 {
                    continue;
                }
                if da == 0.0 {
                    ta += 1.0;
                } else if db == 0.0 {
                    tb += 1.0;
                } else if (da > 0.0) == (db > 0.0) {
                    c += 1.0;
                } else {
                    d += 1.0;
                }
            }
        }
        (c - d) / ((c + d + ta) * (c + d + tb)).sqrt()
    }

    #[test]
    fn knights_kendall_equals_counting_pairs_with_ties() {
        let mut state = 7u64;
        let mut next = |m: u64| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 33) % m) as f64
        };
        for (n, m) in [(50, 5), (200, 20), (300, 1000)] {
            let a: Vec<f64> = (0..n).map(|_| next(m)).collect();
            let b: Vec<f64> = a.iter().map(|x| x + next(m)).collect();
            assert!((kendall(&a, &b) - kendall_by_pairs(&a, &b)).abs() < 1e-12, "n {n}");
        }
    }
}
