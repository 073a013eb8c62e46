//! GeMAPS: the Geneva Minimalistic Acoustic Parameter Set (Eyben et al.,
//! 2016), in openSMILE 2.6's eGeMAPSv02 (25 LLDs, 88 functionals) and
//! GeMAPSv01b (18 LLDs, 62 functionals) forms, with openSMILE's column
//! names and order.
//!
//! Every parameter is fixed by the standard, so [`Gemaps`] takes none. The
//! analysis mirrors openSMILE's pipeline for those configurations:
//!
//! - the signal is quantised to 16-bit steps first, as the openSMILE Python
//!   wrapper does before analysis (`int16(x * 32768)`), because silent
//!   stretches then become exact zeros, which decides several values;
//!   samples beyond full scale are not clamped (see [`Gemaps::raw`]);
//! - 20 ms Hamming frames (10 ms hop, 512-point FFT) give loudness,
//!   spectral shape, flux, MFCC ([`spectral`]), formants ([`formants`]) and
//!   the energy behind the equivalent sound level;
//! - 60 ms Gaussian frames (1024-point FFT) give pitch ([`pitch`]) and the
//!   harmonic descriptors ([`voice_quality`]), jitter and shimmer are
//!   measured on the waveform;
//! - contours are smoothed with a 3-frame average and summarised
//!   ([`functionals`]), voiced-only (`nz`) where openSMILE does so.

pub mod formants;
pub mod functionals;
pub mod pitch;
pub mod spectral;
pub mod voice_quality;

use std::sync::Arc;

use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

use functionals as fx;

/// Which of the two standard sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GemapsSet {
    /// eGeMAPSv02: 25 LLDs, 88 functionals.
    Egemaps,
    /// GeMAPSv01b: 18 LLDs, 62 functionals.
    Gemaps,
}

pub const SAMPLE_RATE: u32 = 16000;
const HOP: usize = 160;
const SHORT: usize = 320;
const LONG: usize = 960;
const SHORT_FFT: usize = 512;
const LONG_FFT: usize = 1024;
/// Frames whose Gaussian-windowed RMS is at or below this are unvoiced
/// whatever the pitch tracker says (GeMAPS' `volmerge`).
const VOICING_RMS: f64 = 0.001;

/// Per-frame values before smoothing.
#[derive(Debug, Clone, Default)]
pub struct RawLlds {
    /// 20 ms frames.
    pub spectral: Vec<spectral::SpectralFrame>,
    /// Mean square of each unwindowed 20 ms frame.
    pub energy: Vec<f64>,
    /// Formants of the 20 ms frames.
    pub formants: Vec<formants::Formants>,
    /// 60 ms frames: F0 in semitones above 27.5 Hz (0: unvoiced).
    pub f0_semitones: Vec<f64>,
    /// 60 ms frames: jitter, shimmer, HNR, H1-H2, H1-A3, formant amplitudes.
    pub voice: Vec<voice_quality::VoiceFrame>,
}

/// Reusable GeMAPS analyser (FFT plans, windows, filterbanks).
pub struct Gemaps {
    fft_short: Arc<dyn RealToComplex<f64>>,
    fft_long: Arc<dyn RealToComplex<f64>>,
    /// Inverse of `fft_long`, for the autocorrelation behind HNR.
    ifft_long: Arc<dyn ComplexToReal<f64>>,
    hamming: Vec<f64>,
    gauss: Vec<f64>,
    spectral: spectral::SpectralLlds,
    shs: pitch::Shs,
    lpc: formants::FormantTracker,
}

impl Default for Gemaps {
    fn default() -> Self {
        Self::new()
    }
}

/// openSMILE's symmetric Hamming window.
fn hamming(n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| 0.54 - 0.46 * (2.0 * std::f64::consts::PI * i as f64 / (n as f64 - 1.0)).cos())
        .collect()
}

/// openSMILE's Gaussian window (sigma relative to the half length).
fn gauss(n: usize, sigma: f64) -> Vec<f64> {
    let nn = n as f64;
    (0..n)
        .map(|i| {
            let t = (i as f64 - (nn - 1.0) / 2.0) / (sigma * (nn - 1.0) / 2.0);
            (-0.5 * t * t).exp()
        })
        .collect()
}

/// Vertex (x, y) of the parabola through three points (where they make no
/// parabola, the strictly highest point, else the first): the peak
/// interpolation of pitch candidates ([`pitch`]) and of harmonics and
/// periods ([`voice_quality`]).
fn parabola_vertex(x: [f64; 3], y: [f64; 3]) -> (f64, f64) {
    let [x1, x2, x3] = x;
    let [y1, y2, y3] = y;
    let den =
        x1 * x1 * x2 + x2 * x2 * x3 + x3 * x3 * x1 - x3 * x3 * x2 - x2 * x2 * x1 - x1 * x1 * x3;
    if den != 0.0 {
        let a = (y1 * x2 + y2 * x3 + y3 * x1 - y3 * x2 - y2 * x1 - y1 * x3) / den;
        let b = (x1 * x1 * y2 + x2 * x2 * y3 + x3 * x3 * y1
            - x3 * x3 * y2
            - x2 * x2 * y1
            - x1 * x1 * y3)
            / den;
        let c = (x1 * x1 * x2 * y3 + x2 * x2 * x3 * y1 + x3 * x3 * x1 * y2
            - x3 * x3 * x2 * y1
            - x2 * x2 * x1 * y3
            - x1 * x1 * x3 * y2)
            / den;
        if a != 0.0 {
            let xv = -b / (2.0 * a);
            return (xv, c - a * xv * xv);
        }
    }
    if y1 > y2 && y1 > y3 {
        (x1, y1)
    } else if y2 > y1 && y2 > y3 {
        (x2, y2)
    } else if y3 > y1 && y3 > y2 {
        (x3, y3)
    } else {
        (x1, y1)
    }
}

/// A real FFT with its buffers, reused across the frames of a signal.
///
/// The frame is windowed straight into the middle of the input buffer and
/// zero-padded symmetrically to the FFT size: openSMILE centres the frame.
/// Magnitudes don't depend on where the zeros go, but the complex spectrum
/// the formant tracker resamples does.
struct FrameFft {
    fft: Arc<dyn RealToComplex<f64>>,
    input: Vec<f64>,
    output: Vec<realfft::num_complex::Complex<f64>>,
    scratch: Vec<realfft::num_complex::Complex<f64>>,
}

impl FrameFft {
    fn new(fft: &Arc<dyn RealToComplex<f64>>) -> FrameFft {
        FrameFft {
            fft: fft.clone(),
            input: fft.make_input_vec(),
            output: fft.make_output_vec(),
            scratch: fft.make_scratch_vec(),
        }
    }

    /// Windows `frame` into the input buffer (returned as the windowed
    /// frame, valid until the transform) without transforming it.
    fn window(&mut self, frame: &[f64], window: &[f64]) -> &[f64] {
        let pad = (self.input.len() - frame.len()) / 2;
        self.input.fill(0.0);
        let windowed = &mut self.input[pad..pad + frame.len()];
        for ((o, a), w) in windowed.iter_mut().zip(frame).zip(window) {
            *o = a * w;
        }
        windowed
    }

    /// Spectrum of the frame last given to [`FrameFft::window`].
    fn transform(&mut self) -> &[realfft::num_complex::Complex<f64>] {
        self.fft
            .process_with_scratch(&mut self.input, &mut self.output, &mut self.scratch)
            .expect("FFT sizes match");
        &self.output
    }
}

impl Gemaps {
    pub fn new() -> Gemaps {
        let mut planner = RealFftPlanner::<f64>::new();
        let sr = SAMPLE_RATE as f64;
        Gemaps {
            fft_short: planner.plan_fft_forward(SHORT_FFT),
            fft_long: planner.plan_fft_forward(LONG_FFT),
            ifft_long: planner.plan_fft_inverse(LONG_FFT),
            hamming: hamming(SHORT),
            gauss: gauss(LONG, 0.4),
            spectral: spectral::SpectralLlds::new(SHORT_FFT / 2 + 1, sr / SHORT_FFT as f64),
            shs: pitch::Shs::new(LONG_FFT / 2 + 1, sr / LONG_FFT as f64),
            lpc: formants::FormantTracker::new(),
        }
    }

    /// Raw (unsmoothed) LLDs of a 16 kHz signal, every frame's formants
    /// included (what the LLD matrix shows).
    pub fn raw(&self, signal: &[f32]) -> RawLlds {
        self.raw_with(signal, true)
    }

    /// Raw LLDs with formants only on voiced frames (zero elsewhere): all
    /// that [`Gemaps::functionals`] reads, since formant frequencies and
    /// bandwidths enter the functionals on voiced frames only and formant
    /// amplitudes are only measured where there is an F0. The LPC root
    /// search is the costliest step per 20 ms frame, and most frames of a
    /// speech file are unvoiced.
    pub fn raw_for_functionals(&self, signal: &[f32]) -> RawLlds {
        self.raw_with(signal, false)
    }

    fn raw_with(&self, signal: &[f32], every_formant: bool) -> RawLlds {
        // 16-bit quantisation as the reference wrapper applies it
        // (truncation toward zero), but without a 16-bit range: float
        // samples beyond full scale (|x| > 1, which float WAV files of some
        // corpora hold) keep their value, as openSMILE keeps them when it
        // reads such a file. Clamping them to +-1 changed loudness,
        // spectral slopes and formants against openSMILE's (and numpy's
        // int16 wrap-around in the wrapper's `process_signal` is garbage,
        // not a reference to follow).
        let x: Vec<f64> = signal
            .iter()
            .map(|&s| (s as f64 * 32768.0).trunc() / 32768.0)
            .collect();
        let n_short = if x.len() >= SHORT {
            (x.len() - SHORT) / HOP + 1
        } else {
            0
        };
        let n_long = if x.len() >= LONG {
            (x.len() - LONG) / HOP + 1
        } else {
            0
        };
        // Pitch first: it decides which short frames need formants.
        let mut rms = Vec::with_capacity(n_long);
        let mut long_mags = Vec::with_capacity(n_long);
        let mut long_fft = FrameFft::new(&self.fft_long);
        for t in 0..n_long {
            let frame = &x[t * HOP..t * HOP + LONG];
            let windowed = long_fft.window(frame, &self.gauss);
            rms.push((windowed.iter().map(|v| v * v).sum::<f64>() / LONG as f64).sqrt());
            let spec = long_fft.transform();
            let mag: Vec<f64> = spec
                .iter()
                .map(|c| (c.re * c.re + c.im * c.im).sqrt())
                .collect();
            long_mags.push(mag);
        }
        let candidates = self.shs.candidates_of_frames(&long_mags);
        let f0_hz: Vec<f64> = pitch::viterbi(&candidates)
            .into_iter()
            .zip(&rms)
            .map(|(f, &e)| if e > VOICING_RMS { f } else { 0.0 })
            .collect();
        let mut raw = RawLlds::default();
        let mut prev_mag: Option<Vec<f64>> = None;
        let mut short_fft = FrameFft::new(&self.fft_short);
        for t in 0..n_short {
            let frame = &x[t * HOP..t * HOP + SHORT];
            raw.energy
                .push(frame.iter().map(|v| v * v).sum::<f64>() / SHORT as f64);
            short_fft.window(frame, &self.hamming);
            let spec = short_fft.transform();
            // `norm` (hypot), not sqrt(re^2 + im^2): in some near-silent
            // frames hypot gives exactly equal band maxima, so a Hammarberg
            // index of exactly 0 that the UV means skip as "no value"; the
            // sqrt form moves the last bits, lets those frames in and
            // shifts hammarbergIndexUV_sma3nz_amean by up to ~3% per file.
            let mag: Vec<f64> = spec.iter().map(|c| c.norm()).collect();
            raw.spectral
                .push(self.spectral.frame(&mag, prev_mag.as_deref()));
            let voiced = f0_hz.get(t).is_some_and(|&f| f > 0.0);
            raw.formants.push(if every_formant || voiced {
                self.lpc.formants(spec)
            } else {
                formants::Formants::default()
            });
            prev_mag = Some(mag);
        }
        raw.f0_semitones = f0_hz.iter().map(|&f| pitch::semitones(f)).collect();
        let periods = voice_quality::jitter_shimmer(&x, &f0_hz, HOP, LONG);
        raw.voice = (0..n_long)
            .map(|t| {
                let formants = raw.formants.get(t).copied().unwrap_or_default();
                voice_quality::harmonics(
                    &self.ifft_long,
                    &long_mags[t],
                    SAMPLE_RATE as f64 / LONG_FFT as f64,
                    f0_hz[t],
                    &formants,
                    periods[t],
                )
            })
            .collect();
        raw
    }

    /// LLD column names of a set (openSMILE's `lld` level).
    pub fn lld_names(set: GemapsSet) -> Vec<String> {
        let e: &[&str] = match set {
            GemapsSet::Egemaps => &[
                "Loudness_sma3",
                "alphaRatio_sma3",
                "hammarbergIndex_sma3",
                "slope0-500_sma3",
                "slope500-1500_sma3",
                "spectralFlux_sma3",
                "mfcc1_sma3",
                "mfcc2_sma3",
                "mfcc3_sma3",
                "mfcc4_sma3",
            ],
            GemapsSet::Gemaps => &[
                "Loudness_sma3",
                "alphaRatio_sma3",
                "hammarbergIndex_sma3",
                "slope0-500_sma3",
                "slope500-1500_sma3",
            ],
        };
        let mut names: Vec<String> = e.iter().map(|s| s.to_string()).collect();
        names.extend(
            f_columns(set)
                .iter()
                .map(|c| format!("{}_sma3nz", c.name())),
        );
        names
    }

    /// Smoothed LLD matrix (frames x columns, row-major) in the order of
    /// [`Gemaps::lld_names`]: one row per 60 ms frame plus the smoother's
    /// extra final frame, as openSMILE writes them.
    pub fn lld(&self, set: GemapsSet, raw: &RawLlds) -> Vec<Vec<f64>> {
        let e_cols: Vec<Vec<f64>> = e_columns(set)
            .iter()
            .map(|c| {
                fx::sma3(
                    &raw.spectral.iter().map(|f| c.get(f)).collect::<Vec<_>>(),
                    false,
                )
            })
            .collect();
        let n_f = raw.f0_semitones.len().min(raw.formants.len());
        let f_cols: Vec<Vec<f64>> = f_columns(set)
            .iter()
            .map(|c| {
                fx::sma3(
                    &(0..n_f).map(|t| c.get(raw, t, false)).collect::<Vec<_>>(),
                    true,
                )
            })
            .collect();
        let rows = f_cols
            .first()
            .map_or(0, Vec::len)
            .min(e_cols.first().map_or(0, Vec::len));
        (0..rows)
            .map(|t| e_cols.iter().chain(&f_cols).map(|c| c[t]).collect())
            .collect()
    }

    /// Functional names of a set, in openSMILE's order.
    pub fn functional_names(set: GemapsSet) -> Vec<String> {
        let mut names = Vec::new();
        let pctl = |base: &str, names: &mut Vec<String>| {
            for s in [
                "amean",
                "stddevNorm",
                "percentile20.0",
                "percentile50.0",
                "percentile80.0",
                "pctlrange0-2",
                "meanRisingSlope",
                "stddevRisingSlope",
                "meanFallingSlope",
                "stddevFallingSlope",
            ] {
                names.push(format!("{base}_{s}"));
            }
        };
        pctl("F0semitoneFrom27.5Hz_sma3nz", &mut names);
        pctl("loudness_sma3", &mut names);
        let mean_sd = |base: &str, names: &mut Vec<String>| {
            names.push(format!("{base}_amean"));
            names.push(format!("{base}_stddevNorm"));
        };
        if set == GemapsSet::Egemaps {
            for b in ["spectralFlux", "mfcc1", "mfcc2", "mfcc3", "mfcc4"] {
                mean_sd(&format!("{b}_sma3"), &mut names);
            }
        }
        for c in voiced_columns(set) {
            mean_sd(&format!("{c}_sma3nz"), &mut names);
        }
        for c in unvoiced_columns(set) {
            names.push(format!("{c}_sma3nz_amean"));
        }
        for n in [
            "loudnessPeaksPerSec",
            "VoicedSegmentsPerSec",
            "MeanVoicedSegmentLengthSec",
            "StddevVoicedSegmentLengthSec",
            "MeanUnvoicedSegmentLength",
            "StddevUnvoicedSegmentLength",
        ] {
            names.push(n.to_string());
        }
        if set == GemapsSet::Egemaps {
            names.push("equivalentSoundLevel_dBp".into());
        }
        names
    }

    /// Functionals of one utterance, in the order of
    /// [`Gemaps::functional_names`].
    pub fn functionals(&self, set: GemapsSet, raw: &RawLlds) -> Vec<f64> {
        let mut out = Vec::new();
        let n_f = raw.f0_semitones.len().min(raw.formants.len());
        let f0 = fx::sma3(&raw.f0_semitones, true);
        let loudness = fx::sma3(
            &raw.spectral.iter().map(|f| f.loudness).collect::<Vec<_>>(),
            false,
        );
        let contour_stats = |x: &[f64], out: &mut Vec<f64>| {
            let mut sorted = x.to_vec();
            sorted.sort_by(|a, b| a.total_cmp(b));
            let p20 = fx::percentile(&sorted, 0.2);
            let p50 = fx::percentile(&sorted, 0.5);
            let p80 = fx::percentile(&sorted, 0.8);
            let pk = fx::peaks(x);
            out.extend([
                fx::mean(x),
                fx::stddev_norm(x),
                p20,
                p50,
                p80,
                (p80 - p20).abs(),
                pk.mean_rising,
                pk.stddev_rising,
                pk.mean_falling,
                pk.stddev_falling,
            ]);
        };
        contour_stats(&fx::non_zero(&f0), &mut out);
        contour_stats(&loudness, &mut out);
        if set == GemapsSet::Egemaps {
            for c in [
                ECol::Flux,
                ECol::Mfcc(0),
                ECol::Mfcc(1),
                ECol::Mfcc(2),
                ECol::Mfcc(3),
            ] {
                let s = fx::sma3(
                    &raw.spectral.iter().map(|f| c.get(f)).collect::<Vec<_>>(),
                    false,
                );
                out.push(fx::mean(&s));
                out.push(fx::stddev_norm(&s));
            }
        }
        // Voiced-only contours: frames with F0 > 0 keep their value, the
        // others become 0 and drop out of smoothing and statistics.
        let voiced = |t: usize| raw.f0_semitones[t] > 0.000_001;
        for c in voiced_columns_spec(set) {
            let x: Vec<f64> = (0..n_f)
                .map(|t| {
                    if c.voiced_only() && !voiced(t) {
                        0.0
                    } else {
                        c.get(raw, t, true)
                    }
                })
                .collect();
            let s = fx::non_zero(&fx::sma3(&x, true));
            out.push(fx::mean(&s));
            out.push(fx::stddev_norm(&s));
        }
        for c in unvoiced_columns_spec(set) {
            let x: Vec<f64> = (0..n_f)
                .map(|t| {
                    if voiced(t) {
                        0.0
                    } else {
                        c.get(&raw.spectral[t])
                    }
                })
                .collect();
            out.push(fx::mean(&fx::non_zero(&fx::sma3(&x, true))));
        }
        out.push(fx::peaks(&loudness).peaks_per_sec);
        let v = fx::voiced_segments(&f0);
        let u = fx::unvoiced_segments(&f0);
        out.extend([
            v.per_sec,
            v.mean_len,
            v.stddev_len,
            u.mean_len,
            u.stddev_len,
        ]);
        if set == GemapsSet::Egemaps {
            let leq = fx::mean(&raw.energy);
            out.push(10.0 * leq.max(1e-12).log10());
        }
        out
    }
}

/// A 20 ms-frame column.
#[derive(Debug, Clone, Copy)]
enum ECol {
    Loudness,
    Alpha,
    Hammarberg,
    Slope0500,
    Slope5001500,
    Flux,
    Mfcc(usize),
}

impl ECol {
    fn get(self, f: &spectral::SpectralFrame) -> f64 {
        match self {
            ECol::Loudness => f.loudness,
            ECol::Alpha => f.alpha_ratio,
            ECol::Hammarberg => f.hammarberg,
            ECol::Slope0500 => f.slope_0_500,
            ECol::Slope5001500 => f.slope_500_1500,
            ECol::Flux => f.flux,
            ECol::Mfcc(i) => f.mfcc[i],
        }
    }
}

fn e_columns(set: GemapsSet) -> Vec<ECol> {
    let mut v = vec![
        ECol::Loudness,
        ECol::Alpha,
        ECol::Hammarberg,
        ECol::Slope0500,
        ECol::Slope5001500,
    ];
    if set == GemapsSet::Egemaps {
        v.extend([
            ECol::Flux,
            ECol::Mfcc(0),
            ECol::Mfcc(1),
            ECol::Mfcc(2),
            ECol::Mfcc(3),
        ]);
    }
    v
}

/// A column read per 60 ms frame (formants come from the 20 ms frame with
/// the same index, as openSMILE joins the levels row by row).
#[derive(Debug, Clone, Copy)]
enum FCol {
    F0,
    Jitter,
    Shimmer,
    Hnr,
    H1H2,
    H1A3,
    Freq(usize),
    Bandwidth(usize),
    Amplitude(usize),
    /// A spectral column restricted to voiced frames.
    Spec(ECol, &'static str),
}

impl FCol {
    fn name(self) -> String {
        match self {
            FCol::F0 => "F0semitoneFrom27.5Hz".into(),
            FCol::Jitter => "jitterLocal".into(),
            FCol::Shimmer => "shimmerLocaldB".into(),
            FCol::Hnr => "HNRdBACF".into(),
            FCol::H1H2 => "logRelF0-H1-H2".into(),
            FCol::H1A3 => "logRelF0-H1-A3".into(),
            FCol::Freq(i) => format!("F{}frequency", i + 1),
            FCol::Bandwidth(i) => format!("F{}bandwidth", i + 1),
            FCol::Amplitude(i) => format!("F{}amplitudeLogRelF0", i + 1),
            FCol::Spec(_, name) => name.into(),
        }
    }

    /// Whether the functionals see this column only on voiced frames
    /// beyond what the descriptor itself does (formants and spectral
    /// columns are computed on every frame).
    fn voiced_only(self) -> bool {
        matches!(self, FCol::Freq(_) | FCol::Bandwidth(_) | FCol::Spec(..))
    }

    fn get(self, raw: &RawLlds, t: usize, _functional: bool) -> f64 {
        let v = &raw.voice[t];
        let fm = &raw.formants[t];
        match self {
            FCol::F0 => raw.f0_semitones[t],
            FCol::Jitter => v.jitter,
            FCol::Shimmer => v.shimmer_db,
            FCol::Hnr => v.hnr_db,
            FCol::H1H2 => v.h1_h2,
            FCol::H1A3 => v.h1_a3,
            FCol::Freq(i) => fm.freq[i],
            FCol::Bandwidth(i) => fm.bandwidth[i],
            FCol::Amplitude(i) => v.formant_amplitude[i],
            FCol::Spec(c, _) => c.get(&raw.spectral[t]),
        }
    }
}

/// The 60 ms-frame LLD columns of a set, in openSMILE's order.
fn f_columns(set: GemapsSet) -> Vec<FCol> {
    let mut v = vec![
        FCol::F0,
        FCol::Jitter,
        FCol::Shimmer,
        FCol::Hnr,
        FCol::H1H2,
        FCol::H1A3,
    ];
    for i in 0..3 {
        v.push(FCol::Freq(i));
        if set == GemapsSet::Egemaps || i == 0 {
            v.push(FCol::Bandwidth(i));
        }
        v.push(FCol::Amplitude(i));
    }
    v
}

/// Columns summarised over voiced frames by mean and stddevNorm.
fn voiced_columns_spec(set: GemapsSet) -> Vec<FCol> {
    let mut v: Vec<FCol> = f_columns(set).into_iter().skip(1).collect();
    v.extend([
        FCol::Spec(ECol::Alpha, "alphaRatioV"),
        FCol::Spec(ECol::Hammarberg, "hammarbergIndexV"),
        FCol::Spec(ECol::Slope0500, "slopeV0-500"),
        FCol::Spec(ECol::Slope5001500, "slopeV500-1500"),
    ]);
    if set == GemapsSet::Egemaps {
        v.extend([
            FCol::Spec(ECol::Flux, "spectralFluxV"),
            FCol::Spec(ECol::Mfcc(0), "mfcc1V"),
            FCol::Spec(ECol::Mfcc(1), "mfcc2V"),
            FCol::Spec(ECol::Mfcc(2), "mfcc3V"),
            FCol::Spec(ECol::Mfcc(3), "mfcc4V"),
        ]);
    }
    v
}

fn voiced_columns(set: GemapsSet) -> Vec<String> {
    voiced_columns_spec(set)
        .into_iter()
        .map(FCol::name)
        .collect()
}

/// Spectral columns summarised over unvoiced frames by their mean.
fn unvoiced_columns_spec(set: GemapsSet) -> Vec<ECol> {
    let mut v = vec![
        ECol::Alpha,
        ECol::Hammarberg,
        ECol::Slope0500,
        ECol::Slope5001500,
    ];
    if set == GemapsSet::Egemaps {
        v.push(ECol::Flux);
    }
    v
}

fn unvoiced_columns(set: GemapsSet) -> Vec<String> {
    let mut v: Vec<String> = [
        "alphaRatioUV",
        "hammarbergIndexUV",
        "slopeUV0-500",
        "slopeUV500-1500",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if set == GemapsSet::Egemaps {
        v.push("spectralFluxUV".into());
    }
    v
}
