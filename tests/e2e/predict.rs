//! Exported models, end to end: `ser export` writes a fold's model as a
//! bundle, and `ser predict` in another folder (no cache, no
//! pipeline.yaml) gives that fold's test utterances exactly the pipeline's
//! predictions; bad audio gets error rows; damaged or newer bundles are
//! refused.

use crate::common;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use common::{Workspace, wav};

/// A train node's predictions table, via `ser outputs`.
fn predictions(ws: &Workspace, experiment: &str) -> ser::artifact::Table {
    let listing = ws.ok(&["outputs", &format!("train:{experiment}@")]);
    let path = listing
        .lines()
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .find(|cols| cols[1] == "predictions")
        .unwrap_or_else(|| panic!("no predictions of {experiment}: {listing}"))[2]
        .to_string();
    ser::artifact::parquet_read::from_parquet(std::fs::read(path).unwrap()).unwrap()
}

/// The `p_<label>` columns of a predictions table.
fn probability_names(table: &ser::artifact::Table) -> Vec<String> {
    table
        .columns
        .iter()
        .map(|(n, _)| n.clone())
        .filter(|n| n.starts_with("p_"))
        .collect()
}

/// `ser predict` rows from a JSON Lines file, by file stem.
fn rows(path: &Path) -> BTreeMap<String, serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let row: serde_json::Value = serde_json::from_str(l).unwrap();
            let file = PathBuf::from(row["file"].as_str().unwrap());
            (
                file.file_stem().unwrap().to_string_lossy().into_owned(),
                row,
            )
        })
        .collect()
}

/// Run `ser` in `dir`.
fn ser_in(dir: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_ser"))
        .args(args)
        .current_dir(dir)
        .env_remove("SER_CACHE_DIR")
        .env_remove("SER_REMOTE")
        .output()
        .unwrap()
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The workspace's corpus files of utterances `test` (ids `ids`).
fn corpus_files(ws: &Workspace, ids: &[String], test: &[usize]) -> Vec<String> {
    test.iter()
        .map(|&i| {
            ws.path(&format!("corpus/{}.flac", ids[i]))
                .display()
                .to_string()
        })
        .collect()
}

/// `ser predict` with `bundle` on the corpus files of utterances `test`
/// (ids `ids`), each speaker's files one batch (`--speaker-of`): its rows
/// by file stem, and what it printed.
fn predict_by_speaker(
    ws: &Workspace,
    bundle: &str,
    ids: &[String],
    test: &[usize],
) -> (BTreeMap<String, serde_json::Value>, String) {
    predict_with_by_speaker(ws, &["--model", bundle], bundle, ids, test)
}

/// [`predict_by_speaker`] with the model named by `model_args` (a bundle, or
/// `--experiment` and its fold); `name` names the output file.
fn predict_with_by_speaker(
    ws: &Workspace,
    model_args: &[&str],
    name: &str,
    ids: &[String],
    test: &[usize],
) -> (BTreeMap<String, serde_json::Value>, String) {
    let files = corpus_files(ws, ids, test);
    let out_file = ws.path(&format!("{name}.jsonl"));
    let mut args = vec!["predict"];
    args.extend_from_slice(model_args);
    args.extend([
        "--speaker-of",
        r"Actor_(\d+)",
        "-o",
        out_file.to_str().unwrap(),
    ]);
    args.extend(files.iter().map(String::as_str));
    let out = ws.ser(&args);
    assert!(out.status.success(), "{}", text(&out));
    (rows(&out_file), text(&out))
}

#[test]
fn a_bundle_predicts_its_folds_test_utterances_as_the_pipeline_did() {
    let ws = Workspace::new(6);
    let tiny = "epochs: 2, hidden: 8, layers: 1, channels: [4, 8], validation_speakers: 1";
    // The union's spectral part has deltas of its own (`extract_per_set`):
    // its bundle must extract them, and mfcc's without; so must a variant
    // of mfcc with deltas (`feature_variants`).
    ws.write_pipeline(&format!(
        "feature_unions:\n  both: [mfcc, spectral]\n\
         extract_per_set:\n  spectral: {{deltas: 1}}\n\
         feature_variants:\n  mfcc_d: {{of: mfcc, deltas: 1}}\n\
         models:\n\
         \x20 svm: {{kind: svm}}\n\
         \x20 logreg: {{kind: logistic_regression}}\n\
         \x20 mlp: {{kind: mlp, {tiny}}}\n\
         \x20 svm_p: {{kind: svm, probability: true}}\n\
         \x20 gru: {{kind: gru, {tiny}, max_frames: 100}}\n\
         \x20 gru_c: {{kind: gru, {tiny}, max_frames: 100, test_windows: cover}}\n\
         experiments:\n\
         \x20 - {{features: [mfcc], models: [svm, svm_p, logreg, mlp, gru, gru_c], protocols: [two]}}\n\
         \x20 - {{features: [both], models: [logreg, mlp], protocols: [two]}}\n\
         \x20 - {{features: [mfcc_d], models: [logreg], protocols: [two]}}\n\
         ensembles:\n\
         \x20 trio: {{members: [mfcc/none/svm, mfcc/none/mlp, mfcc/none/gru], protocols: [two]}}\n\
         \x20 duo: {{members: [mfcc/none/logreg, mfcc/none/mlp], protocols: [two]}}\n\
         \x20 duo_p: {{members: [mfcc/none/svm_p, mfcc/none/mlp], protocols: [two]}}\n\
         \x20 duo_geo: {{members: [mfcc/none/logreg, mfcc/none/mlp], combine: geometric, \
         protocols: [two]}}\n"
    ));
    ws.ok(&["run"]);
    let elsewhere = tempfile::tempdir().unwrap();
    for (model, experiment) in [
        ("svm", "mfcc/none/svm"),
        // Platt-scaled: its probabilities travel in the bundle.
        ("svm_p", "mfcc/none/svm_p"),
        ("logreg", "mfcc/none/logreg"),
        ("mlp", "mfcc/none/mlp"),
        ("gru", "mfcc/none/gru"),
        // Long inputs by the mean of their windows.
        ("gru_c", "mfcc/none/gru_c"),
        // Its members' fold models, combined as the ensemble node does:
        // the SVM as one vote, logistic regression by its probabilities.
        ("trio", "ensemble/mean/trio"),
        ("duo", "ensemble/mean/duo"),
        // The calibrated SVM by its probabilities.
        ("duo_p", "ensemble/mean/duo_p"),
        // Pooled by their geometric mean.
        ("duo_geo", "ensemble/geometric/duo_geo"),
        // A feature union: both sets extracted, side by side.
        ("both_logreg", "both/none/logreg"),
        ("both_mlp", "both/none/mlp"),
        // A variant: mfcc's descriptors with its own deltas.
        ("mfcc_d_logreg", "mfcc_d/none/logreg"),
    ] {
        let table = predictions(&ws, experiment);
        let (ids, folds) = (table.utf8("id").unwrap(), table.utf8("fold").unwrap());
        let fold = folds[0].clone();
        let bundle = ws.path(&format!("{model}.sermodel"));
        let bundle_arg = bundle.to_str().unwrap();
        ws.ok(&["export", experiment, "--fold", &fold, "-o", bundle_arg]);
        // Another folder: the bundle alone, and the fold's test files.
        let copy = elsewhere.path().join(format!("{model}.sermodel"));
        std::fs::copy(&bundle, &copy).unwrap();
        let files: Vec<String> = ids
            .iter()
            .zip(&folds)
            .filter(|(_, f)| **f == fold)
            .map(|(id, _)| ws.path(&format!("corpus/{id}.flac")).display().to_string())
            .collect();
        let out_file = format!("{model}.jsonl");
        let mut args = vec![
            "predict",
            "--model",
            copy.to_str().unwrap(),
            "-o",
            &out_file,
        ];
        args.extend(files.iter().map(String::as_str));
        let out = ser_in(elsewhere.path(), &args);
        assert!(out.status.success(), "{}", text(&out));
        let predicted = rows(&elsewhere.path().join(&out_file));
        assert_eq!(predicted.len(), files.len());
        let labels = table.utf8("predicted").unwrap();
        let probability_columns: Vec<(String, Vec<f64>)> = table
            .columns
            .iter()
            .filter(|(n, _)| n.starts_with("p_"))
            .map(|(n, _)| (n.clone(), table.f64(n).unwrap()))
            .collect();
        // The pipeline keeps probabilities of every model but the SVM
        // without `probability: true`.
        assert_eq!(probability_columns.is_empty(), model == "svm");
        for (i, id) in ids.iter().enumerate().filter(|(i, _)| folds[*i] == fold) {
            let stem = id.rsplit('/').next().unwrap();
            let row = &predicted[stem];
            assert_eq!(row["predicted"], labels[i].as_str(), "{model} {id}: {row}");
            // A bundle's classic model has probabilities (but the plain
            // SVM), logistic regression's top the predicted label.
            let p: Vec<(&String, f64)> = row
                .as_object()
                .unwrap()
                .iter()
                .filter(|(k, _)| k.starts_with("p_"))
                .map(|(k, v)| (k, v.as_f64().unwrap()))
                .collect();
            assert_eq!(p.is_empty(), model == "svm", "{model}: {row}");
            if model.ends_with("logreg") {
                let top = p.iter().max_by(|a, b| a.1.total_cmp(&b.1)).unwrap().0;
                assert_eq!(top, &format!("p_{}", labels[i]), "{row}");
            }
            // The same network on the same features: the probabilities the
            // pipeline kept (f32, stored as f64) within float rounding.
            for (name, values) in &probability_columns {
                let got = row[name].as_f64().unwrap();
                assert!(
                    (got - values[i]).abs() < 1e-6,
                    "{model} {id} {name}: {got} vs {}",
                    values[i]
                );
            }
        }
    }
    // An ensemble bundle with a classic part is format 3. Read as format 2
    // (written before classic members had probabilities), its logistic
    // regression is one vote again, as the ensemble node then counted it.
    let duo = ser::bundle::read::read(&ws.path("duo.sermodel")).unwrap();
    assert_eq!(duo.manifest.format_version, 3);
    // An SVM with probabilities needs format 4: a format-3 reader would
    // count it as one vote.
    let format = |m: &str| {
        ser::bundle::read::read(&ws.path(&format!("{m}.sermodel")))
            .unwrap()
            .manifest
            .format_version
    };
    assert_eq!(
        (
            format("svm"),
            format("svm_p"),
            format("duo_p"),
            format("gru_c")
        ),
        (1, 4, 4, 4)
    );
    assert_eq!(
        ser::bundle::read::read(&ws.path("mlp.sermodel"))
            .unwrap()
            .manifest
            .format_version,
        1
    );
    let mut old = duo.manifest.clone();
    old.format_version = 2;
    let old_path = elsewhere.path().join("duo2.sermodel");
    ser::bundle::write::write(&old_path, old, duo.files.clone()).unwrap();
    let (lr, mlp) = (
        predictions(&ws, "mfcc/none/logreg"),
        predictions(&ws, "mfcc/none/mlp"),
    );
    let fold = lr.utf8("fold").unwrap()[0].clone();
    let lr_ids = lr.utf8("id").unwrap();
    let test_rows: Vec<usize> = (0..lr_ids.len())
        .filter(|&r| lr.utf8("fold").unwrap()[r] == fold)
        .collect();
    let mut args = vec!["predict".to_string(), "--model".into()];
    args.push(old_path.display().to_string());
    args.extend(["-o".into(), "duo2.jsonl".into()]);
    args.extend(test_rows.iter().map(|&r| {
        ws.path(&format!("corpus/{}.flac", lr_ids[r]))
            .display()
            .to_string()
    }));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = ser_in(elsewhere.path(), &args);
    assert!(out.status.success(), "{}", text(&out));
    let voted = rows(&elsewhere.path().join("duo2.jsonl"));
    let classes = duo.manifest.classes.clone();
    let mlp_ids = mlp.utf8("id").unwrap();
    for &r in &test_rows {
        let id = &lr_ids[r];
        let m = mlp_ids.iter().position(|x| x == id).unwrap();
        let score = |c: &String| {
            let vote = f64::from(u8::from(lr.utf8("predicted").unwrap()[r] == *c));
            (vote + mlp.f64(&format!("p_{c}")).unwrap()[m]) / 2.0
        };
        let top = classes
            .iter()
            .fold(&classes[0], |b, c| if score(c) > score(b) { c } else { b });
        let row = &voted[id.rsplit('/').next().unwrap()];
        assert_eq!(row["predicted"], top.as_str(), "{id}: {row}");
        for c in &classes {
            let got = row[format!("p_{c}").as_str()].as_f64().unwrap();
            assert!(
                (got - score(c)).abs() < 1e-5,
                "{id} {c}: {got} vs {}",
                score(c)
            );
        }
    }

    // A long recording in windows: one row per 4 s window every 2 s, then
    // the file's row, the mean of its windows.
    let mut long = Vec::new();
    for take in [
        "Actor_05/03-01-05-01-01-01-05",
        "Actor_06/03-01-03-02-01-02-06",
        "Actor_07/03-01-04-01-02-01-07",
    ] {
        let bytes = std::fs::read(common::ravdess().join(format!("{take}.flac"))).unwrap();
        long.extend(ser_ingest::load_signal(&bytes, 16000).unwrap().samples);
    }
    std::fs::write(elsewhere.path().join("long.wav"), wav(&long, 16000, true)).unwrap();
    let out = ser_in(
        elsewhere.path(),
        &[
            "predict",
            "--model",
            "mlp.sermodel",
            "--segment",
            "4s",
            "--hop",
            "2s",
            "long.wav",
            "-o",
            "windows.jsonl",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let lines: Vec<serde_json::Value> =
        std::fs::read_to_string(elsewhere.path().join("windows.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
    let (windows, file): (Vec<_>, Vec<_>) = lines.iter().partition(|r| r["start_s"].is_number());
    let expected = ser::bundle::windows(long.len(), 64000, 32000).len();
    assert_eq!((windows.len(), file.len()), (expected, 1), "{lines:?}");
    assert!(
        windows
            .iter()
            .all(|w| (w["duration_s"].as_f64().unwrap() - 4.0).abs() < 1e-9)
    );
    for name in probability_names(&predictions(&ws, "mfcc/none/mlp")) {
        let mean = windows
            .iter()
            .map(|w| w[&name].as_f64().unwrap())
            .sum::<f64>()
            / expected as f64;
        assert!(
            (file[0][&name].as_f64().unwrap() - mean).abs() < 1e-6,
            "{name}"
        );
    }

    // The manifest is plain JSON, and `ser model inspect` prints it.
    let inspect = ws.ok(&["model", "inspect", "gru.sermodel"]);
    let manifest: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    assert_eq!(manifest["format_version"], 1);
    assert_eq!(manifest["experiment"], "mfcc/none/gru");
    // A union's bundle names its parts' sets, and needs format 2.
    let both: serde_json::Value =
        serde_json::from_str(&ws.ok(&["model", "inspect", "both_mlp.sermodel"])).unwrap();
    assert_eq!(both["format_version"], 2);
    let union: Vec<&str> = both["parts"][0]["features"]["union"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["set"].as_str().unwrap())
        .collect();
    assert_eq!(union, ["mfcc", "spectral"], "{both}");
    assert!(manifest["metrics"]["ua"].as_f64().is_some(), "{manifest}");
    let part = &manifest["parts"][0];
    assert_eq!(part["input"], "frames");
    assert!(
        part["training"]["inputs"]["frames.frames"].is_string(),
        "{manifest}"
    );
    // An ensemble: one part per member, combined as its node combines them.
    let trio: serde_json::Value =
        serde_json::from_str(&ws.ok(&["model", "inspect", "trio.sermodel"])).unwrap();
    let parts: Vec<&str> = trio["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["experiment"].as_str().unwrap())
        .collect();
    assert_eq!(parts, ["mfcc/none/svm", "mfcc/none/mlp", "mfcc/none/gru"]);
    assert_eq!(trio["combine"]["mode"], "mean", "{trio}");
}

#[test]
fn bad_audio_gets_an_error_row_and_the_rest_are_predicted() {
    let ws = Workspace::new(4);
    ws.write_pipeline(
        "models:\n  lr: {kind: logistic_regression}\n\
         experiments: {features: [mfcc], models: [lr], protocols: [two]}\n",
    );
    ws.ok(&["run"]);
    ws.ok(&[
        "export",
        "mfcc/none/lr",
        "--from-folds",
        "-o",
        "lr.sermodel",
    ]);
    let dir = ws.path("new");
    std::fs::create_dir_all(&dir).unwrap();
    let good = common::ravdess().join("Actor_05/03-01-05-01-01-01-05.flac");
    std::fs::copy(&good, dir.join("good.flac")).unwrap();
    let flac = std::fs::read(&good).unwrap();
    std::fs::write(dir.join("truncated.flac"), &flac[..600]).unwrap();
    std::fs::write(dir.join("empty.wav"), b"").unwrap();
    std::fs::write(dir.join("notes.wav"), b"not audio at all, just text").unwrap();
    std::fs::write(dir.join("silent.wav"), wav(&vec![0.0; 32000], 16000, false)).unwrap();
    let beep: Vec<f32> = (0..400).map(|i| (i as f32 * 0.3).sin() * 0.5).collect();
    std::fs::write(dir.join("short.wav"), wav(&beep, 16000, false)).unwrap();
    // Thirty minutes of tone: long, and still one row.
    let long: Vec<f32> = (0..16000 * 1800)
        .map(|i| (i as f32 * 0.05).sin() * 0.3)
        .collect();
    std::fs::write(dir.join("long.wav"), wav(&long, 16000, false)).unwrap();
    let out = ws.ser(&[
        "predict",
        "--model",
        "lr.sermodel",
        "new",
        "-o",
        "rows.jsonl",
    ]);
    // Some files could not be used: exit 1, every row written.
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let rows = rows(&ws.path("rows.jsonl"));
    assert_eq!(rows.len(), 7, "{rows:?}");
    for ok in ["good", "long"] {
        assert!(rows[ok]["error"].is_null(), "{}", rows[ok]);
        assert!(rows[ok]["predicted"].is_string(), "{}", rows[ok]);
    }
    assert!((rows["long"]["duration_s"].as_f64().unwrap() - 1800.0).abs() < 0.01);
    for (bad, reason) in [
        ("truncated", ""),
        ("empty", ""),
        ("notes", ""),
        ("silent", "silent"),
        ("short", "short"),
    ] {
        let error = rows[bad]["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{}", rows[bad]));
        assert!(error.to_lowercase().contains(reason), "{bad}: {error}");
        assert!(rows[bad]["predicted"].is_null(), "{}", rows[bad]);
        assert!(text(&out).contains(&format!("{bad}.")), "{}", text(&out));
    }
}

#[test]
fn a_damaged_or_newer_bundle_is_refused() {
    let ws = Workspace::new(4);
    ws.write_pipeline(
        "models:\n  nb: {kind: gaussian_nb}\n\
         experiments: {features: [mfcc], models: [nb], protocols: [two]}\n",
    );
    ws.ok(&["run"]);
    ws.ok(&[
        "export",
        "mfcc/none/nb",
        "--from-folds",
        "-o",
        "nb.sermodel",
    ]);
    let entries = |path: &Path| -> Vec<(String, Vec<u8>)> {
        let mut archive = tar::Archive::new(std::fs::File::open(path).unwrap());
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let name = e.path().unwrap().to_string_lossy().into_owned();
                let mut bytes = Vec::new();
                e.read_to_end(&mut bytes).unwrap();
                (name, bytes)
            })
            .collect()
    };
    let rewrite = |path: &Path, edit: &dyn Fn(&str, &mut Vec<u8>)| {
        let mut files = entries(&ws.path("nb.sermodel"));
        let mut builder = tar::Builder::new(std::fs::File::create(path).unwrap());
        for (name, bytes) in &mut files {
            edit(name, bytes);
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder
                .append_data(&mut header, name.as_str(), bytes.as_slice())
                .unwrap();
        }
        builder.finish().unwrap();
    };
    let audio = common::ravdess().join("Actor_05/03-01-05-01-01-01-05.flac");
    let audio = audio.to_str().unwrap();
    // The bundle as written predicts.
    ws.ok(&["predict", "--model", "nb.sermodel", audio]);
    // One changed byte in a model file.
    rewrite(&ws.path("damaged.sermodel"), &|name, bytes| {
        if name == "model-0.json" {
            let i = bytes.iter().position(|b| b.is_ascii_digit()).unwrap();
            bytes[i] = if bytes[i] == b'9' { b'8' } else { bytes[i] + 1 };
        }
    });
    let out = ws.ser(&["predict", "--model", "damaged.sermodel", audio]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("corrupted: model-0.json"),
        "{}",
        text(&out)
    );
    // A format this ser does not know yet.
    rewrite(&ws.path("newer.sermodel"), &|name, bytes| {
        if name == "manifest.json" {
            let mut manifest: serde_json::Value = serde_json::from_slice(bytes).unwrap();
            manifest["format_version"] = 99.into();
            *bytes = serde_json::to_vec(&manifest).unwrap();
        }
    });
    let out = ws.ser(&["model", "inspect", "newer.sermodel"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("bundle format 99"), "{}", text(&out));
    // Not a bundle at all.
    std::fs::write(ws.path("junk.sermodel"), b"hello").unwrap();
    let out = ws.ser(&["predict", "--model", "junk.sermodel", audio]);
    assert!(
        text(&out).contains("not a ser model bundle"),
        "{}",
        text(&out)
    );
}

#[test]
fn protocol_all_trains_a_final_model_that_exports_with_its_experiments_metrics() {
    let ws = Workspace::new(4);
    let tiny = "epochs: 2, hidden: 8, layers: 1, validation_speakers: 1";
    ws.write_pipeline(&format!(
        "  final: {{kind: all}}\n\
         models:\n\
         \x20 svm: {{kind: svm}}\n\
         \x20 mlp: {{kind: mlp, {tiny}}}\n\
         experiments: {{features: [mfcc], models: [svm, mlp], protocols: [two, final]}}\n"
    ));
    ws.ok(&["run"]);
    // A final model has no test utterances, so no metrics of its own.
    let metrics = ws.ok(&["metrics", "--json"]);
    assert_eq!(
        metrics.lines().filter(|l| l.starts_with('{')).count(),
        2,
        "{metrics}"
    );
    assert!(!metrics.contains("\"final\""), "{metrics}");
    // Several fold models: which one must be said.
    let out = ws.ser(&["export", "mfcc/none/svm", "-o", "cv.sermodel"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("--from-folds"), "{}", text(&out));
    for model in ["svm", "mlp"] {
        let bundle = format!("{model}.sermodel");
        let experiment = format!("mfcc/none/{model}");
        ws.ok(&["export", &experiment, "--protocol", "final", "-o", &bundle]);
        let manifest: serde_json::Value =
            serde_json::from_str(&ws.ok(&["model", "inspect", &bundle])).unwrap();
        assert_eq!(manifest["protocol"], "final");
        let members = manifest["parts"][0]["members"].as_array().unwrap();
        assert_eq!(members.len(), 1);
        assert_eq!(members[0]["fold"], "all");
        // Every utterance trained it (a network holds its validation
        // speakers' utterances out of the steps, not out of the count).
        assert_eq!(members[0]["n_train"], 16, "{manifest}");
        // Its numbers are the experiment's cross-validated ones.
        assert_eq!(manifest["metrics"]["protocol"], "two", "{manifest}");
        let audio = common::ravdess().join("Actor_05/03-01-05-01-01-01-05.flac");
        let rows = ws.ok(&["predict", "--model", &bundle, audio.to_str().unwrap()]);
        // file, duration_s, predicted, (p_<label>...,) error
        let fields: Vec<&str> = rows.lines().nth(1).unwrap().split(',').collect();
        let labels = manifest["classes"].as_array().unwrap();
        assert!(labels.iter().any(|l| l == fields[2]), "{rows}");
        assert_eq!(fields.last(), Some(&""), "{rows}");
    }
    // A rerun trains nothing: the final models are cached like any node.
    let again = ws.ok(&["run"]);
    assert!(common::ran_nodes(&again).is_empty(), "{again}");
}

/// A network or a classic model with `test_copies: true` exports with its
/// augmentation, and
/// `ser predict` copies each file as the pipeline copied its utterances
/// (pitch shifts draw nothing, so the copies are the pipeline's): each
/// fold test utterance gets the pipeline's probabilities.
#[test]
fn a_bundle_with_test_copies_predicts_each_file_with_its_copies_as_the_pipeline_did() {
    let ws = Workspace::new(6);
    let tiny = "epochs: 2, hidden: 8, layers: 1, validation_speakers: 1, normalize: speaker";
    ws.write_pipeline(&format!(
        "augmentations:\n\
         \x20 pitch: {{copies: [{{kind: pitch_shift, semitones: 3}}, {{kind: pitch_shift, semitones: -3}}]}}\n\
         models:\n\
         \x20 mlp: {{kind: mlp, {tiny}, test_copies: true}}\n\
         \x20 lr: {{kind: logistic_regression, normalize: speaker, test_copies: true}}\n\
         experiments: {{features: [mfcc], augment: [pitch], models: [mlp, lr], protocols: [two]}}\n"
    ));
    ws.ok(&["run"]);
    for model in ["mlp", "lr"] {
        bundle_predicts_with_copies_as_the_pipeline(&ws, &format!("mfcc+pitch/none/{model}"));
    }
}

/// From the cache (`--experiment`), a corpus file is named by its corpus
/// id, found by its bytes, so its test copies draw what the pipeline's
/// drew: a noise copy too, which a bundle (no corpus at hand) draws afresh.
#[test]
fn predicting_from_the_cache_draws_a_corpus_files_noise_copy_as_the_pipeline_did() {
    let ws = Workspace::new(6);
    let tiny = "epochs: 2, hidden: 8, layers: 1, validation_speakers: 1, normalize: speaker";
    ws.write_pipeline(&format!(
        "augmentations:\n\
         \x20 noisy: {{copies: [{{kind: noise, snr_db: 5}}]}}\n\
         models:\n\
         \x20 mlp: {{kind: mlp, {tiny}, test_copies: true}}\n\
         experiments: {{features: [mfcc], augment: [noisy], models: [mlp], protocols: [two]}}\n"
    ));
    ws.ok(&["run"]);
    let experiment = "mfcc+noisy/none/mlp";
    let table = predictions(&ws, experiment);
    let (ids, folds) = (table.utf8("id").unwrap(), table.utf8("fold").unwrap());
    let fold = folds[0].clone();
    let test: Vec<usize> = (0..ids.len()).filter(|&i| folds[i] == fold).collect();
    let from_cache = ["--experiment", experiment, "--fold", fold.as_str()];
    let (cached, _) = predict_with_by_speaker(&ws, &from_cache, "cached", &ids, &test);
    ws.ok(&[
        "export",
        experiment,
        "--fold",
        &fold,
        "-o",
        "noisy.sermodel",
    ]);
    let (bundled, _) = predict_by_speaker(&ws, "noisy.sermodel", &ids, &test);
    let mut bundle_differs = false;
    for &i in &test {
        let name = ids[i].rsplit('/').next().unwrap();
        for p in probability_names(&table) {
            let want = table.f64(&p).unwrap()[i];
            let got = cached[name][&p].as_f64().unwrap();
            assert!((got - want).abs() < 1e-4, "{}: {p} {got} vs {want}", ids[i]);
            bundle_differs |= (bundled[name][&p].as_f64().unwrap() - want).abs() > 1e-4;
        }
    }
    assert!(
        bundle_differs,
        "the bundle's noise copies drew the pipeline's"
    );
}

fn bundle_predicts_with_copies_as_the_pipeline(ws: &Workspace, experiment: &str) {
    let table = predictions(ws, experiment);
    let (ids, folds) = (table.utf8("id").unwrap(), table.utf8("fold").unwrap());
    let labels = table.utf8("predicted").unwrap();
    let fold = folds[0].clone();
    ws.ok(&["export", experiment, "--fold", &fold, "-o", "tta.sermodel"]);
    let manifest: serde_json::Value =
        serde_json::from_str(&ws.ok(&["model", "inspect", "tta.sermodel"])).unwrap();
    assert_eq!(manifest["format_version"], 5, "{manifest}");
    let copies = &manifest["parts"][0]["test_copies"]["copies"];
    assert_eq!(copies.as_array().map(Vec::len), Some(2), "{manifest}");

    let test: Vec<usize> = (0..ids.len()).filter(|&i| folds[i] == fold).collect();
    let (predicted, _) = predict_by_speaker(ws, "tta.sermodel", &ids, &test);
    for &i in &test {
        let row = &predicted[ids[i].rsplit('/').next().unwrap()];
        assert_eq!(
            row["predicted"],
            labels[i].as_str(),
            "{experiment} {}: {row}",
            ids[i]
        );
        for name in probability_names(&table) {
            let want = table.f64(&name).unwrap()[i];
            let got = row[&name].as_f64().unwrap();
            assert!(
                (got - want).abs() < 1e-4,
                "{experiment} {} {name}: {got} vs {want}",
                ids[i]
            );
        }
    }
}

#[test]
fn speaker_normalised_models_take_each_speakers_statistics_from_the_batch() {
    let ws = Workspace::new(6);
    let tiny = "epochs: 2, hidden: 8, layers: 1, validation_speakers: 1";
    ws.write_pipeline(&format!(
        "models:\n\
         \x20 svm: {{kind: svm, normalize: speaker}}\n\
         \x20 mlp: {{kind: mlp, {tiny}, normalize: speaker}}\n\
         experiments: {{features: [mfcc], models: [svm, mlp], protocols: [two]}}\n"
    ));
    ws.ok(&["run"]);
    for model in ["svm", "mlp"] {
        let experiment = format!("mfcc/none/{model}");
        let table = predictions(&ws, &experiment);
        let (ids, folds) = (table.utf8("id").unwrap(), table.utf8("fold").unwrap());
        let labels = table.utf8("predicted").unwrap();
        let fold = folds[0].clone();
        let bundle = format!("{model}.sermodel");
        ws.ok(&["export", &experiment, "--fold", &fold, "-o", &bundle]);
        let manifest: serde_json::Value =
            serde_json::from_str(&ws.ok(&["model", "inspect", &bundle])).unwrap();
        let part = &manifest["parts"][0];
        assert_eq!(part["normalize"], "speaker");
        assert!(part["members"][0]["global_statistics"]["mean"].is_array());
        // What scaling by the training set's statistics costs, measured on
        // the fold's test utterances; with speakers, the pipeline's UA.
        let cost = &part["without_speakers"];
        let test: Vec<usize> = (0..ids.len()).filter(|&i| folds[i] == fold).collect();
        assert_eq!(cost["n_test"], test.len(), "{manifest}");
        let truth = table.utf8("label").unwrap();
        let pipeline_ua = {
            let classes: std::collections::BTreeSet<&String> =
                test.iter().map(|&i| &truth[i]).collect();
            let recalls: Vec<f64> = classes
                .iter()
                .map(|c| {
                    let of: Vec<usize> =
                        test.iter().copied().filter(|&i| &truth[i] == *c).collect();
                    let right = of.iter().filter(|&&i| labels[i] == truth[i]).count();
                    right as f64 / of.len() as f64
                })
                .collect();
            recalls.iter().sum::<f64>() / recalls.len() as f64
        };
        assert!(
            (cost["ua_with_speakers"].as_f64().unwrap() - pipeline_ua).abs() < 1e-9,
            "{cost} vs {pipeline_ua}"
        );
        let files = corpus_files(&ws, &ids, &test);
        // Grouped by speaker: each speaker's statistics from their files
        // in the batch, as the pipeline took them from their utterances.
        let (by_speaker, printed) = predict_by_speaker(&ws, &bundle, &ids, &test);
        assert!(!printed.contains("warning"), "{printed}");
        for &i in &test {
            let row = &by_speaker[ids[i].rsplit('/').next().unwrap()];
            assert_eq!(
                row["predicted"],
                labels[i].as_str(),
                "{model} {}: {row}",
                ids[i]
            );
            let actor = ids[i]
                .split('/')
                .next()
                .unwrap()
                .trim_start_matches("Actor_");
            assert_eq!(row["speaker"], actor, "{row}");
        }
        // The same from the cache, speakers from a CSV.
        let map = ws.path("speakers.csv");
        let mut csv = String::from("file,speaker\n");
        for (f, &i) in files.iter().zip(&test) {
            csv += &format!("{f},{}\n", &ids[i].split('/').next().unwrap());
        }
        std::fs::write(&map, csv).unwrap();
        let cached = ws.path(&format!("{model}-cached.jsonl"));
        let mut args = vec![
            "predict",
            "--experiment",
            &experiment,
            "--fold",
            &fold,
            "--speakers",
            map.to_str().unwrap(),
            "-o",
            cached.to_str().unwrap(),
        ];
        args.extend(files.iter().map(String::as_str));
        let out = ws.ser(&args);
        assert!(out.status.success(), "{}", text(&out));
        let from_cache = rows(&cached);
        for (stem, row) in &by_speaker {
            assert_eq!(from_cache[stem]["predicted"], row["predicted"], "{stem}");
        }
        // Without speakers: every file scaled by the training set's
        // statistics, with a warning that says what that cost.
        let mut args = vec!["predict", "--model", &bundle];
        args.extend(files.iter().map(String::as_str));
        let out = ws.ser(&args);
        assert!(out.status.success(), "{}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        let warning = stderr
            .lines()
            .find(|l| l.starts_with("warning"))
            .unwrap_or_default();
        let expected = format!(
            "UA {:.3} -> {:.3}",
            cost["ua_with_speakers"].as_f64().unwrap(),
            cost["ua_without_speakers"].as_f64().unwrap()
        );
        assert!(warning.contains(&expected), "{stderr}");
        assert!(
            warning.contains(&format!("{} file(s) have no speaker", files.len())),
            "{stderr}"
        );
    }
}
