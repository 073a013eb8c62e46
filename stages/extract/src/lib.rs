//! Extract: acoustic features from mono signals, numerically matched to
//! librosa.
//!
//! This crate is the domain half of ser's `extract` stage; it knows nothing
//! of the cache. An [`Extractor`] is built once per feature configuration
//! (it owns the FFT plan, the analysis window and the filterbanks) and then
//! reused for every utterance, so per-utterance work is one STFT and a few
//! matrix products, whatever descriptors are asked for.
//!
//! - [`stft`]: centred, zero-padded short-time Fourier transform (librosa's
//!   `stft(center=True, pad_mode="constant")` with a periodic Hann window).
//! - [`mel`]: Slaney-scale, Slaney-normalised mel filterbank
//!   (`librosa.filters.mel`), log-mel, and MFCC (`power_to_db` + DCT-II).
//! - [`chroma`]: `chroma_stft` with a fixed tuning.
//! - [`spectral`]: centroid, bandwidth, rolloff, flatness, contrast, RMS,
//!   zero-crossing rate.
//! - [`deltas`]: librosa's `delta` (width 9) of any descriptor.
//! - [`functionals`]: per-utterance statistics of frame-level descriptors.
//! - [`gemaps`]: openSMILE's eGeMAPSv02 and GeMAPSv01b sets (the `egemaps`
//!   and `gemaps` feature sets), whose parameters are fixed by the standard
//!   and whose functionals are the standard's own.

pub mod chroma;
pub mod deltas;
pub mod functionals;
pub mod gemaps;
pub mod mel;
pub mod spectral;
pub mod stft;

use ndarray::{Array2, s};
use serde::{Deserialize, Serialize};

pub use functionals::Functional;

/// The [`ExtractParams`] fields every spectral descriptor depends on: the
/// frames, their deltas and the functionals taken over them.
pub const FRAME_PARAMETERS: [&str; 5] =
    ["n_fft", "win_length", "hop_length", "deltas", "functionals"];

/// [`ExtractParams`] fields that change no number (what a node keeps, not
/// what it computes).
pub const OUTPUT_PARAMETERS: [&str; 1] = ["frames"];

/// Extraction parameters, as written under `extract:` in pipeline.yaml.
/// The defaults are those of `../shared/reference/README.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExtractParams {
    pub n_fft: usize,
    /// Window length in samples; the window is zero-padded to `n_fft`. Also
    /// the frame length of `rms` and `zcr`.
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
    pub n_chroma: usize,
    /// Tuning offset of the chroma bins, in fractions of a bin.
    pub tuning: f64,
    /// Spectral contrast: number of octave bands above `contrast_fmin`.
    pub contrast_bands: usize,
    pub contrast_fmin: f64,
    /// Fraction of a band's bins averaged into its peak and valley.
    pub contrast_quantile: f64,
    /// Spectral rolloff: fraction of the magnitude sum below the rolloff.
    pub roll_percent: f64,
    /// Append deltas (1) or deltas and delta-deltas (2) of every
    /// descriptor, as `<name>_delta` and `<name>_delta2`.
    pub deltas: usize,
    /// Statistics taken over frames for utterance-level features.
    pub functionals: Vec<Functional>,
    /// Also keep each utterance's frame-level matrix (for sequence models);
    /// does not change any number.
    pub frames: bool,
}

impl Default for ExtractParams {
    fn default() -> Self {
        ExtractParams {
            n_fft: 512,
            win_length: 400,
            hop_length: 160,
            n_mels: 64,
            fmin: 0.0,
            fmax: Some(8000.0),
            n_mfcc: 40,
            top_db: Some(80.0),
            n_chroma: 12,
            tuning: 0.0,
            contrast_bands: 6,
            contrast_fmin: 200.0,
            contrast_quantile: 0.02,
            roll_percent: 0.85,
            deltas: 0,
            functionals: Functional::ALL.to_vec(),
            frames: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExtractError {
    #[error("invalid parameters: {0}")]
    Params(String),
    #[error("signal too short: {0} samples")]
    TooShort(usize),
    #[error("signal too short: {n} samples, under the {min} every feature set needs")]
    ShorterThan { n: usize, min: usize },
    #[error("signal contains NaN or infinite samples")]
    NonFinite,
}

impl ExtractError {
    /// A short stable code for reject tables (`too_short`, ...).
    pub fn code(&self) -> &'static str {
        match self {
            ExtractError::Params(_) => "params",
            ExtractError::TooShort(_) | ExtractError::ShorterThan { .. } => "too_short",
            ExtractError::NonFinite => "non_finite",
        }
    }
}

/// The shortest signal any feature set is given, in seconds: the minimum
/// ingest applies (100 ms), longer than the widest window of every set at
/// its default parameters (eGeMAPS' 60 ms pitch frame; 9 frames of 10 ms
/// for the acoustic set's deltas).
pub const MIN_DURATION_S: f64 = 0.1;

/// [`MIN_DURATION_S`] in samples at `sample_rate`.
pub fn min_samples(sample_rate: u32) -> usize {
    (MIN_DURATION_S * sample_rate as f64).ceil() as usize
}

/// The checks a signal passes before any feature set sees it, the same
/// for every set of a pipeline (so they all reject the same utterances
/// for these reasons): at least `min_samples` long (the most any of the
/// pipeline's sets needs, and at least [`min_samples`]), all samples
/// finite.
pub fn check_signal(signal: &[f32], min_samples: usize) -> Result<(), ExtractError> {
    check_length(signal.len(), min_samples)?;
    if !signal.iter().all(|x| x.is_finite()) {
        return Err(ExtractError::NonFinite);
    }
    Ok(())
}

/// The length half of [`check_signal`], for a signal not yet read.
pub fn check_length(n_samples: usize, min_samples: usize) -> Result<(), ExtractError> {
    if n_samples < min_samples {
        return Err(ExtractError::ShorterThan {
            n: n_samples,
            min: min_samples,
        });
    }
    Ok(())
}

/// The descriptor families an [`Extractor`] can produce per frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Descriptor {
    /// `logmel_00..`: 10 log10 of the mel power spectrogram.
    Logmel,
    /// `mfcc_00..`: MFCCs.
    Mfcc,
    /// `chroma_00..`: chromagram.
    Chroma,
    /// `contrast_0..`: spectral contrast per octave band.
    Contrast,
    /// `centroid`, `bandwidth`, `rolloff`, `flatness` of the magnitude
    /// spectrum.
    SpectralShape,
    /// `zcr`: zero-crossing rate over `win_length` samples.
    Zcr,
    /// `rms`: frame energy over `win_length` samples.
    Rms,
    /// eGeMAPSv02 (openSMILE 2.6 numbers): 25 LLDs per 10 ms frame with
    /// openSMILE's names, and the standard's 88 functionals instead of
    /// `functionals`. Fixed parameters; cannot be combined with other
    /// descriptors.
    Egemaps,
    /// GeMAPSv01b: 18 LLDs, 62 functionals; as [`Descriptor::Egemaps`].
    Gemaps,
}

impl Descriptor {
    /// The librosa acoustic set, in the reference tables' column order.
    pub const ACOUSTIC: [Descriptor; 7] = [
        Descriptor::Logmel,
        Descriptor::Mfcc,
        Descriptor::Chroma,
        Descriptor::Contrast,
        Descriptor::SpectralShape,
        Descriptor::Zcr,
        Descriptor::Rms,
    ];

    /// Whether the descriptor reads the mel spectrogram (so the mel
    /// parameters matter to it).
    pub fn uses_mel(self) -> bool {
        matches!(self, Descriptor::Logmel | Descriptor::Mfcc)
    }

    /// The [`ExtractParams`] fields this descriptor's numbers depend on,
    /// besides the [`FRAME_PARAMETERS`] every spectral descriptor shares.
    /// The cache keys a feature set by these only, so a new descriptor
    /// must list its own here (a test checks that every field is listed
    /// somewhere); the GeMAPS sets have fixed parameters and list none.
    pub fn parameters(self) -> &'static [&'static str] {
        const MEL: [&str; 3] = ["n_mels", "fmin", "fmax"];
        match self {
            Descriptor::Logmel => &MEL,
            Descriptor::Mfcc => &["n_mels", "fmin", "fmax", "n_mfcc", "top_db"],
            Descriptor::Chroma => &["n_chroma", "tuning"],
            Descriptor::Contrast => &["contrast_bands", "contrast_fmin", "contrast_quantile"],
            Descriptor::SpectralShape => &["roll_percent"],
            Descriptor::Zcr | Descriptor::Rms => &[],
            Descriptor::Egemaps | Descriptor::Gemaps => &[],
        }
    }

    /// The GeMAPS set this descriptor stands for, if it is one.
    pub fn gemaps_set(self) -> Option<gemaps::GemapsSet> {
        match self {
            Descriptor::Egemaps => Some(gemaps::GemapsSet::Egemaps),
            Descriptor::Gemaps => Some(gemaps::GemapsSet::Gemaps),
            _ => None,
        }
    }
}

/// A named feature set: what the experiment matrix and `ser extract --set`
/// refer to.
pub struct FeatureSet {
    pub name: &'static str,
    pub descriptors: &'static [Descriptor],
    pub about: &'static str,
}

/// Every feature set, by name.
pub const FEATURE_SETS: &[FeatureSet] = &[
    FeatureSet {
        name: "acoustic",
        descriptors: &Descriptor::ACOUSTIC,
        about: "librosa's acoustic set: log-mel, MFCC, chroma, contrast, centroid, bandwidth, rolloff, flatness, zcr, rms (129 per frame)",
    },
    FeatureSet {
        name: "mfcc",
        descriptors: &[Descriptor::Mfcc],
        about: "MFCCs (n_mfcc per frame)",
    },
    FeatureSet {
        name: "logmel",
        descriptors: &[Descriptor::Logmel],
        about: "log-mel spectrogram (n_mels per frame)",
    },
    FeatureSet {
        name: "spectral",
        descriptors: &[Descriptor::SpectralShape, Descriptor::Zcr, Descriptor::Rms],
        about: "spectral centroid, bandwidth, rolloff, flatness, zcr, rms",
    },
    FeatureSet {
        name: "egemaps",
        descriptors: &[Descriptor::Egemaps],
        about: "openSMILE eGeMAPSv02: 25 LLDs per frame, 88 functionals (16 kHz only; extract parameters do not apply)",
    },
    FeatureSet {
        name: "gemaps",
        descriptors: &[Descriptor::Gemaps],
        about: "openSMILE GeMAPSv01b: 18 LLDs per frame, 62 functionals (16 kHz only; extract parameters do not apply)",
    },
];

/// The feature set called `name`.
pub fn feature_set(name: &str) -> Option<&'static FeatureSet> {
    FEATURE_SETS.iter().find(|s| s.name == name)
}

impl Extractor {
    /// The fewest samples this extractor turns into features: a 60 ms
    /// pitch frame for the GeMAPS sets, [`deltas::WIDTH`] frames when
    /// deltas are on, else one sample.
    pub fn min_samples(&self) -> usize {
        if self.gemaps.is_some() {
            GEMAPS_MIN_SAMPLES
        } else if self.params.deltas > 0 {
            self.params.hop_length * (deltas::WIDTH - 1)
        } else {
            1
        }
    }

    /// Column names of [`Extractor::functionals`].
    pub fn functional_names(&self) -> Vec<String> {
        if let Some((set, _)) = &self.gemaps {
            return gemaps::Gemaps::functional_names(*set);
        }
        functionals::names(&self.column_names(), &self.params.functionals)
    }

    /// Utterance functionals of one signal, in the order of
    /// [`Extractor::functional_names`].
    /// For GeMAPS sets this skips work that only the frame-level LLDs
    /// show (formants of unvoiced frames); the values equal
    /// `functionals_of(&frames(signal)?)`.
    pub fn functionals(&mut self, signal: &[f32]) -> Result<Vec<f32>, ExtractError> {
        if let Some((set, analyser)) = &self.gemaps {
            check_gemaps_length(signal)?;
            let raw = analyser.raw_for_functionals(signal);
            return Ok(analyser
                .functionals(*set, &raw)
                .into_iter()
                .map(|v| v as f32)
                .collect());
        }
        let frames = self.frames(signal)?;
        Ok(self.functionals_of(&frames))
    }

    /// Functionals of frames this extractor computed.
    pub fn functionals_of(&self, frames: &FrameFeatures) -> Vec<f32> {
        if let Some(values) = &frames.utterance_functionals {
            return values.clone();
        }
        functionals::compute(&frames.values, &self.params.functionals)
    }

    pub fn params(&self) -> &ExtractParams {
        &self.params
    }
}

/// Frame-level descriptors of one utterance: `values` is frames x columns.
#[derive(Debug, Clone)]
pub struct FrameFeatures {
    pub names: Vec<String>,
    pub values: Array2<f32>,
    /// Frames per second.
    pub frame_rate: f64,
    /// Functionals computed together with the frames, for sets whose
    /// functionals read more than the frame matrix holds (GeMAPS: the
    /// unsmoothed contours, voicing-gated copies, frame energy).
    pub(crate) utterance_functionals: Option<Vec<f32>>,
}

/// Reusable feature extractor for one sample rate and parameter set.
pub struct Extractor {
    params: ExtractParams,
    descriptors: Vec<Descriptor>,
    sample_rate: u32,
    stft: stft::Stft,
    mel: mel::MelFilterbank,
    dct: Array2<f32>,
    chroma: chroma::ChromaFilterbank,
    contrast_bands: Vec<spectral::ContrastBand>,
    /// Centre frequency of each FFT bin, Hz (f32, as the lane-parallel
    /// loops of the spectral shape read it).
    fft_freqs: Vec<f32>,
    /// Set when the descriptor is a GeMAPS set, which replaces the whole
    /// librosa pipeline.
    gemaps: Option<(gemaps::GemapsSet, gemaps::Gemaps)>,
}

impl Extractor {
    pub fn new(
        sample_rate: u32,
        params: &ExtractParams,
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
        if params.deltas > 2 {
            return Err(ExtractError::Params(format!(
                "deltas must be 0, 1 or 2, not {}",
                params.deltas
            )));
        }
        let gemaps = match descriptors.iter().filter_map(|d| d.gemaps_set()).next() {
            Some(set) => {
                if descriptors.len() > 1 {
                    return Err(ExtractError::Params(
                        "egemaps/gemaps cannot be combined with other descriptors".into(),
                    ));
                }
                if sample_rate != gemaps::SAMPLE_RATE {
                    return Err(ExtractError::Params(format!(
                        "egemaps/gemaps are defined at {} Hz, not {sample_rate} Hz",
                        gemaps::SAMPLE_RATE
                    )));
                }
                if params.deltas > 0 {
                    return Err(ExtractError::Params(
                        "deltas do not apply to egemaps/gemaps (their functionals are fixed)"
                            .into(),
                    ));
                }
                Some((set, gemaps::Gemaps::new()))
            }
            None => None,
        };
        if params.functionals.is_empty() {
            return Err(ExtractError::Params(
                "functionals: the list is empty".into(),
            ));
        }
        let sr = sample_rate as f64;
        let stft = stft::Stft::new(params.n_fft, params.win_length, params.hop_length)?;
        let fmax = params.fmax.unwrap_or(sr / 2.0);
        let mel = mel::MelFilterbank::slaney(sr, params.n_fft, params.n_mels, params.fmin, fmax)?;
        let dct = mel::dct_ortho_matrix(params.n_mfcc, params.n_mels);
        let fft_freqs: Vec<f64> = (0..params.n_fft / 2 + 1)
            .map(|k| k as f64 * sr / params.n_fft as f64)
            .collect();
        let chroma =
            chroma::ChromaFilterbank::new(sr, params.n_fft, params.n_chroma, params.tuning);
        let contrast_bands = if descriptors.contains(&Descriptor::Contrast) {
            spectral::contrast_bands(
                &fft_freqs,
                sr,
                params.contrast_bands,
                params.contrast_fmin,
                params.contrast_quantile,
            )
            .map_err(ExtractError::Params)?
        } else {
            Vec::new()
        };
        Ok(Extractor {
            params: params.clone(),
            descriptors: descriptors.to_vec(),
            sample_rate,
            stft,
            mel,
            dct,
            chroma,
            contrast_bands,
            fft_freqs: fft_freqs.iter().map(|&f| f as f32).collect(),
            gemaps,
        })
    }

    /// Names of the base descriptor columns, before deltas.
    fn base_names(&self) -> Vec<String> {
        let p = &self.params;
        let mut names = Vec::new();
        for d in &self.descriptors {
            match d {
                Descriptor::Logmel => names.extend((0..p.n_mels).map(|i| format!("logmel_{i:02}"))),
                Descriptor::Mfcc => names.extend((0..p.n_mfcc).map(|i| format!("mfcc_{i:02}"))),
                Descriptor::Chroma => {
                    names.extend((0..p.n_chroma).map(|i| format!("chroma_{i:02}")))
                }
                Descriptor::Contrast => {
                    names.extend((0..=p.contrast_bands).map(|i| format!("contrast_{i}")))
                }
                Descriptor::SpectralShape => names.extend(spectral::SHAPE_NAMES.map(String::from)),
                Descriptor::Zcr => names.push("zcr".into()),
                Descriptor::Rms => names.push("rms".into()),
                Descriptor::Egemaps | Descriptor::Gemaps => {
                    unreachable!("GeMAPS sets name their own columns")
                }
            }
        }
        names
    }

    /// Names of the frame-level columns: the descriptors, then their deltas
    /// and delta-deltas when asked for.
    pub fn column_names(&self) -> Vec<String> {
        if let Some((set, _)) = &self.gemaps {
            return gemaps::Gemaps::lld_names(*set);
        }
        let base = self.base_names();
        let mut names = base.clone();
        for order in 1..=self.params.deltas {
            let suffix = if order == 1 { "delta" } else { "delta2" };
            names.extend(base.iter().map(|n| format!("{n}_{suffix}")));
        }
        names
    }

    /// Frame-level descriptors of one signal: one STFT, from which every
    /// spectral descriptor is derived.
    pub fn frames(&mut self, signal: &[f32]) -> Result<FrameFeatures, ExtractError> {
        if signal.is_empty() {
            return Err(ExtractError::TooShort(0));
        }
        if let Some((set, analyser)) = &self.gemaps {
            return gemaps_frames(*set, analyser, signal);
        }
        let p = &self.params;
        let (magnitude, power) = self.stft.magnitude_and_power(signal);
        // Log-mel and MFCC share one dB conversion; MFCC's top_db floor is
        // applied to a copy.
        let mel_db = self
            .descriptors
            .iter()
            .any(|d| d.uses_mel())
            .then(|| mel::power_to_db(&self.mel.apply(&power), None));
        let n_frames = power.nrows();
        let names = self.column_names();
        let n_base = names.len() / (1 + p.deltas);
        let mut values = Array2::<f32>::zeros((n_frames, names.len()));
        let mut col = 0;
        let column = |series: Vec<f32>| {
            Array2::from_shape_vec((series.len(), 1), series).expect("one value per frame")
        };
        for d in &self.descriptors {
            let block = match d {
                Descriptor::Logmel => mel_db.clone().expect("computed for mel descriptors"),
                Descriptor::Mfcc => {
                    let db = mel_db.clone().expect("computed for mel descriptors");
                    let db = match p.top_db {
                        Some(top) => mel::floor_db(db, top),
                        None => db,
                    };
                    db.dot(&self.dct.t())
                }
                Descriptor::Chroma => self.chroma.apply(&power),
                Descriptor::Contrast => spectral::contrast(&magnitude, &self.contrast_bands),
                Descriptor::SpectralShape => {
                    spectral::shape(&magnitude, &self.fft_freqs, p.roll_percent)
                }
                Descriptor::Zcr => column(spectral::zero_crossing_rate(
                    signal,
                    p.win_length,
                    p.hop_length,
                )),
                Descriptor::Rms => column(spectral::rms(signal, p.win_length, p.hop_length)),
                Descriptor::Egemaps | Descriptor::Gemaps => {
                    unreachable!("GeMAPS sets take their own path")
                }
            };
            values
                .slice_mut(s![.., col..col + block.ncols()])
                .assign(&block);
            col += block.ncols();
        }
        for order in 1..=p.deltas {
            let base = values.slice(s![.., ..n_base]).to_owned();
            let d = deltas::deltas(&base, order).ok_or(ExtractError::TooShort(signal.len()))?;
            values
                .slice_mut(s![.., order * n_base..(order + 1) * n_base])
                .assign(&d);
        }
        Ok(FrameFeatures {
            names,
            values,
            frame_rate: self.sample_rate as f64 / p.hop_length as f64,
            utterance_functionals: None,
        })
    }
}

/// One 60 ms pitch frame is the least openSMILE produces output for.
const GEMAPS_MIN_SAMPLES: usize = 960;

fn check_gemaps_length(signal: &[f32]) -> Result<(), ExtractError> {
    if signal.len() < GEMAPS_MIN_SAMPLES {
        return Err(ExtractError::TooShort(signal.len()));
    }
    Ok(())
}

/// LLDs and functionals of a GeMAPS set.
fn gemaps_frames(
    set: gemaps::GemapsSet,
    analyser: &gemaps::Gemaps,
    signal: &[f32],
) -> Result<FrameFeatures, ExtractError> {
    check_gemaps_length(signal)?;
    let raw = analyser.raw(signal);
    let names = gemaps::Gemaps::lld_names(set);
    let rows = analyser.lld(set, &raw);
    let mut values = Array2::<f32>::zeros((rows.len(), names.len()));
    for (mut dst, row) in values.rows_mut().into_iter().zip(&rows) {
        for (d, v) in dst.iter_mut().zip(row) {
            *d = *v as f32;
        }
    }
    let utterance = analyser
        .functionals(set, &raw)
        .into_iter()
        .map(|v| v as f32)
        .collect();
    Ok(FrameFeatures {
        names,
        values,
        frame_rate: 100.0,
        utterance_functionals: Some(utterance),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_parameter_is_declared_by_the_frames_a_descriptor_or_the_outputs() {
        // A field nobody declares would be left out of every cache key:
        // changing it would silently reuse results computed without it.
        let serde_json::Value::Object(fields) =
            serde_json::to_value(ExtractParams::default()).unwrap()
        else {
            panic!("parameters are an object")
        };
        let declared: Vec<&str> = FRAME_PARAMETERS
            .iter()
            .chain(&OUTPUT_PARAMETERS)
            .chain(Descriptor::ACOUSTIC.iter().flat_map(|d| d.parameters()))
            .copied()
            .collect();
        for name in fields.keys() {
            assert!(
                declared.contains(&name.as_str()),
                "{name} is declared nowhere"
            );
        }
        for name in &declared {
            assert!(fields.contains_key(*name), "{name} is not a parameter");
        }
    }

    /// `min_samples` is what `frames` needs, to the sample.
    #[test]
    fn min_samples_is_the_shortest_signal_each_extractor_takes() {
        let tone =
            |n: usize| -> Vec<f32> { (0..n).map(|i| (i as f32 * 0.07).sin() * 0.3).collect() };
        let with_deltas = ExtractParams {
            deltas: 2,
            hop_length: 512,
            ..ExtractParams::default()
        };
        for (params, descriptors, want) in [
            (
                ExtractParams::default(),
                feature_set("egemaps").unwrap().descriptors,
                960,
            ),
            (ExtractParams::default(), &Descriptor::ACOUSTIC[..], 1),
            (with_deltas, &[Descriptor::Mfcc][..], 4096),
        ] {
            let mut ex = Extractor::new(16000, &params, descriptors).unwrap();
            assert_eq!(ex.min_samples(), want);
            assert!(ex.frames(&tone(want)).is_ok(), "{want} samples");
            if want > 1 {
                assert!(ex.frames(&tone(want - 1)).is_err(), "{} samples", want - 1);
            }
        }
        assert_eq!(min_samples(16000), 1600);
        assert_eq!(min_samples(22050), 2205);
        let e = check_signal(&tone(1599), 1600).unwrap_err();
        assert_eq!(e.code(), "too_short");
        assert_eq!(
            e.to_string(),
            "signal too short: 1599 samples, under the 1600 every feature set needs"
        );
        assert!(check_signal(&tone(1600), 1600).is_ok());
        let mut nan = tone(2000);
        nan[3] = f32::NAN;
        assert_eq!(check_signal(&nan, 1600), Err(ExtractError::NonFinite));
    }
}
