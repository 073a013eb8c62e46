//! Spectral shape and time-domain descriptors as librosa computes them:
//! `spectral_centroid`, `spectral_bandwidth` (p = 2), `spectral_rolloff`
//! and `spectral_flatness` (power 2, amin 1e-10) and `spectral_contrast`
//! of the magnitude spectrogram; `rms` (centred, zero padding, no window)
//! and `zero_crossing_rate` (centred, edge padding) of the signal.

use ndarray::Array2;

/// Names of the columns [`shape`] returns, in order.
pub const SHAPE_NAMES: [&str; 4] = ["centroid", "bandwidth", "rolloff", "flatness"];

/// Bins summed together per step: eight independent partial sums per
/// quantity, so the loops below compile to SIMD adds instead of one long
/// chain of dependent scalar adds.
const LANES: usize = 8;

/// Blocks of [`LANES`] bins whose mantissas are multiplied before one
/// logarithm is taken: each mantissa is in [1, 2), so eight of them stay
/// below 2^8 and the f32 product loses nothing that matters.
const BLOCKS_PER_LOG: usize = 8;

/// Centroid, bandwidth, rolloff and flatness per frame, from a magnitude
/// spectrogram (frames x bins) whose bins sit at `freqs` Hz.
pub fn shape(magnitude: &Array2<f32>, freqs: &[f32], roll_percent: f64) -> Array2<f32> {
    let mut out = Array2::<f32>::zeros((magnitude.nrows(), SHAPE_NAMES.len()));
    for (t, frame) in magnitude.outer_iter().enumerate() {
        let frame = frame.as_slice().expect("standard layout");
        let [c, b, r, f] = frame_shape(frame, &freqs[..frame.len()], roll_percent);
        out[[t, 0]] = c as f32;
        out[[t, 1]] = b as f32;
        out[[t, 2]] = r as f32;
        out[[t, 3]] = f as f32;
    }
    out
}

fn frame_shape(magnitude: &[f32], freqs: &[f32], roll_percent: f64) -> [f64; 4] {
    let n = magnitude.len();
    let split = n - n % LANES;
    let (mut total, mut first, mut power) = ([0f32; LANES], [0f32; LANES], [0f32; LANES]);
    // Flatness needs sum(ln p) over every bin. ln p = e ln 2 + ln m for
    // p = m 2^e, so the exponents are summed as integers and the mantissas
    // multiplied, with one logarithm per BLOCKS_PER_LOG blocks instead of
    // one per bin (the logarithms were the largest cost of this function).
    let mut exponents = [0i32; LANES];
    let mut mantissas = [1f32; LANES];
    let mut log_mantissas = 0f64;
    let blocks = magnitude[..split]
        .chunks_exact(LANES)
        .zip(freqs[..split].chunks_exact(LANES));
    for (b, (m, f)) in blocks.enumerate() {
        for l in 0..LANES {
            total[l] += m[l];
            first[l] += m[l] * f[l];
            // Flatness of the power spectrum: mag^2 floored at 1e-10
            // (always a normal f32, so the exponent field is the exponent).
            let p = (m[l] * m[l]).max(1e-10);
            power[l] += p;
            let bits = p.to_bits();
            exponents[l] += (bits >> 23) as i32;
            mantissas[l] *= f32::from_bits((bits & 0x007F_FFFF) | 0x3F80_0000);
        }
        if b % BLOCKS_PER_LOG == BLOCKS_PER_LOG - 1 {
            log_mantissas += mantissas.iter().map(|&v| (v as f64).ln()).sum::<f64>();
            mantissas = [1.0; LANES];
        }
    }
    log_mantissas += mantissas.iter().map(|&v| (v as f64).ln()).sum::<f64>();
    let lane_sum = |v: [f32; LANES]| v.iter().map(|&x| x as f64).sum::<f64>();
    let (mut total, mut first, mut power) = (lane_sum(total), lane_sum(first), lane_sum(power));
    let biased: i64 = exponents.iter().map(|&e| e as i64).sum();
    let mut log_sum = (biased - 127 * split as i64) as f64 * std::f64::consts::LN_2 + log_mantissas;
    for (&m, &f) in magnitude[split..].iter().zip(&freqs[split..]) {
        total += m as f64;
        first += m as f64 * f as f64;
        let p = (m * m).max(1e-10);
        power += p as f64;
        log_sum += (p as f64).ln();
    }
    // librosa normalises each frame to unit L1 norm; an all-zero frame
    // stays zero (util.normalize leaves columns below its threshold alone).
    let norm = if total > f64::MIN_POSITIVE {
        total
    } else {
        1.0
    };
    let centroid = first / norm;
    // Bandwidth as librosa computes it, sum(w (f - c)^2), in a second pass:
    // expanding the square would cancel catastrophically in f32.
    let c = centroid as f32;
    let mut spread = [0f32; LANES];
    let blocks = magnitude[..split]
        .chunks_exact(LANES)
        .zip(freqs[..split].chunks_exact(LANES));
    for (m, f) in blocks {
        for l in 0..LANES {
            let d = f[l] - c;
            spread[l] += m[l] * d * d;
        }
    }
    let mut spread = lane_sum(spread);
    for (&m, &f) in magnitude[split..].iter().zip(&freqs[split..]) {
        let d = f as f64 - centroid;
        spread += m as f64 * d * d;
    }
    [
        centroid,
        (spread / norm).max(0.0).sqrt(),
        rolloff(magnitude, freqs, roll_percent * total),
        (log_sum / n as f64).exp() / (power / n as f64),
    ]
}

/// The frequency of the first bin at which the cumulative magnitude reaches
/// `threshold`. Whole blocks below it are skipped by their sums; the bin is
/// then found within the block that crosses it.
fn rolloff(magnitude: &[f32], freqs: &[f32], threshold: f64) -> f64 {
    let mut cumulative = 0f64;
    let mut start = 0;
    for block in magnitude.chunks_exact(LANES) {
        let sum: f32 = block.iter().sum();
        if cumulative + sum as f64 >= threshold {
            break;
        }
        cumulative += sum as f64;
        start += LANES;
    }
    for (&m, &f) in magnitude[start..].iter().zip(&freqs[start..]) {
        cumulative += m as f64;
        if cumulative >= threshold {
            return f as f64;
        }
    }
    0.0
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

/// Bands averaging at most this many bins into their peak and valley keep
/// them in fixed arrays instead of selecting from a copy of the band.
const SMALL_TAKE: usize = 8;

fn mean(xs: &[f32]) -> f32 {
    (xs.iter().map(|&v| v as f64).sum::<f64>() / xs.len() as f64) as f32
}

/// Means of the `n` smallest and the `n` largest values (`1 <= n <=
/// SMALL_TAKE`, `n <= values.len()`), by insertion into two short sorted
/// arrays; most values fail the first comparison and cost nothing more.
fn extreme_means(values: &[f32], n: usize) -> (f32, f32) {
    if n == 1 {
        return values
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(v), hi.max(v))
            });
    }
    let mut lows = [f32::INFINITY; SMALL_TAKE];
    let mut highs = [f32::NEG_INFINITY; SMALL_TAKE];
    let (lows, highs) = (&mut lows[..n], &mut highs[..n]);
    for &v in values {
        if v < lows[n - 1] {
            let at = lows.partition_point(|&x| x <= v);
            lows.copy_within(at..n - 1, at + 1);
            lows[at] = v;
        }
        if v > highs[n - 1] {
            let at = highs.partition_point(|&x| x >= v);
            highs.copy_within(at..n - 1, at + 1);
            highs[at] = v;
        }
    }
    (mean(lows), mean(highs))
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
        let frame = frame.as_slice().expect("standard layout");
        for (b, band) in bands.iter().enumerate() {
            let values = &frame[band.bins.clone()];
            let n = band.take.min(values.len());
            let (lo, hi) = if n <= SMALL_TAKE {
                // The common case (small quantile, 1 or 2 bins): the
                // extremes in one pass, no sort.
                extreme_means(values, n)
            } else {
                // Otherwise the `take` smallest and largest, by selection.
                sorted.clear();
                sorted.extend_from_slice(values);
                sorted.select_nth_unstable_by(n - 1, f32::total_cmp);
                let lo = mean(&sorted[..n]);
                let len = sorted.len();
                sorted.select_nth_unstable_by(len - n, f32::total_cmp);
                (lo, mean(&sorted[len - n..]))
            };
            valley[[t, b]] = lo;
            peak[[t, b]] = hi;
        }
    }
    let peak_db = crate::mel::power_to_db(&peak, Some(80.0));
    let valley_db = crate::mel::power_to_db(&valley, Some(80.0));
    peak_db - valley_db
}

/// RMS of `frame_length`-sample frames every `hop` samples, centred with
/// zero padding: `1 + len / hop` frames.
pub fn rms(signal: &[f32], frame_length: usize, hop: usize) -> Vec<f32> {
    // Each frame summed on its own: frames overlap (400 over 160 here), but
    // a lane-parallel sum of squares is several times faster than one
    // running sum, whose every add waits on the one before. The zero
    // padding adds nothing, so only the frame's part of the signal is read.
    let pad = frame_length / 2;
    (0..1 + signal.len() / hop)
        .map(|t| {
            let end = (t * hop + frame_length - pad).min(signal.len());
            let start = (t * hop).saturating_sub(pad).min(end);
            let mean = sum_of_squares(&signal[start..end]) / frame_length as f64;
            mean.max(0.0).sqrt() as f32
        })
        .collect()
}

/// Sum of `x^2` over a slice, in [`LANES`] f32 partial sums.
fn sum_of_squares(x: &[f32]) -> f64 {
    let split = x.len() - x.len() % LANES;
    let mut lanes = [0f32; LANES];
    for block in x[..split].chunks_exact(LANES) {
        for l in 0..LANES {
            lanes[l] += block[l] * block[l];
        }
    }
    let tail: f64 = x[split..].iter().map(|&v| v as f64 * v as f64).sum();
    lanes.iter().map(|&v| v as f64).sum::<f64>() + tail
}

/// Fraction of sign changes per frame, centred with edge padding; samples
/// with |x| <= 1e-10 count as zero, and zero counts as positive.
pub fn zero_crossing_rate(signal: &[f32], frame_length: usize, hop: usize) -> Vec<f32> {
    let padded = pad_edges(signal, frame_length / 2);
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

/// The signal with `pad` copies of its edge samples before and after.
fn pad_edges(signal: &[f32], pad: usize) -> Vec<f32> {
    let (first, last) = match (signal.first(), signal.last()) {
        (Some(&f), Some(&l)) => (f, l),
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

    /// Deterministic values in [0, 1) (xorshift), so the tests need no RNG crate.
    fn noise(n: usize, seed: u64) -> Vec<f32> {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 40) as f32 / (1u64 << 24) as f32
            })
            .collect()
    }

    /// The definitions, term by term in f64: what the lane-parallel code
    /// must reproduce.
    fn shape_by_definition(m: &[f32], freqs: &[f32], roll_percent: f64) -> [f64; 4] {
        let total: f64 = m.iter().map(|&v| v as f64).sum();
        let norm = if total > f64::MIN_POSITIVE {
            total
        } else {
            1.0
        };
        let centroid = m
            .iter()
            .zip(freqs)
            .map(|(&v, &f)| v as f64 * f as f64)
            .sum::<f64>()
            / norm;
        let spread = m
            .iter()
            .zip(freqs)
            .map(|(&v, &f)| v as f64 * (f as f64 - centroid).powi(2))
            .sum::<f64>()
            / norm;
        let mut cumulative = 0.0;
        let mut rolloff = 0.0;
        for (&v, &f) in m.iter().zip(freqs) {
            cumulative += v as f64;
            if cumulative >= roll_percent * total {
                rolloff = f as f64;
                break;
            }
        }
        let p: Vec<f64> = m.iter().map(|&v| ((v * v).max(1e-10)) as f64).collect();
        let n = p.len() as f64;
        let gmean = (p.iter().map(|v| v.ln()).sum::<f64>() / n).exp();
        [
            centroid,
            spread.sqrt(),
            rolloff,
            gmean / (p.iter().sum::<f64>() / n),
        ]
    }

    #[test]
    fn lane_parallel_shape_equals_the_definitions() {
        let freqs: Vec<f32> = (0..257).map(|k| k as f32 * 31.25).collect();
        for seed in 0..50u64 {
            // Spectra from silent (all floored) to loud, with runs of exact
            // zeros and a few strong peaks, over 257 bins (not a multiple
            // of the lane count) and a short 13-bin one.
            let scale = 10f32.powi(seed as i32 % 9 - 6);
            let mut m: Vec<f32> = noise(257, seed).iter().map(|v| v * v * scale).collect();
            if seed % 3 == 0 {
                m[40..90].iter_mut().for_each(|v| *v = 0.0);
            }
            m[(seed as usize * 7) % 257] += 50.0 * scale;
            for bins in [257, 13] {
                let got = frame_shape(&m[..bins], &freqs[..bins], 0.85);
                let want = shape_by_definition(&m[..bins], &freqs[..bins], 0.85);
                for (g, w) in got.iter().zip(&want) {
                    assert!(
                        (g - w).abs() <= 1e-5 * w.abs().max(1.0),
                        "seed {seed}, {bins} bins: {got:?} vs {want:?}"
                    );
                }
            }
        }
        let silent = frame_shape(&[0.0; 257], &freqs, 0.85);
        assert_eq!(silent[..3], [0.0, 0.0, 0.0]);
        assert!(
            (silent[3] - 1.0).abs() < 1e-6,
            "an all-floored frame is flat"
        );
    }

    #[test]
    fn rms_equals_the_padded_definition() {
        let x: Vec<f32> = noise(5000, 7).iter().map(|v| v - 0.5).collect();
        for (len, frame, hop) in [(5000, 400, 160), (37, 400, 160), (999, 64, 10)] {
            let mut padded = vec![0f32; frame / 2];
            padded.extend_from_slice(&x[..len]);
            padded.extend(std::iter::repeat_n(0f32, frame / 2));
            let got = rms(&x[..len], frame, hop);
            assert_eq!(got.len(), 1 + len / hop);
            for (t, g) in got.iter().enumerate() {
                let window = &padded[t * hop..(t * hop + frame).min(padded.len())];
                let want = (window.iter().map(|&v| v as f64 * v as f64).sum::<f64>()
                    / frame as f64)
                    .sqrt();
                assert!(
                    (*g as f64 - want).abs() <= 1e-6 * want.max(1e-3),
                    "frame {t}"
                );
            }
        }
    }

    #[test]
    fn extreme_means_equal_sorting() {
        for seed in 0..30u64 {
            let mut values = noise(103, seed);
            values[5] = values[9]; // ties
            let mut sorted = values.clone();
            sorted.sort_by(f32::total_cmp);
            for n in 1..=SMALL_TAKE {
                let (lo, hi) = extreme_means(&values, n);
                assert_eq!(lo, mean(&sorted[..n]), "seed {seed}, n {n}");
                assert_eq!(hi, mean(&sorted[103 - n..]), "seed {seed}, n {n}");
            }
        }
    }

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
        let freqs = [0.0f32, 100.0, 200.0, 300.0];
        let mag = Array2::from_shape_vec((1, 4), vec![0.0, 0.0, 2.0, 0.0]).unwrap();
        let s = shape(&mag, &freqs, 0.85);
        assert_eq!(s[[0, 0]], 200.0);
        assert_eq!(s[[0, 1]], 0.0);
        assert_eq!(s[[0, 2]], 200.0);
        let flat = Array2::from_shape_vec((1, 4), vec![1.0; 4]).unwrap();
        assert!((shape(&flat, &freqs, 0.85)[[0, 3]] - 1.0).abs() < 1e-6);
    }
}
