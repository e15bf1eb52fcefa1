//! `lab scenario --gantt PNG`: the completions as a Gantt chart.
//!
//! One row per label (in looplab's completion order, top down), one bar per op from when it
//! was issued to when it completed, coloured by where its work ran (main thread, pool, worker),
//! with a dot at the completion so instant ops show too. With `--node` a second panel below
//! shows Node's run on the same rows and the same time axis. Text uses the report's embedded
//! font (`looplab_reports::report::charts::register_font`), so no system font is needed.

use std::path::Path;

use anyhow::{anyhow, Result};
use looplab_reports::report::charts::{register_font, FAMILY};
use looplab_workloads::scenario::Timeline;
use plotters::coord::Shift;
use plotters::prelude::*;

const WIDTH: u32 = 1100;
const ROW_PX: u32 = 22;
const TITLE_PX: u32 = 44;

/// Where the work ran, as a colour (Okabe-Ito) and a legend name.
fn thread_look(thread: &str) -> (RGBColor, &'static str) {
    if thread.starts_with("pool") {
        (RGBColor(0xE6, 0x9F, 0x00), "pool")
    } else if thread.starts_with("worker") {
        (RGBColor(0x00, 0x9E, 0x73), "worker")
    } else {
        (RGBColor(0x00, 0x72, 0xB2), "main")
    }
}

/// Draws `panels` (a name and a timeline each, looplab first) into the PNG at `path`.
pub fn draw(path: &Path, title: &str, panels: &[(&str, &Timeline)]) -> Result<()> {
    register_font().map_err(|e| anyhow!("{e}"))?;
    let Some((_, first)) = panels.first() else {
        return Ok(());
    };
    let rows: Vec<&str> = first.completions.iter().map(|c| c.label.as_str()).collect();
    let panel_px = 70 + ROW_PX * rows.len().max(1) as u32;
    let height = TITLE_PX + panel_px * panels.len() as u32;
    let max_ms = panels.iter().map(|(_, t)| t.total_ms()).fold(1.0, f64::max) * 1.05;
    let root = BitMapBackend::new(path, (WIDTH, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    let (head, body) = root.split_vertically(TITLE_PX);
    draw_title(&head, title).map_err(|e| anyhow!("{e}"))?;
    let areas = body.split_evenly((panels.len(), 1));
    for ((name, timeline), area) in panels.iter().zip(&areas) {
        draw_panel(area, name, timeline, &rows, max_ms).map_err(|e| anyhow!("{e}"))?;
    }
    root.present()
        .map_err(|e| anyhow!("cannot write {}: {e}", path.display()))?;
    Ok(())
}

fn draw_title<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
) -> Result<(), String> {
    let font = (FAMILY, 20).into_font().color(&BLACK);
    area.draw_text(&format!("scenario {title}"), &font, (14, 12))
        .map_err(|e| e.to_string())?;
    let mut x = WIDTH as i32 - 330;
    for thread in ["main", "pool", "worker"] {
        let (color, name) = thread_look(thread);
        area.draw(&Rectangle::new([(x, 16), (x + 14, 30)], color.filled()))
            .map_err(|e| e.to_string())?;
        area.draw_text(name, &(FAMILY, 15).into_font().color(&BLACK), (x + 20, 15))
            .map_err(|e| e.to_string())?;
        x += 100;
    }
    Ok(())
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    name: &str,
    timeline: &Timeline,
    rows: &[&str],
    max_ms: f64,
) -> Result<(), String> {
    let n = rows.len().max(1);
    let row_y = |label: &str| {
        rows.iter()
            .position(|r| *r == label)
            .map(|i| (n - 1 - i) as f64)
    };
    let label_of = |y: &f64| {
        let i = n as i64 - 1 - y.round() as i64;
        usize::try_from(i)
            .ok()
            .and_then(|i| rows.get(i))
            .map_or(String::new(), |s| s.to_string())
    };
    let mut chart = ChartBuilder::on(area)
        .caption(name, (FAMILY, 17))
        .margin(8)
        .margin_right(24)
        .x_label_area_size(40)
        .y_label_area_size(170)
        .build_cartesian_2d(0.0..max_ms, -0.5..(n as f64 - 0.5))
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(n)
        .y_label_formatter(&label_of)
        .x_desc("ms since start")
        .label_style((FAMILY, 13))
        .axis_desc_style((FAMILY, 14))
        .light_line_style(TRANSPARENT)
        .draw()
        .map_err(|e| e.to_string())?;
    for c in &timeline.completions {
        let Some(y) = row_y(&c.label) else {
            continue;
        };
        let (color, _) = thread_look(&c.thread);
        chart
            .draw_series([
                Rectangle::new(
                    [(c.start_ms, y - 0.3), (c.ms, y + 0.3)],
                    color.mix(0.8).filled(),
                ),
                Rectangle::new([(c.start_ms, y - 0.3), (c.ms, y + 0.3)], BLACK.mix(0.5)),
            ])
            .map_err(|e| e.to_string())?;
        chart
            .draw_series([Circle::new((c.ms, y), 4, color.filled())])
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}
