//! The drawing layer: a [`Figure`] (title, note, one or more panels of one kind) drawn with
//! plotters as SVG, and that SVG rendered to PNG by resvg (real text shaping, so the PNG
//! reads like the SVG a browser shows); both written side by side.
//!
//! Invariants that keep charts legible:
//! 1. Every axis is linear in the coordinate the figure builder chose (log2 of a parallelism,
//!    "nines" of a percentile, log10 of a latency) with explicit ticks and labels, so tick
//!    labels are always the values a reader expects, never an interpolated 2.5 workers.
//! 2. Legends live in a strip of their own beside the plot, never over the data.
//! 3. Text is drawn with DejaVu Sans, embedded, registered once as `sans-serif` for plotters'
//!    layout and loaded into resvg's font database for the PNG (no system font library is
//!    used).
//! 4. Colours follow the strategy everywhere (Okabe-Ito palette, readable by colour-blind
//!    readers); variants of one strategy differ by marker and dash.

mod bars;
mod gantt;
mod heat;
mod legend;
mod xy;

use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

use super::ReportError;
use crate::store::write_file;
use looplab_workloads::deploy::Strategy;

pub use bars::{Bar, BarPanel};
pub use gantt::{Gantt, GanttBar, GanttPanel};
pub use heat::{HeatCell, HeatMap};
pub(crate) use legend::{draw_legend, draw_marker, LegendEntry};
pub use plotters::style::RGBColor;
pub use xy::{nice_ticks, Axis, Marker, RefLine, Series, XyPanel, XyPoint};

/// DejaVu Sans (see `reports/assets/LICENSE-DejaVuSans.txt`).
static FONT: &[u8] = include_bytes!("../../../assets/DejaVuSans.ttf");
/// The one family name every chart draws with.
pub const FAMILY: &str = "sans-serif";

/// Registers the embedded font as [`FAMILY`] (normal and bold) once per process.
pub fn register_font() -> Result<(), ReportError> {
    static ONCE: Once = Once::new();
    let mut result = Ok(());
    ONCE.call_once(|| {
        for style in [FontStyle::Normal, FontStyle::Bold] {
            if plotters::style::register_font(FAMILY, style, FONT).is_err() {
                result = Err(ReportError::Chart {
                    name: "font".into(),
                    message: "the embedded DejaVu Sans font does not parse".into(),
                });
            }
        }
    });
    result
}

/// A linear coordinate whose ticks are exactly the given positions (plotters' own
/// `with_key_points` loses the default formatter, so charts could not label their ticks).
#[derive(Clone, Debug)]
pub(crate) struct Ticked {
    min: f64,
    max: f64,
    ticks: Vec<f64>,
}

impl Ticked {
    pub(crate) fn new(min: f64, max: f64, ticks: Vec<f64>) -> Self {
        Self { min, max, ticks }
    }
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        if self.max <= self.min {
            return (limit.0 + limit.1) / 2;
        }
        let share = (value - self.min) / (self.max - self.min);
        limit.0 + (share * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        // Bold points only: light grid lines would fall between the chosen ticks.
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.min..self.max
    }
}

/// Sizes of text, in pixels.
pub(crate) mod text {
    pub const TITLE: u32 = 22;
    pub const PANEL_TITLE: u32 = 17;
    pub const AXIS: u32 = 16;
    pub const TICK: u32 = 14;
    pub const LEGEND: u32 = 14;
    pub const NOTE: u32 = 13;
}

/// How a series looks.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Look {
    /// Line and marker colour.
    pub color: RGBColor,
    /// Marker drawn at each point.
    pub marker: MarkerShape,
    /// Dashed line.
    pub dashed: bool,
}

/// Point markers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MarkerShape {
    /// Filled circle.
    Circle,
    /// Filled triangle.
    Triangle,
    /// Filled square.
    Square,
    /// A cross.
    Cross,
    /// No marker (dense lines such as a percentile spectrum).
    None,
}

/// The Okabe-Ito colours, readable by colour-blind readers; every chart picks from these.
pub mod palette {
    use plotters::style::RGBColor;

    /// Blue.
    pub const BLUE: RGBColor = RGBColor(0x00, 0x72, 0xB2);
    /// Orange.
    pub const ORANGE: RGBColor = RGBColor(0xE6, 0x9F, 0x00);
    /// Bluish green.
    pub const GREEN: RGBColor = RGBColor(0x00, 0x9E, 0x73);
    /// Vermillion.
    pub const VERMILLION: RGBColor = RGBColor(0xD5, 0x5E, 0x00);
    /// Reddish purple.
    pub const PURPLE: RGBColor = RGBColor(0xCC, 0x79, 0xA7);
    /// Sky blue.
    pub const SKY_BLUE: RGBColor = RGBColor(0x56, 0xB4, 0xE9);
}

/// The colour of a strategy.
pub fn strategy_color(strategy: Strategy) -> RGBColor {
    match strategy {
        Strategy::Loop => palette::BLUE,
        Strategy::LoopBlocking => palette::ORANGE,
        Strategy::Workers => palette::GREEN,
        Strategy::Cluster => palette::VERMILLION,
        Strategy::Tokio => palette::PURPLE,
        Strategy::Rayon => palette::SKY_BLUE,
    }
}

/// The look of the `variant`-th series of a strategy in one panel.
pub fn look(strategy: Strategy, variant: usize) -> Look {
    const SHAPES: [MarkerShape; 4] = [
        MarkerShape::Circle,
        MarkerShape::Triangle,
        MarkerShape::Square,
        MarkerShape::Cross,
    ];
    Look {
        color: strategy_color(strategy),
        marker: SHAPES[variant % SHAPES.len()],
        dashed: variant % 2 == 1,
    }
}

/// What a figure draws.
#[derive(Clone, Debug)]
pub enum Body {
    /// Line charts, side by side.
    Xy(Vec<XyPanel>),
    /// Bar charts in a grid of `columns` columns, one legend for all.
    Bars {
        /// The panels, row by row.
        panels: Vec<BarPanel>,
        /// Panels per row.
        columns: usize,
    },
    /// One Gantt chart, of one or more panels stacked top down.
    Gantt(Gantt),
    /// One heat map.
    Heat(HeatMap),
}

/// One chart file (PNG and SVG) and its place in the report.
#[derive(Clone, Debug)]
pub struct Figure {
    /// File stem, unique in a report: `throughput-hash`.
    pub name: String,
    /// Drawn at the top.
    pub title: String,
    /// One line drawn at the bottom (how points were chosen), may be empty.
    pub note: String,
    /// The longer caption under the chart in the HTML report.
    pub caption: String,
    /// Width and height in pixels.
    pub size: (u32, u32),
    /// What is drawn.
    pub body: Body,
}

/// A figure written to disk, with its SVG kept for inlining.
#[derive(Clone, Debug)]
pub struct ChartFiles {
    /// The figure.
    pub figure: Figure,
    /// The SVG text, as written.
    pub svg: String,
    /// Where the PNG went.
    pub png: PathBuf,
    /// Where the SVG went.
    pub svg_path: PathBuf,
}

/// Draws `figure` as `dir/NAME.svg` and `dir/NAME.png`.
pub fn write(figure: Figure, dir: &Path) -> Result<ChartFiles, ReportError> {
    register_font()?;
    let fail = |message: String| ReportError::Chart {
        name: figure.name.clone(),
        message,
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, figure.size).into_drawing_area();
        draw(&root, &figure).map_err(&fail)?;
        root.present().map_err(|e| fail(e.to_string()))?;
    }
    let svg_name = format!("{}.svg", figure.name);
    write_file(dir, &svg_name, svg.as_bytes())?;
    let png_name = format!("{}.png", figure.name);
    write_file(dir, &png_name, &rasterize(&svg).map_err(&fail)?)?;
    let (png, svg_path) = (dir.join(png_name), dir.join(svg_name));
    Ok(ChartFiles {
        figure,
        svg,
        png,
        svg_path,
    })
}

/// `figure` drawn into an RGB buffer and encoded as PNG, for callers that write the file
/// themselves (with [`write_file`], the lab's one atomic writer).
pub fn png_bytes(figure: &Figure) -> Result<Vec<u8>, ReportError> {
    register_font()?;
    let fail = |message: String| ReportError::Chart {
        name: figure.name.clone(),
        message,
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, figure.size).into_drawing_area();
        draw(&root, figure).map_err(&fail)?;
        root.present().map_err(|e| fail(e.to_string()))?;
    }
    rasterize(&svg).map_err(fail)
}

/// The chart's SVG rendered to PNG by resvg, with the embedded font and real text shaping
/// (kerning included), so the PNG reads like the SVG a browser shows. plotters' own bitmap
/// text path did not kern: "cluster" read "duster".
fn rasterize(svg: &str) -> Result<Vec<u8>, String> {
    use resvg::{tiny_skia, usvg};
    let mut options = usvg::Options::default();
    {
        let fonts = options.fontdb_mut();
        fonts.load_font_data(FONT.to_vec());
        fonts.set_sans_serif_family("DejaVu Sans");
    }
    options.font_family = "DejaVu Sans".to_string();
    let tree = usvg::Tree::from_str(svg, &options).map_err(|e| format!("read the SVG: {e}"))?;
    let size = tree.size().to_int_size();
    let mut pixmap = tiny_skia::Pixmap::new(size.width(), size.height())
        .ok_or_else(|| format!("a {}x{} image", size.width(), size.height()))?;
    pixmap.fill(tiny_skia::Color::WHITE);
    resvg::render(&tree, tiny_skia::Transform::default(), &mut pixmap.as_mut());
    pixmap
        .encode_png()
        .map_err(|e| format!("encode the PNG: {e}"))
}

/// The house style of every chart's mesh: tick and axis fonts, light grid lines, no minor
/// lines. Callers add what differs (which mesh lines, descriptions, label formatters).
pub(crate) fn house_mesh<'a, 'b, 'm, X, Y, DB>(
    mesh: &'m mut plotters::chart::MeshStyle<'a, 'b, X, Y, DB>,
) -> &'m mut plotters::chart::MeshStyle<'a, 'b, X, Y, DB>
where
    X: plotters::coord::ranged1d::Ranged<ValueType = f64>,
    Y: plotters::coord::ranged1d::Ranged<ValueType = f64>,
    DB: DrawingBackend,
{
    mesh.label_style((FAMILY, text::TICK))
        .axis_desc_style((FAMILY, text::AXIS))
        .bold_line_style(RGBColor(225, 225, 225))
        .light_line_style(TRANSPARENT)
}

/// Any plotters error as text.
pub(crate) fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// Title at the top, note at the bottom, the body's panels in between.
fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, figure: &Figure) -> Result<(), String> {
    root.fill(&WHITE).map_err(err)?;
    let body = draw_frame(root, figure)?;
    match &figure.body {
        Body::Xy(panels) if panels.len() == 1 => xy::draw(&body, &panels[0], true)?,
        Body::Xy(panels) => draw_xy_panels(&body, panels)?,
        Body::Bars { panels, columns } => draw_bar_panels(&body, panels, *columns)?,
        Body::Gantt(gantt) => gantt::draw(&body, gantt)?,
        Body::Heat(map) => heat::draw(&body, map)?,
    }
    Ok(())
}

/// The title and the note (when there is one); returns the area left for the body.
fn draw_frame<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    figure: &Figure,
) -> Result<DrawingArea<DB, Shift>, String> {
    let (_, height) = root.dim_in_pixel();
    let (head, rest) = root.split_vertically(44);
    head.draw_text(
        &figure.title,
        &(FAMILY, text::TITLE)
            .into_font()
            .style(FontStyle::Bold)
            .color(&BLACK),
        (16, 12),
    )
    .map_err(err)?;
    let note_height = if figure.note.is_empty() { 0 } else { 28 };
    let (body, foot) = rest.split_vertically(height - 44 - note_height);
    if !figure.note.is_empty() {
        foot.draw_text(
            &figure.note,
            &(FAMILY, text::NOTE)
                .into_font()
                .color(&RGBColor(80, 80, 80)),
            (16, 6),
        )
        .map_err(err)?;
    }
    Ok(body)
}

/// Line charts side by side, one legend for all (each label once).
fn draw_xy_panels<DB: DrawingBackend>(
    body: &DrawingArea<DB, Shift>,
    panels: &[XyPanel],
) -> Result<(), String> {
    let (width, _) = body.dim_in_pixel();
    let (plots, legend) = body.split_horizontally(width.saturating_sub(xy::LEGEND_WIDTH));
    let areas = plots.split_evenly((1, panels.len()));
    let mut entries: Vec<LegendEntry> = Vec::new();
    for (panel, area) in panels.iter().zip(&areas) {
        xy::draw(area, panel, false)?;
        add_new_entries(&mut entries, xy::legend_entries(panel));
    }
    let below = draw_legend(&legend, &entries, 40)?;
    xy::draw_mark_legend(&legend, panels, below + 6)
}

/// Bar charts in a grid of `columns` columns, one legend for all (each label once).
fn draw_bar_panels<DB: DrawingBackend>(
    body: &DrawingArea<DB, Shift>,
    panels: &[BarPanel],
    columns: usize,
) -> Result<(), String> {
    let (width, _) = body.dim_in_pixel();
    let (plots, legend) = body.split_horizontally(width.saturating_sub(bars::LEGEND_WIDTH));
    let columns = columns.max(1);
    let rows = panels.len().div_ceil(columns).max(1);
    let areas = plots.split_evenly((rows, columns));
    let mut entries: Vec<LegendEntry> = Vec::new();
    for (panel, area) in panels.iter().zip(&areas) {
        bars::draw(area, panel)?;
        add_new_entries(&mut entries, bars::legend_entries(panel));
    }
    draw_legend(&legend, &entries, 40).map(|_| ())
}

/// Appends the entries whose labels `entries` does not have yet.
fn add_new_entries(entries: &mut Vec<LegendEntry>, new: Vec<LegendEntry>) {
    for entry in new {
        if !entries.iter().any(|e| e.label == entry.label) {
            entries.push(entry);
        }
    }
}
