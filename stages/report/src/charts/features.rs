//! Features kept by selection: the most often kept features as horizontal
//! bars of the share of folds that kept each one, with the `kept/folds`
//! count at the bar's end. Names are long (`mfcc_12_delta2_kurtosis`), so
//! they get their own column, sized to the longest.

use std::cmp::Ordering;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::palette::{self, blues};
use super::{Chart, DrawError, Figure, Frame, Px, fit, render, text_width};
use crate::{FeatureKept, ReportError};

/// How many features the chart shows at most.
pub const TOP_FEATURES: usize = 30;

/// Renders the (at most [`TOP_FEATURES`]) features kept in the most folds,
/// titled with `name`; `None` when no feature was kept in any fold.
pub fn features_kept(name: &str, features: &[FeatureKept]) -> Result<Option<Figure>, ReportError> {
    let layout = Layout::new(name, features);
    (!layout.rows.is_empty())
        .then(|| render(&layout))
        .transpose()
}

const LABEL: f64 = 13.0;
const SMALL: f64 = 12.0;
const ROW: f64 = 22.0;
const BAR_W: f64 = 320.0;
const TOP: f64 = 74.0;
/// Longest feature label shown before it is shortened.
const MAX_LABEL_W: f64 = 300.0;

struct Layout<'a> {
    frame: Frame,
    subtitle: String,
    /// Shown features, most kept first, with their display labels.
    rows: Vec<(&'a FeatureKept, String)>,
    label_w: f64,
}

impl<'a> Layout<'a> {
    fn new(name: &str, features: &'a [FeatureKept]) -> Self {
        let share = |f: &FeatureKept| {
            if f.folds == 0 {
                0.0
            } else {
                f.kept as f64 / f.folds as f64
            }
        };
        let mut sorted: Vec<&FeatureKept> = features.iter().filter(|f| f.kept > 0).collect();
        // Most kept first; ties by name (numbers in names by value, so
        // mfcc_2 comes before mfcc_10) so the chart is the same every run.
        sorted.sort_by(|a, b| {
            share(b)
                .total_cmp(&share(a))
                .then(b.kept.cmp(&a.kept))
                .then_with(|| natural_cmp(&a.name, &b.name))
        });
        let in_all = features
            .iter()
            .filter(|f| f.folds > 0 && f.kept >= f.folds)
            .count();
        let in_any = sorted.len();
        let rows: Vec<(&FeatureKept, String)> = sorted
            .into_iter()
            .take(TOP_FEATURES)
            .map(|f| (f, fit(&f.name, LABEL, MAX_LABEL_W)))
            .collect();
        let label_w = rows
            .iter()
            .map(|(_, l)| text_width(l, LABEL))
            .fold(60.0, f64::max);
        let width =
            (16.0 + label_w + 12.0 + BAR_W + 12.0 + text_width("30/30", SMALL) + 20.0).max(560.0);
        let height = TOP + rows.len() as f64 * ROW + 40.0;
        let subtitle = format!(
            "top {} of {} features; {in_any} kept in at least one fold, {in_all} in every fold",
            rows.len(),
            features.len()
        );
        Layout {
            frame: Frame::new("Features kept by selection", name, width, height),
            subtitle,
            rows,
            label_w,
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
        px.text(
            root,
            &self.subtitle,
            (12.0, 42.0),
            &px.font(SMALL, palette::MUTED, HPos::Left, VPos::Top),
        )?;

        let bx = 16.0 + self.label_w + 12.0;
        let bottom = TOP + self.rows.len() as f64 * ROW;
        let thin = px.hairline(palette::GRID);
        let axis = px.hairline(palette::AXIS);
        // Gridlines at quarters of the folds, labelled under the bars.
        let tick = px.font(SMALL, palette::MUTED, HPos::Center, VPos::Top);
        for k in 0..=4 {
            let x = bx + BAR_W * k as f64 / 4.0;
            px.segment(root, (x, TOP - 4.0), (x, bottom), thin)?;
            px.text(root, &format!("{}%", k * 25), (x, bottom + 6.0), &tick)?;
        }
        px.text(
            root,
            "share of folds that kept the feature",
            (bx + BAR_W / 2.0, bottom + 22.0),
            &px.font(SMALL, palette::MUTED, HPos::Center, VPos::Top),
        )?;

        let label = px.font(LABEL, palette::TEXT, HPos::Right, VPos::Center);
        let count = px.font(SMALL, palette::TEXT, HPos::Left, VPos::Center);
        for (i, (f, text)) in self.rows.iter().enumerate() {
            let share = if f.folds == 0 {
                0.0
            } else {
                (f.kept as f64 / f.folds as f64).min(1.0)
            };
            let y = TOP + i as f64 * ROW;
            let cy = y + ROW / 2.0;
            px.text(root, text, (bx - 10.0, cy), &label)?;
            // Darker for features kept more often, so "always kept" reads
            // at a glance down the column.
            let color = blues(0.35 + 0.6 * share);
            px.rect(
                root,
                (bx, y + 3.0),
                (bx + BAR_W * share, y + ROW - 3.0),
                color.filled(),
            )?;
            px.text(
                root,
                &format!("{}/{}", f.kept, f.folds),
                (bx + BAR_W * share + 6.0, cy),
                &count,
            )?;
        }
        px.segment(root, (bx, TOP - 4.0), (bx, bottom), axis)?;
        Ok(())
    }
}

/// Compares names with runs of digits taken as numbers (`mfcc_2_std` <
/// `mfcc_10_std`), the rest character by character.
fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a, b);
    loop {
        match (a.chars().next(), b.chars().next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let da = a.find(|c: char| !c.is_ascii_digit()).unwrap_or(a.len());
                let db = b.find(|c: char| !c.is_ascii_digit()).unwrap_or(b.len());
                let (na, nb) = (
                    a[..da].trim_start_matches('0'),
                    b[..db].trim_start_matches('0'),
                );
                let ord = na
                    .len()
                    .cmp(&nb.len())
                    .then_with(|| na.cmp(nb))
                    .then(da.cmp(&db));
                if ord != Ordering::Equal {
                    return ord;
                }
                (a, b) = (&a[da..], &b[db..]);
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(&y);
                }
                (a, b) = (&a[x.len_utf8()..], &b[y.len_utf8()..]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order_reads_numbers_as_numbers() {
        let mut names = vec![
            "mfcc_10_std",
            "mfcc_2_std",
            "mfcc_1_std",
            "logmel_03",
            "logmel_3",
            "mfcc_2_mean",
            "rms",
        ];
        names.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            names,
            [
                "logmel_3",
                "logmel_03",
                "mfcc_1_std",
                "mfcc_2_mean",
                "mfcc_2_std",
                "mfcc_10_std",
                "rms"
            ]
        );
    }
}
