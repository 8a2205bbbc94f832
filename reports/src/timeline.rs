//! The timeline: one row per process, each operation a bar from its invocation to its
//! completion, shaded intervals across every row (faults), and marks on the operations a
//! checker pointed at. It returns an SVG string drawn with plotters, ready to be inlined
//! in a page. Any page can use it: it knows nothing of runs or checkers.
//!
//! Long runs stay small: bars narrower than a pixel that sit next to a bar of the same
//! outcome are merged into one rectangle, so a row never holds more rectangles than the
//! chart has pixels across, and labels are drawn only where they fit. Every text goes
//! through plotters' SVG backend, which escapes `<`, `>`, `&` and quotes.

use crate::ReportError;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// An Outcome is how an operation ended, which gives its bar a color.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// It took effect.
    Ok,
    /// It definitely did not take effect.
    Fail,
    /// Unknown: timed out, crashed, or never completed.
    Info,
}

impl Outcome {
    /// The bar color, as CSS hex, so a page's legend can match the chart.
    pub fn css_color(self) -> &'static str {
        match self {
            Outcome::Ok => "#8fd694",
            Outcome::Fail => "#c4c4c4",
            Outcome::Info => "#f5a54a",
        }
    }

    fn color(self) -> RGBColor {
        match self {
            Outcome::Ok => RGBColor(0x8f, 0xd6, 0x94),
            Outcome::Fail => RGBColor(0xc4, 0xc4, 0xc4),
            Outcome::Info => RGBColor(0xf5, 0xa5, 0x4a),
        }
    }
}

/// The color of shaded intervals, as CSS, for legends.
pub const SHADE_CSS: &str = "rgba(90, 120, 200, 0.18)";
/// The color of violation marks, as CSS, for legends.
pub const MARK_CSS: &str = "#d00000";
/// The color of observation marks, as CSS, for legends.
pub const OBSERVATION_CSS: &str = "#7d3c98";

/// A Span is one operation's bar.
#[derive(Clone, Debug, PartialEq)]
pub struct Span {
    /// Row index into [`Timeline::rows`].
    pub row: usize,
    /// Invocation time.
    pub start_ns: u64,
    /// Completion time (the end of the history for an op that never completed).
    pub end_ns: u64,
    /// How it ended.
    pub outcome: Outcome,
    /// Text drawn on the bar when it fits (the op's `f`).
    pub label: String,
    /// Whether a checker pointed at this op: it gets a red outline and is never merged.
    pub highlighted: bool,
}

/// A Shade is an interval shaded across every row, with a label at the top (a fault).
#[derive(Clone, Debug, PartialEq)]
pub struct Shade {
    /// Start of the interval.
    pub start_ns: u64,
    /// End of the interval.
    pub end_ns: u64,
    /// Text drawn at the top when it fits.
    pub label: String,
}

/// A Mark is a band over one row's interval: red where a violation happened, purple
/// where a checker made an observation that is not a violation.
#[derive(Clone, Debug, PartialEq)]
pub struct Mark {
    /// Whether this marks an observation (purple) rather than a violation (red).
    pub observation: bool,
    /// Row index into [`Timeline::rows`].
    pub row: usize,
    /// Start of the interval.
    pub start_ns: u64,
    /// End of the interval.
    pub end_ns: u64,
    /// Text drawn beside the band (such as `overlap 1`).
    pub label: String,
}

/// A Band is a thin strip along the bottom of one row: a state that lasts across ops,
/// such as the interval in which a process believed it held a lock.
#[derive(Clone, Debug, PartialEq)]
pub struct Band {
    /// Row index into [`Timeline::rows`].
    pub row: usize,
    /// Start of the interval.
    pub start_ns: u64,
    /// End of the interval.
    pub end_ns: u64,
}

/// The color of bands, as CSS, for legends.
pub const BAND_CSS: &str = "#34495e";
/// The color of pins, as CSS, for legends.
pub const PIN_CSS: &str = "#1f618d";

/// A Pin is a moment on one row: something the process's client said unprompted, such
/// as that it lost its lock. It is a vertical line across the row with a short label.
#[derive(Clone, Debug, PartialEq)]
pub struct Pin {
    /// Row index into [`Timeline::rows`].
    pub row: usize,
    /// When.
    pub at_ns: u64,
    /// Text drawn beside the line when it fits (`lost`).
    pub label: String,
}

/// A Timeline is what to draw: rows top to bottom, and everything placed on them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Timeline {
    /// Row names, top to bottom (`process 0`, `nemesis`).
    pub rows: Vec<String>,
    /// Operation bars.
    pub spans: Vec<Span>,
    /// Intervals shaded across all rows.
    pub shades: Vec<Shade>,
    /// Violation bands.
    pub marks: Vec<Mark>,
    /// Thin strips under the ops (held locks).
    pub bands: Vec<Band>,
    /// Moments on a row (a client's notices).
    pub pins: Vec<Pin>,
    /// The end of the time axis; 0 means the latest end among spans, shades and marks.
    pub end_ns: u64,
    /// Whether the times are event numbers, not nanoseconds (a log without timestamps,
    /// whose importer numbered the events): the axis then counts events.
    pub ordinal: bool,
}

/// Pixel geometry of the chart.
const WIDTH_PX: u32 = 1400;
const ROW_PX: u32 = 26;
const LEFT_PX: u32 = 190;
const RIGHT_PX: u32 = 20;
const TOP_PX: u32 = 26;
const BOTTOM_PX: u32 = 40;
/// A rough width of one character at the label size, to decide whether a label fits.
const CHAR_PX: f64 = 6.2;

/// Where things land on the canvas.
struct Layout {
    end_ns: f64,
    plot_w: f64,
}

impl Layout {
    fn x(&self, ns: u64) -> i32 {
        let frac = (ns as f64 / self.end_ns).clamp(0.0, 1.0);
        LEFT_PX as i32 + (frac * self.plot_w).round() as i32
    }
    fn row_top(&self, row: usize) -> i32 {
        TOP_PX as i32 + (row as u32 * ROW_PX) as i32
    }
}

/// Renders a timeline as a standalone SVG document (an `<svg>` element).
pub fn render_svg(t: &Timeline) -> Result<String, ReportError> {
    let rows = t.rows.len().max(1) as u32;
    let height = TOP_PX + rows * ROW_PX + BOTTOM_PX;
    let end_ns = if t.end_ns > 0 { t.end_ns } else { latest(t) }.max(1);
    let layout = Layout {
        end_ns: end_ns as f64,
        plot_w: f64::from(WIDTH_PX - LEFT_PX - RIGHT_PX),
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH_PX, height)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        draw_axis(&root, &layout, rows, end_ns, t.ordinal)?;
        draw_rows(&root, &layout, t)?;
        draw_shades(&root, &layout, t, rows)?;
        draw_spans(&root, &layout, t)?;
        draw_bands(&root, &layout, t)?;
        draw_marks(&root, &layout, t)?;
        draw_pins(&root, &layout, t)?;
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

/// The pixel geometry [`render_svg`] draws `t` with, for the page's script to find the op
/// under the pointer: an op's bar spans `left + s / endNs * (width - left - right)` across
/// and row `r` spans `top + r * rowPx` down, in SVG units.
pub fn geometry(t: &Timeline) -> serde_json::Value {
    let rows = t.rows.len().max(1) as u32;
    let end_ns = if t.end_ns > 0 { t.end_ns } else { latest(t) }.max(1);
    serde_json::json!({
        "width": WIDTH_PX,
        "height": TOP_PX + rows * ROW_PX + BOTTOM_PX,
        "left": LEFT_PX,
        "right": RIGHT_PX,
        "top": TOP_PX,
        "rowPx": ROW_PX,
        "endNs": end_ns,
    })
}

fn plot_err<E: std::fmt::Debug>(e: E) -> ReportError {
    ReportError::Plot {
        message: format!("{e:?}"),
    }
}

fn latest(t: &Timeline) -> u64 {
    let spans = t.spans.iter().map(|s| s.end_ns);
    let shades = t.shades.iter().map(|s| s.end_ns);
    let marks = t.marks.iter().map(|m| m.end_ns);
    let bands = t.bands.iter().map(|b| b.end_ns);
    let pins = t.pins.iter().map(|p| p.at_ns);
    spans
        .chain(shades)
        .chain(marks)
        .chain(bands)
        .chain(pins)
        .max()
        .unwrap_or(0)
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

fn text_style(size: f64, color: RGBColor, h: HPos, v: VPos) -> TextStyle<'static> {
    ("sans-serif", size)
        .into_font()
        .color(&color)
        .pos(Pos::new(h, v))
}

/// The time axis in seconds, with light vertical grid lines.
fn draw_axis(
    root: &Area,
    l: &Layout,
    rows: u32,
    end_ns: u64,
    ordinal: bool,
) -> Result<(), ReportError> {
    let y_axis = (TOP_PX + rows * ROW_PX) as i32;
    let grey = RGBColor(0x99, 0x99, 0x99);
    root.draw(&PathElement::new(
        vec![(LEFT_PX as i32, y_axis), (l.x(end_ns), y_axis)],
        grey,
    ))
    .map_err(plot_err)?;
    let step = tick_step_ns(end_ns);
    let mut t = 0;
    while t <= end_ns {
        let x = l.x(t);
        root.draw(&PathElement::new(
            vec![(x, TOP_PX as i32), (x, y_axis + 4)],
            RGBColor(0xe4, 0xe4, 0xe4),
        ))
        .map_err(plot_err)?;
        let label = if ordinal {
            t.to_string()
        } else {
            format!("{}s", fmt_secs(t, step))
        };
        let style = text_style(12.0, RGBColor(0x44, 0x44, 0x44), HPos::Center, VPos::Top);
        root.draw_text(&label, &style, (x, y_axis + 6))
            .map_err(plot_err)?;
        t += step;
    }
    let style = text_style(12.0, RGBColor(0x44, 0x44, 0x44), HPos::Right, VPos::Top);
    let caption = if ordinal {
        "event order (the history has no timestamps)"
    } else {
        "seconds since the history began"
    };
    root.draw_text(caption, &style, ((WIDTH_PX - RIGHT_PX) as i32, y_axis + 22))
        .map_err(plot_err)
}

/// A tick step giving about ten ticks: 1, 2 or 5 times a power of ten nanoseconds.
fn tick_step_ns(end_ns: u64) -> u64 {
    let rough = (end_ns / 10).max(1);
    let mut base = 1u64;
    while base.saturating_mul(10) <= rough {
        base *= 10;
    }
    [1, 2, 5, 10]
        .iter()
        .map(|m| base.saturating_mul(*m))
        .find(|s| *s >= rough)
        .unwrap_or(base * 10)
}

/// Seconds with as many decimals as the tick step needs.
fn fmt_secs(ns: u64, step_ns: u64) -> String {
    let decimals = match step_ns {
        s if s >= 1_000_000_000 => 0,
        s if s >= 100_000_000 => 1,
        s if s >= 10_000_000 => 2,
        s if s >= 1_000_000 => 3,
        _ => 6,
    };
    format!("{:.*}", decimals, ns as f64 / 1e9)
}

/// Row names on the left and alternating row backgrounds.
fn draw_rows(root: &Area, l: &Layout, t: &Timeline) -> Result<(), ReportError> {
    for (i, name) in t.rows.iter().enumerate() {
        let top = l.row_top(i);
        if i % 2 == 1 {
            root.draw(&Rectangle::new(
                [
                    (LEFT_PX as i32, top),
                    ((WIDTH_PX - RIGHT_PX) as i32, top + ROW_PX as i32),
                ],
                RGBColor(0xf6, 0xf6, 0xf6).filled(),
            ))
            .map_err(plot_err)?;
        }
        let style = text_style(12.0, BLACK, HPos::Right, VPos::Center);
        let shown: String = name.chars().take(28).collect();
        root.draw_text(
            &shown,
            &style,
            (LEFT_PX as i32 - 8, top + ROW_PX as i32 / 2),
        )
        .map_err(plot_err)?;
    }
    Ok(())
}

fn draw_shades(root: &Area, l: &Layout, t: &Timeline, rows: u32) -> Result<(), ReportError> {
    let bottom = (TOP_PX + rows * ROW_PX) as i32;
    for s in &t.shades {
        let (x0, x1) = (l.x(s.start_ns), l.x(s.end_ns).max(l.x(s.start_ns) + 2));
        root.draw(&Rectangle::new(
            [(x0, TOP_PX as i32 - 4), (x1, bottom)],
            RGBAColor(90, 120, 200, 0.18).filled(),
        ))
        .map_err(plot_err)?;
        // The whole label where it fits, else its first word (the fault's name).
        let first_word = s.label.split_whitespace().next().unwrap_or("");
        let label = [s.label.as_str(), first_word]
            .into_iter()
            .find(|l| fits(l, x1 - x0));
        if let Some(label) = label {
            let style = text_style(11.0, RGBColor(0x2a, 0x3f, 0x8f), HPos::Left, VPos::Bottom);
            root.draw_text(label, &style, (x0 + 2, TOP_PX as i32 - 6))
                .map_err(plot_err)?;
        }
    }
    Ok(())
}

fn fits(label: &str, width_px: i32) -> bool {
    !label.is_empty() && (label.chars().count() as f64 * CHAR_PX + 4.0) <= f64::from(width_px)
}

/// A rectangle to draw: pixel range, outcome, and the label when it is a single op.
struct Bar<'a> {
    x0: i32,
    x1: i32,
    outcome: Outcome,
    label: Option<&'a str>,
}

/// Merges a row's spans into bars: a span that starts within a pixel of the previous
/// bar of the same outcome extends it instead of adding a rectangle.
fn bars<'a>(l: &Layout, spans: &[&'a Span]) -> Vec<Bar<'a>> {
    let mut out: Vec<Bar<'a>> = Vec::new();
    for s in spans {
        let x0 = l.x(s.start_ns);
        let x1 = l.x(s.end_ns).max(x0 + 1);
        match out.last_mut() {
            Some(b) if b.outcome == s.outcome && x0 <= b.x1 + 1 => {
                b.x1 = b.x1.max(x1);
                b.label = None;
            }
            _ => out.push(Bar {
                x0,
                x1,
                outcome: s.outcome,
                label: Some(&s.label),
            }),
        }
    }
    out
}

fn draw_spans(root: &Area, l: &Layout, t: &Timeline) -> Result<(), ReportError> {
    let mut by_row: Vec<Vec<&Span>> = vec![Vec::new(); t.rows.len()];
    for s in &t.spans {
        if let Some(row) = by_row.get_mut(s.row) {
            row.push(s);
        }
    }
    for (i, spans) in by_row.iter_mut().enumerate() {
        spans.sort_by_key(|s| (s.start_ns, s.end_ns));
        let (top, bottom) = (l.row_top(i) + 4, l.row_top(i) + ROW_PX as i32 - 7);
        for b in bars(l, spans) {
            root.draw(&Rectangle::new(
                [(b.x0, top), (b.x1, bottom)],
                b.outcome.color().filled(),
            ))
            .map_err(plot_err)?;
            if let Some(label) = b.label.filter(|s| fits(s, b.x1 - b.x0)) {
                let style = text_style(11.0, BLACK, HPos::Left, VPos::Center);
                root.draw_text(label, &style, (b.x0 + 2, (top + bottom) / 2))
                    .map_err(plot_err)?;
            }
        }
        for s in spans.iter().filter(|s| s.highlighted) {
            let x0 = l.x(s.start_ns);
            let x1 = l.x(s.end_ns).max(x0 + 1);
            root.draw(&Rectangle::new(
                [(x0 - 1, top - 2), (x1 + 1, bottom + 2)],
                ShapeStyle::from(RGBColor(0xd0, 0, 0)).stroke_width(2),
            ))
            .map_err(plot_err)?;
        }
    }
    Ok(())
}

/// Bands, merged per row where they touch at pixel resolution.
fn draw_bands(root: &Area, l: &Layout, t: &Timeline) -> Result<(), ReportError> {
    let mut by_row: Vec<Vec<(i32, i32)>> = vec![Vec::new(); t.rows.len()];
    for b in &t.bands {
        if let Some(row) = by_row.get_mut(b.row) {
            let x0 = l.x(b.start_ns);
            row.push((x0, l.x(b.end_ns).max(x0 + 1)));
        }
    }
    for (i, mut strips) in by_row.into_iter().enumerate() {
        strips.sort_unstable();
        let mut merged: Vec<(i32, i32)> = Vec::new();
        for (x0, x1) in strips {
            match merged.last_mut() {
                Some(last) if x0 <= last.1 => last.1 = last.1.max(x1),
                _ => merged.push((x0, x1)),
            }
        }
        let bottom = l.row_top(i) + ROW_PX as i32 - 2;
        for (x0, x1) in merged {
            root.draw(&Rectangle::new(
                [(x0, bottom - 3), (x1, bottom)],
                RGBColor(0x34, 0x49, 0x5e).filled(),
            ))
            .map_err(plot_err)?;
        }
    }
    Ok(())
}

/// Pins: a line across the row, the label to its right where it fits before the next
/// pin of the row.
fn draw_pins(root: &Area, l: &Layout, t: &Timeline) -> Result<(), ReportError> {
    let color = RGBColor(0x1f, 0x61, 0x8d);
    let mut pins: Vec<&Pin> = t.pins.iter().filter(|p| p.row < t.rows.len()).collect();
    pins.sort_by_key(|p| (p.row, p.at_ns));
    for (i, p) in pins.iter().enumerate() {
        let (x, top) = (l.x(p.at_ns), l.row_top(p.row));
        root.draw(&Rectangle::new(
            [(x - 1, top), (x + 1, top + ROW_PX as i32)],
            color.filled(),
        ))
        .map_err(plot_err)?;
        let room = match pins.get(i + 1) {
            Some(next) if next.row == p.row => l.x(next.at_ns) - x - 4,
            _ => i32::MAX,
        };
        if fits(&p.label, room) {
            let style = text_style(10.0, color, HPos::Left, VPos::Bottom);
            root.draw_text(&p.label, &style, (x + 3, top + ROW_PX as i32 - 6))
                .map_err(plot_err)?;
        }
    }
    Ok(())
}

fn draw_marks(root: &Area, l: &Layout, t: &Timeline) -> Result<(), ReportError> {
    let mut marks: Vec<&Mark> = t.marks.iter().filter(|m| m.row < t.rows.len()).collect();
    marks.sort_by_key(|m| (m.row, m.start_ns));
    for (i, m) in marks.iter().enumerate() {
        let top = l.row_top(m.row);
        let (x0, x1) = (l.x(m.start_ns), l.x(m.end_ns).max(l.x(m.start_ns) + 2));
        let color = if m.observation {
            RGBColor(0x7d, 0x3c, 0x98)
        } else {
            RGBColor(0xd0, 0, 0)
        };
        root.draw(&Rectangle::new(
            [(x0, top + 1), (x1, top + ROW_PX as i32 - 1)],
            color.mix(0.35).filled(),
        ))
        .map_err(plot_err)?;
        // A label only where it does not run into the next mark of the row: with many
        // overlaps, unreadable piles of labels help nobody; the page lists them all.
        let room = match marks.get(i + 1) {
            Some(next) if next.row == m.row => l.x(next.start_ns) - x1 - 3,
            _ => i32::MAX,
        };
        if fits(&m.label, room) {
            let style = text_style(10.0, color, HPos::Left, VPos::Top);
            root.draw_text(&m.label, &style, (x1 + 3, top + 1))
                .map_err(plot_err)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(row: usize, start_ns: u64, end_ns: u64, label: &str) -> Span {
        Span {
            row,
            start_ns,
            end_ns,
            outcome: Outcome::Ok,
            label: label.to_string(),
            highlighted: false,
        }
    }

    #[test]
    fn labels_are_escaped_in_the_svg() {
        let t = Timeline {
            rows: vec!["process 0".into()],
            spans: vec![span(0, 0, 1_000_000_000, "<script>alert(1)</script>")],
            shades: vec![Shade {
                start_ns: 0,
                end_ns: 1_000_000_000,
                label: "a&b\"<".into(),
            }],
            ..Timeline::default()
        };
        let svg = render_svg(&t).unwrap();
        assert!(!svg.contains("<script"), "{svg}");
        assert!(svg.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(svg.contains("a&amp;b&quot;&lt;"));
    }

    #[test]
    fn many_tiny_ops_are_merged_so_the_svg_stays_small() {
        let spans: Vec<Span> = (0..50_000u64)
            .map(|i| {
                span(
                    (i % 5) as usize,
                    i * 1_000_000,
                    i * 1_000_000 + 400_000,
                    "read",
                )
            })
            .collect();
        let t = Timeline {
            rows: (0..5).map(|i| format!("process {i}")).collect(),
            spans,
            ..Timeline::default()
        };
        let svg = render_svg(&t).unwrap();
        let rects = svg.matches("<rect").count();
        assert!(rects < 5 * WIDTH_PX as usize, "rects={rects}");
        assert!(svg.len() < 2_000_000, "bytes={}", svg.len());
    }

    #[test]
    fn a_highlighted_op_keeps_its_own_outline() {
        let mut s = span(0, 10, 20, "write");
        s.highlighted = true;
        let t = Timeline {
            rows: vec!["p".into()],
            spans: vec![s, span(0, 0, 5, "read")],
            end_ns: 100,
            ..Timeline::default()
        };
        let svg = render_svg(&t).unwrap();
        assert!(svg.contains("stroke=\"#D00000\""), "{svg}");
    }

    #[test]
    fn mark_labels_that_would_collide_are_left_out() {
        let mark = |start_ns: u64, label: &str| Mark {
            observation: false,
            row: 0,
            start_ns,
            end_ns: start_ns + 1,
            label: label.to_string(),
        };
        let t = Timeline {
            rows: vec!["p".into()],
            marks: vec![mark(0, "first"), mark(2, "second"), mark(500, "third")],
            end_ns: 1_000,
            ..Timeline::default()
        };
        let svg = render_svg(&t).unwrap();
        assert!(!svg.contains("first"), "first runs into second");
        assert!(svg.contains("second") && svg.contains("third"));
    }

    #[test]
    fn an_empty_timeline_still_renders() {
        let svg = render_svg(&Timeline::default()).unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    }

    #[test]
    fn tick_steps_are_round_numbers() {
        assert_eq!(tick_step_ns(30_000_000_000), 5_000_000_000);
        assert_eq!(tick_step_ns(1_000), 100);
        assert_eq!(tick_step_ns(0), 1);
    }
}
