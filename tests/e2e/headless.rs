//! Batch runs: timestamped and JSON logs without a terminal, progress
//! inside long nodes, run summaries, exit codes, and SIGTERM in the middle
//! of extraction and of deep training.

use crate::common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant, SystemTime};

use common::{Workspace, ran_nodes, strip_timestamp, walk};

fn files_under(dir: &Path) -> BTreeMap<PathBuf, SystemTime> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p, e.metadata().unwrap().modified().unwrap());
            }
        }
    }
    out
}

fn sigterm(child: &Child) {
    // SAFETY: kill(2) on our own child's pid.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
}

/// Wait until `dir` holds at least `n` files (the run is under way).
fn wait_for_files(dir: &Path, n: usize, limit: Duration) {
    let started = Instant::now();
    while walk(dir) < n {
        assert!(
            started.elapsed() < limit,
            "{} never held {n} files",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn last_summary(ws: &Workspace) -> serde_json::Value {
    serde_json::from_str(&ws.ok(&["runs", "--last"])).unwrap()
}

#[test]
fn a_headless_run_logs_timestamps_progress_json_events_and_a_summary() {
    let ws = Workspace::new(12);
    let log = ws.ok(&[
        "run",
        "--progress-every",
        "0.02",
        "--set",
        "experiments.features=[mfcc, egemaps]",
    ]);
    let node_lines: Vec<&str> = log
        .lines()
        .filter(|l| {
            let rest = strip_timestamp(l).trim_start();
            rest.starts_with("run ") || rest.starts_with("done ")
        })
        .collect();
    assert!(node_lines.len() >= 20, "{log}");
    for line in &node_lines {
        assert_ne!(strip_timestamp(line), *line, "timestamped: {line}");
    }
    assert!(
        log.lines()
            .any(|l| strip_timestamp(l).trim_start().starts_with("progress ")
                && (l.contains("extract: egemaps") || l.contains("ingest: decode"))),
        "progress inside a per-item node: {log}"
    );
    let summary = last_summary(&ws);
    assert_eq!(summary["exit_code"], 0);
    assert_eq!(summary["counts"]["ran"], 12, "{summary}");
    assert!(summary["peak_rss_mib"].as_f64().unwrap() > 1.0);
    assert_eq!(summary["nodes"]["ingest"]["outcome"], "ran");
    assert_eq!(summary["nodes"]["ingest"]["reason"], "never run");

    // The same events as JSON lines.
    let out = ws
        .cmd(&[
            "run",
            "--log-format",
            "json",
            "--set",
            "models.lr.alpha=0.5",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let events: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let of = |kind: &str| events.iter().filter(|e| e["event"] == kind).count();
    assert!(of("run") >= 1 && of("run") == of("done"), "{stderr}");
    assert!(
        events
            .iter()
            .all(|e| e["ts"].as_str().is_some_and(|t| t.ends_with('Z')))
    );
    let summary = events.iter().find(|e| e["event"] == "summary").unwrap();
    assert_eq!(summary["exit_code"], 0);
    assert_eq!(summary["failed"], 0);

    let runs = ws.ok(&["runs"]);
    assert_eq!(runs.lines().count(), 3, "a header and two runs: {runs}");

    // --threads (or SER_THREADS) sizes the pool.
    ws.ok(&["run", "--threads", "1"]);
    assert_eq!(last_summary(&ws)["threads"], 1);
}

#[test]
fn exit_codes_say_what_happened() {
    let ws = Workspace::new(2);
    let bad = ws.ser(&["run", "--set", "extract.hop=3"]);
    assert_eq!(
        bad.status.code(),
        Some(2),
        "a bad pipeline file is a usage error"
    );
    let usage = ws.ser(&["run", "--no-such-flag"]);
    assert_eq!(usage.status.code(), Some(2));
    std::fs::write(
        ws.path("folds.json"),
        r#"{"two": {"test_speakers": [[99]]}}"#,
    )
    .unwrap();
    let failed = ws.ser(&["run"]);
    assert_eq!(failed.status.code(), Some(1), "a failed node");
}

#[test]
fn sigterm_during_extraction_stops_cleanly_and_the_next_run_resumes() {
    let reference = Workspace::new(15);
    reference.ok(&["run", "--set", "experiments.features=[egemaps]"]);
    let want = reference.ok(&[
        "metrics",
        "--json",
        "--set",
        "experiments.features=[egemaps]",
    ]);

    let ws = Workspace::new(15);
    let child = ws
        .cmd(&["run", "--set", "experiments.features=[egemaps]"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_files(&ws.path(".ser/items/extract"), 5, Duration::from_secs(60));
    sigterm(&child);
    let sent = Instant::now();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(143), "{stderr}");
    assert!(sent.elapsed() < Duration::from_secs(30), "bounded stop");
    assert!(stderr.contains("stopped by SIGTERM"), "{stderr}");
    let summary = last_summary(&ws);
    assert_eq!(summary["exit_code"], 143);
    assert_eq!(summary["interrupted"], "SIGTERM");
    assert_eq!(ws.count_files(".ser/tmp"), 0, "nothing half-written");

    // The next run keeps every utterance extracted before the signal.
    let before = files_under(&ws.path(".ser/items/extract"));
    assert!(!before.is_empty());
    let again = ws.ok(&["run", "--set", "experiments.features=[egemaps]"]);
    assert!(!ran_nodes(&again).is_empty());
    let after = files_under(&ws.path(".ser/items/extract"));
    for (path, modified) in &before {
        assert_eq!(
            after.get(path),
            Some(modified),
            "{} was kept",
            path.display()
        );
    }
    assert!(after.len() > before.len());
    assert_eq!(
        ws.ok(&[
            "metrics",
            "--json",
            "--set",
            "experiments.features=[egemaps]"
        ]),
        want
    );
}

#[test]
fn sigterm_during_deep_training_keeps_finished_networks() {
    let ws = Workspace::new(15);
    std::fs::write(
        ws.path("pipeline.yaml"),
        "corpus: {kind: ravdess, path: corpus}\n\
         extract: {n_mfcc: 20, functionals: [mean, std]}\n\
         protocols:\n  two: {kind: folds_file, path: folds.json, key: two}\n\
         models:\n  mlp: {kind: mlp, epochs: 200, hidden: 256, layers: 2, validation_speakers: 1, networks: 20, patience: 1000}\n\
         experiments: {features: [mfcc], models: [mlp], protocols: [two]}\n",
    )
    .unwrap();
    let child = ws
        .cmd(&["run", "--stop-timeout", "20"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_files(
        &ws.path(".ser/items/train-deep"),
        1,
        Duration::from_secs(120),
    );
    sigterm(&child);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(143), "{stderr}");
    assert_ne!(
        last_summary(&ws)["nodes"]["train:mfcc/none/mlp@two"]["outcome"],
        "ran"
    );
    let before = files_under(&ws.path(".ser/items/train-deep"));
    assert!(!before.is_empty());
    assert!(
        before.len() < 40,
        "stopped before all 2 x 20 networks: {}",
        before.len()
    );
    let again = ws.ok(&["run"]);
    assert!(again.contains("done train:mfcc/none/mlp@two"), "{again}");
    let after = files_under(&ws.path(".ser/items/train-deep"));
    for (path, modified) in &before {
        assert_eq!(
            after.get(path),
            Some(modified),
            "network {} was kept",
            path.display()
        );
    }
    assert_eq!(after.len(), 40);
}

#[test]
fn a_second_signal_exits_at_once() {
    let ws = Workspace::new(15);
    let child = ws
        .cmd(&[
            "run",
            "--stop-timeout",
            "60",
            "--set",
            "experiments.features=[egemaps]",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_files(&ws.path(".ser/items/ingest"), 3, Duration::from_secs(60));
    sigterm(&child);
    std::thread::sleep(Duration::from_millis(100));
    sigterm(&child);
    let started = Instant::now();
    let mut child = child;
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(143));
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn the_nightly_batch_script_runs_publishes_reports_and_forwards_sigterm() {
    let ws = Workspace::new(4);
    let team = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/nightly.sbatch");
    let nightly = |extra: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new("bash");
        cmd.arg(&script)
            .current_dir(ws.path(""))
            .env("SLURM_SUBMIT_DIR", ws.path(""))
            .env("SER_BIN", env!("CARGO_BIN_EXE_ser"))
            .env("SER_PIPELINE", "pipeline.yaml")
            .env("SER_REMOTE", team.path())
            .env_remove("SER_CACHE_DIR");
        for (k, v) in extra {
            cmd.env(k, v);
        }
        cmd
    };
    let out = nightly(&[]).output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(ws.path("report-nightly/index.html").is_file());
    assert!(
        team.path().join("states/team/nightly.json").is_file(),
        "{log}"
    );

    // Slurm's SIGTERM reaches the batch shell, which hands it to ser.
    let busy = Workspace::new(15);
    let child = std::process::Command::new("bash")
        .arg(&script)
        .current_dir(busy.path(""))
        .env("SLURM_SUBMIT_DIR", busy.path(""))
        .env("SER_BIN", env!("CARGO_BIN_EXE_ser"))
        .env("SER_PIPELINE", "pipeline.yaml")
        .env_remove("SER_CACHE_DIR")
        .env_remove("SER_REMOTE")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_files(&busy.path(".ser/items/ingest"), 3, Duration::from_secs(60));
    sigterm(&child);
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(143), "{log}");
    assert!(log.contains("stopped by SIGTERM"), "{log}");
    assert_eq!(last_summary(&busy)["exit_code"], 143);
}
