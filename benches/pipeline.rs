//! Engine benchmark on the full RAVDESS corpus (1440 files), against
//! scikit-learn doing the same model work. It runs the classic-model part
//! of the repository's pipeline.yaml (every matrix whose models are all
//! classic ones: the feature sets x selections x models of the
//! classic-models issue, and the speaker-normalised models), since the
//! scikit-learn side has no deep models:
//!
//! 1. cold run: empty cache, decode + resample + extract + select + train +
//!    evaluate for that matrix;
//! 2. no-op rerun: nothing changed (target: under 0.5 s);
//! 3. the matrix alone: select, train and evaluate records deleted, features
//!    kept, so ser redoes exactly what the scikit-learn script does;
//! 4. one-parameter change: a model's `alpha`, so only that model's train
//!    and evaluate nodes run;
//! 5. the XGBoost cells alone, twice, each time ser (its XGBoost train and
//!    evaluate nodes deleted, the selections cached) and then
//!    `benches/sklearn_matrix.py --only-models xgb --ser-selection` (xgboost
//!    from Python on ser's selected columns): both sides run XGBoost's C++
//!    (ser 3.4, the script the installed xgboost), so this is the binding and
//!    the build against the wheel; two rounds, since this machine's speed
//!    drifts by more than the difference between them;
//! 6. `benches/sklearn_matrix.py --time-only` on the same feature tables and
//!    folds (scikit-learn, xgboost; same selection algorithms, same models),
//!    with its XGBoost cells' share printed.
//!
//! Run with `cargo bench --bench pipeline` (`bash scripts/bench-deps.sh`
//! first for the Python side; without it steps 5 and 6 time ser alone). It drives the
//! release `ser` binary on a copy of pipeline.yaml holding only the classic
//! matrices (paths made absolute), with a temporary cache, and prints wall
//! times and ratios.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Model kinds the scikit-learn side has (benches/sklearn_matrix.py).
const CLASSIC_KINDS: [&str; 6] = [
    "logistic_regression",
    "gaussian_nb",
    "svm",
    "knn",
    "random_forest",
    "xgboost",
];

/// pipeline.yaml with only the matrices whose models are all classic (and
/// no ensembles), its relative paths made absolute, written into `dir`.
fn classic_pipeline(dir: &Path) -> PathBuf {
    use serde_yaml_ng::Value;
    let source = root().join("pipeline.yaml");
    let text = std::fs::read_to_string(&source).expect("read pipeline.yaml");
    let mut doc: Value = serde_yaml_ng::from_str(&text).expect("pipeline.yaml parses");
    let kind_of = |doc: &Value, model: &Value| -> String {
        let name = model.as_str().unwrap_or_default();
        doc["models"][name]["kind"]
            .as_str()
            .unwrap_or("?")
            .to_string()
    };
    let matrices: Vec<Value> = match &doc["experiments"] {
        Value::Sequence(list) => list.clone(),
        one => vec![one.clone()],
    };
    let classic: Vec<Value> = matrices
        .into_iter()
        .filter(|m| {
            m["models"].as_sequence().is_some_and(|models| {
                models
                    .iter()
                    .all(|model| CLASSIC_KINDS.contains(&kind_of(&doc, model).as_str()))
            })
        })
        .collect();
    assert!(
        !classic.is_empty(),
        "pipeline.yaml has no classic-model matrix"
    );
    doc["experiments"] = Value::Sequence(classic);
    // Ensembles combine the deep models, which are left out.
    if let Value::Mapping(top) = &mut doc {
        top.remove("ensembles");
    }
    let absolute = |v: &mut Value| {
        if let Some(p) = v.as_str() {
            *v = Value::String(root().join(p).to_string_lossy().into_owned());
        }
    };
    absolute(&mut doc["corpus"]["path"]);
    if let Value::Mapping(protocols) = &mut doc["protocols"] {
        for (_, protocol) in protocols.iter_mut() {
            if protocol.get("path").is_some() {
                absolute(&mut protocol["path"]);
            }
        }
    }
    let path = dir.join("pipeline-classic.yaml");
    std::fs::write(&path, serde_yaml_ng::to_string(&doc).expect("serialise"))
        .expect("write the classic pipeline");
    path
}

fn ser(pipeline: &Path, cache: &Path, extra: &[&str]) -> f64 {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_ser"))
        .arg("run")
        .args(["-p", pipeline.to_str().unwrap()])
        .args(["--cache-dir", cache.to_str().unwrap()])
        .args(extra)
        .env("SER_NO_PROGRESS", "1")
        .output()
        .expect("run ser");
    let seconds = started.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "ser run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = String::from_utf8_lossy(&out.stderr);
    let summary = log.lines().last().unwrap_or("");
    println!("    {summary}");
    seconds
}

/// scikit-learn's wall time for the matrix (without data loading) and the
/// part of it spent in XGBoost cells, or why it could not be measured.
fn sklearn(
    pipeline: &Path,
    cache: &Path,
    threads: usize,
    extra: &[&str],
) -> Result<(f64, f64), String> {
    let json = cache.join("sklearn.json");
    let out = Command::new("python3")
        .arg(root().join("benches/sklearn_matrix.py"))
        .args(["-p", pipeline.to_str().unwrap()])
        .args(["--ser", env!("CARGO_BIN_EXE_ser")])
        .args(["--cache-dir", cache.to_str().unwrap()])
        .args(["--threads", &threads.to_string()])
        .args([
            "--time-only",
            "--no-ovo",
            "--json-out",
            json.to_str().unwrap(),
        ])
        .args(extra)
        .output()
        .map_err(|e| format!("python3: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().last().unwrap_or("");
        return Err(format!(
            "sklearn_matrix.py failed ({last}); run scripts/bench-deps.sh"
        ));
    }
    let text = std::fs::read_to_string(&json).map_err(|e| e.to_string())?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let matrix = value["timing"]["matrix_wall_seconds"]
        .as_f64()
        .ok_or("no timing in the script's JSON")?;
    let xgboost: f64 = value["results"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|row| row["kind"] == "xgboost")
        .filter_map(|row| row["seconds"].as_f64())
        .sum();
    Ok((matrix, xgboost))
}

/// The classic pipeline with only its XGBoost models (matrices left
/// without a model dropped), written beside it, and those models' names.
fn xgboost_pipeline(classic: &Path) -> (PathBuf, Vec<String>) {
    use serde_yaml_ng::Value;
    let text = std::fs::read_to_string(classic).expect("read the classic pipeline");
    let mut doc: Value = serde_yaml_ng::from_str(&text).expect("it parses");
    let names: Vec<String> = doc["models"]
        .as_mapping()
        .into_iter()
        .flatten()
        .filter(|(_, spec)| spec["kind"] == "xgboost")
        .filter_map(|(name, _)| name.as_str().map(str::to_string))
        .collect();
    let Value::Sequence(matrices) = &mut doc["experiments"] else {
        panic!("the classic pipeline's experiments are a list")
    };
    for matrix in matrices.iter_mut() {
        if let Value::Sequence(models) = &mut matrix["models"] {
            models.retain(|m| m.as_str().is_some_and(|m| names.iter().any(|n| n == m)));
        }
    }
    matrices.retain(|m| m["models"].as_sequence().is_some_and(|n| !n.is_empty()));
    assert!(!matrices.is_empty(), "pipeline.yaml has no XGBoost model");
    let path = classic.with_file_name("pipeline-xgboost.yaml");
    std::fs::write(&path, serde_yaml_ng::to_string(&doc).expect("serialise"))
        .expect("write the XGBoost pipeline");
    (path, names)
}

fn main() {
    // `cargo bench` passes --bench; nothing else is configurable.
    let cache = tempfile::tempdir().expect("temp cache");
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pipeline = classic_pipeline(cache.path());
    println!(
        "ser pipeline benchmark, RAVDESS 1440 files, pipeline.yaml's classic matrices, {threads} threads"
    );
    let cold = ser(&pipeline, cache.path(), &[]);
    println!("cold run                       {cold:8.2} s");
    let noop = ser(&pipeline, cache.path(), &[]);
    println!(
        "no-op rerun                    {noop:8.3} s   (target < 0.5 s: {})",
        if noop < 0.5 { "met" } else { "MISSED" }
    );
    for dir in [
        "records/select",
        "records/train",
        "records/evaluate",
        "items/train-grid",
    ] {
        let _ = std::fs::remove_dir_all(cache.path().join(dir));
    }
    let matrix = ser(&pipeline, cache.path(), &[]);
    println!("matrix only (features cached)  {matrix:8.2} s");
    let changed = ser(
        &pipeline,
        cache.path(),
        &["--set", "models.logreg.alpha=0.5"],
    );
    println!(
        "one model param changed        {changed:8.2} s   ({:.1}x faster than cold)",
        cold / changed
    );
    let (xgboost, names) = xgboost_pipeline(&pipeline);
    let mut only: Vec<&str> = Vec::new();
    for name in &names {
        only.extend(["--only-models", name.as_str()]);
    }
    only.push("--ser-selection");
    for round in 1..=2 {
        for dir in ["records/train", "records/evaluate"] {
            let _ = std::fs::remove_dir_all(cache.path().join(dir));
        }
        let ours = ser(&xgboost, cache.path(), &[]);
        match sklearn(&xgboost, cache.path(), threads, &only) {
            Ok((_, theirs)) => println!(
                "XGBoost cells alone, round {round}: ser {ours:.2} s, xgboost from Python {theirs:.2} s: \
                 {:.2}x (target >= 1.0x: {})",
                theirs / ours,
                if theirs / ours >= 1.0 {
                    "met"
                } else {
                    "MISSED"
                }
            ),
            Err(why) => println!(
                "XGBoost cells alone, round {round}: ser {ours:.2} s; Python skipped: {why}"
            ),
        }
    }
    match sklearn(&pipeline, cache.path(), threads, &[]) {
        Ok((sk, sk_xgboost)) => {
            println!(
                "scikit-learn matrix            {sk:8.2} s   (same feature tables and folds, {threads} processes)"
            );
            println!(
                "  of which XGBoost cells       {sk_xgboost:8.2} s   ({:.0}%; ser runs XGBoost's C++ there too, so \
                 ser's matrix can be at most {:.1}x faster unless its XGBoost is faster than XGBoost)",
                100.0 * sk_xgboost / sk,
                sk / sk_xgboost
            );
            println!(
                "speed-up of ser over scikit-learn (their time / ser's): matrix {:.2}x; after a \
                 one-parameter change {:.1}x (scikit-learn reruns its script); target >= 1.5x: {}",
                sk / matrix,
                sk / changed,
                if sk / matrix >= 1.5 { "met" } else { "MISSED" }
            );
        }
        Err(why) => println!("scikit-learn matrix            skipped: {why}"),
    }
}
