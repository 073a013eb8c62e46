//! Reverberation by a synthetic room impulse response (RIR).
//!
//! The RIR has three parts:
//! - the direct path, a unit impulse at time 0 (so the output is not
//!   delayed against the input and its labels' timing);
//! - early reflections: 8 sparse taps of random sign at random delays in
//!   1-50 ms, standing out above the diffuse field, as the first wall
//!   reflections do in a room;
//! - the late, diffuse tail: Gaussian noise under the envelope
//!   `exp(-3 ln(10) t / rt60)`, Polack's (1993) stochastic model of
//!   reverberation, whose energy falls 60 dB in `rt60` seconds by
//!   construction; it fades in linearly over the first 50 ms, as the
//!   reflection density builds up.
//!
//! The reflections and tail are scaled together so the direct-to-reverberant
//! energy ratio is `drr_db` exactly, and the RIR runs to 1.5 x rt60 (where it
//! is 90 dB down). The signal is convolved with it by FFT (realfft, one
//! transform of the zero-padded linear convolution length), the output is
//! cut to the input's length (as Kaldi's `wav-reverberate` does: the decay
//! past the end is dropped) and scaled to the input's RMS level, so
//! reverberation changes the room, not the loudness.

use rand::Rng;
use rand_distr::StandardNormal;
use realfft::RealFftPlanner;

use crate::AugmentError;
use crate::seed::rng;

/// Longest accepted reverberation time: a cathedral is 5-10 s; beyond that
/// the RIR (and the convolution) grows without making a plausible room.
pub const MAX_RT60_S: f64 = 10.0;

/// Early reflections per RIR.
const EARLY_REFLECTIONS: usize = 8;
/// Early reflections fall in [1 ms, this]; also the tail's fade-in time.
const EARLY_END_S: f64 = 0.050;
/// RIR length in units of rt60.
const LENGTH_RT60: f64 = 1.5;

/// The synthetic RIR for `rt60_s` and `drr_db` at `sample_rate`, drawn from
/// `seed` (see the module doc).
pub fn synthetic_rir(rt60_s: f64, drr_db: f64, sample_rate: u32, seed: u64) -> Vec<f32> {
    let fs = sample_rate as f64;
    let len = ((LENGTH_RT60 * rt60_s * fs).ceil() as usize).max(2);
    // Amplitude decay rate: energy exp(-2 decay t) is 10^-6 (-60 dB) at rt60.
    let decay = 3.0 * 10f64.ln() / rt60_s;
    let envelope = |n: usize| (-decay * n as f64 / fs).exp();
    let fade = ((EARLY_END_S * fs) as usize).max(1);
    let mut rng = rng(seed);

    let mut h = vec![0f64; len];
    for (n, v) in h.iter_mut().enumerate().skip(1) {
        let onset = (n as f64 / fade as f64).min(1.0);
        *v = rng.sample::<f64, _>(StandardNormal) * envelope(n) * onset;
    }
    let first = ((0.001 * fs) as usize).clamp(1, len - 1);
    let last = ((EARLY_END_S * fs) as usize).clamp(first, len - 1);
    for _ in 0..EARLY_REFLECTIONS {
        let n = rng.random_range(first..=last);
        let sign = if rng.random_bool(0.5) { 1.0 } else { -1.0 };
        // A few times the diffuse field's standard deviation, so the
        // reflections are distinct events rather than part of the noise.
        h[n] += sign * rng.random_range(2.0..4.0) * envelope(n);
    }

    let reverberant: f64 = h[1..].iter().map(|v| v * v).sum();
    let scale = (10f64.powf(-drr_db / 10.0) / reverberant).sqrt();
    h[0] = 1.0;
    for v in &mut h[1..] {
        *v *= scale;
    }
    h.into_iter().map(|v| v as f32).collect()
}

/// Reverberate `signal` in a synthetic room (see the module doc). The
/// output has the input's length and RMS level.
pub fn reverberate(
    signal: &[f32],
    sample_rate: u32,
    rt60_s: f64,
    drr_db: f64,
    seed: u64,
) -> Result<Vec<f32>, AugmentError> {
    let rir = synthetic_rir(rt60_s, drr_db, sample_rate, seed);
    let mut wet = convolve(signal, &rir);
    wet.truncate(signal.len());
    let p_in: f64 = signal.iter().map(|&v| v as f64 * v as f64).sum();
    let p_out: f64 = wet.iter().map(|v| v * v).sum();
    // A silent input stays silent (and must not divide by zero).
    let gain = if p_out > 0.0 {
        (p_in / p_out).sqrt()
    } else {
        0.0
    };
    Ok(wet.into_iter().map(|v| (v * gain) as f32).collect())
}

/// Full linear convolution of `x` and `h` by FFT, in f64.
fn convolve(x: &[f32], h: &[f32]) -> Vec<f64> {
    let out_len = x.len() + h.len() - 1;
    let n_fft = out_len.next_power_of_two();
    let mut planner = RealFftPlanner::<f64>::new();
    let forward = planner.plan_fft_forward(n_fft);
    let inverse = planner.plan_fft_inverse(n_fft);
    let spectrum = |v: &[f32]| {
        let mut buf = vec![0f64; n_fft];
        for (b, &s) in buf.iter_mut().zip(v) {
            *b = s as f64;
        }
        let mut out = forward.make_output_vec();
        forward
            .process(&mut buf, &mut out)
            .expect("buffers sized by the plan");
        out
    };
    let mut product = spectrum(x);
    for (a, b) in product.iter_mut().zip(spectrum(h)) {
        *a *= b;
    }
    let mut y = inverse.make_output_vec();
    inverse
        .process(&mut product, &mut y)
        .expect("buffers sized by the plan");
    // realfft's inverse is unnormalised.
    let norm = 1.0 / n_fft as f64;
    y.truncate(out_len);
    y.iter_mut().for_each(|v| *v *= norm);
    y
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{power, sine};

    /// Schroeder's backward integration: the energy decay curve in dB,
    /// `10 log10(sum_{k>=n} h[k]^2 / sum h^2)`.
    fn schroeder_db(h: &[f32]) -> Vec<f64> {
        let mut edc = vec![0f64; h.len()];
        let mut acc = 0.0;
        for n in (0..h.len()).rev() {
            acc += h[n] as f64 * h[n] as f64;
            edc[n] = acc;
        }
        edc.iter().map(|e| 10.0 * (e / acc).log10()).collect()
    }

    #[test]
    fn energy_decay_reaches_minus_60_db_at_rt60() {
        let fs = 16000.0;
        for (rt60, seed) in [(0.5, 1), (0.5, 2), (0.3, 3), (1.2, 4)] {
            let h = synthetic_rir(rt60, 0.0, 16000, seed);
            let edc = schroeder_db(&h);
            let t60 = edc.iter().position(|&d| d <= -60.0).unwrap() as f64 / fs;
            assert!(
                (t60 - rt60).abs() / rt60 < 0.2,
                "rt60 {rt60}: -60 dB at {t60} s"
            );
            // ISO 3382's T20: the decay rate fitted between -5 and -25 dB,
            // extrapolated to 60 dB; free of the direct sound's step.
            let a = edc.iter().position(|&d| d <= -5.0).unwrap();
            let b = edc.iter().position(|&d| d <= -25.0).unwrap();
            let xs: Vec<f64> = (a..b).map(|n| n as f64 / fs).collect();
            let ys = &edc[a..b];
            let (mx, my) = (
                xs.iter().sum::<f64>() / xs.len() as f64,
                ys.iter().sum::<f64>() / ys.len() as f64,
            );
            let slope = xs
                .iter()
                .zip(ys)
                .map(|(x, y)| (x - mx) * (y - my))
                .sum::<f64>()
                / xs.iter().map(|x| (x - mx) * (x - mx)).sum::<f64>();
            let t20 = -60.0 / slope;
            assert!((t20 - rt60).abs() / rt60 < 0.1, "rt60 {rt60}: T20 {t20} s");
        }
    }

    #[test]
    fn direct_to_reverberant_ratio_is_as_asked() {
        for drr in [-6.0, 0.0, 9.0] {
            let h = synthetic_rir(0.6, drr, 16000, 7);
            let direct = h[0] as f64 * h[0] as f64;
            let rest: f64 = h[1..].iter().map(|&v| v as f64 * v as f64).sum();
            let got = 10.0 * (direct / rest).log10();
            assert!((got - drr).abs() < 0.01, "asked {drr} dB, got {got}");
        }
    }

    #[test]
    fn output_keeps_length_and_level_and_is_the_input_convolved_with_the_rir() {
        let x = sine(16000, 220.0, 1.0);
        let y = reverberate(&x, 16000, 0.5, 0.0, 11).unwrap();
        assert_eq!(y.len(), x.len());
        assert!((power(&y) / power(&x) - 1.0).abs() < 1e-3);
        // An impulse comes out as the RIR itself (up to the level scaling).
        let mut click = vec![0f32; 12000];
        click[0] = 1.0;
        let y = reverberate(&click, 16000, 0.5, 0.0, 11).unwrap();
        let h = synthetic_rir(0.5, 0.0, 16000, 11);
        let g = y[0] / h[0];
        let err = y
            .iter()
            .zip(&h)
            .map(|(a, b)| (a - g * b).abs())
            .fold(0f32, f32::max);
        assert!(err < 1e-5 * g, "max deviation {err}");
    }

    #[test]
    fn reverb_smears_a_tone_burst_past_its_end() {
        // 200 ms of tone then silence: the dry signal is silent after the
        // burst, the reverberated one still rings 100 ms later.
        let mut x = sine(16000, 500.0, 0.2);
        x.resize(16000, 0.0);
        let y = reverberate(&x, 16000, 0.8, 0.0, 5).unwrap();
        let later = power(&y[4800..5600]) / power(&y[..3200]);
        let db = 10.0 * later.log10();
        // 100-150 ms after the end of a 0.8 s room: the decay has fallen
        // about 60 * 0.125 / 0.8 = 9 dB below the steady state (which is
        // itself ~3 dB below the direct+reverberant level).
        assert!(
            db > -20.0 && db < -5.0,
            "level 100-150 ms after the burst: {db} dB"
        );
    }
}
