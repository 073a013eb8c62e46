//! Pitch shift: move every frequency by `semitones` (x 2^(s/12)), keeping
//! the duration.
//!
//! The classic time-domain method (as in SoundTouch and librosa's
//! `pitch_shift`, which does the same with a phase vocoder): stretch the
//! signal to `2^(s/12)` times its length without changing its pitch
//! ([`crate::stretch`], WSOLA), then resample it back to the original length
//! ([`crate::speed`], band-limited sinc), which scales every frequency by
//! `2^(s/12)`. Formants move with the pitch, as they do in librosa's and
//! sox's `pitch`.

use crate::AugmentError;
use crate::speed::resample_by;
use crate::stretch::stretch_to;

/// Largest shift either way: two octaves, the WSOLA stretch's range.
pub const MAX_SEMITONES: f64 = 24.0;

/// Shift `signal`'s pitch by `semitones`; the output has the input's length.
pub fn shift(signal: &[f32], sample_rate: u32, semitones: f64) -> Result<Vec<f32>, AugmentError> {
    let factor = 2f64.powf(semitones / 12.0);
    let stretched_len = (signal.len() as f64 * factor).round().max(1.0) as usize;
    let stretched = stretch_to(signal, sample_rate, 1.0 / factor, stretched_len)?;
    let mut out = resample_by(&stretched, signal.len() as f64 / stretched_len as f64)?;
    // ceil() in the resampler can leave one extra sample.
    out.resize(signal.len(), 0.0);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{peak_hz, power, sine};

    #[test]
    fn two_semitones_up_and_down_move_a_sine_and_keep_the_length() {
        let x = sine(16000, 220.0, 2.0);
        for semitones in [2.0, -2.0] {
            let y = shift(&x, 16000, semitones).unwrap();
            assert_eq!(y.len(), x.len());
            let want = 220.0 * 2f64.powf(semitones / 12.0);
            let hz = peak_hz(&y, 16000);
            assert!(
                (hz - want).abs() / want < 0.01,
                "{semitones}: {hz} Hz, want {want}"
            );
            let level = power(&y) / power(&x);
            assert!(
                level > 0.8 && level < 1.2,
                "{semitones}: power ratio {level}"
            );
        }
    }

    #[test]
    fn zero_semitones_keeps_the_frequency() {
        let x = sine(16000, 300.0, 1.0);
        let y = shift(&x, 16000, 0.0).unwrap();
        assert!((peak_hz(&y, 16000) - 300.0).abs() < 1.0);
    }
}
