//! Time stretch: change the duration by 1/`rate`, keeping the pitch.
//!
//! The method is WSOLA, waveform-similarity overlap-add (Verhelst & Roelands,
//! ICASSP 1993), from the `wsola` crate: the input is cut into Hann-windowed
//! frames of 30 ms read at a hop of `15 ms x rate` and laid down at a hop of
//! 15 ms; each frame's read position is moved by up to ±12 ms to where its
//! waveform best continues the previous frame (highest normalised
//! cross-correlation), so the overlap-add joins pitch periods in phase
//! instead of smearing them. WSOLA suits speech (one periodic voice); a phase
//! vocoder keeps polyphonic music cleaner but smears speech's transients and
//! makes it sound phasey. ±12 ms covers a pitch period down to 83 Hz.
//!
//! The output has exactly `round(len / rate)` samples.

use std::num::{NonZeroU16, NonZeroU32};

use crate::AugmentError;

/// Accepted range of `rate` (the `wsola` crate's own tempo range).
pub const MIN_RATE: f64 = wsola::MIN_TEMPO as f64;
/// See [`MIN_RATE`].
pub const MAX_RATE: f64 = wsola::MAX_TEMPO as f64;

/// Stretch `signal` to `round(len / rate)` samples without changing its
/// pitch (`rate` > 1: faster, shorter).
pub fn stretch(signal: &[f32], sample_rate: u32, rate: f64) -> Result<Vec<f32>, AugmentError> {
    let target = (signal.len() as f64 / rate).round().max(1.0) as usize;
    stretch_to(signal, sample_rate, rate, target)
}

/// WSOLA at `rate`, cut or padded to `target` samples.
pub(crate) fn stretch_to(
    signal: &[f32],
    sample_rate: u32,
    rate: f64,
    target: usize,
) -> Result<Vec<f32>, AugmentError> {
    let rate_nz = NonZeroU32::new(sample_rate).ok_or(AugmentError::SampleRate(sample_rate))?;
    let config = wsola::Config::default();
    // The synthesis hop in samples, computed as the wsola crate does.
    let hop = ((sample_rate as f32 * config.hop_ms / 1000.0).round() as usize).max(1);
    let search = ((sample_rate as f32 * config.search_ms / 1000.0).round() as usize).max(1);
    let read_hop = (hop as f64 * rate).ceil() as usize;
    // Alignment: frame k is read at input k*hop*rate and laid down at output
    // k*hop, so frame centres map output o to input rate*o + hop*(1 - rate),
    // not rate*o. With `hop` zeros in front of the input and the first `hop`
    // output samples dropped, the map is exactly input = rate * output, for
    // every rate. The dropped part is also where wsola fades its first frame
    // in, so the signal's own start is not faded.
    // End: WSOLA stops when less than a frame (2 hops) plus the search range
    // plus a read hop is left, so zeros of that length (and a margin) after
    // the signal let its real end through; the stretched zeros are cut off.
    let tail = 3 * hop + search + 2 * read_hop + 1;
    let mut padded = vec![0f32; hop];
    padded.reserve(signal.len() + tail);
    padded.extend_from_slice(signal);
    padded.resize(hop + signal.len() + tail, 0.0);
    let mono = NonZeroU16::new(1).expect("1 is not zero");
    let out = wsola::stretch(&padded, rate_nz, mono, rate as f32)
        .map_err(|e| AugmentError::Resample(format!("WSOLA: {e}")))?;
    debug_assert!(out.len() >= hop + target, "tail padding too short");
    let mut out = out.get(hop..).unwrap_or_default().to_vec();
    out.resize(target, 0.0);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{peak_hz, power, sine};

    #[test]
    fn stretch_changes_the_length_and_keeps_the_frequency() {
        let x = sine(16000, 220.0, 2.0);
        for rate in [1.25, 0.8] {
            let y = stretch(&x, 16000, rate).unwrap();
            let want_len = x.len() as f64 / rate;
            assert!(
                (y.len() as f64 - want_len).abs() / want_len < 0.01,
                "rate {rate}: {}",
                y.len()
            );
            let hz = peak_hz(&y, 16000);
            assert!((hz - 220.0).abs() / 220.0 < 0.01, "rate {rate}: {hz} Hz");
        }
    }

    #[test]
    fn stretched_signal_keeps_its_timing_and_level() {
        // Silence, then a tone from 0.5 s to 1 s: the onset must land at
        // 0.5 / rate s, and the tone must last to the end of the output
        // (the padding and alignment make both hold at every rate).
        let fs = 16000;
        let mut x = vec![0f32; 8000];
        x.extend(sine(fs, 220.0, 0.5));
        for rate in [0.25, 0.7, 1.25, 4.0] {
            let y = stretch(&x, fs, rate).unwrap();
            let onset = y.iter().position(|v| v.abs() > 0.25).unwrap() as f64 / fs as f64;
            let want = 0.5 / rate;
            // WSOLA's timing is exact only to within its search range (the
            // read position moves up to 12 ms to match waveforms; in
            // silence every candidate scores 0 and the earliest wins, so
            // onsets come out late): 20 ms allows for that.
            assert!(
                (onset - want).abs() < 0.020,
                "rate {rate}: onset at {onset} s, want {want}"
            );
            let tone = &y[(want * fs as f64) as usize + 400..];
            let level = power(tone) / power(&x[8000..]);
            assert!(
                level > 0.8 && level < 1.2,
                "rate {rate}: tone power ratio {level}"
            );
            // The last 5 ms still carry the tone. Not at full power: each
            // output sample mixes input from up to |1 - rate| x 15 ms around
            // its place, and past the end that is silence (45 ms at rate 4);
            // without the end padding it would be nothing at all.
            let end = power(&y[y.len() - 80..]) / power(&x[8000..]);
            assert!(
                end > 0.15,
                "rate {rate}: power ratio in the last 5 ms {end}"
            );
        }
    }

    #[test]
    fn a_signal_shorter_than_a_frame_is_stretched_too() {
        let x = sine(16000, 440.0, 0.01);
        let y = stretch(&x, 16000, 0.5).unwrap();
        assert_eq!(y.len(), 320);
        assert!(power(&y) > 0.0);
    }
}
