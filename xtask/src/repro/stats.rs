//! Statistics for the suites: sample moments, and the exact distribution
//! of random search's result on a tabular benchmark.

/// Mean and sample standard deviation (`n − 1`; 0 for one value).
pub fn mean_sd(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, var.sqrt())
}

/// One architecture of a table as a random draw sees it.
#[derive(Clone, Copy, Debug)]
pub struct Outcome {
    /// The score searched on.
    pub valid: f64,
    /// The score reported.
    pub test: f64,
    /// The probability that one draw of the space's sampler lands on it.
    pub weight: f64,
}

/// Mean and standard deviation of a run's best validation score and of
/// the test score of that trial.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BestOfN {
    /// E[best valid].
    pub valid_mean: f64,
    /// sd of the best valid.
    pub valid_sd: f64,
    /// E[test of the best-valid trial].
    pub test_mean: f64,
    /// Its sd.
    pub test_sd: f64,
}

/// The exact distribution of random search after `n` independent draws:
/// the best trial is the one with the highest validation score, the first
/// drawn among equals (the runner keeps the first of a tie), so within a
/// group of equal validation scores each member wins in proportion to its
/// weight. `P(best valid = v_g) = F_g^n − F_{g−1}^n` with `F` the
/// cumulative weight in validation order.
pub fn random_search_best(outcomes: &[Outcome], n: u64) -> BestOfN {
    let mut o: Vec<Outcome> = outcomes.to_vec();
    let total: f64 = o.iter().map(|x| x.weight).sum();
    o.sort_by(|a, b| a.valid.total_cmp(&b.valid));
    let n = i32::try_from(n).expect("a budget fits an i32");
    let (mut f_prev, mut i) = (0.0f64, 0);
    let (mut v1, mut v2, mut t1, mut t2) = (0.0, 0.0, 0.0, 0.0);
    while i < o.len() {
        let mut j = i;
        let (mut w, mut wt, mut wt2) = (0.0, 0.0, 0.0);
        while j < o.len() && o[j].valid == o[i].valid {
            let p = o[j].weight / total;
            (w, wt, wt2) = (w + p, wt + p * o[j].test, wt2 + p * o[j].test * o[j].test);
            j += 1;
        }
        let f = (f_prev + w).min(1.0);
        let p_group = f.powi(n) - f_prev.powi(n);
        let v = o[i].valid;
        v1 += p_group * v;
        v2 += p_group * v * v;
        t1 += p_group * wt / w;
        t2 += p_group * wt2 / w;
        f_prev = f;
        i = j;
    }
    BestOfN { valid_mean: v1, valid_sd: (v2 - v1 * v1).max(0.0).sqrt(), test_mean: t1, test_sd: (t2 - t1 * t1).max(0.0).sqrt() }
}

/// The test score a search that finds the best validation score reports
/// (the weighted mean over ties at the top).
pub fn test_of_best_valid(outcomes: &[Outcome]) -> f64 {
    let best = outcomes.iter().map(|o| o.valid).fold(f64::MIN, f64::max);
    let top = outcomes.iter().filter(|o| o.valid == best);
    let (w, wt) = top.fold((0.0, 0.0), |(w, wt), o| (w + o.weight, wt + o.weight * o.test));
    wt / w
}

/// Whether a strategy's mean is above random search's exact expectation,
/// said plainly: "REA 94.01 is above random's E[test] 93.78 (+0.23)". A
/// fact for a footer, not a check.
pub fn above_random(what: &str, mean: f64, reference: &str, random: f64) -> String {
    let d = mean - random;
    let verdict = if d > 0.0 { "above" } else if d < 0.0 { "below" } else { "equal to" };
    format!("{what} {mean:.2} is {verdict} {reference} {random:.2} ({d:+.2})")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Brute force over every sequence of draws.
    fn brute(o: &[Outcome], n: u32) -> (f64, f64) {
        let total: f64 = o.iter().map(|x| x.weight).sum();
        let (mut ev, mut et) = (0.0, 0.0);
        for code in 0..o.len().pow(n) {
            let draws: Vec<usize> = (0..n).map(|k| code / o.len().pow(k) % o.len()).collect();
            let p: f64 = draws.iter().map(|&d| o[d].weight / total).product();
            // First of the best, as the runner keeps it.
            let best = draws.iter().copied().fold(None::<usize>, |b, d| match b {
                Some(b) if o[d].valid <= o[b].valid => Some(b),
                _ => Some(d),
            });
            let b = best.unwrap();
            ev += p * o[b].valid;
            et += p * o[b].test;
        }
        (ev, et)
    }

    #[test]
    fn the_exact_expectation_matches_brute_force_with_ties_and_weights() {
        let o = [
            Outcome { valid: 1.0, test: 5.0, weight: 1.0 },
            Outcome { valid: 3.0, test: 2.0, weight: 2.0 },
            Outcome { valid: 3.0, test: 9.0, weight: 1.0 },
            Outcome { valid: 2.0, test: 4.0, weight: 3.0 },
            Outcome { valid: 0.5, test: 1.0, weight: 0.5 },
        ];
        for n in 1..=4 {
            let exact = random_search_best(&o, u64::from(n));
            let (ev, et) = brute(&o, n);
            assert!((exact.valid_mean - ev).abs() < 1e-12 && (exact.test_mean - et).abs() < 1e-12, "n={n}: {exact:?} vs {ev} {et}");
        }
        // One draw: the sampler's own distribution.
        let one = random_search_best(&o, 1);
        let total = 7.5;
        let mean_t = o.iter().map(|x| x.weight * x.test).sum::<f64>() / total;
        let var_t = o.iter().map(|x| x.weight * (x.test - mean_t).powi(2)).sum::<f64>() / total;
        assert!((one.test_sd - var_t.sqrt()).abs() < 1e-12);
        assert_eq!(mean_sd(&[1.0, 3.0]), (2.0, 2f64.sqrt()));
        assert_eq!(above_random("REA", 94.01, "random's E[test]", 93.78), "REA 94.01 is above random's E[test] 93.78 (+0.23)");
        assert_eq!(above_random("test", 77.31, "E[test]", 77.64), "test 77.31 is below E[test] 77.64 (-0.33)");
    }
}
