//! Extract: acoustic features from mono signals, numerically matched to
//! librosa.
//!
//! This crate is the domain half of ser's `extract` stage; it knows nothing
//! of the cache. An [`Extractor`] is built once per feature configuration
//! (it owns the FFT plan, the analysis window and the filterbanks) and then
//! reused for every utterance, so per-utterance work is one STFT and a few
//! matrix products.
//!
//! - [`stft`]: centred, zero-padded short-time Fourier transform (librosa's
//!   `stft(center=True, pad_mode="constant")` with a periodic Hann window).
//! - [`mel`]: Slaney-scale, Slaney-normalised mel filterbank
//!   (`librosa.filters.mel`), log-mel, and MFCC (`power_to_db` + DCT-II).
//! - [`functionals`]: per-utterance statistics of frame-level descriptors.

pub mod functionals;
pub mod mel;
pub mod spectral;
pub mod stft;

use ndarray::Array2;
use serde::{Deserialize, Serialize};

pub use functionals::Functional;

/// Frame-level analysis parameters shared by the spectral descriptors. The
/// defaults are those of `../shared/reference/README.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpectralParams {
    pub n_fft: usize,
    /// Window length in samples; the window is zero-padded to `n_fft`.
    pub win_length: usize,
    pub hop_length: usize,
    pub n_mels: usize,
    pub fmin: f64,
    /// Upper mel edge in Hz; `None` means the Nyquist frequency.
    pub fmax: Option<f64>,
    pub n_mfcc: usize,
    /// Dynamic range of the dB mel spectrogram MFCCs are computed from,
    /// relative to the utterance's maximum.
    pub top_db: Option<f64>,
    /// Statistics taken over frames for utterance-level features.
    pub functionals: Vec<Functional>,
}

impl Default for SpectralParams {
    fn default() -> Self {
        SpectralParams {
            n_fft: 512,
            win_length: 400,
            hop_length: 160,
            n_mels: 64,
            fmin: 0.0,
            fmax: Some(8000.0),
            n_mfcc: 40,
            top_db: Some(80.0),
            functionals: Functional::ALL.to_vec(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExtractError {
    #[error("invalid parameters: {0}")]
    Params(String),
    #[error("signal too short: {0} samples")]
    TooShort(usize),
}

/// The descriptor families an [`Extractor`] can produce per frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Descriptor {
    /// `logmel_00..`: 10 log10 of the mel power spectrogram.
    Logmel,
    /// `mfcc_00..`: MFCCs.
    Mfcc,
    /// `centroid`, `bandwidth`, `rolloff`, `flatness` of the magnitude
    /// spectrum.
    SpectralShape,
    /// `rms`: frame energy over `win_length` samples.
    Rms,
    /// `zcr`: zero-crossing rate over `win_length` samples.
    Zcr,
}

impl Extractor {
    /// Column names of [`Extractor::functionals`].
    pub fn functional_names(&self) -> Vec<String> {
        functionals::names(&self.column_names(), &self.params.functionals)
    }

    /// Utterance functionals of one signal, in the order of
    /// [`Extractor::functional_names`].
    pub fn functionals(&mut self, signal: &[f32]) -> Result<Vec<f32>, ExtractError> {
        let frames = self.frames(signal)?;
        Ok(functionals::compute(
            &frames.values,
            &self.params.functionals,
        ))
    }
}

/// Frame-level descriptors of one utterance: `values` is frames x columns.
#[derive(Debug, Clone)]
pub struct FrameFeatures {
    pub names: Vec<String>,
    pub values: Array2<f32>,
    /// Frames per second.
    pub frame_rate: f64,
}

/// Reusable feature extractor for one sample rate and parameter set.
pub struct Extractor {
    params: SpectralParams,
    descriptors: Vec<Descriptor>,
    sample_rate: u32,
    stft: stft::Stft,
    mel: mel::MelFilterbank,
    dct: Array2<f32>,
    /// Centre frequency of each FFT bin, Hz.
    fft_freqs: Vec<f64>,
}

impl Extractor {
    pub fn new(
        sample_rate: u32,
        params: &SpectralParams,
        descriptors: &[Descriptor],
    ) -> Result<Self, ExtractError> {
        if descriptors.is_empty() {
            return Err(ExtractError::Params("no descriptors requested".into()));
        }
        if params.n_mfcc > params.n_mels {
            return Err(ExtractError::Params(format!(
                "n_mfcc ({}) cannot exceed n_mels ({})",
                params.n_mfcc, params.n_mels
            )));
        }
        let stft = stft::Stft::new(params.n_fft, params.win_length, params.hop_length)?;
        let fmax = params.fmax.unwrap_or(sample_rate as f64 / 2.0);
        let mel = mel::MelFilterbank::slaney(
            sample_rate as f64,
            params.n_fft,
            params.n_mels,
            params.fmin,
            fmax,
        )?;
        let dct = mel::dct_ortho_matrix(params.n_mfcc, params.n_mels);
        Ok(Extractor {
            params: params.clone(),
            descriptors: descriptors.to_vec(),
            sample_rate,
            stft,
            mel,
            dct,
            fft_freqs: (0..params.n_fft / 2 + 1)
                .map(|k| k as f64 * sample_rate as f64 / params.n_fft as f64)
                .collect(),
        })
    }

    pub fn column_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        for d in &self.descriptors {
            match d {
                Descriptor::Logmel => {
                    names.extend((0..self.params.n_mels).map(|i| format!("logmel_{i:02}")))
                }
                Descriptor::Mfcc => {
                    names.extend((0..self.params.n_mfcc).map(|i| format!("mfcc_{i:02}")))
                }
                Descriptor::SpectralShape => names.extend(spectral::SHAPE_NAMES.map(String::from)),
                Descriptor::Rms => names.push("rms".into()),
                Descriptor::Zcr => names.push("zcr".into()),
            }
        }
        names
    }

    /// Frame-level descriptors of one signal.
    pub fn frames(&mut self, signal: &[f32]) -> Result<FrameFeatures, ExtractError> {
        if signal.is_empty() {
            return Err(ExtractError::TooShort(0));
        }
        let power = self.stft.power(signal);
        let mel_power = self.mel.apply(&power);
        // Log-mel and MFCC share one dB conversion; MFCC's top_db floor is
        // applied to a copy.
        let mel_db = mel::power_to_db(&mel_power, None);
        let n_frames = power.nrows();
        let names = self.column_names();
        let mut values = Array2::<f32>::zeros((n_frames, names.len()));
        let mut col = 0;
        for d in &self.descriptors {
            match d {
                Descriptor::Logmel => {
                    values
                        .slice_mut(ndarray::s![.., col..col + self.params.n_mels])
                        .assign(&mel_db);
                    col += self.params.n_mels;
                }
                Descriptor::Mfcc => {
                    let db = match self.params.top_db {
                        Some(top) => mel::floor_db(mel_db.clone(), top),
                        None => mel_db.clone(),
                    };
                    let mfcc = db.dot(&self.dct.t());
                    values
                        .slice_mut(ndarray::s![.., col..col + self.params.n_mfcc])
                        .assign(&mfcc);
                    col += self.params.n_mfcc;
                }
                Descriptor::SpectralShape => {
                    let shape = spectral::shape(&power, &self.fft_freqs, 0.85);
                    values
                        .slice_mut(ndarray::s![.., col..col + shape.ncols()])
                        .assign(&shape);
                    col += shape.ncols();
                }
                Descriptor::Rms | Descriptor::Zcr => {
                    let series = match d {
                        Descriptor::Rms => {
                            spectral::rms(signal, self.params.win_length, self.params.hop_length)
                        }
                        _ => spectral::zero_crossing_rate(
                            signal,
                            self.params.win_length,
                            self.params.hop_length,
                        ),
                    };
                    values
                        .column_mut(col)
                        .assign(&ndarray::Array1::from(series));
                    col += 1;
                }
            }
        }
        Ok(FrameFeatures {
            names,
            values,
            frame_rate: self.sample_rate as f64 / self.params.hop_length as f64,
        })
    }
}
