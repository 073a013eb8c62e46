//! Engine benchmark on the full RAVDESS corpus (1440 files), against
//! scikit-learn doing the same model work:
//!
//! 1. cold run: empty cache, decode + resample + extract + select + train +
//!    evaluate for the whole default matrix;
//! 2. no-op rerun: nothing changed (target: under 0.5 s);
//! 3. the matrix alone: select, train and evaluate records deleted, features
//!    kept, so ser redoes exactly what the scikit-learn script does;
//! 4. one-parameter change: a model's `alpha`, so only that model's train
//!    and evaluate nodes run;
//! 5. `benches/sklearn_matrix.py --time-only` on the same feature tables and
//!    folds (scikit-learn, xgboost; same selection algorithms, same models).
//!
//! Run with `cargo bench --bench pipeline` (`bash scripts/bench-deps.sh`
//! first for the Python side; without it step 5 is skipped). It drives the
//! release `ser` binary on the repository's pipeline.yaml with a temporary
//! cache, and prints wall times and ratios.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn ser(cache: &Path, extra: &[&str]) -> f64 {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_ser"))
        .arg("run")
        .args(["-p", root().join("pipeline.yaml").to_str().unwrap()])
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

/// scikit-learn's wall time for the matrix (without data loading), or why
/// it could not be measured.
fn sklearn(cache: &Path, threads: usize) -> Result<f64, String> {
    let json = cache.join("sklearn.json");
    let out = Command::new("python3")
        .arg(root().join("benches/sklearn_matrix.py"))
        .args(["-p", root().join("pipeline.yaml").to_str().unwrap()])
        .args(["--ser", env!("CARGO_BIN_EXE_ser")])
        .args(["--cache-dir", cache.to_str().unwrap()])
        .args(["--threads", &threads.to_string()])
        .args([
            "--time-only",
            "--no-ovo",
            "--json-out",
            json.to_str().unwrap(),
        ])
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
    value["timing"]["matrix_wall_seconds"]
        .as_f64()
        .ok_or_else(|| "no timing in the script's JSON".into())
}

fn main() {
    // `cargo bench` passes --bench; nothing else is configurable.
    let cache = tempfile::tempdir().expect("temp cache");
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("ser pipeline benchmark, RAVDESS 1440 files, pipeline.yaml, {threads} threads");
    let cold = ser(cache.path(), &[]);
    println!("cold run                       {cold:8.2} s");
    let noop = ser(cache.path(), &[]);
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
    let matrix = ser(cache.path(), &[]);
    println!("matrix only (features cached)  {matrix:8.2} s");
    let changed = ser(cache.path(), &["--set", "models.logreg.alpha=0.5"]);
    println!(
        "one model param changed        {changed:8.2} s   ({:.1}x faster than cold)",
        cold / changed
    );
    match sklearn(cache.path(), threads) {
        Ok(sk) => {
            println!(
                "scikit-learn matrix            {sk:8.2} s   (same feature tables and folds, {threads} processes)"
            );
            println!(
                "speed-up of ser over scikit-learn (their time / ser's): matrix {:.2}x; after a \
                 one-parameter change {:.1}x (scikit-learn reruns its script); target >= 5x: {}",
                sk / matrix,
                sk / changed,
                if sk / matrix >= 5.0 { "met" } else { "MISSED" }
            );
        }
        Err(why) => println!("scikit-learn matrix            skipped: {why}"),
    }
}
