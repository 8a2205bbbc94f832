//! The clock plot, as Jepsen's clock checker draws one: each process's clock offset from
//! the true time over the run, for runs whose nemesis skewed clocks. The offsets are the
//! settings the nemesis recorded in the history (`bump-clock`, `drift-clock`,
//! `strobe-clock` and the `reset-clock` that heals them), per process it reached; a
//! process it could not reach keeps the true time and is not drawn.
//!
//! A bump is a step, a drift a slope from the moment it was set, a strobe a square wave
//! that flips every period. A strobe too fast to draw flip by flip is drawn as the band
//! between its two positions.

use crate::ReportError;
use crate::plot::{self, Frame, plot_error};
use crate::timeline::SHADE_CSS;
use plotters::prelude::*;
use serde_json::Value;
use splitbrain_checker::fault_windows::faults;
use splitbrain_history::{History, Op, OpType, Process};
use std::collections::BTreeMap;

const HEIGHT_PX: u32 = 240;
/// The most flips of one strobe drawn one by one; a faster strobe is drawn as a band.
pub const MAX_FLIPS: u64 = 400;

/// The clock ops a nemesis records, healing included.
const CLOCK_FS: [&str; 4] = ["bump-clock", "drift-clock", "strobe-clock", "reset-clock"];

/// A process's clock as the nemesis set it: the true time, an offset, a rate or a strobe.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Setting {
    offset_ms: f64,
    rate: f64,
    strobe: Option<(f64, f64)>,
}

impl Setting {
    const TRUE_TIME: Setting = Setting {
        offset_ms: 0.0,
        rate: 1.0,
        strobe: None,
    };

    /// Reads the setting a clock op's value describes.
    fn of(value: &Value) -> Setting {
        let strobe = value.get("strobe").and_then(|s| {
            let delta = s["delta_ms"].as_f64()?;
            let period = s["period_ms"].as_f64()?.max(1.0);
            Some((delta, period))
        });
        Setting {
            offset_ms: value["offset_ms"].as_f64().unwrap_or(0.0),
            rate: value["rate"].as_f64().unwrap_or(1.0),
            strobe,
        }
    }
}

/// One process's offset over the run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    /// The process, as the nemesis named it (`agent-2`, `redis@n1`).
    pub process: String,
    /// (seconds since the start of the run, offset in milliseconds), in time order; a
    /// jump is two points at the same time.
    pub points: Vec<(f64, f64)>,
    /// Strobes too fast to draw flip by flip: (from s, to s, low ms, high ms).
    pub bands: Vec<(f64, f64, f64, f64)>,
}

/// What the plot draws.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClockOffsets {
    /// One series per process whose clock the nemesis set, by name.
    pub series: Vec<Series>,
    /// Fault windows, in seconds since the start of the run.
    pub faults: Vec<(f64, f64)>,
    /// Seconds the history spans.
    pub span_s: f64,
}

/// The processes a clock op reached: those its `reached` map names with a way in. The
/// `reset-clock` that heals a fault names its `processes` only, and reached them all
/// unless it failed.
fn reached(op: &Op) -> Vec<String> {
    let Some(map) = op.value.get("reached").and_then(Value::as_object) else {
        if op.f != "reset-clock" || op.error.is_some() {
            return Vec::new();
        }
        let names = op.value.get("processes").and_then(Value::as_array);
        return names
            .into_iter()
            .flatten()
            .filter_map(|n| n.as_str().map(str::to_string))
            .collect();
    };
    map.iter()
        .filter(|(_, how)| matches!(how.as_str(), Some("clock-file" | "faketime" | "vdso")))
        .map(|(name, _)| name.clone())
        .collect()
}

impl ClockOffsets {
    /// Reads the clock ops of a history; no series when the nemesis set no clock.
    pub fn from_history(history: &History) -> ClockOffsets {
        let span_s = history.ops.last().map_or(0, |o| o.time_ns) as f64 / 1e9;
        let mut changes: BTreeMap<String, Vec<(f64, Setting)>> = BTreeMap::new();
        let clock_ops = history.ops.iter().filter(|o| {
            o.process == Process::Nemesis
                && o.kind == OpType::Info
                && CLOCK_FS.contains(&o.f.as_str())
        });
        for op in clock_ops {
            let setting = if op.f == "reset-clock" {
                Setting::TRUE_TIME
            } else {
                Setting::of(&op.value)
            };
            for process in reached(op) {
                changes
                    .entry(process)
                    .or_default()
                    .push((op.time_ns as f64 / 1e9, setting));
            }
        }
        let series = changes
            .into_iter()
            .filter(|(_, c)| c.iter().any(|(_, s)| *s != Setting::TRUE_TIME))
            .map(|(process, c)| series_of(process, &c, span_s))
            .collect();
        let faults = faults(history)
            .into_iter()
            .filter(|f| f.error.is_none())
            .map(|f| {
                let end = f.end_ns.map_or(span_s, |e| e as f64 / 1e9);
                (f.start_ns as f64 / 1e9, end.max(f.start_ns as f64 / 1e9))
            })
            .collect();
        ClockOffsets {
            series,
            faults,
            span_s,
        }
    }

    /// The lowest and highest offset drawn, in milliseconds, zero included.
    fn range_ms(&self) -> (f64, f64) {
        let values = self.series.iter().flat_map(|s| {
            s.points
                .iter()
                .map(|p| p.1)
                .chain(s.bands.iter().flat_map(|b| [b.2, b.3]))
        });
        values.fold((0.0f64, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)))
    }
}

/// A process's offset over the run, from its settings in time order.
fn series_of(process: String, changes: &[(f64, Setting)], span_s: f64) -> Series {
    let mut s = Series {
        process,
        points: vec![(0.0, 0.0)],
        bands: Vec::new(),
    };
    let mut from = 0.0;
    let mut current = Setting::TRUE_TIME;
    for &(at, next) in changes {
        draw_segment(&mut s, current, from, at);
        from = at;
        current = next;
    }
    draw_segment(&mut s, current, from, span_s.max(from));
    s
}

/// Draws one setting from `from` to `to` seconds.
fn draw_segment(s: &mut Series, setting: Setting, from: f64, to: f64) {
    let drift_ms = |t: f64| (setting.rate - 1.0) * (t - from) * 1000.0;
    let at = |t: f64| setting.offset_ms + drift_ms(t);
    let Some((delta, period_ms)) = setting.strobe else {
        s.points.push((from, at(from)));
        s.points.push((to, at(to)));
        return;
    };
    let period_s = period_ms / 1000.0;
    let flips = ((to - from) / period_s).ceil() as u64;
    if flips > MAX_FLIPS {
        let (low, high) = (
            at(from).min(at(from) + delta),
            at(from).max(at(from) + delta),
        );
        s.bands.push((from, to, low, high));
        s.points.push((from, at(from)));
        s.points.push((to, at(to)));
        return;
    }
    for k in 0..flips {
        let start = from + k as f64 * period_s;
        let end = (start + period_s).min(to);
        let flipped = if k % 2 == 1 { delta } else { 0.0 };
        s.points.push((start, at(start) + flipped));
        s.points.push((end, at(end) + flipped));
    }
}

/// The colour of the `i`th series.
fn color(i: usize) -> RGBColor {
    const PALETTE: [RGBColor; 8] = [
        RGBColor(0x1f, 0x77, 0xb4),
        RGBColor(0xd6, 0x27, 0x28),
        RGBColor(0x2c, 0xa0, 0x2c),
        RGBColor(0x94, 0x67, 0xbd),
        RGBColor(0xff, 0x7f, 0x0e),
        RGBColor(0x8c, 0x56, 0x4b),
        RGBColor(0xe3, 0x77, 0xc2),
        RGBColor(0x17, 0xbe, 0xcf),
    ];
    PALETTE[i % PALETTE.len()]
}

/// The clock plot as an `<svg>` element.
pub fn render_svg(clocks: &ClockOffsets) -> Result<String, ReportError> {
    let (low, high) = clocks.range_ms();
    let pad = ((high - low) * 0.1).max(10.0);
    let (low, high) = (low - pad, high + pad);
    let frame = Frame {
        height_px: HEIGHT_PX,
        x_desc: "seconds since the start of the run",
        y_desc: "clock offset (ms)",
        x: 0f64..clocks.span_s.max(1.0),
        y: low..high,
        shade_y: (low, high),
        faults: &clocks.faults,
    };
    plot::render(frame, |chart| {
        for (i, s) in clocks.series.iter().enumerate() {
            let c = color(i);
            chart
                .draw_series(s.bands.iter().map(|&(from, to, lo, hi)| {
                    Rectangle::new([(from, lo), (to, hi)], c.mix(0.35).filled())
                }))
                .map_err(|e| plot_error(&e))?;
            chart
                .draw_series(LineSeries::new(s.points.clone(), c.stroke_width(2)))
                .map_err(|e| plot_error(&e))?;
        }
        Ok(())
    })
}

/// The legend under the plot, as HTML: one swatch per process.
pub fn legend_html(clocks: &ClockOffsets) -> String {
    let mut h = String::from("<p class=\"legend\">");
    for (i, s) in clocks.series.iter().enumerate() {
        let RGBColor(r, g, b) = color(i);
        h.push_str(&format!(
            "<span><i class=\"sw\" style=\"background:#{r:02x}{g:02x}{b:02x}\"></i>{}</span>",
            crate::page::esc(&s.process)
        ));
    }
    h.push_str(&format!(
        "<span><i class=\"sw\" style=\"background:{SHADE_CSS}\"></i>fault in effect</span></p>"
    ));
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn clock_op(index: u64, at_ms: u64, f: &str, value: Value) -> Op {
        Op::new(
            index,
            at_ms * 1_000_000,
            Process::Nemesis,
            OpType::Info,
            f,
            value,
        )
    }

    fn history() -> History {
        History::new(vec![
            clock_op(
                0,
                1000,
                "bump-clock",
                json!({"offset_ms": 500, "rate": 1.0,
                       "reached": {"agent-1": "clock-file", "zk@n2": "unreached: no libfaketime"}}),
            ),
            clock_op(
                1,
                2000,
                "reset-clock",
                json!({"offset_ms": 0, "rate": 1.0, "reached": {"agent-1": "clock-file"}}),
            ),
            clock_op(
                2,
                3000,
                "drift-clock",
                json!({"offset_ms": 0, "rate": 2.0, "reached": {"redis@n1": "faketime"}}),
            ),
            // the heal's reset names its processes only
            clock_op(
                3,
                4000,
                "reset-clock",
                json!({"offset_ms": 0, "rate": 1.0, "processes": ["redis@n1"]}),
            ),
            clock_op(
                4,
                5000,
                "strobe-clock",
                json!({"offset_ms": 0, "rate": 1.0,
                       "strobe": {"delta_ms": 200, "period_ms": 100},
                       "reached": {"agent-2": "clock-file"}}),
            ),
            clock_op(
                5,
                5500,
                "reset-clock",
                json!({"offset_ms": 0, "rate": 1.0, "reached": {"agent-2": "clock-file"}}),
            ),
            clock_op(6, 6000, "pause", json!({})),
        ])
    }

    #[test]
    fn each_reached_process_gets_its_bump_drift_or_strobe_and_the_reset() {
        let clocks = ClockOffsets::from_history(&history());
        let names: Vec<&str> = clocks.series.iter().map(|s| s.process.as_str()).collect();
        assert_eq!(names, ["agent-1", "agent-2", "redis@n1"]);
        let agent1 = &clocks.series[0].points;
        assert!(agent1.contains(&(1.0, 500.0)) && agent1.contains(&(2.0, 500.0)));
        assert!(agent1.contains(&(2.0, 0.0)) && agent1.last() == Some(&(6.0, 0.0)));
        let redis = &clocks.series[2].points;
        assert_eq!(
            redis.last(),
            Some(&(6.0, 0.0)),
            "reset by the heal: {redis:?}"
        );
        // twice the true rate for one second: a second ahead when it is reset
        assert!(redis.contains(&(3.0, 0.0)));
        let at_reset = redis.iter().find(|p| p.0 == 4.0).unwrap();
        assert!((at_reset.1 - 1000.0).abs() < 1e-6, "{redis:?}");
        let strobe = &clocks.series[1].points;
        let flipped = strobe.iter().filter(|p| p.1 == 200.0).count();
        // five periods of 100 ms between 5.0 s and 5.5 s: the 2nd and 4th are flipped
        assert_eq!(flipped, 4, "{strobe:?}");
        let svg = render_svg(&clocks).unwrap();
        assert!(svg.contains("clock offset (ms)"));
        assert!(legend_html(&clocks).contains("redis@n1"));
    }

    #[test]
    fn a_fast_strobe_is_a_band_and_a_run_without_clock_faults_has_no_series() {
        let fast = History::new(vec![
            clock_op(
                0,
                0,
                "strobe-clock",
                json!({"strobe": {"delta_ms": -50, "period_ms": 1},
                       "reached": {"agent-1": "clock-file"}}),
            ),
            clock_op(
                1,
                2000,
                "reset-clock",
                json!({"reached": {"agent-1": "clock-file"}}),
            ),
        ]);
        let clocks = ClockOffsets::from_history(&fast);
        assert_eq!(clocks.series[0].bands, vec![(0.0, 2.0, -50.0, 0.0)]);
        let none =
            ClockOffsets::from_history(&History::new(vec![clock_op(0, 0, "pause", json!({}))]));
        assert!(none.series.is_empty());
    }
}
