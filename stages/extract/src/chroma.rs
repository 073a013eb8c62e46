//! Chromagram from a power spectrogram, as `librosa.feature.chroma_stft`
//! with a given tuning: `librosa.filters.chroma` (Gaussian bumps around
//! each pitch class, L2-normalised per FFT bin, weighted towards octave 5,
//! starting at C) applied to the power spectrum, then each frame scaled by
//! its maximum.

use ndarray::{Array2, Axis};

pub struct ChromaFilterbank {
    /// Pitch classes x FFT bins.
    weights: Array2<f32>,
}

impl ChromaFilterbank {
    pub fn new(sample_rate: f64, n_fft: usize, n_chroma: usize, tuning: f64) -> ChromaFilterbank {
        let nc = n_chroma as f64;
        // Frequencies of all n_fft bins but DC (librosa builds the full,
        // aliased bank and drops the upper half at the end).
        let a440 = 440.0 * 2f64.powf(tuning / nc);
        let mut frqbins: Vec<f64> = (1..n_fft)
            .map(|k| {
                let f = k as f64 * sample_rate / n_fft as f64;
                nc * (f / (a440 / 16.0)).log2()
            })
            .collect();
        // DC gets a made-up position 1.5 octaves below bin 1.
        frqbins.insert(0, frqbins[0] - 1.5 * nc);
        let mut widths: Vec<f64> = frqbins.windows(2).map(|w| (w[1] - w[0]).max(1.0)).collect();
        widths.push(1.0);
        let half = (nc / 2.0).round();
        let mut wts = Array2::<f64>::zeros((n_chroma, n_fft));
        for (k, (&bin, &width)) in frqbins.iter().zip(&widths).enumerate() {
            for c in 0..n_chroma {
                let d = (bin - c as f64 + half + 10.0 * nc).rem_euclid(nc) - half;
                wts[[c, k]] = (-0.5 * (2.0 * d / width).powi(2)).exp();
            }
        }
        // L2-normalise each bin's column, then weight by octave.
        for (k, mut col) in wts.axis_iter_mut(Axis(1)).enumerate() {
            let norm = col.iter().map(|v| v * v).sum::<f64>().sqrt();
            let octave_weight = (-0.5 * ((frqbins[k] / nc - 5.0) / 2.0).powi(2)).exp();
            col.mapv_inplace(|v| if norm > 0.0 { v / norm } else { v } * octave_weight);
        }
        // Start at C: roll pitch classes by -3 (per 12).
        let shift = 3 * (n_chroma / 12);
        let n_bins = n_fft / 2 + 1;
        let mut weights = Array2::<f32>::zeros((n_chroma, n_bins));
        for c in 0..n_chroma {
            let src = (c + shift) % n_chroma;
            for k in 0..n_bins {
                weights[[c, k]] = wts[[src, k]] as f32;
            }
        }
        ChromaFilterbank { weights }
    }

    /// Chroma (frames x pitch classes) of a power spectrogram (frames x
    /// bins), each frame divided by its maximum. Frames whose maximum is
    /// below the smallest normal f32 are left unscaled, as librosa's
    /// `util.normalize` leaves them.
    pub fn apply(&self, power: &Array2<f32>) -> Array2<f32> {
        let mut chroma = power.dot(&self.weights.t());
        for mut frame in chroma.axis_iter_mut(Axis(0)) {
            let max = frame.iter().fold(0f32, |m, v| m.max(v.abs()));
            if max >= f32::MIN_POSITIVE {
                frame.mapv_inplace(|v| v / max);
            }
        }
        chroma
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_440_hz_bin_lights_up_pitch_class_a() {
        let bank = ChromaFilterbank::new(16000.0, 512, 12, 0.0);
        // Bin 14 sits at 437.5 Hz, next to A4.
        let mut power = Array2::<f32>::zeros((1, 257));
        power[[0, 14]] = 1.0;
        let chroma = bank.apply(&power);
        let argmax = (0..12)
            .max_by(|&a, &b| chroma[[0, a]].total_cmp(&chroma[[0, b]]))
            .unwrap();
        assert_eq!(argmax, 9, "C=0 ... A=9: {chroma:?}");
        assert_eq!(chroma[[0, 9]], 1.0);
    }

    #[test]
    fn silent_frames_stay_zero() {
        let bank = ChromaFilterbank::new(16000.0, 512, 12, 0.0);
        let chroma = bank.apply(&Array2::zeros((2, 257)));
        assert!(chroma.iter().all(|&v| v == 0.0));
    }
}
