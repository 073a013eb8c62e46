//! Engine benchmark on the full RAVDESS corpus (1440 files):
//!
//! 1. cold run: empty cache, decode + resample + extract + train + evaluate;
//! 2. no-op rerun: nothing changed (target: under 0.5 s);
//! 3. one-parameter change: a model's `alpha`, so only that model's train
//!    and evaluate nodes run.
//!
//! Run with `cargo bench --bench pipeline`. It drives the release `ser`
//! binary on the repository's pipeline.yaml with a temporary cache, and
//! prints wall times.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

fn ser(cache: &Path, extra: &[&str]) -> f64 {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_ser"))
        .arg("run")
        .args(["-p", root.join("pipeline.yaml").to_str().unwrap()])
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

fn main() {
    // `cargo bench` passes --bench; nothing else is configurable.
    let cache = tempfile::tempdir().expect("temp cache");
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all".into());
    println!("ser pipeline benchmark, RAVDESS 1440 files, pipeline.yaml, threads: {threads}");
    let cold = ser(cache.path(), &[]);
    println!("cold run                 {cold:8.3} s");
    let noop = ser(cache.path(), &[]);
    println!(
        "no-op rerun              {noop:8.3} s   (target < 0.5 s: {})",
        if noop < 0.5 { "met" } else { "MISSED" }
    );
    let changed = ser(cache.path(), &["--set", "models.logreg.alpha=0.5"]);
    println!(
        "one model param changed  {changed:8.3} s   ({:.1}x faster than cold)",
        cold / changed
    );
}
