//! Gantt charts of a pool's timeline: one row per pool thread (thread 0 on top), one bar per
//! task from the moment a thread took it to the moment it finished, labelled inside when the
//! label fits. Colours tell kinds of task apart (hashes, file trips).

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::xy::Axis;
use super::{draw_legend, err, text, LegendEntry, Look, MarkerShape, Ticked, FAMILY};

/// One bar.
#[derive(Clone, Debug, PartialEq)]
pub struct GanttBar {
    /// Drawn inside the bar.
    pub label: String,
    /// Row (pool thread index).
    pub row: u32,
    /// Queued (submitted to the pool), in the x axis' unit.
    pub queued: f64,
    /// Start, in the x axis' unit.
    pub start: f64,
    /// End, in the x axis' unit.
    pub end: f64,
    /// Index into [`Gantt::kinds`].
    pub kind: usize,
}

/// One Gantt chart.
#[derive(Clone, Debug, PartialEq)]
pub struct Gantt {
    /// Rows (pool threads).
    pub rows: u32,
    /// Time axis.
    pub x: Axis,
    /// Kinds of task (legend text) and their colours.
    pub kinds: Vec<(String, RGBColor)>,
    /// The bars.
    pub bars: Vec<GanttBar>,
}

const LEGEND_WIDTH: u32 = 170;
/// Colour of the queue-wait lines.
const QUEUE_GREY: RGBColor = RGBColor(150, 150, 150);
/// The narrowest a bar is drawn, in pixels.
const MIN_BAR_PX: i32 = 3;
/// Narrow bars closer than this (pixels) share one label.
const GROUP_GAP_PX: i32 = 80;

pub(super) fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    gantt: &Gantt,
) -> Result<(), String> {
    let (width, _) = area.dim_in_pixel();
    let (plot_area, legend_area) = area.split_horizontally(width.saturating_sub(LEGEND_WIDTH));
    let rows = gantt.rows.max(1);
    let row_y = |row: u32| f64::from(rows - 1 - row.min(rows - 1));
    let x = &gantt.x;
    let mut chart = ChartBuilder::on(&plot_area)
        .margin_top(10)
        .margin_right(20)
        .margin_left(10)
        .x_label_area_size(52)
        .y_label_area_size(84)
        .build_cartesian_2d(
            Ticked::new(x.min, x.max, x.positions()),
            Ticked::new(
                -0.5,
                f64::from(rows) - 0.5,
                (0..rows).map(f64::from).collect(),
            ),
        )
        .map_err(err)?;
    let x_fmt = |v: &f64| x.label_at(*v);
    let y_fmt = |v: &f64| format!("thread {}", rows as i64 - 1 - v.round() as i64);
    chart
        .configure_mesh()
        .disable_y_mesh()
        .x_desc(x.label.as_str())
        .y_desc("pool thread")
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .label_style((FAMILY, text::TICK))
        .axis_desc_style((FAMILY, text::AXIS))
        .bold_line_style(RGBColor(225, 225, 225))
        .light_line_style(TRANSPARENT)
        .draw()
        .map_err(err)?;
    let plotting = chart.plotting_area();
    // Bars are laid out in pixels, so that a sub-millisecond file trip is still 3 pixels wide.
    let base = plotting.get_base_pixel();
    let to_pixels = |x: f64, y: f64| {
        let (px, py) = plotting.map_coordinate(&(x, y));
        (px - base.0, py - base.1)
    };
    let placed: Vec<PlacedBar> = gantt
        .bars
        .iter()
        .map(|bar| {
            let y = row_y(bar.row);
            let (queued, wait_y) = to_pixels(bar.queued, y + 0.40);
            let (left, top) = to_pixels(bar.start, y + 0.32);
            let (right, bottom) = to_pixels(bar.end, y - 0.32);
            PlacedBar {
                row: bar.row,
                queued,
                wait_y,
                left,
                right: right.max(left + MIN_BAR_PX),
                top,
                bottom,
                label: bar.label.clone(),
                color: gantt.kinds.get(bar.kind).map_or(BLACK, |k| k.1),
            }
        })
        .collect();
    let pixels = plotting.strip_coord_spec();
    draw_queue_waits(&pixels, &placed)?;
    let narrow = draw_bars(&pixels, &placed)?;
    label_narrow_bars(&pixels, narrow)?;
    let entries: Vec<LegendEntry> = gantt
        .kinds
        .iter()
        .map(|(label, color)| LegendEntry {
            label: label.clone(),
            look: Look {
                color: *color,
                marker: MarkerShape::Square,
                dashed: false,
            },
            line_only: false,
        })
        .chain(std::iter::once(LegendEntry {
            label: "waiting in the queue (from submission to start)".into(),
            look: Look {
                color: QUEUE_GREY,
                marker: MarkerShape::None,
                dashed: false,
            },
            line_only: true,
        }))
        .collect();
    draw_legend(&legend_area, &entries, 14)
}

/// A bar laid out in pixels of the plotting area.
struct PlacedBar {
    row: u32,
    /// Where its queue wait starts, and the wait line's height.
    queued: i32,
    wait_y: i32,
    left: i32,
    right: i32,
    top: i32,
    bottom: i32,
    label: String,
    color: RGBColor,
}

fn label_font() -> FontDesc<'static> {
    (FAMILY, text::LEGEND).into_font()
}

/// Queue waits: a thin line just above the row, from submission to start, with a tick at
/// submission.
fn draw_queue_waits<DB: DrawingBackend>(
    pixels: &DrawingArea<DB, Shift>,
    bars: &[PlacedBar],
) -> Result<(), String> {
    let style = QUEUE_GREY.stroke_width(2);
    for bar in bars.iter().filter(|b| b.left - b.queued > MIN_BAR_PX) {
        let (from, to, y) = (bar.queued, bar.left, bar.wait_y);
        pixels
            .draw(&PathElement::new(vec![(from, y), (to, y)], style))
            .map_err(err)?;
        pixels
            .draw(&PathElement::new(vec![(from, y - 3), (from, y + 3)], style))
            .map_err(err)?;
    }
    Ok(())
}

/// The bars, labelled inside when the label fits; returns those it could not label.
fn draw_bars<'a, DB: DrawingBackend>(
    pixels: &DrawingArea<DB, Shift>,
    bars: &'a [PlacedBar],
) -> Result<Vec<&'a PlacedBar>, String> {
    let measure = label_font().into_text_style(pixels);
    let inside = label_font()
        .color(&WHITE)
        .pos(Pos::new(HPos::Center, VPos::Center));
    let mut narrow = Vec::new();
    for bar in bars {
        let corners = [(bar.left, bar.top), (bar.right, bar.bottom)];
        pixels
            .draw(&Rectangle::new(corners, bar.color.filled()))
            .map_err(err)?;
        pixels
            .draw(&Rectangle::new(corners, BLACK.mix(0.6).stroke_width(1)))
            .map_err(err)?;
        let (text_w, _) = pixels
            .estimate_text_size(&bar.label, &measure)
            .map_err(err)?;
        if bar.right - bar.left > text_w as i32 + 6 {
            let centre = ((bar.left + bar.right) / 2, (bar.top + bar.bottom) / 2);
            pixels
                .draw(&Text::new(bar.label.clone(), centre, inside.clone()))
                .map_err(err)?;
        } else {
            narrow.push(bar);
        }
    }
    Ok(narrow)
}

/// Labels bars too narrow to hold their own: neighbours on a row (closer than
/// [`GROUP_GAP_PX`]) share one label, `FS fstat, read, close`, written in the gap above the
/// row on a white box, starting at the group's first bar.
fn label_narrow_bars<DB: DrawingBackend>(
    pixels: &DrawingArea<DB, Shift>,
    mut narrow: Vec<&PlacedBar>,
) -> Result<(), String> {
    let measure = &label_font().into_text_style(pixels);
    narrow.sort_by_key(|n| (n.row, n.left));
    let mut groups: Vec<Vec<&PlacedBar>> = Vec::new();
    for bar in narrow {
        match groups.last_mut() {
            Some(g) if g[0].row == bar.row && bar.left - g[g.len() - 1].right < GROUP_GAP_PX => {
                g.push(bar)
            }
            _ => groups.push(vec![bar]),
        }
    }
    for group in groups {
        let labels: Vec<&str> = group.iter().map(|b| b.label.as_str()).collect();
        let text = join_labels(&labels);
        let (left, top, color) = (group[0].left, group[0].top, group[0].color);
        let (w, h) = pixels.estimate_text_size(&text, measure).map_err(err)?;
        let (w, h) = (w as i32, h as i32);
        let box_corners = [(left - 2, top - h - 5), (left + w + 2, top - 2)];
        pixels
            .draw(&Rectangle::new(box_corners, WHITE.mix(0.9).filled()))
            .map_err(err)?;
        let ink = RGBColor(color.0 / 2, color.1 / 2, color.2 / 2);
        let style = measure
            .clone()
            .color(&ink)
            .pos(Pos::new(HPos::Left, VPos::Bottom));
        pixels
            .draw(&Text::new(text, (left, top - 3), style))
            .map_err(err)?;
    }
    Ok(())
}

/// `FS open`, `FS fstat` → `FS open, fstat`: a shared first word is written once.
fn join_labels(labels: &[&str]) -> String {
    let first_word = |l: &str| l.split(' ').next().unwrap_or("").to_string();
    let prefix = labels.first().map(|l| first_word(l)).unwrap_or_default();
    let shared = labels.len() > 1
        && labels
            .iter()
            .all(|l| first_word(l) == prefix && l.len() > prefix.len());
    if shared {
        let rest: Vec<&str> = labels.iter().map(|l| l[prefix.len()..].trim()).collect();
        format!("{prefix} {}", rest.join(", "))
    } else {
        labels.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::join_labels;

    #[test]
    fn labels_of_neighbouring_trips_share_their_first_word() {
        assert_eq!(join_labels(&["FS open"]), "FS open");
        assert_eq!(
            join_labels(&["FS fstat", "FS read", "FS close"]),
            "FS fstat, read, close"
        );
        assert_eq!(join_labels(&["FS read", "hash 2"]), "FS read, hash 2");
    }
}
