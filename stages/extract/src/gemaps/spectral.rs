//! Spectral low-level descriptors of the 20 ms Hamming-windowed frames:
//! loudness, alpha ratio, Hammarberg index, log-spectral slopes, spectral
//! flux and MFCC 1-4, each defined as openSMILE's cMelspec, cPlp,
//! cVectorOperation (`ll1`), cSpectral and cMfcc compute them with the
//! GeMAPS configuration's parameters.

/// Bin spacing of the 512-point FFT of a 20 ms frame at 16 kHz: openSMILE
/// pads the 320-sample frame to 512 and rescales the frame duration, so
/// bin `k` is `k * 31.25` Hz.
const MEL_LO_HZ: f64 = 20.0;
const MEL_HI_HZ: f64 = 8000.0;
const N_MEL: usize = 26;

/// HTK-style mel scale, as openSMILE's SPECTSCALE_MEL.
fn hz_to_mel(f: f64) -> f64 {
    if f > 0.0 {
        1127.0 * (1.0 + f / 700.0).ln()
    } else {
        0.0
    }
}

fn mel_to_hz(m: f64) -> f64 {
    700.0 * ((m / 1127.0).exp() - 1.0)
}

/// A triangular mel filterbank in openSMILE's layout: every bin between the
/// cut-offs belongs to the falling slope of one band and the rising slope
/// of the next, with weights `w` and `1 - w`.
pub struct MelBank {
    lo_bin: usize,
    hi_bin: usize,
    /// Band whose falling slope bin `n` is on (negative: none).
    chan: Vec<i64>,
    coeff: Vec<f64>,
    /// Centre frequency of each band in Hz (the loudness weighting reads
    /// them).
    pub centres: Vec<f64>,
}

impl MelBank {
    pub fn new(n_bins: usize, bin_hz: f64) -> MelBank {
        let lo_mel = hz_to_mel(MEL_LO_HZ);
        let hi_mel = hz_to_mel(MEL_HI_HZ);
        let lo_bin = (MEL_LO_HZ / bin_hz).round() as usize;
        let hi_bin = ((MEL_HI_HZ / bin_hz).round() as usize).min(n_bins);
        let step = (hi_mel - lo_mel) / (N_MEL as f64 + 1.0);
        let cfs: Vec<f64> = (0..N_MEL + 2).map(|m| lo_mel + m as f64 * step).collect();
        let bin_mel = |n: usize| hz_to_mel(n as f64 * bin_hz);
        let mut chan = vec![-3i64; n_bins];
        let mut m = 0usize;
        for (n, c) in chan.iter_mut().enumerate() {
            if n <= lo_bin || n >= hi_bin {
                continue;
            }
            while cfs[m] < bin_mel(n) {
                if m > N_MEL {
                    break;
                }
                m += 1;
            }
            *c = m as i64 - 2;
        }
        let mut coeff = vec![0.0; n_bins];
        let mut m = 0usize;
        for (n, c) in coeff.iter_mut().enumerate().take(hi_bin).skip(lo_bin) {
            let nm = bin_mel(n);
            while nm > cfs[m + 1] && m <= N_MEL {
                m += 1;
            }
            *c = (cfs[m + 1] - nm) / (cfs[m + 1] - cfs[m]);
        }
        let centres = (1..=N_MEL).map(|m| mel_to_hz(cfs[m])).collect();
        MelBank {
            lo_bin,
            hi_bin,
            chan,
            coeff,
            centres,
        }
    }

    /// Band energies of one power spectrum.
    pub fn apply(&self, power: &[f64]) -> [f64; N_MEL] {
        let mut out = [0.0; N_MEL];
        for (n, &p) in power.iter().enumerate().take(self.hi_bin).skip(self.lo_bin) {
            let m = self.chan[n];
            if m <= -2 {
                continue;
            }
            let a = p * self.coeff[n];
            if m > -1 {
                out[m as usize] += a;
            }
            if m < N_MEL as i64 - 1 {
                out[(m + 1) as usize] += p - a;
            }
        }
        out
    }
}

/// Hermansky's equal-loudness weight (openSMILE's non-HTK PLP curve).
fn equal_loudness(f: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * f;
    let w2 = w * w;
    let c = w2 + 6_300_000.0;
    1e32 * ((w2 + 56.8e6) * w2 * w2) / (c * c * (w2 + 0.38e9) * (w2 * w2 * w2 * w + 1.7e31))
}

/// Per-frame spectral descriptors computed from one 20 ms magnitude
/// spectrum.
pub struct SpectralLlds {
    mel: MelBank,
    eql: Vec<f64>,
    /// `mfcc_cos[i][m]`: DCT basis of coefficient i+1, already liftered and
    /// scaled.
    mfcc_basis: Vec<Vec<f64>>,
    bin_hz: f64,
}

/// The descriptors of one frame, in the order eGeMAPS lists them.
#[derive(Debug, Clone, Copy, Default)]
pub struct SpectralFrame {
    pub loudness: f64,
    pub alpha_ratio: f64,
    pub hammarberg: f64,
    pub slope_0_500: f64,
    pub slope_500_1500: f64,
    pub flux: f64,
    pub mfcc: [f64; 4],
}

/// Floors of openSMILE's cPlp (`melfloor`) and cSpectral (`specFloor`
/// squared), which decide the values of silent frames.
const PLP_MEL_FLOOR: f64 = 0.000_000_000_93;
const SPEC_FLOOR: f64 = 1e-14;
const CEP_LIFTER: f64 = 22.0;
/// Upper edge of the flux range (`freqRange = 0-5000`): bins strictly
/// below it.
const FLUX_HI_HZ: f64 = 5000.0;

impl SpectralLlds {
    pub fn new(n_bins: usize, bin_hz: f64) -> SpectralLlds {
        let mel = MelBank::new(n_bins, bin_hz);
        let eql = mel.centres.iter().map(|&f| equal_loudness(f)).collect();
        let n = N_MEL as f64;
        let factor = (2.0 / n).sqrt();
        let mfcc_basis = (1..=4)
            .map(|i| {
                let fi = i as f64;
                let lifter =
                    1.0 + CEP_LIFTER / 2.0 * (std::f64::consts::PI * fi / CEP_LIFTER).sin();
                (0..N_MEL)
                    .map(|m| {
                        (std::f64::consts::PI * (fi / n) * (m as f64 + 0.5)).cos() * lifter * factor
                    })
                    .collect()
            })
            .collect();
        SpectralLlds {
            mel,
            eql,
            mfcc_basis,
            bin_hz,
        }
    }

    /// Descriptors of one frame; `prev` is the previous frame's magnitude
    /// spectrum (flux is 0 for the first frame, as in openSMILE).
    pub fn frame(&self, mag: &[f64], prev: Option<&[f64]>) -> SpectralFrame {
        let power: Vec<f64> = mag.iter().map(|m| m * m).collect();
        let bands = self.mel.apply(&power);
        // Loudness: equal-loudness weighted, cube-root compressed auditory
        // spectrum, averaged over bands (cPlp doAud + ll1).
        let loudness = bands
            .iter()
            .zip(&self.eql)
            .map(|(&b, &w)| (b.max(PLP_MEL_FLOOR) * w).powf(0.33))
            .sum::<f64>()
            / N_MEL as f64;
        // MFCC: HTK-compatible scaling to 16-bit range, floor 1.0.
        let log_bands: Vec<f64> = bands
            .iter()
            .map(|&b| (b * 32767.0 * 32767.0).max(1.0).ln())
            .collect();
        let mut mfcc = [0.0; 4];
        for (c, basis) in mfcc.iter_mut().zip(&self.mfcc_basis) {
            *c = log_bands.iter().zip(basis).map(|(a, b)| a * b).sum();
        }
        let log_power: Vec<f64> = power
            .iter()
            .map(|&p| {
                if p <= SPEC_FLOOR {
                    10.0 * SPEC_FLOOR.log10()
                } else {
                    10.0 * p.log10()
                }
            })
            .collect();
        let freq = |k: usize| k as f64 * self.bin_hz;
        let (mut low, mut high) = (0.0, 0.0);
        let (mut max_low, mut max_high) = (0.0f64, 0.0f64);
        for (k, &p) in power.iter().enumerate() {
            let f = freq(k);
            if f > 5000.0 {
                break;
            }
            if f < 1000.0 {
                low += p;
            } else {
                high += p;
            }
            if f < 2000.0 {
                max_low = max_low.max(p);
            } else {
                max_high = max_high.max(p);
            }
        }
        let alpha_ratio = if low > 0.0 {
            10.0 * (high.max(SPEC_FLOOR) / low).log10()
        } else {
            0.0
        };
        let hammarberg = if max_high > 0.0 {
            10.0 * (max_low.max(SPEC_FLOOR) / max_high).log10()
        } else {
            0.0
        };
        let flux = match prev {
            None => 0.0,
            Some(prev) => {
                let n_flux = (0..mag.len()).take_while(|&k| freq(k) < FLUX_HI_HZ).count();
                let sum: f64 = (0..n_flux).map(|k| (mag[k] - prev[k]).powi(2)).sum();
                let v = sum / n_flux as f64;
                if v > 0.0 { v.sqrt() } else { 0.0 }
            }
        };
        SpectralFrame {
            loudness,
            alpha_ratio,
            hammarberg,
            slope_0_500: self.slope(&log_power, 0.0, 500.0),
            slope_500_1500: self.slope(&log_power, 500.0, 1500.0),
            flux,
            mfcc,
        }
    }

    /// Least-squares slope (dB/Hz) of the log power spectrum between two
    /// band edges, with openSMILE's edge-bin weights and its point count
    /// (the index span, one less than the bins summed).
    fn slope(&self, log_power: &[f64], lo: f64, hi: f64) -> f64 {
        let n = log_power.len();
        let freq = |k: usize| k as f64 * self.bin_hz;
        // Left edge: the bin below the first bin above `lo`.
        let ii = (0..n).find(|&k| freq(k) > lo).unwrap_or(n);
        let mut w_l = if ii < n && ii > 0 {
            (freq(ii) - lo) / self.bin_hz
        } else {
            1.0
        };
        let idx_l = ii.saturating_sub(1);
        // Right edge: the bin at `hi`, or the one below it.
        let ii = (0..n).find(|&k| freq(k) >= hi).unwrap_or(n);
        let mut w_r = if ii < n && ii > 0 {
            (hi - freq(ii - 1)) / self.bin_hz
        } else {
            1.0
        };
        let idx_r = if ii < n && freq(ii) == hi { ii } else { ii - 1 }.min(n - 1);
        if w_l == 0.0 {
            w_l = 1.0;
        }
        if w_r == 0.0 {
            w_r = 1.0;
        }
        let n_ind = idx_r as f64 - idx_l as f64;
        let mut sf = freq(idx_l) * w_l;
        let mut s2f = sf * sf;
        let mut sum_a = freq(idx_l) * w_l * log_power[idx_l];
        let mut sum_b = w_l * log_power[idx_l];
        for (k, &l) in log_power.iter().enumerate().take(idx_r).skip(idx_l + 1) {
            s2f += freq(k) * freq(k);
            sf += freq(k);
            sum_a += freq(k) * l;
            sum_b += l;
        }
        let fr = freq(idx_r) * w_r;
        s2f += fr * fr;
        sf += fr;
        sum_a += fr * log_power[idx_r];
        sum_b += w_r * log_power[idx_r];
        let deno = n_ind * s2f - sf * sf;
        if deno != 0.0 {
            (n_ind * sum_a - sf * sum_b) / deno
        } else {
            0.0
        }
    }
}
