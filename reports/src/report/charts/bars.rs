//! Bar charts: one panel per category (a workload), one bar per series (a strategy) coloured
//! as everywhere else, the value printed above each bar; the figure draws one legend for all
//! panels, so bars need no tick labels of their own. Each panel has its own scale: workloads
//! differ by orders of magnitude, and one shared axis would flatten all but one of them.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::xy::Axis;
use super::{err, house_mesh, text, LegendEntry, Look, MarkerShape, Ticked, FAMILY};

/// One bar.
#[derive(Clone, Debug, PartialEq)]
pub struct Bar {
    /// Legend text (the series).
    pub label: String,
    /// Bar colour.
    pub color: RGBColor,
    /// Its value; `None` leaves its slot empty (the series did not run here).
    pub value: Option<f64>,
    /// Printed above the bar.
    pub value_label: String,
}

/// One bar chart.
#[derive(Clone, Debug, PartialEq)]
pub struct BarPanel {
    /// Drawn above the plot.
    pub title: String,
    /// The value axis.
    pub y: Axis,
    /// The bars, left to right.
    pub bars: Vec<Bar>,
}

/// Width of the figure's legend strip.
pub(super) const LEGEND_WIDTH: u32 = 160;

pub(super) fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &BarPanel,
) -> Result<(), String> {
    let n = panel.bars.len().max(1) as f64;
    let y = &panel.y;
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, (FAMILY, text::PANEL_TITLE))
        .margin_top(8)
        .margin_right(16)
        .margin_left(8)
        .x_label_area_size(12)
        .y_label_area_size(84)
        .build_cartesian_2d(
            Ticked::new(0.0, n, Vec::new()),
            Ticked::new(y.min, y.max, y.positions()),
        )
        .map_err(err)?;
    let y_fmt = |v: &f64| y.label_at(*v);
    house_mesh(&mut chart.configure_mesh())
        .disable_x_mesh()
        .y_desc(y.label.as_str())
        .y_label_formatter(&y_fmt)
        .draw()
        .map_err(err)?;
    let above = (FAMILY, text::NOTE)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Center, VPos::Bottom));
    for (i, bar) in panel.bars.iter().enumerate() {
        let Some(v) = bar.value else { continue };
        let x0 = i as f64 + 0.12;
        let x1 = i as f64 + 0.88;
        let top = v.min(y.max);
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(x0, y.min), (x1, top)],
                bar.color.filled(),
            )))
            .map_err(err)?;
        chart
            .draw_series(std::iter::once(
                EmptyElement::at(((x0 + x1) / 2.0, top))
                    + Text::new(bar.value_label.clone(), (0, -3), above.clone()),
            ))
            .map_err(err)?;
    }
    Ok(())
}

/// The panel's legend: one square per bar, empty slots included (so every panel of a figure
/// lists the series in the same order).
pub(super) fn legend_entries(panel: &BarPanel) -> Vec<LegendEntry> {
    panel
        .bars
        .iter()
        .map(|b| LegendEntry {
            label: b.label.clone(),
            look: Look {
                color: b.color,
                marker: MarkerShape::Square,
                dashed: false,
            },
            line_only: false,
        })
        .collect()
}
