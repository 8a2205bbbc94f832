//! The availability plot: acquires (and a leader's renewals) tried and granted in each
//! second of the run, with
//! the faults shaded, drawn from the availability checker's stats as an SVG string. A
//! lock that stopped granting shows as a stretch of grey with no green on it.

use crate::ReportError;
use crate::plot::{self, Frame, plot_error};
use crate::timeline::SHADE_CSS;
use plotters::prelude::*;

const HEIGHT_PX: u32 = 220;

/// Per-second counts and the fault windows (start and end in seconds) to shade.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Availability {
    /// Acquires that finished in each second.
    pub attempts: Vec<u64>,
    /// Of those, the granted ones.
    pub granted: Vec<u64>,
    /// Fault windows, in seconds since the start of the run.
    pub faults: Vec<(f64, f64)>,
    /// What the attempts are: "acquires", or "acquires and renewals".
    pub attempts_are: String,
}

impl Availability {
    /// Reads the availability checker's stats; None when they hold no per-second counts.
    pub fn from_stats(stats: &serde_json::Value) -> Option<Availability> {
        let counts = |key: &str| -> Option<Vec<u64>> {
            let list = stats["per_second"][key].as_array()?;
            Some(list.iter().map(|v| v.as_u64().unwrap_or(0)).collect())
        };
        let faults = stats["fault_windows"]
            .as_array()
            .map(|ws| {
                ws.iter()
                    .filter_map(|w| {
                        let start = w["start_ns"].as_u64()? as f64 / 1e9;
                        let end = w["end_ns"].as_u64()? as f64 / 1e9;
                        Some((start, end))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Some(Availability {
            attempts: counts("attempts")?,
            granted: counts("granted")?,
            faults,
            attempts_are: stats["attempts_are"]
                .as_str()
                .unwrap_or("acquires")
                .to_string(),
        })
    }
}

/// Renders the plot as an `<svg>` element.
pub fn render_svg(a: &Availability) -> Result<String, ReportError> {
    let top = a.attempts.iter().copied().max().unwrap_or(0).max(1) as f64 * 1.1;
    let y_desc = format!("{} per second", a.attempts_are);
    let frame = Frame {
        height_px: HEIGHT_PX,
        x_desc: "seconds since the start of the run",
        y_desc: &y_desc,
        x: 0f64..a.attempts.len().max(1) as f64,
        y: 0f64..top,
        shade_y: (0.0, top),
        faults: &a.faults,
    };
    let bars = |counts: &[u64], color: RGBColor| {
        counts
            .iter()
            .enumerate()
            .map(move |(i, &n)| {
                let x = i as f64;
                Rectangle::new([(x + 0.1, 0.0), (x + 0.9, n as f64)], color.filled())
            })
            .collect::<Vec<_>>()
    };
    plot::render(frame, |chart| {
        chart
            .draw_series(bars(&a.attempts, RGBColor(0xc4, 0xc4, 0xc4)))
            .map_err(|e| plot_error(&e))?;
        chart
            .draw_series(bars(&a.granted, RGBColor(0x8f, 0xd6, 0x94)))
            .map_err(|e| plot_error(&e))?;
        Ok(())
    })
}

/// The legend under the plot, as HTML.
pub fn legend_html() -> String {
    format!(
        "<p class=\"legend\"><span><i class=\"sw\" style=\"background:#c4c4c4\"></i>acquires \
         tried</span><span><i class=\"sw\" style=\"background:#8fd694\"></i>granted</span>\
         <span><i class=\"sw\" style=\"background:{SHADE_CSS}\"></i>fault in effect</span></p>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_checkers_stats_become_a_plot_with_a_bar_per_second() {
        let stats = json!({
            "per_second": {"attempts": [4, 4, 4], "granted": [4, 0, 0]},
            "fault_windows": [{"start_ns": 1_000_000_000u64, "end_ns": 1_500_000_000u64}],
        });
        let a = Availability::from_stats(&stats).unwrap();
        assert_eq!(a.granted, vec![4, 0, 0]);
        assert_eq!(
            a.attempts_are, "acquires",
            "stats from before the name was kept"
        );
        assert_eq!(a.faults, vec![(1.0, 1.5)]);
        let svg = render_svg(&a).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..40]);
        assert!(svg.contains("acquires per second"));
        assert!(Availability::from_stats(&json!({})).is_none());
    }
}
