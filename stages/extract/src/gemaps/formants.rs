//! Formants F1-F3 (centre frequency and bandwidth) from an order-11 LPC
//! model of the 20 ms frames resampled to 11 kHz (openSMILE's
//! cSpecResample, cLpc and cFormantLpc with GeMAPS' parameters).
//!
//! The resampling is openSMILE's: a truncated inverse DFT of the frame's
//! 512-point spectrum (the windowed frame centred in the FFT buffer) at the
//! 11 kHz grid, which yields the first 220 samples of the padded buffer at
//! the new rate. That buffer starts with zeros, and the formants depend on
//! it, so the spectrum passed in must be of the centred frame.

use realfft::num_complex::Complex;

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
    /// cos/sin tables of the truncated inverse DFT: [output sample][bin].
    cos: Vec<Vec<f64>>,
    sin: Vec<Vec<f64>>,
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
        let nd = n_fft as f64 * ratio;
        // Anti-aliasing keeps bins below the output length (even).
        let k_max = n_out.min(n_fft) & !1;
        let mut cos = Vec::with_capacity(n_out);
        let mut sin = Vec::with_capacity(n_out);
        for i in 0..n_out {
            let (c, s): (Vec<f64>, Vec<f64>) = (1..k_max / 2)
                .map(|m| {
                    let a = 2.0 * std::f64::consts::PI * (m * i) as f64 / nd;
                    (a.cos(), a.sin())
                })
                .unzip();
            cos.push(c);
            sin.push(s);
        }
        FormantTracker { cos, sin, n_fft }
    }

    /// Formants of one frame from its (centred, zero-padded) spectrum in
    /// the usual e^{-i} sign convention.
    pub fn formants(&self, spectrum: &[Complex<f64>]) -> Formants {
        let half = (self.n_fft / 2) as f64;
        let x: Vec<f64> = self
            .cos
            .iter()
            .zip(&self.sin)
            .map(|(c, s)| {
                let mut v = spectrum[0].re;
                for (m, (cm, sm)) in c.iter().zip(s).enumerate() {
                    let z = spectrum[m + 1];
                    v += z.re * cm - z.im * sm;
                }
                v / half
            })
            .collect();
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
            if r.norm() > 1.0 {
                // Reflect into the unit circle (same angle).
                r = Complex::new(1.0, 0.0) / r.conj();
            }
            if r.im < 0.0 {
                continue;
            }
            let f = r.im.atan2(r.re).abs() / (2.0 * std::f64::consts::PI * t);
            if (MIN_F..=MAX_F).contains(&f) {
                let bw = -r.norm().ln() / (std::f64::consts::PI * t);
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
    for _ in 0..500 {
        let mut max_step = 0.0f64;
        for i in 0..n {
            let (p, dp) = eval(z[i]);
            if p.norm() == 0.0 {
                continue;
            }
            let ratio = p / dp;
            let mut s = Complex::new(0.0, 0.0);
            for j in 0..n {
                if j != i {
                    s += Complex::new(1.0, 0.0) / (z[i] - z[j]);
                }
            }
            let step = ratio / (Complex::new(1.0, 0.0) - ratio * s);
            z[i] -= step;
            max_step = max_step.max(step.norm());
        }
        if max_step < 1e-14 {
            break;
        }
    }
    z
}
