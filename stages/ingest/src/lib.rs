//! Ingest: turn a folder of emotional speech into labelled mono signals.
//!
//! This crate is the domain half of ser's `ingest` stage and knows nothing of
//! the cache or the scheduler, so it can be used and tested on its own:
//!
//! - [`corpus`] scans a corpus folder and reads each corpus's naming rules
//!   (RAVDESS, CREMA-D, TESS, SAVEE, EmoDB, or a CSV manifest) into
//!   [`corpus::UtteranceMeta`]: label, speaker, gender.
//! - [`decode`] decodes any supported audio file with symphonia, sniffing the
//!   format from the bytes rather than the file name, and downmixes to mono.
//! - [`resample`] converts to the pipeline's sample rate with libsoxr's
//!   high-quality recipe, librosa's `soxr_hq`.
//!
//! [`load_signal`] chains the last two and applies the checks that decide
//! whether a file is usable (see [`IngestError`]).

pub mod corpus;
pub mod decode;
pub mod resample;

pub use corpus::{CorpusKind, Gender, ScanReport, UtteranceMeta};
pub use decode::DecodedAudio;

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
    #[error("silent: peak amplitude {peak:.1e} is below {threshold:.0e}")]
    Silent { peak: f32, threshold: f32 },
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
            IngestError::NonFinite => "non_finite",
            IngestError::Corrupt(_) => "corrupt",
            IngestError::Resample(_) => "resample",
            IngestError::Io(_) => "io",
        }
    }
}

/// Peak amplitude under which a file counts as silent (-120 dBFS): such a
/// file carries no speech, and every spectral feature of it would be the
/// floor value.
pub const SILENCE_PEAK: f32 = 1e-6;

/// A decoded, downmixed and resampled utterance.
#[derive(Debug, Clone)]
pub struct Signal {
    /// Mono samples at `sample_rate`.
    pub samples: Vec<f32>,
    pub sample_rate: u32,
    /// The file's own rate and channel count, kept for the manifest.
    pub source_rate: u32,
    pub source_channels: u16,
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
    check_samples(&mono)?;
    let samples = resample::resample(&mono, source_rate, target_rate)?;
    Ok(Signal {
        samples,
        sample_rate: target_rate,
        source_rate,
        source_channels,
    })
}

/// The usability checks every decoded signal passes before resampling.
fn check_samples(mono: &[f32]) -> Result<(), IngestError> {
    if mono.is_empty() {
        return Err(IngestError::NoFrames);
    }
    let (peak, finite) = peak_and_finite(mono);
    if !finite {
        return Err(IngestError::NonFinite);
    }
    if peak < SILENCE_PEAK {
        return Err(IngestError::Silent {
            peak,
            threshold: SILENCE_PEAK,
        });
    }
    Ok(())
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
    fn checks_reject_silence_nan_and_empty() {
        assert_eq!(check_samples(&[]), Err(IngestError::NoFrames));
        assert_eq!(check_samples(&[0.0, f32::NAN]), Err(IngestError::NonFinite));
        assert!(matches!(
            check_samples(&[0.0; 100]),
            Err(IngestError::Silent { .. })
        ));
        assert_eq!(check_samples(&[0.0, 0.5, -0.2]), Ok(()));
        // Inside the lane-parallel part, not only in its tail.
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let mut x = vec![0.25f32; 1003];
            x[517] = bad;
            assert_eq!(check_samples(&x), Err(IngestError::NonFinite), "{bad}");
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
    }
}
