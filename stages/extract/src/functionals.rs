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

/// Sum of `f(x)` over `xs` in f64, in four independent partial sums: one
/// running sum makes every add wait for the one before it.
fn lane_sum(xs: &[f32], f: impl Fn(f64) -> f64) -> f64 {
    let mut lanes = [0f64; 4];
    let mut blocks = xs.chunks_exact(4);
    for block in &mut blocks {
        for l in 0..4 {
            lanes[l] += f(block[l] as f64);
        }
    }
    let tail: f64 = blocks.remainder().iter().map(|&v| f(v as f64)).sum();
    (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]) + tail
}

/// Smallest and largest value (NaNs ignored, as `f32::min`/`max` do).
fn min_max(xs: &[f32]) -> (f32, f32) {
    let mut lo = [f32::INFINITY; 8];
    let mut hi = [f32::NEG_INFINITY; 8];
    let mut blocks = xs.chunks_exact(8);
    for block in &mut blocks {
        for l in 0..8 {
            lo[l] = lo[l].min(block[l]);
            hi[l] = hi[l].max(block[l]);
        }
    }
    let fold = |init: (f32, f32), v: &f32| (init.0.min(*v), init.1.max(*v));
    let lanes = lo
        .iter()
        .zip(&hi)
        .fold((f32::INFINITY, f32::NEG_INFINITY), |acc, (l, h)| {
            (acc.0.min(*l), acc.1.max(*h))
        });
    blocks.remainder().iter().fold(lanes, fold)
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
        let col = col.to_slice().expect("rows of a standard-layout copy");
        let n = col.len().max(1) as f64;
        let mean = lane_sum(col, |v| v) / n;
        let moment = |k: i32| match k {
            2 => lane_sum(col, |v| (v - mean) * (v - mean)) / n,
            3 => lane_sum(col, |v| (v - mean) * (v - mean) * (v - mean)) / n,
            _ => lane_sum(col, |v| ((v - mean) * (v - mean)).powi(2)) / n,
        };
        let var = moment(2);
        let (min, max) = min_max(col);
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

    #[test]
    fn long_columns_equal_the_definitions() {
        // 37 frames (lanes plus a tail), two columns, one with its extremes
        // in the tail.
        let a: Vec<f32> = (0..37)
            .map(|i| ((i * 7919) % 37) as f32 * 0.5 - 3.0)
            .collect();
        let mut b: Vec<f32> = (0..37).map(|i| (i as f32).sin()).collect();
        b[36] = 9.0;
        b[35] = -9.0;
        let mut frames = Array2::<f32>::zeros((37, 2));
        for i in 0..37 {
            frames[[i, 0]] = a[i];
            frames[[i, 1]] = b[i];
        }
        let f = [
            Functional::Mean,
            Functional::Std,
            Functional::Min,
            Functional::Max,
            Functional::Skew,
            Functional::Kurtosis,
        ];
        let got = compute(&frames, &f);
        for (c, col) in [a, b].iter().enumerate() {
            let n = col.len() as f64;
            let mean = col.iter().map(|&v| v as f64).sum::<f64>() / n;
            let m = |k: i32| col.iter().map(|&v| (v as f64 - mean).powi(k)).sum::<f64>() / n;
            let want = [
                mean,
                m(2).sqrt(),
                col.iter().copied().fold(f32::INFINITY, f32::min) as f64,
                col.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64,
                m(3) / m(2).powf(1.5),
                m(4) / (m(2) * m(2)) - 3.0,
            ];
            for (k, w) in want.iter().enumerate() {
                let g = got[c * f.len() + k] as f64;
                assert!(
                    (g - w).abs() <= 1e-5 * w.abs().max(1.0),
                    "column {c}, {:?}: {g} vs {w}",
                    f[k]
                );
            }
        }
    }
}
