//! Deltas of frame-level descriptors, as `librosa.feature.delta(width=9,
//! mode="interp")`: a Savitzky-Golay derivative over 9 frames. Inside the
//! sequence, order 1 is the least-squares slope and order 2 twice the
//! quadratic coefficient; in `interp` mode the first and last 4 frames take
//! the value of the polynomial fitted to the first or last 9 frames, which
//! for these orders is the value at frame 4 (or n - 5).

use ndarray::{Array2, Axis};

pub const WIDTH: usize = 9;

/// Order-`order` (1 or 2) deltas of every column of `values` (frames x
/// columns) along time. Needs at least [`WIDTH`] frames.
pub fn deltas(values: &Array2<f32>, order: usize) -> Option<Array2<f32>> {
    let n = values.nrows();
    if n < WIDTH || !(1..=2).contains(&order) {
        return None;
    }
    let half = (WIDTH / 2) as isize;
    let offsets: Vec<f64> = (-half..=half).map(|k| k as f64).collect();
    let coeffs: Vec<f64> = if order == 1 {
        let denom: f64 = offsets.iter().map(|k| k * k).sum();
        offsets.iter().map(|k| k / denom).collect()
    } else {
        let mean_sq = offsets.iter().map(|k| k * k).sum::<f64>() / WIDTH as f64;
        let denom: f64 = offsets.iter().map(|k| (k * k - mean_sq).powi(2)).sum();
        offsets
            .iter()
            .map(|k| 2.0 * (k * k - mean_sq) / denom)
            .collect()
    };
    let h = half as usize;
    let mut out = Array2::<f32>::zeros(values.dim());
    for (col_in, mut col_out) in values.axis_iter(Axis(1)).zip(out.axis_iter_mut(Axis(1))) {
        let centre = |t: usize| -> f32 {
            coeffs
                .iter()
                .enumerate()
                .map(|(j, c)| c * col_in[t + j - h] as f64)
                .sum::<f64>() as f32
        };
        for t in 0..n {
            col_out[t] = centre(t.clamp(h, n - 1 - h));
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivatives_of_polynomials() {
        let n = 20;
        let line = Array2::from_shape_fn((n, 1), |(t, _)| 3.0 * t as f32 + 1.0);
        let d1 = deltas(&line, 1).unwrap();
        assert!(d1.iter().all(|&v| (v - 3.0).abs() < 1e-4), "{d1:?}");
        let parabola = Array2::from_shape_fn((n, 1), |(t, _)| (t * t) as f32);
        let d2 = deltas(&parabola, 2).unwrap();
        assert!(d2.iter().all(|&v| (v - 2.0).abs() < 1e-3), "{d2:?}");
        let d1 = deltas(&parabola, 1).unwrap();
        // Interior: 2t; edges: the slope at frame 4 / n-5.
        assert!((d1[[10, 0]] - 20.0).abs() < 1e-3);
        assert!((d1[[0, 0]] - 8.0).abs() < 1e-3);
        assert!((d1[[n - 1, 0]] - 2.0 * (n - 5) as f32).abs() < 1e-3);
        assert!(deltas(&Array2::zeros((8, 1)), 1).is_none());
    }
}
