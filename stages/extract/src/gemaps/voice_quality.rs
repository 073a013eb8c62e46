//! Voice-quality descriptors of the 60 ms frames: harmonics-to-noise ratio
//! from the autocorrelation, harmonic level differences H1-H2 and H1-A3,
//! formant amplitudes relative to F0 (openSMILE's cHarmonics), and local
//! jitter and shimmer (cPitchJitter).
//!
//! openSMILE indexes harmonics from 0 for the fundamental, and GeMAPS' "H1"
//! and "H2" are its indices 1 and 2; the same indices are used here so the
//! numbers agree.

use std::sync::Arc;

use realfft::ComplexToReal;

use super::formants::Formants;
use super::parabola_vertex;

const N_HARMONICS: usize = 100;
const FLOOR: f64 = -201.0;

/// Voice-quality values of one 60 ms frame.
#[derive(Debug, Clone, Copy, Default)]
pub struct VoiceFrame {
    pub jitter: f64,
    pub shimmer_db: f64,
    pub hnr_db: f64,
    pub h1_h2: f64,
    pub h1_a3: f64,
    pub formant_amplitude: [f64; 3],
}

/// Jitter and shimmer of one frame (voiced frames with no usable period
/// repeat the previous frame's values, as openSMILE does).
#[derive(Debug, Clone, Copy, Default)]
pub struct Periods {
    pub jitter: f64,
    pub shimmer_db: f64,
}

fn is_peak(x: &[f64], n: i64) -> bool {
    let len = x.len() as i64;
    if n >= len || n < 0 {
        return false;
    }
    let n = n as usize;
    if (n as i64) + 1 < len {
        if n > 0 {
            x[n] > x[n - 1] && x[n] > x[n + 1]
        } else {
            x[0] > x[1]
        }
    } else {
        n > 0 && x[n] > x[n - 1]
    }
}

/// The bin nearest `freq` at or after `start` (0 if beyond the spectrum).
/// `frq[k]` is `k * bin_hz` (strictly increasing, `frq[0]` = 0): this is
/// the first bin from `max(start, 1)` above `freq`, or the one before it if
/// that is strictly nearer, found directly rather than by scanning.
// `!(a > b)` is true for NaN too, which `a <= b` is not.
#[allow(clippy::neg_cmp_op_on_partial_ord)]
fn freq_to_bin(frq: &[f64], freq: f64, start: usize) -> usize {
    let n = frq.len();
    let s = start.max(1);
    // No bin from s on lies above freq (also for NaN).
    if s >= n || !(frq[n - 1] > freq) {
        return 0;
    }
    // First bin above freq: from the quotient, corrected against the
    // table itself so the comparison is exactly the scan's.
    let q = freq / frq[1];
    let mut b = if q > 0.0 { (q as usize).min(n - 1) } else { 0 };
    while b > 0 && frq[b - 1] > freq {
        b -= 1;
    }
    while frq[b] <= freq {
        b += 1;
    }
    let b = b.max(s);
    if frq[b] - freq > freq - frq[b - 1] {
        b - 1
    } else {
        b
    }
}

fn closest_peak(x: &[f64], idx: usize) -> usize {
    let n = x.len() as i64;
    let idx = idx as i64;
    if is_peak(x, idx) {
        return idx as usize;
    }
    let mut o = 1;
    while idx - o > 0 || idx + o < n - 1 {
        if idx - o > 0 && is_peak(x, idx - o) {
            return (idx - o) as usize;
        }
        if idx + o < n - 1 && is_peak(x, idx + o) {
            return (idx + o) as usize;
        }
        o += 1;
    }
    let (first, last, v) = (x[0], x[(n - 1) as usize], x[idx as usize]);
    if first > v && last <= v {
        0
    } else if first <= v && last > v {
        (n - 1) as usize
    } else if first > v && last > v {
        if idx < n / 2 { 0 } else { (n - 1) as usize }
    } else {
        idx as usize
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Harmonic {
    bin: usize,
    freq: f64,
    magnitude: f64,
    magnitude_interp: f64,
    log_rel: f64,
}

/// Harmonic peaks of `mag` for fundamental `f0` (Hz), with log levels
/// relative to the fundamental's bin magnitude.
fn harmonic_peaks(mag: &[f64], frq: &[f64], f0: f64) -> Vec<Harmonic> {
    let n_bins = mag.len();
    let mut h = vec![
        Harmonic {
            log_rel: FLOOR,
            ..Harmonic::default()
        };
        N_HARMONICS
    ];
    let mut last_bin = freq_to_bin(frq, 0.5 * f0, 1);
    let first_bin = freq_to_bin(frq, 0.5 * f0, last_bin);
    for (i, hi) in h.iter_mut().enumerate() {
        let fi = i as f64;
        let cand = freq_to_bin(frq, (fi + 1.0) * f0, last_bin);
        let mut peak: i64 = -1;
        if is_peak(mag, cand as i64) {
            peak = cand as i64;
        } else {
            let mut l = cand as i64 - 1;
            let mut r = cand as i64 + 1;
            let lower = freq_to_bin(frq, (fi + 0.5) * f0, last_bin) as i64;
            let upper = freq_to_bin(frq, (fi + 1.5) * f0, cand) as i64;
            while (l >= lower || r <= upper) && peak == -1 {
                if r <= upper {
                    if is_peak(mag, r) {
                        peak = r;
                        break;
                    }
                    r += 1;
                }
                if l >= lower {
                    if is_peak(mag, l) {
                        peak = l;
                        break;
                    }
                    l -= 1;
                }
            }
        }
        hi.log_rel = FLOOR;
        if peak >= first_bin as i64 && peak < n_bins as i64 - 1 {
            let p = peak as usize;
            hi.bin = p;
            hi.magnitude = mag[p];
            let (f, m) = parabola_vertex(
                [frq[p - 1], frq[p], frq[p + 1]],
                [mag[p - 1], mag[p], mag[p + 1]],
            );
            hi.freq = f;
            hi.magnitude_interp = m;
        } else {
            hi.bin = cand;
        }
        last_bin = cand;
        if cand == 0 {
            // Past the top of the spectrum: every further harmonic's
            // candidate is bin 0 too, with no peak, so it keeps the
            // initial value (bin 0, frequency and magnitudes 0, level
            // FLOOR), exactly as the per-harmonic search would leave it.
            break;
        }
    }
    // Levels relative to the fundamental; a harmonic landing on the same
    // bin as the previous one is void.
    let base = h[0].magnitude;
    let have_base = base != 0.0;
    h[0].log_rel = 0.0;
    for i in 1..N_HARMONICS {
        h[i].log_rel = if have_base {
            if h[i].magnitude_interp > 0.0 {
                (20.0 * (h[i].magnitude_interp.log10() - base.log10())).max(-200.0)
            } else {
                -200.0
            }
        } else {
            FLOOR
        };
        if h[i].bin == h[i - 1].bin {
            h[i] = Harmonic {
                bin: 0,
                log_rel: FLOOR,
                ..Harmonic::default()
            };
        }
    }
    h
}

/// The harmonic with the largest magnitude within ±20% of a formant.
fn formant_harmonic(h: &[Harmonic], centre: f64) -> Option<usize> {
    let (lo, hi) = (0.8 * centre, 1.2 * centre);
    let mut best = None;
    let mut max = 0.0;
    for (i, x) in h.iter().enumerate() {
        if x.freq >= lo && x.freq <= hi && x.magnitude > max {
            best = Some(i);
            max = x.magnitude;
        }
    }
    best
}

/// HNR (dB) from the autocorrelation, read at the ACF peak nearest the
/// F0 period.
fn hnr_db(ifft: &Arc<dyn ComplexToReal<f64>>, mag: &[f64], f0: f64, bin_hz: f64) -> f64 {
    let n_bins = mag.len();
    let n = (n_bins - 1) * 2;
    let mut spec: Vec<realfft::num_complex::Complex<f64>> = mag
        .iter()
        .map(|m| realfft::num_complex::Complex::new(m * m, 0.0))
        .collect();
    let mut acf = vec![0.0; n];
    ifft.process(&mut spec, &mut acf).expect("sizes match");
    // The inverse real FFT doubles every term but DC and Nyquist relative
    // to openSMILE's unscaled inverse, hence the half.
    let acf: Vec<f64> = acf
        .iter()
        .take(n_bins)
        .map(|v| (v / 2.0).abs() / n_bins as f64)
        .collect();
    let fs = bin_hz * (n_bins - 1) as f64 * 2.0;
    let lag = if f0 > 0.0 {
        (fs / f0).floor() as usize
    } else {
        0
    };
    let bin = if lag > 0 { closest_peak(&acf, lag) } else { 0 };
    if bin == 0 {
        return 0.0;
    }
    let noise = acf[0] - acf[bin];
    let ratio = if noise == 0.0 {
        10e10
    } else {
        acf[bin] / noise
    };
    10.0 * ratio.clamp(10e-10, 10e10).log10()
}

/// Harmonic descriptors of one 60 ms frame's magnitude spectrum.
/// `ifft` is the inverse real FFT of the spectrum's length (planned once
/// per analyser).
pub fn harmonics(
    ifft: &Arc<dyn ComplexToReal<f64>>,
    mag: &[f64],
    bin_hz: f64,
    f0: f64,
    formants: &Formants,
    periods: Periods,
) -> VoiceFrame {
    let hnr = hnr_db(ifft, mag, f0, bin_hz);
    let mut out = VoiceFrame {
        jitter: periods.jitter,
        shimmer_db: periods.shimmer_db,
        hnr_db: hnr,
        h1_h2: 0.0,
        h1_a3: 0.0,
        formant_amplitude: [FLOOR; 3],
    };
    if f0 <= 0.0 {
        return out;
    }
    let frq: Vec<f64> = (0..mag.len()).map(|k| k as f64 * bin_hz).collect();
    let h = harmonic_peaks(mag, &frq, f0);
    let idx: Vec<Option<usize>> = formants
        .freq
        .iter()
        .map(|&f| formant_harmonic(&h, f))
        .collect();
    out.h1_h2 = (h[1].log_rel - h[2].log_rel).clamp(-201.0, 201.0);
    out.h1_a3 = match idx[2] {
        Some(a3) => (h[1].log_rel - h[a3].log_rel).clamp(-201.0, 201.0),
        None => (h[1].log_rel - 201.0).clamp(-201.0, 201.0),
    };
    for (k, a) in out.formant_amplitude.iter_mut().enumerate() {
        *a = idx[k].map_or(0.0, |i| h[i].log_rel);
    }
    out
}

/// Pearson correlation of two equally long stretches.
fn cross_corr(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len().min(y.len());
    let mx = x[..n].iter().sum::<f64>() / n as f64;
    let my = y[..n].iter().sum::<f64>() / n as f64;
    let (mut cc, mut nx, mut ny) = (0.0, 0.0, 0.0);
    for i in 0..n {
        cc += (x[i] - mx) * (y[i] - my);
        nx += (x[i] - mx).powi(2);
        ny += (y[i] - my).powi(2);
    }
    cc / (nx.sqrt() * ny.sqrt())
}

/// Peak-to-peak amplitude of a period (ignoring its first and last
/// sample, as openSMILE does).
fn peak_to_peak(x: &[f64]) -> f64 {
    let inner = &x[1..x.len() - 1];
    let max = inner.iter().copied().fold(x[1], f64::max);
    let min = inner.iter().copied().fold(x[1], f64::min);
    max - min
}

/// Local jitter and shimmer (dB) per 60 ms frame, by openSMILE's
/// cPitchJitter: waveform periods are located by maximising the
/// cross-correlation of adjacent stretches within ±10% of the F0 period,
/// periods with correlation above 0.5 count, and jitter/shimmer are the
/// mean absolute differences of successive period lengths/amplitudes
/// relative to their means. The read position and the last period carry
/// over between frames, as openSMILE streams them.
pub fn jitter_shimmer(x: &[f64], f0_hz: &[f64], hop: usize, frame: usize) -> Vec<Periods> {
    const SEARCH: f64 = 0.1;
    const MIN_PERIODS: i64 = 2;
    const MIN_CC: f64 = 0.5;
    let t_s = 1.0 / 16000.0;
    let mut out = Vec::with_capacity(f0_hz.len());
    let (mut last_idx, mut last_mis) = (0i64, 0i64);
    let mut last_t0 = 0.0f64;
    let (mut last_jitter, mut last_shimmer) = (0.0f64, 0.0f64);
    let len_f = frame as i64;
    let pp_len = hop as i64;
    for (t, &f0) in f0_hz.iter().enumerate() {
        let start_vidx = t as i64 * pp_len;
        let to_read0 = pp_len + last_mis;
        let mut to_read = to_read0;
        let (mut t0f, mut t0min_f, mut t0max_f) = (0i64, 0i64, 0i64);
        if f0 > 0.0 {
            let tf = 1.0 / f0 / t_s;
            t0f = tf.round() as i64;
            t0min_f = ((1.0 - SEARCH) * tf).floor() as i64;
            t0max_f = ((1.0 + SEARCH) * tf).ceil() as i64;
            to_read = to_read.max(MIN_PERIODS * t0max_f + MIN_PERIODS);
        }
        to_read = to_read.min(last_mis + len_f);
        if start_vidx - last_mis != last_idx {
            // Re-synchronise with the pitch frame (first frame, or after
            // the stream drifted).
            last_idx = start_vidx;
            to_read = to_read.min(len_f);
        }
        let begin = last_idx.max(0) as usize;
        let end = (begin + to_read.max(0) as usize).min(x.len());
        let mat = &x[begin..end];
        let n_t = mat.len() as i64;
        let (mut n_periods, mut n_local) = (0.0f64, 0.0f64);
        let (mut avg_period, mut jitter_sum) = (0.0f64, 0.0f64);
        let (mut avg_amp, mut avg_amp_diff) = (0.0f64, 0.0f64);
        let last_period;
        if f0 > 0.0 {
            let mut start = 0i64;
            let mut lp = 0i64;
            let mut cc = vec![0.0f64; (t0max_f - t0min_f + 1) as usize];
            while start < n_t - 2 * t0max_f - 1 {
                for tf in t0min_f..=t0max_f {
                    let s = start as usize;
                    let m = (start + tf) as usize;
                    cc[(tf - t0min_f) as usize] =
                        cross_corr(&mat[s..s + tf as usize], &mat[m..m + tf as usize]);
                }
                let mut max = cc[(t0f - t0min_f).clamp(0, cc.len() as i64 - 1) as usize];
                let mut max_i: i64 = -1;
                for i in 1..(t0max_f - t0min_f - 1) {
                    let iu = i as usize;
                    if cc[iu - 1] < cc[iu] && cc[iu] > cc[iu + 1] && (max_i == -1 || cc[iu] > max) {
                        max_i = i;
                        max = cc[iu];
                    }
                }
                let pp = if max_i == -1 { t0f } else { t0min_f + max_i };
                let os = start;
                if max_i >= 0 {
                    start += pp;
                    let a = &mat[os as usize..(os + pp) as usize];
                    let b = &mat[start as usize..((start + pp) as usize).min(mat.len())];
                    let (a0, a1) = (peak_to_peak(a), peak_to_peak(b));
                    let mi = max_i as usize;
                    let (xv, cci) = parabola_vertex(
                        [(mi - 1) as f64, mi as f64, (mi + 1) as f64],
                        [cc[mi - 1], cc[mi], cc[mi + 1]],
                    );
                    if cci > MIN_CC {
                        // openSMILE keeps periods as 32-bit floats: two
                        // periods equal to float precision (a synthetic
                        // voice's) differ by exactly 0, not by 1e-19,
                        // which the `nz` smoothing would count as a value.
                        let period = ((t0min_f as f64 + xv).abs() * t_s) as f32 as f64;
                        avg_period += period;
                        n_periods += 1.0;
                        if last_t0 > 0.0 {
                            let diff = (last_t0 - period).abs();
                            jitter_sum += diff;
                            n_local += 1.0;
                        }
                        last_t0 = period;
                        avg_amp += (a0 + a1) / 2.0;
                        avg_amp_diff += (a0 - a1).abs();
                    }
                } else {
                    start += t0f;
                }
                if start < to_read0 - 1 {
                    lp = start;
                }
            }
            last_period = lp;
            last_mis = to_read0 - last_period;
        } else {
            last_period = to_read0;
            last_mis = 0;
            last_t0 = 0.0;
            last_jitter = 0.0;
            last_shimmer = 0.0;
        }
        last_idx += last_period;
        let mut p = Periods::default();
        if f0 > 0.0 {
            if n_periods > 0.0 && n_local > 0.0 {
                last_jitter = jitter_sum / n_local / (avg_period / n_periods);
            }
            if n_periods > 0.0 {
                last_shimmer = if avg_amp > 0.0 {
                    avg_amp_diff / avg_amp
                } else {
                    0.0
                };
            }
            if n_periods == 0.0 || n_local > 0.0 {
                p.jitter = last_jitter.min(1.0);
            }
            last_shimmer = last_shimmer.min(1.0);
            let ratio = last_shimmer + 1.0;
            p.shimmer_db = if ratio > 10e-50 {
                20.0 * ratio.log10()
            } else {
                -1000.0
            };
        }
        out.push(p);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The linear scan `freq_to_bin` replaced.
    fn freq_to_bin_scan(frq: &[f64], freq: f64, start: usize) -> usize {
        for b in start.max(1)..frq.len() {
            if frq[b] > freq {
                return if frq[b] - freq > freq - frq[b - 1] {
                    b - 1
                } else {
                    b
                };
            }
        }
        0
    }

    #[test]
    fn direct_bin_matches_scan() {
        let bin_hz = 16000.0 / 1024.0;
        let frq: Vec<f64> = (0..513).map(|k| k as f64 * bin_hz).collect();
        let mut freqs: Vec<f64> = vec![-5.0, 0.0, f64::NAN, f64::INFINITY, 8000.0, 9000.0];
        // Exact bin centres, midpoints and their neighbours.
        for k in 0..514 {
            let f = k as f64 * bin_hz;
            for x in [f, f + 0.5 * bin_hz, f - 0.5 * bin_hz] {
                freqs.extend([x, x.next_up(), x.next_down()]);
            }
        }
        // Harmonic multiples of assorted F0 values.
        for f0 in [55.0, 61.3, 100.0, 137.77, 200.0, 333.3, 512.0, 999.9] {
            for i in 0..100 {
                freqs.extend([
                    (i as f64 + 0.5) * f0,
                    (i as f64 + 1.0) * f0,
                    (i as f64 + 1.5) * f0,
                ]);
            }
        }
        for &f in &freqs {
            for start in [0, 1, 2, 5, 17, 100, 255, 511, 512, 513, 600] {
                assert_eq!(
                    freq_to_bin(&frq, f, start),
                    freq_to_bin_scan(&frq, f, start),
                    "freq {f} start {start}"
                );
            }
        }
    }
}
