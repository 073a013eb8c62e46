//! Utterance functionals: statistics of each frame-level descriptor over
//! the utterance, named `<descriptor>_<functional>`.

use ndarray::{Array2, Axis};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Functional {
    Mean,
    /// Population standard deviation (numpy's default, ddof = 0).
    Std,
    Min,
    Max,
    Range,
    /// Population skewness m3 / m2^1.5 (scipy.stats.skew, bias=True); 0
    /// for a constant descriptor.
    Skew,
    /// Excess kurtosis m4 / m2^2 - 3 (scipy.stats.kurtosis, Fisher,
    /// bias=True); 0 for a constant descriptor.
    Kurtosis,
    /// Percentiles with numpy's default linear interpolation.
    P01,
    P50,
    P99,
}

impl Functional {
    /// The reference set: mean, std, min, max, range, in the reference
    /// tables' column order.
    pub const ALL: [Functional; 5] = [
        Functional::Mean,
        Functional::Std,
        Functional::Min,
        Functional::Max,
        Functional::Range,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Functional::Mean => "mean",
            Functional::Std => "std",
            Functional::Min => "min",
            Functional::Max => "max",
            Functional::Range => "range",
            Functional::Skew => "skew",
            Functional::Kurtosis => "kurtosis",
            Functional::P01 => "p01",
            Functional::P50 => "p50",
            Functional::P99 => "p99",
        }
    }
}

/// Column names in output order: for each descriptor, each functional.
pub fn names(descriptors: &[String], functionals: &[Functional]) -> Vec<String> {
    descriptors
        .iter()
        .flat_map(|d| functionals.iter().map(move |f| format!("{d}_{}", f.name())))
        .collect()
}

/// Linear-interpolated percentile of sorted values (numpy's default).
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let pos = p / 100.0 * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Functionals of every column of `frames` (frames x descriptors), in the
/// order of [`names`]. Statistics are accumulated in f64.
pub fn compute(frames: &Array2<f32>, functionals: &[Functional]) -> Vec<f32> {
    let needs_sort = functionals
        .iter()
        .any(|f| matches!(f, Functional::P01 | Functional::P50 | Functional::P99));
    let mut sorted: Vec<f64> = Vec::new();
    let mut out = Vec::with_capacity(frames.ncols() * functionals.len());
    // Column-major copy, so each descriptor's values are contiguous.
    let by_column = frames.t().as_standard_layout().into_owned();
    for col in by_column.axis_iter(Axis(0)) {
        let n = col.len().max(1) as f64;
        let mean = col.iter().map(|&v| v as f64).sum::<f64>() / n;
        let moment = |k: i32| col.iter().map(|&v| (v as f64 - mean).powi(k)).sum::<f64>() / n;
        let var = moment(2);
        let min = col.iter().copied().fold(f32::INFINITY, f32::min);
        let max = col.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        if needs_sort {
            sorted.clear();
            sorted.extend(col.iter().map(|&v| v as f64));
            sorted.sort_by(f64::total_cmp);
        }
        // Below this variance a descriptor is constant up to rounding.
        let degenerate = var <= 1e-24 * mean.abs().max(1.0).powi(2);
        for f in functionals {
            out.push(match f {
                Functional::Mean => mean as f32,
                Functional::Std => var.sqrt() as f32,
                Functional::Min => min,
                Functional::Max => max,
                Functional::Range => max - min,
                Functional::Skew if degenerate => 0.0,
                Functional::Skew => (moment(3) / var.powf(1.5)) as f32,
                Functional::Kurtosis if degenerate => 0.0,
                Functional::Kurtosis => (moment(4) / (var * var) - 3.0) as f32,
                Functional::P01 => percentile(&sorted, 1.0) as f32,
                Functional::P50 => percentile(&sorted, 50.0) as f32,
                Functional::P99 => percentile(&sorted, 99.0) as f32,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_of_a_known_column() {
        let frames = Array2::from_shape_vec((4, 1), vec![1.0, 2.0, 3.0, 4.0]).unwrap();
        let v = compute(&frames, &Functional::ALL);
        assert_eq!(v[0], 2.5);
        assert!((v[1] - 1.118034).abs() < 1e-6);
        assert_eq!(&v[2..], &[1.0, 4.0, 3.0]);
        assert_eq!(
            names(&["x".into()], &Functional::ALL[..2]),
            ["x_mean", "x_std"]
        );
    }

    #[test]
    fn higher_moments_and_percentiles_match_scipy_and_numpy() {
        // scipy.stats.skew([1, 2, 3, 10]) = 1.01823376, kurtosis = -0.7696
        // numpy.percentile([1, 2, 3, 10], [1, 50, 99]) = [1.03, 2.5, 9.79]
        let frames = Array2::from_shape_vec((4, 1), vec![1.0, 2.0, 3.0, 10.0]).unwrap();
        let f = [
            Functional::Skew,
            Functional::Kurtosis,
            Functional::P01,
            Functional::P50,
            Functional::P99,
        ];
        let v = compute(&frames, &f);
        assert!((v[0] - 1.0182338).abs() < 1e-5, "{v:?}");
        assert!((v[1] + 0.7696).abs() < 1e-5, "{v:?}");
        assert!(
            (v[2] - 1.03).abs() < 1e-5 && (v[3] - 2.5).abs() < 1e-6 && (v[4] - 9.79).abs() < 1e-5,
            "{v:?}"
        );
        let constant = Array2::from_elem((5, 1), 3.0f32);
        assert_eq!(compute(&constant, &f[..2]), [0.0, 0.0]);
    }
}
