//! Parity on audio unlike RAVDESS, made at test time by
//! `scripts/make_edge_references.py` into the test's temp folder (other voices and a language, a quiet
//! and a hot level, hard clipping, float samples beyond full scale, long
//! digital silences, white noise, speech in pink noise). The openSMILE
//! tables cover the 9 files within 16-bit full scale (openSMILE 2.6 wraps
//! float samples beyond it around int16; the float file at peak 2.27 is
//! held to a level-invariance check instead). The tables hold
//! what librosa 0.11 and openSMILE 2.6 computed from the exact signals in
//! `audio/`, which these tests decode and feed to the extractor. They hold
//! every functional to the bounds README states for ravdess24: relative
//! RMS error <= 1e-3 per acoustic functional, Pearson r >= 0.9995 per
//! eGeMAPS / GeMAPS functional, F0 within a semitone on openSMILE's voiced
//! frames; where a functional misses on these files, the test names it and
//! its numbers in `KNOWN_MISSES` (an exception must be stated, not hidden).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ser_extract::{Descriptor, ExtractParams, Extractor, feature_set};

mod common;
use common::{column_f64, column_str};

/// The edge files and their references, made once per test run: the
/// script synthesises the audio (espeak-ng, fixed seeds) and runs librosa
/// and openSMILE on it (`scripts/setup.sh` installs them). No audio is kept
/// in the repository.
fn edge_dir() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("edge");
        let _ = std::fs::remove_dir_all(&dir);
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/make_edge_references.py");
        let out = std::process::Command::new("python3")
            .arg(&script)
            .arg(&dir)
            .output()
            .expect("python3 runs scripts/make_edge_references.py");
        assert!(
            out.status.success(),
            "scripts/make_edge_references.py failed (run scripts/setup.sh for espeak-ng, librosa, opensmile):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    })
    .clone()
}

/// A long table (`file, name, value`): files in order, and per file its
/// values by name.
struct Long {
    files: Vec<String>,
    values: HashMap<(String, String), f64>,
    names: Vec<String>,
}

fn read_long(name: &str) -> Long {
    let file = std::fs::File::open(edge_dir().join(name)).expect("edge fixture table");
    let batches: Vec<_> =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap()
            .map(Result::unwrap)
            .collect();
    let mut long = Long {
        files: Vec::new(),
        values: HashMap::new(),
        names: Vec::new(),
    };
    for batch in &batches {
        let files = column_str(batch, "file");
        let names = column_str(batch, "name");
        let values = column_f64(batch, "value");
        for ((f, n), v) in files.into_iter().zip(names).zip(values) {
            if long.files.last() != Some(&f) && !long.files.contains(&f) {
                long.files.push(f.clone());
            }
            if long.files.len() == 1 {
                long.names.push(n.clone());
            }
            long.values.insert((f, n), v);
        }
    }
    long
}

fn load_edge_signal(stem: &str) -> Vec<f32> {
    let bytes = std::fs::read(edge_dir().join("audio").join(format!("{stem}.wav"))).unwrap();
    let audio = ser_ingest::decode::decode_bytes(&bytes).unwrap();
    assert_eq!(audio.sample_rate, 16000);
    audio.into_mono()
}

fn relative_rms(ours: &[f64], reference: &[f64]) -> f64 {
    let num: f64 = ours
        .iter()
        .zip(reference)
        .map(|(a, b)| (a - b).powi(2))
        .sum();
    let den: f64 = reference.iter().map(|b| b * b).sum();
    (num / den.max(1e-300)).sqrt()
}

fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    if va == 0.0 && vb == 0.0 && a == b {
        return 1.0;
    }
    cov / (va * vb).sqrt()
}

#[test]
fn the_fixtures_are_what_the_script_says() {
    // openSMILE references for the 9 files within 16-bit full scale,
    // librosa's for all 10.
    let long = read_long("egemaps_functionals.parquet");
    assert_eq!(long.files.len(), 9, "{:?}", long.files);
    assert!(!long.files.iter().any(|f| f == "float_peak_2.27"));
    assert_eq!(read_long("acoustic_functionals.parquet").files.len(), 10);
    let peak = |stem: &str| {
        load_edge_signal(stem)
            .iter()
            .fold(0f32, |m, x| m.max(x.abs()))
    };
    assert!((peak("float_peak_2.27") - 2.27).abs() < 1e-3);
    assert!((peak("level_quiet_-40dBFS") - 0.01).abs() < 1e-4);
    assert!(peak("clipped_12dB") > 0.9999);
    let silences = load_edge_signal("long_silences");
    let zeros = silences.iter().filter(|&&x| x == 0.0).count();
    assert!(zeros >= 2 * 16000, "{zeros} zero samples");
}

/// Per acoustic functional, relative RMS error over the edge files (the
/// bound of README's acoustic statement, 1e-3).
#[test]
fn acoustic_functionals_match_librosa_on_edge_files() {
    let reference = read_long("acoustic_functionals.parquet");
    let mut ex = Extractor::new(16000, &ExtractParams::default(), &Descriptor::ACOUSTIC).unwrap();
    let names = ex.functional_names();
    let mut want = reference.names.clone();
    want.sort();
    let mut have = names.clone();
    have.sort();
    assert_eq!(
        have, want,
        "the reference has the acoustic set's 645 functionals"
    );
    let ours: Vec<Vec<f32>> = reference
        .files
        .iter()
        .map(|f| ex.functionals(&load_edge_signal(f)).unwrap())
        .collect();
    let mut errors: Vec<(f64, &String)> = names
        .iter()
        .enumerate()
        .map(|(j, name)| {
            let a: Vec<f64> = ours.iter().map(|row| row[j] as f64).collect();
            let b: Vec<f64> = reference
                .files
                .iter()
                .map(|f| reference.values[&(f.clone(), name.clone())])
                .collect();
            (relative_rms(&a, &b), name)
        })
        .collect();
    errors.sort_by(|a, b| b.0.total_cmp(&a.0));
    eprintln!(
        "acoustic on {} edge files, worst functionals:",
        reference.files.len()
    );
    for (err, name) in errors.iter().take(10) {
        eprintln!("  {name:<24} {err:.2e}");
    }
    for (err, name) in &errors {
        assert!(*err <= 1e-3, "{name}: relative rms error {err:.2e} > 1e-3");
    }
}

/// Functionals that miss the README bound (r >= 0.9995) on these files,
/// with the r measured when they were admitted: (set, functional, r). A
/// listed functional may not get worse, and must leave the list once it
/// meets the bound.
/// Both miss in eGeMAPS and GeMAPS alike (the same LLDs): the spread of
/// F1's bandwidth (worst voice_german, ours 0.157 against 0.164) and the
/// unvoiced 500-1500 Hz slope (worst voice_female_high, 0.0205 against
/// 0.0168).
const KNOWN_MISSES: &[(&str, &str, f64)] = &[
    ("egemaps", "F1bandwidth_sma3nz_stddevNorm", 0.998414),
    ("egemaps", "slopeUV500-1500_sma3nz_amean", 0.998478),
    ("gemaps", "F1bandwidth_sma3nz_stddevNorm", 0.998414),
    ("gemaps", "slopeUV500-1500_sma3nz_amean", 0.998478),
];

fn check_gemaps(set: &str, table: &str) {
    let reference = read_long(table);
    let mut ex = Extractor::new(
        16000,
        &ExtractParams::default(),
        feature_set(set).unwrap().descriptors,
    )
    .unwrap();
    let names = ex.functional_names();
    assert_eq!(names, reference.names, "openSMILE's names and order");
    let ours: Vec<Vec<f32>> = reference
        .files
        .iter()
        .map(|f| ex.functionals(&load_edge_signal(f)).unwrap())
        .collect();
    let mut rs: Vec<(f64, &String, usize)> = names
        .iter()
        .enumerate()
        .map(|(j, name)| {
            let a: Vec<f64> = ours.iter().map(|row| row[j] as f64).collect();
            let b: Vec<f64> = reference
                .files
                .iter()
                .map(|f| reference.values[&(f.clone(), name.clone())])
                .collect();
            (pearson(&a, &b), name, j)
        })
        .collect();
    rs.sort_by(|x, y| x.0.total_cmp(&y.0));
    eprintln!(
        "{set} on {} edge files: Pearson r per functional, worst first",
        reference.files.len()
    );
    for (r, name, j) in rs.iter().take(16) {
        // The file that is furthest off, relative to the column's spread.
        let b: Vec<f64> = reference
            .files
            .iter()
            .map(|f| reference.values[&(f.clone(), (*name).clone())])
            .collect();
        let (mut worst, mut at) = (0.0, 0);
        for (i, row) in ours.iter().enumerate() {
            let d = (row[*j] as f64 - b[i]).abs();
            if d > worst {
                (worst, at) = (d, i);
            }
        }
        eprintln!(
            "  {r:9.6}  {name:<45} worst {}: ours {:.4} openSMILE {:.4}",
            reference.files[at], ours[at][*j], b[at]
        );
    }
    let mut misses = Vec::new();
    for (r, name, _) in &rs {
        let known = KNOWN_MISSES.iter().find(|(s, n, _)| *s == set && n == name);
        if r.is_nan() || *r < 0.9995 {
            match known {
                Some((_, _, measured)) => assert!(
                    *r >= measured - 1e-4,
                    "{set}: {name} r = {r:.6}, worse than the admitted {measured}"
                ),
                None => misses.push(format!("{name} (r = {r:.6})")),
            }
        } else {
            assert!(
                known.is_none(),
                "{set}: {name} now meets the bound; drop it from KNOWN_MISSES"
            );
        }
    }
    assert!(
        misses.is_empty(),
        "{set}: below r = 0.9995: {}",
        misses.join(", ")
    );
}

#[test]
fn egemaps_functionals_match_opensmile_on_edge_files() {
    check_gemaps("egemaps", "egemaps_functionals.parquet");
}

#[test]
fn gemaps_functionals_match_opensmile_on_edge_files() {
    check_gemaps("gemaps", "gemaps_functionals.parquet");
}

/// Float samples beyond full scale are analysed as they are. openSMILE
/// 2.6 gives no reference for them (it wraps them around int16; see
/// `scripts/make_edge_references.py`), so this holds the file at peak
/// 2.27 to what a level cannot change: its level-free functionals equal
/// those of the same samples scaled into full scale (where the files above
/// hold openSMILE's numbers), and differ from those of the samples clamped
/// to +-1 as eGeMAPS did before.
#[test]
fn float_beyond_full_scale_is_not_clamped() {
    let mut ex = Extractor::new(
        16000,
        &ExtractParams::default(),
        feature_set("egemaps").unwrap().descriptors,
    )
    .unwrap();
    let names = ex.functional_names();
    let signal = load_edge_signal("float_peak_2.27");
    let peak = signal.iter().fold(0f32, |m, x| m.max(x.abs()));
    assert!(peak > 2.2);
    let ours = ex.functionals(&signal).unwrap();
    let scaled: Vec<f32> = signal.iter().map(|x| x * 0.99 / peak).collect();
    let within = ex.functionals(&scaled).unwrap();
    let clamped: Vec<f32> = signal.iter().map(|x| x.clamp(-1.0, 1.0)).collect();
    let clamped = ex.functionals(&clamped).unwrap();
    // Level-free functionals: the level does not move them.
    for name in [
        "F0semitoneFrom27.5Hz_sma3nz_amean",
        "loudness_sma3_stddevNorm",
        "F1frequency_sma3nz_amean",
        "F2frequency_sma3nz_amean",
        "alphaRatioV_sma3nz_amean",
        "hammarbergIndexV_sma3nz_amean",
    ] {
        let j = names.iter().position(|n| n == name).unwrap();
        let (a, b, c) = (ours[j] as f64, within[j] as f64, clamped[j] as f64);
        eprintln!("{name}: peak 2.27 {a:.4}, scaled to 0.99 {b:.4}, clamped {c:.4}");
        assert!(
            (a - b).abs() <= 0.01 * b.abs(),
            "{name}: {a} at peak 2.27, {b} scaled into full scale"
        );
    }
    // The level: the equivalent sound level rises by the gain, in dB, only
    // when the samples beyond full scale keep their value.
    let j = names
        .iter()
        .position(|n| n == "equivalentSoundLevel_dBp")
        .unwrap();
    let gain_db = 20.0 * (peak as f64 / 0.99).log10();
    let rise = (ours[j] - within[j]) as f64;
    let rise_clamped = (clamped[j] - within[j]) as f64;
    eprintln!(
        "equivalentSoundLevel_dBp rises {rise:.3} dB (gain {gain_db:.3} dB); clamped {rise_clamped:.3} dB"
    );
    assert!(
        (rise - gain_db).abs() <= 0.05,
        "rise {rise} dB for a gain of {gain_db} dB"
    );
    assert!(
        (rise_clamped - gain_db).abs() > 0.05,
        "clamping should lower the level ({rise_clamped} dB)"
    );
}

/// F0 within a semitone of openSMILE's on its voiced frames of the edge
/// files with a voice (README's statement for ravdess24: 100%).
#[test]
fn egemaps_f0_matches_opensmile_on_edge_files() {
    let file = std::fs::File::open(edge_dir().join("egemaps_f0.parquet")).unwrap();
    let batches: Vec<_> =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap()
            .map(Result::unwrap)
            .collect();
    let (mut files, mut f0) = (Vec::new(), Vec::new());
    for b in &batches {
        files.extend(column_str(b, "file"));
        f0.extend(column_f64(b, "F0semitoneFrom27.5Hz_sma3nz"));
    }
    let mut ex = Extractor::new(
        16000,
        &ExtractParams::default(),
        feature_set("egemaps").unwrap().descriptors,
    )
    .unwrap();
    let col = ex
        .column_names()
        .iter()
        .position(|n| n == "F0semitoneFrom27.5Hz_sma3nz")
        .unwrap();
    let (mut voiced, mut close) = (0usize, 0usize);
    let mut start = 0;
    while start < files.len() {
        let stem = files[start].clone();
        let end = start + files[start..].iter().take_while(|f| **f == stem).count();
        let frames = ex.frames(&load_edge_signal(&stem)).unwrap();
        assert_eq!(frames.values.nrows(), end - start, "{stem}: LLD rows");
        let (mut v, mut c) = (0, 0);
        for t in 0..end - start {
            let want = f0[start + t];
            if want > 0.0 {
                v += 1;
                if (frames.values[[t, col]] as f64 - want).abs() <= 1.0 {
                    c += 1;
                }
            }
        }
        eprintln!("{stem}: F0 within 1 semitone on {c} of {v} voiced frames");
        (voiced, close) = (voiced + v, close + c);
        start = end;
    }
    let share = close as f64 / voiced as f64;
    eprintln!("edge files: F0 within 1 semitone on {close} of {voiced} voiced frames ({share:.4})");
    assert!(voiced > 500, "the edge files have voiced frames");
    assert!(share >= 0.95, "F0 within a semitone on only {share:.4}");
}
