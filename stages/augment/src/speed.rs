//! Speed perturbation: play the signal `factor` times faster, so its duration
//! is divided and every frequency (pitch and formants) multiplied by `factor`.
//!
//! This is the speed perturbation of Ko et al., "Audio augmentation for
//! speech recognition" (Interspeech 2015), as Kaldi does it with
//! `sox speed`: treat the samples as recorded at `factor x rate` and
//! resample them back to `rate`. The resampling is rubato's asynchronous
//! sinc resampler (band-limited interpolation with a 256-tap sinc under a
//! squared Blackman-Harris window), which takes any real ratio; its FFT
//! resampler, used by ingest, needs the ratio as two integer rates.
//!
//! Also the second half of [`crate::pitch`].

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{
    Async, FixedAsync, Resampler, SincInterpolationParameters, SincInterpolationType,
    WindowFunction,
};

use crate::AugmentError;

/// Accepted range of `factor`: beyond 4x either way the result no longer
/// resembles speech, and the sinc filter's length would be better chosen
/// per ratio.
pub const MIN_FACTOR: f64 = 0.25;
/// See [`MIN_FACTOR`].
pub const MAX_FACTOR: f64 = 4.0;

/// Input frames per resampler call; any size works for a whole-clip
/// `process_all`, this one keeps the working buffers small.
const CHUNK_FRAMES: usize = 1024;

/// Speed `signal` up by `factor` (slower when below 1). The output has
/// `ceil(len / factor)` samples.
pub fn perturb(signal: &[f32], factor: f64) -> Result<Vec<f32>, AugmentError> {
    resample_by(signal, 1.0 / factor)
}

/// Resample `signal` so it has `ratio` times as many samples (band-limited:
/// content above the new Nyquist is removed when `ratio` < 1). The output
/// has `ceil(len * ratio)` samples and is aligned with the input (rubato's
/// `process_all` trims the filter delay).
pub(crate) fn resample_by(signal: &[f32], ratio: f64) -> Result<Vec<f32>, AugmentError> {
    let params = SincInterpolationParameters::new(256, WindowFunction::BlackmanHarris2)
        .oversampling_factor(256)
        .interpolation(SincInterpolationType::Cubic);
    let mut resampler =
        Async::<f32>::new_sinc(ratio, 1.0, &params, CHUNK_FRAMES, 1, FixedAsync::Input)
            .map_err(|e| AugmentError::Resample(e.to_string()))?;
    let input = InterleavedSlice::new(signal, 1, signal.len())
        .map_err(|e| AugmentError::Resample(e.to_string()))?;
    let out = resampler
        .process_all(&input, signal.len(), None)
        .map_err(|e| AugmentError::Resample(e.to_string()))?;
    Ok(out.take_data())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{peak_hz, sine};

    #[test]
    fn speed_changes_duration_and_frequency_together() {
        let x = sine(16000, 220.0, 2.0);
        for factor in [1.1, 0.9] {
            let y = perturb(&x, factor).unwrap();
            let want_len = x.len() as f64 / factor;
            assert!(
                (y.len() as f64 - want_len).abs() / want_len < 0.01,
                "factor {factor}: {} samples, want {want_len}",
                y.len()
            );
            let hz = peak_hz(&y, 16000);
            let want_hz = 220.0 * factor;
            assert!(
                (hz - want_hz).abs() / want_hz < 0.01,
                "factor {factor}: {hz} Hz, want {want_hz}"
            );
        }
    }

    #[test]
    fn speeding_up_removes_what_would_alias() {
        // 7 kHz played 1.5x faster would be 10.5 kHz, above the 8 kHz
        // Nyquist: the band-limited resampler removes it instead of folding
        // it back to 5.5 kHz.
        let x = sine(16000, 7000.0, 1.0);
        let y = perturb(&x, 1.5).unwrap();
        let mid = &y[1000..y.len() - 1000];
        let rms = (mid.iter().map(|v| v * v).sum::<f32>() / mid.len() as f32).sqrt();
        assert!(rms < 1e-3, "aliased energy at rms {rms}");
    }
}
