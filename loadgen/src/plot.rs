//! Plots as standalone SVG files, written by hand (no plotting crate: three
//! chart kinds, a few hundred lines, no dependency to keep up to date, and
//! the output is plain text that diffs well when committed).
//!
//! - [`histogram`]: a latency histogram on a logarithmic time axis;
//! - [`lines`]: one or more series of (x, y) points (throughput over time,
//!   a scaling curve);
//! - [`bars`]: grouped bars (the comparison of routers per scenario).
//!
//! `loadgen plot SPEC.json OUT.svg` draws a [`Spec`] (perf/report.py uses
//! it for the comparison charts), and `--json FILE` runs write
//! `FILE.latency.svg` and `FILE.throughput.svg` next to the JSON.

use std::fmt::Write as _;

use serde::Deserialize;

const W: f64 = 720.0;
const H: f64 = 400.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 60.0;
const BOTTOM: f64 = 64.0;
const COLORS: [&str; 8] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
];

/// One named series of points.
#[derive(Debug, Clone, Deserialize)]
pub struct Series {
    /// The legend's label.
    pub name: String,
    /// (x, y) points, in x order.
    pub points: Vec<(f64, f64)>,
}

/// A chart described in JSON (`loadgen plot`).
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Spec {
    /// Grouped bars: one group per category, one bar per series.
    Bars {
        /// The title.
        title: String,
        /// The y axis' label (the unit).
        y_label: String,
        /// Category names (x axis), in order.
        categories: Vec<String>,
        /// One bar series each: `values[i]` for `categories[i]` (null: no bar).
        series: Vec<BarSeries>,
        /// Logarithmic y axis.
        #[serde(default)]
        log_y: bool,
    },
    /// Lines.
    Lines {
        /// The title.
        title: String,
        /// The x axis' label.
        x_label: String,
        /// The y axis' label.
        y_label: String,
        /// The series.
        series: Vec<Series>,
    },
}

/// One series of a bar chart.
#[derive(Debug, Clone, Deserialize)]
pub struct BarSeries {
    /// The legend's label.
    pub name: String,
    /// One value per category.
    pub values: Vec<Option<f64>>,
}

impl Spec {
    /// The SVG of this chart.
    pub fn render(&self) -> String {
        match self {
            Spec::Bars {
                title,
                y_label,
                categories,
                series,
                log_y,
            } => bars(title, y_label, categories, series, *log_y),
            Spec::Lines {
                title,
                x_label,
                y_label,
                series,
            } => lines(title, x_label, y_label, series),
        }
    }
}

/// Text safe inside SVG.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A number for an axis: 1.5k, 2M, 0.25.
pub fn short(v: f64) -> String {
    let a = v.abs();
    let (x, suffix) = if a >= 1e9 {
        (v / 1e9, "G")
    } else if a >= 1e6 {
        (v / 1e6, "M")
    } else if a >= 1e3 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    let t = if x.fract() == 0.0 || x.abs() >= 100.0 {
        format!("{x:.0}")
    } else if x.abs() >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    };
    let t = if t.contains('.') {
        t.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        t
    };
    format!("{t}{suffix}")
}

/// "Nice" tick values covering `[0, max]`.
fn ticks(max: f64) -> Vec<f64> {
    if max <= 0.0 || !max.is_finite() {
        return vec![0.0, 1.0];
    }
    let raw = max / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let n = (max / step).ceil() as usize;
    (0..=n).map(|i| i as f64 * step).collect()
}

/// The frame: background, title, axis labels.
fn open(out: &mut String, title: &str, x_label: &str, y_label: &str) {
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">
<rect width="{W}" height="{H}" fill="#ffffff"/>
<text x="{}" y="24" text-anchor="middle" font-size="15" font-weight="bold">{}</text>
<text x="{}" y="{}" text-anchor="middle">{}</text>
<text transform="translate(18,{}) rotate(-90)" text-anchor="middle">{}</text>
"##,
        W / 2.0,
        esc(title),
        LEFT + (W - LEFT - RIGHT) / 2.0,
        H - 14.0,
        esc(x_label),
        TOP + (H - TOP - BOTTOM) / 2.0,
        esc(y_label),
    );
}

/// Horizontal grid lines and y tick labels for `[0, max]` (linear) and the
/// y coordinate function.
fn y_axis(out: &mut String, max: f64) -> impl Fn(f64) -> f64 + use<> {
    let t = ticks(max);
    let top = *t.last().unwrap_or(&1.0);
    let plot_h = H - TOP - BOTTOM;
    let y = move |v: f64| TOP + plot_h - v / top * plot_h;
    for v in &t {
        let py = y(*v);
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" y1="{py:.1}" x2="{}" y2="{py:.1}" stroke="#dddddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            W - RIGHT,
            LEFT - 6.0,
            py + 4.0,
            short(*v)
        );
    }
    y
}

/// Logarithmic grid lines (powers of ten) for `[lo, hi]` and the y coordinate function.
fn y_axis_log(out: &mut String, lo: f64, hi: f64) -> impl Fn(f64) -> f64 + use<> {
    let (a, b) = (
        lo.max(1e-12).log10().floor(),
        hi.max(lo * 10.0).log10().ceil(),
    );
    let plot_h = H - TOP - BOTTOM;
    let y = move |v: f64| TOP + plot_h - (v.max(1e-12).log10() - a) / (b - a) * plot_h;
    let mut e = a;
    while e <= b {
        let v = 10f64.powf(e);
        let py = y(v);
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" y1="{py:.1}" x2="{}" y2="{py:.1}" stroke="#dddddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            W - RIGHT,
            LEFT - 6.0,
            py + 4.0,
            short(v)
        );
        e += 1.0;
    }
    y
}

/// The legend: one row under the title, above the plot (never over the data).
fn legend(out: &mut String, names: &[&str]) {
    let y = 34.0;
    let mut x = LEFT;
    for (i, n) in names.iter().enumerate() {
        let _ = writeln!(
            out,
            r#"<rect x="{x:.1}" y="{y}" width="10" height="10" fill="{}"/><text x="{:.1}" y="{}">{}</text>"#,
            COLORS[i % COLORS.len()],
            x + 14.0,
            y + 9.0,
            esc(n)
        );
        // About 7 px per character at this size.
        x += 30.0 + 7.0 * n.chars().count() as f64;
    }
}

fn axes(out: &mut String) {
    let _ = writeln!(
        out,
        r##"<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{}" stroke="#333333"/><line x1="{LEFT}" y1="{}" x2="{}" y2="{}" stroke="#333333"/>"##,
        H - BOTTOM,
        H - BOTTOM,
        W - RIGHT,
        H - BOTTOM
    );
}

/// A latency histogram: `buckets` are (lower µs, upper µs, count), in
/// order; the x axis is logarithmic in µs, the bars' heights are counts.
pub fn histogram(title: &str, buckets: &[(f64, f64, u64)]) -> String {
    let mut out = String::new();
    open(&mut out, title, "latency (µs, log scale)", "messages");
    let buckets: Vec<&(f64, f64, u64)> = buckets.iter().filter(|b| b.1 > 0.0).collect();
    let max = buckets.iter().map(|b| b.2).max().unwrap_or(0) as f64;
    let y = y_axis(&mut out, max.max(1.0));
    if let (Some(first), Some(last)) = (buckets.first(), buckets.last()) {
        let (a, b) = (
            first.0.max(0.01).log10(),
            last.1.log10().max(first.0.max(0.01).log10() + 1.0),
        );
        let plot_w = W - LEFT - RIGHT;
        let x = |v: f64| LEFT + (v.max(0.01).log10() - a) / (b - a) * plot_w;
        for (lo, hi, n) in &buckets {
            let (x0, x1) = (x(*lo), x(*hi));
            let _ = writeln!(
                out,
                r#"<rect x="{x0:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{}–{} µs: {n}</title></rect>"#,
                y(*n as f64),
                (x1 - x0 - 0.5).max(0.5),
                y(0.0) - y(*n as f64),
                COLORS[0],
                short(*lo),
                short(*hi)
            );
        }
        // Ticks at 1, 2 and 5 of each decade.
        let mut e = a.floor();
        while e <= b.ceil() {
            for m in [1.0, 2.0, 5.0] {
                let v = m * 10f64.powf(e);
                let px = x(v);
                if (LEFT..=W - RIGHT).contains(&px) {
                    let _ = writeln!(
                        out,
                        r##"<line x1="{px:.1}" y1="{}" x2="{px:.1}" y2="{}" stroke="#333333"/><text x="{px:.1}" y="{}" text-anchor="middle">{}</text>"##,
                        H - BOTTOM,
                        H - BOTTOM + 4.0,
                        H - BOTTOM + 16.0,
                        short(v)
                    );
                }
            }
            e += 1.0;
        }
    }
    axes(&mut out);
    out.push_str("</svg>\n");
    out
}

/// Line series on linear axes.
pub fn lines(title: &str, x_label: &str, y_label: &str, series: &[Series]) -> String {
    let mut out = String::new();
    open(&mut out, title, x_label, y_label);
    let all = || series.iter().flat_map(|s| s.points.iter());
    let y_max = all().map(|p| p.1).fold(0.0, f64::max);
    let x_max = all().map(|p| p.0).fold(0.0, f64::max);
    let x_min = all().map(|p| p.0).fold(f64::INFINITY, f64::min);
    let x_min = if x_min.is_finite() {
        x_min.min(0.0)
    } else {
        0.0
    };
    let y = y_axis(&mut out, y_max.max(1e-9));
    let xt = ticks(x_max.max(1e-9));
    let x_top = *xt.last().unwrap_or(&1.0);
    let plot_w = W - LEFT - RIGHT;
    let x = |v: f64| LEFT + (v - x_min) / (x_top - x_min).max(1e-12) * plot_w;
    for v in &xt {
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
            x(*v),
            H - BOTTOM + 16.0,
            short(*v)
        );
    }
    for (i, s) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let pts: Vec<String> = s
            .points
            .iter()
            .map(|(px, py)| format!("{:.1},{:.1}", x(*px), y(*py)))
            .collect();
        let _ = writeln!(
            out,
            r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"/>"#,
            pts.join(" ")
        );
        if s.points.len() <= 16 {
            for (px, py) in &s.points {
                let _ = writeln!(
                    out,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="3.5" fill="{color}"><title>{}: {}</title></circle>"#,
                    x(*px),
                    y(*py),
                    short(*px),
                    short(*py)
                );
            }
        }
    }
    legend(
        &mut out,
        &series.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
    );
    axes(&mut out);
    out.push_str("</svg>\n");
    out
}

/// Grouped bars: one group per category, one bar per series, the value
/// written above each bar.
pub fn bars(
    title: &str,
    y_label: &str,
    categories: &[String],
    series: &[BarSeries],
    log_y: bool,
) -> String {
    let mut out = String::new();
    open(&mut out, title, "", y_label);
    let values = || {
        series
            .iter()
            .flat_map(|s| s.values.iter().flatten().copied())
    };
    let max = values().fold(0.0, f64::max);
    let min = values().filter(|v| *v > 0.0).fold(f64::INFINITY, f64::min);
    let y: Box<dyn Fn(f64) -> f64> = if log_y {
        let lo = if min.is_finite() { min / 2.0 } else { 1.0 };
        Box::new(y_axis_log(&mut out, lo, max.max(lo * 10.0)))
    } else {
        Box::new(y_axis(&mut out, max.max(1e-9)))
    };
    let base = H - BOTTOM;
    let plot_w = W - LEFT - RIGHT;
    let group_w = plot_w / categories.len().max(1) as f64;
    let bar_w = (group_w * 0.8) / series.len().max(1) as f64;
    for (c, cat) in categories.iter().enumerate() {
        let gx = LEFT + c as f64 * group_w + group_w * 0.1;
        for (i, s) in series.iter().enumerate() {
            let Some(Some(v)) = s.values.get(c) else {
                continue;
            };
            let top = y(*v).min(base);
            let bx = gx + i as f64 * bar_w;
            let _ = writeln!(
                out,
                r#"<rect x="{bx:.1}" y="{top:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{}: {}</title></rect><text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="10">{}</text>"#,
                (bar_w - 2.0).max(1.0),
                base - top,
                COLORS[i % COLORS.len()],
                esc(&s.name),
                short(*v),
                bx + bar_w / 2.0,
                top - 3.0,
                short(*v)
            );
        }
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
            gx + group_w * 0.4,
            H - BOTTOM + 16.0,
            esc(cat)
        );
    }
    legend(
        &mut out,
        &series.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
    );
    axes(&mut out);
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every element opened is closed, in order (a well-formedness check).
    fn balanced(svg: &str) -> bool {
        let mut stack: Vec<String> = Vec::new();
        let mut rest = svg;
        while let Some(i) = rest.find('<') {
            let tail = &rest[i + 1..];
            let end = tail.find('>').expect("tag ends");
            let tag = &tail[..end];
            if let Some(name) = tag.strip_prefix('/') {
                if stack.pop().as_deref() != Some(name) {
                    return false;
                }
            } else if !tag.ends_with('/') {
                stack.push(tag.split([' ', '\n']).next().expect("name").to_owned());
            }
            rest = &tail[end + 1..];
        }
        stack.is_empty()
    }

    #[test]
    fn histogram_has_one_bar_per_nonempty_bucket() {
        let svg = histogram(
            "fan-out <1000>",
            &[(1.0, 2.0, 5), (2.0, 4.0, 50), (4.0, 8.0, 0), (8.0, 16.0, 7)],
        );
        assert!(balanced(&svg), "{svg}");
        assert_eq!(svg.matches("<rect x=").count(), 4, "{svg}");
        assert!(svg.contains("fan-out &lt;1000&gt;"));
        assert!(svg.contains("2–4 µs: 50"));
    }

    #[test]
    fn lines_and_bars_are_well_formed() {
        let s = lines(
            "scaling",
            "shards",
            "msg/s",
            &[Series {
                name: "pubsub".into(),
                points: vec![(1.0, 1.0e6), (2.0, 1.9e6)],
            }],
        );
        assert!(balanced(&s), "{s}");
        assert_eq!(s.matches("<circle").count(), 2);
        let b = Spec::Bars {
            title: "fan-out".into(),
            y_label: "events/s".into(),
            categories: vec!["fanout".into(), "rpc".into()],
            series: vec![
                BarSeries {
                    name: "junction".into(),
                    values: vec![Some(4.0e6), Some(56_000.0)],
                },
                BarSeries {
                    name: "crossbar".into(),
                    values: vec![Some(90_000.0), None],
                },
            ],
            log_y: true,
        }
        .render();
        assert!(balanced(&b), "{b}");
        assert_eq!(b.matches("<title>").count(), 3);
        assert!(b.contains(">4M<"));
    }

    #[test]
    fn numbers_are_short() {
        assert_eq!(short(4_060_000.0), "4.06M");
        assert_eq!(short(90_000.0), "90k");
        assert_eq!(short(1500.0), "1.5k");
        assert_eq!(short(0.25), "0.25");
        assert_eq!(short(12.0), "12");
        assert_eq!(ticks(9.0), vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
    }

    #[test]
    fn specs_parse_from_json() {
        let s: Spec = serde_json::from_str(
            r#"{"kind": "lines", "title": "t", "x_label": "x", "y_label": "y",
                "series": [{"name": "a", "points": [[1, 2], [2, 4]]}]}"#,
        )
        .expect("spec");
        assert!(balanced(&s.render()));
    }
}
