//! Parity with librosa on `../shared/reference/ravdess24`: the reference
//! tables were computed by librosa 0.11 from the exact 16 kHz signals in
//! `audio/`, which these tests feed to the extractor.

use std::collections::HashMap;

use ser_extract::{Descriptor, ExtractParams, Extractor, Functional, functionals};

mod common;
use common::{column_f64, column_str, read_table, reference_dir};

/// Every descriptor with a reference column.
const ALL: &[Descriptor] = &Descriptor::ACOUSTIC;

/// rms(ours - ref) / rms(ref) over every value, the bound.
fn relative_rms(ours: &[f64], reference: &[f64]) -> f64 {
    let num: f64 = ours
        .iter()
        .zip(reference)
        .map(|(a, b)| (a - b).powi(2))
        .sum();
    let den: f64 = reference.iter().map(|b| b * b).sum();
    (num / den.max(1e-300)).sqrt()
}

fn load_reference_signal(stem: &str) -> Vec<f32> {
    let bytes = std::fs::read(reference_dir().join("audio").join(format!("{stem}.wav"))).unwrap();
    let audio = ser_ingest::decode::decode_bytes(&bytes).unwrap();
    assert_eq!(audio.sample_rate, 16000);
    audio.into_mono()
}

/// Reference LLD columns by name, and the file of each row, in row order.
fn reference_lld() -> (Vec<String>, HashMap<String, Vec<f64>>) {
    let mut files = Vec::new();
    let mut cols: HashMap<String, Vec<f64>> = HashMap::new();
    for batch in read_table("acoustic_lld.parquet") {
        files.extend(column_str(&batch, "file"));
        for field in batch.schema().fields() {
            if field.name() != "file" && field.name() != "frame" {
                cols.entry(field.name().clone())
                    .or_default()
                    .extend(column_f64(&batch, field.name()));
            }
        }
    }
    (files, cols)
}

fn file_order(files: &[String]) -> Vec<String> {
    let mut order: Vec<String> = Vec::new();
    for f in files {
        if order.last() != Some(f) {
            order.push(f.clone());
        }
    }
    order
}

#[test]
fn frame_descriptors_match_librosa() {
    let (files, reference) = reference_lld();
    let mut extractor = Extractor::new(16000, &ExtractParams::default(), ALL).unwrap();
    let names = extractor.column_names();
    let mut want: Vec<&String> = reference.keys().collect();
    want.sort();
    let mut have: Vec<&String> = names.iter().collect();
    have.sort();
    assert_eq!(
        have, want,
        "the acoustic set has exactly the reference's 129 columns"
    );
    let mut ours: HashMap<&str, Vec<f64>> = HashMap::new();
    for stem in file_order(&files) {
        let want_frames = files.iter().filter(|f| **f == stem).count();
        let feats = extractor.frames(&load_reference_signal(&stem)).unwrap();
        assert_eq!(feats.values.nrows(), want_frames, "frame count of {stem}");
        for (j, name) in names.iter().enumerate() {
            ours.entry(name)
                .or_default()
                .extend(feats.values.column(j).iter().map(|&v| v as f64));
        }
    }
    let mut worst = (0.0, String::new());
    for name in &names {
        let err = relative_rms(&ours[name.as_str()], &reference[name]);
        if err > worst.0 {
            worst = (err, name.clone());
        }
    }
    for name in &names {
        let err = relative_rms(&ours[name.as_str()], &reference[name]);
        eprintln!("{name:<12} {err:.2e}");
        assert!(err <= 1e-3, "{name}: relative rms error {err:.2e} > 1e-3");
    }
    eprintln!(
        "worst column {} at relative rms error {:.2e}",
        worst.1, worst.0
    );
}

#[test]
fn functionals_match_librosa() {
    let batches = read_table("acoustic_functionals.parquet");
    let params = ExtractParams::default();
    let mut extractor = Extractor::new(16000, &params, ALL).unwrap();
    let all = Functional::ALL;
    let names = functionals::names(&extractor.column_names(), &all);
    let mut ours: HashMap<&str, Vec<f64>> = HashMap::new();
    let mut reference: HashMap<&str, Vec<f64>> = HashMap::new();
    for batch in &batches {
        for stem in column_str(batch, "file") {
            let feats = extractor.frames(&load_reference_signal(&stem)).unwrap();
            let values = functionals::compute(&feats.values, &all);
            for (name, v) in names.iter().zip(values) {
                ours.entry(name).or_default().push(v as f64);
            }
        }
        for name in &names {
            reference
                .entry(name)
                .or_default()
                .extend(column_f64(batch, name));
        }
    }
    for name in &names {
        let err = relative_rms(&ours[name.as_str()], &reference[name.as_str()]);
        assert!(err <= 1e-3, "{name}: relative rms error {err:.2e} > 1e-3");
    }
}

/// The whole ingest path instead of the reference's soxr signal: the
/// corpus FLAC (48 kHz) decoded by symphonia and resampled by ingest
/// (libsoxr's HQ recipe, as librosa's soxr_hq). docs/architecture.md says
/// every functional is within 5e-6 (relative RMS) this way (the worst,
/// rolloff_mean, was 4.6e-6 when this was written); with rubato's FFT
/// resampler 41 of the 645 were beyond even 1e-2 (worst 0.093), which is
/// why ingest uses libsoxr.
#[test]
fn functionals_through_our_resampler_stay_close() {
    let batches = read_table("acoustic_functionals.parquet");
    let mut extractor = Extractor::new(16000, &ExtractParams::default(), ALL).unwrap();
    let names = extractor.functional_names();
    let corpus = reference_dir().join("../../corpora/ravdess");
    let mut ours: HashMap<&str, Vec<f64>> = HashMap::new();
    let mut reference: HashMap<&str, Vec<f64>> = HashMap::new();
    for batch in &batches {
        for stem in column_str(batch, "file") {
            let actor = stem.rsplit('-').next().unwrap();
            let bytes = std::fs::read(corpus.join(format!("Actor_{actor}/{stem}.flac"))).unwrap();
            let signal = ser_ingest::load_signal(&bytes, 16000).unwrap();
            let values = extractor.functionals(&signal.samples).unwrap();
            for (name, v) in names.iter().zip(values) {
                ours.entry(name).or_default().push(v as f64);
            }
        }
        for name in &names {
            reference
                .entry(name)
                .or_default()
                .extend(column_f64(batch, name));
        }
    }
    let mut errors: Vec<(f64, &String)> = names
        .iter()
        .map(|n| (relative_rms(&ours[n.as_str()], &reference[n.as_str()]), n))
        .collect();
    errors.sort_by(|a, b| b.0.total_cmp(&a.0));
    eprintln!("worst functionals through ingest's decoder and resampler:");
    for (err, name) in errors.iter().take(12) {
        eprintln!("  {name:<24} {err:.2e}");
    }
    let within = errors.iter().filter(|(e, _)| *e <= 5e-6).count();
    eprintln!("{within} of {} functionals within 5e-6", errors.len());
    assert_eq!(errors.len(), 645);
    assert!(
        errors[0].0 <= 5e-6,
        "{} is off by {:.2e} (> 5e-6); {within} of {} functionals within 5e-6",
        errors[0].1,
        errors[0].0,
        errors.len()
    );
}

/// Ingest's resampler against soxr_hq, the resampler of the reference
/// signals: the same FLACs, 48 -> 16 kHz, sample by sample. Both are
/// libsoxr's HQ recipe, so anything short of (near) identity means the
/// decoder, the downmix or the resampler's set-up drifted.
#[test]
fn resampler_matches_soxr() {
    let corpus = reference_dir().join("../../corpora/ravdess");
    for stem in [
        "03-01-01-01-01-01-01",
        "03-01-05-01-01-01-05",
        "03-01-08-02-01-01-16",
    ] {
        let actor = stem.rsplit('-').next().unwrap();
        let flac = std::fs::read(corpus.join(format!("Actor_{actor}/{stem}.flac"))).unwrap();
        let ours = ser_ingest::load_signal(&flac, 16000).unwrap().samples;
        let reference = load_reference_signal(stem);
        assert_eq!(
            ours.len(),
            reference.len(),
            "{stem}: same length as librosa's"
        );
        let err: f64 = ours
            .iter()
            .zip(&reference)
            .map(|(a, b)| ((a - b) as f64).powi(2))
            .sum();
        let power: f64 = reference.iter().map(|&b| (b as f64).powi(2)).sum();
        let snr = 10.0 * (power / err).log10();
        eprintln!("{stem}: {snr:.1} dB SNR against soxr_hq");
        assert!(snr >= 120.0, "{stem}: {snr:.1} dB");
    }
}
