//! Training curves: one panel per [`Curve::panel`](crate::Curve), the
//! panel's curves as lines over epochs with a legend, panels two to a row.
//! Separate panels keep a loss near 2 from flattening a UA near 0.5.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::palette;
use super::{Chart, DrawError, Figure, Frame, Px, plain_mesh, render};
use crate::{Curve, ReportError};

/// Renders `curves` grouped into panels, titled with `name`; `None` when no
/// curve has a finite point.
pub fn training_curves(name: &str, curves: &[Curve]) -> Result<Option<Figure>, ReportError> {
    let layout = Layout::new(name, curves);
    (!layout.panels.is_empty())
        .then(|| render(&layout))
        .transpose()
}

const SMALL: f64 = 12.0;
const PANEL_W: f64 = 500.0;
const PANEL_H: f64 = 320.0;
const TOP: f64 = 48.0;

/// One panel: its name and curves (name, finite points).
struct Panel<'a> {
    name: &'a str,
    curves: Vec<(&'a str, Vec<(f64, f64)>)>,
}

struct Layout<'a> {
    frame: Frame,
    panels: Vec<Panel<'a>>,
    cols: usize,
}

impl<'a> Layout<'a> {
    fn new(name: &str, curves: &'a [Curve]) -> Self {
        // Panels in order of first appearance, so the caller controls it.
        let mut panels: Vec<Panel<'a>> = Vec::new();
        for c in curves {
            let points: Vec<(f64, f64)> = c
                .points
                .iter()
                .copied()
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .collect();
            if points.is_empty() {
                continue;
            }
            match panels.iter_mut().find(|p| p.name == c.panel) {
                Some(p) => p.curves.push((&c.name, points)),
                None => panels.push(Panel {
                    name: &c.panel,
                    curves: vec![(&c.name, points)],
                }),
            }
        }
        let cols = panels.len().clamp(1, 2);
        let rows = panels.len().div_ceil(cols);
        let (width, height) = (cols as f64 * PANEL_W, TOP + rows as f64 * PANEL_H);
        Layout {
            frame: Frame::new("Training curves", name, width, height),
            panels,
            cols,
        }
    }
}

impl Chart for Layout<'_> {
    fn frame(&self) -> &Frame {
        &self.frame
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        px: Px,
    ) -> Result<(), DrawError> {
        for (i, panel) in self.panels.iter().enumerate() {
            let (col, row) = (i % self.cols, i / self.cols);
            let area = root.clone().shrink(
                (px.u(col as f64 * PANEL_W), px.u(TOP + row as f64 * PANEL_H)),
                (px.u(PANEL_W), px.u(PANEL_H)),
            );
            draw_panel(&area, panel, px)?;
        }
        Ok(())
    }
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &Panel<'_>,
    px: Px,
) -> Result<(), DrawError> {
    let all = || panel.curves.iter().flat_map(|(_, p)| p.iter());
    let (mut x0, mut x1) = all().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &(x, _)| {
        (a.min(x), b.max(x))
    });
    let (mut y0, mut y1) = all().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &(_, y)| {
        (a.min(y), b.max(y))
    });
    // A single point or a flat line still needs a range to draw in.
    if x1 - x0 < 1e-12 {
        x0 -= 1.0;
        x1 += 1.0;
    }
    let pad = if y1 - y0 < 1e-12 {
        y0.abs().max(1.0) * 0.1
    } else {
        (y1 - y0) * 0.06
    };
    y0 -= pad;
    y1 += pad;

    let mut chart = ChartBuilder::on(area)
        .caption(
            panel.name,
            px.font(15.0, palette::TEXT, HPos::Center, VPos::Top),
        )
        .margin_left(px.u(8.0))
        .margin_right(px.u(20.0))
        .margin_bottom(px.u(6.0))
        .x_label_area_size(px.u(44.0))
        .y_label_area_size(px.u(62.0))
        .build_cartesian_2d(x0..x1, y0..y1)?;
    plain_mesh(&mut chart.configure_mesh(), px)
        .x_labels(8)
        .y_labels(6)
        .x_label_formatter(&|v| trim_number(*v))
        .y_label_formatter(&|v| trim_number(*v))
        .label_style(px.font(SMALL, palette::MUTED, HPos::Center, VPos::Center))
        .x_desc("epoch")
        .draw()?;

    for (k, (name, points)) in panel.curves.iter().enumerate() {
        let color = palette::SERIES[k % palette::SERIES.len()];
        let style = ShapeStyle::from(&color).stroke_width(px.u(2.0).max(1));
        chart
            .draw_series(std::iter::once(PathElement::new(points.clone(), style)))?
            .label(*name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + px.i(18.0), y)], style));
    }
    // The legend goes in the corner the curves leave free: where they end
    // high (a rising score), the lower right; otherwise (a falling loss)
    // the upper right.
    let ends_high = {
        let ends: Vec<f64> = panel
            .curves
            .iter()
            .filter_map(|(_, p)| p.last().map(|&(_, y)| y))
            .collect();
        let mean = ends.iter().sum::<f64>() / ends.len().max(1) as f64;
        (mean - y0) / (y1 - y0) > 0.5
    };
    chart
        .configure_series_labels()
        .position(if ends_high {
            SeriesLabelPosition::LowerRight
        } else {
            SeriesLabelPosition::UpperRight
        })
        .margin(px.u(10.0))
        .legend_area_size(px.u(26.0))
        .label_font(px.font(SMALL, palette::TEXT, HPos::Left, VPos::Center))
        .background_style(WHITE.mix(0.9))
        .border_style(px.hairline(palette::GRID))
        .draw()?;
    Ok(())
}

/// Tick labels without trailing zeros: `2`, `0.45`, `1.5e-3`.
fn trim_number(v: f64) -> String {
    if v != 0.0 && (v.abs() < 1e-3 || v.abs() >= 1e5) {
        return format!("{v:.1e}");
    }
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_string()
    } else {
        s.to_string()
    }
}
