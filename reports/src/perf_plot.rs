//! The performance plots, as Jepsen's perf checker draws them: the latency of every
//! client operation over time, by outcome, on a log scale; and throughput (operations
//! completed per second, by outcome). Faults are shaded on both, so a latency spike or
//! a gap in throughput lines up with what the nemesis did.
//!
//! A long run keeps its page small: past [`MAX_POINTS`] operations the latency plot
//! draws an even sample of the `ok` and `fail` ones and every `info` one (the timed-out
//! operations, the ones that matter around a fault); throughput counts them all.

use crate::ReportError;
use crate::plot::{self, Frame, plot_error};
use crate::timeline::SHADE_CSS;
use plotters::prelude::*;
use splitbrain_checker::fault_windows::faults;
use splitbrain_history::{History, OpType};

const HEIGHT_PX: u32 = 260;
/// The most operations the latency plot draws one by one.
pub const MAX_POINTS: usize = 6000;

/// One completed client operation: when it began, how long it took, how it ended.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    /// Seconds since the start of the run, at invocation.
    pub at_s: f64,
    /// Milliseconds from invocation to completion.
    pub latency_ms: f64,
    /// How it ended.
    pub outcome: OpType,
}

/// What the plots draw.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Perf {
    /// Every completed client operation.
    pub points: Vec<Point>,
    /// Fault windows, in seconds since the start of the run.
    pub faults: Vec<(f64, f64)>,
    /// Seconds the history spans.
    pub span_s: f64,
}

impl Perf {
    /// Reads a history: its completed client operations and its applied faults.
    pub fn from_history(history: &History) -> Perf {
        let end_ns = history.ops.last().map_or(0, |o| o.time_ns);
        let points = history
            .pairs()
            .into_iter()
            .filter_map(|p| {
                let inv = &history.ops[p.invoke];
                let done = &history.ops[p.completion?];
                inv.is_client().then(|| Point {
                    at_s: inv.time_ns as f64 / 1e9,
                    latency_ms: (done.time_ns.saturating_sub(inv.time_ns) as f64 / 1e6).max(0.01),
                    outcome: done.kind,
                })
            })
            .collect();
        let faults = faults(history)
            .into_iter()
            .filter(|f| f.error.is_none())
            .map(|f| {
                let end = f.end_ns.unwrap_or(end_ns).max(f.start_ns);
                (f.start_ns as f64 / 1e9, end as f64 / 1e9)
            })
            .collect();
        Perf {
            points,
            faults,
            span_s: end_ns as f64 / 1e9,
        }
    }

    /// The points the latency plot draws: all of them, or for a long run an even sample
    /// of the ok and fail ones and every info one.
    pub fn drawn(&self) -> Vec<Point> {
        if self.points.len() <= MAX_POINTS {
            return self.points.clone();
        }
        let infos = self
            .points
            .iter()
            .filter(|p| p.outcome == OpType::Info)
            .count();
        let room = MAX_POINTS.saturating_sub(infos).max(1);
        let others = self.points.len() - infos;
        let stride = others.div_ceil(room).max(1);
        let mut seen = 0usize;
        self.points
            .iter()
            .filter(|p| {
                if p.outcome == OpType::Info {
                    return true;
                }
                seen += 1;
                (seen - 1).is_multiple_of(stride)
            })
            .copied()
            .collect()
    }
}

fn color(outcome: OpType) -> RGBColor {
    match outcome {
        OpType::Ok => RGBColor(0x2e, 0x9e, 0x44),
        OpType::Fail => RGBColor(0x88, 0x88, 0x88),
        _ => RGBColor(0xf0, 0x8c, 0x00),
    }
}

const OUTCOMES: [OpType; 3] = [OpType::Ok, OpType::Fail, OpType::Info];

/// The latency plot as an `<svg>` element.
pub fn latency_svg(perf: &Perf) -> Result<String, ReportError> {
    let points = perf.drawn();
    let top = points.iter().map(|p| p.latency_ms).fold(1.0f64, f64::max) * 1.5;
    let frame = Frame {
        height_px: HEIGHT_PX,
        x_desc: "seconds since the start of the run (at invocation)",
        y_desc: "latency (ms)",
        x: 0f64..perf.span_s.max(1.0),
        y: (0.01f64..top).log_scale(),
        shade_y: (0.01, top),
        faults: &perf.faults,
    };
    plot::render(frame, |chart| {
        for outcome in OUTCOMES {
            let c = color(outcome);
            chart
                .draw_series(
                    points
                        .iter()
                        .filter(|p| p.outcome == outcome)
                        .map(|p| Circle::new((p.at_s, p.latency_ms), 2, c.filled())),
                )
                .map_err(|e| plot_error(&e))?;
        }
        Ok(())
    })
}

/// Operations completed in each second, by outcome.
pub fn per_second(perf: &Perf) -> Vec<[u64; 3]> {
    let seconds = perf.span_s.ceil().max(1.0) as usize;
    let mut counts = vec![[0u64; 3]; seconds];
    for p in &perf.points {
        let done = ((p.at_s + p.latency_ms / 1e3) as usize).min(seconds - 1);
        let slot = OUTCOMES.iter().position(|o| *o == p.outcome).unwrap_or(2);
        counts[done][slot] += 1;
    }
    counts
}

/// The throughput plot as an `<svg>` element.
pub fn throughput_svg(perf: &Perf) -> Result<String, ReportError> {
    let counts = per_second(perf);
    let top = counts.iter().flatten().copied().max().unwrap_or(0).max(1) as f64 * 1.1;
    let frame = Frame {
        height_px: HEIGHT_PX,
        x_desc: "seconds since the start of the run (at completion)",
        y_desc: "operations per second",
        x: 0f64..counts.len() as f64,
        y: 0f64..top,
        shade_y: (0.0, top),
        faults: &perf.faults,
    };
    plot::render(frame, |chart| {
        for (slot, outcome) in OUTCOMES.iter().enumerate() {
            let line: Vec<(f64, f64)> = counts
                .iter()
                .enumerate()
                .map(|(i, c)| (i as f64 + 0.5, c[slot] as f64))
                .collect();
            chart
                .draw_series(LineSeries::new(line, color(*outcome).stroke_width(2)))
                .map_err(|e| plot_error(&e))?;
        }
        Ok(())
    })
}

/// The legend under the plots, as HTML.
pub fn legend_html() -> String {
    format!(
        "<p class=\"legend\"><span><i class=\"sw\" style=\"background:#2e9e44\"></i>ok</span>\
         <span><i class=\"sw\" style=\"background:#888\"></i>fail</span>\
         <span><i class=\"sw\" style=\"background:#f08c00\"></i>info (outcome unknown)</span>\
         <span><i class=\"sw\" style=\"background:{SHADE_CSS}\"></i>fault in effect</span></p>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use splitbrain_history::{Op, Process};

    fn history(n: u64) -> History {
        let mut ops = Vec::new();
        for i in 0..n {
            let p = Process::Client(i % 3);
            let kind = if i % 10 == 0 {
                OpType::Info
            } else {
                OpType::Ok
            };
            ops.push(Op::new(
                2 * i,
                i * 10_000_000,
                p,
                OpType::Invoke,
                "read",
                json!(null),
            ));
            ops.push(Op::new(
                2 * i + 1,
                i * 10_000_000 + 5_000_000,
                p,
                kind,
                "read",
                json!(1),
            ));
        }
        History::new(ops)
    }

    #[test]
    fn every_completed_op_is_a_point_and_throughput_counts_them_per_second() {
        let perf = Perf::from_history(&history(300));
        assert_eq!(perf.points.len(), 300);
        assert!((perf.points[1].latency_ms - 5.0).abs() < 1e-9);
        let counts = per_second(&perf);
        let total: u64 = counts.iter().flatten().sum();
        assert_eq!(total, 300);
        assert_eq!(counts[0], [90, 0, 10]);
        let svg = latency_svg(&perf).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("latency (ms)"));
        assert!(
            throughput_svg(&perf)
                .unwrap()
                .contains("operations per second")
        );
    }

    #[test]
    fn a_long_run_draws_a_sample_but_every_timed_out_op() {
        let perf = Perf::from_history(&history(20_000));
        let drawn = perf.drawn();
        assert!(drawn.len() <= MAX_POINTS + 1, "{}", drawn.len());
        let infos = drawn.iter().filter(|p| p.outcome == OpType::Info).count();
        assert_eq!(infos, 2_000);
    }
}
