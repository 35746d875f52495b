//! The HTML page: sections in the order a reader asks their questions
//! (what ran, how fast it found what, what it found), figures inline.

use std::fmt::Write;

use anyhow::Result;
use nasforge_core::{Objective, SearchSpace};
use serde_json::Value as Json;

use crate::curves::{Trace, band_by_evaluations, band_by_time};
use crate::figures::{self, BandCurve, FrontSeries, PANEL, WIDE};
use crate::{Report, Run};

/// Time figures sample the incumbent at this many instants.
const TIME_POINTS: usize = 200;
/// The top-trials table's length.
const TOP: usize = 10;

/// HTML-escaped text.
pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn fmt(x: f64) -> String {
    if x.is_finite() { format!("{x:.4}") } else { "–".into() }
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em auto;max-width:1500px;color:#222}\
table{border-collapse:collapse;font-size:90%;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}\
th{background:#f3f3f3}.figs{display:flex;flex-wrap:wrap;gap:8px}.arch{font-family:monospace;font-size:85%;word-break:break-all}\
.note{color:#555;font-size:90%}.key span{display:inline-block;margin-right:1em}.drawing svg{max-height:640px;max-width:100%;width:auto;height:auto}.key i{display:inline-block;width:14px;height:4px;margin-right:4px;vertical-align:middle}";

/// The whole page.
pub(crate) fn html(r: &Report) -> Result<String> {
    let mut h = String::new();
    let trials: usize = r.runs.iter().map(|run| run.trials.len()).sum();
    write!(h, "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>nasforge report</title><style>{STYLE}</style></head><body>")?;
    write!(h, "<h1>nasforge report</h1><p id=\"summary\"><span id=\"trial-count\">{trials}</span> trials in {} experiments of {} series.</p>", r.runs.len(), r.series.len())?;
    let traces: Vec<Trace> = r.runs.iter().map(|run| Trace::of(&run.trials)).collect();
    experiments(&mut h, r, &traces)?;
    progress(&mut h, r, &traces)?;
    fronts(&mut h, r)?;
    supernets(&mut h, r)?;
    top_trials(&mut h, r)?;
    best_architectures(&mut h, r)?;
    if !r.notes.is_empty() {
        h += "<h2>Notes</h2><ul class=\"note\">";
        for n in &r.notes {
            write!(h, "<li>{}</li>", esc(n))?;
        }
        h += "</ul>";
    }
    h += "</body></html>\n";
    Ok(h)
}

/// What ran: one row per experiment.
fn experiments(h: &mut String, r: &Report, traces: &[Trace]) -> Result<()> {
    h.push_str("<h2>Experiments</h2><table><tr><th>series</th><th>journal</th><th>id</th><th>strategy</th><th>space</th><th>estimator</th><th>seed</th><th>trials (failed)</th><th>steps</th><th>state</th><th>seconds</th><th>best valid</th><th>its test</th></tr>");
    for (run, t) in r.runs.iter().zip(traces) {
        let e = &run.experiment;
        let failed = run.trials.iter().filter(|t| t.outcome.is_err()).count();
        write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} ({failed})</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{}</td><td>{}</td></tr>",
            esc(&r.series[run.series].label),
            esc(&run.journal.display().to_string()),
            e.id,
            esc(&e.strategy),
            esc(&e.space),
            esc(&e.estimator),
            e.seed,
            run.trials.len(),
            run.steps.len(),
            if e.finished_at.is_some() { "finished" } else { "unfinished" },
            run.trials.last().map_or(0.0, |t| t.elapsed),
            fmt(t.valid.last().copied().unwrap_or(f64::NAN)),
            fmt(t.test.last().copied().unwrap_or(f64::NAN)),
        )?;
    }
    h.push_str("</table>");
    Ok(())
}

/// Best-so-far against evaluations and time, each series as mean ± sd.
fn progress(h: &mut String, r: &Report, traces: &[Trace]) -> Result<()> {
    let of_series = |s: usize| r.series[s].runs.iter().map(|&i| &traces[i]).filter(|t| !t.valid.is_empty()).collect::<Vec<_>>();
    // One-trial series (a one-shot search's derived cell) have no curve.
    let shown: Vec<usize> = (0..r.series.len()).filter(|&s| of_series(s).iter().any(|t| t.valid.len() > 1)).collect();
    if shown.is_empty() {
        return Ok(());
    }
    h.push_str("<h2>Best so far</h2><p class=\"note\">The incumbent (best validation score so far) and its own test score; several seeds of a series as mean ± sd (shaded), up to the shortest run.</p><div class=\"figs\">");
    let has_test = traces.iter().any(|t| t.test.iter().any(|x| x.is_finite()));
    for (metric, pick) in [("validation", 0usize), ("test", 1)] {
        if pick == 1 && !has_test {
            continue;
        }
        let by_eval: Vec<_> = shown
            .iter()
            .map(|&s| {
                let curves: Vec<&[f64]> = of_series(s).iter().map(|t| if pick == 0 { t.valid.as_slice() } else { t.test.as_slice() }).collect();
                band_by_evaluations(&curves)
            })
            .collect();
        let curves: Vec<BandCurve> = shown.iter().zip(&by_eval).map(|(&s, p)| BandCurve { label: &r.series[s].label, points: p }).collect();
        h.push_str(&figures::band_chart(&format!("Best-so-far {metric} score"), "evaluations", metric, &curves)?);
        let by_time: Vec<_> = shown.iter().map(|&s| band_by_time(&of_series(s), TIME_POINTS, |v| if pick == 0 { v.0 } else { v.1 })).collect();
        let curves: Vec<BandCurve> = shown.iter().zip(&by_time).map(|(&s, p)| BandCurve { label: &r.series[s].label, points: p }).collect();
        h.push_str(&figures::band_chart(&format!("Best-so-far {metric} score against time"), "seconds of search", metric, &curves)?);
    }
    h.push_str("</div>");
    Ok(())
}

/// The Pareto front of each multi-objective series (its seeds pooled).
fn fronts(h: &mut String, r: &Report) -> Result<()> {
    let multi: Vec<usize> = (0..r.series.len()).filter(|&s| r.runs[r.series[s].runs[0]].objectives.len() >= 2).collect();
    let mut pairs: Vec<(String, String)> = Vec::new();
    for &s in &multi {
        let o = &r.runs[r.series[s].runs[0]].objectives;
        if !pairs.contains(&(o[0].clone(), o[1].clone())) {
            pairs.push((o[0].clone(), o[1].clone()));
        }
    }
    if pairs.is_empty() {
        return Ok(());
    }
    h.push_str("<h2>Pareto fronts</h2><p class=\"note\">Every successful trial (dots) and the non-dominated ones of each series, its seeds pooled (line), on the first two objectives.</p><div class=\"figs\">");
    for (y_name, x_name) in pairs {
        let (oy, ox) = (Objective::named(&y_name), Objective::named(&x_name));
        let mut series = Vec::new();
        for &s in &multi {
            let first = &r.runs[r.series[s].runs[0]];
            if first.objectives[0] != y_name || first.objectives[1] != x_name {
                continue;
            }
            let mut points = Vec::new();
            let mut fits = Vec::new();
            for &i in &r.series[s].runs {
                for t in &r.runs[i].trials {
                    let Ok(m) = &t.outcome else { continue };
                    if let (Some(x), Some(y), Some(fx), Some(fy)) = (m.get(&ox.metric), m.get(&oy.metric), ox.fitness(m), oy.fitness(m)) {
                        if x.is_finite() && y.is_finite() {
                            points.push((x, y));
                            fits.push(vec![fy, fx]);
                        }
                    }
                }
            }
            let mut front: Vec<(f64, f64)> = nasforge_core::pareto::non_dominated_fronts(&fits).into_iter().next().unwrap_or_default().into_iter().map(|i| points[i]).collect();
            front.sort_by(|a, b| a.0.total_cmp(&b.0));
            front.dedup();
            series.push(FrontSeries { label: &r.series[s].label, points, front });
        }
        h.push_str(&figures::front_chart(&format!("{y_name} against {x_name}"), &x_name, &y_name, &series)?);
    }
    h.push_str("</div>");
    Ok(())
}

fn softmax(row: &[f64]) -> Vec<f64> {
    let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = row.iter().map(|v| (v - max).exp()).collect();
    let sum: f64 = e.iter().sum();
    e.into_iter().map(|v| v / sum).collect()
}

fn run_label(r: &Report, run: &Run) -> String {
    format!("{} seed {}", r.series[run.series].label, run.experiment.seed)
}

/// One-shot runs: per-epoch supernet accuracy and eigenvalue, and each
/// run's α trajectories (softmax over each edge's operations).
fn supernets(h: &mut String, r: &Report) -> Result<()> {
    let epochs = |run: &Run| run.steps.iter().filter(|s| s["phase"] == "train").cloned().collect::<Vec<Json>>();
    let runs: Vec<(&Run, Vec<Json>)> = r.runs.iter().map(|run| (run, epochs(run))).filter(|(_, e)| !e.is_empty()).collect();
    if runs.is_empty() {
        return Ok(());
    }
    h.push_str("<h2>Supernets</h2><div class=\"figs\">");
    let per_epoch = |key: &str| -> Vec<(String, Vec<(f64, f64)>)> {
        runs.iter()
            .map(|(run, e)| (run_label(r, run), e.iter().filter_map(|s| Some((s["epoch"].as_f64()?, s[key].as_f64()?))).collect::<Vec<_>>()))
            .filter(|(_, p)| !p.is_empty())
            .collect()
    };
    for (key, title) in [("valid_acc", "Supernet accuracy on α's half (%)"), ("train_acc", "Supernet accuracy on the weights' half (%)"), ("eigenvalue", "Dominant eigenvalue of the validation Hessian in α")] {
        let lines = per_epoch(key);
        if !lines.is_empty() {
            h.push_str(&figures::line_chart(title, "epoch", key, &lines, WIDE, lines.len() <= 12)?);
        }
    }
    h.push_str("</div>");
    for (run, e) in &runs {
        let rows: Vec<Vec<Vec<f64>>> = e
            .iter()
            .filter_map(|s| s["alpha"].as_array().map(|a| a.iter().map(|row| row.as_array().map(|v| v.iter().filter_map(Json::as_f64).collect()).unwrap_or_default()).collect()))
            .collect();
        let Some(first) = rows.first() else { continue };
        let names: Vec<String> = e
            .iter()
            .find_map(|s| s["ops"].as_array().map(|a| a.iter().map(|o| o.as_str().unwrap_or("?").to_owned()).collect()))
            .unwrap_or_else(|| (0..first.first().map_or(0, Vec::len)).map(|k| format!("op {k}")).collect());
        let epochs: Vec<f64> = e.iter().filter(|s| s["alpha"].is_array()).map(|s| s["epoch"].as_f64().unwrap_or(f64::NAN)).collect();
        write!(h, "<h3>α of {}</h3><p class=\"key\">", esc(&run_label(r, run)))?;
        for (k, n) in names.iter().enumerate() {
            let c = figures::colour(k);
            write!(h, "<span><i style=\"background:rgb({},{},{})\"></i>{}</span>", c.0, c.1, c.2, esc(n))?;
        }
        h.push_str("</p><div class=\"figs\">");
        for edge in 0..first.len() {
            let probs: Vec<Vec<f64>> = rows.iter().map(|epoch| epoch.get(edge).map(|row| softmax(row)).unwrap_or_default()).collect();
            let lines: Vec<(String, Vec<(f64, f64)>)> = (0..names.len())
                .map(|k| (names[k].clone(), epochs.iter().zip(&probs).filter_map(|(&x, p)| Some((x, *p.get(k)?))).collect()))
                .collect();
            h.push_str(&figures::line_chart(&format!("edge {edge}"), "epoch", "softmax(α)", &lines, PANEL, false)?);
        }
        h.push_str("</div>");
    }
    Ok(())
}

/// The best trials of all runs.
fn top_trials(h: &mut String, r: &Report) -> Result<()> {
    let mut all: Vec<(&Run, &nasforge_journal::TrialRecord, f64)> = r
        .runs
        .iter()
        .flat_map(|run| run.trials.iter().filter_map(move |t| crate::finite_valid(t).map(|v| (run, t, v))))
        .collect();
    if all.is_empty() {
        return Ok(());
    }
    all.sort_by(|a, b| b.2.total_cmp(&a.2));
    write!(h, "<h2>Top {} trials by validation</h2><table><tr><th>series</th><th>seed</th><th>trial</th><th>architecture</th><th>valid</th><th>test</th><th>params (M)</th><th>seconds of search</th></tr>", all.len().min(TOP))?;
    for (run, t, valid) in all.into_iter().take(TOP) {
        let m = t.outcome.as_ref().expect("successful trials only");
        write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"arch\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td></tr>",
            esc(&r.series[run.series].label),
            run.experiment.seed,
            t.trial,
            esc(&t.arch),
            fmt(valid),
            m.test.map_or("–".into(), fmt),
            m.params_m.map_or("–".into(), fmt),
            t.elapsed
        )?;
    }
    h.push_str("</table>");
    Ok(())
}

/// Each series' best architecture, drawn.
fn best_architectures(h: &mut String, r: &Report) -> Result<()> {
    let mut body = String::new();
    for s in &r.series {
        let best = crate::first_best(
            s.runs.iter().flat_map(|&i| r.runs[i].trials.iter().map(move |t| (i, t))).filter_map(|(i, t)| crate::finite_valid(t).map(|v| ((i, t), v))),
        );
        let Some(((i, t), valid)) = best else { continue };
        let run = &r.runs[i];
        write!(body, "<h3>{}: seed {}, trial {} (valid {})</h3><p class=\"arch\">{}</p>", esc(&s.label), run.experiment.seed, t.trial, fmt(valid), esc(&t.arch))?;
        let drawn = run.space.as_ref().ok_or_else(|| "its space could not be rebuilt (see the notes)".to_owned()).and_then(|space| {
            let arch = space.parse(&t.arch).map_err(|e| format!("the journal's architecture does not parse: {e}"))?;
            crate::drawing::svg(&space.to_graph(&arch))
        });
        match drawn {
            Ok(svg) => write!(body, "<div class=\"drawing\">{svg}</div>")?,
            Err(why) => write!(body, "<p class=\"note\">No drawing: {}</p>", esc(&why))?,
        }
    }
    if !body.is_empty() {
        h.push_str("<h2>Best architecture of each series</h2>");
        h.push_str(&body);
    }
    Ok(())
}
