//! A panel's marks, laid out in pixels of its plotting area (so that a sub-millisecond task is
//! still [`MIN_BAR_PX`] wide), drawn in this order, later over earlier:
//! 1. queue waits, a thin grey line above the row from submission to start;
//! 2. bars, labelled inside when the label fits;
//! 3. labels of the bars too narrow for their own, shared by neighbours, above the row;
//! 4. end dots, when the chart asks for them.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::super::{err, text, FAMILY};
use super::{row_count, Chart, Gantt, GanttBar};

/// Colour of the queue-wait lines.
pub(super) const QUEUE_GREY: RGBColor = RGBColor(150, 150, 150);
/// The narrowest a bar is drawn, in pixels.
const MIN_BAR_PX: i32 = 3;
/// Narrow bars closer than this (pixels) share one label.
const GROUP_GAP_PX: i32 = 80;
/// Radius of the end dots, in pixels.
const DOT_PX: i32 = 4;

/// A bar laid out in pixels of the plotting area.
pub(super) struct PlacedBar {
    row: usize,
    /// Where its queue wait starts and the wait line's height, if it has one.
    queued: Option<(i32, i32)>,
    left: i32,
    right: i32,
    top: i32,
    bottom: i32,
    label: String,
    color: RGBColor,
}

/// The bars in pixels of the plotting area.
pub(super) fn place_bars<DB: DrawingBackend>(
    chart: &Chart<'_, DB>,
    gantt: &Gantt,
    bars: &[GanttBar],
) -> Vec<PlacedBar> {
    let rows = row_count(gantt);
    let row_y = |row: usize| (rows - 1 - row.min(rows - 1)) as f64;
    let plotting = chart.plotting_area();
    let base = plotting.get_base_pixel();
    let to_pixels = |x: f64, y: f64| {
        let (px, py) = plotting.map_coordinate(&(x, y));
        (px - base.0, py - base.1)
    };
    bars.iter()
        .map(|bar| {
            let y = row_y(bar.row);
            let (left, top) = to_pixels(bar.start, y + 0.32);
            let (right, bottom) = to_pixels(bar.end, y - 0.32);
            PlacedBar {
                row: bar.row,
                queued: bar.queued.map(|q| to_pixels(q, y + 0.40)),
                left,
                right: right.max(left + MIN_BAR_PX),
                top,
                bottom,
                label: bar.label.clone(),
                color: gantt.kinds.get(bar.kind).map_or(BLACK, |k| k.1),
            }
        })
        .collect()
}

fn label_font() -> FontDesc<'static> {
    (FAMILY, text::LEGEND).into_font()
}

/// Queue waits: a thin line just above the row, from submission to start, with a tick at
/// submission.
pub(super) fn draw_queue_waits<DB: DrawingBackend>(
    pixels: &DrawingArea<DB, Shift>,
    bars: &[PlacedBar],
) -> Result<(), String> {
    let style = QUEUE_GREY.stroke_width(2);
    for bar in bars {
        let Some((from, y)) = bar.queued.filter(|(q, _)| bar.left - q > MIN_BAR_PX) else {
            continue;
        };
        let to = bar.left;
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
pub(super) fn draw_bars<'a, DB: DrawingBackend>(
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
        if bar.label.is_empty() {
            continue;
        }
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
pub(super) fn label_narrow_bars<DB: DrawingBackend>(
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

/// A dot in the bar's colour at its end (the completion), over the bar's outline.
pub(super) fn draw_end_dots<DB: DrawingBackend>(
    pixels: &DrawingArea<DB, Shift>,
    bars: &[PlacedBar],
) -> Result<(), String> {
    for bar in bars {
        let centre = (bar.right, (bar.top + bar.bottom) / 2);
        pixels
            .draw(&Circle::new(centre, DOT_PX, bar.color.filled()))
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
