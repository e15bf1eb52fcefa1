//! Gantt charts: named rows (pool threads, a scenario's ops), one bar per task from its start
//! to its end, labelled inside when the label fits, coloured by kind of task. The pool
//! timelines of the report and `lab scenario --gantt` both draw through here.
//!
//! Layout rules:
//! 1. Rows are listed top down in [`Gantt::rows`]; every panel uses the same rows, kinds and
//!    time axis, so panels stacked top to bottom (looplab above Node) compare at a glance.
//! 2. Bars are laid out in pixels and are at least 3 pixels wide, so a sub-millisecond file
//!    trip still shows; with [`Gantt::end_dots`] a dot marks each end as well (`marks`).
//! 3. A bar with a `queued` time gets a thin grey line above it from submission to start,
//!    and the legend explains the line only when some bar has one.
//! 4. The legend lives in a strip of its own at the right, shared by all panels.

mod marks;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::xy::Axis;
use super::{draw_legend, err, house_mesh, text, LegendEntry, Look, MarkerShape, Ticked, FAMILY};
use marks::QUEUE_GREY;

/// One bar.
#[derive(Clone, Debug, PartialEq)]
pub struct GanttBar {
    /// Drawn inside the bar, or above it when the bar is too narrow; empty for none.
    pub label: String,
    /// Index into [`Gantt::rows`].
    pub row: usize,
    /// When the task was queued (submitted to the pool), in the x axis' unit; `None` draws
    /// no queue wait.
    pub queued: Option<f64>,
    /// Start, in the x axis' unit.
    pub start: f64,
    /// End, in the x axis' unit.
    pub end: f64,
    /// Index into [`Gantt::kinds`].
    pub kind: usize,
}

/// One panel: a title (may be empty) and its bars.
#[derive(Clone, Debug, PartialEq)]
pub struct GanttPanel {
    /// Drawn above the panel when not empty (`looplab`, `node`).
    pub title: String,
    /// The bars.
    pub bars: Vec<GanttBar>,
}

/// One Gantt chart: one or more panels stacked top down on the same rows and time axis.
#[derive(Clone, Debug, PartialEq)]
pub struct Gantt {
    /// Row names, top down (`thread 0`, or a scenario's labels in completion order).
    pub rows: Vec<String>,
    /// What the rows are (`pool thread`), written along the y axis; empty for none.
    pub row_label: String,
    /// Time axis.
    pub x: Axis,
    /// Kinds of task (legend text) and their colours.
    pub kinds: Vec<(String, RGBColor)>,
    /// A dot at each bar's end, so that an instant task shows as clearly as a long one.
    pub end_dots: bool,
    /// The panels, top down.
    pub panels: Vec<GanttPanel>,
}

const LEGEND_WIDTH: u32 = 170;
/// The y label area's least width; it grows for wider row names.
const MIN_ROW_NAMES_PX: u32 = 84;

/// A panel's chart: time across, rows as whole numbers from the bottom.
pub(super) type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<Ticked, Ticked>>;

pub(super) fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    gantt: &Gantt,
) -> Result<(), String> {
    let (width, _) = area.dim_in_pixel();
    let (plots, legend_area) = area.split_horizontally(width.saturating_sub(LEGEND_WIDTH));
    let areas = plots.split_evenly((gantt.panels.len().max(1), 1));
    for (panel, panel_area) in gantt.panels.iter().zip(&areas) {
        draw_panel(panel_area, gantt, panel)?;
    }
    draw_legend(&legend_area, &legend_entries(gantt), 14).map(|_| ())
}

/// Axes, then queue waits, bars, labels of narrow bars and end dots, in that order (later
/// marks are drawn over earlier ones).
fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    gantt: &Gantt,
    panel: &GanttPanel,
) -> Result<(), String> {
    let chart = draw_axes(area, gantt, &panel.title)?;
    let placed = marks::place_bars(&chart, gantt, &panel.bars);
    let pixels = chart.plotting_area().strip_coord_spec();
    marks::draw_queue_waits(&pixels, &placed)?;
    let narrow = marks::draw_bars(&pixels, &placed)?;
    marks::label_narrow_bars(&pixels, narrow)?;
    if gantt.end_dots {
        marks::draw_end_dots(&pixels, &placed)?;
    }
    Ok(())
}

/// The panel's title, time axis and named rows.
fn draw_axes<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    gantt: &Gantt,
    title: &str,
) -> Result<Chart<'a, DB>, String> {
    let rows = row_count(gantt);
    let x = &gantt.x;
    let mut builder = ChartBuilder::on(area);
    if !title.is_empty() {
        builder.caption(title, (FAMILY, text::PANEL_TITLE));
    }
    let mut chart = builder
        .margin_top(10)
        .margin_right(20)
        .margin_left(10)
        .x_label_area_size(52)
        .y_label_area_size(row_names_width(area, gantt)?)
        .build_cartesian_2d(
            Ticked::new(x.min, x.max, x.positions()),
            Ticked::new(
                -0.5,
                rows as f64 - 0.5,
                (0..rows).map(|r| r as f64).collect(),
            ),
        )
        .map_err(err)?;
    let x_fmt = |v: &f64| x.label_at(*v);
    let y_fmt = |v: &f64| {
        let top_down = rows as i64 - 1 - v.round() as i64;
        usize::try_from(top_down)
            .ok()
            .and_then(|r| gantt.rows.get(r))
            .cloned()
            .unwrap_or_default()
    };
    let mut mesh = chart.configure_mesh();
    house_mesh(&mut mesh)
        .disable_y_mesh()
        .x_desc(x.label.as_str())
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt);
    if !gantt.row_label.is_empty() {
        mesh.y_desc(gantt.row_label.as_str());
    }
    mesh.draw().map_err(err)?;
    Ok(chart)
}

/// Rows drawn: at least one, so an empty chart still has axes.
pub(super) fn row_count(gantt: &Gantt) -> usize {
    gantt.rows.len().max(1)
}

/// Width of the y label area: at least [`MIN_ROW_NAMES_PX`], more for wide row names.
fn row_names_width<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    gantt: &Gantt,
) -> Result<u32, String> {
    let font = (FAMILY, text::TICK).into_font().into_text_style(area);
    let mut widest = 0;
    for name in &gantt.rows {
        widest = widest.max(area.estimate_text_size(name, &font).map_err(err)?.0);
    }
    // Names end 10 px left of the axis; the row label, written upwards, needs a 20 px strip.
    let row_label_px = if gantt.row_label.is_empty() { 0 } else { 20 };
    Ok(MIN_ROW_NAMES_PX.max(widest + 10 + row_label_px))
}

/// One square per kind, then the queue-wait line when some bar has a wait.
fn legend_entries(gantt: &Gantt) -> Vec<LegendEntry> {
    let square = |(label, color): &(String, RGBColor)| LegendEntry {
        label: label.clone(),
        look: Look {
            color: *color,
            marker: MarkerShape::Square,
            dashed: false,
        },
        line_only: false,
    };
    let has_waits = gantt
        .panels
        .iter()
        .flat_map(|p| &p.bars)
        .any(|b| b.queued.is_some());
    let wait = LegendEntry {
        label: "waiting in the queue (from submission to start)".into(),
        look: Look {
            color: QUEUE_GREY,
            marker: MarkerShape::None,
            dashed: false,
        },
        line_only: true,
    };
    let mut entries: Vec<LegendEntry> = gantt.kinds.iter().map(square).collect();
    entries.extend(has_waits.then_some(wait));
    entries
}

#[cfg(test)]
mod tests {
    use super::super::{draw as draw_figure, palette, register_font, Body, Figure};
    use super::*;

    fn bar(row: usize, queued: Option<f64>, start: f64, end: f64) -> GanttBar {
        GanttBar {
            label: String::new(),
            row,
            queued,
            start,
            end,
            kind: 0,
        }
    }

    fn two_panels() -> Gantt {
        Gantt {
            rows: vec!["first-done".into(), "second-done".into()],
            row_label: String::new(),
            x: Axis {
                label: "ms since start".into(),
                min: 0.0,
                max: 10.0,
                ticks: vec![(0.0, "0".into()), (5.0, "5".into()), (10.0, "10".into())],
            },
            kinds: vec![("main".into(), palette::BLUE)],
            end_dots: true,
            panels: vec![
                GanttPanel {
                    title: "looplab".into(),
                    bars: vec![bar(0, None, 0.0, 2.0), bar(1, None, 0.0, 4.0)],
                },
                GanttPanel {
                    title: "node".into(),
                    bars: vec![bar(0, None, 1.0, 1.0), bar(1, None, 0.0, 6.0)],
                },
            ],
        }
    }

    fn svg_of(gantt: Gantt) -> String {
        register_font().expect("the embedded font");
        let figure = Figure {
            name: "test".into(),
            title: "test".into(),
            note: String::new(),
            caption: String::new(),
            size: (900, 500),
            body: Body::Gantt(gantt),
        };
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, figure.size).into_drawing_area();
            draw_figure(&root, &figure).expect("drawn");
            root.present().expect("presented");
        }
        svg
    }

    /// The `y` of every SVG text element that reads `text`, top down.
    fn text_ys(svg: &str, text: &str) -> Vec<i32> {
        let mut ys: Vec<i32> = svg
            .split("<text ")
            .filter_map(|element| {
                let (attributes, rest) = element.split_once('>')?;
                let (content, _) = rest.split_once("</text>")?;
                (content.trim() == text).then_some(attributes)
            })
            .filter_map(|a| a.split(" y=\"").nth(1)?.split('"').next()?.parse().ok())
            .collect();
        ys.sort();
        ys
    }

    #[test]
    fn rows_are_named_and_panels_stack_under_their_titles() {
        let svg = svg_of(two_panels());
        let (looplab, node) = (text_ys(&svg, "looplab"), text_ys(&svg, "node"));
        assert_eq!((looplab.len(), node.len()), (1, 1), "one title per panel");
        assert!(looplab[0] < node[0], "Node's panel is below looplab's");
        let (first, second) = (text_ys(&svg, "first-done"), text_ys(&svg, "second-done"));
        assert_eq!(
            (first.len(), second.len()),
            (2, 2),
            "each panel names every row"
        );
        assert!(
            first[0] < second[0] && second[0] < node[0],
            "rows top down in the first panel"
        );
        assert!(
            node[0] < first[1] && first[1] < second[1],
            "and again in the second"
        );
        assert!(!svg.contains("thread"), "no row is called a thread");
        assert_eq!(
            svg.matches("<circle").count(),
            4,
            "a dot at every bar's end"
        );
        assert!(!svg.contains("waiting in the queue"), "no bar waited");
    }

    #[test]
    fn a_queue_wait_gets_its_line_and_legend_entry() {
        let mut gantt = two_panels();
        gantt.end_dots = false;
        gantt.panels[1].bars[1] = bar(1, Some(0.0), 5.0, 6.0);
        let svg = svg_of(gantt);
        assert!(svg.contains("waiting in the queue"));
        assert_eq!(svg.matches("<circle").count(), 0, "no dots asked for");
    }
}
