//! Spectral shape and time-domain descriptors as librosa computes them:
//! `spectral_centroid`, `spectral_bandwidth` (p = 2), `spectral_rolloff`
//! (0.85) and `spectral_flatness` (power 2, amin 1e-10) of the magnitude
//! spectrogram; `rms` (centred, zero padding, no window) and
//! `zero_crossing_rate` (centred, edge padding) of the signal.

use ndarray::{Array2, ArrayView1};

/// Names of the columns [`shape`] returns, in order.
pub const SHAPE_NAMES: [&str; 4] = ["centroid", "bandwidth", "rolloff", "flatness"];

/// Centroid, bandwidth, rolloff and flatness per frame, from a power
/// spectrogram (frames x bins) whose bins sit at `freqs` Hz.
pub fn shape(power: &Array2<f32>, freqs: &[f64], roll_percent: f64) -> Array2<f32> {
    let mut out = Array2::<f32>::zeros((power.nrows(), SHAPE_NAMES.len()));
    for (t, frame) in power.outer_iter().enumerate() {
        let [c, b, r, f] = frame_shape(frame, freqs, roll_percent);
        out[[t, 0]] = c as f32;
        out[[t, 1]] = b as f32;
        out[[t, 2]] = r as f32;
        out[[t, 3]] = f as f32;
    }
    out
}

fn frame_shape(power: ArrayView1<f32>, freqs: &[f64], roll_percent: f64) -> [f64; 4] {
    let mag: Vec<f64> = power.iter().map(|&p| (p as f64).sqrt()).collect();
    let total: f64 = mag.iter().sum();
    // librosa normalises each frame to unit L1 norm; an all-zero frame
    // stays zero (util.normalize leaves columns below its threshold alone).
    let norm = if total > f64::MIN_POSITIVE {
        total
    } else {
        1.0
    };
    let centroid: f64 = mag.iter().zip(freqs).map(|(m, f)| m / norm * f).sum();
    let bandwidth: f64 = mag
        .iter()
        .zip(freqs)
        .map(|(m, f)| m / norm * (f - centroid).powi(2))
        .sum::<f64>()
        .sqrt();
    let threshold = roll_percent * total;
    let mut cumulative = 0.0;
    let mut rolloff = 0.0;
    for (m, f) in mag.iter().zip(freqs) {
        cumulative += m;
        if cumulative >= threshold {
            rolloff = *f;
            break;
        }
    }
    let floored: Vec<f64> = power.iter().map(|&p| (p as f64).max(1e-10)).collect();
    let n = floored.len() as f64;
    let gmean = (floored.iter().map(|v| v.ln()).sum::<f64>() / n).exp();
    let amean = floored.iter().sum::<f64>() / n;
    [centroid, bandwidth, rolloff, gmean / amean]
}

/// RMS of `frame_length`-sample frames every `hop` samples, centred with
/// zero padding: `1 + len / hop` frames.
pub fn rms(signal: &[f32], frame_length: usize, hop: usize) -> Vec<f32> {
    frames_of(signal, frame_length, hop, Padding::Zero)
        .map(|frame| {
            (frame.iter().map(|&x| (x as f64).powi(2)).sum::<f64>() / frame_length as f64).sqrt()
                as f32
        })
        .collect()
}

/// Fraction of sign changes per frame, centred with edge padding; samples
/// with |x| <= 1e-10 count as zero, and zero counts as positive.
pub fn zero_crossing_rate(signal: &[f32], frame_length: usize, hop: usize) -> Vec<f32> {
    frames_of(signal, frame_length, hop, Padding::Edge)
        .map(|frame| {
            let negative = |x: f32| x.abs() > 1e-10 && x.is_sign_negative();
            let crossings = frame
                .windows(2)
                .filter(|w| negative(w[0]) != negative(w[1]))
                .count();
            (crossings as f64 / frame_length as f64) as f32
        })
        .collect()
}

#[derive(Clone, Copy)]
enum Padding {
    Zero,
    Edge,
}

/// Centred frames over the signal padded by `frame_length / 2` each side.
fn frames_of(
    signal: &[f32],
    frame_length: usize,
    hop: usize,
    padding: Padding,
) -> impl Iterator<Item = Vec<f32>> + '_ {
    let half = (frame_length / 2) as isize;
    let len = signal.len() as isize;
    let n_frames = 1 + signal.len() / hop;
    (0..n_frames).map(move |t| {
        let start = t as isize * hop as isize - half;
        (start..start + frame_length as isize)
            .map(|j| match padding {
                _ if (0..len).contains(&j) => signal[j as usize],
                Padding::Zero => 0.0,
                Padding::Edge => {
                    if len == 0 {
                        0.0
                    } else {
                        signal[j.clamp(0, len - 1) as usize]
                    }
                }
            })
            .collect()
    })
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
    fn shape_of_a_single_bin_spectrum() {
        let freqs = [0.0, 100.0, 200.0, 300.0];
        let power = Array2::from_shape_vec((1, 4), vec![0.0, 0.0, 4.0, 0.0]).unwrap();
        let s = shape(&power, &freqs, 0.85);
        assert_eq!(s[[0, 0]], 200.0);
        assert_eq!(s[[0, 1]], 0.0);
        assert_eq!(s[[0, 2]], 200.0);
        let flat = Array2::from_shape_vec((1, 4), vec![1.0; 4]).unwrap();
        assert!((shape(&flat, &freqs, 0.85)[[0, 3]] - 1.0).abs() < 1e-6);
    }
}
