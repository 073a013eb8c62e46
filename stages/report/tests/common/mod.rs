//! Realistic report input shared by the integration tests and the
//! `sample_report` example: RAVDESS's eight classes (1440 utterances,
//! neutral half the size of the others), confusions where speech emotion
//! models make them (calm/neutral/sad, angry/happy, fearful/surprised), and
//! one experiment each with selection counts and training curves.
#![allow(dead_code)] // each test binary uses a different part

use ser_report::{ClassScore, Curve, ExperimentResult, FeatureKept, ReportInput};

pub const CLASSES: [&str; 8] = [
    "angry",
    "calm",
    "disgust",
    "fearful",
    "happy",
    "neutral",
    "sad",
    "surprised",
];

/// A tiny deterministic generator, so the sample is the same every run
/// without a dependency.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Classes each class is most often mistaken for (by index in `CLASSES`).
fn confusable(c: usize) -> &'static [usize] {
    match c {
        0 => &[4, 2],    // angry -> happy, disgust
        1 => &[5, 6],    // calm -> neutral, sad
        2 => &[0, 6],    // disgust -> angry, sad
        3 => &[7, 6],    // fearful -> surprised, sad
        4 => &[0, 7],    // happy -> angry, surprised
        5 => &[1, 6],    // neutral -> calm, sad
        6 => &[1, 3, 5], // sad -> calm, fearful, neutral
        _ => &[3, 4],    // surprised -> fearful, happy
    }
}

/// A confusion matrix whose per-class recall is near `skill` (varied by
/// class), with most errors going to the confusable classes.
pub fn confusion(skill: f64, seed: u64) -> Vec<Vec<usize>> {
    let mut rng = Lcg(seed);
    let n = CLASSES.len();
    (0..n)
        .map(|t| {
            let support = if CLASSES[t] == "neutral" { 96 } else { 192 };
            let ease = [0.12, 0.05, 0.0, -0.02, -0.08, -0.1, -0.05, 0.06][t];
            let recall = (skill + ease + (rng.next() - 0.5) * 0.08).clamp(0.05, 0.98);
            let mut row = vec![0usize; n];
            row[t] = (support as f64 * recall).round() as usize;
            let mut left = support - row[t];
            // 70% of the errors to the confusable classes, the rest spread.
            let near = confusable(t);
            let near_errors = (left as f64 * 0.7).round() as usize;
            for (k, &c) in near.iter().enumerate() {
                let share = if k + 1 == near.len() {
                    near_errors - near_errors / near.len() * k
                } else {
                    near_errors / near.len()
                };
                row[c] += share;
            }
            left -= near_errors;
            let mut c = 0;
            while left > 0 {
                c = (c + 1 + (rng.next() * 3.0) as usize) % n;
                if c != t {
                    row[c] += 1;
                    left -= 1;
                }
            }
            row
        })
        .collect()
}

/// Pooled precision/recall/F1 of a confusion matrix.
pub fn per_class(confusion: &[Vec<usize>]) -> Vec<ClassScore> {
    ser_evaluate::metrics::class_scores(confusion)
        .into_iter()
        .map(|s| ClassScore {
            precision: s.precision,
            recall: s.recall,
            f1: s.f1,
            support: s.support,
        })
        .collect()
}

/// One experiment with metrics computed from its generated confusion.
pub fn experiment(
    features: &str,
    selection: &str,
    model: &str,
    skill: f64,
    seed: u64,
) -> ExperimentResult {
    let confusion = confusion(skill, seed);
    let per_class = per_class(&confusion);
    let n_test: usize = confusion.iter().flatten().sum();
    let correct: usize = (0..confusion.len()).map(|i| confusion[i][i]).sum();
    let ua = per_class.iter().map(|s| s.recall).sum::<f64>() / per_class.len() as f64;
    let wa = correct as f64 / n_test as f64;
    let macro_f1 = per_class.iter().map(|s| s.f1).sum::<f64>() / per_class.len() as f64;
    let ci = |v: f64| Some((v - 0.031, v + 0.029));
    ExperimentResult {
        name: format!("{features}/{selection}/{model}"),
        features: features.into(),
        selection: selection.into(),
        model: model.into(),
        protocol: "emobox_6fold".into(),
        ua,
        wa,
        macro_f1,
        ua_ci: ci(ua),
        wa_ci: ci(wa),
        macro_f1_ci: ci(macro_f1),
        ci_unit: Some("speaker".into()),
        transductive: false,
        n_test,
        node_key: {
            // 64 hex digits, like the BLAKE3 keys of the cache.
            let mut rng = Lcg(seed ^ 0x5eed);
            (0..4)
                .map(|_| format!("{:016x}", (rng.next() * u64::MAX as f64) as u64))
                .collect()
        },
        classes: CLASSES.iter().map(|s| s.to_string()).collect(),
        confusion,
        per_class,
        selected_features: None,
        curves: None,
    }
}

/// 645 acoustic functionals (129 descriptors x 5 statistics), with how
/// many of 6 folds kept each: informative groups (MFCC, log-mel low bands,
/// spectral contrast) kept more often.
pub fn selected_features(seed: u64) -> Vec<FeatureKept> {
    let mut rng = Lcg(seed);
    let mut names = Vec::new();
    for i in 0..64 {
        names.push((format!("logmel_{i}"), 0.5 - i as f64 / 200.0));
    }
    for i in 0..40 {
        names.push((format!("mfcc_{i}"), 0.75 - i as f64 / 80.0));
    }
    for i in 0..12 {
        names.push((format!("chroma_{i}"), 0.1));
    }
    for i in 0..7 {
        names.push((format!("spectral_contrast_{i}"), 0.6));
    }
    for n in [
        "spectral_centroid",
        "spectral_bandwidth",
        "spectral_rolloff",
        "spectral_flatness",
        "zcr",
        "rms",
    ] {
        names.push((n.to_string(), 0.55));
    }
    let mut out = Vec::new();
    for (base, p) in names {
        for stat in ["mean", "std", "min", "max", "range"] {
            let p = p + if stat == "mean" || stat == "std" {
                0.05
            } else {
                -0.2
            };
            let kept = (0..6).filter(|_| rng.next() < p).count();
            out.push(FeatureKept {
                name: format!("{base}_{stat}"),
                kept,
                folds: 6,
            });
        }
    }
    out
}

/// Per-epoch losses and validation UA of a model trained for 40 epochs.
pub fn curves() -> Vec<Curve> {
    let mut rng = Lcg(7);
    let epochs = 1..=40;
    let train: Vec<(f64, f64)> = epochs
        .clone()
        .map(|e| {
            (
                e as f64,
                2.08 * (-(e as f64) / 9.0).exp() + 0.25 + rng.next() * 0.03,
            )
        })
        .collect();
    let val: Vec<(f64, f64)> = epochs
        .clone()
        .map(|e| {
            let e = e as f64;
            (
                e,
                1.6 * (-e / 7.0).exp() + 0.9 + 0.006 * (e - 15.0).max(0.0) + rng.next() * 0.05,
            )
        })
        .collect();
    let ua: Vec<(f64, f64)> = epochs
        .map(|e| {
            (
                e as f64,
                0.58 - 0.46 * (-(e as f64) / 8.0).exp() + rng.next() * 0.02,
            )
        })
        .collect();
    vec![
        Curve {
            name: "train loss".into(),
            panel: "loss".into(),
            points: train,
        },
        Curve {
            name: "validation loss".into(),
            panel: "loss".into(),
            points: val,
        },
        Curve {
            name: "validation UA".into(),
            panel: "UA".into(),
            points: ua,
        },
    ]
}

/// A report of five experiments, one with selection counts and one with
/// curves, in no particular order (the report ranks them).
pub fn sample_input() -> ReportInput {
    let mut filtered = experiment("acoustic", "filter25", "svm", 0.6, 3);
    filtered.selected_features = Some(selected_features(11));
    let mut mlp = experiment("logmel", "none", "mlp", 0.56, 5);
    mlp.curves = Some(curves());
    ReportInput {
        title: "RAVDESS speech emotion recognition".into(),
        config_hash: "b3:7f1c2a9e0d4b6c8a1e3f5a7c9b0d2e4f".into(),
        experiments: vec![
            experiment("acoustic", "none", "logreg", 0.52, 1),
            filtered,
            experiment("spectral", "none", "gaussian_nb", 0.3, 2),
            mlp,
            experiment("mfcc", "none", "random_forest", 0.47, 4),
        ],
        rejects: Vec::new(),
        corpora: None,
        choices: Vec::new(),
    }
}
