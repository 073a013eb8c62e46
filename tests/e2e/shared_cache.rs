//! One cache folder, many writers: concurrent runs of different pipelines,
//! gc while a run is going, and group-shared file modes.

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::time::Duration;

use common::{Workspace, ran_nodes};

/// A second pipeline in the same workspace (so the same `.ser` folder):
/// one feature set in common with the first, one of its own.
fn second_pipeline(ws: &Workspace) {
    std::fs::write(
        ws.path("other.yaml"),
        "corpus: {kind: ravdess, path: corpus}\n\
         extract: {n_mfcc: 20, functionals: [mean, std]}\n\
         protocols:\n  two: {kind: folds_file, path: folds.json, key: two}\n\
         models:\n  nb: {kind: gaussian_nb}\n  knn: {kind: knn, k: 3}\n\
         experiments: {features: [mfcc, spectral], models: [nb, knn], protocols: [two]}\n",
    )
    .unwrap();
}

#[test]
fn two_pipelines_run_at_once_on_one_cache_and_share_their_common_nodes() {
    let ws = Workspace::new(6);
    second_pipeline(&ws);
    let spawn = |args: &[&str]| {
        ws.cmd(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let a = spawn(&["run"]);
    let b = spawn(&["run", "-p", "other.yaml"]);
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let log = |o: &std::process::Output| String::from_utf8_lossy(&o.stderr).to_string();
    assert!(a.status.success(), "{}", log(&a));
    assert!(b.status.success(), "{}", log(&b));
    // ingest, folds:two and extract:mfcc are in both graphs: each was
    // computed by one run only.
    let mut ran: Vec<String> = ran_nodes(&log(&a));
    ran.extend(ran_nodes(&log(&b)));
    for shared in ["ingest", "folds:two", "extract:mfcc"] {
        assert_eq!(
            ran.iter().filter(|n| *n == shared).count(),
            1,
            "{shared} computed once: {ran:?}"
        );
    }
    // Both states survive; each pipeline is fresh and has its results.
    for args in [&["run"][..], &["run", "-p", "other.yaml"][..]] {
        let again = ws.ok(args);
        assert!(ran_nodes(&again).is_empty(), "{again}");
    }
    // The same results as a pipeline run alone.
    let alone = Workspace::new(6);
    second_pipeline(&alone);
    alone.ok(&["run", "-p", "other.yaml"]);
    assert_eq!(
        ws.ok(&["metrics", "--json", "-p", "other.yaml"]),
        alone.ok(&["metrics", "--json", "-p", "other.yaml"])
    );
}

#[test]
fn gc_during_a_run_waits_and_deletes_nothing_the_run_needs() {
    // eGeMAPS on 48 files keeps the run busy for a few seconds.
    let ws = Workspace::new(12);
    let run = ws
        .cmd(&["run", "--set", "experiments.features=[mfcc, egemaps]"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Let the run take its lock and write some of its files.
    let lock = ws.path(".ser/lock");
    for _ in 0..200 {
        if lock.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(300));
    let gc = ws.ser(&["gc", "--grace", "0s"]);
    let run = run.wait_with_output().unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let gc_log = String::from_utf8_lossy(&gc.stderr);
    assert!(gc.status.success(), "{gc_log}");
    assert!(
        gc_log.contains("waiting for the cache lock"),
        "gc waited for the running run: {gc_log}"
    );
    let again = ws.ok(&["run", "--set", "experiments.features=[mfcc, egemaps]"]);
    assert!(
        ran_nodes(&again).is_empty(),
        "gc kept everything the run made: {again}"
    );
}

#[test]
fn a_group_shared_cache_makes_group_writable_files() {
    let ws = Workspace::new(2);
    ws.ok(&["run", "--shared", "group"]);
    let mut checked = 0;
    let mut stack = vec![ws.path(".ser")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            let mode = entry.metadata().unwrap().permissions().mode() & 0o7777;
            if path.is_dir() {
                assert_eq!(mode, 0o2775, "{}", path.display());
                stack.push(path);
            } else {
                assert_eq!(mode, 0o664, "{}", path.display());
                checked += 1;
            }
        }
    }
    assert!(checked > 20, "checked {checked} files");
}
