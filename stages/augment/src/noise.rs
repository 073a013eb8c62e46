//! Additive noise at a given signal-to-noise ratio.
//!
//! The noise is scaled so that `10 log10(P_signal / P_noise)` equals the
//! target exactly, both powers being mean squares over the whole utterance
//! (pauses included), the definition torchaudio's `add_noise` and the MUSAN
//! recipes use. Nothing is clipped: signals are floats, and clipping would
//! move the SNR off its target.
//!
//! Synthetic noise is Gaussian. White noise is the generator's output as is;
//! pink noise (power spectral density ∝ 1/f, -3.01 dB per octave) is white
//! noise shaped in the frequency domain: one real FFT (realfft), each bin's
//! amplitude scaled by 1/√f, DC removed, inverse FFT. This is the method of
//! Timmer & König (1995) as used by e.g. the `colorednoise` Python package,
//! and exact at every frequency, unlike IIR approximations of 1/f (Kellett,
//! Voss-McCartney) that are within ±0.5 dB over a limited band.
//!
//! Recorded noise (a noise bank the caller decoded) is a random excerpt of a
//! randomly chosen recording, repeated end to end when shorter than the
//! signal.

use rand::Rng;
use rand_distr::StandardNormal;
use realfft::RealFftPlanner;
use serde::{Deserialize, Serialize};

use crate::AugmentError;
use crate::seed::rng;

/// Spectral colour of synthetic noise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoiseColour {
    /// Flat power spectrum.
    #[default]
    White,
    /// Power ∝ 1/f: -3 dB per octave, closer to ambient and babble noise.
    Pink,
}

/// `len` samples of zero-mean Gaussian noise of the given colour, with unit
/// variance before shaping (pink noise's overall level is arbitrary: callers
/// scale it).
pub fn coloured_noise(colour: NoiseColour, len: usize, seed: u64) -> Vec<f64> {
    let mut rng = rng(seed);
    match colour {
        NoiseColour::White => (0..len).map(|_| rng.sample(StandardNormal)).collect(),
        NoiseColour::Pink => {
            // A power-of-two FFT at least as long as the signal: fast for
            // any utterance length, and the first `len` samples of the
            // (circular) result are pink noise as well.
            let n_fft = len.max(2).next_power_of_two();
            let mut white: Vec<f64> = (0..n_fft).map(|_| rng.sample(StandardNormal)).collect();
            let mut planner = RealFftPlanner::<f64>::new();
            let forward = planner.plan_fft_forward(n_fft);
            let inverse = planner.plan_fft_inverse(n_fft);
            let mut spectrum = forward.make_output_vec();
            forward
                .process(&mut white, &mut spectrum)
                .expect("buffers sized by the plan");
            // DC would be an infinite gain under 1/sqrt(f): drop it.
            spectrum[0] = realfft::num_complex::Complex::new(0.0, 0.0);
            for (k, bin) in spectrum.iter_mut().enumerate().skip(1) {
                *bin /= (k as f64).sqrt();
            }
            // realfft requires real DC and Nyquist bins for the inverse; the
            // forward transform of a real signal already gives that, and a
            // real scaling keeps it.
            let mut pink = inverse.make_output_vec();
            inverse
                .process(&mut spectrum, &mut pink)
                .expect("buffers sized by the plan");
            pink.truncate(len);
            pink
        }
    }
}

/// Add synthetic noise of `colour` to `signal` at `snr_db`.
pub fn add_coloured(
    signal: &[f32],
    snr_db: f64,
    colour: NoiseColour,
    seed: u64,
) -> Result<Vec<f32>, AugmentError> {
    let noise = coloured_noise(colour, signal.len(), seed);
    mix(signal, &noise, snr_db)
}

/// Add an excerpt of one of the `bank`'s recordings to `signal` at `snr_db`.
/// The recording and the start offset are drawn from `seed`.
pub fn add_recorded(
    signal: &[f32],
    snr_db: f64,
    bank: &[Vec<f32>],
    seed: u64,
) -> Result<Vec<f32>, AugmentError> {
    if bank.is_empty() {
        return Err(AugmentError::NoiseBank(
            "no noise recordings were passed".into(),
        ));
    }
    let mut rng = rng(seed);
    let which = rng.random_range(0..bank.len());
    let recording = &bank[which];
    if recording.is_empty() {
        return Err(AugmentError::NoiseBank(format!(
            "recording {which} is empty"
        )));
    }
    if let Some(i) = recording.iter().position(|v| !v.is_finite()) {
        return Err(AugmentError::NoiseBank(format!(
            "recording {which} has a non-finite sample at index {i}"
        )));
    }
    let offset = rng.random_range(0..recording.len());
    let noise: Vec<f64> = (0..signal.len())
        .map(|i| recording[(offset + i) % recording.len()] as f64)
        .collect();
    if power64(&noise) == 0.0 {
        return Err(AugmentError::NoiseBank(format!(
            "recording {which} is silent where it was drawn"
        )));
    }
    mix(signal, &noise, snr_db)
}

/// `signal + g * noise`, with `g` chosen so the SNR is `snr_db` exactly.
fn mix(signal: &[f32], noise: &[f64], snr_db: f64) -> Result<Vec<f32>, AugmentError> {
    let p_signal = signal.iter().map(|&v| v as f64 * v as f64).sum::<f64>() / signal.len() as f64;
    if p_signal == 0.0 {
        return Err(AugmentError::SilentSignal);
    }
    let p_noise = power64(noise);
    let gain = (p_signal / (p_noise * 10f64.powf(snr_db / 10.0))).sqrt();
    Ok(signal
        .iter()
        .zip(noise)
        .map(|(&s, &n)| (s as f64 + gain * n) as f32)
        .collect())
}

fn power64(x: &[f64]) -> f64 {
    x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{power, sine};

    fn measured_snr(clean: &[f32], noisy: &[f32]) -> f64 {
        let noise: Vec<f32> = noisy.iter().zip(clean).map(|(y, x)| y - x).collect();
        10.0 * (power(clean) / power(&noise)).log10()
    }

    #[test]
    fn white_and_pink_noise_hit_the_target_snr() {
        let x = sine(16000, 220.0, 1.5);
        for colour in [NoiseColour::White, NoiseColour::Pink] {
            for snr in [-5.0, 0.0, 10.0, 30.0] {
                let y = add_coloured(&x, snr, colour, 9).unwrap();
                assert_eq!(y.len(), x.len());
                let got = measured_snr(&x, &y);
                assert!(
                    (got - snr).abs() < 0.1,
                    "{colour:?} {snr} dB: measured {got}"
                );
            }
        }
    }

    #[test]
    fn recorded_noise_hits_the_target_snr_and_depends_on_the_seed() {
        let x = sine(16000, 220.0, 1.0);
        // Shorter than the signal, so the excerpt wraps around.
        let bank = vec![sine(16000, 50.0, 0.25), sine(16000, 3000.0, 0.4)];
        let y = add_recorded(&x, 6.0, &bank, 1).unwrap();
        let got = measured_snr(&x, &y);
        assert!((got - 6.0).abs() < 0.1, "measured {got}");
        let others: Vec<Vec<f32>> = (2..6)
            .map(|s| add_recorded(&x, 6.0, &bank, s).unwrap())
            .collect();
        assert!(others.iter().all(|o| *o != y));
    }

    #[test]
    fn silent_noise_recordings_are_rejected() {
        let x = sine(16000, 220.0, 0.1);
        let err = add_recorded(&x, 0.0, &[vec![0.0; 500]], 0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "noise bank: recording 0 is silent where it was drawn"
        );
    }

    /// Mean power spectral density in octave bands, from Welch's method
    /// (Hann-windowed 4096-point periodograms averaged over 50%-overlapping
    /// segments), fitted by least squares against the band's octave number.
    fn octave_slope_db(noise: &[f64], rate: f64) -> f64 {
        let seg = 4096;
        let fft = RealFftPlanner::<f64>::new().plan_fft_forward(seg);
        let window: Vec<f64> = (0..seg)
            .map(|i| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / seg as f64).cos())
            .collect();
        let mut psd = vec![0f64; seg / 2 + 1];
        let mut start = 0;
        while start + seg <= noise.len() {
            let mut buf: Vec<f64> = noise[start..start + seg]
                .iter()
                .zip(&window)
                .map(|(x, w)| x * w)
                .collect();
            let mut spec = fft.make_output_vec();
            fft.process(&mut buf, &mut spec).unwrap();
            for (p, c) in psd.iter_mut().zip(&spec) {
                *p += c.norm_sqr();
            }
            start += seg / 2;
        }
        let hz_per_bin = rate / seg as f64;
        // Octave bands 62.5-125 Hz ... 4-8 kHz.
        let (mut xs, mut ys) = (vec![], vec![]);
        let mut lo = 62.5;
        while lo * 2.0 <= rate / 2.0 {
            let (a, b) = (
                (lo / hz_per_bin).ceil() as usize,
                (2.0 * lo / hz_per_bin) as usize,
            );
            let band = psd[a..b].iter().sum::<f64>() / (b - a) as f64;
            xs.push((lo * 2f64.sqrt()).log2());
            ys.push(10.0 * band.log10());
            lo *= 2.0;
        }
        let n = xs.len() as f64;
        let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
        let cov: f64 = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum();
        let var: f64 = xs.iter().map(|x| (x - mx) * (x - mx)).sum();
        cov / var
    }

    #[test]
    fn pink_noise_falls_3_db_per_octave_and_white_is_flat() {
        let n = 1 << 19;
        let pink = octave_slope_db(&coloured_noise(NoiseColour::Pink, n, 3), 16000.0);
        assert!((pink + 3.01).abs() < 0.2, "pink slope {pink} dB/octave");
        let white = octave_slope_db(&coloured_noise(NoiseColour::White, n, 3), 16000.0);
        assert!(white.abs() < 0.2, "white slope {white} dB/octave");
    }

    #[test]
    fn noise_depends_on_the_seed_only() {
        for colour in [NoiseColour::White, NoiseColour::Pink] {
            let a = coloured_noise(colour, 1000, 5);
            assert_eq!(a, coloured_noise(colour, 1000, 5));
            assert_ne!(a, coloured_noise(colour, 1000, 6));
        }
    }
}
