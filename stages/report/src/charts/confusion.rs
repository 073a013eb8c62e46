//! The confusion-matrix heat map: rows are true classes, columns predicted
//! ones, each cell coloured by its share of the row (so classes of different
//! sizes compare), printed as a percentage with the raw count under it, and
//! a colour scale beside the grid.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::palette::{self, blues, ink_on};
use super::{Chart, DrawError, Figure, Frame, Px, fit, render, text_width};
use crate::ReportError;

/// Renders the row-normalised confusion matrix `confusion[true][pred]` of
/// `classes`, titled with `name`.
pub fn confusion_matrix(
    name: &str,
    classes: &[String],
    confusion: &[Vec<usize>],
) -> Result<Figure, ReportError> {
    render(&Layout::new(name, classes, confusion))
}

const LABEL: f64 = 14.0;
const AXIS_TITLE: f64 = 14.0;
const TICK: f64 = 12.0;

/// Positions of every part, in logical pixels.
struct Layout<'a> {
    frame: Frame,
    classes: &'a [String],
    confusion: &'a [Vec<usize>],
    cell: f64,
    /// Top-left corner of the grid.
    gx: f64,
    gy: f64,
    /// Column labels, shortened to their cell width.
    col_labels: Vec<String>,
    bar_x: f64,
}

impl<'a> Layout<'a> {
    fn new(name: &str, classes: &'a [String], confusion: &'a [Vec<usize>]) -> Self {
        let n = classes.len().max(1) as f64;
        // Cells big enough for "100.0%" over a count at 8 classes; with many
        // classes they shrink, down to what a two-digit percentage needs.
        let cell = (680.0 / n).clamp(40.0, 84.0);
        let row_label_w = classes
            .iter()
            .map(|c| text_width(c, LABEL))
            .fold(0.0, f64::max);
        let gx = 14.0 + AXIS_TITLE + 12.0 + row_label_w + 10.0;
        let gy = 56.0;
        let col_labels = classes.iter().map(|c| fit(c, LABEL, cell - 6.0)).collect();
        let bar_x = gx + cell * n + 28.0;
        let width = bar_x + 18.0 + 8.0 + text_width("100%", TICK) + 16.0;
        let height = gy + cell * n + 10.0 + LABEL + 14.0 + AXIS_TITLE + 14.0;
        Layout {
            frame: Frame::new("Confusion matrix", name, width, height),
            classes,
            confusion,
            cell,
            gx,
            gy,
            col_labels,
            bar_x,
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
        let n = self.classes.len();
        let (cell, gx, gy) = (self.cell, self.gx, self.gy);
        let grid = cell * n as f64;

        // Axis titles: "predicted" under the column labels, "true" rotated
        // left of the row labels, as in the usual confusion-matrix reading.
        let axis = px.font(AXIS_TITLE, palette::MUTED, HPos::Center, VPos::Top);
        px.text(
            root,
            "predicted class",
            (gx + grid / 2.0, gy + grid + 10.0 + LABEL + 12.0),
            &axis,
        )?;
        let axis_v = px
            .font(AXIS_TITLE, palette::MUTED, HPos::Center, VPos::Top)
            .transform(FontTransform::Rotate270);
        px.text(root, "true class", (14.0, gy + grid / 2.0), &axis_v)?;

        let row_style = px.font(LABEL, palette::TEXT, HPos::Right, VPos::Center);
        let col_style = px.font(LABEL, palette::TEXT, HPos::Center, VPos::Top);
        for (i, class) in self.classes.iter().enumerate() {
            let c = gy + (i as f64 + 0.5) * cell;
            px.text(root, class, (gx - 10.0, c), &row_style)?;
            px.text(
                root,
                &self.col_labels[i],
                (gx + (i as f64 + 0.5) * cell, gy + grid + 8.0),
                &col_style,
            )?;
        }

        // Two lines per cell when there is room, the count in a smaller font.
        let two_lines = cell >= 56.0;
        let pct_size = if cell >= 70.0 {
            14.0
        } else if cell >= 52.0 {
            12.0
        } else {
            10.5
        };
        let count_size = pct_size - 2.5;
        for (t, row) in self.confusion.iter().enumerate() {
            let total: usize = row.iter().sum();
            for (p, &count) in row.iter().enumerate() {
                let share = if total > 0 {
                    count as f64 / total as f64
                } else {
                    0.0
                };
                let bg = blues(share);
                let (x0, y0) = (gx + p as f64 * cell, gy + t as f64 * cell);
                px.rect(root, (x0, y0), (x0 + cell, y0 + cell), bg.filled())?;
                let (cx, cy) = (x0 + cell / 2.0, y0 + cell / 2.0);
                if total == 0 {
                    px.text(
                        root,
                        "–",
                        (cx, cy),
                        &px.font(pct_size, palette::MUTED, HPos::Center, VPos::Center),
                    )?;
                    continue;
                }
                if count == 0 {
                    // Zeros stay visible but quiet, so the eye goes to the
                    // cells where the errors are.
                    px.text(
                        root,
                        "0",
                        (cx, cy),
                        &px.font(count_size, palette::AXIS, HPos::Center, VPos::Center),
                    )?;
                    continue;
                }
                let ink = ink_on(bg);
                let pct = percent(share, cell);
                if two_lines {
                    px.text(
                        root,
                        &pct,
                        (cx, cy - 8.0),
                        &px.font(pct_size, ink, HPos::Center, VPos::Center),
                    )?;
                    px.text(
                        root,
                        &count.to_string(),
                        (cx, cy + 10.0),
                        &px.font(count_size, ink, HPos::Center, VPos::Center),
                    )?;
                } else {
                    px.text(
                        root,
                        &pct,
                        (cx, cy),
                        &px.font(pct_size, ink, HPos::Center, VPos::Center),
                    )?;
                }
            }
        }
        // Thin white lines between cells, and a frame around the grid.
        let sep = px.hairline(WHITE);
        for k in 1..n {
            let o = k as f64 * cell;
            px.segment(root, (gx + o, gy), (gx + o, gy + grid), sep)?;
            px.segment(root, (gx, gy + o), (gx + grid, gy + o), sep)?;
        }
        let frame = px.hairline(palette::AXIS);
        px.rect(root, (gx, gy), (gx + grid, gy + grid), frame)?;

        // Colour scale: thin bands from 0% (bottom) to 100% (top).
        let bx = self.bar_x;
        let steps = (grid * px.k).round().max(1.0) as usize;
        for s in 0..steps {
            let y1 = gy + grid - s as f64 * grid / steps as f64;
            let y0 = gy + grid - (s + 1) as f64 * grid / steps as f64;
            let c = blues((s as f64 + 0.5) / steps as f64);
            px.rect(root, (bx, y0), (bx + 18.0, y1), c.filled())?;
        }
        px.rect(root, (bx, gy), (bx + 18.0, gy + grid), frame)?;
        let tick_style = px.font(TICK, palette::MUTED, HPos::Left, VPos::Center);
        for k in 0..=4 {
            let v = k as f64 / 4.0;
            let y = gy + grid - v * grid;
            px.segment(root, (bx + 18.0, y), (bx + 22.0, y), frame)?;
            px.text(
                root,
                &format!("{}%", (v * 100.0).round()),
                (bx + 26.0, y),
                &tick_style,
            )?;
        }
        Ok(())
    }
}

/// A share as a percentage with as many decimals as the cell has room for.
fn percent(share: f64, cell: f64) -> String {
    if cell >= 70.0 && share < 0.9995 {
        format!("{:.1}%", share * 100.0)
    } else {
        format!("{:.0}%", share * 100.0)
    }
}
