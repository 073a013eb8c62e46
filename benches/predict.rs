//! Prediction speed: `ser predict` with an exported bundle against
//! nkululeko 1.14's own bundle inference (`python -m nkululeko.infer`), on
//! the same RAVDESS files in one run.
//!
//! 1. Bundles (not timed): `ser run -p benches/predict.yaml` (its cache is
//!    kept in target/bench-predict, so a second bench run trains nothing),
//!    then `ser export` of the eGeMAPS SVM and the eGeMAPS MLP (five
//!    networks, scaled by speaker) trained on every utterance (protocol
//!    `final`). nkululeko: benches/nkululeko_predict.py trains an eGeMAPS
//!    SVM with nkululeko (actors 1-20) and writes its bundle, once.
//! 2. Cold start: a fresh process that loads the bundle and predicts one
//!    3.6 s file (Actor_22/03-01-06-01-01-01-22.flac), run 5 times for ser
//!    and 3 for nkululeko (each takes seconds); minimum and median.
//! 3. Throughput: one process over all 1440 files, files per second (ser's
//!    MLP with `--speaker-of 'Actor_(\d+)'`, each speaker's statistics from
//!    their files).
//!
//! Both sides get the same threads, SER_BENCH_THREADS (default 2): ser's
//! `--threads`, nkululeko's `n_jobs` and its BLAS/torch threads. Both read
//! the 48 kHz FLACs; ser resamples to 16 kHz (soxr) before extracting,
//! nkululeko extracts at 48 kHz (openSMILE's Python package).
//!
//! Run with `cargo bench --bench predict` after `bash scripts/bench-deps.sh`
//! (which installs nkululeko into target/nkululeko-venv; without it, ser's
//! rows are printed alone). Targets (issue 22): cold start under 0.2 s,
//! throughput at least 10x nkululeko's.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn run(cmd: &mut Command, what: &str) -> std::process::Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| common::fail(&format!("{what}: {e}")));
    if !out.status.success() {
        common::fail(&format!(
            "{what} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    out
}

fn seconds(mut times: Vec<f64>) -> (f64, f64) {
    times.sort_by(f64::total_cmp);
    (times[0], times[times.len() / 2])
}

fn main() {
    let threads: usize = std::env::var("SER_BENCH_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(2);
    let ser = PathBuf::from(env!("CARGO_BIN_EXE_ser"));
    let corpus = root().join("../shared/corpora/ravdess");
    let files = common::corpus(&corpus);
    let one = corpus.join("Actor_22/03-01-06-01-01-01-22.flac");
    let work = root().join("target/bench-predict");
    std::fs::create_dir_all(&work).expect("bench folder");
    let ser_cmd = |args: &[&str]| {
        let mut c = Command::new(&ser);
        c.args(args)
            .arg("--threads")
            .arg(threads.to_string())
            .env_remove("SER_REMOTE");
        c
    };

    // 1. Bundles.
    let pipeline = root().join("benches/predict.yaml");
    let cache = work.join("cache");
    let (pipeline_arg, cache_arg) = (pipeline.to_str().unwrap(), cache.to_str().unwrap());
    let start = Instant::now();
    run(
        &mut ser_cmd(&["run", "-p", pipeline_arg, "--cache-dir", cache_arg]),
        "ser run",
    );
    eprintln!(
        "ser run -p benches/predict.yaml: {:.1} s",
        start.elapsed().as_secs_f64()
    );
    let mut bundles = Vec::new();
    for (name, experiment) in [("svm", "egemaps/none/svm"), ("mlp", "egemaps/none/mlp")] {
        let bundle = work.join(format!("{name}.sermodel"));
        run(
            &mut ser_cmd(&[
                "export",
                experiment,
                "--protocol",
                "final",
                "-p",
                pipeline_arg,
                "--cache-dir",
                cache_arg,
                "-o",
                bundle.to_str().unwrap(),
            ]),
            "ser export",
        );
        bundles.push((name, experiment, bundle));
    }
    let list = work.join("files.txt");
    let listing: String = files.iter().map(|f| format!("{}\n", f.display())).collect();
    std::fs::write(&list, listing).expect("file list");

    // 2 and 3, ser.
    println!("side\tmodel\tcold_min_s\tcold_median_s\tfiles\twall_s\tfiles_per_s");
    let mut ser_rows = Vec::new();
    for (name, experiment, bundle) in &bundles {
        let model = bundle.to_str().unwrap();
        let cold: Vec<f64> = (0..5)
            .map(|_| {
                let start = Instant::now();
                run(
                    &mut ser_cmd(&["predict", "--model", model, one.to_str().unwrap()]),
                    "ser predict (one file)",
                );
                start.elapsed().as_secs_f64()
            })
            .collect();
        let (cold_min, cold_median) = seconds(cold);
        let out = work.join(format!("{name}.csv"));
        let mut args = vec!["predict", "--model", model, "-o", out.to_str().unwrap()];
        if *name == "mlp" {
            args.extend(["--speaker-of", r"Actor_(\d+)"]);
        }
        let mut cmd = ser_cmd(&args);
        cmd.args(&files);
        let start = Instant::now();
        run(&mut cmd, "ser predict (all files)");
        let wall = start.elapsed().as_secs_f64();
        let rows = std::fs::read_to_string(&out)
            .expect("predictions")
            .lines()
            .count()
            - 1;
        assert_eq!(rows, files.len(), "one row per file");
        println!(
            "ser\t{experiment}\t{cold_min:.3}\t{cold_median:.3}\t{}\t{wall:.2}\t{:.1}",
            files.len(),
            files.len() as f64 / wall
        );
        ser_rows.push((
            experiment.to_string(),
            cold_median,
            files.len() as f64 / wall,
        ));
    }

    // 2 and 3, nkululeko.
    let venv_python = root().join("target/nkululeko-venv/bin/python");
    if !venv_python.exists() {
        eprintln!(
            "nkululeko: {} not found (bash scripts/bench-deps.sh installs it); ser's rows only",
            venv_python.display()
        );
        return;
    }
    let result = work.join("nkululeko.json");
    let out = run(
        Command::new(&venv_python)
            .arg(root().join("benches/nkululeko_predict.py"))
            .args(["--corpus", corpus.to_str().unwrap()])
            .args([
                "--work",
                root().join("target/nkululeko-work").to_str().unwrap(),
            ])
            .args(["--files", list.to_str().unwrap()])
            .args(["--one", one.to_str().unwrap()])
            .args(["--out", result.to_str().unwrap()])
            .args(["--threads", &threads.to_string()]),
        "nkululeko",
    );
    let _ = out;
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&result).expect("nkululeko result")).expect("JSON");
    let f = |v: &serde_json::Value| v.as_f64().unwrap_or(f64::NAN);
    let (cold, rate) = (f(&r["cold_start_s"]["median"]), f(&r["files_per_s"]));
    println!(
        "nkululeko {}\tegemaps svm\t{:.3}\t{cold:.3}\t{}\t{:.2}\t{rate:.1}",
        r["version"].as_str().unwrap_or("?"),
        f(&r["cold_start_s"]["min"]),
        r["files"],
        f(&r["wall_s"]),
    );
    println!();
    println!(
        "model\tcold start (median) nkululeko/ser\tthroughput ser/nkululeko\t(targets: cold start < 0.2 s, throughput >= 10x)"
    );
    for (experiment, cold_median, files_per_s) in ser_rows {
        println!(
            "{experiment}\t{:.1}x ({cold_median:.3} s)\t{:.1}x",
            cold / cold_median,
            files_per_s / rate
        );
    }
}
