//! The numbers behind the figures: best-so-far traces of one run and
//! their mean ± sd over seeds, on evaluations and on a time grid.

use nasforge_journal::TrialRecord;

/// A run's incumbent after each trial: the best validation score so far,
/// the test score of that same trial (what a user of the search would
/// get), and the search seconds when the trial finished.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Trace {
    /// Best validation score after trials `0..=i` (NaN before the first
    /// success).
    pub valid: Vec<f64>,
    /// The incumbent's test score (NaN when it has none).
    pub test: Vec<f64>,
    /// Seconds of search when trial `i` finished.
    pub elapsed: Vec<f64>,
}

impl Trace {
    /// The trace of `trials` (in trial order), maximising validation.
    /// Failed trials and non-finite scores keep the incumbent.
    pub fn of(trials: &[TrialRecord]) -> Self {
        let mut t = Trace::default();
        let (mut best, mut test) = (f64::NAN, f64::NAN);
        for r in trials {
            if let Ok(m) = &r.outcome {
                if m.valid.is_finite() && (best.is_nan() || m.valid > best) {
                    best = m.valid;
                    test = m.test.unwrap_or(f64::NAN);
                }
            }
            t.valid.push(best);
            t.test.push(test);
            t.elapsed.push(r.elapsed);
        }
        t
    }

    /// `(valid, test)` of the incumbent at `seconds` of search: the last
    /// trial finished by then (NaN before the first).
    pub fn at_time(&self, seconds: f64) -> (f64, f64) {
        match self.elapsed.partition_point(|&e| e <= seconds) {
            0 => (f64::NAN, f64::NAN),
            n => (self.valid[n - 1], self.test[n - 1]),
        }
    }
}

/// One point of a mean ± sd curve.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BandPoint {
    /// Evaluations or seconds.
    pub x: f64,
    /// The mean over the runs with a finite value there.
    pub mean: f64,
    /// Their sample standard deviation (0 for one run).
    pub sd: f64,
    /// How many runs had a finite value.
    pub n: usize,
}

/// Mean ± sd of finite values.
pub fn mean_sd(values: impl IntoIterator<Item = f64>) -> Option<(f64, f64, usize)> {
    let v: Vec<f64> = values.into_iter().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let sd = if v.len() > 1 { (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt() } else { 0.0 };
    Some((mean, sd, v.len()))
}

/// Mean ± sd of `curves` (one per seed) against evaluations 1, 2, …, up
/// to the shortest curve: beyond it the band would mix fewer seeds.
pub fn band_by_evaluations(curves: &[&[f64]]) -> Vec<BandPoint> {
    let len = curves.iter().map(|c| c.len()).min().unwrap_or(0);
    (0..len)
        .filter_map(|i| mean_sd(curves.iter().map(|c| c[i])).map(|(mean, sd, n)| BandPoint { x: (i + 1) as f64, mean, sd, n }))
        .collect()
}

/// Mean ± sd of the runs' incumbents (`pick` chooses valid or test) on
/// `points` evenly spaced times up to the shortest run's last trial.
pub fn band_by_time(traces: &[&Trace], points: usize, pick: impl Fn((f64, f64)) -> f64) -> Vec<BandPoint> {
    let end = traces.iter().filter_map(|t| t.elapsed.last().copied()).fold(f64::INFINITY, f64::min);
    if !end.is_finite() || end <= 0.0 || points < 2 {
        return Vec::new();
    }
    (0..points)
        .filter_map(|k| {
            let x = end * k as f64 / (points - 1) as f64;
            mean_sd(traces.iter().map(|t| pick(t.at_time(x)))).map(|(mean, sd, n)| BandPoint { x, mean, sd, n })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use nasforge_core::{EvalError, Metrics};

    use super::*;

    fn trial(n: u64, valid: Option<f64>, test: f64, elapsed: f64) -> TrialRecord {
        TrialRecord {
            trial: n,
            arch: format!("a{n}"),
            arch_key: format!("a{n}"),
            outcome: match valid {
                Some(v) => Ok(Metrics { test: Some(test), ..Metrics::with_valid(v) }),
                None => Err(EvalError::Invalid("x".into())),
            },
            seed: 0,
            started_at: 0.0,
            finished_at: 0.0,
            eval_seconds: 0.0,
            elapsed,
        }
    }

    #[test]
    fn the_incumbent_keeps_its_own_test_score_through_failures_and_worse_trials() {
        let t = Trace::of(&[trial(0, None, 0.0, 1.0), trial(1, Some(0.5), 0.4, 2.0), trial(2, Some(0.7), 0.6, 3.0), trial(3, Some(0.6), 0.9, 4.0), trial(4, Some(f64::NAN), 1.0, 5.0)]);
        assert!(t.valid[0].is_nan() && t.test[0].is_nan());
        assert_eq!(&t.valid[1..], &[0.5, 0.7, 0.7, 0.7]);
        // Trial 3's better test score is not the incumbent's.
        assert_eq!(&t.test[1..], &[0.4, 0.6, 0.6, 0.6]);
        assert!(t.at_time(0.5).0.is_nan());
        assert_eq!(t.at_time(2.0), (0.5, 0.4));
        assert_eq!(t.at_time(3.9), (0.7, 0.6));
    }

    #[test]
    fn bands_stop_at_the_shortest_run_and_skip_runs_without_a_value() {
        let a = [f64::NAN, 1.0, 2.0, 3.0];
        let b = [1.0, 3.0, 4.0];
        let band = band_by_evaluations(&[&a, &b]);
        assert_eq!(band.len(), 3);
        assert_eq!((band[0].mean, band[0].sd, band[0].n), (1.0, 0.0, 1));
        assert_eq!((band[1].x, band[1].mean, band[1].n), (2.0, 2.0, 2));
        assert!((band[1].sd - 2f64.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn the_time_band_ends_at_the_shortest_run() {
        let a = Trace::of(&[trial(0, Some(0.1), 0.1, 1.0), trial(1, Some(0.3), 0.2, 10.0)]);
        let b = Trace::of(&[trial(0, Some(0.2), 0.3, 2.0), trial(1, Some(0.5), 0.4, 4.0)]);
        let band = band_by_time(&[&a, &b], 5, |(v, _)| v);
        assert_eq!(band.last().unwrap().x, 4.0);
        // At 4 s: a's incumbent is still 0.1, b's is 0.5.
        assert!((band.last().unwrap().mean - 0.3).abs() < 1e-12);
        // At 0 s neither has finished a trial: no point.
        assert!(band.iter().all(|p| p.x > 0.0));
    }
}
