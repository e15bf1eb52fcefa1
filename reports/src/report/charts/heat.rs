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

/// Where things go, in pixels: a strip of row names at the left, a row of column names on
/// top, then equal cells.
struct Grid {
    label_w: i32,
    head_h: i32,
    cell_w: i32,
    cell_h: i32,
}

impl Grid {
    fn of(size: (u32, u32), map: &HeatMap) -> Self {
        let (width, height) = size;
        let (label_w, head_h) = (170i32, 40i32);
        let cols = map.columns.len().max(1) as i32;
        let rows = map.rows.len().max(1) as i32;
        Grid {
            label_w,
            head_h,
            cell_w: ((width as i32 - label_w - 20) / cols).max(20),
            cell_h: ((height as i32 - head_h - 10) / rows).clamp(20, 70),
        }
    }

    /// The top left corner of cell (`row`, `column`).
    fn origin(&self, row: usize, column: usize) -> (i32, i32) {
        (
            self.label_w + column as i32 * self.cell_w,
            self.head_h + row as i32 * self.cell_h,
        )
    }
}

/// How a cell looks: its fill, its ink and its two lines of text.
struct CellLook {
    fill: RGBColor,
    ink: RGBColor,
    first: String,
    second: String,
}

impl CellLook {
    fn of(cell: Option<&HeatCell>) -> Self {
        match cell {
            Some(c) => CellLook {
                fill: shade(c.shade),
                ink: if c.shade > 0.55 { WHITE } else { BLACK },
                first: c.value.clone(),
                second: c.detail.clone(),
            },
            None => CellLook {
                fill: RGBColor(232, 232, 232),
                ink: RGBColor(110, 110, 110),
                first: "not run".to_string(),
                second: String::new(),
            },
        }
    }
}

/// Names of the rows and columns, row by row its name then its cells.
pub(super) fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    map: &HeatMap,
) -> Result<(), String> {
    let grid = Grid::of(area.dim_in_pixel(), map);
    let left = (FAMILY, text::AXIS)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Center));
    let head = (FAMILY, text::AXIS)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Center, VPos::Center));
    area.draw_text(&map.row_label, &left, (16, grid.head_h / 2))
        .map_err(err)?;
    for (c, name) in map.columns.iter().enumerate() {
        let x = grid.origin(0, c).0 + grid.cell_w / 2;
        area.draw_text(name, &head, (x, grid.head_h / 2))
            .map_err(err)?;
    }
    for (r, name) in map.rows.iter().enumerate() {
        let y0 = grid.origin(r, 0).1;
        area.draw_text(name, &left, (16, y0 + grid.cell_h / 2))
            .map_err(err)?;
        for c in 0..map.columns.len() {
            let cell = map
                .cells
                .get(r)
                .and_then(|row| row.get(c))
                .and_then(Option::as_ref);
            draw_cell(area, &grid, grid.origin(r, c), &CellLook::of(cell))?;
        }
    }
    Ok(())
}

/// One cell: its shade, then its value (and detail below it, when there is one) centred.
fn draw_cell<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    grid: &Grid,
    (x0, y0): (i32, i32),
    look: &CellLook,
) -> Result<(), String> {
    let corners = [
        (x0 + 1, y0 + 1),
        (x0 + grid.cell_w - 1, y0 + grid.cell_h - 1),
    ];
    area.draw(&Rectangle::new(corners, look.fill.filled()))
        .map_err(err)?;
    let (x, y) = (x0 + grid.cell_w / 2, y0 + grid.cell_h / 2);
    let center = Pos::new(HPos::Center, VPos::Center);
    let big = (FAMILY, text::AXIS + 2)
        .into_font()
        .color(&look.ink)
        .pos(center);
    let small = (FAMILY, text::NOTE)
        .into_font()
        .color(&look.ink)
        .pos(center);
    if look.second.is_empty() {
        area.draw_text(&look.first, &big, (x, y)).map_err(err)?;
    } else {
        area.draw_text(&look.first, &big, (x, y - 10))
            .map_err(err)?;
        area.draw_text(&look.second, &small, (x, y + 12))
            .map_err(err)?;
    }
    Ok(())
}
