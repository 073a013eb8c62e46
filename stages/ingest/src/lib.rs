//! Ingest: turn a folder of emotional speech into labelled mono signals.
//!
//! This crate is the domain half of ser's `ingest` stage and knows nothing of
//! the cache or the scheduler, so it can be used and tested on its own:
//!
//! - [`corpus`] scans a corpus folder and reads each corpus's naming rules
//!   (RAVDESS, CREMA-D, TESS, SAVEE, EmoDB, or a CSV manifest) into
//!   [`corpus::UtteranceMeta`]: label, speaker, gender.
//! - [`labels`] maps several corpora's labels onto one set (`labels:`).
//! - [`decode`] decodes any supported audio file with symphonia, sniffing the
//!   format from the bytes rather than the file name, and downmixes to mono.
//! - [`resample`] converts to the pipeline's sample rate with libsoxr's
//!   high-quality recipe, librosa's `soxr_hq`.
//!
//! [`load_signal`] chains the last two and applies the checks that decide
//! whether a file is usable (see [`IngestError`]).

pub mod corpus;
pub mod decode;
pub mod labels;
pub mod resample;

pub use corpus::{CorpusKind, Gender, ScanReport, UtteranceMeta};
pub use decode::DecodedAudio;
pub use labels::{LabelCounts, LabelFate, LabelSpec};

/// Why an audio file was rejected. Every variant's message names the reason
/// in words a user can act on; the caller adds the file name.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IngestError {
    #[error("empty file (0 bytes)")]
    Empty,
    #[error("not a recognised audio file: {0}")]
    NotAudio(String),
    #[error("unsupported codec: {0}")]
    UnsupportedCodec(String),
    #[error("truncated: decoded {decoded} of the {expected} frames the header announces")]
    Truncated { decoded: u64, expected: u64 },
    #[error("no audio frames")]
    NoFrames,
    #[error("{}", silent_reason(*peak, *threshold))]
    Silent { peak: f32, threshold: f32 },
    #[error("too short: {:.3} s, under the minimum of {:.3} s", *frames as f64 / *rate as f64, MIN_DURATION_S)]
    TooShort { frames: u64, rate: u32 },
    #[error("contains NaN or infinite samples")]
    NonFinite,
    #[error("corrupt audio data: {0}")]
    Corrupt(String),
    #[error("resampling failed: {0}")]
    Resample(String),
    #[error("cannot read file: {0}")]
    Io(String),
}

impl IngestError {
    /// A short stable code for tables and tests (`empty`, `truncated`, ...).
    pub fn code(&self) -> &'static str {
        match self {
            IngestError::Empty => "empty",
            IngestError::NotAudio(_) => "not_audio",
            IngestError::UnsupportedCodec(_) => "unsupported_codec",
            IngestError::Truncated { .. } => "truncated",
            IngestError::NoFrames => "no_frames",
            IngestError::Silent { .. } => "silent",
            IngestError::TooShort { .. } => "too_short",
            IngestError::NonFinite => "non_finite",
            IngestError::Corrupt(_) => "corrupt",
            IngestError::Resample(_) => "resample",
            IngestError::Io(_) => "io",
        }
    }
}

/// Peak amplitude under which a file counts as silent or near-silent
/// (-60 dBFS, 0.001 of full scale): digital silence, a dead microphone or
/// a file of dither carries no speech, and every spectral feature of it
/// would sit at its floor. Quiet but real speech peaks far above this
/// (RAVDESS's quietest file peaks near -30 dBFS).
pub const SILENCE_PEAK: f32 = 1e-3;

/// The shortest usable file, in seconds (100 ms): longer than the widest
/// analysis window of every feature set (eGeMAPS' 60 ms pitch frame; the
/// acoustic set's deltas need 9 frames of 10 ms), so an utterance that
/// passes ingest can be extracted by every set.
pub const MIN_DURATION_S: f64 = 0.1;

/// Fewest frames a file at `rate` Hz must have ([`MIN_DURATION_S`]).
pub fn min_frames(rate: u32) -> u64 {
    (MIN_DURATION_S * rate as f64).ceil() as u64
}

fn silent_reason(peak: f32, threshold: f32) -> String {
    if peak == 0.0 {
        "silent: every sample is 0 (digital silence)".to_string()
    } else {
        format!(
            "silent: peak {:.1} dBFS is below {:.0} dBFS",
            db_fs(peak),
            db_fs(threshold)
        )
    }
}

/// Amplitude in dB relative to full scale (1.0).
pub fn db_fs(amplitude: f32) -> f64 {
    20.0 * (amplitude.max(1e-30) as f64).log10()
}

/// A decoded, downmixed and resampled utterance.
#[derive(Debug, Clone)]
pub struct Signal {
    /// Mono samples at `sample_rate`.
    pub samples: Vec<f32>,
    pub sample_rate: u32,
    /// The file's own rate and channel count, kept for the manifest.
    pub source_rate: u32,
    pub source_channels: u16,
    /// Largest |x| of the decoded mono signal (before resampling). Float
    /// files may exceed 1.0 (full scale): such samples are kept as decoded,
    /// as librosa and openSMILE keep them, and the caller may warn.
    pub peak: f32,
}

impl Signal {
    pub fn duration_s(&self) -> f64 {
        self.samples.len() as f64 / self.sample_rate as f64
    }
}

/// Decode `bytes`, downmix to mono, check the result and resample it to
/// `target_rate`.
pub fn load_signal(bytes: &[u8], target_rate: u32) -> Result<Signal, IngestError> {
    let decoded = decode::decode_bytes(bytes)?;
    let source_rate = decoded.sample_rate;
    let source_channels = decoded.channels;
    let mono = decoded.into_mono();
    let peak = check_samples(&mono, source_rate)?;
    let samples = resample::resample(&mono, source_rate, target_rate)?;
    Ok(Signal {
        samples,
        sample_rate: target_rate,
        source_rate,
        source_channels,
        peak,
    })
}

/// The usability checks every decoded signal passes before resampling, in
/// this order: some frames, all finite, at least [`MIN_DURATION_S`] long,
/// peak at or above [`SILENCE_PEAK`]. Returns the peak.
fn check_samples(mono: &[f32], rate: u32) -> Result<f32, IngestError> {
    if mono.is_empty() {
        return Err(IngestError::NoFrames);
    }
    let (peak, finite) = peak_and_finite(mono);
    if !finite {
        return Err(IngestError::NonFinite);
    }
    if (mono.len() as u64) < min_frames(rate) {
        return Err(IngestError::TooShort {
            frames: mono.len() as u64,
            rate,
        });
    }
    if peak < SILENCE_PEAK {
        return Err(IngestError::Silent {
            peak,
            threshold: SILENCE_PEAK,
        });
    }
    Ok(peak)
}

/// The largest |x| and whether every sample is finite, in one pass of
/// eight independent lanes. It runs over every decoded sample before
/// resampling, and a sample-at-a-time loop that returns at the first bad
/// sample can't be vectorised.
// x - x below is the point (see the comment there), not a slip.
#[allow(clippy::eq_op)]
fn peak_and_finite(samples: &[f32]) -> (f32, bool) {
    const LANES: usize = 8;
    let split = samples.len() - samples.len() % LANES;
    let mut peak = [0f32; LANES];
    // x - x is 0 for a finite x and NaN for an infinite or NaN one, and a
    // NaN stays NaN through every later add.
    let mut poison = [0f32; LANES];
    for block in samples[..split].chunks_exact(LANES) {
        for l in 0..LANES {
            let a = block[l].abs();
            peak[l] = if a > peak[l] { a } else { peak[l] };
            poison[l] += block[l] - block[l];
        }
    }
    let mut peak = peak.iter().fold(0f32, |m, &p| m.max(p));
    let mut poison: f32 = poison.iter().sum();
    for &x in &samples[split..] {
        peak = peak.max(x.abs());
        poison += x - x;
    }
    (peak, poison == 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_reject_silence_nan_short_and_empty() {
        let ok = |n: usize| -> Vec<f32> { (0..n).map(|i| 0.5 * (i as f32 * 0.1).sin()).collect() };
        assert_eq!(check_samples(&[], 16000), Err(IngestError::NoFrames));
        assert_eq!(
            check_samples(&[0.0, f32::NAN], 16000),
            Err(IngestError::NonFinite)
        );
        // 10 ms, and one frame short of 100 ms, at two rates.
        assert_eq!(
            check_samples(&ok(160), 16000),
            Err(IngestError::TooShort {
                frames: 160,
                rate: 16000
            })
        );
        assert!(matches!(
            check_samples(&ok(1599), 16000),
            Err(IngestError::TooShort { .. })
        ));
        assert!(matches!(
            check_samples(&ok(4409), 44100),
            Err(IngestError::TooShort { .. })
        ));
        assert!(check_samples(&ok(1600), 16000).is_ok());
        assert!(check_samples(&ok(4410), 44100).is_ok());
        // Digital silence, and near-silence just under -60 dBFS.
        assert!(matches!(
            check_samples(&[0.0; 16000], 16000),
            Err(IngestError::Silent { .. })
        ));
        let quiet: Vec<f32> = ok(16000).iter().map(|x| x * 0.0019).collect();
        assert_eq!(
            check_samples(&[0.0; 16000], 16000).unwrap_err().to_string(),
            "silent: every sample is 0 (digital silence)"
        );
        let e = check_samples(&quiet, 16000).unwrap_err();
        assert_eq!(e.code(), "silent");
        assert_eq!(e.to_string(), "silent: peak -60.4 dBFS is below -60 dBFS");
        let soft: Vec<f32> = ok(16000).iter().map(|x| x * 0.0021).collect();
        assert!(check_samples(&soft, 16000).is_ok());
        // Float samples beyond full scale are kept, and their peak reported.
        let loud: Vec<f32> = ok(16000).iter().map(|x| x * 4.54).collect();
        let peak = check_samples(&loud, 16000).unwrap();
        assert!((peak - 2.27).abs() < 1e-3, "{peak}");
        // Inside the lane-parallel part, not only in its tail.
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let mut x = vec![0.25f32; 1003];
            x[517] = bad;
            assert_eq!(
                check_samples(&x, 16000),
                Err(IngestError::NonFinite),
                "{bad}"
            );
        }
        let mut x = vec![1e-7f32; 1003];
        x[333] = -0.75;
        assert_eq!(peak_and_finite(&x), (0.75, true));
    }

    #[test]
    fn error_messages_name_the_reason() {
        let e = IngestError::Truncated {
            decoded: 10,
            expected: 100,
        };
        assert_eq!(
            e.to_string(),
            "truncated: decoded 10 of the 100 frames the header announces"
        );
        assert_eq!(e.code(), "truncated");
        let e = IngestError::TooShort {
            frames: 441,
            rate: 44100,
        };
        assert_eq!(
            e.to_string(),
            "too short: 0.010 s, under the minimum of 0.100 s"
        );
        assert_eq!(e.code(), "too_short");
    }
}
