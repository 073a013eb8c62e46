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
}

impl Functional {
    /// Every functional, in the reference tables' column order.
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

/// Functionals of every column of `frames` (frames x descriptors), in the
/// order of [`names`]. Statistics are accumulated in f64.
pub fn compute(frames: &Array2<f32>, functionals: &[Functional]) -> Vec<f32> {
    let mut out = Vec::with_capacity(frames.ncols() * functionals.len());
    for col in frames.axis_iter(Axis(1)) {
        let n = col.len().max(1) as f64;
        let mean = col.iter().map(|&v| v as f64).sum::<f64>() / n;
        let var = col.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
        let min = col.iter().copied().fold(f32::INFINITY, f32::min);
        let max = col.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        for f in functionals {
            out.push(match f {
                Functional::Mean => mean as f32,
                Functional::Std => var.sqrt() as f32,
                Functional::Min => min,
                Functional::Max => max,
                Functional::Range => max - min,
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
        let all = Functional::ALL;
        let v = compute(&frames, &all);
        assert_eq!(v[0], 2.5);
        assert!((v[1] - 1.118034).abs() < 1e-6);
        assert_eq!(&v[2..], &[1.0, 4.0, 3.0]);
        assert_eq!(names(&["x".into()], &all[..2]), ["x_mean", "x_std"]);
    }
}
