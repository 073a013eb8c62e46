//! Spectral shape and time-domain descriptors as librosa computes them:
//! `spectral_centroid`, `spectral_bandwidth` (p = 2), `spectral_rolloff`
//! and `spectral_flatness` (power 2, amin 1e-10) and `spectral_contrast`
//! of the magnitude spectrogram; `rms` (centred, zero padding, no window)
//! and `zero_crossing_rate` (centred, edge padding) of the signal.

use ndarray::{Array2, ArrayView1};

/// Names of the columns [`shape`] returns, in order.
pub const SHAPE_NAMES: [&str; 4] = ["centroid", "bandwidth", "rolloff", "flatness"];

/// Centroid, bandwidth, rolloff and flatness per frame, from a magnitude
/// spectrogram (frames x bins) whose bins sit at `freqs` Hz.
pub fn shape(magnitude: &Array2<f32>, freqs: &[f64], roll_percent: f64) -> Array2<f32> {
    let mut out = Array2::<f32>::zeros((magnitude.nrows(), SHAPE_NAMES.len()));
    for (t, frame) in magnitude.outer_iter().enumerate() {
        let [c, b, r, f] = frame_shape(frame, freqs, roll_percent);
        out[[t, 0]] = c as f32;
        out[[t, 1]] = b as f32;
        out[[t, 2]] = r as f32;
        out[[t, 3]] = f as f32;
    }
    out
}

fn frame_shape(magnitude: ArrayView1<f32>, freqs: &[f64], roll_percent: f64) -> [f64; 4] {
    // One pass for the sums, one (cut short) for the rolloff.
    let (mut total, mut first, mut second, mut log_sum, mut power_sum) =
        (0f64, 0f64, 0f64, 0f64, 0f64);
    for (&m, &f) in magnitude.iter().zip(freqs) {
        let m64 = m as f64;
        total += m64;
        first += m64 * f;
        second += m64 * f * f;
        // Flatness of the power spectrum: mag^2 floored at 1e-10, its log
        // taken in f32 as librosa does on float32 spectra.
        let p = (m * m).max(1e-10);
        log_sum += p.ln() as f64;
        power_sum += p as f64;
    }
    // librosa normalises each frame to unit L1 norm; an all-zero frame
    // stays zero (util.normalize leaves columns below its threshold alone).
    let norm = if total > f64::MIN_POSITIVE {
        total
    } else {
        1.0
    };
    let centroid = first / norm;
    // sum(w (f - c)^2) with sum(w) = total / norm, expanded.
    let spread = second / norm - 2.0 * centroid * first / norm + centroid * centroid * total / norm;
    let threshold = roll_percent * total;
    let mut cumulative = 0.0;
    let mut rolloff = 0.0;
    for (&m, &f) in magnitude.iter().zip(freqs) {
        cumulative += m as f64;
        if cumulative >= threshold {
            rolloff = f;
            break;
        }
    }
    let n = magnitude.len() as f64;
    [
        centroid,
        spread.max(0.0).sqrt(),
        rolloff,
        (log_sum / n).exp() / (power_sum / n),
    ]
}

/// The FFT bins of one spectral-contrast band.
#[derive(Debug, Clone, PartialEq)]
pub struct ContrastBand {
    /// Bins whose sorted magnitudes give the peak and valley.
    pub bins: std::ops::Range<usize>,
    /// How many of the lowest (highest) magnitudes average to the valley
    /// (peak).
    pub take: usize,
}

/// librosa's contrast bands: `[0, fmin]`, then octaves from `fmin`, the
/// last reaching Nyquist. Each octave band also takes the bin just below
/// it, and all but the last drop their top bin; `take` is
/// `max(1, rint(quantile * band size))` with the size before the drop.
pub fn contrast_bands(
    freqs: &[f64],
    sample_rate: f64,
    n_bands: usize,
    fmin: f64,
    quantile: f64,
) -> Result<Vec<ContrastBand>, String> {
    let mut edges = vec![0.0];
    edges.extend((0..=n_bands).map(|i| fmin * 2f64.powi(i as i32)));
    if edges[..edges.len() - 1]
        .iter()
        .any(|&e| e >= 0.5 * sample_rate)
        || fmin <= 0.0
    {
        return Err(format!(
            "contrast bands from {fmin} Hz over {n_bands} octaves exceed the Nyquist frequency"
        ));
    }
    let mut bands = Vec::with_capacity(n_bands + 1);
    for k in 0..=n_bands {
        let (lo, hi) = (edges[k], edges[k + 1]);
        let inside: Vec<usize> = (0..freqs.len())
            .filter(|&i| freqs[i] >= lo && freqs[i] <= hi)
            .collect();
        let (Some(&first), Some(&last)) = (inside.first(), inside.last()) else {
            return Err(format!(
                "contrast band {lo}-{hi} Hz holds no FFT bin; use a larger n_fft"
            ));
        };
        let start = if k > 0 {
            first.saturating_sub(1)
        } else {
            first
        };
        let end = if k == n_bands { freqs.len() } else { last + 1 };
        let size = end - start;
        // numpy's rint rounds half to even, like f64::round_ties_even.
        let take = ((quantile * size as f64).round_ties_even() as usize).max(1);
        let bins = if k < n_bands {
            start..end - 1
        } else {
            start..end
        };
        bands.push(ContrastBand { bins, take });
    }
    Ok(bands)
}

/// Spectral contrast (frames x bands) of a magnitude spectrogram: per band,
/// dB(peak) - dB(valley) of the magnitudes, where each of peak and valley
/// goes through `power_to_db` (amin 1e-10, top_db 80 relative to its own
/// maximum over the utterance), as librosa does.
pub fn contrast(magnitude: &Array2<f32>, bands: &[ContrastBand]) -> Array2<f32> {
    let (n_frames, n_bands) = (magnitude.nrows(), bands.len());
    let mut peak = Array2::<f32>::zeros((n_frames, n_bands));
    let mut valley = Array2::<f32>::zeros((n_frames, n_bands));
    let mut sorted = Vec::new();
    for (t, frame) in magnitude.outer_iter().enumerate() {
        for (b, band) in bands.iter().enumerate() {
            let values = frame.slice(ndarray::s![band.bins.clone()]);
            if band.take == 1 {
                // The common case (small quantile): extremes, no sort.
                let (lo, hi) = values
                    .iter()
                    .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
                        (lo.min(v), hi.max(v))
                    });
                valley[[t, b]] = lo;
                peak[[t, b]] = hi;
                continue;
            }
            // Otherwise the `take` smallest and largest, by selection.
            sorted.clear();
            sorted.extend(values.iter().copied());
            let n = band.take.min(sorted.len());
            let mean =
                |xs: &[f32]| (xs.iter().map(|&v| v as f64).sum::<f64>() / xs.len() as f64) as f32;
            sorted.select_nth_unstable_by(n - 1, f32::total_cmp);
            valley[[t, b]] = mean(&sorted[..n]);
            let len = sorted.len();
            sorted.select_nth_unstable_by(len - n, f32::total_cmp);
            peak[[t, b]] = mean(&sorted[len - n..]);
        }
    }
    let peak_db = crate::mel::power_to_db(&peak, Some(80.0));
    let valley_db = crate::mel::power_to_db(&valley, Some(80.0));
    peak_db - valley_db
}

/// RMS of `frame_length`-sample frames every `hop` samples, centred with
/// zero padding: `1 + len / hop` frames.
pub fn rms(signal: &[f32], frame_length: usize, hop: usize) -> Vec<f32> {
    // Running sums of squares over the zero-padded signal: O(1) per frame.
    let padded = pad_centered(signal, frame_length / 2, Padding::Zero);
    let mut sums = vec![0f64; padded.len() + 1];
    for (i, &x) in padded.iter().enumerate() {
        sums[i + 1] = sums[i] + (x as f64) * (x as f64);
    }
    (0..1 + signal.len() / hop)
        .map(|t| {
            let start = t * hop;
            (((sums[start + frame_length] - sums[start]) / frame_length as f64).max(0.0)).sqrt()
                as f32
        })
        .collect()
}

/// Fraction of sign changes per frame, centred with edge padding; samples
/// with |x| <= 1e-10 count as zero, and zero counts as positive.
pub fn zero_crossing_rate(signal: &[f32], frame_length: usize, hop: usize) -> Vec<f32> {
    let padded = pad_centered(signal, frame_length / 2, Padding::Edge);
    let negative: Vec<bool> = padded.iter().map(|&x| x < -1e-10).collect();
    // counts[i]: crossings between consecutive samples up to index i.
    let mut counts = vec![0u32; padded.len()];
    for i in 1..padded.len() {
        counts[i] = counts[i - 1] + u32::from(negative[i] != negative[i - 1]);
    }
    (0..1 + signal.len() / hop)
        .map(|t| {
            let start = t * hop;
            // Crossings inside the frame: between its samples, not into it.
            let crossings = counts[start + frame_length - 1] - counts[start];
            (crossings as f64 / frame_length as f64) as f32
        })
        .collect()
}

#[derive(Clone, Copy)]
enum Padding {
    Zero,
    Edge,
}

/// The signal with `pad` samples before and after: zeros, or copies of the
/// edge samples.
fn pad_centered(signal: &[f32], pad: usize, padding: Padding) -> Vec<f32> {
    let (first, last) = match (padding, signal.first(), signal.last()) {
        (Padding::Edge, Some(&f), Some(&l)) => (f, l),
        _ => (0.0, 0.0),
    };
    let mut out = Vec::with_capacity(signal.len() + 2 * pad);
    out.extend(std::iter::repeat_n(first, pad));
    out.extend_from_slice(signal);
    out.extend(std::iter::repeat_n(last, pad));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rms_and_zcr_of_known_signals() {
        let ones = vec![1.0f32; 800];
        let r = rms(&ones, 400, 160);
        assert_eq!(r.len(), 6);
        assert!(
            (r[0] - (200.0f32 / 400.0).sqrt()).abs() < 1e-6,
            "first frame is half padding"
        );
        assert!((r[2] - 1.0).abs() < 1e-6);
        let alternating: Vec<f32> = (0..800)
            .map(|i| if i % 2 == 0 { 0.5 } else { -0.5 })
            .collect();
        let z = zero_crossing_rate(&alternating, 400, 160);
        assert!((z[2] - 399.0 / 400.0).abs() < 1e-6);
    }

    #[test]
    fn contrast_bands_match_librosa_at_16k() {
        let freqs: Vec<f64> = (0..257).map(|k| k as f64 * 31.25).collect();
        let bands = contrast_bands(&freqs, 16000.0, 6, 200.0, 0.02).unwrap();
        assert_eq!(bands.len(), 7);
        // [0, 200]: bins 0..=6, top dropped; take rint(0.14) -> 1.
        assert_eq!(
            bands[0],
            ContrastBand {
                bins: 0..6,
                take: 1
            }
        );
        // [200, 400] plus bin 6 below: bins 6..=12, top dropped.
        assert_eq!(
            bands[1],
            ContrastBand {
                bins: 6..12,
                take: 1
            }
        );
        // The last band runs to Nyquist: bins 204..=256 (53 bins), take 1.
        assert_eq!(
            bands[6],
            ContrastBand {
                bins: 204..257,
                take: 1
            }
        );
        assert!(contrast_bands(&freqs, 16000.0, 7, 200.0, 0.02).is_err());
    }

    #[test]
    fn contrast_of_a_flat_spectrum_is_zero() {
        let freqs: Vec<f64> = (0..257).map(|k| k as f64 * 31.25).collect();
        let bands = contrast_bands(&freqs, 16000.0, 6, 200.0, 0.02).unwrap();
        let c = contrast(&Array2::from_elem((3, 257), 4.0), &bands);
        assert!(c.iter().all(|&v| v.abs() < 1e-6));
    }

    #[test]
    fn shape_of_a_single_bin_spectrum() {
        let freqs = [0.0, 100.0, 200.0, 300.0];
        let mag = Array2::from_shape_vec((1, 4), vec![0.0, 0.0, 2.0, 0.0]).unwrap();
        let s = shape(&mag, &freqs, 0.85);
        assert_eq!(s[[0, 0]], 200.0);
        assert_eq!(s[[0, 1]], 0.0);
        assert_eq!(s[[0, 2]], 200.0);
        let flat = Array2::from_shape_vec((1, 4), vec![1.0; 4]).unwrap();
        assert!((shape(&flat, &freqs, 0.85)[[0, 3]] - 1.0).abs() < 1e-6);
    }
}
