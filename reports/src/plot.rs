//! What the report's plots over run time share: an SVG chart as wide as the timeline,
//! its axes and labels, and the fault windows shaded behind whatever it draws, so every
//! plot lines up with what the nemesis did in the same way.

use crate::ReportError;
use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use std::ops::Range;

/// Every plot's width in pixels, the timeline's.
pub const WIDTH_PX: u32 = 1400;

/// The fault shading: the timeline's [`crate::timeline::SHADE_CSS`] colour.
pub fn fault_shade() -> RGBAColor {
    RGBColor(90, 120, 200).mix(0.18)
}

/// A chart's drawing area: x is seconds since the start of the run, y whatever `Y` is.
pub type Chart<'a, 'b, Y> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, Y>>;

/// A plot's frame: its height, axis labels and ranges, and the fault windows (start and
/// end in seconds) shaded from `y_low` to `y_high`.
pub struct Frame<'a, Y> {
    /// Height in pixels.
    pub height_px: u32,
    /// The x axis' label.
    pub x_desc: &'a str,
    /// The y axis' label.
    pub y_desc: &'a str,
    /// Seconds since the start of the run.
    pub x: Range<f64>,
    /// The y range, linear or log.
    pub y: Y,
    /// Where the shading starts and ends on the y axis.
    pub shade_y: (f64, f64),
    /// Fault windows to shade.
    pub faults: &'a [(f64, f64)],
}

/// Turns a plotters error into the report's.
pub fn plot_error(e: &dyn std::fmt::Debug) -> ReportError {
    ReportError::Plot {
        message: format!("{e:?}"),
    }
}

/// Draws a frame, then `body` on it, and returns the `<svg>` element.
pub fn render<Y, F>(frame: Frame<'_, Y>, body: F) -> Result<String, ReportError>
where
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: ValueFormatter<f64>,
    F: FnOnce(&mut Chart<'_, '_, Y::CoordDescType>) -> Result<(), ReportError>,
{
    let mut svg = String::new();
    {
        let root: DrawingArea<SVGBackend, Shift> =
            SVGBackend::with_string(&mut svg, (WIDTH_PX, frame.height_px)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| plot_error(&e))?;
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(frame.x, frame.y)
            .map_err(|e| plot_error(&e))?;
        chart
            .configure_mesh()
            .x_desc(frame.x_desc)
            .y_desc(frame.y_desc)
            .disable_mesh()
            .draw()
            .map_err(|e| plot_error(&e))?;
        let (low, high) = frame.shade_y;
        chart
            .draw_series(frame.faults.iter().map(|&(s, e)| {
                Rectangle::new([(s, low), (e.max(s + 0.05), high)], fault_shade().filled())
            }))
            .map_err(|e| plot_error(&e))?;
        body(&mut chart)?;
        root.present().map_err(|e| plot_error(&e))?;
    }
    Ok(svg)
}

/// An `<svg>` element ready to sit inline in HTML: without the namespace attribute,
/// which inline SVG does not need, so the page holds no URL.
pub fn inline(svg: String) -> String {
    svg.replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_draws_its_labels_and_one_rectangle_per_fault() {
        let faults = [(1.0, 2.0), (3.0, 3.5)];
        let svg = render(
            Frame {
                height_px: 200,
                x_desc: "seconds",
                y_desc: "things",
                x: 0.0..5.0,
                y: 0.0..10.0,
                shade_y: (0.0, 10.0),
                faults: &faults,
            },
            |_| Ok(()),
        )
        .unwrap();
        assert!(svg.contains("seconds") && svg.contains("things"));
        let shaded = svg.matches("opacity=\"0.18\" fill=\"#5A78C8\"").count();
        assert_eq!(shaded, 2, "{svg}");
        assert!(!inline(svg).contains("xmlns=\"http://www.w3.org/2000/svg\""));
    }
}
