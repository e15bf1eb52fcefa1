//! A heat map drawn cell by cell in pixels: rows (strategies) by columns (workloads), each
//! cell shaded by a value in 0..=1 and printing its text, so the numbers are there to read and
//! the colour only guides the eye. Empty cells are grey.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{err, text, FAMILY};

/// One heat map.
#[derive(Clone, Debug, PartialEq)]
pub struct HeatMap {
    /// Row names (left).
    pub rows: Vec<String>,
    /// Column names (top).
    pub columns: Vec<String>,
    /// `cells[row][column]`; `None` for an empty cell.
    pub cells: Vec<Vec<Option<HeatCell>>>,
    /// What the rows are, drawn above the row names.
    pub row_label: String,
}

/// One cell of a heat map.
#[derive(Clone, Debug, PartialEq)]
pub struct HeatCell {
    /// Shade in 0..=1.
    pub shade: f64,
    /// First line, large.
    pub value: String,
    /// Second line, small (may be empty).
    pub detail: String,
}

/// White (0) to the `loop` blue (1).
fn shade(value: f64) -> RGBColor {
    let v = value.clamp(0.0, 1.0);
    let mix = |from: u8, to: u8| (f64::from(from) + (f64::from(to) - f64::from(from)) * v) as u8;
    RGBColor(mix(247, 0x08), mix(251, 0x45), mix(255, 0x94))
}

pub(super) fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    map: &HeatMap,
) -> Result<(), String> {
    let (width, height) = area.dim_in_pixel();
    let label_w = 170i32;
    let head_h = 40i32;
    let cols = map.columns.len().max(1) as i32;
    let rows = map.rows.len().max(1) as i32;
    let cell_w = ((width as i32 - label_w - 20) / cols).max(20);
    let cell_h = ((height as i32 - head_h - 10) / rows).clamp(20, 70);
    let center = Pos::new(HPos::Center, VPos::Center);
    let head = (FAMILY, text::AXIS).into_font().color(&BLACK).pos(center);
    area.draw_text(
        &map.row_label,
        &(FAMILY, text::AXIS)
            .into_font()
            .color(&BLACK)
            .pos(Pos::new(HPos::Left, VPos::Center)),
        (16, head_h / 2),
    )
    .map_err(err)?;
    for (c, name) in map.columns.iter().enumerate() {
        let x = label_w + c as i32 * cell_w + cell_w / 2;
        area.draw_text(name, &head, (x, head_h / 2)).map_err(err)?;
    }
    for (r, name) in map.rows.iter().enumerate() {
        let y0 = head_h + r as i32 * cell_h;
        area.draw_text(
            name,
            &(FAMILY, text::AXIS)
                .into_font()
                .color(&BLACK)
                .pos(Pos::new(HPos::Left, VPos::Center)),
            (16, y0 + cell_h / 2),
        )
        .map_err(err)?;
        for c in 0..map.columns.len() {
            let x0 = label_w + c as i32 * cell_w;
            let cell = map
                .cells
                .get(r)
                .and_then(|row| row.get(c))
                .cloned()
                .flatten();
            let corners = [(x0 + 1, y0 + 1), (x0 + cell_w - 1, y0 + cell_h - 1)];
            let (fill, ink, first, second) = match &cell {
                Some(c) => (
                    shade(c.shade),
                    if c.shade > 0.55 { WHITE } else { BLACK },
                    c.value.clone(),
                    c.detail.clone(),
                ),
                None => (
                    RGBColor(232, 232, 232),
                    RGBColor(110, 110, 110),
                    "not run".to_string(),
                    String::new(),
                ),
            };
            area.draw(&Rectangle::new(corners, fill.filled()))
                .map_err(err)?;
            let x = x0 + cell_w / 2;
            let y = y0 + cell_h / 2;
            let big = (FAMILY, text::AXIS + 2).into_font().color(&ink).pos(center);
            let small = (FAMILY, text::NOTE).into_font().color(&ink).pos(center);
            if second.is_empty() {
                area.draw_text(&first, &big, (x, y)).map_err(err)?;
            } else {
                area.draw_text(&first, &big, (x, y - 10)).map_err(err)?;
                area.draw_text(&second, &small, (x, y + 12)).map_err(err)?;
            }
        }
    }
    Ok(())
}
