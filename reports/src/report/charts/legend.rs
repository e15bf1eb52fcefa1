//! Legends and point markers, drawn in pixels: legends live in a strip of their own beside
//! the plot (never over the data), one entry per series with its line, dash and marker, the
//! text wrapped to the strip's width.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{err, text, Look, MarkerShape, FAMILY};

/// One legend entry: a short line (dashed or not) with a marker, then the text.
pub(crate) struct LegendEntry {
    pub label: String,
    pub look: Look,
    /// Draw no marker (reference lines).
    pub line_only: bool,
}

/// Draws legend entries top to bottom in `area`, wrapping labels that do not fit; returns
/// the height below the last entry.
pub(crate) fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[LegendEntry],
    top: i32,
) -> Result<i32, String> {
    let font = (FAMILY, text::LEGEND).into_font().color(&BLACK);
    let (width, _) = area.dim_in_pixel();
    let text_width = width.saturating_sub(44) as usize;
    let mut y = top;
    for entry in entries {
        let color = entry.look.color;
        let style = color.stroke_width(2);
        let (x0, x1) = (4, 30);
        if entry.look.dashed {
            for x in (x0..x1).step_by(8) {
                area.draw(&PathElement::new(
                    vec![(x, y + 7), ((x + 4).min(x1), y + 7)],
                    style,
                ))
                .map_err(err)?;
            }
        } else {
            area.draw(&PathElement::new(vec![(x0, y + 7), (x1, y + 7)], style))
                .map_err(err)?;
        }
        if !entry.line_only {
            draw_marker(area, (17, y + 7), entry.look)?;
        }
        for line in wrap(area, &entry.label, text_width) {
            area.draw_text(&line, &font, (38, y)).map_err(err)?;
            y += 18;
        }
        y += 6;
    }
    Ok(y)
}

/// Splits `text` into lines no wider than `width` pixels, at spaces where possible.
pub(crate) fn wrap<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    width: usize,
) -> Vec<String> {
    let font = (FAMILY, text::LEGEND).into_text_style(area);
    let fits = |s: &str| {
        area.estimate_text_size(s, &font)
            .map(|(w, _)| (w as usize) <= width)
            .unwrap_or(true)
    };
    let mut lines = Vec::new();
    let mut current = String::new();
    for word in text.split(' ') {
        let candidate = if current.is_empty() {
            word.to_string()
        } else {
            format!("{current} {word}")
        };
        if fits(&candidate) || current.is_empty() {
            current = candidate;
        } else {
            lines.push(std::mem::replace(&mut current, word.to_string()));
        }
    }
    if !current.is_empty() {
        lines.push(current);
    }
    lines
}

/// Draws a marker centred on `at`, in the area's own coordinates (pixels for a plain area,
/// data coordinates for a chart's plotting area).
pub(crate) fn draw_marker<DB, CT>(
    area: &DrawingArea<DB, CT>,
    at: CT::From,
    look: Look,
) -> Result<(), String>
where
    DB: DrawingBackend,
    CT: CoordTranslate,
    CT::From: Clone,
{
    let fill = look.color.filled();
    let stroke = look.color.stroke_width(2);
    let anchor = || EmptyElement::at(at.clone());
    match look.marker {
        MarkerShape::Circle => area.draw(&(anchor() + Circle::new((0, 0), 4, fill))),
        MarkerShape::Triangle => {
            area.draw(&(anchor() + Polygon::new(vec![(0, -5), (-5, 4), (5, 4)], fill)))
        }
        MarkerShape::Square => area.draw(&(anchor() + Rectangle::new([(-4, -4), (4, 4)], fill))),
        MarkerShape::None => Ok(()),
        MarkerShape::Cross => area
            .draw(&(anchor() + PathElement::new(vec![(-4, -4), (4, 4)], stroke)))
            .and_then(|_| {
                area.draw(&(anchor() + PathElement::new(vec![(-4, 4), (4, -4)], stroke)))
            }),
    }
    .map_err(err)
}
