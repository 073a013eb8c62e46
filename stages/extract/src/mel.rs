//! Mel filterbank, dB conversion and the MFCC DCT, as in librosa
//! (`filters.mel(htk=False, norm="slaney")`, `power_to_db`,
//! `scipy.fft.dct(type=2, norm="ortho")`).

use ndarray::{Array2, Axis};

use crate::ExtractError;

const F_SP: f64 = 200.0 / 3.0;
const MIN_LOG_HZ: f64 = 1000.0;
const MIN_LOG_MEL: f64 = MIN_LOG_HZ / F_SP;

fn log_step() -> f64 {
    6.4f64.ln() / 27.0
}

/// Slaney's mel scale: linear below 1 kHz, logarithmic above.
pub fn hz_to_mel(hz: f64) -> f64 {
    if hz >= MIN_LOG_HZ {
        MIN_LOG_MEL + (hz / MIN_LOG_HZ).ln() / log_step()
    } else {
        hz / F_SP
    }
}

pub fn mel_to_hz(mel: f64) -> f64 {
    if mel >= MIN_LOG_MEL {
        MIN_LOG_HZ * (log_step() * (mel - MIN_LOG_MEL)).exp()
    } else {
        F_SP * mel
    }
}

/// Triangular filters, bands x FFT bins.
pub struct MelFilterbank {
    weights: Array2<f32>,
    /// Each band's non-zero bins: a triangle covers a few bins, so applying
    /// the bank band by band over these ranges skips ~95% of a dense product.
    support: Vec<std::ops::Range<usize>>,
}

impl MelFilterbank {
    pub fn slaney(
        sample_rate: f64,
        n_fft: usize,
        n_mels: usize,
        fmin: f64,
        fmax: f64,
    ) -> Result<Self, ExtractError> {
        if n_mels == 0 || !(0.0..fmax).contains(&fmin) || fmax > sample_rate / 2.0 + 1e-9 {
            return Err(ExtractError::Params(format!(
                "mel bands need n_mels > 0 and 0 <= fmin ({fmin}) < fmax ({fmax}) <= sample_rate/2"
            )));
        }
        let n_bins = n_fft / 2 + 1;
        let fft_freqs: Vec<f64> = (0..n_bins)
            .map(|k| k as f64 * sample_rate / n_fft as f64)
            .collect();
        let (mel_lo, mel_hi) = (hz_to_mel(fmin), hz_to_mel(fmax));
        let edges: Vec<f64> = (0..n_mels + 2)
            .map(|i| mel_to_hz(mel_lo + (mel_hi - mel_lo) * i as f64 / (n_mels + 1) as f64))
            .collect();
        let mut weights = Array2::<f32>::zeros((n_mels, n_bins));
        for m in 0..n_mels {
            let (lo, mid, hi) = (edges[m], edges[m + 1], edges[m + 2]);
            let enorm = 2.0 / (hi - lo);
            for (k, &f) in fft_freqs.iter().enumerate() {
                let lower = (f - lo) / (mid - lo);
                let upper = (hi - f) / (hi - mid);
                let w = lower.min(upper).max(0.0);
                weights[[m, k]] = (w * enorm) as f32;
            }
        }
        let support = weights
            .outer_iter()
            .map(|band| {
                let first = band.iter().position(|&w| w != 0.0).unwrap_or(0);
                let last = band
                    .iter()
                    .rposition(|&w| w != 0.0)
                    .map_or(first, |l| l + 1);
                first..last
            })
            .collect();
        Ok(MelFilterbank { weights, support })
    }

    /// Mel power spectrogram (frames x bands) of a power spectrogram
    /// (frames x bins).
    pub fn apply(&self, power: &Array2<f32>) -> Array2<f32> {
        let mut out = Array2::<f32>::zeros((power.nrows(), self.weights.nrows()));
        for (frame, mut mel) in power.outer_iter().zip(out.outer_iter_mut()) {
            let frame = frame.as_slice().expect("standard layout");
            for ((m, range), weights) in mel
                .iter_mut()
                .zip(&self.support)
                .zip(self.weights.outer_iter())
            {
                let w = &weights.as_slice().expect("standard layout")[range.clone()];
                *m = frame[range.clone()].iter().zip(w).map(|(p, w)| p * w).sum();
            }
        }
        out
    }
}

/// `librosa.power_to_db(S, ref=1.0, amin=1e-10, top_db)`: the floor is
/// relative to the maximum of the whole array.
pub fn power_to_db(power: &Array2<f32>, top_db: Option<f64>) -> Array2<f32> {
    let db = power.mapv(|p| 10.0 * p.max(1e-10).log10());
    match top_db {
        Some(top) => floor_db(db, top),
        None => db,
    }
}

/// Raise every value to at least `max - top_db` (the `top_db` step of
/// `power_to_db`).
pub fn floor_db(mut db: Array2<f32>, top_db: f64) -> Array2<f32> {
    let max = db.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let floor = max - top_db as f32;
    db.mapv_inplace(|v| v.max(floor));
    db
}

/// Orthonormal DCT-II basis, `n_out` x `n_in`: row k is
/// `s_k cos(pi k (2n + 1) / (2 n_in))` with `s_0 = sqrt(1/n_in)` and
/// `s_k = sqrt(2/n_in)` otherwise.
pub fn dct_ortho_matrix(n_out: usize, n_in: usize) -> Array2<f32> {
    let mut m = Array2::<f32>::zeros((n_out, n_in));
    for (k, mut row) in m.axis_iter_mut(Axis(0)).enumerate() {
        let scale = if k == 0 {
            (1.0 / n_in as f64).sqrt()
        } else {
            (2.0 / n_in as f64).sqrt()
        };
        for (n, v) in row.iter_mut().enumerate() {
            *v = (scale
                * (std::f64::consts::PI * k as f64 * (2 * n + 1) as f64 / (2 * n_in) as f64).cos())
                as f32;
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mel_scale_round_trips_and_matches_librosa_points() {
        for hz in [0.0, 440.0, 999.0, 1000.0, 4000.0, 8000.0] {
            assert!((mel_to_hz(hz_to_mel(hz)) - hz).abs() < 1e-9);
        }
        // librosa.hz_to_mel(1000) == 15, hz_to_mel(8000) == 45.245640471924965
        assert!((hz_to_mel(1000.0) - 15.0).abs() < 1e-12);
        assert!((hz_to_mel(8000.0) - 45.245640471924965).abs() < 1e-9);
    }

    #[test]
    fn dct_is_orthonormal() {
        let d = dct_ortho_matrix(8, 8);
        let eye = d.dot(&d.t());
        for i in 0..8 {
            for j in 0..8 {
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((eye[[i, j]] - want).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn top_db_floors_relative_to_the_maximum() {
        let p = Array2::from_shape_vec((1, 3), vec![1.0, 1e-3, 1e-12]).unwrap();
        let db = power_to_db(&p, Some(20.0));
        assert_eq!(db.as_slice().unwrap(), &[0.0, -20.0, -20.0]);
        let raw = power_to_db(&p, None);
        assert!((raw[[0, 2]] + 100.0).abs() < 1e-4);
    }
}
