//! Data augmentation for ser: pure, seeded transforms of mono f32 signals
//! (16 kHz in the pipeline) and of spectrogram matrices.
//!
//! Every waveform transform is one [`Augmentation`] value applied by
//! [`apply`]; the same value, signal and seed always give the same samples,
//! so augmented copies can be cached like any other artifact. Seeds come from
//! [`derive_seed`], a BLAKE3 hash of the pipeline seed, the utterance id and
//! the augmentation's index, so one utterance's copies differ from each other
//! and from every other utterance's, and never depend on processing order.
//!
//! | transform | method | module |
//! |---|---|---|
//! | [`Augmentation::Noise`] | white or pink (1/f, FFT-shaped) Gaussian noise, or a recorded noise, scaled to an exact SNR | [`noise`] |
//! | [`Augmentation::TimeStretch`] | WSOLA (Verhelst & Roelands 1993), duration changes, pitch kept | [`stretch`] |
//! | [`Augmentation::Speed`] | band-limited (sinc) resampling, pitch and duration change together (Ko et al. 2015, Kaldi's speed perturbation) | [`speed`] |
//! | [`Augmentation::PitchShift`] | WSOLA stretch by 2^(s/12), then resample back to the original length | [`pitch`] |
//! | [`Augmentation::Reverb`] | convolution (FFT) with a synthetic room impulse response: direct path, early reflections, exponentially decaying noise tail | [`reverb`] |
//! | [`SpecAugment`] | time and frequency masking (Park et al. 2019) of a frames x bins matrix | [`specaugment`] |
//!
//! Determinism: a seed gives bit-identical output on one machine. Seeds
//! and the random draws are the same on every platform; the arithmetic
//! after them may differ in the last bits between CPUs, because rubato
//! picks SIMD code (AVX, SSE, NEON) at run time.
//!
//! The crate knows nothing of the cache or of files: noise recordings named
//! in [`Augmentation::Noise`]'s `files` are decoded by the caller and passed
//! to [`apply`] as samples.

pub mod noise;
pub mod pitch;
pub mod reverb;
pub mod seed;
pub mod specaugment;
pub mod speed;
pub mod stretch;

use serde::{Deserialize, Serialize};

pub use noise::NoiseColour;
pub use seed::derive_seed;
pub use specaugment::{MaskFill, Masks, SpecAugment};

/// Why an augmentation could not be applied. Messages name the parameter,
/// the value and the accepted range, so a pipeline error can be fixed from
/// the message alone.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AugmentError {
    #[error("cannot augment an empty signal")]
    EmptySignal,
    #[error("signal has a non-finite sample (NaN or infinity) at index {0}")]
    NonFiniteSample(usize),
    #[error("cannot add noise at an SNR to a silent signal (its power is zero)")]
    SilentSignal,
    #[error("invalid sample rate {0} Hz")]
    SampleRate(u32),
    #[error("invalid {param} = {value}: {expected}")]
    Param {
        param: &'static str,
        value: f64,
        expected: &'static str,
    },
    #[error("noise bank: {0}")]
    NoiseBank(String),
    #[error("resampling failed: {0}")]
    Resample(String),
}

/// One waveform augmentation, as written in a pipeline file
/// (`{kind: noise, snr_db: 10}`, `{kind: time_stretch, rate: 1.1}`, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Augmentation {
    /// Additive noise at `snr_db` (signal power over noise power, both over
    /// the whole utterance). With `files`, the noise is a random excerpt of
    /// one of those recordings (decoded by the caller, passed as the noise
    /// bank) and `colour` is not used; without, it is synthetic.
    Noise {
        snr_db: f64,
        #[serde(default)]
        colour: NoiseColour,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        files: Vec<String>,
    },
    /// Raise (positive) or lower (negative) the pitch by `semitones`,
    /// keeping the duration. Range [-24, 24].
    PitchShift { semitones: f64 },
    /// Change the duration by 1/`rate` keeping the pitch: `rate` > 1 is
    /// faster and shorter. Range [0.25, 4].
    TimeStretch { rate: f64 },
    /// Play `factor` times faster: duration / factor and every frequency x
    /// factor, as a tape or Kaldi's speed perturbation. Range [0.25, 4].
    Speed { factor: f64 },
    /// Reverberation by a synthetic room of reverberation time `rt60_s`
    /// (seconds for the energy to fall 60 dB, range (0, 10]), with
    /// `drr_db` the direct-to-reverberant energy ratio (0 dB when absent:
    /// a talker at about the critical distance). Output level and length
    /// are the input's.
    Reverb {
        rt60_s: f64,
        #[serde(default)]
        drr_db: f64,
    },
}

impl Augmentation {
    /// Check the parameters without a signal, so a pipeline file can be
    /// rejected when it is loaded rather than halfway through a run.
    pub fn validate(&self) -> Result<(), AugmentError> {
        match *self {
            Augmentation::Noise { snr_db, .. } => {
                finite("snr_db", snr_db, "must be a finite number of dB")
            }
            Augmentation::PitchShift { semitones } => in_range(
                "semitones",
                semitones,
                -pitch::MAX_SEMITONES,
                pitch::MAX_SEMITONES,
                "must be between -24 and 24",
            ),
            Augmentation::TimeStretch { rate } => in_range(
                "rate",
                rate,
                stretch::MIN_RATE,
                stretch::MAX_RATE,
                "must be between 0.25 and 4 (> 1 is faster)",
            ),
            Augmentation::Speed { factor } => in_range(
                "factor",
                factor,
                speed::MIN_FACTOR,
                speed::MAX_FACTOR,
                "must be between 0.25 and 4 (> 1 is faster)",
            ),
            Augmentation::Reverb { rt60_s, drr_db } => {
                if !(rt60_s.is_finite() && rt60_s > 0.0 && rt60_s <= reverb::MAX_RT60_S) {
                    return Err(AugmentError::Param {
                        param: "rt60_s",
                        value: rt60_s,
                        expected: "must be > 0 and at most 10 seconds",
                    });
                }
                finite("drr_db", drr_db, "must be a finite number of dB")
            }
        }
    }
}

/// Apply `aug` to `signal` (mono, `sample_rate` Hz). `seed` drives every
/// random choice (use [`derive_seed`]); `noise_bank` holds the decoded
/// recordings for a [`Augmentation::Noise`] with `files` and is ignored
/// otherwise. Noise, time stretch, pitch shift and reverb keep the length
/// where the transform allows (stretch and speed change it by design).
pub fn apply(
    aug: &Augmentation,
    signal: &[f32],
    sample_rate: u32,
    seed: u64,
    noise_bank: &[Vec<f32>],
) -> Result<Vec<f32>, AugmentError> {
    aug.validate()?;
    check_signal(signal)?;
    if sample_rate == 0 {
        return Err(AugmentError::SampleRate(sample_rate));
    }
    match aug {
        Augmentation::Noise {
            snr_db,
            colour,
            files,
        } => {
            if files.is_empty() {
                noise::add_coloured(signal, *snr_db, *colour, seed)
            } else if noise_bank.is_empty() {
                Err(AugmentError::NoiseBank(format!(
                    "{} noise file(s) configured but no decoded noise was passed",
                    files.len()
                )))
            } else {
                noise::add_recorded(signal, *snr_db, noise_bank, seed)
            }
        }
        Augmentation::PitchShift { semitones } => pitch::shift(signal, sample_rate, *semitones),
        Augmentation::TimeStretch { rate } => stretch::stretch(signal, sample_rate, *rate),
        Augmentation::Speed { factor } => speed::perturb(signal, *factor),
        Augmentation::Reverb { rt60_s, drr_db } => {
            reverb::reverberate(signal, sample_rate, *rt60_s, *drr_db, seed)
        }
    }
}

fn check_signal(signal: &[f32]) -> Result<(), AugmentError> {
    if signal.is_empty() {
        return Err(AugmentError::EmptySignal);
    }
    if let Some(i) = signal.iter().position(|v| !v.is_finite()) {
        return Err(AugmentError::NonFiniteSample(i));
    }
    Ok(())
}

fn finite(param: &'static str, value: f64, expected: &'static str) -> Result<(), AugmentError> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(AugmentError::Param {
            param,
            value,
            expected,
        })
    }
}

fn in_range(
    param: &'static str,
    value: f64,
    lo: f64,
    hi: f64,
    expected: &'static str,
) -> Result<(), AugmentError> {
    // Written so that NaN fails too.
    if value >= lo && value <= hi {
        Ok(())
    } else {
        Err(AugmentError::Param {
            param,
            value,
            expected,
        })
    }
}

/// Test helpers shared by the modules' tests.
#[cfg(test)]
pub(crate) mod testutil {
    use realfft::RealFftPlanner;

    pub fn sine(rate: u32, hz: f64, seconds: f64) -> Vec<f32> {
        let n = (rate as f64 * seconds).round() as usize;
        (0..n)
            .map(|i| {
                (0.5 * (2.0 * std::f64::consts::PI * hz * i as f64 / rate as f64).sin()) as f32
            })
            .collect()
    }

    pub fn power(x: &[f32]) -> f64 {
        x.iter().map(|&v| v as f64 * v as f64).sum::<f64>() / x.len() as f64
    }

    /// Frequency of the strongest FFT peak of `x` (Hann-windowed, zero-padded
    /// to 2^20 points so a bin is 0.015 Hz at 16 kHz), refined by parabolic
    /// interpolation of the log magnitude.
    pub fn peak_hz(x: &[f32], rate: u32) -> f64 {
        let n_fft = 1 << 20;
        assert!(x.len() <= n_fft);
        let mut buf = vec![0f64; n_fft];
        let n = x.len();
        for (i, &v) in x.iter().enumerate() {
            let w = 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n as f64).cos();
            buf[i] = v as f64 * w;
        }
        let fft = RealFftPlanner::<f64>::new().plan_fft_forward(n_fft);
        let mut spec = fft.make_output_vec();
        fft.process(&mut buf, &mut spec).unwrap();
        let mag: Vec<f64> = spec.iter().map(|c| c.norm().max(1e-300).ln()).collect();
        let k = (1..mag.len() - 1)
            .max_by(|&a, &b| mag[a].total_cmp(&mag[b]))
            .unwrap();
        let (a, b, c) = (mag[k - 1], mag[k], mag[k + 1]);
        let delta = 0.5 * (a - c) / (a - 2.0 * b + c);
        (k as f64 + delta) * rate as f64 / n_fft as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use testutil::sine;

    fn all() -> Vec<Augmentation> {
        vec![
            Augmentation::Noise {
                snr_db: 10.0,
                colour: NoiseColour::White,
                files: vec![],
            },
            Augmentation::Noise {
                snr_db: 10.0,
                colour: NoiseColour::Pink,
                files: vec![],
            },
            Augmentation::Noise {
                snr_db: 5.0,
                colour: NoiseColour::White,
                files: vec!["babble.wav".into()],
            },
            Augmentation::PitchShift { semitones: -3.0 },
            Augmentation::TimeStretch { rate: 0.9 },
            Augmentation::Speed { factor: 0.9 },
            Augmentation::Reverb {
                rt60_s: 0.4,
                drr_db: 3.0,
            },
        ]
    }

    fn bank() -> Vec<Vec<f32>> {
        vec![sine(16000, 333.0, 0.3), sine(16000, 1234.0, 0.7)]
    }

    #[test]
    fn every_transform_is_deterministic_for_a_seed() {
        let x = sine(16000, 220.0, 1.0);
        for aug in all() {
            let a = apply(&aug, &x, 16000, 42, &bank()).unwrap();
            let b = apply(&aug, &x, 16000, 42, &bank()).unwrap();
            assert_eq!(a, b, "{aug:?} differs between two runs with one seed");
            assert!(a.iter().all(|v| v.is_finite()), "{aug:?}");
        }
    }

    #[test]
    fn random_transforms_differ_between_seeds_and_the_others_do_not() {
        let x = sine(16000, 220.0, 1.0);
        for aug in all() {
            let a = apply(&aug, &x, 16000, 1, &bank()).unwrap();
            let b = apply(&aug, &x, 16000, 2, &bank()).unwrap();
            let random = matches!(
                aug,
                Augmentation::Noise { .. } | Augmentation::Reverb { .. }
            );
            // Stretch, speed and pitch shift have no random part: a seed
            // that changed them would mean hidden state.
            assert_eq!(a != b, random, "{aug:?}");
        }
    }

    #[test]
    fn bad_parameters_are_rejected_with_the_parameter_named() {
        let x = sine(16000, 220.0, 0.2);
        let cases = [
            (
                Augmentation::Noise {
                    snr_db: f64::NAN,
                    colour: NoiseColour::White,
                    files: vec![],
                },
                "invalid snr_db = NaN: must be a finite number of dB",
            ),
            (
                Augmentation::TimeStretch { rate: 0.0 },
                "invalid rate = 0: must be between 0.25 and 4 (> 1 is faster)",
            ),
            (
                Augmentation::TimeStretch { rate: -1.0 },
                "invalid rate = -1: must be between 0.25 and 4 (> 1 is faster)",
            ),
            (
                Augmentation::Speed {
                    factor: f64::INFINITY,
                },
                "invalid factor = inf: must be between 0.25 and 4 (> 1 is faster)",
            ),
            (
                Augmentation::PitchShift { semitones: 30.0 },
                "invalid semitones = 30: must be between -24 and 24",
            ),
            (
                Augmentation::Reverb {
                    rt60_s: 0.0,
                    drr_db: 0.0,
                },
                "invalid rt60_s = 0: must be > 0 and at most 10 seconds",
            ),
            (
                Augmentation::Reverb {
                    rt60_s: 0.5,
                    drr_db: f64::NAN,
                },
                "invalid drr_db = NaN: must be a finite number of dB",
            ),
        ];
        for (aug, message) in cases {
            let err = apply(&aug, &x, 16000, 0, &[]).unwrap_err();
            assert_eq!(err.to_string(), message);
            // NaN != NaN, so the errors are compared by message.
            assert_eq!(aug.validate().unwrap_err().to_string(), message);
        }
    }

    #[test]
    fn bad_signals_are_rejected() {
        let aug = Augmentation::Speed { factor: 1.1 };
        assert_eq!(
            apply(&aug, &[], 16000, 0, &[]).unwrap_err().to_string(),
            "cannot augment an empty signal"
        );
        assert_eq!(
            apply(&aug, &[0.1, f32::NAN], 16000, 0, &[])
                .unwrap_err()
                .to_string(),
            "signal has a non-finite sample (NaN or infinity) at index 1"
        );
        assert_eq!(
            apply(&aug, &[0.1], 0, 0, &[]).unwrap_err().to_string(),
            "invalid sample rate 0 Hz"
        );
        let noise = Augmentation::Noise {
            snr_db: 10.0,
            colour: NoiseColour::Pink,
            files: vec![],
        };
        assert_eq!(
            apply(&noise, &[0.0; 100], 16000, 0, &[])
                .unwrap_err()
                .to_string(),
            "cannot add noise at an SNR to a silent signal (its power is zero)"
        );
        let recorded = Augmentation::Noise {
            snr_db: 10.0,
            colour: NoiseColour::White,
            files: vec!["a.wav".into(), "b.wav".into()],
        };
        assert_eq!(
            apply(&recorded, &[0.1; 100], 16000, 0, &[])
                .unwrap_err()
                .to_string(),
            "noise bank: 2 noise file(s) configured but no decoded noise was passed"
        );
    }

    #[test]
    fn pipeline_syntax_round_trips_and_rejects_unknown_keys() {
        let text = r#"[
            {"kind": "noise", "snr_db": 10},
            {"kind": "noise", "snr_db": 5, "colour": "pink", "files": ["n.wav"]},
            {"kind": "pitch_shift", "semitones": 2},
            {"kind": "time_stretch", "rate": 1.25},
            {"kind": "speed", "factor": 0.9},
            {"kind": "reverb", "rt60_s": 0.5}
        ]"#;
        let augs: Vec<Augmentation> = serde_json::from_str(text).unwrap();
        assert_eq!(
            augs[0],
            Augmentation::Noise {
                snr_db: 10.0,
                colour: NoiseColour::White,
                files: vec![]
            }
        );
        assert_eq!(
            augs[5],
            Augmentation::Reverb {
                rt60_s: 0.5,
                drr_db: 0.0
            }
        );
        let back: Vec<Augmentation> =
            serde_json::from_str(&serde_json::to_string(&augs).unwrap()).unwrap();
        assert_eq!(back, augs);
        let err = serde_json::from_str::<Augmentation>(r#"{"kind": "speed", "factr": 1.1}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `factr`"), "{err}");
    }
}
