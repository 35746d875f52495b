//! One reproduction table: rows of published figure, our figure and the
//! comparison that decides the row, one markdown writer, one check.

use std::fmt::Write as _;

/// A figure: a mean, with its spread and the number of runs behind it
/// when known.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Value {
    /// The figure (a mean over runs, or a single count).
    pub mean: f64,
    /// The standard deviation over runs (`±` in a paper), when there is one.
    pub sd: Option<f64>,
    /// How many runs it is a mean of, when known.
    pub n: Option<u64>,
}

impl Value {
    /// A figure without spread (a count, a table's optimum).
    pub fn exact(mean: f64) -> Self {
        Self { mean, sd: None, n: None }
    }

    /// A figure published as `mean ± sd` over `n` runs (`None`: not stated).
    pub fn published(mean: f64, sd: f64, n: Option<u64>) -> Self {
        Self { mean, sd: Some(sd), n }
    }

    /// Mean and sample standard deviation of `xs`.
    pub fn of(xs: &[f64]) -> Self {
        let (mean, sd) = crate::repro::stats::mean_sd(xs);
        Self { mean, sd: Some(sd), n: Some(xs.len() as u64) }
    }

    /// The standard error of the mean (`sd/√n`), when both are known.
    pub fn se(&self) -> Option<f64> {
        Some(self.sd? / (self.n? as f64).sqrt())
    }
}

/// What decides a row.
#[derive(Clone, Debug, PartialEq)]
pub enum Check {
    /// `|ours − target| ≤ tol`.
    Near {
        /// The figure compared with.
        target: f64,
        /// The half-width allowed.
        tol: f64,
        /// What the target is (shown in the table).
        against: String,
    },
    /// `lo ≤ ours < hi` (a published figure's rounding interval, say).
    Within {
        /// Lowest value accepted.
        lo: f64,
        /// First value refused above.
        hi: f64,
        /// What the interval is.
        against: String,
    },
    /// `ours ≥ floor`: a sanity check where no published figure exists.
    AtLeast {
        /// The lowest value accepted.
        floor: f64,
        /// The figure the floor derives from (shown for the difference).
        reference: f64,
        /// What the floor is.
        against: String,
    },
    /// Nothing is checked (a figure printed for reference, or a run that
    /// cannot be made); the text says why.
    Info(String),
}

/// One row.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// What the row is.
    pub label: String,
    /// The published figure, if there is one for this row.
    pub paper: Option<Value>,
    /// Ours; `None` when the row could not be run.
    pub ours: Option<Value>,
    /// Relative improvement over the average random architecture (%).
    pub ri: Option<f64>,
    /// What decides the row.
    pub check: Check,
}

impl Row {
    /// Whether the row passes (information rows always do).
    pub fn passes(&self) -> bool {
        let Some(ours) = self.ours else { return matches!(self.check, Check::Info(_)) };
        let x = ours.mean;
        match &self.check {
            Check::Near { target, tol, .. } => (x - target).abs() <= *tol,
            Check::Within { lo, hi, .. } => *lo <= x && x < *hi,
            Check::AtLeast { floor, .. } => x >= *floor,
            Check::Info(_) => true,
        }
    }

    /// `ours − compared figure` (the paper's, for information rows).
    pub fn delta(&self) -> Option<f64> {
        let x = self.ours?.mean;
        match &self.check {
            Check::Near { target, .. } => Some(x - target),
            Check::Within { lo, hi, .. } => Some(match self.paper {
                Some(p) => x - p.mean,
                None if x < *lo => x - lo,
                None if x >= *hi => x - hi,
                None => 0.0,
            }),
            Check::AtLeast { reference, .. } => Some(x - reference),
            Check::Info(_) => Some(x - self.paper?.mean),
        }
    }
}

/// A reproduction table.
#[derive(Clone, Debug)]
pub struct Table {
    /// The suite's name (`target/repro/NAME.md`).
    pub name: String,
    /// The title: the paper and its table.
    pub title: String,
    /// What the figures are (unit, metric).
    pub caption: String,
    /// Digits after the decimal point.
    pub decimals: usize,
    /// Drop trailing zeros (for exact counts printed in millions).
    pub trim_zeros: bool,
    /// The rows.
    pub rows: Vec<Row>,
    /// Footer lines: tolerance rules, sources, caveats.
    pub notes: Vec<String>,
}

impl Table {
    /// An empty table.
    pub fn new(name: &str, title: &str, caption: &str, decimals: usize) -> Self {
        Self { name: name.into(), title: title.into(), caption: caption.into(), decimals, trim_zeros: false, rows: Vec::new(), notes: Vec::new() }
    }

    /// A number at the table's precision.
    fn num(&self, x: f64) -> String {
        let s = format!("{x:.*}", self.decimals);
        if self.trim_zeros && s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_owned() } else { s }
    }

    fn fmt_value(&self, v: &Value) -> String {
        match v.sd {
            Some(sd) => format!("{} ± {}", self.num(v.mean), self.num(sd)),
            None => self.num(v.mean),
        }
    }

    /// The table as markdown.
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "## {}: {}\n\n{}\n", self.name, self.title, self.caption);
        s += "| row | paper | ours (mean ± sd) | seeds | compared with | Δ | tolerance | RI % | result |\n";
        s += "|---|---:|---:|---:|---|---:|---|---:|---|\n";
        for r in &self.rows {
            let paper = r.paper.map_or("—".into(), |p| {
                let runs = p.n.map_or(String::new(), |n| format!(" ({n} runs)"));
                self.fmt_value(&p) + &runs
            });
            let ours = r.ours.map_or("not run".into(), |o| self.fmt_value(&o));
            let seeds = r.ours.and_then(|o| o.n).map_or("—".into(), |n| n.to_string());
            let (against, tolerance) = match &r.check {
                Check::Near { target, tol, against } => {
                    // A tolerance below the table's precision gets one more digit.
                    let tol = if *tol > 0.0 && *tol < 10f64.powi(-(self.decimals as i32)) { format!("{tol:.*}", self.decimals + 1) } else { self.num(*tol) };
                    (format!("{against}: {}", self.num(*target)), format!("± {tol}"))
                }
                Check::Within { lo, hi, against } => (against.clone(), format!("[{}, {})", self.num(*lo), self.num(*hi))),
                Check::AtLeast { floor, reference, against } => (format!("{against}: {}", self.num(*reference)), format!("≥ {}", self.num(*floor))),
                Check::Info(why) => (why.clone(), "—".into()),
            };
            let delta = r.delta().map_or("—".into(), |x| if x >= 0.0 { format!("+{}", self.num(x)) } else { self.num(x) });
            let ri = r.ri.map_or("—".into(), |x| format!("{x:.2}"));
            let result = match (&r.check, r.passes()) {
                (Check::Info(_), _) => "info",
                (_, true) => "pass",
                (_, false) => "**FAIL**",
            };
            let _ = writeln!(s, "| {} | {paper} | {ours} | {seeds} | {against} | {delta} | {tolerance} | {ri} | {result} |", r.label);
        }
        if !self.notes.is_empty() {
            s.push('\n');
            for n in &self.notes {
                let _ = writeln!(s, "- {n}");
            }
        }
        s
    }

    /// The rows outside their tolerance, one line each.
    pub fn failures(&self) -> Vec<String> {
        let d = self.decimals;
        self.rows
            .iter()
            .filter(|r| !r.passes())
            .map(|r| match (&r.check, r.ours) {
                (_, None) => format!("{}: {}: not run", self.name, r.label),
                (Check::Near { target, tol, against }, Some(o)) => {
                    format!("{}: {}: ours {:.d$}, {against} {target:.d$}, |Δ| {:.d$} > {tol:.d$}", self.name, r.label, o.mean, (o.mean - target).abs())
                }
                (Check::Within { lo, hi, against }, Some(o)) => {
                    format!("{}: {}: ours {:.d$} outside [{lo:.d$}, {hi:.d$}) ({against})", self.name, r.label, o.mean)
                }
                (Check::AtLeast { floor, against, .. }, Some(o)) => {
                    format!("{}: {}: ours {:.d$} < {floor:.d$} ({against})", self.name, r.label, o.mean)
                }
                (Check::Info(_), Some(_)) => unreachable!("information rows pass"),
            })
            .collect()
    }
}

/// Relative improvement over the average random architecture (Yang et
/// al., "NAS evaluation is frustratingly hard", ICLR 2020):
/// `100 × (acc − acc_rand) / acc_rand`.
pub fn ri(acc: f64, acc_rand: f64) -> f64 {
    100.0 * (acc - acc_rand) / acc_rand
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(ours: f64, check: Check) -> Row {
        Row { label: "r".into(), paper: Some(Value::exact(1.0)), ours: Some(Value::exact(ours)), ri: None, check }
    }

    #[test]
    fn checks_decide_rows_and_failures_name_them() {
        let near = |x| row(x, Check::Near { target: 1.0, tol: 0.1, against: "t".into() });
        assert!(near(1.09).passes() && near(0.91).passes() && !near(1.2).passes());
        let within = |x| row(x, Check::Within { lo: 3.35, hi: 3.5, against: "i".into() });
        assert!(within(3.35).passes() && within(3.47).passes() && !within(3.5).passes() && !within(3.3).passes());
        // Δ is against the paper where there is one, else the distance outside.
        assert!((within(3.3).delta().unwrap() - 2.3).abs() < 1e-12);
        let unpublished = Row { paper: None, ..within(3.3) };
        assert!((unpublished.delta().unwrap() + 0.05).abs() < 1e-12);
        let floor = |x| row(x, Check::AtLeast { floor: 0.5, reference: 0.6, against: "f".into() });
        assert!(floor(0.5).passes() && !floor(0.4).passes());
        let info = row(7.0, Check::Info("why".into()));
        assert!(info.passes() && info.delta() == Some(6.0));
        let not_run = Row { ours: None, ..info.clone() };
        assert!(not_run.passes());
        let mut t = Table::new("t", "title", "caption", 2);
        t.rows = vec![near(1.0), near(2.0), info];
        let f = t.failures();
        assert_eq!(f.len(), 1);
        assert!(f[0].contains("ours 2.00") && f[0].contains("> 0.10"), "{f:?}");
        let md = t.markdown();
        assert!(md.contains("**FAIL**") && md.contains("| info |"), "{md}");
        assert!((ri(94.0, 87.0) - 100.0 * 7.0 / 87.0).abs() < 1e-12);
    }
}
