//! Line charts: series of points with optional min..max error bars, dashed horizontal
//! reference lines, dashed vertical markers, and a legend strip on the right.

use plotters::coord::cartesian::Cartesian2d;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::{
    draw_legend, draw_marker, err, house_mesh, text, LegendEntry, Look, MarkerShape, Ticked, FAMILY,
};
use crate::report::data::{Mark, Marks};

/// An axis: its label (with the unit), its range and its ticks, in the figure's coordinate.
#[derive(Clone, Debug, PartialEq)]
pub struct Axis {
    /// Label with unit, e.g. `throughput (requests/s)`.
    pub label: String,
    /// Lowest coordinate shown.
    pub min: f64,
    /// Highest coordinate shown.
    pub max: f64,
    /// Tick positions and their labels.
    pub ticks: Vec<(f64, String)>,
}

impl Axis {
    /// The label of the tick nearest `value` (plotters asks for labels by position).
    pub(crate) fn label_at(&self, value: f64) -> String {
        self.ticks
            .iter()
            .min_by(|a, b| (a.0 - value).abs().total_cmp(&(b.0 - value).abs()))
            .map(|t| t.1.clone())
            .unwrap_or_default()
    }

    /// The tick positions.
    pub(crate) fn positions(&self) -> Vec<f64> {
        self.ticks.iter().map(|t| t.0).collect()
    }
}

/// One point of a series; `spread` is (low, high) for an error bar.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct XyPoint {
    /// x coordinate.
    pub x: f64,
    /// y coordinate.
    pub y: f64,
    /// Error bar ends, when there is a spread to show.
    pub spread: Option<(f64, f64)>,
    /// Why the figure may not be the server's: drawn as a ring and letters at the marker.
    pub marks: Marks,
    /// The setting that tells this point from the others at its x, written beside it (`P4`:
    /// the cluster point drawn at K=1 had a pool of 4), when the chart chose among several.
    pub tag: Option<(char, u32)>,
}

/// A named series of points joined by a line.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Legend text.
    pub label: String,
    /// Colour, marker, dash.
    pub look: Look,
    /// Points in x order.
    pub points: Vec<XyPoint>,
}

/// A dashed horizontal line across the panel (a reference with one configuration).
#[derive(Clone, Debug, PartialEq)]
pub struct RefLine {
    /// Legend text.
    pub label: String,
    /// Colour and dash.
    pub look: Look,
    /// Its height, in the y coordinate.
    pub y: f64,
    /// Low..high band drawn as thin dotted lines, when there is a spread.
    pub spread: Option<(f64, f64)>,
}

/// A dashed vertical line (the machine's core count).
#[derive(Clone, Debug, PartialEq)]
pub struct Marker {
    /// Legend text.
    pub label: String,
    /// Its position, in the x coordinate.
    pub x: f64,
}

/// One line chart.
#[derive(Clone, Debug, PartialEq)]
pub struct XyPanel {
    /// Drawn above the plot when the figure has several panels.
    pub title: Option<String>,
    /// Horizontal axis.
    pub x: Axis,
    /// Vertical axis.
    pub y: Axis,
    /// The series.
    pub series: Vec<Series>,
    /// Horizontal reference lines.
    pub references: Vec<RefLine>,
    /// Vertical markers.
    pub markers: Vec<Marker>,
}

/// Width of a legend strip, in pixels.
pub(super) const LEGEND_WIDTH: u32 = 230;
const MARKER_GREY: RGBColor = RGBColor(120, 120, 120);

/// Draws the panel: plot on the left and, when `legend`, its legend strip on the right.
pub(super) fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &XyPanel,
    legend: bool,
) -> Result<(), String> {
    let (width, _) = area.dim_in_pixel();
    let (plot_area, legend_area) = if legend {
        area.split_horizontally(width.saturating_sub(LEGEND_WIDTH))
    } else {
        area.split_horizontally(width)
    };
    let mut builder = ChartBuilder::on(&plot_area);
    builder
        .margin_top(10)
        .margin_right(20)
        .margin_left(10)
        .x_label_area_size(52)
        .y_label_area_size(84);
    if let Some(title) = &panel.title {
        builder.caption(title, (FAMILY, text::PANEL_TITLE));
    }
    let (x, y) = (&panel.x, &panel.y);
    let mut chart = builder
        .build_cartesian_2d(
            Ticked::new(x.min, x.max, x.positions()),
            Ticked::new(y.min, y.max, y.positions()),
        )
        .map_err(err)?;
    let x_fmt = |v: &f64| x.label_at(*v);
    let y_fmt = |v: &f64| y.label_at(*v);
    house_mesh(&mut chart.configure_mesh())
        .x_desc(x.label.as_str())
        .y_desc(y.label.as_str())
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .draw()
        .map_err(err)?;
    let plot = chart.plotting_area();
    draw_guides(plot, panel)?;
    for series in &panel.series {
        draw_series(plot, series)?;
    }
    if legend {
        let top = if panel.title.is_some() { 40 } else { 14 };
        let below = draw_legend(&legend_area, &legend_entries(panel), top)?;
        draw_mark_legend(&legend_area, std::slice::from_ref(panel), below + 6)?;
    }
    Ok(())
}

/// The plotting area of a panel, in the panel's coordinates.
type Plot<DB> = DrawingArea<DB, Cartesian2d<Ticked, Ticked>>;

/// A dashed polyline.
fn dashed<DB: DrawingBackend>(
    plot: &Plot<DB>,
    points: Vec<(f64, f64)>,
    dash: u32,
    gap: u32,
    style: ShapeStyle,
) -> Result<(), String> {
    for element in DashedLineSeries::new(points, dash, gap, style) {
        plot.draw(&element).map_err(err)?;
    }
    Ok(())
}

/// Vertical markers, then horizontal references (with dotted min and max when they vary).
fn draw_guides<DB: DrawingBackend>(plot: &Plot<DB>, panel: &XyPanel) -> Result<(), String> {
    let (x, y) = (&panel.x, &panel.y);
    for marker in &panel.markers {
        let line = vec![(marker.x, y.min), (marker.x, y.max)];
        dashed(plot, line, 6, 5, MARKER_GREY.stroke_width(2))?;
    }
    for reference in &panel.references {
        let color = reference.look.color;
        let line = vec![(x.min, reference.y), (x.max, reference.y)];
        dashed(plot, line, 10, 6, color.stroke_width(2))?;
        if let Some((lo, hi)) = reference.spread {
            for level in [lo, hi] {
                let line = vec![(x.min, level), (x.max, level)];
                dashed(plot, line, 2, 6, color.mix(0.6).stroke_width(1))?;
            }
        }
    }
    Ok(())
}

/// A series: its line, its error bars, its markers.
fn draw_series<DB: DrawingBackend>(plot: &Plot<DB>, series: &Series) -> Result<(), String> {
    let style = series.look.color.stroke_width(2);
    let points: Vec<(f64, f64)> = series.points.iter().map(|p| (p.x, p.y)).collect();
    if series.look.dashed {
        dashed(plot, points.clone(), 9, 5, style)?;
    } else {
        plot.draw(&PathElement::new(points.clone(), style))
            .map_err(err)?;
    }
    for p in &series.points {
        if let Some((lo, hi)) = p.spread {
            draw_error_bar(plot, p.x, lo..hi, series.look)?;
        }
    }
    for &at in &points {
        draw_marker(plot, at, series.look)?;
    }
    for p in series.points.iter().filter(|p| !p.marks.is_empty()) {
        draw_ring(plot, (p.x, p.y), &p.marks.letters())?;
    }
    let font = (FAMILY, text::NOTE).into_font().color(&series.look.color);
    for p in &series.points {
        if let Some((letter, value)) = p.tag {
            let label = Text::new(format!("{letter}{value}"), (8, 4), font.clone());
            plot.draw(&(EmptyElement::at((p.x, p.y)) + label))
                .map_err(err)?;
        }
    }
    Ok(())
}

/// Colour of the rings and letters on points whose figure may not be the server's.
const FLAG_RED: RGBColor = RGBColor(200, 30, 30);

/// A ring around the marker at `at`, with `letters` above its right.
fn draw_ring<DB: DrawingBackend, CT: CoordTranslate<From = (f64, f64)>>(
    area: &DrawingArea<DB, CT>,
    at: (f64, f64),
    letters: &str,
) -> Result<(), String> {
    let font = (FAMILY, text::NOTE).into_font().color(&FLAG_RED);
    let ring = Circle::new((0, 0), 9, FLAG_RED.stroke_width(2));
    let label = Text::new(letters.to_string(), (9, -22), font);
    area.draw(&(EmptyElement::at(at) + ring + label))
        .map_err(err)
}

/// The legend entries of the marks the panels' points carry: ring, letter, meaning.
pub(super) fn draw_mark_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panels: &[XyPanel],
    top: i32,
) -> Result<(), String> {
    let all = panels
        .iter()
        .flat_map(|p| &p.series)
        .flat_map(|s| &s.points);
    let present: Vec<Mark> = all.flat_map(|p| p.marks.iter()).collect();
    let shown = Marks::of(&present);
    let font = (FAMILY, text::LEGEND).into_font().color(&BLACK);
    let mut y = top;
    for mark in shown.iter() {
        let ring = Circle::new((17, y + 7), 7, FLAG_RED.stroke_width(2));
        area.draw(&ring).map_err(err)?;
        let line = format!("{}: {}", mark.letter(), mark.label());
        area.draw_text(&line, &font, (38, y)).map_err(err)?;
        y += 24;
    }
    Ok(())
}

/// The panel's legend: series, then reference lines, then markers.
pub(super) fn legend_entries(panel: &XyPanel) -> Vec<LegendEntry> {
    let mut entries: Vec<LegendEntry> = panel
        .series
        .iter()
        .map(|s| LegendEntry {
            label: s.label.clone(),
            look: s.look,
            line_only: s.look.marker == MarkerShape::None,
        })
        .collect();
    entries.extend(panel.references.iter().map(|r| LegendEntry {
        label: r.label.clone(),
        look: Look {
            dashed: true,
            ..r.look
        },
        line_only: true,
    }));
    entries.extend(panel.markers.iter().map(|m| LegendEntry {
        label: m.label.clone(),
        look: Look {
            color: MARKER_GREY,
            marker: MarkerShape::None,
            dashed: true,
        },
        line_only: true,
    }));
    entries
}

/// A min..max bar with 10-pixel caps at `x`.
fn draw_error_bar<DB: DrawingBackend, CT: CoordTranslate<From = (f64, f64)>>(
    area: &DrawingArea<DB, CT>,
    x: f64,
    range: std::ops::Range<f64>,
    look: Look,
) -> Result<(), String> {
    let (lo, hi) = (range.start, range.end);
    let style = look.color.stroke_width(1);
    area.draw(&PathElement::new(vec![(x, lo), (x, hi)], style))
        .map_err(err)?;
    for end in [lo, hi] {
        area.draw(&(EmptyElement::at((x, end)) + PathElement::new(vec![(-5, 0), (5, 0)], style)))
            .map_err(err)?;
    }
    Ok(())
}

/// Ticks for a linear axis from `min` to `max`: about `target` round values (1, 2, 2.5 or 5
/// times a power of ten), labelled by `label`.
pub fn nice_ticks(
    min: f64,
    max: f64,
    target: usize,
    label: impl Fn(f64) -> String,
) -> Vec<(f64, String)> {
    if max <= min || max.is_nan() || min.is_nan() {
        return vec![(min, label(min))];
    }
    let raw = (max - min) / target.max(1) as f64;
    let power = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * power);
    let first = (min / step).ceil() as i64;
    let last = (max / step + 1e-9).floor() as i64;
    (first..=last)
        .map(|i| {
            let v = i as f64 * step;
            (v, label(v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::charts::{write, Body, Figure};

    fn figure(marks: Marks) -> Figure {
        let axis = |label: &str| Axis {
            label: label.into(),
            min: 0.0,
            max: 10.0,
            ticks: vec![(0.0, "0".into()), (10.0, "10".into())],
        };
        let point = |x, marks| XyPoint {
            x,
            y: 5.0,
            spread: None,
            marks,
            tag: (!marks.is_empty()).then_some(('P', 4)),
        };
        let series = Series {
            label: "loop".into(),
            look: Look {
                color: RGBColor(0, 0, 200),
                marker: MarkerShape::Circle,
                dashed: false,
            },
            points: vec![point(2.0, Marks::default()), point(6.0, marks)],
        };
        Figure {
            name: "marks".into(),
            title: "t".into(),
            note: String::new(),
            caption: String::new(),
            size: (700, 400),
            body: Body::Xy(vec![XyPanel {
                title: None,
                x: axis("x"),
                y: axis("y"),
                series: vec![series],
                references: Vec::new(),
                markers: Vec::new(),
            }]),
        }
    }

    #[test]
    fn a_marked_point_gets_a_ring_its_letters_and_a_legend_line() {
        let dir = tempfile::tempdir().unwrap();
        let marked = Marks::of(&[Mark::GeneratorLimited, Mark::UnderRate]);
        assert_eq!(marked.letters(), "GR");
        let svg = write(figure(marked), dir.path()).unwrap().svg;
        assert!(
            svg.contains("\nGR\n</text>"),
            "the letters beside the point"
        );
        assert!(svg.contains("G: generator-limited"), "{svg}");
        assert!(svg.contains("R: under the offered rate"));
        assert!(!svg.contains("B: machine busy"), "only the marks present");
        let plain = write(figure(Marks::default()), dir.path()).unwrap().svg;
        assert!(!plain.contains("generator-limited"));
        assert!(!plain.contains("#C81E1E"), "no ring without a mark");
        assert!(svg.contains("#C81E1E"), "the ring's colour");
        assert!(
            svg.contains("\nP4\n</text>"),
            "the chosen point's pool size beside it"
        );
        assert!(!plain.contains("\nP4\n</text>"));
    }
}
