//! Short-time Fourier transform as librosa computes it for features:
//! `center=True` with zero padding of `n_fft / 2` on both sides, a periodic
//! Hann window of `win_length` centred in `n_fft`, and `1 + len / hop`
//! frames.
//!
//! The transform runs in f64 and its magnitudes are stored as f32, as
//! librosa does (its float64 window promotes the frames, and the result is
//! cast to complex64). The precision matters for faint bins: spectral
//! contrast's valleys near Nyquist sit at the FFT's rounding noise, which
//! an f32 transform raises by orders of magnitude.

use std::sync::Arc;

use ndarray::Array2;
use realfft::num_complex::Complex64;
use realfft::{RealFftPlanner, RealToComplex};

use crate::ExtractError;

pub struct Stft {
    n_fft: usize,
    hop: usize,
    window: Vec<f64>,
    fft: Arc<dyn RealToComplex<f64>>,
    frame: Vec<f64>,
    spectrum: Vec<Complex64>,
    scratch: Vec<Complex64>,
}

impl Stft {
    pub fn new(n_fft: usize, win_length: usize, hop: usize) -> Result<Self, ExtractError> {
        if n_fft == 0 || hop == 0 || win_length == 0 || win_length > n_fft {
            return Err(ExtractError::Params(format!(
                "need 0 < win_length ({win_length}) <= n_fft ({n_fft}) and hop_length ({hop}) > 0"
            )));
        }
        let fft = RealFftPlanner::<f64>::new().plan_fft_forward(n_fft);
        // scipy.signal.get_window("hann", win_length, fftbins=True), then
        // librosa.util.pad_center to n_fft.
        let mut window = vec![0f64; n_fft];
        let offset = (n_fft - win_length) / 2;
        for i in 0..win_length {
            let w = 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / win_length as f64).cos();
            window[offset + i] = w;
        }
        let spectrum = fft.make_output_vec();
        let scratch = fft.make_scratch_vec();
        Ok(Stft {
            n_fft,
            hop,
            window,
            fft,
            frame: vec![0.0; n_fft],
            spectrum,
            scratch,
        })
    }

    pub fn n_bins(&self) -> usize {
        self.n_fft / 2 + 1
    }

    pub fn n_frames(&self, len: usize) -> usize {
        1 + len / self.hop
    }

    /// Magnitude |X| and power |X|^2 spectrograms, frames x bins, filled in
    /// one pass. |X| comes from the f64 spectrum (so faint bins near
    /// Nyquist, which spectral contrast reads, keep their precision); the
    /// power is the square of the f32 magnitude, as librosa squares its
    /// float32 `abs(stft)`.
    pub fn magnitude_and_power(&mut self, signal: &[f32]) -> (Array2<f32>, Array2<f32>) {
        let shape = (self.n_frames(signal.len()), self.n_bins());
        let mut magnitude = Array2::zeros(shape);
        let mut power = Array2::zeros(shape);
        self.for_each_frame(signal, |t, spectrum| {
            let (mut m_row, mut p_row) = (magnitude.row_mut(t), power.row_mut(t));
            let m_row = m_row.as_slice_mut().expect("standard layout");
            let p_row = p_row.as_slice_mut().expect("standard layout");
            for ((m, p), c) in m_row.iter_mut().zip(p_row.iter_mut()).zip(spectrum) {
                *m = c.norm_sqr().sqrt() as f32;
                *p = *m * *m;
            }
        });
        (magnitude, power)
    }

    /// Run `f(frame_index, spectrum)` for every frame.
    pub fn for_each_frame(&mut self, signal: &[f32], mut f: impl FnMut(usize, &[Complex64])) {
        let half = (self.n_fft / 2) as isize;
        let len = signal.len() as isize;
        for t in 0..self.n_frames(signal.len()) {
            let start = t as isize * self.hop as isize - half;
            if start >= 0 && start + self.n_fft as isize <= len {
                // Interior frame: no padding to test for.
                let src = &signal[start as usize..start as usize + self.n_fft];
                for ((slot, &x), &w) in self.frame.iter_mut().zip(src).zip(&self.window) {
                    *slot = x as f64 * w;
                }
            } else {
                for (i, slot) in self.frame.iter_mut().enumerate() {
                    let j = start + i as isize;
                    let x = if j >= 0 && j < len {
                        signal[j as usize]
                    } else {
                        0.0
                    };
                    *slot = x as f64 * self.window[i];
                }
            }
            self.fft
                .process_with_scratch(&mut self.frame, &mut self.spectrum, &mut self.scratch)
                .expect("buffer sizes come from the plan");
            f(t, &self.spectrum);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_count_and_parseval_for_a_dc_frame() {
        let mut stft = Stft::new(8, 8, 4).unwrap();
        assert_eq!(stft.n_frames(16), 5);
        let (mag, power) = stft.magnitude_and_power(&[1.0; 16]);
        assert_eq!(mag.dim(), (5, 5));
        // The middle frame sees only ones: its DC bin is the window's sum.
        let wsum = stft.window.iter().sum::<f64>() as f32;
        assert!((mag[[2, 0]] - wsum).abs() < 1e-5);
        assert_eq!(power, mag.mapv(|m| m * m));
    }

    #[test]
    fn rejects_bad_sizes() {
        assert!(Stft::new(256, 400, 160).is_err());
        assert!(Stft::new(512, 400, 0).is_err());
    }
}
