//! End-to-end tests of the `ser` binary on a small slice of the real
//! RAVDESS corpus (../shared/corpora/ravdess, read in place through
//! symlinks): caching, dirty reasons, rejects, crash safety and
//! concurrency.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::common;

use common::{Workspace, ran_nodes, ravdess};

#[test]
fn rerun_is_a_no_op_and_a_model_change_reruns_only_that_model() {
    let ws = Workspace::new(8);
    let first = ws.ok(&["run"]);
    assert_eq!(ran_nodes(&first).len(), 12, "{first}");
    assert!(first.contains("(never run)"));

    let second = ws.ok(&["run"]);
    assert!(ran_nodes(&second).is_empty(), "{second}");
    assert!(second.contains("0 node(s) ran, 12 fresh"), "{second}");

    let changed = ws.ok(&["run", "--set", "models.lr.alpha=0.1"]);
    let ran = ran_nodes(&changed);
    // Both lr train nodes rerun; an evaluate node reruns only if its
    // predictions changed (early cutoff); nothing of nb reruns.
    let mut trained: Vec<&String> = ran.iter().filter(|n| n.starts_with("train:")).collect();
    trained.sort();
    assert_eq!(
        trained,
        ["train:logmel/none/lr@two", "train:mfcc/none/lr@two"],
        "{changed}"
    );
    assert!(ran.iter().all(|n| n.ends_with("/lr@two")), "{changed}");
    assert!(
        changed.contains("params changed: model.alpha 1.0 -> 0.1"),
        "{changed}"
    );

    let json = ws.ok(&["metrics", "--json"]);
    let rows: Vec<serde_json::Value> = json
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 4);
    for row in &rows {
        for key in [
            "experiment",
            "features",
            "selection",
            "model",
            "protocol",
            "ua",
            "wa",
            "macro_f1",
            "n_test",
        ] {
            assert!(row.get(key).is_some(), "missing {key} in {row}");
        }
        assert_eq!(row["n_test"], 32);
        let ua = row["ua"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&ua));
    }

    // The same model under another name is the same cached node: `status`
    // calls it fresh, and `outputs` lists its files though this pipeline
    // (with these --set values) never ran.
    let twin = [
        "--set",
        "models.twin={kind: logistic_regression, alpha: 0.1, max_iterations: 100}",
        "--set",
        "experiments={features: [mfcc], models: [twin], protocols: [two]}",
    ];
    let status = ws.ok(&[&["status"][..], &twin].concat());
    assert!(status.contains("0 of 5 node(s) would run"), "{status}");
    let objects = |listing: String| -> Vec<String> {
        (listing.lines())
            .filter_map(|l| l.rsplit_once('\t').map(|(_, path)| path.to_string()))
            .collect()
    };
    let of_twin = objects(ws.ok(&[&["outputs", "train:mfcc/none/twin@two"][..], &twin].concat()));
    let set_lr = ["--set", "models.lr.alpha=0.1"];
    let of_lr = objects(ws.ok(&[&["outputs", "train:mfcc/none/lr@two"][..], &set_lr].concat()));
    assert!(!of_twin.is_empty());
    assert_eq!(of_twin, of_lr);
    // So do the commands that read results.
    let metrics = ws.ok(&[&["metrics"][..], &twin].concat());
    let lr_metrics = ws.ok(&[&["metrics"][..], &set_lr].concat());
    let row = |text: &str, name: &str| -> String {
        let line = text
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_default();
        line.split_whitespace()
            .skip(1)
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert!(!row(&metrics, "mfcc/none/twin").is_empty(), "{metrics}");
    assert_eq!(
        row(&metrics, "mfcc/none/twin"),
        row(&lr_metrics, "mfcc/none/lr")
    );
}

#[test]
fn speaker_normalisation_reruns_only_the_model_that_asks_for_it() {
    let ws = Workspace::new(8);
    ws.ok(&["run"]);
    let global = ws.ok(&["metrics", "--json"]);
    let changed = ws.ok(&["run", "--set", "models.lr.normalize=speaker"]);
    let mut trained: Vec<String> = ran_nodes(&changed)
        .into_iter()
        .filter(|n| n.starts_with("train:"))
        .collect();
    trained.sort();
    assert_eq!(
        trained,
        ["train:logmel/none/lr@two", "train:mfcc/none/lr@two"],
        "{changed}"
    );
    assert!(changed.contains("normalize"), "{changed}");
    // Naive Bayes keeps its numbers; logistic regression sees other
    // features, so its predictions (and here its UA) move.
    let ua = |json: &str, experiment: &str| -> f64 {
        json.lines()
            .filter(|l| l.starts_with('{'))
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|row| row["experiment"] == experiment)
            .and_then(|row| row["ua"].as_f64())
            .unwrap_or_else(|| panic!("no {experiment} in {json}"))
    };
    let speaker = ws.ok(&["metrics", "--json", "--set", "models.lr.normalize=speaker"]);
    assert_eq!(ua(&global, "mfcc/none/nb"), ua(&speaker, "mfcc/none/nb"));
    assert_ne!(ua(&global, "mfcc/none/lr"), ua(&speaker, "mfcc/none/lr"));
    // The --set run was the last, but the pipeline as written is cached
    // too: its own numbers, not the variant's, under the same names.
    let written = ws.ok(&["metrics", "--json"]);
    assert_eq!(ua(&global, "mfcc/none/lr"), ua(&written, "mfcc/none/lr"));
    assert_eq!(
        ua(&global, "logmel/none/lr"),
        ua(&written, "logmel/none/lr")
    );
    // --set-b pairs the pipeline as written with the variant under one name.
    let paired = ws.ok(&[
        "compare",
        "mfcc/none/lr",
        "mfcc/none/lr",
        "--set-b",
        "models.lr.normalize=speaker",
        "--json",
    ]);
    let paired: serde_json::Value = serde_json::from_str(paired.trim()).unwrap();
    let bootstrap = &paired["paired_bootstrap"];
    assert!(
        (bootstrap["ua_a"].as_f64().unwrap() - ua(&global, "mfcc/none/lr")).abs() < 1e-9
            && (bootstrap["ua_b"].as_f64().unwrap() - ua(&speaker, "mfcc/none/lr")).abs() < 1e-9,
        "{paired}"
    );
    assert_eq!(
        paired["set_b"][0], "models.lr.normalize=speaker",
        "{paired}"
    );
    assert_eq!(paired["b"], "mfcc/none/lr", "{paired}");
    // A variant that never ran is refused, not read from another run.
    let never = ws.ser(&[
        "compare",
        "mfcc/none/lr",
        "mfcc/none/lr",
        "--set-b",
        "models.lr.alpha=0.5",
    ]);
    let never_err = String::from_utf8_lossy(&never.stderr).to_string();
    assert!(
        !never.status.success() && never_err.contains("train:mfcc/none/lr@two is not fresh"),
        "{never_err}"
    );
    // Results that normalised test speakers by their own audio are marked
    // transductive; every interval resamples the 4 test speakers, and the
    // utterance-level interval is kept beside it.
    for line in speaker.lines().filter(|l| l.starts_with('{')) {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        let lr = row["model"] == "lr";
        assert_eq!(row["transductive"], lr, "{row}");
        assert_eq!(row["ci_unit"], "speaker", "{row}");
        let (low, high) = (
            row["ua_ci"][0].as_f64().unwrap(),
            row["ua_ci"][1].as_f64().unwrap(),
        );
        let ua = row["ua"].as_f64().unwrap();
        assert!(low <= ua && ua <= high, "{row}");
        assert!(row["ua_ci_utterance"][0].is_f64(), "{row}");
    }
    let table = ws.ok(&["metrics", "--set", "models.lr.normalize=speaker"]);
    assert!(
        table.contains("mfcc/none/lr (T)") && !table.contains("mfcc/none/nb (T)"),
        "{table}"
    );
    assert!(table.contains("(T) transductive"), "{table}");
    for (unit, words) in [
        ("speaker", "resamples of speakers"),
        ("utterance", "resamples of utterances"),
    ] {
        let compared = ws.ok(&[
            "compare",
            "mfcc/none/lr",
            "mfcc/none/nb",
            "--unit",
            unit,
            "--json",
            "--set",
            "models.lr.normalize=speaker",
        ]);
        let compared: serde_json::Value = serde_json::from_str(compared.trim()).unwrap();
        assert_eq!(compared["paired_bootstrap"]["unit"], unit, "{compared}");
        let text = ws.ok(&[
            "compare",
            "mfcc/none/lr",
            "mfcc/none/nb",
            "--unit",
            unit,
            "--set",
            "models.lr.normalize=speaker",
        ]);
        assert!(
            text.contains(words) && text.contains("4 speakers"),
            "{text}"
        );
    }
    // The params saved beside the models say how their inputs were scaled.
    let params = artifact(
        &ws,
        "train:mfcc/none/lr@two",
        "params",
        &["--set", "models.lr.normalize=speaker"],
    );
    assert_eq!(params["normalize"], "speaker", "{params}");
    assert_eq!(params["kind"], "logistic_regression", "{params}");
}

#[test]
fn status_names_the_reason_for_every_stale_node() {
    let ws = Workspace::new(4);
    let before = ws.ok(&["status"]);
    assert!(
        before.contains("ingest") && before.contains("stale (never run)"),
        "{before}"
    );
    ws.ok(&["run"]);
    let fresh = ws.ok(&["status"]);
    assert!(fresh.contains("0 of 12 node(s) would run"), "{fresh}");

    let changed = ws.ok(&["status", "--set", "extract.n_mfcc=13"]);
    assert!(
        changed.contains("extract:mfcc")
            && changed.contains("params changed: spectral.n_mfcc 20 -> 13"),
        "{changed}"
    );
    assert!(
        changed.contains("upstream extract:mfcc is stale"),
        "{changed}"
    );
    assert!(
        changed
            .lines()
            .any(|l| l.starts_with("extract:logmel") && l.ends_with("fresh")),
        "{changed}"
    );

    std::fs::write(
        ws.path("folds.json"),
        r#"{"two": {"test_speakers": [[1, 3], [2, 4]]}}"#,
    )
    .unwrap();
    let moved = ws.ok(&["status"]);
    assert!(moved.contains("input changed: protocol_file"), "{moved}");

    std::fs::remove_dir_all(ws.path(".ser/objects")).unwrap();
    let gone = ws.ok(&["status"]);
    assert!(
        gone.lines()
            .next()
            .unwrap()
            .contains("stale (output missing from the cache)"),
        "{gone}"
    );
}

#[test]
fn new_files_are_the_only_ones_decoded() {
    let ws = Workspace::new(4);
    ws.ok(&["run"]);
    let items_before = ws.count_files(".ser/items/ingest");
    assert_eq!(items_before, 16);
    // Four more files for actor 1.
    let actor = ravdess().join("Actor_01");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&actor)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for f in files.iter().skip(1).step_by(4).take(4) {
        std::os::unix::fs::symlink(f, ws.path("corpus/Actor_01").join(f.file_name().unwrap()))
            .unwrap();
    }
    let log = ws.ok(&["run"]);
    assert!(
        log.contains("run ingest (input changed: corpus (4 added, 0 removed, 0 changed))"),
        "{log}"
    );
    assert_eq!(ws.count_files(".ser/items/ingest"), 20);
    assert_eq!(
        ws.count_files(".ser/items/extract"),
        40,
        "16+4 utterances x 2 feature sets"
    );
}

#[test]
fn bad_files_are_rejected_by_name_and_strict_fails() {
    let ws = Workspace::new(4);
    let actor = ws.path("corpus/Actor_02");
    std::fs::write(actor.join("03-01-05-01-01-01-02.wav"), b"").unwrap();
    std::fs::write(
        actor.join("03-01-06-01-01-01-02.wav"),
        b"this is not audio at all, just text".repeat(50),
    )
    .unwrap();
    let flac = std::fs::read(ravdess().join("Actor_02/03-01-07-01-01-01-02.flac")).unwrap();
    std::fs::write(
        actor.join("03-01-07-01-01-01-02.flac"),
        &flac[..flac.len() / 3],
    )
    .unwrap();
    std::fs::write(actor.join("recording.wav"), b"RIFF").unwrap();
    // 16-bit WAV of pure digital silence.
    let mut silent = b"RIFF\x2c\x7d\0\0WAVEfmt \x10\0\0\0\x01\0\x01\0\x80\x3e\0\0\0\x7d\0\0\x02\0\x10\0data\x00\x7d\0\0".to_vec();
    silent.resize(44 + 32000, 0);
    std::fs::write(actor.join("03-01-08-01-01-01-02.wav"), &silent).unwrap();

    let log = ws.ok(&["run"]);
    for (file, why) in [
        ("03-01-05-01-01-01-02.wav", "empty file"),
        ("03-01-06-01-01-01-02.wav", "not a recognised audio file"),
        ("03-01-07-01-01-01-02.flac", "truncated"),
        ("03-01-08-01-01-01-02.wav", "silent"),
        ("recording.wav", "RAVDESS naming"),
    ] {
        assert!(
            log.lines().any(|l| l.contains(file) && l.contains(why)),
            "no '{why}' reject for {file}:\n{log}"
        );
    }
    assert!(log.contains("5 file(s) rejected"), "{log}");

    let strict = ws.ser(&["run", "--strict"]);
    assert!(!strict.status.success());
    let err = String::from_utf8_lossy(&strict.stderr);
    assert!(err.contains("--strict: 5 file(s) rejected"), "{err}");
}

#[test]
fn sigkill_at_any_moment_then_rerun_gives_identical_results() {
    let reference = Workspace::new(6);
    reference.ok(&["run"]);
    let want = reference.ok(&["metrics", "--json"]);

    let ws = Workspace::new(6);
    // Each run is killed as soon as it has written a few files, so the
    // kill lands mid-run; it counts when the process was still running,
    // died of the signal, and left work to do (stale nodes).
    let mut killed_mid_run = 0;
    for _ in 0..5 {
        let before = common::walk(&ws.path(".ser"));
        let mut child = ws
            .cmd(&["run"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        while child.try_wait().unwrap().is_none() && common::walk(&ws.path(".ser")) < before + 3 {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the run never wrote"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        let running = child.try_wait().unwrap().is_none();
        child.kill().unwrap(); // SIGKILL
        let status = child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        if running && status.signal() == Some(libc::SIGKILL) {
            let left = ws.ok(&["status"]);
            assert!(
                left.contains(" stale ("),
                "killed mid-run, yet nothing left:\n{left}"
            );
            killed_mid_run += 1;
        }
    }
    assert!(
        killed_mid_run >= 3,
        "only {killed_mid_run} of 5 kills landed mid-run"
    );
    ws.ok(&["run"]);
    assert_eq!(ws.ok(&["metrics", "--json"]), want);
    assert_eq!(
        ws.count_files(".ser/tmp"),
        0,
        "the run clears temp files of killed runs"
    );
    let again = ws.ok(&["run"]);
    assert!(ran_nodes(&again).is_empty(), "{again}");
}

#[test]
fn two_concurrent_runs_on_one_cache() {
    let ws = Workspace::new(6);
    let a = ws
        .cmd(&["run"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let b = ws
        .cmd(&["run"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(
        a.status.success() && b.status.success(),
        "a: {}\n{}\nb: {}\n{}",
        a.status,
        String::from_utf8_lossy(&a.stderr),
        b.status,
        String::from_utf8_lossy(&b.stderr)
    );
    // Both ran at once (shared lock); each node was computed by one of
    // them, the other waited on its node lock and reused the record.
    let logs = [
        String::from_utf8_lossy(&a.stderr).to_string(),
        String::from_utf8_lossy(&b.stderr).to_string(),
    ];
    let mut ran: Vec<String> = logs.iter().flat_map(|l| ran_nodes(l)).collect();
    assert_eq!(ran.len(), 12, "each node computed once: {logs:?}");
    ran.sort();
    ran.dedup();
    assert_eq!(ran.len(), 12, "no node computed twice: {logs:?}");
    assert_eq!(a.stdout, b.stdout, "both print the same results");
}

#[test]
fn config_errors_name_key_and_line() {
    let ws = Workspace::new(1);
    let text = std::fs::read_to_string(ws.path("pipeline.yaml"))
        .unwrap()
        .replace("n_mfcc: 20", "n_mfcc: 20, hop: 3");
    std::fs::write(ws.path("bad.yaml"), text).unwrap();
    let out = ws.ser(&["run", "-p", "bad.yaml"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "one-line cause: {err}");
    assert!(
        err.contains("bad.yaml")
            && err.contains("extract")
            && err.contains("unknown field `hop`")
            && err.contains("line 2"),
        "{err}"
    );

    let out = ws.ser(&["run", "--set", "models.lr.alpha=high"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("models.lr"), "{err}");
}

#[test]
fn dag_gc_and_corpus_inspect() {
    let ws = Workspace::new(4);
    let dag = ws.ok(&["dag"]);
    assert!(
        dag.contains("train:mfcc/none/nb@two  <- features=extract:mfcc, folds=folds:two"),
        "{dag}"
    );
    assert_eq!(dag.lines().count(), 12);

    ws.ok(&["run"]);
    ws.ok(&["run", "--set", "extract.n_mfcc=13"]);
    let objects = ws.count_files(".ser/objects");
    // Fresh files are kept for the grace period (a run elsewhere may be
    // about to use them); --grace 0s collects at once.
    let kept = ws.ok(&["gc"]);
    assert!(kept.contains("removed 0 file(s)"), "{kept}");
    assert_eq!(ws.count_files(".ser/objects"), objects);
    let dry = ws.ok(&["gc", "--grace", "0s", "--dry-run"]);
    assert!(dry.contains("would remove"), "{dry}");
    assert_eq!(
        ws.count_files(".ser/objects"),
        objects,
        "a dry run deletes nothing"
    );
    let gc = ws.ok(&["gc", "--grace", "0s"]);
    assert!(gc.contains("removed"), "{gc}");
    assert!(
        ws.count_files(".ser/objects") < objects,
        "gc dropped the n_mfcc=20 artifacts"
    );
    let rerun = ws.ok(&["run", "--set", "extract.n_mfcc=13"]);
    assert!(
        ran_nodes(&rerun).is_empty(),
        "gc kept what the last run uses: {rerun}"
    );

    let inspect = ws.ok(&["corpus", "inspect", "corpus"]);
    assert!(inspect.contains("16 usable utterances"), "{inspect}");
    assert!(
        inspect
            .lines()
            .any(|l| l.trim_start().starts_with("01") && l.trim_end().ends_with(" 4")),
        "{inspect}"
    );

    ws.ok(&["clean", "--all"]);
    assert!(!ws.path(".ser").exists());
}

/// `ser metrics | head`: the reader stops before ser has written. Every
/// printing command ends quietly (exit 0, no panic), and a run so piped
/// still records its summary.
#[test]
fn a_reader_that_stops_early_ends_the_command_quietly() {
    let ws = Workspace::new(2);
    ws.ok(&["run"]);
    let runs = |ws: &Workspace| ws.ok(&["runs"]).lines().count();
    let before = runs(&ws);
    for args in [
        &["run"][..],
        &["metrics"],
        &["metrics", "--validation"],
        &["status"],
        &["dag"],
        &["runs"],
        &["outputs"],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = ws.cmd(args).stdout(writer).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {:?}\n{stderr}", out.status);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    assert_eq!(runs(&ws), before + 1, "the piped run wrote its summary");
}

#[test]
fn help_on_every_command() {
    let ws = Workspace::new(1);
    for cmd in [
        vec!["--help"],
        vec!["run", "--help"],
        vec!["status", "--help"],
        vec!["metrics", "--help"],
        vec!["corpus", "inspect", "--help"],
    ] {
        let out = ws.ok(&cmd);
        assert!(out.contains("Usage:"), "{cmd:?}: {out}");
    }
}

#[test]
fn frames_are_kept_as_numpy_tensors_when_asked() {
    let ws = Workspace::new(2);
    ws.ok(&["run"]);
    let before = ws.count_files(".ser/items/extract");
    let log = ws.ok(&["run", "--set", "extract.frames=true"]);
    // Only the extract nodes rerun (their outputs grow); the feature tables
    // are the same bytes, so nothing downstream reruns.
    let mut ran = ran_nodes(&log);
    ran.sort();
    assert_eq!(ran, ["extract:logmel", "extract:mfcc"], "{log}");
    assert_eq!(
        ws.count_files(".ser/items/extract"),
        before,
        "items are rewritten in place"
    );

    let listing = ws.ok(&["outputs", "extract:logmel", "--set", "extract.frames=true"]);
    let frames_path = listing
        .lines()
        .find_map(|l| l.strip_prefix("extract:logmel\tframes\t"))
        .unwrap_or_else(|| panic!("no frames output in {listing}"));
    let index =
        ser::artifact::parquet_read::from_parquet(std::fs::read(frames_path).unwrap()).unwrap();
    assert_eq!(index.n_rows(), 8);
    let tensors = index.utf8("tensor").unwrap();
    let n_frames = index.i64("n_frames").unwrap();
    let cache = ws.path(".ser/objects");
    let first = std::fs::read(cache.join(&tensors[0][..2]).join(&tensors[0])).unwrap();
    let spectrogram = ser::artifact::npy::read_2d(&first).unwrap();
    assert_eq!(
        spectrogram.dim(),
        (n_frames[0] as usize, 64),
        "a log-mel spectrogram, frames x 64 bands"
    );
    assert!(n_frames[0] > 100);
}

#[test]
fn extract_command_writes_one_row_per_file_and_reports_bad_files() {
    let ws = Workspace::new(1);
    std::fs::write(ws.path("noise.wav"), b"definitely not audio".repeat(40)).unwrap();
    let files: Vec<String> = ["corpus/Actor_01", "corpus/Actor_02"]
        .iter()
        .map(|d| {
            std::fs::read_dir(ws.path(d))
                .unwrap()
                .next()
                .unwrap()
                .unwrap()
                .path()
                .display()
                .to_string()
        })
        .collect();
    let out = ws.ser(&[
        "extract",
        "--set",
        "acoustic",
        "--out",
        "f.parquet",
        &files[0],
        &files[1],
        "noise.wav",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a bad file fails the command: {err}"
    );
    assert!(
        err.contains("noise.wav: not a recognised audio file"),
        "{err}"
    );
    let table =
        ser::artifact::parquet_read::from_parquet(std::fs::read(ws.path("f.parquet")).unwrap())
            .unwrap();
    assert_eq!(table.n_rows(), 2, "the good files are still written");
    assert_eq!(table.columns.len(), 1 + 645);
    let stem = Path::new(&files[0])
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .to_string();
    assert_eq!(table.utf8("file").unwrap()[0], stem);
    assert!(table.column("chroma_11_range").is_ok() && table.column("contrast_6_mean").is_ok());

    ws.ok(&[
        "extract",
        "--set",
        "mfcc",
        "--frames",
        "--param",
        "n_mfcc=13",
        "--out",
        "frames.parquet",
        &files[0],
    ]);
    let frames = ser::artifact::parquet_read::from_parquet(
        std::fs::read(ws.path("frames.parquet")).unwrap(),
    )
    .unwrap();
    assert_eq!(frames.columns.len(), 2 + 13, "file, frame, mfcc_00..12");
    let index = frames.i64("frame").unwrap();
    assert_eq!(index[..3], [0, 1, 2]);
    assert!(frames.n_rows() > 100);

    let bad = ws.ser(&[
        "extract",
        "--set",
        "wav2vec",
        "--out",
        "x.parquet",
        &files[0],
    ]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains(
        "unknown feature set 'wav2vec' (known: acoustic, mfcc, logmel, spectral, egemaps, gemaps)"
    ));
}

#[test]
fn selection_runs_once_per_fold_set_and_feeds_every_model() {
    let ws = Workspace::new(4);
    let set = [
        "--set",
        "selection.top.filter.keep=5",
        "--set",
        "experiments.selection=[none, top]",
    ];
    let log = ws.ok(&[&["run"][..], &set].concat());
    let selects: Vec<String> = ran_nodes(&log)
        .into_iter()
        .filter(|n| n.starts_with("select:"))
        .collect();
    assert_eq!(
        selects.len(),
        2,
        "one per feature set, shared by lr and nb: {log}"
    );
    assert!(
        log.contains("mfcc/top/lr") && log.contains("logmel/top/nb"),
        "{log}"
    );

    let listing = ws.ok(&[&["outputs", "select:mfcc/top"][..], &set].concat());
    let path = listing
        .lines()
        .next()
        .unwrap()
        .split('\t')
        .nth(2)
        .unwrap()
        .to_string();
    let artifact: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    for fold in artifact["folds"].as_array().unwrap() {
        assert_eq!(fold["columns"].as_array().unwrap().len(), 5, "{fold}");
    }

    // A model change leaves the selections fresh.
    let again = ws.ok(&[&["run", "--set", "models.nb.var_smoothing=1e-6"][..], &set].concat());
    assert!(
        ran_nodes(&again).iter().all(|n| !n.starts_with("select:")),
        "{again}"
    );
}

/// The path of a node's artifact, from `ser outputs PATTERN`.
fn artifact(ws: &Workspace, pattern: &str, output: &str, set: &[&str]) -> serde_json::Value {
    let listing = ws.ok(&[&["outputs", pattern][..], set].concat());
    let path = listing
        .lines()
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .find(|cols| cols[1] == output)
        .unwrap_or_else(|| panic!("no {output} of {pattern}: {listing}"))[2]
        .to_string();
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn grid_search_records_its_choice_and_a_wider_grid_scores_only_new_points() {
    let ws = Workspace::new(6);
    let narrow = [
        "--set",
        "models.knn={kind: knn, grid: {k: [1, 3]}, grid_folds: 2}",
        "--set",
        "experiments={features: [mfcc], models: [knn], protocols: [two]}",
    ];
    ws.ok(&[&["run"][..], &narrow].concat());
    let models = artifact(&ws, "train:mfcc/none/knn", "models", &narrow);
    for fold in models["folds"].as_array().unwrap() {
        let grid = &fold["grid"];
        assert_eq!(grid["computed"], 2, "{grid}");
        assert_eq!(grid["scores"].as_array().unwrap().len(), 2);
        let chosen = grid["chosen"]["k"].as_u64().unwrap();
        assert!(chosen == 1 || chosen == 3, "{grid}");
        // The refitted model carries the chosen value.
        assert_eq!(fold["model"]["spec"]["k"].as_u64().unwrap(), chosen);
    }
    // `ser metrics --choices` lists each fold's point, chosen by inner CV.
    let row: serde_json::Value = serde_json::from_str(
        ws.ok(&[&["metrics", "--json", "--choices"][..], &narrow].concat())
            .trim(),
    )
    .unwrap();
    assert_eq!(row["choices"]["chosen_by"], "inner_cv", "{row}");
    let listed: Vec<&serde_json::Value> = row["choices"]["folds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| &f["chosen"])
        .collect();
    let recorded: Vec<&serde_json::Value> = models["folds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| &f["grid"]["chosen"])
        .collect();
    assert_eq!(listed, recorded);

    let wide = [
        "--set",
        "models.knn={kind: knn, grid: {k: [1, 3, 5]}, grid_folds: 2}",
        "--set",
        "experiments={features: [mfcc], models: [knn], protocols: [two]}",
    ];
    let log = ws.ok(&[&["run"][..], &wide].concat());
    assert!(
        ran_nodes(&log).contains(&"train:mfcc/none/knn@two".to_string()),
        "{log}"
    );
    let models = artifact(&ws, "train:mfcc/none/knn", "models", &wide);
    for fold in models["folds"].as_array().unwrap() {
        let grid = &fold["grid"];
        assert_eq!(
            (grid["computed"].as_u64(), grid["reused"].as_u64()),
            (Some(1), Some(2)),
            "{grid}"
        );
    }

    // A grid naming a parameter the model lacks fails when the config is read.
    let out = ws.ser(&["run", "--set", "models.lr.grid={alpah: [1]}"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("'alpah' is not a parameter"),
        "{err}"
    );
}

#[test]
fn augmented_copies_train_only_their_sources_folds() {
    let ws = Workspace::new(4);
    let set = [
        "--set",
        "augmentations.noisy={copies: [{kind: noise, snr_db: 20}, {kind: pitch_shift, semitones: 2}], seed: 1}",
        "--set",
        "experiments={features: [mfcc], augment: [none, noisy], models: [nb], protocols: [two]}",
    ];
    let log = ws.ok(&[&["run"][..], &set].concat());
    let ran = ran_nodes(&log);
    for node in [
        "augment:noisy",
        "extract:mfcc+noisy",
        "train:mfcc+noisy/none/nb@two",
        "train:mfcc/none/nb@two",
    ] {
        assert!(ran.contains(&node.to_string()), "{node} did not run: {log}");
    }
    let models = artifact(&ws, "train:mfcc+noisy/none/nb", "models", &set);
    for fold in models["folds"].as_array().unwrap() {
        // Two copies of each training utterance, none of a test one.
        let n_train = fold["n_train"].as_u64().unwrap();
        assert!(n_train > 0);
        assert_eq!(
            fold["n_augmented"].as_u64().unwrap(),
            2 * n_train,
            "{}",
            fold["fold"]
        );
    }
    // The copies' features carry their source, and every copy's speaker is
    // its source's.
    let listing = ws.ok(&[&["outputs", "extract:mfcc+noisy"][..], &set].concat());
    assert!(listing.contains("features"), "{listing}");

    let json = ws.ok(&[&["metrics", "--json"][..], &set].concat());
    let rows: Vec<serde_json::Value> = json
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let augmented: Vec<&serde_json::Value> =
        rows.iter().filter(|r| r["augment"] == "noisy").collect();
    assert_eq!(augmented.len(), 1, "{json}");
    assert_eq!(augmented[0]["experiment"], "mfcc+noisy/none/nb");
    // Test sets are the same with and without augmentation.
    assert!(
        rows.iter().all(|r| r["n_test"] == augmented[0]["n_test"]),
        "{json}"
    );

    // A rerun is a no-op; a changed transform reruns only its own chain.
    assert!(ran_nodes(&ws.ok(&[&["run"][..], &set].concat())).is_empty());
    let changed = [
        "--set",
        "augmentations.noisy={copies: [{kind: noise, snr_db: 10}, {kind: pitch_shift, semitones: 2}], seed: 1}",
        "--set",
        "experiments={features: [mfcc], augment: [none, noisy], models: [nb], protocols: [two]}",
    ];
    let again = ran_nodes(&ws.ok(&[&["run"][..], &changed].concat()));
    assert!(again.contains(&"augment:noisy".to_string()), "{again:?}");
    assert!(
        !again
            .iter()
            .any(|n| n == "train:mfcc/none/nb@two" || n == "extract:mfcc"),
        "{again:?}"
    );

    // A classic model's `validation:` holds out the same speakers with
    // copies as without (their copies neither train nor validate), so its
    // validation rows are the same recorded utterances.
    let held_out = [
        "--set",
        "models.lr_val={kind: logistic_regression, validation: {seeds: 1, speakers: 1}}",
        "--set",
        "experiments={features: [mfcc], augment: [none, noisy], models: [lr_val], protocols: [two]}",
    ];
    ws.ok(&[&["run"][..], &held_out[..], &set[..2]].concat());
    let validation_ids = |node: &str| {
        let listing = ws.ok(&[&["outputs", node][..], &held_out[..], &set[..2]].concat());
        let path = (listing.lines())
            .find_map(|l| l.strip_prefix(&format!("{node}\tvalidation\t")))
            .unwrap_or_else(|| panic!("no validation of {node}: {listing}"))
            .to_string();
        fold_ids(&ser::artifact::parquet_read::from_parquet(std::fs::read(path).unwrap()).unwrap())
    };
    let plain = validation_ids("train:mfcc/none/lr_val@two");
    assert!(!plain.is_empty());
    assert_eq!(validation_ids("train:mfcc+noisy/none/lr_val@two"), plain);
}

#[test]
fn report_writes_a_page_a_table_sorted_by_ua_and_png_figures() {
    let ws = Workspace::new(4);
    // Before any run there is nothing to report.
    let none = ws.ser(&["report", "--out", "rep"]);
    let err = String::from_utf8_lossy(&none.stderr);
    assert!(
        !none.status.success() && err.contains("no experiment"),
        "{err}"
    );

    let set = [
        "--set",
        "selection.top.filter.keep=5",
        "--set",
        "experiments.selection=[none, top]",
    ];
    ws.ok(&[&["run"][..], &set].concat());
    let printed = ws.ok(&[&["report", "--out", "rep"][..], &set].concat());
    let (index, readme) = (ws.path("rep/index.html"), ws.path("rep/README.md"));
    assert!(index.is_file() && readme.is_file(), "{printed}");
    assert!(
        printed.contains("index.html") && printed.contains("README.md"),
        "{printed}"
    );

    let html = std::fs::read_to_string(&index).unwrap();
    let metrics = ws.ok(&[&["metrics", "--json"][..], &set].concat());
    let names: Vec<String> = metrics
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|j| j["experiment"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names.len(), 8, "{metrics}");
    for name in &names {
        assert!(html.contains(name.as_str()), "index.html lacks {name}");
    }

    // README.md: one table row per experiment, best UA first.
    let md = std::fs::read_to_string(&readme).unwrap();
    let rows: Vec<Vec<&str>> = md
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| #"))
        .map(|l| l.split(" | ").collect())
        .collect();
    assert_eq!(rows.len(), names.len(), "{md}");
    let ua: Vec<f64> = rows
        .iter()
        .map(|r| r[3].split_whitespace().next().unwrap().parse().unwrap())
        .collect();
    assert!(
        ua.windows(2).all(|w| w[0] >= w[1]),
        "not sorted by UA: {ua:?}\n{md}"
    );

    // Every figure it links is a PNG; selection gets a features figure.
    let mut linked = Vec::new();
    for part in md.split("](").skip(1) {
        let target = part.split(')').next().unwrap();
        if target.ends_with(".png") {
            linked.push(target.to_string());
        }
    }
    assert!(linked.len() >= 2 * names.len(), "{md}");
    assert!(
        linked
            .iter()
            .any(|l| l.contains("top") && l.ends_with("_features.png")),
        "{linked:?}"
    );
    for png in &linked {
        let bytes =
            std::fs::read(ws.path("rep").join(png)).unwrap_or_else(|e| panic!("{png}: {e}"));
        assert!(
            bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
            "{png} is not a PNG"
        );
    }

    // Without --out, the report goes beside the pipeline file.
    let elsewhere = tempfile::tempdir().unwrap();
    let out = ws
        .cmd(
            &[
                &["report", "-p", ws.path("pipeline.yaml").to_str().unwrap()][..],
                &set,
            ]
            .concat(),
        )
        .current_dir(elsewhere.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(ws.path("report/index.html").is_file());
}

/// The deep path end to end: burn networks on log-mel frames, eGeMAPS-like
/// sequences and raw signals, one epoch each, in the same run as a classic
/// model; cached per fold, reproducible, with curves and weights saved.
#[test]
fn deep_models_train_one_epoch_through_the_pipeline() {
    let ws = Workspace::new(8);
    let tiny = "epochs: 1, hidden: 8, layers: 1, channels: [4, 8], validation_speakers: 1";
    ws.write_pipeline(&format!(
        "models:\n\
             \x20 lr: {{kind: logistic_regression}}\n\
             \x20 mlp: {{kind: mlp, {tiny}}}\n\
             \x20 cnn2d: {{kind: cnn2d, {tiny}}}\n\
             \x20 gru: {{kind: gru, {tiny}, max_frames: 100}}\n\
             \x20 raw: {{kind: cnn1d_raw, {tiny}, max_frames: 16000}}\n\
             experiments:\n\
             \x20 - {{features: [mfcc], models: [lr, mlp, gru], protocols: [two]}}\n\
             \x20 - {{features: [logmel], models: [cnn2d], protocols: [two]}}\n\
             \x20 - {{features: [waveform], models: [raw], protocols: [two]}}\n"
    ));
    let first = ws.ok(&["run"]);
    let ran = ran_nodes(&first);
    for node in [
        "train:mfcc/none/mlp@two",
        "train:mfcc/none/gru@two",
        "train:logmel/none/cnn2d@two",
        "train:waveform/none/raw@two",
        "evaluate:waveform/none/raw@two",
    ] {
        assert!(
            ran.iter().any(|n| n == node),
            "{node} did not run:\n{first}"
        );
    }
    // The waveform model reads the signals: no extract node for it.
    assert!(
        !ran.iter().any(|n| n.contains("extract:waveform")),
        "{first}"
    );

    // `sets`: the run's --set values, which metrics must be given too.
    let metrics = |ws: &Workspace, cache: Option<&str>, sets: &[&str]| -> Vec<(String, f64)> {
        let mut args = vec!["metrics", "--json"];
        args.extend(sets);
        if let Some(c) = cache {
            args.extend(["--cache-dir", c]);
        }
        let mut rows: Vec<(String, f64)> = ws
            .ok(&args)
            .lines()
            .filter(|l| l.starts_with('{'))
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .map(|r| {
                assert_eq!(r["n_test"], 32, "{r}");
                (
                    r["experiment"].as_str().unwrap().to_string(),
                    r["ua"].as_f64().unwrap(),
                )
            })
            .collect();
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        rows
    };
    let first_metrics = metrics(&ws, None, &[]);
    assert_eq!(first_metrics.len(), 5, "{first_metrics:?}");

    // Each fold's network is saved: JSON with curves, weights beside it.
    let outputs = ws.ok(&["outputs", "train:logmel/none/cnn2d@two"]);
    let models_path = outputs
        .lines()
        .find(|l| l.contains("\tmodels\t"))
        .and_then(|l| l.split('\t').nth(2))
        .unwrap_or_else(|| panic!("no models artifact:\n{outputs}"));
    let models: serde_json::Value =
        serde_json::from_slice(&std::fs::read(models_path).unwrap()).unwrap();
    let folds = models["folds"].as_array().unwrap();
    assert_eq!(folds.len(), 2);
    for fold in folds {
        assert_eq!(fold["net"]["epochs_run"], 1);
        assert_eq!(fold["curves"][0]["points"].as_array().unwrap().len(), 1);
        assert_eq!(
            fold["net"]["validation_speakers"].as_array().unwrap().len(),
            1
        );
        assert!(
            fold["weights"].as_str().unwrap().ends_with(".bpk"),
            "{fold}"
        );
    }

    // Fresh on rerun; one model's change reruns only its own chain.
    assert!(ran_nodes(&ws.ok(&["run"])).is_empty());
    let changed = ws.ok(&["run", "--set", "models.gru.hidden=6"]);
    let trained: Vec<String> = ran_nodes(&changed)
        .into_iter()
        .filter(|n| n.starts_with("train:"))
        .collect();
    assert_eq!(trained, ["train:mfcc/none/gru@two"], "{changed}");

    // The same settings in a fresh cache give the same metrics.
    let other = ws.path("other-cache");
    ws.ok(&[
        "run",
        "--set",
        "models.gru.hidden=6",
        "--cache-dir",
        other.to_str().unwrap(),
    ]);
    assert_eq!(
        metrics(&ws, None, &["--set", "models.gru.hidden=6"]),
        metrics(
            &ws,
            Some(other.to_str().unwrap()),
            &["--set", "models.gru.hidden=6"]
        ),
        "CPU training is not reproducible"
    );

    // What a model reads must be what the matrix gives it.
    let text = std::fs::read_to_string(ws.path("pipeline.yaml")).unwrap();
    let bad = text
        .replace(
            "models:\n",
            "selection:\n  top4: {filter: {keep: 4}}\nmodels:\n",
        )
        .replace(
            "models: [cnn2d], protocols",
            "models: [cnn2d], selection: [top4], protocols",
        );
    std::fs::write(ws.path("bad.yaml"), bad).unwrap();
    let err = ws.ser(&["run", "--pipeline", "bad.yaml"]);
    let err = String::from_utf8_lossy(&err.stderr).to_string();
    assert!(
        err.contains("experiments[1]: model cnn2d reads sequences"),
        "{err}"
    );
    let bad = text.replace("features: [waveform]", "features: [mfcc]");
    std::fs::write(ws.path("bad.yaml"), bad).unwrap();
    let err = ws.ser(&["run", "--pipeline", "bad.yaml"]);
    let err = String::from_utf8_lossy(&err.stderr).to_string();
    assert!(
        err.contains("model raw cannot read feature set mfcc"),
        "{err}"
    );
}

/// A gender target through the pipeline: the networks that have one train
/// with the corpus's genders (RAVDESS: actor parity), a grid chooses it per
/// fold on validation speakers, and adding such models reruns nothing else.
#[test]
fn a_gender_target_trains_through_the_pipeline_and_reruns_nothing_else() {
    let ws = Workspace::new(6);
    let tiny = "epochs: 2, hidden: 8, layers: 1, validation_speakers: 1";
    let pipeline = |models: &str| {
        format!(
            "models:\n\
             \x20 mlp: {{kind: mlp, {tiny}}}\n\
             \x20 mlp_gender: {{kind: mlp, {tiny}, aux_gender: 0.5}}\n\
             \x20 mlp_grid: {{kind: mlp, {tiny}, grid: {{aux_gender: [0, 0.5]}}}}\n\
             experiments:\n\
             \x20 - {{features: [mfcc], models: [{models}], protocols: [two]}}\n"
        )
    };
    ws.write_pipeline(&pipeline("mlp"));
    ws.ok(&["run"]);
    ws.write_pipeline(&pipeline("mlp, mlp_gender, mlp_grid"));
    let log = ws.ok(&["run"]);
    let trained: BTreeSet<String> = ran_nodes(&log)
        .into_iter()
        .filter(|n| !n.starts_with("evaluate:"))
        .collect();
    assert_eq!(
        trained,
        BTreeSet::from([
            "train:mfcc/none/mlp_gender@two".to_string(),
            "train:mfcc/none/mlp_grid@two".to_string()
        ]),
        "{log}"
    );
    let models = artifact(&ws, "train:mfcc/none/mlp_gender", "models", &[]);
    let classes = models["classes"].as_array().unwrap().len();
    for fold in models["folds"].as_array().unwrap() {
        assert_eq!(fold["net"]["params"]["aux_gender"], 0.5, "{fold}");
        assert_eq!(
            fold["net"]["classes"].as_u64(),
            Some(classes as u64),
            "{fold}"
        );
    }
    let models = artifact(&ws, "train:mfcc/none/mlp_grid", "models", &[]);
    for fold in models["folds"].as_array().unwrap() {
        let points = fold["grid"]["points"].as_array().unwrap();
        assert_eq!(points.len(), 2, "{fold}");
        assert!(
            points.iter().all(|p| p["validation_ua"].is_number()),
            "{fold}"
        );
    }
    let table = predictions_table(&ws, "train:mfcc/none/mlp_gender@two");
    assert_eq!(probability_classes(&table).len(), classes);
    assert!(ran_nodes(&ws.ok(&["run"])).is_empty());
}

/// A feature union through `ser run`: its cells read one table with both
/// parts' columns, extracted by the parts' own nodes; a parameter of one
/// part reruns that part, the join and the union's cells, and nothing of
/// the other part.
#[test]
fn a_feature_union_trains_on_both_parts_and_reruns_only_what_changed() {
    let ws = Workspace::new(6);
    ws.write_pipeline(
        "feature_unions:\n  both: [mfcc, spectral]\n\
         models:\n  lr: {kind: logistic_regression, max_iterations: 50}\n\
         experiments: {features: [both, mfcc, spectral], models: [lr], protocols: [two]}\n",
    );
    let first = ran_nodes(&ws.ok(&["run"]));
    for node in [
        "extract:mfcc",
        "extract:spectral",
        "join:both",
        "train:both/none/lr@two",
    ] {
        assert_eq!(
            first.iter().filter(|n| *n == node).count(),
            1,
            "{node}: {first:?}"
        );
    }
    let table = predictions_table(&ws, "train:both/none/lr@two");
    assert!(table.n_rows() > 0);
    let joined = table_output(&ws, "join:both", "features");
    let names: Vec<&str> = joined.columns.iter().map(|(n, _)| n.as_str()).collect();
    // 20 MFCCs and 6 spectral descriptors, two functionals each.
    assert_eq!(
        names.iter().filter(|n| n.starts_with("mfcc:")).count(),
        40,
        "{names:?}"
    );
    assert_eq!(
        names.iter().filter(|n| n.starts_with("spectral:")).count(),
        12,
        "{names:?}"
    );
    assert_eq!(joined.n_rows(), table.n_rows());

    // n_mfcc is an MFCC parameter: the spectral set stays fresh.
    let rerun = ran_nodes(&ws.ok(&["run", "--set", "extract.n_mfcc=13"]));
    let rerun: BTreeSet<&str> = rerun
        .iter()
        .map(String::as_str)
        .filter(|n| !n.starts_with("evaluate:"))
        .collect();
    assert_eq!(
        rerun,
        BTreeSet::from([
            "extract:mfcc",
            "join:both",
            "train:both/none/lr@two",
            "train:mfcc/none/lr@two"
        ]),
    );
    assert!(ran_nodes(&ws.ok(&["run", "--set", "extract.n_mfcc=13"])).is_empty());
}

/// The classes of a predictions table's `p_<class>` columns (at least two).
fn probability_classes(table: &ser::artifact::Table) -> Vec<String> {
    let classes: Vec<String> = table
        .columns
        .iter()
        .filter_map(|(n, _)| n.strip_prefix("p_").map(String::from))
        .collect();
    assert!(classes.len() >= 2, "{classes:?}");
    classes
}

/// The UA of a predictions (or validation) table's rows of `fold`, by
/// hand (mean recall over the classes present), and how many speakers
/// they are.
fn fold_ua(t: &ser::artifact::Table, fold: &str) -> (f64, usize) {
    let (folds, labels) = (t.utf8("fold").unwrap(), t.utf8("label").unwrap());
    let (predicted, speakers) = (t.utf8("predicted").unwrap(), t.utf8("speaker").unwrap());
    let mut recall: std::collections::BTreeMap<&str, (usize, usize)> = Default::default();
    let mut held_out = std::collections::BTreeSet::new();
    for r in (0..folds.len()).filter(|&r| folds[r] == fold) {
        let e = recall.entry(labels[r].as_str()).or_default();
        e.0 += usize::from(predicted[r] == labels[r]);
        e.1 += 1;
        held_out.insert(speakers[r].as_str());
    }
    let ua = recall
        .values()
        .map(|(h, n)| *h as f64 / *n as f64)
        .sum::<f64>()
        / recall.len() as f64;
    (ua, held_out.len())
}

/// A table's (fold, id) pairs: which utterances it holds in which fold.
fn fold_ids(t: &ser::artifact::Table) -> std::collections::BTreeSet<(String, String)> {
    t.utf8("fold")
        .unwrap()
        .into_iter()
        .zip(t.utf8("id").unwrap())
        .collect()
}

/// A fold's chosen members, from `ser metrics --choices --json`, as
/// indices into `members`.
fn chosen_members(choice: &serde_json::Value, members: &[&str]) -> Vec<usize> {
    choice["chosen"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| members.iter().position(|x| x == m).unwrap())
        .collect()
}

fn row_of(table: &ser::artifact::Table, id: &str) -> usize {
    table
        .utf8("id")
        .unwrap()
        .iter()
        .position(|i| i == id)
        .unwrap()
}

/// Every row of `combined` holds the mean of the `soft` members' class
/// probabilities and the `hard` members' one-hot votes, and predicts its
/// largest (the first of equal ones).
fn assert_mean_of(
    combined: &ser::artifact::Table,
    soft: &[&ser::artifact::Table],
    hard: &[&ser::artifact::Table],
) {
    let classes = probability_classes(combined);
    let predicted = combined.utf8("predicted").unwrap();
    let members = (soft.len() + hard.len()) as f64;
    for (r, id) in combined.utf8("id").unwrap().iter().enumerate() {
        let mut best = (f64::NEG_INFINITY, String::new());
        for class in &classes {
            let column = format!("p_{class}");
            let probabilities: f64 = soft
                .iter()
                .map(|t| t.f64(&column).unwrap()[row_of(t, id)])
                .sum();
            let votes = hard
                .iter()
                .filter(|t| t.utf8("predicted").unwrap()[row_of(t, id)] == *class)
                .count() as f64;
            let expected = (probabilities + votes) / members;
            let got = combined.f64(&column).unwrap()[r];
            assert!(
                (got - expected).abs() < 1e-5,
                "{id} {class}: {got} vs {expected}"
            );
            if expected > best.0 {
                best = (expected, class.clone());
            }
        }
        assert_eq!(predicted[r], best.1, "{id}");
    }
}

/// Every file below `rel` in the workspace (a cache's records, say).
fn files_under(ws: &Workspace, rel: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![ws.path(rel)];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out
}

/// A predictions table of a node, from `ser outputs`.
fn predictions_table(ws: &Workspace, node: &str) -> ser::artifact::Table {
    table_output(ws, node, "predictions")
}

/// A node's Parquet `output`, via `ser outputs`.
fn table_output(ws: &Workspace, node: &str, output: &str) -> ser::artifact::Table {
    let listing = ws.ok(&["outputs", node]);
    let path = listing
        .lines()
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .find(|cols| cols[0] == node && cols[1] == output)
        .unwrap_or_else(|| panic!("no {output} of {node}: {listing}"))[2]
        .to_string();
    ser::artifact::parquet_read::from_parquet(std::fs::read(path).unwrap()).unwrap()
}

/// An ensemble end to end: its node averages its members' probabilities
/// (a classic member without them counts as a one-hot vote), is evaluated
/// and compared like any experiment, and reruns only when a member's
/// predictions change.
#[test]
fn an_ensemble_averages_its_members_and_reruns_with_them() {
    let ws = Workspace::new(8);
    let tiny = "epochs: 2, hidden: 8, layers: 1, validation_speakers: 1";
    ws.write_pipeline(&format!(
            "models:\n\
             \x20 lr: {{kind: logistic_regression}}\n\
             \x20 svm: {{kind: svm}}\n\
             \x20 mlp: {{kind: mlp, {tiny}}}\n\
             \x20 mlp2: {{kind: mlp, {tiny}, seed: 1}}\n\
             experiments:\n\
             \x20 - {{features: [mfcc], models: [lr, svm, mlp, mlp2], protocols: [two]}}\n\
             ensembles:\n\
             \x20 trio: {{members: [mfcc/none/mlp, mfcc/none/mlp2, mfcc/none/lr, mfcc/none/svm], protocols: [two]}}\n\
             \x20 best: {{members: [mfcc/none/mlp, mfcc/none/mlp2], keep_best: 1, protocols: [two]}}\n"
    ));
    let first = ws.ok(&["run"]);
    let ran = ran_nodes(&first);
    for node in [
        "train:ensemble/mean/trio@two",
        "evaluate:ensemble/mean/trio@two",
    ] {
        assert!(
            ran.iter().any(|n| n == node),
            "{node} did not run:\n{first}"
        );
    }
    let metrics = ws.ok(&["metrics", "--json"]);
    let row: serde_json::Value = metrics
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|r| r["experiment"] == "ensemble/mean/trio")
        .unwrap_or_else(|| panic!("no ensemble row:\n{metrics}"));
    assert_eq!(row["n_test"], 32, "{row}");
    assert_eq!(row["features"], "ensemble", "{row}");

    // The combined scores are the mean of the members' probabilities; the
    // SVM, which has none, is one-hot.
    let mlp = predictions_table(&ws, "train:mfcc/none/mlp@two");
    let mlp2 = predictions_table(&ws, "train:mfcc/none/mlp2@two");
    let lr = predictions_table(&ws, "train:mfcc/none/lr@two");
    let svm = predictions_table(&ws, "train:mfcc/none/svm@two");
    let trio = predictions_table(&ws, "train:ensemble/mean/trio@two");
    let classes = probability_classes(&trio);
    assert!(svm.columns.iter().all(|(n, _)| !n.starts_with("p_")));
    // Logistic regression's probabilities: one column per class, each row
    // summing to 1, its top class the predicted one.
    assert_eq!(probability_classes(&lr), classes);
    for (r, predicted) in lr.utf8("predicted").unwrap().iter().enumerate() {
        let row: Vec<f64> = classes
            .iter()
            .map(|c| lr.f64(&format!("p_{c}")).unwrap()[r])
            .collect();
        assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-5, "{row:?}");
        let top = (0..row.len()).fold(0, |b, c| if row[c] > row[b] { c } else { b });
        assert_eq!(&classes[top], predicted, "{row:?}");
    }
    let ids = trio.utf8("id").unwrap();
    assert_eq!(ids.len(), 32);
    assert_mean_of(&trio, &[&mlp, &mlp2, &lr], &[&svm]);
    // keep_best: 1 takes, per fold, the member whose network did better on
    // that fold's validation speakers.
    let best = predictions_table(&ws, "train:ensemble/mean/best@two");
    let validation = |node: &str| -> std::collections::BTreeMap<String, f64> {
        artifact(&ws, node, "models", &[])["folds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["fold"].as_str().unwrap().to_string(),
                    f["net"]["best_validation_ua"].as_f64().unwrap(),
                )
            })
            .collect()
    };
    let (v1, v2) = (
        validation("train:mfcc/none/mlp@two"),
        validation("train:mfcc/none/mlp2@two"),
    );
    let best_ids = best.utf8("id").unwrap();
    for (r, (id, fold)) in best_ids.iter().zip(best.utf8("fold").unwrap()).enumerate() {
        let chosen = if v2[&fold] > v1[&fold] { &mlp2 } else { &mlp };
        for class in &classes {
            let column = format!("p_{class}");
            let want = chosen.f64(&column).unwrap()[row_of(chosen, id)];
            let got = best.f64(&column).unwrap()[r];
            assert!((got - want).abs() < 1e-6, "{id} {class}: {got} vs {want}");
        }
    }

    // compare reads it like any experiment.
    let compared = ws.ok(&["compare", "ensemble/mean/trio", "mfcc/none/mlp"]);
    assert!(compared.contains("32 test utterances"), "{compared}");

    // A cache made before networks kept probabilities: its fold records
    // get them from the kept weights, without training again. The
    // records' n_train is set to a sentinel that a retraining would
    // overwrite; the node records are removed so the train nodes rerun.
    let records = |dir: &str| files_under(&ws, dir);
    let fold_records = records(".ser/items/train-deep");
    assert_eq!(fold_records.len(), 4, "{fold_records:?}");
    for path in &fold_records {
        let mut r: serde_json::Value =
            serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        assert!(
            r["probabilities"].as_array().is_some_and(|p| !p.is_empty()),
            "{r}"
        );
        r.as_object_mut().unwrap().remove("probabilities");
        r["n_train"] = 999_999.into();
        std::fs::write(path, serde_json::to_vec(&r).unwrap()).unwrap();
    }
    for path in records(".ser/records/train") {
        let text = std::fs::read_to_string(&path).unwrap();
        if text.contains("\"train:mfcc/none/mlp") {
            std::fs::remove_file(path).unwrap();
        }
    }
    let refilled = ran_nodes(&ws.ok(&["run"]));
    // The same probabilities leave trio fresh; best also reads the
    // members' models, whose n_train the sentinel changed.
    assert!(
        refilled.iter().any(|n| n == "train:mfcc/none/mlp@two")
            && !refilled.iter().any(|n| n.contains("ensemble/mean/trio")),
        "{refilled:?}"
    );
    let models = artifact(&ws, "train:mfcc/none/mlp@two", "models", &[]);
    for fold in models["folds"].as_array().unwrap() {
        assert_eq!(fold["n_train"], 999_999, "retrained: {fold}");
    }
    assert_eq!(predictions_table(&ws, "train:mfcc/none/mlp@two"), mlp);

    // Fresh on rerun; a member's change reruns that member and the
    // ensemble, nothing else; an ensemble-only change trains nothing.
    assert!(ran_nodes(&ws.ok(&["run"])).is_empty());
    let changed = ran_nodes(&ws.ok(&["run", "--set", "models.mlp.hidden=6"]));
    let mut trained: Vec<&str> = changed
        .iter()
        .filter(|n| n.starts_with("train:"))
        .map(String::as_str)
        .collect();
    trained.sort();
    assert_eq!(
        trained,
        [
            "train:ensemble/mean/best@two",
            "train:ensemble/mean/trio@two",
            "train:mfcc/none/mlp@two"
        ],
        "{changed:?}"
    );
    let voted = ran_nodes(&ws.ok(&[
        "run",
        "--set",
        "models.mlp.hidden=6",
        "--set",
        "ensembles.trio.combine=vote",
    ]));
    assert!(
        voted.iter().any(|n| n == "train:ensemble/vote/trio@two")
            && voted
                .iter()
                .all(|n| !n.starts_with("train:mfcc") && !n.starts_with("extract")),
        "{voted:?}"
    );

    // A member that is no cell of the matrices is named.
    let err = ws.ser(&[
        "run",
        "--set",
        "ensembles.trio.members=[mfcc/none/mlp, mfcc/none/knn]",
    ]);
    let err = String::from_utf8_lossy(&err.stderr).to_string();
    assert!(
        err.contains("ensembles.trio.members: mfcc/none/knn is not an experiment"),
        "{err}"
    );
}

/// A node's networks, of all its folds, train side by side on rayon's
/// threads: each network gives the weights it gives trained alone (a
/// one-network model with its seed, in a cache of its own, on one thread,
/// so its folds train one after the other).
#[test]
fn a_nodes_networks_side_by_side_equal_each_trained_alone() {
    let tiny = "kind: mlp, hidden: 8, epochs: 2, layers: 1, validation_speakers: 1";
    let pipeline = |model: &str| {
        format!(
            "models:\n\
             \x20 net: {{{tiny}, {model}}}\n\
             experiments:\n\
             \x20 - {{features: [mfcc], models: [net], protocols: [two]}}\n"
        )
    };
    let together = Workspace::new(8);
    together.write_pipeline(&pipeline("networks: 3"));
    together.ok(&["--threads", "4", "run"]);
    let trio = artifact(&together, "train:mfcc/none/net@two", "models", &[]);
    for seed in [0u64, 1, 2] {
        let alone = Workspace::new(8);
        alone.write_pipeline(&pipeline(&format!("seed: {seed}")));
        alone.ok(&["--threads", "1", "run"]);
        let one = artifact(&alone, "train:mfcc/none/net@two", "models", &[]);
        let folds = one["folds"].as_array().unwrap();
        assert_eq!(folds.len(), 2);
        for (f, fold) in folds.iter().enumerate() {
            let network = &trio["folds"][f]["networks"][seed as usize];
            assert_eq!(network["seed"], seed, "{network}");
            assert_eq!(network["weights"], fold["weights"], "fold {f}, seed {seed}");
        }
    }
}

/// A grid node's trainings (every point's networks in every fold) run in
/// one pass on the run's threads: on 4 threads the node's models, choices
/// and predictions are those of the same node on 1.
#[test]
fn a_deep_grid_node_is_the_same_on_one_thread_and_on_four() {
    let pipeline = "models:\n\
         \x20 grid: {kind: mlp, epochs: 2, layers: 1, validation_speakers: 1, networks: 2, \
         grid: {hidden: [4, 16]}}\n\
         experiments: {features: [mfcc], models: [grid], protocols: [two]}\n";
    let run = |threads: &str| {
        let ws = Workspace::new(8);
        ws.write_pipeline(pipeline);
        ws.ok(&["--threads", threads, "run"]);
        // 2 folds x 2 points x 2 networks.
        assert_eq!(ws.count_files(".ser/items/train-deep"), 8);
        let models = artifact(&ws, "train:mfcc/none/grid@", "models", &[]);
        let predictions = predictions_table(&ws, "train:mfcc/none/grid@two");
        (models, predictions.utf8("predicted").unwrap())
    };
    let (one, one_predicted) = run("1");
    let (four, four_predicted) = run("4");
    assert_eq!(one["folds"].as_array().unwrap().len(), 2);
    assert_eq!(one, four);
    assert_eq!(one_predicted, four_predicted);
}

/// `choose: forward` end to end: each network keeps its predictions for
/// the original utterances of the training speakers it held out
/// (`validation`), and the ensemble combines, per fold, the members whose
/// mean did best there; old fold records get those predictions from their
/// weights, without training again.
#[test]
fn an_ensemble_chooses_members_by_their_means_validation_ua() {
    let ws = Workspace::new(8);
    let tiny = "epochs: 2, layers: 1, validation_speakers: 1";
    ws.write_pipeline(&format!(
        "models:\n\
         \x20 mlp: {{kind: mlp, hidden: 8, {tiny}}}\n\
         \x20 wide: {{kind: mlp, hidden: 32, {tiny}}}\n\
         \x20 pair: {{kind: mlp, hidden: 8, {tiny}, networks: 2}}\n\
         experiments:\n\
         \x20 - {{features: [mfcc], models: [mlp, wide, pair], protocols: [two]}}\n\
         ensembles:\n\
         \x20 forward: {{members: [mfcc/none/mlp, mfcc/none/wide, mfcc/none/pair], choose: forward, \
         protocols: [two]}}\n"
    ));
    ws.ok(&["run"]);
    let members = ["mfcc/none/mlp", "mfcc/none/wide", "mfcc/none/pair"];
    let node = |m: &str| format!("train:{m}@two");
    let validation: Vec<ser::artifact::Table> = members
        .iter()
        .map(|m| table_output(&ws, &node(m), "validation"))
        .collect();
    let test = predictions_table(&ws, &node(members[0]));
    let folds = {
        let mut f = test.utf8("fold").unwrap();
        f.sort();
        f.dedup();
        f
    };
    assert_eq!(folds.len(), 2);
    // A one-network model's validation rows are the utterances of the
    // speaker its network held out: a training speaker of the fold.
    let models = artifact(&ws, &node(members[0]), "models", &[]);
    for (f, fold) in folds.iter().enumerate() {
        let held_out: Vec<String> =
            serde_json::from_value(models["folds"][f]["net"]["validation_speakers"].clone())
                .unwrap();
        assert_eq!(models["folds"][f]["fold"], fold.as_str());
        let rows: Vec<usize> = (0..validation[0].utf8("id").unwrap().len())
            .filter(|&r| validation[0].utf8("fold").unwrap()[r] == *fold)
            .collect();
        assert_eq!(rows.len(), 8, "one speaker's 8 utterances");
        let speakers = validation[0].utf8("speaker").unwrap();
        assert!(
            rows.iter().all(|&r| held_out.contains(&speakers[r])),
            "{held_out:?}"
        );
        let tested: Vec<String> = (0..test.utf8("id").unwrap().len())
            .filter(|&r| test.utf8("fold").unwrap()[r] == *fold)
            .map(|r| test.utf8("speaker").unwrap()[r].clone())
            .collect();
        assert!(rows.iter().all(|&r| !tested.contains(&speakers[r])));
    }
    // Two networks (seeds 0 and 1) hold out seed 0's speaker and maybe
    // another: every member has seed 0's rows.
    let ids = fold_ids;
    assert!(ids(&validation[0]).is_subset(&ids(&validation[2])));
    assert_eq!(ids(&validation[0]), ids(&validation[1]));

    // The choice, per fold, as `ser metrics --choices` reads it; the
    // ensemble's test rows are the mean of the chosen members'.
    let metrics = ws.ok(&["metrics", "--json", "--choices"]);
    let row: serde_json::Value = metrics
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|r| r["experiment"] == "ensemble/mean/forward")
        .unwrap_or_else(|| panic!("no ensemble row:\n{metrics}"));
    assert_eq!(
        row["choices"]["chosen_by"], "members_by_ensemble_validation_ua",
        "{row}"
    );
    let combined = predictions_table(&ws, "train:ensemble/mean/forward@two");
    let member_tests: Vec<ser::artifact::Table> = members
        .iter()
        .map(|m| predictions_table(&ws, &node(m)))
        .collect();
    for choice in row["choices"]["folds"].as_array().unwrap() {
        let fold = choice["fold"].as_str().unwrap();
        let chosen = chosen_members(choice, &members);
        assert!(!chosen.is_empty(), "{choice}");
        // The recorded UA is the chosen members' mean's on the rows every
        // member held out, and no single member did better there.
        let common: Vec<String> = (0..validation[0].utf8("id").unwrap().len())
            .filter(|&r| validation[0].utf8("fold").unwrap()[r] == fold)
            .map(|r| validation[0].utf8("id").unwrap()[r].clone())
            .collect();
        let ua_of = |who: &[usize]| -> f64 {
            let classes = probability_classes(&validation[0]);
            let mut hit: std::collections::BTreeMap<String, (usize, usize)> = Default::default();
            for id in &common {
                let mean = |c: &String| -> f64 {
                    who.iter()
                        .map(|&m| {
                            let t = &validation[m];
                            let r = (0..t.utf8("id").unwrap().len())
                                .find(|&r| {
                                    t.utf8("id").unwrap()[r] == *id
                                        && t.utf8("fold").unwrap()[r] == fold
                                })
                                .unwrap();
                            t.f64(&format!("p_{c}")).unwrap()[r]
                        })
                        .sum()
                };
                let top = classes
                    .iter()
                    .fold(&classes[0], |b, c| if mean(c) > mean(b) { c } else { b });
                let label =
                    validation[0].utf8("label").unwrap()[row_of(&validation[0], id)].clone();
                let e = hit.entry(label.clone()).or_default();
                e.0 += (*top == label) as usize;
                e.1 += 1;
            }
            hit.values()
                .map(|(h, n)| *h as f64 / *n as f64)
                .sum::<f64>()
                / hit.len() as f64
        };
        let recorded = choice["validation_ua"][0].as_f64().unwrap();
        assert!((recorded - ua_of(&chosen)).abs() < 1e-9, "{choice}");
        for m in 0..members.len() {
            assert!(
                ua_of(&[m]) <= recorded + 1e-12,
                "member {m} alone beats {choice}"
            );
        }
        let fold_ids: Vec<usize> = (0..combined.utf8("id").unwrap().len())
            .filter(|&r| combined.utf8("fold").unwrap()[r] == fold)
            .collect();
        for class in probability_classes(&combined) {
            let column = format!("p_{class}");
            for &r in &fold_ids {
                let id = &combined.utf8("id").unwrap()[r];
                let want: f64 = chosen
                    .iter()
                    .map(|&m| member_tests[m].f64(&column).unwrap()[row_of(&member_tests[m], id)])
                    .sum::<f64>()
                    / chosen.len() as f64;
                let got = combined.f64(&column).unwrap()[r];
                assert!((got - want).abs() < 1e-5, "{id} {class}: {got} vs {want}");
            }
        }
    }

    // Fold records made before networks kept validation predictions get
    // them from their weights: n_train's sentinel survives (no retraining)
    // and the tables come out the same.
    let fold_records = files_under(&ws, ".ser/items/train-deep");
    // 3 networks (mlp's is pair's first) x 2 folds.
    assert_eq!(fold_records.len(), 6);
    for path in &fold_records {
        let mut r: serde_json::Value =
            serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        assert!(r["validation"].is_array(), "{r}");
        r.as_object_mut().unwrap().remove("validation");
        r["n_train"] = 999_999.into();
        std::fs::write(path, serde_json::to_vec(&r).unwrap()).unwrap();
    }
    for path in files_under(&ws, ".ser/records/train") {
        if std::fs::read_to_string(&path)
            .unwrap()
            .contains("\"train:mfcc/none/")
        {
            std::fs::remove_file(path).unwrap();
        }
    }
    let rerun = ran_nodes(&ws.ok(&["run"]));
    assert!(rerun.iter().any(|n| n == &node(members[0])), "{rerun:?}");
    let models = artifact(&ws, &node(members[0]), "models", &[]);
    assert_eq!(models["folds"][0]["n_train"], 999_999, "retrained");
    for (m, table) in members.iter().zip(&validation) {
        assert_eq!(&table_output(&ws, &node(m), "validation"), table, "{m}");
    }
}

/// A classic model with `validation:` holds out the training speakers a
/// network with the same seed holds out, predicts their utterances from a
/// fit without them, and so joins ensembles that choose their members.
#[test]
fn a_classic_model_with_validation_joins_a_choosing_ensemble() {
    let ws = Workspace::new(8);
    let tiny = "epochs: 2, layers: 1, validation_speakers: 1";
    ws.write_pipeline(&format!(
        "models:\n\
         \x20 mlp: {{kind: mlp, hidden: 8, {tiny}}}\n\
         \x20 lr: {{kind: logistic_regression, validation: {{seeds: 1, speakers: 1}}}}\n\
         \x20 svm: {{kind: svm, validation: {{seeds: 2, speakers: 1}}}}\n\
         experiments:\n\
         \x20 - {{features: [mfcc], models: [mlp, lr, svm], protocols: [two]}}\n\
         ensembles:\n\
         \x20 forward: {{members: [mfcc/none/mlp, mfcc/none/lr, mfcc/none/svm], choose: forward, \
         protocols: [two]}}\n\
         \x20 best: {{members: [mfcc/none/mlp, mfcc/none/lr], keep_best: 1, protocols: [two]}}\n"
    ));
    ws.ok(&["run"]);
    let table = |m: &str| table_output(&ws, &format!("train:mfcc/none/{m}@two"), "validation");
    let (mlp, lr, svm) = (table("mlp"), table("lr"), table("svm"));
    let rows = fold_ids;
    // Seed 0 holds out the network's speaker; seeds 0 and 1 may hold out
    // both of a fold's two training speakers.
    assert_eq!(rows(&lr), rows(&mlp));
    assert!(rows(&mlp).is_subset(&rows(&svm)));
    let classes = probability_classes(&lr);
    for r in 0..lr.utf8("id").unwrap().len() {
        let sum: f64 = classes
            .iter()
            .map(|c| lr.f64(&format!("p_{c}")).unwrap()[r])
            .sum();
        assert!((sum - 1.0).abs() < 1e-5, "row {r}: {sum}");
    }
    // Their validation UA, per fold, is what keep_best ranks: for one seed,
    // the held-out rows' UA.
    let models = artifact(&ws, "train:mfcc/none/lr@two", "models", &[]);
    for fold in models["folds"].as_array().unwrap() {
        let name = fold["fold"].as_str().unwrap();
        let (ua, _) = fold_ua(&lr, name);
        let recorded = fold["validation_ua"].as_f64().unwrap();
        assert!((recorded - ua).abs() < 1e-9, "{name}: {recorded} vs {ua}");
    }
    let choices = ws.ok(&["metrics", "--choices"]);
    assert!(
        choices.contains("ensemble/mean/forward@two: members whose mean")
            && choices.contains("ensemble/mean/best@two: members with the best validation UA"),
        "{choices}"
    );
    // Without `validation:`, a classic member is refused, and says how.
    let err = ws.ser(&["run", "--set", "models.lr={kind: logistic_regression}"]);
    let err = String::from_utf8_lossy(&err.stderr).to_string();
    assert!(err.contains("mfcc/none/lr has none"), "{err}");
    // A calibrated SVM's held-out fit here keeps one training speaker, so
    // nothing can be held out to calibrate on: the node fails, saying so.
    let svm_p = "models.svm={kind: svm, probability: true, validation: {seeds: 1, speakers: 1}}";
    let err = ws.ser(&["run", "--set", svm_p]);
    let err = String::from_utf8_lossy(&err.stderr).to_string();
    assert!(
        err.contains("train:mfcc/none/svm@two: fold fold1: validation:")
            && err.contains("needs rows of at least two speakers"),
        "{err}"
    );
}

/// `validation: {seed: S}` holds out, per seed from S, the speakers a
/// network with `seed: S` holds out: a replicate of a shared-seed pool
/// under other seeds keeps its members scoring the same utterances.
#[test]
fn a_classic_models_validation_seeds_follow_the_networks_from_its_first_seed() {
    let ws = Workspace::new(8);
    let tiny = "kind: mlp, hidden: 8, epochs: 1, layers: 1, validation_speakers: 1";
    let lr = "kind: logistic_regression";
    ws.write_pipeline(&format!(
        "models:\n\
         \x20 mlp0: {{{tiny}}}\n\
         \x20 mlp1: {{{tiny}, seed: 1}}\n\
         \x20 mlp2: {{{tiny}, seed: 2}}\n\
         \x20 mlp3: {{{tiny}, seed: 3}}\n\
         \x20 lr0: {{{lr}, validation: {{seeds: 1, speakers: 1}}}}\n\
         \x20 lr1: {{{lr}, validation: {{seeds: 1, speakers: 1, seed: 1}}}}\n\
         \x20 lr2: {{{lr}, validation: {{seeds: 1, speakers: 1, seed: 2}}}}\n\
         \x20 lr3: {{{lr}, validation: {{seeds: 1, speakers: 1, seed: 3}}}}\n\
         experiments:\n\
         \x20 - {{features: [mfcc], models: [mlp0, mlp1, mlp2, mlp3, lr0, lr1, lr2, lr3], \
         protocols: [two]}}\n"
    ));
    ws.ok(&["run"]);
    let rows = |m: &str| {
        fold_ids(&table_output(
            &ws,
            &format!("train:mfcc/none/{m}@two"),
            "validation",
        ))
    };
    let seed_zero = rows("lr0");
    assert_eq!(seed_zero, rows("mlp0"));
    let mut moved = false;
    for seed in 1..=3 {
        let (classic, network) = (rows(&format!("lr{seed}")), rows(&format!("mlp{seed}")));
        assert!(!classic.is_empty());
        assert_eq!(classic, network, "seed {seed}");
        moved |= classic != seed_zero;
    }
    // Else the seed would not have been read at all.
    assert!(
        moved,
        "seeds 1 to 3 held out seed 0's speakers in every fold"
    );
    // A seed of 0 is the field's absence: the same node, nothing reruns.
    let again = ws.ok(&[
        "run",
        "--set",
        "models.lr0={kind: logistic_regression, validation: {seeds: 1, speakers: 1, seed: 0}}",
    ]);
    assert!(ran_nodes(&again).is_empty(), "{again}");
}

/// `combine: geometric` end to end: the ensemble's probabilities are the
/// normalised geometric mean of its members', row by row, and a member
/// without probabilities (an SVM without `probability: true`) is refused
/// by name.
#[test]
fn a_geometric_ensemble_pools_its_members_probabilities() {
    let ws = Workspace::new(8);
    ws.write_pipeline(
        "models:\n\
         \x20 mlp: {kind: mlp, hidden: 8, epochs: 2, layers: 1, validation_speakers: 1}\n\
         \x20 lr: {kind: logistic_regression}\n\
         \x20 svm: {kind: svm}\n\
         experiments:\n\
         \x20 - {features: [mfcc], models: [mlp, lr, svm], protocols: [two]}\n\
         ensembles:\n\
         \x20 pooled: {members: [mfcc/none/mlp, mfcc/none/lr], combine: geometric, protocols: [two]}\n",
    );
    ws.ok(&["run"]);
    let pooled = predictions_table(&ws, "train:ensemble/geometric/pooled@two");
    let members = [
        predictions_table(&ws, "train:mfcc/none/mlp@two"),
        predictions_table(&ws, "train:mfcc/none/lr@two"),
    ];
    let classes = probability_classes(&pooled);
    let row_of = |t: &ser::artifact::Table, id: &str| {
        t.utf8("id").unwrap().iter().position(|i| i == id).unwrap()
    };
    let ids = pooled.utf8("id").unwrap();
    let predicted = pooled.utf8("predicted").unwrap();
    for (r, id) in ids.iter().enumerate() {
        let geometric: Vec<f64> = classes
            .iter()
            .map(|c| {
                let column = format!("p_{c}");
                members
                    .iter()
                    .map(|t| t.f64(&column).unwrap()[row_of(t, id)].max(1e-12).ln())
                    .sum::<f64>()
                    / 2.0
            })
            .map(f64::exp)
            .collect();
        let total: f64 = geometric.iter().sum();
        for (c, g) in classes.iter().zip(&geometric) {
            let got = pooled.f64(&format!("p_{c}")).unwrap()[r];
            assert!(
                (got - g / total).abs() < 1e-6,
                "{id} {c}: {got} against {}",
                g / total
            );
        }
        let top = (0..classes.len())
            .max_by(|&a, &b| geometric[a].total_cmp(&geometric[b]))
            .unwrap();
        assert_eq!(predicted[r], classes[top], "{id}");
    }
    assert!(!ids.is_empty());
    let set = "ensembles.pooled.members=[mfcc/none/mlp, mfcc/none/svm]";
    let err = ws.ser(&["run", "--set", set]);
    let err = String::from_utf8_lossy(&err.stderr).to_string();
    assert!(
        err.contains("member mfcc/none/svm has no class probabilities")
            && err.contains("combine: geometric"),
        "{err}"
    );
}

/// `--validation` prints each experiment's UA on the speakers held out of
/// its training folds, from its validation table, and no test score: the
/// view for choosing between variants without seeing their test UAs.
#[test]
fn the_validation_view_scores_held_out_speakers_and_prints_no_test_score() {
    let ws = Workspace::new(8);
    ws.write_pipeline(
        "models:\n\
         \x20 mlp: {kind: mlp, hidden: 8, epochs: 2, layers: 1, validation_speakers: 1, networks: 2}\n\
         \x20 lr: {kind: logistic_regression, validation: {seeds: 1, speakers: 1}}\n\
         \x20 nb: {kind: gaussian_nb}\n\
         experiments:\n\
         \x20 - {features: [mfcc], models: [mlp, lr, nb], protocols: [two]}\n\
         ensembles:\n\
         \x20 forward: {members: [mfcc/none/mlp, mfcc/none/lr], choose: forward, protocols: [two]}\n",
    );
    let run = ws.ok(&["run", "--validation"]);
    assert!(
        run.contains("val UA") && run.contains("No test score was read"),
        "{run}"
    );
    assert!(
        !run.contains("UA 95% CI"),
        "the test table is not printed: {run}"
    );
    assert!(
        run.contains("no validation UA, no speakers held out") && run.contains("mfcc/none/nb@two"),
        "{run}"
    );
    assert!(run.contains("no validation UA, an ensemble"), "{run}");

    let rows: Vec<serde_json::Value> = ws
        .ok(&["metrics", "--validation", "--json"])
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 4, "{rows:?}");
    for row in &rows {
        for test_key in ["ua", "wa", "macro_f1", "ua_ci", "n_test"] {
            assert!(row.get(test_key).is_none(), "{row}");
        }
    }
    let row = |e: &str| rows.iter().find(|r| r["experiment"] == e).unwrap();
    assert!(row("mfcc/none/nb")["validation_ua"].is_null());
    assert!(row("ensemble/mean/forward")["validation_ua"].is_null());
    // Each fold's UA is its validation rows' (the held-out speakers'), and
    // the experiment's the mean over folds, as the test UA is.
    for model in ["lr", "mlp"] {
        let node = format!("train:mfcc/none/{model}@two");
        let table = table_output(&ws, &node, "validation");
        let shown = row(&format!("mfcc/none/{model}"));
        let shown_folds = shown["folds"].as_array().unwrap();
        assert_eq!(shown_folds.len(), 2, "{shown}");
        let mut sum = 0.0;
        for f in shown_folds {
            let name = f["fold"].as_str().unwrap();
            let (ua, held_out) = fold_ua(&table, name);
            assert!(
                (f["ua"].as_f64().unwrap() - ua).abs() < 1e-12,
                "{name}: {f}"
            );
            assert_eq!(f["speakers"], held_out, "{f}");
            sum += ua;
        }
        let mean = shown["validation_ua"].as_f64().unwrap();
        assert!((mean - sum / 2.0).abs() < 1e-12, "{shown}");
    }
    // One seed's held-out fit: the fold's UA is the one the models
    // artifact recorded, which keep_best would rank by.
    let models = artifact(&ws, "train:mfcc/none/lr@two", "models", &[]);
    for (fold, shown) in models["folds"]
        .as_array()
        .unwrap()
        .iter()
        .zip(row("mfcc/none/lr")["folds"].as_array().unwrap())
    {
        assert_eq!(fold["fold"], shown["fold"]);
        let recorded = fold["validation_ua"].as_f64().unwrap();
        assert!(
            (recorded - shown["ua"].as_f64().unwrap()).abs() < 1e-9,
            "{fold} {shown}"
        );
    }
    // `ser compare --validation` pairs the two on the rows both held out:
    // lr's one seed holds out seed 0's speaker, which mlp's two networks
    // (seeds 0 and 1) hold out too, so the rows are lr's.
    let lr_rows = table_output(&ws, "train:mfcc/none/lr@two", "validation").n_rows();
    let mlp_rows = table_output(&ws, "train:mfcc/none/mlp@two", "validation").n_rows();
    let compared: serde_json::Value = serde_json::from_str(
        ws.ok(&[
            "compare",
            "mfcc/none/lr",
            "mfcc/none/mlp",
            "--validation",
            "--json",
        ])
        .trim(),
    )
    .unwrap();
    assert_eq!(compared["rows"], "validation", "{compared}");
    assert_eq!(compared["n_validation"], lr_rows, "{compared}");
    assert_eq!(compared["n_validation_b"], mlp_rows, "{compared}");
    assert!(compared.get("n_test").is_none(), "{compared}");
    let ua_a = compared["paired_bootstrap"]["ua_a"].as_f64().unwrap();
    let lr_ua = row("mfcc/none/lr")["validation_ua"].as_f64().unwrap();
    assert!((ua_a - lr_ua).abs() < 1e-12, "{ua_a} vs {lr_ua}");
    let text = ws.ok(&["compare", "mfcc/none/lr", "mfcc/none/mlp", "--validation"]);
    assert!(text.contains("no test score was read"), "{text}");
    if mlp_rows > lr_rows {
        assert!(text.contains("the rows both held out"), "{text}");
    }
    let err = ws.ser(&["compare", "mfcc/none/nb", "mfcc/none/lr", "--validation"]);
    let err = String::from_utf8_lossy(&err.stderr).to_string();
    assert!(
        err.contains("train:mfcc/none/nb@two has no validation predictions"),
        "{err}"
    );
}

/// A classic model with both a grid and `validation:`: each held-out fit
/// searches the grid again without its held-out speakers (its own inner
/// CV records), so no validation utterance chose the point it is scored
/// with; the fold's own search is the plain grid model's.
#[test]
fn a_classic_grid_with_validation_searches_again_without_the_held_out_speakers() {
    let ws = Workspace::new(8);
    // Four folds of one test speaker: three training speakers, so a fit
    // without one still has two for its inner CV.
    std::fs::write(
        ws.path("folds.json"),
        r#"{"two": {"test_speakers": [[1], [2], [3], [4]]}}"#,
    )
    .unwrap();
    let knn = "kind: knn, grid: {k: [1, 3]}, grid_folds: 2";
    ws.write_pipeline(&format!(
        "models:\n\
         \x20 knn: {{{knn}}}\n\
         experiments: {{features: [mfcc], models: [knn], protocols: [two]}}\n"
    ));
    ws.ok(&["run"]);
    let fold_searches = ws.count_files(".ser/items/train-grid");
    assert_eq!(fold_searches, 4 * 2, "four folds, two points");

    ws.write_pipeline(&format!(
        "models:\n\
         \x20 knn: {{{knn}}}\n\
         \x20 knn_val: {{{knn}, validation: {{seeds: 2, speakers: 1}}}}\n\
         experiments: {{features: [mfcc], models: [knn, knn_val], protocols: [two]}}\n"
    ));
    ws.ok(&["run"]);
    // The folds' searches are shared; each seed's fit searched anew (two
    // seeds may hold out the same speaker, whose search is then shared).
    let searches = ws.count_files(".ser/items/train-grid");
    assert!(
        searches > fold_searches && searches <= fold_searches + 4 * 2 * 2,
        "{searches}"
    );
    let validation = table_output(&ws, "train:mfcc/none/knn_val@two", "validation");
    assert!(!validation.utf8("id").unwrap().is_empty());
    // The same test predictions as the plain grid model: the folds chose
    // the same points.
    let plain = predictions_table(&ws, "train:mfcc/none/knn@two");
    let with = predictions_table(&ws, "train:mfcc/none/knn_val@two");
    assert_eq!(
        plain.utf8("predicted").unwrap(),
        with.utf8("predicted").unwrap()
    );
    // gc keeps the held-out searches (the node lists them).
    ws.ok(&["gc", "--grace", "0s"]);
    assert_eq!(ws.count_files(".ser/items/train-grid"), searches);
}

/// `bags` resamples the validation speakers. The workspace's folds hold out
/// one validation speaker, so every bag is the same draw: bagging must then
/// give forward selection's members in equal weights, and the test rows
/// must be that weighted mean, in the run, in `ser metrics` and in an
/// exported bundle.
#[test]
fn a_bagged_ensemble_weights_its_members_and_exports_the_weights() {
    let ws = Workspace::new(8);
    let tiny = "epochs: 2, layers: 1, validation_speakers: 1";
    let members = ["mfcc/none/mlp", "mfcc/none/wide", "mfcc/none/narrow"];
    let pool = members.join(", ");
    ws.write_pipeline(&format!(
        "models:\n\
         \x20 mlp: {{kind: mlp, hidden: 8, {tiny}}}\n\
         \x20 wide: {{kind: mlp, hidden: 32, {tiny}}}\n\
         \x20 narrow: {{kind: mlp, hidden: 2, {tiny}}}\n\
         experiments:\n\
         \x20 - {{features: [mfcc], models: [mlp, wide, narrow], protocols: [two]}}\n\
         ensembles:\n\
         \x20 forward: {{members: [{pool}], choose: forward, protocols: [two]}}\n\
         \x20 bagged: {{members: [{pool}], choose: forward, bags: 7, protocols: [two]}}\n"
    ));
    ws.ok(&["run"]);
    let metrics = ws.ok(&["metrics", "--json", "--choices"]);
    let choices = |name: &str| -> serde_json::Value {
        metrics
            .lines()
            .filter(|l| l.starts_with('{'))
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|r| r["experiment"] == format!("ensemble/mean/{name}"))
            .unwrap_or_else(|| panic!("no {name} row:\n{metrics}"))["choices"]
            .clone()
    };
    let (forward, bagged) = (choices("forward"), choices("bagged"));
    assert_eq!(
        bagged["chosen_by"],
        "members_by_bagged_ensemble_validation_ua"
    );
    let combined = predictions_table(&ws, "train:ensemble/mean/bagged@two");
    let member_tests: Vec<ser::artifact::Table> = members
        .iter()
        .map(|m| predictions_table(&ws, &format!("train:{m}@two")))
        .collect();
    let folds = bagged["folds"].as_array().unwrap();
    assert_eq!(folds.len(), 2);
    for (choice, plain) in folds.iter().zip(forward["folds"].as_array().unwrap()) {
        assert_eq!(choice["chosen"], plain["chosen"], "{choice} {plain}");
        assert_eq!(choice["validation_ua"], plain["validation_ua"]);
        let chosen = chosen_members(choice, &members);
        let weights: Vec<f64> = serde_json::from_value(choice["member_weights"].clone()).unwrap();
        assert_eq!(weights.len(), chosen.len());
        for w in &weights {
            assert!((w - 1.0 / chosen.len() as f64).abs() < 1e-12, "{choice}");
        }
        let fold = choice["fold"].as_str().unwrap();
        for class in probability_classes(&combined) {
            let column = format!("p_{class}");
            for r in (0..combined.utf8("id").unwrap().len())
                .filter(|&r| combined.utf8("fold").unwrap()[r] == fold)
            {
                let id = &combined.utf8("id").unwrap()[r];
                let want: f64 = chosen
                    .iter()
                    .zip(&weights)
                    .map(|(&m, w)| {
                        w * member_tests[m].f64(&column).unwrap()[row_of(&member_tests[m], id)]
                    })
                    .sum();
                let got = combined.f64(&column).unwrap()[r];
                assert!((got - want).abs() < 1e-5, "{id} {class}: {got} vs {want}");
            }
        }
        // The exported fold carries the weights.
        let out = ws.path(&format!("bagged-{fold}.sermodel"));
        ws.ok(&[
            "export",
            "ensemble/mean/bagged",
            "--fold",
            fold,
            "--out",
            out.to_str().unwrap(),
        ]);
        let manifest: serde_json::Value =
            serde_json::from_str(&ws.ok(&["model", "inspect", out.to_str().unwrap()])).unwrap();
        assert_eq!(manifest["combine"]["weights"], serde_json::json!(weights));
        assert_eq!(manifest["parts"].as_array().unwrap().len(), chosen.len());
    }
    // Deterministic: a second run computes nothing.
    assert!(ran_nodes(&ws.ok(&["run"])).is_empty());
}

#[test]
fn a_model_of_several_networks_averages_them_and_shares_their_trainings() {
    let ws = Workspace::new(8);
    let tiny = "epochs: 2, hidden: 8, layers: 1, validation_speakers: 1";
    let pipeline = |extra_model: &str, extra_ensemble: &str| {
        format!(
            "corpus: {{kind: ravdess, path: corpus}}\n\
             extract: {{n_mfcc: 20, functionals: [mean, std]}}\n\
             protocols:\n  two: {{kind: folds_file, path: folds.json, key: two}}\n\
             models:\n\
             \x20 mlp: {{kind: mlp, {tiny}}}\n\
             \x20 mlp2: {{kind: mlp, {tiny}, seed: 1}}\n\
             {extra_model}\
             experiments:\n\
             \x20 - {{features: [mfcc], models: [mlp, mlp2{}], protocols: [two]}}\n\
             {extra_ensemble}",
            if extra_model.is_empty() { "" } else { ", mlpn" }
        )
    };
    std::fs::write(ws.path("pipeline.yaml"), pipeline("", "")).unwrap();
    ws.ok(&["run"]);
    assert_eq!(ws.count_files(".ser/items/train-deep"), 4);

    // Two networks with seeds 0 and 1 are the two one-network models'
    // trainings: nothing trains again.
    std::fs::write(
        ws.path("pipeline.yaml"),
        pipeline(
            &format!("\x20 mlpn: {{kind: mlp, {tiny}, networks: 2}}\n"),
            "ensembles:\n\
             \x20 best: {members: [mfcc/none/mlpn, mfcc/none/mlp], keep_best: 1, protocols: [two]}\n",
        ),
    )
    .unwrap();
    let second = ws.ok(&["run"]);
    let ran = ran_nodes(&second);
    assert!(
        ran.iter().any(|n| n == "train:mfcc/none/mlpn@two"),
        "{second}"
    );
    assert!(
        !ran.iter()
            .any(|n| n == "train:mfcc/none/mlp@two" || n == "train:mfcc/none/mlp2@two"),
        "{ran:?}"
    );
    assert_eq!(ws.count_files(".ser/items/train-deep"), 4, "trained again");

    // Its probabilities are the two networks' mean, its prediction their
    // argmax.
    let mlp = predictions_table(&ws, "train:mfcc/none/mlp@two");
    let mlp2 = predictions_table(&ws, "train:mfcc/none/mlp2@two");
    let mlpn = predictions_table(&ws, "train:mfcc/none/mlpn@two");
    let classes = probability_classes(&mlpn);
    assert_eq!(mlpn.utf8("id").unwrap().len(), 32);
    assert_mean_of(&mlpn, &[&mlp, &mlp2], &[]);

    // Its models list both networks and rank it by their mean validation UA.
    let validation = |node: &str| -> Vec<f64> {
        artifact(&ws, node, "models", &[])["folds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["net"]["best_validation_ua"].as_f64().unwrap())
            .collect()
    };
    let (v1, v2) = (
        validation("train:mfcc/none/mlp@two"),
        validation("train:mfcc/none/mlp2@two"),
    );
    let models = artifact(&ws, "train:mfcc/none/mlpn@two", "models", &[]);
    let folds = models["folds"].as_array().unwrap();
    assert_eq!(folds.len(), 2);
    for (f, fold) in folds.iter().enumerate() {
        let mean = fold["validation_ua"].as_f64().unwrap();
        assert!((mean - (v1[f] + v2[f]) / 2.0).abs() < 1e-9, "{fold}");
        let seeds: Vec<u64> = fold["networks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["seed"].as_u64().unwrap())
            .collect();
        assert_eq!(seeds, [0, 1], "{fold}");
    }
    // keep_best ranks the two-network member by that mean.
    let best = predictions_table(&ws, "train:ensemble/mean/best@two");
    for (r, (id, fold)) in best
        .utf8("id")
        .unwrap()
        .iter()
        .zip(best.utf8("fold").unwrap())
        .enumerate()
    {
        let f = folds
            .iter()
            .position(|x| x["fold"] == fold.as_str())
            .unwrap();
        let mean = (v1[f] + v2[f]) / 2.0;
        let chosen = if v1[f] > mean { &mlp } else { &mlpn };
        let column = format!("p_{}", classes[0]);
        let want = chosen.f64(&column).unwrap()[row_of(chosen, id)];
        let got = best.f64(&column).unwrap()[r];
        assert!((got - want).abs() < 1e-6, "{id}: {got} vs {want}");
    }

    // A third network trains only itself, once per fold.
    ws.ok(&["run", "--set", "models.mlpn.networks=3"]);
    assert_eq!(ws.count_files(".ser/items/train-deep"), 6);

    // No networks at all is refused, naming the model.
    let out = ws.ser(&["run", "--set", "models.mlpn.networks=0"]);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success());
    assert!(
        err.contains("models.mlpn") && err.contains("networks must be at least 1"),
        "{err}"
    );
}

/// Test-time augmentation (`test_copies: true`): the networks are the same
/// model's without it (nothing trains), and each test and validation
/// utterance is predicted with its copies: copies that equal their source
/// leave its probabilities as they were; pitch-shifted ones move them. A
/// frame network's and a classic model's too.
#[test]
fn test_copies_average_each_utterance_with_its_copies_and_train_nothing() {
    let ws = Workspace::new(8);
    let tiny = "epochs: 2, hidden: 8, layers: 1, validation_speakers: 1, normalize: speaker";
    let pipeline = |models: &str| {
        format!(
            "augmentations:\n\
             \x20 same: {{copies: [{{kind: noise, snr_db: 120}}], seed: 1}}\n\
             \x20 pitch: {{copies: [{{kind: pitch_shift, semitones: 3}}, {{kind: pitch_shift, semitones: -3}}], seed: 1}}\n\
             models:\n\
             \x20 mlp: {{kind: mlp, {tiny}}}\n\
             \x20 mlp_tta: {{kind: mlp, {tiny}, test_copies: true}}\n\
             \x20 gru: {{kind: gru, {tiny}, max_frames: 100}}\n\
             \x20 gru_tta: {{kind: gru, {tiny}, max_frames: 100, test_copies: true}}\n\
             \x20 lr: {{kind: logistic_regression, normalize: speaker, validation: {{seeds: 1, speakers: 1}}}}\n\
             \x20 lr_tta: {{kind: logistic_regression, normalize: speaker, validation: {{seeds: 1, speakers: 1}}, test_copies: true}}\n\
             experiments:\n\
             \x20 - {{features: [mfcc], augment: [same, pitch], models: [{models}], protocols: [two]}}\n"
        )
    };
    ws.write_pipeline(&pipeline("mlp, gru, lr"));
    ws.ok(&["run"]);
    let trained = ws.count_files(".ser/items/train-deep");
    assert_eq!(trained, 8, "two folds, two augmentations, two networks");

    ws.write_pipeline(&pipeline("mlp, gru, lr, mlp_tta, gru_tta, lr_tta"));
    let second = ws.ok(&["run"]);
    let ran = ran_nodes(&second);
    for node in [
        "train:mfcc+same/none/mlp_tta@two",
        "train:mfcc+pitch/none/gru_tta@two",
        "train:mfcc+pitch/none/lr_tta@two",
    ] {
        assert!(ran.iter().any(|n| n == node), "{second}");
    }
    assert_eq!(
        ws.count_files(".ser/items/train-deep"),
        trained,
        "trained again"
    );

    let largest_difference = |a: &ser::artifact::Table, b: &ser::artifact::Table| {
        assert_eq!(fold_ids(a), fold_ids(b));
        let mut largest = 0.0f64;
        for class in probability_classes(a) {
            let column = format!("p_{class}");
            let (pa, pb) = (a.f64(&column).unwrap(), b.f64(&column).unwrap());
            for (r, id) in a.utf8("id").unwrap().iter().enumerate() {
                largest = largest.max((pa[r] - pb[row_of(b, id)]).abs());
            }
        }
        largest
    };
    for model in ["mlp", "gru", "lr"] {
        for output in ["predictions", "validation"] {
            let node = |set: &str, m: &str| format!("train:mfcc+{set}/none/{m}@two");
            let tta = format!("{model}_tta");
            let plain = table_output(&ws, &node("same", model), output);
            let with_copies = table_output(&ws, &node("same", &tta), output);
            let d = largest_difference(&plain, &with_copies);
            assert!(
                d < 1e-3,
                "{model} {output}: copies equal to their source moved it by {d}"
            );
            let plain = table_output(&ws, &node("pitch", model), output);
            let with_copies = table_output(&ws, &node("pitch", &tta), output);
            let d = largest_difference(&plain, &with_copies);
            assert!(
                d > 1e-3,
                "{model} {output}: pitch-shifted copies changed nothing"
            );
        }
    }
    // Each prediction is its averaged probabilities' argmax.
    let with_copies = predictions_table(&ws, "train:mfcc+pitch/none/mlp_tta@two");
    let classes = probability_classes(&with_copies);
    let predicted = with_copies.utf8("predicted").unwrap();
    for (r, p) in predicted.iter().enumerate() {
        let column = |c: &String| with_copies.f64(&format!("p_{c}")).unwrap()[r];
        let top = classes
            .iter()
            .max_by(|a, b| column(a).total_cmp(&column(b)))
            .unwrap();
        assert!(
            (column(top) - column(p)).abs() < 1e-9,
            "row {r}: {p} is not the argmax"
        );
    }
    // Saved beside the models, so the artifact says how it predicted.
    let params = artifact(&ws, "train:mfcc+pitch/none/mlp_tta@two", "params", &[]);
    assert_eq!(params["test_copies"], true, "{params}");
}

/// A grid on a deep model: every point trained in every fold, the point
/// with the best validation UA (speakers held out of the fold's training
/// speakers) chosen per fold, and each point's networks the same cached
/// trainings a model with those settings makes.
#[test]
fn a_deep_grid_is_chosen_per_fold_on_validation_speakers() {
    let ws = Workspace::new(8);
    let tiny = "epochs: 2, layers: 1, validation_speakers: 1";
    ws.write_pipeline(&format!(
        "models:\n\
             \x20 grid: {{kind: mlp, {tiny}, hidden: 8, grid: {{hidden: [4, 16]}}}}\n\
             \x20 h4: {{kind: mlp, {tiny}, hidden: 4}}\n\
             \x20 h16: {{kind: mlp, {tiny}, hidden: 16}}\n\
             experiments: {{features: [mfcc], models: [grid, h4, h16], protocols: [two]}}\n"
    ));
    ws.ok(&["run"]);
    // 2 folds x 2 points: the plain models' trainings are the grid's.
    assert_eq!(ws.count_files(".ser/items/train-deep"), 4);
    let models = artifact(&ws, "train:mfcc/none/grid@", "models", &[]);
    let predictions = |model: &str| -> ser::artifact::Table {
        let listing = ws.ok(&["outputs", &format!("train:mfcc/none/{model}@")]);
        let path = listing
            .lines()
            .map(|l| l.split('\t').collect::<Vec<_>>())
            .find(|c| c[1] == "predictions")
            .unwrap()[2]
            .to_string();
        ser::artifact::parquet_read::from_parquet(std::fs::read(path).unwrap()).unwrap()
    };
    let grid = predictions("grid");
    for fold in models["folds"].as_array().unwrap() {
        let choice = &fold["grid"];
        let points = choice["points"].as_array().unwrap();
        assert_eq!(points.len(), 2, "{choice}");
        let best = points
            .iter()
            .map(|p| p["validation_ua"].as_f64().unwrap())
            .fold(f64::MIN, f64::max);
        assert_eq!(choice["validation_ua"].as_f64().unwrap(), best, "{choice}");
        // The fold's predictions are the chosen setting's own.
        let hidden = choice["chosen"]["hidden"].as_u64().unwrap();
        let plain = predictions(&format!("h{hidden}"));
        let name = fold["fold"].as_str().unwrap();
        let folds = grid.utf8("fold").unwrap();
        let (ids, predicted) = (grid.utf8("id").unwrap(), grid.utf8("predicted").unwrap());
        let plain_predicted = plain.utf8("predicted").unwrap();
        let mut compared = 0;
        for r in (0..ids.len()).filter(|&r| folds[r] == name) {
            assert_eq!(
                predicted[r],
                plain_predicted[row_of(&plain, &ids[r])],
                "{}",
                ids[r]
            );
            compared += 1;
        }
        assert_eq!(compared, 16, "fold {name}");
    }
    // `ser metrics --choices` gives each fold's chosen point, as recorded.
    let rows = ws.ok(&["metrics", "--json", "--choices"]);
    let row: serde_json::Value = rows
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|r| r["model"] == "grid")
        .unwrap();
    let listed = row["choices"]["folds"].as_array().unwrap();
    assert_eq!(row["choices"]["chosen_by"], "validation_speakers");
    for (fold, listed) in models["folds"].as_array().unwrap().iter().zip(listed) {
        assert_eq!(listed["fold"], fold["fold"]);
        assert_eq!(listed["chosen"], fold["grid"]["chosen"]);
        assert_eq!(listed["validation_ua"][0], fold["grid"]["validation_ua"]);
    }
    assert!(
        ws.ok(&["metrics", "--json", "--choices"])
            .lines()
            .filter(|l| l.contains("\"model\":\"h4\""))
            .all(|l| !l.contains("\"choices\"")),
        "a model without a grid chose nothing"
    );
    // The report lists them too, one row per fold.
    ws.ok(&["report", "--out", "rep"]);
    let report = std::fs::read_to_string(ws.path("rep/README.md")).unwrap();
    assert!(
        report.contains("## Chosen inside the training folds"),
        "{report}"
    );
    let rows = report
        .lines()
        .filter(|l| l.starts_with("| mfcc/none/grid |"))
        .count();
    assert_eq!(rows, 2, "{report}");
    // A point that cannot be chosen on validation speakers is refused.
    let err = ws.ser(&["run", "--set", "models.grid.validation_speakers=0"]);
    assert_eq!(err.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&err.stderr).contains("validation_speakers"));
}
