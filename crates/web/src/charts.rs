//! Charts as SVG text rendered by the server (no script, no build step):
//! vertical bars for series over time, horizontal bars for shares, and a
//! line for cumulative counts with marked milestones. Every chart carries a
//! `<title>` and `role="img"` for screen readers; every label is escaped.

use std::fmt::Write;

/// Escapes text for XML/HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 240.0;
const LEFT: f64 = 64.0;
const BOTTOM: f64 = 28.0;
const TOP: f64 = 12.0;
const COLOR: &str = "#1f6feb";

fn open(out: &mut String, title: &str, height: f64) {
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="100%" role="img" aria-label="{t}"><title>{t}</title>"#,
        t = escape(title)
    );
}

/// A readable number: 12,345 or 1.5.
pub fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        let digits = format!("{}", value.abs() as u64);
        let mut grouped = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(c);
        }
        if value < 0.0 {
            format!("-{grouped}")
        } else {
            grouped
        }
    } else {
        format!("{value:.1}")
    }
}

fn max_of(values: impl Iterator<Item = f64>) -> f64 {
    values.fold(0.0, f64::max).max(1.0)
}

/// The top of a count axis: the largest value rounded up so that each of
/// the four gridlines falls on a whole, round number (4, 8, 12, 20, 40,
/// 80, 100, 120, 200...).
fn count_top(values: impl Iterator<Item = f64>) -> f64 {
    let max = values.fold(0.0, f64::max);
    if max <= 12.0 {
        return ((max / 4.0).ceil() * 4.0).max(4.0);
    }
    let magnitude = 10f64.powf(max.log10().floor());
    [1.0, 1.2, 2.0, 4.0, 8.0, 10.0]
        .into_iter()
        .map(|c| c * magnitude)
        .find(|&top| top >= max)
        .unwrap_or(max)
}

/// Vertical bars, one per `(label, value)`, labels thinned to stay legible.
pub fn columns(title: &str, series: &[(String, f64)]) -> String {
    let mut out = String::new();
    open(&mut out, title, HEIGHT);
    let max = count_top(series.iter().map(|(_, v)| *v));
    let plot_w = WIDTH - LEFT - 8.0;
    let plot_h = HEIGHT - TOP - BOTTOM;
    axis(&mut out, max, plot_h);
    let n = series.len().max(1) as f64;
    let slot = plot_w / n;
    let every = (series.len() / 12).max(1);
    for (i, (label, value)) in series.iter().enumerate() {
        let h = value / max * plot_h;
        let x = LEFT + i as f64 * slot;
        let _ = write!(
            out,
            r#"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="{COLOR}"><title>{}: {}</title></rect>"#,
            TOP + plot_h - h,
            (slot * 0.8).max(0.5),
            escape(label),
            number(*value)
        );
        if i % every == 0 {
            let _ = write!(
                out,
                r#"<text x="{:.1}" y="{:.1}" font-size="10" text-anchor="middle">{}</text>"#,
                x + slot * 0.4,
                HEIGHT - 10.0,
                escape(label)
            );
        }
    }
    out.push_str("</svg>");
    out
}

/// Horizontal bars with the label left and the value right.
pub fn bars(title: &str, series: &[(String, f64)], suffix: &str) -> String {
    let row = 22.0;
    let height = TOP + row * series.len().max(1) as f64 + 8.0;
    let mut out = String::new();
    open(&mut out, title, height);
    let max = max_of(series.iter().map(|(_, v)| *v));
    let label_w = 150.0;
    let plot_w = WIDTH - label_w - 110.0;
    for (i, (label, value)) in series.iter().enumerate() {
        let y = TOP + i as f64 * row;
        let w = value / max * plot_w;
        let _ = write!(
            out,
            r#"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="end">{}</text><rect x="{label_w}" y="{y:.1}" width="{w:.1}" height="{:.1}" fill="{COLOR}"></rect><text x="{:.1}" y="{:.1}" font-size="12">{}{}</text>"#,
            label_w - 6.0,
            y + row * 0.65,
            escape(label),
            row * 0.7,
            label_w + w + 6.0,
            y + row * 0.65,
            number(*value),
            escape(suffix)
        );
    }
    out.push_str("</svg>");
    out
}

/// A line of cumulative values with labelled markers (the milestones).
pub fn cumulative(title: &str, series: &[(String, f64)], marks: &[(usize, String)]) -> String {
    let mut out = String::new();
    open(&mut out, title, HEIGHT);
    let max = max_of(series.iter().map(|(_, v)| *v));
    let plot_w = WIDTH - LEFT - 8.0;
    let plot_h = HEIGHT - TOP - BOTTOM;
    axis(&mut out, max, plot_h);
    let n = (series.len().max(2) - 1) as f64;
    let point = |i: usize, v: f64| {
        (
            LEFT + i as f64 / n * plot_w,
            TOP + plot_h - v / max * plot_h,
        )
    };
    let path: Vec<String> = series
        .iter()
        .enumerate()
        .map(|(i, (_, v))| {
            let (x, y) = point(i, *v);
            format!("{x:.1},{y:.1}")
        })
        .collect();
    let _ = write!(
        out,
        r#"<polyline points="{}" fill="none" stroke="{COLOR}" stroke-width="2"></polyline>"#,
        path.join(" ")
    );
    for (i, label) in marks {
        if let Some((_, v)) = series.get(*i) {
            let (x, y) = point(*i, *v);
            let _ = write!(
                out,
                r##"<circle cx="{x:.1}" cy="{y:.1}" r="3.5" fill="#d1242f"><title>{}</title></circle>"##,
                escape(label)
            );
        }
    }
    let every = (series.len() / 8).max(1);
    let last = series.len().saturating_sub(1);
    for (i, (label, _)) in series.iter().enumerate().step_by(every) {
        let (x, _) = point(i, 0.0);
        // The end labels align inward so they are not cut at the edges.
        let anchor = match i {
            0 => "start",
            i if i == last => "end",
            _ => "middle",
        };
        let _ = write!(
            out,
            r#"<text x="{x:.1}" y="{:.1}" font-size="10" text-anchor="{anchor}">{}</text>"#,
            HEIGHT - 10.0,
            escape(label)
        );
    }
    out.push_str("</svg>");
    out
}

fn axis(out: &mut String, max: f64, plot_h: f64) {
    for step in 0..=4 {
        let value = max * f64::from(step) / 4.0;
        let y = TOP + plot_h - plot_h * f64::from(step) / 4.0;
        let _ = write!(
            out,
            r##"<line x1="{LEFT}" x2="{WIDTH}" y1="{y:.1}" y2="{y:.1}" stroke="#d0d7de" stroke-width="1"></line><text x="{:.1}" y="{:.1}" font-size="10" text-anchor="end">{}</text>"##,
            LEFT - 4.0,
            y + 3.0,
            number(value.round())
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_axis_top_is_round_and_above_every_value() {
        for (max, top) in [
            (0.0, 4.0),
            (1.0, 4.0),
            (5.0, 8.0),
            (12.0, 12.0),
            (13.0, 20.0),
            (33_000.0, 40_000.0),
            (101.0, 120.0),
            (100.0, 100.0),
            (1_000.0, 1_000.0),
            (1_001.0, 1_200.0),
        ] {
            assert_eq!(count_top([max].into_iter()), top, "{max}");
        }
    }

    #[test]
    fn numbers_are_grouped() {
        assert_eq!(number(10_018_819.0), "10,018,819");
        assert_eq!(number(999.0), "999");
        assert_eq!(number(33_000.25), "33000.2");
        assert_eq!(number(0.0), "0");
    }

    #[test]
    fn charts_scale_bars_and_escape_labels() {
        let svg = columns(
            "월별 <평균>",
            &[("2009-01".into(), 50.0), ("2009-02".into(), 100.0)],
        );
        assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>"));
        assert!(svg.contains("<title>월별 &lt;평균&gt;</title>"));
        assert_eq!(svg.matches("<rect ").count(), 2);
        // The larger value gets the full plot height (240 - 12 - 28 = 200).
        assert!(svg.contains(r#"height="200.0""#), "{svg}");
        assert!(svg.contains(r#"height="100.0""#), "{svg}");

        let svg = bars("x", &[("교통".into(), 0.457), ("a&b".into(), 0.1)], "");
        assert!(svg.contains("a&amp;b") && !svg.contains("a&b<"));
        let svg = cumulative(
            "c",
            &[("a".into(), 1.0), ("b".into(), 2.0), ("c".into(), 3.0)],
            &[(1, "1,000,000".into())],
        );
        assert_eq!(svg.matches("<circle ").count(), 1);
        assert!(svg.contains("<polyline "));
        // Empty series still make a valid chart.
        assert!(columns("empty", &[]).ends_with("</svg>"));
    }
}
