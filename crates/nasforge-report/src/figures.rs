//! SVG figures (plotters' SVG backend: text stays text, no fonts needed).

use anyhow::Result;
use plotters::prelude::*;

use crate::curves::BandPoint;

/// Tableau's ten colours: distinct, and readable for most colour-blind
/// readers.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// The `i`-th series' colour.
pub fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// The pixel size of a full-width figure and of a small panel.
pub const WIDE: (u32, u32) = (720, 420);
/// See [`WIDE`].
pub const PANEL: (u32, u32) = (360, 240);

/// One labelled mean ± sd curve.
pub struct BandCurve<'a> {
    /// The legend's text.
    pub label: &'a str,
    /// Its points, in x order.
    pub points: &'a [BandPoint],
}

/// A padded range around `lo..hi` (a unit one around a single value).
fn padded(lo: f64, hi: f64) -> std::ops::Range<f64> {
    if !(lo.is_finite() && hi.is_finite()) {
        return 0.0..1.0;
    }
    let pad = if hi > lo { 0.05 * (hi - lo) } else { 0.5_f64.max(lo.abs() * 0.05) };
    (lo - pad)..(hi + pad)
}

/// The smallest and largest of `values` (infinities when there are none).
fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)))
}

type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>>;

/// One figure of `size` pixels (and `margin`) over `x` × `y` with its
/// title and axis names, its series drawn by `draw`, and a legend at
/// `legend` (none when `None`): the frame every figure here shares.
fn figure(
    (size, margin): ((u32, u32), u32),
    title: &str,
    (x_desc, y_desc): (&str, &str),
    (x, y): (std::ops::Range<f64>, std::ops::Range<f64>),
    legend: Option<SeriesLabelPosition>,
    draw: impl FnOnce(&mut Chart) -> Result<()>,
) -> Result<String> {
    let small = size.0 < WIDE.0;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", if small { 13 } else { 18 }))
            .margin(margin)
            .x_label_area_size(if small { 28 } else { 40 })
            .y_label_area_size(if small { 40 } else { 60 })
            .build_cartesian_2d(x, y)?;
        chart.configure_mesh().x_desc(x_desc).y_desc(y_desc).light_line_style(WHITE.mix(0.0)).draw()?;
        draw(&mut chart)?;
        if let Some(position) = legend {
            chart.configure_series_labels().position(position).background_style(WHITE.mix(0.85)).border_style(BLACK.mix(0.4)).draw()?;
        }
        root.present()?;
    }
    Ok(svg)
}

/// Mean curves with shaded ± sd bands, one colour per curve.
pub fn band_chart(title: &str, x_desc: &str, y_desc: &str, curves: &[BandCurve]) -> Result<String> {
    let pts = || curves.iter().flat_map(|c| c.points.iter());
    let x_max = pts().map(|p| p.x).fold(0.0, f64::max);
    let (y_lo, _) = bounds(pts().map(|p| p.mean - p.sd));
    let (_, y_hi) = bounds(pts().map(|p| p.mean + p.sd));
    let x = 0.0..if x_max > 0.0 { x_max } else { 1.0 };
    figure((WIDE, 12), title, (x_desc, y_desc), (x, padded(y_lo, y_hi)), Some(SeriesLabelPosition::LowerRight), |chart| {
        for (i, c) in curves.iter().enumerate() {
            let col = colour(i);
            if c.points.iter().any(|p| p.sd > 0.0) {
                let upper = c.points.iter().map(|p| (p.x, p.mean + p.sd));
                let lower = c.points.iter().rev().map(|p| (p.x, p.mean - p.sd));
                chart.draw_series(std::iter::once(Polygon::new(upper.chain(lower).collect::<Vec<_>>(), col.mix(0.18).filled())))?;
            }
            chart
                .draw_series(LineSeries::new(c.points.iter().map(|p| (p.x, p.mean)), col.stroke_width(2)))?
                .label(c.label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], col.stroke_width(2)));
        }
        Ok(())
    })
}

/// Plain lines (`(label, points)`), for per-epoch logs; `size` is
/// [`WIDE`] or [`PANEL`]; no legend when `legend` is false.
pub fn line_chart(title: &str, x_desc: &str, y_desc: &str, lines: &[(String, Vec<(f64, f64)>)], size: (u32, u32), legend: bool) -> Result<String> {
    let pts = || lines.iter().flat_map(|l| l.1.iter()).filter(|p| p.1.is_finite());
    let ((x_lo, x_hi), (y_lo, y_hi)) = (bounds(pts().map(|p| p.0)), bounds(pts().map(|p| p.1)));
    figure((size, 8), title, (x_desc, y_desc), (padded(x_lo, x_hi), padded(y_lo, y_hi)), legend.then_some(SeriesLabelPosition::UpperLeft), |chart| {
        for (i, (label, points)) in lines.iter().enumerate() {
            let col = colour(i);
            let s = chart.draw_series(LineSeries::new(points.iter().copied().filter(|p| p.1.is_finite()), col.stroke_width(2)))?;
            if legend {
                s.label(label.as_str()).legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], col.stroke_width(2)));
            }
        }
        Ok(())
    })
}

/// One series of a Pareto figure: every evaluated point and its front.
pub struct FrontSeries<'a> {
    /// The legend's text.
    pub label: &'a str,
    /// Every successful trial, `(x, y)`.
    pub points: Vec<(f64, f64)>,
    /// The non-dominated ones, in x order.
    pub front: Vec<(f64, f64)>,
}

/// Evaluated trials as faint dots and each series' front as a line.
pub fn front_chart(title: &str, x_desc: &str, y_desc: &str, series: &[FrontSeries]) -> Result<String> {
    let pts = || series.iter().flat_map(|s| s.points.iter()).filter(|p| p.0.is_finite() && p.1.is_finite());
    let ((x_lo, x_hi), (y_lo, y_hi)) = (bounds(pts().map(|p| p.0)), bounds(pts().map(|p| p.1)));
    figure((WIDE, 12), title, (x_desc, y_desc), (padded(x_lo, x_hi), padded(y_lo, y_hi)), Some(SeriesLabelPosition::LowerRight), |chart| {
        for (i, s) in series.iter().enumerate() {
            let col = colour(i);
            chart.draw_series(s.points.iter().map(|&p| Circle::new(p, 2, col.mix(0.35).filled())))?;
            chart
                .draw_series(LineSeries::new(s.front.iter().copied(), col.stroke_width(2)).point_size(3))?
                .label(s.label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], col.stroke_width(2)));
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_band_chart_draws_each_curve_its_band_and_its_legend() {
        let a = [BandPoint { x: 1.0, mean: 0.5, sd: 0.1, n: 2 }, BandPoint { x: 2.0, mean: 0.7, sd: 0.05, n: 2 }];
        let b = [BandPoint { x: 1.0, mean: 0.4, sd: 0.0, n: 1 }, BandPoint { x: 2.0, mean: 0.6, sd: 0.0, n: 1 }];
        let svg = band_chart("best", "evaluations", "valid", &[BandCurve { label: "rea", points: &a }, BandCurve { label: "random", points: &b }]).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("rea") && svg.contains("random") && svg.contains("evaluations"));
        // One shaded band (b has no spread), two curves.
        assert_eq!(svg.matches("<polygon").count(), 1, "{svg}");
        assert!(svg.matches("<polyline").count() >= 2);
    }
}
