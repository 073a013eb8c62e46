//! Per-class scores as grouped bars: precision, recall and F1 side by side
//! for each class on a shared 0–1 axis, with each class's test support under
//! its name.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::palette;
use super::{Chart, DrawError, Figure, Frame, Px, fit, plain_mesh, render, text_width};
use crate::{ClassScore, ReportError};

/// Renders grouped precision/recall/F1 bars of `classes`, titled with `name`.
pub fn per_class_scores(
    name: &str,
    classes: &[String],
    scores: &[ClassScore],
) -> Result<Figure, ReportError> {
    render(&Layout::new(name, classes, scores))
}

const LABEL: f64 = 14.0;
const SMALL: f64 = 12.0;
const SERIES: [&str; 3] = ["precision", "recall", "F1"];

struct Layout<'a> {
    frame: Frame,
    scores: &'a [ClassScore],
    labels: Vec<String>,
    slot: f64,
}

/// Margin, then space for the y axis title and tick labels.
const LEFT: f64 = 12.0;
const Y_AREA: f64 = 60.0;
const TOP: f64 = 76.0;
const X_AREA: f64 = 46.0;
const PLOT_H: f64 = 300.0;

impl<'a> Layout<'a> {
    fn new(name: &str, classes: &'a [String], scores: &'a [ClassScore]) -> Self {
        let n = classes.len().max(1) as f64;
        // A slot per class wide enough for three readable bars and the name;
        // at least the width of the legend overall.
        let slot = (760.0 / n).clamp(56.0, 96.0);
        let width = (LEFT + Y_AREA + slot * n + 24.0).max(560.0);
        let labels = classes.iter().map(|c| fit(c, LABEL, slot - 4.0)).collect();
        Layout {
            frame: Frame::new("Per-class scores", name, width, TOP + PLOT_H + X_AREA),
            scores,
            labels,
            slot,
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
        let n = self.scores.len();

        // Legend on its own line under the title, where no bar can reach it.
        let mut x = LEFT + Y_AREA;
        let legend = px.font(LABEL, palette::TEXT, HPos::Left, VPos::Center);
        for (k, label) in SERIES.iter().enumerate() {
            px.rect(
                root,
                (x, 46.0),
                (x + 14.0, 60.0),
                palette::SERIES[k].filled(),
            )?;
            px.text(root, label, (x + 20.0, 53.0), &legend)?;
            x += 20.0 + text_width(label, LABEL) + 24.0;
        }

        let plot_w = self.slot * n.max(1) as f64;
        let plot = root.clone().shrink(
            (px.u(LEFT), px.u(TOP)),
            (px.u(Y_AREA + plot_w), px.u(PLOT_H)),
        );
        let mut chart = ChartBuilder::on(&plot)
            .y_label_area_size(px.u(Y_AREA))
            .build_cartesian_2d(-0.5..(n.max(1) as f64 - 0.5), 0.0..1.0)?;
        plain_mesh(&mut chart.configure_mesh(), px)
            .disable_x_mesh()
            .x_labels(0)
            .y_labels(6)
            .y_label_formatter(&|v| format!("{v:.1}"))
            .label_style(px.font(SMALL, palette::MUTED, HPos::Right, VPos::Center))
            .y_desc("score")
            .draw()?;

        // Three bars per class filling 80% of the slot, a hairline apart.
        let bar = 0.8 / 3.0;
        for (i, s) in self.scores.iter().enumerate() {
            for (k, v) in [s.precision, s.recall, s.f1].into_iter().enumerate() {
                let v = if v.is_finite() {
                    v.clamp(0.0, 1.0)
                } else {
                    0.0
                };
                let x0 = i as f64 - 0.4 + k as f64 * bar;
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(x0 + 0.012, 0.0), (x0 + bar - 0.012, v)],
                    palette::SERIES[k].filled(),
                )))?;
            }
        }

        // Class names and supports under the axis, centred on their groups.
        let name_style = px.font(LABEL, palette::TEXT, HPos::Center, VPos::Top);
        let n_style = px.font(SMALL, palette::MUTED, HPos::Center, VPos::Top);
        for (i, (label, s)) in self.labels.iter().zip(self.scores).enumerate() {
            let (bx, by) = chart.backend_coord(&(i as f64, 0.0));
            let (cx, y) = (bx as f64 / px.k, by as f64 / px.k);
            px.text(root, label, (cx, y + 8.0), &name_style)?;
            px.text(
                root,
                &format!("n={}", s.support),
                (cx, y + 8.0 + LABEL + 4.0),
                &n_style,
            )?;
        }
        Ok(())
    }
}
