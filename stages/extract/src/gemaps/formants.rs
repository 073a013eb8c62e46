//! Formants F1-F3 (centre frequency and bandwidth) from an order-11 LPC
//! model of the 20 ms frames resampled to 11 kHz (openSMILE's
//! cSpecResample, cLpc and cFormantLpc with GeMAPS' parameters).
//!
//! The resampling is openSMILE's: a truncated inverse DFT of the frame's
//! 512-point spectrum (the windowed frame centred in the FFT buffer) at the
//! 11 kHz grid, which yields the first 220 samples of the padded buffer at
//! the new rate. That buffer starts with zeros, and the formants depend on
//! it, so the spectrum passed in must be of the centred frame.

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner};

/// Formant frequencies and bandwidths (Hz) of one frame; 0 where none was
/// found.
#[derive(Debug, Clone, Copy, Default)]
pub struct Formants {
    pub freq: [f64; 5],
    pub bandwidth: [f64; 5],
}

const ORDER: usize = 11;
const TARGET_FS: f64 = 11000.0;
const MIN_F: f64 = 50.0;
const MAX_F: f64 = 5450.0;

pub struct FormantTracker {
    /// Inverse real FFT of the resampled length (512 * 11/16 = 352): the
    /// truncated inverse DFT is one of these with the bins above the
    /// anti-aliasing limit zeroed.
    ifft: Arc<dyn ComplexToReal<f64>>,
    /// Output samples kept (220).
    n_out: usize,
    /// Spectrum bins 1..n_bins feed the sum (bin 0 is DC).
    n_bins: usize,
    n_fft: usize,
}

impl Default for FormantTracker {
    fn default() -> Self {
        Self::new()
    }
}

impl FormantTracker {
    pub fn new() -> FormantTracker {
        // 512-point spectrum of a 320-sample frame: 220 output samples,
        // the phase advancing as for a 352-point transform (512 * 11/16).
        let n_fft = 512usize;
        let frame = 320.0;
        let ratio = TARGET_FS / 16000.0;
        let n_out = (n_fft as f64 * ratio * frame / n_fft as f64).round() as usize;
        let nd = (n_fft as f64 * ratio).round() as usize;
        // Anti-aliasing keeps bins below the output length (even).
        let k_max = n_out.min(n_fft) & !1;
        let n_bins = k_max / 2;
        assert!(n_bins < nd / 2 && n_out <= nd);
        let ifft = RealFftPlanner::<f64>::new().plan_fft_inverse(nd);
        FormantTracker {
            ifft,
            n_out,
            n_bins,
            n_fft,
        }
    }

    /// The first `n_out` samples of the truncated inverse DFT,
    /// x[i] = (X0.re + sum_{m=1}^{n_bins-1} Re(X_m e^{2 pi i m i / nd})) / (n_fft/2),
    /// computed as an inverse real FFT: that doubles every bin but DC (and
    /// Nyquist, zero here), so DC goes in doubled and the result is halved
    /// (both exact in binary).
    fn resample(&self, spectrum: &[Complex<f64>]) -> Vec<f64> {
        let mut spec = self.ifft.make_input_vec();
        spec[0] = Complex::new(2.0 * spectrum[0].re, 0.0);
        spec[1..self.n_bins].copy_from_slice(&spectrum[1..self.n_bins]);
        let mut out = self.ifft.make_output_vec();
        self.ifft.process(&mut spec, &mut out).expect("sizes match");
        let scale = self.n_fft as f64;
        out.truncate(self.n_out);
        for v in out.iter_mut() {
            *v /= scale;
        }
        out
    }

    /// Formants of one frame from its (centred, zero-padded) spectrum in
    /// the usual e^{-i} sign convention.
    pub fn formants(&self, spectrum: &[Complex<f64>]) -> Formants {
        let x = self.resample(spectrum);
        let Some(a) = lpc(&x) else {
            return Formants::default();
        };
        // openSMILE hands the root solver the negated predictor
        // coefficients, z^p - a1 z^(p-1) - ... - ap, rather than A(z);
        // GeMAPS' formants are the roots of that polynomial.
        let mut coeffs = vec![1.0];
        coeffs.extend(a.iter().map(|v| -v));
        let roots = poly_roots(&coeffs);
        let t = 1.0 / TARGET_FS;
        let mut found: Vec<(f64, f64)> = Vec::new();
        for mut r in roots {
            if r.norm_sqr() > 1.0 {
                // Reflect into the unit circle (same angle).
                r = Complex::new(1.0, 0.0) / r.conj();
            }
            if r.im < 0.0 {
                continue;
            }
            let f = r.im.atan2(r.re).abs() / (2.0 * std::f64::consts::PI * t);
            if (MIN_F..=MAX_F).contains(&f) {
                let bw = -r.norm_sqr().sqrt().ln() / (std::f64::consts::PI * t);
                found.push((f, bw));
                if found.len() >= 5 {
                    break;
                }
            }
        }
        found.sort_by(|p, q| p.0.total_cmp(&q.0));
        let mut out = Formants::default();
        for (k, (f, b)) in found.into_iter().enumerate() {
            out.freq[k] = f;
            out.bandwidth[k] = b;
        }
        out
    }
}

/// LPC coefficients a1..ap by the autocorrelation method (Levinson-Durbin);
/// None for a silent frame.
fn lpc(x: &[f64]) -> Option<Vec<f64>> {
    let r: Vec<f64> = (0..=ORDER)
        .map(|lag| (lag..x.len()).map(|i| x[i] * x[i - lag]).sum())
        .collect();
    if r[0] == 0.0 {
        return None;
    }
    let mut a = vec![0.0; ORDER];
    let mut e = r[0];
    for m in 1..=ORDER {
        let mut sum = r[m];
        for i in 1..m {
            sum += a[i - 1] * r[m - i];
        }
        let k = -sum / e;
        a[m - 1] = k;
        for i in 1..=m / 2 {
            let xi = a[i - 1];
            a[i - 1] += k * a[m - i - 1];
            if i < m / 2 || m % 2 == 1 {
                a[m - i - 1] += k * xi;
            }
        }
        e *= 1.0 - k * k;
        if e == 0.0 {
            for v in a.iter_mut().skip(m) {
                *v = 0.0;
            }
            break;
        }
    }
    Some(a)
}

/// All complex roots of a monic polynomial (coefficients from the highest
/// power) by Aberth-Ehrlich iteration. No crate in the dependency tree
/// solves polynomials; degree 11 converges in a few dozen iterations.
fn poly_roots(c: &[f64]) -> Vec<Complex<f64>> {
    let n = c.len() - 1;
    let eval = |z: Complex<f64>| {
        let mut p = Complex::new(c[0], 0.0);
        let mut dp = Complex::new(0.0, 0.0);
        for &ck in &c[1..] {
            dp = dp * z + p;
            p = p * z + ck;
        }
        (p, dp)
    };
    // Initial guesses on a circle bounding the roots, off the real axis.
    let bound = 1.0 + c[1..].iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let mut z: Vec<Complex<f64>> = (0..n)
        .map(|k| {
            Complex::from_polar(
                bound.min(2.0),
                2.0 * std::f64::consts::PI * k as f64 / n as f64 + 0.4,
            )
        })
        .collect();
    // Gauss-Seidel sweeps: each root moves as soon as its step is known,
    // so the pairwise reciprocals 1/(z_i - z_j) change within a sweep and
    // are computed where used (written out: the same arithmetic as
    // `Complex::one() / d`, without the multiplications by 1 and 0).
    let one = Complex::new(1.0, 0.0);
    let tol_sqr = 1e-14 * 1e-14;
    for _ in 0..500 {
        let mut max_step_sqr = 0.0f64;
        for i in 0..n {
            let (p, dp) = eval(z[i]);
            if p.re == 0.0 && p.im == 0.0 {
                continue;
            }
            let ratio = p / dp;
            let zi = z[i];
            let mut s = Complex::new(0.0, 0.0);
            for (j, &zj) in z.iter().enumerate() {
                if j != i {
                    let d = zi - zj;
                    let ns = d.re * d.re + d.im * d.im;
                    s += Complex::new(d.re / ns, -d.im / ns);
                }
            }
            let step = ratio / (one - ratio * s);
            z[i] -= step;
            max_step_sqr = max_step_sqr.max(step.norm_sqr());
        }
        if max_step_sqr < tol_sqr {
            break;
        }
    }
    z
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain cos/sin sum the FFT replaced.
    fn resample_direct(spectrum: &[Complex<f64>]) -> Vec<f64> {
        let n_fft = 512usize;
        let ratio = TARGET_FS / 16000.0;
        let n_out = (n_fft as f64 * ratio * 320.0 / n_fft as f64).round() as usize;
        let nd = n_fft as f64 * ratio;
        let k_max = n_out.min(n_fft) & !1;
        (0..n_out)
            .map(|i| {
                let mut v = spectrum[0].re;
                for (m, z) in spectrum.iter().enumerate().take(k_max / 2).skip(1) {
                    let a = 2.0 * std::f64::consts::PI * (m * i) as f64 / nd;
                    v += z.re * a.cos() - z.im * a.sin();
                }
                v / (n_fft / 2) as f64
            })
            .collect()
    }

    #[test]
    fn fft_resampling_matches_direct_sum() {
        let tracker = FormantTracker::new();
        let fft = RealFftPlanner::<f64>::new().plan_fft_forward(512);
        // A deterministic pseudo-random frame (plus a tone), centred.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut input = vec![0.0; 512];
        for (i, v) in input[96..416].iter_mut().enumerate() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let noise = (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
            *v = 0.3 * noise + (i as f64 * 0.07).sin();
        }
        let mut spec = fft.make_output_vec();
        fft.process(&mut input, &mut spec).unwrap();
        let fast = tracker.resample(&spec);
        let slow = resample_direct(&spec);
        assert_eq!(fast.len(), slow.len());
        let peak = slow.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let max_diff = fast
            .iter()
            .zip(&slow)
            .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
        eprintln!("FFT vs direct resampling: max abs diff {max_diff:e} (peak {peak})");
        assert!(
            max_diff <= 1e-12 * peak,
            "max diff {max_diff} (peak {peak})"
        );
    }
}
