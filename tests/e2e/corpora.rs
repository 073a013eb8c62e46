//! Several corpora in one pipeline: namespaced speakers, one label set,
//! cross-corpus and leave-one-corpus-out protocols, per-corpus metrics,
//! and per-utterance caching when a corpus is added.
//!
//! The second and third corpora are real RAVDESS speech (actors 5-7) under
//! TESS and EmoDB file names, so each corpus adapter reads its own naming
//! rules and the models have real speech to learn from.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use common::{Workspace, ravdess};
use serde_json::Value;

/// RAVDESS emotion code -> (TESS word, EmoDB letter); calm and surprised
/// have no EmoDB letter.
fn names_for(code: &str) -> (Option<&'static str>, Option<char>) {
    match code {
        "01" => (Some("neutral"), Some('N')),
        "03" => (Some("happy"), Some('F')),
        "04" => (Some("sad"), Some('T')),
        "05" => (Some("angry"), Some('W')),
        "06" => (Some("fear"), Some('A')),
        "07" => (Some("disgust"), Some('E')),
        "08" => (Some("ps"), None),
        _ => (None, None),
    }
}

fn actor_files(actor: u32) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(ravdess().join(format!("Actor_{actor:02}")))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

fn emotion_code(path: &Path) -> String {
    path.file_stem()
        .unwrap()
        .to_string_lossy()
        .split('-')
        .nth(2)
        .unwrap()
        .to_string()
}

/// A TESS-named corpus from actors 5 (OAF) and 6 (YAF); returns its size.
fn make_tess(dir: &Path) -> usize {
    std::fs::create_dir_all(dir).unwrap();
    let mut n = 0;
    for (actor, speaker) in [(5, "OAF"), (6, "YAF")] {
        for (i, f) in actor_files(actor).iter().step_by(3).take(8).enumerate() {
            if let (Some(word), _) = names_for(&emotion_code(f)) {
                let name = format!("{speaker}_w{i:02}_{word}.flac");
                std::os::unix::fs::symlink(f, dir.join(name)).unwrap();
                n += 1;
            }
        }
    }
    n
}

/// An EmoDB-named corpus from actor 7 (speaker 03), plus one file named
/// as boredom (`L`), which the label set excludes. Returns the number of
/// files the label set keeps.
fn make_emodb(dir: &Path) -> usize {
    std::fs::create_dir_all(dir).unwrap();
    let files = actor_files(7);
    let mut n = 0;
    for (i, f) in files.iter().step_by(3).take(10).enumerate() {
        if let (_, Some(letter)) = names_for(&emotion_code(f)) {
            std::os::unix::fs::symlink(f, dir.join(format!("03a{i:02}{letter}a.flac"))).unwrap();
            n += 1;
        }
    }
    std::os::unix::fs::symlink(&files[1], dir.join("03b01La.flac")).unwrap();
    n
}

fn pipeline(corpora: &str, labels: &str) -> String {
    format!(
        "corpora:\n{corpora}\
         labels: {labels}\n\
         extract: {{n_mfcc: 20, functionals: [mean, std]}}\n\
         protocols:\n\
         \x20 cross: {{kind: cross_corpus, train: [ravdess], test: [tess]}}\n\
         \x20 loco: {{kind: leave_one_corpus_out}}\n\
         \x20 speakers: {{kind: speaker_kfold, k: 2}}\n\
         \x20 two: {{kind: folds_file, path: folds.json, key: two, corpus: ravdess}}\n\
         \x20 to_savee: {{kind: cross_corpus, train: [ravdess], test: [savee]}}\n\
         models:\n\
         \x20 lr: {{kind: logistic_regression, alpha: 1.0, max_iterations: 100}}\n\
         \x20 lr_corpus: {{kind: logistic_regression, alpha: 1.0, max_iterations: 100, normalize: corpus}}\n\
         \x20 mlp_corpus: {{kind: mlp, epochs: 2, hidden: 8, layers: 1, validation_speakers: 1, normalize: corpus}}\n\
         experiments:\n\
         \x20 - {{features: [mfcc], models: [lr, lr_corpus], protocols: [cross, loco, speakers, two, to_savee]}}\n\
         \x20 - {{features: [mfcc], models: [mlp_corpus], protocols: [loco]}}\n"
    )
}

const TWO: &str = "  - {name: ravdess, kind: ravdess, path: corpus}\n\
                   \x20 - {name: tess, kind: tess, path: tess}\n\
                   \x20 - {name: savee, kind: savee, path: no-such-folder, optional: true}\n";

fn metrics(ws: &Workspace) -> Vec<Value> {
    ws.ok(&["metrics", "--json"])
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn artifact(ws: &Workspace, pattern: &str, output: &str) -> Value {
    let listing = ws.ok(&["outputs", pattern]);
    let path = listing
        .lines()
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .find(|cols| cols.len() == 3 && cols[1] == output)
        .unwrap_or_else(|| panic!("no {output} of {pattern}: {listing}"))[2]
        .to_string();
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn corpora_run_cross_corpus_and_leave_one_corpus_out_with_per_corpus_metrics() {
    let ws = Workspace::new(6);
    let n_ravdess = ws.count_files("corpus");
    let n_tess = make_tess(&ws.path("tess"));
    let n_emodb = make_emodb(&ws.path("emodb"));
    assert!(n_tess >= 8 && n_emodb >= 4, "{n_tess} {n_emodb}");

    // A label map naming a label no corpus has is one error that names
    // every corpus and its labels.
    std::fs::write(
        ws.path("pipeline.yaml"),
        pipeline(TWO, "{map: {calm: neutral, boredom: null}}"),
    )
    .unwrap();
    let out = ws.ser(&["run"]);
    let text = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success());
    assert!(
        text.contains("labels.map names boredom that no corpus has"),
        "{text}"
    );
    assert!(
        text.contains("ravdess has ") && text.contains("tess has "),
        "{text}"
    );

    // Two corpora (the optional third is absent: a warning, not an error).
    std::fs::write(
        ws.path("pipeline.yaml"),
        pipeline(TWO, "{map: {calm: neutral}}"),
    )
    .unwrap();
    let log = ws.ok(&["run"]);
    assert!(log.contains("warning: corpus savee is left out"), "{log}");
    assert!(
        log.contains("warning: protocol to_savee is left out: cross_corpus.test: 'savee'"),
        "{log}"
    );
    assert_eq!(ws.count_files(".ser/items/ingest"), n_ravdess + n_tess);

    // Adding a corpus decodes and extracts only its files; the boredom
    // file is excluded by the label set, never decoded.
    let three = format!("{TWO}  - {{name: emodb, kind: emodb, path: emodb}}\n");
    std::fs::write(
        ws.path("pipeline.yaml"),
        pipeline(&three, "{map: {calm: neutral, boredom: null}}"),
    )
    .unwrap();
    let extract_before = ws.count_files(".ser/items/extract");
    ws.ok(&["run"]);
    assert_eq!(
        ws.count_files(".ser/items/ingest"),
        n_ravdess + n_tess + n_emodb
    );
    assert_eq!(
        ws.count_files(".ser/items/extract"),
        extract_before + n_emodb
    );
    let total = n_ravdess + n_tess + n_emodb;

    // Speakers are namespaced and every protocol is speaker-disjoint.
    let folds = artifact(&ws, "folds:speakers", "folds");
    let mut seen = BTreeSet::new();
    for fold in folds.as_array().unwrap() {
        for s in fold["test_speakers"].as_array().unwrap() {
            let s = s.as_str().unwrap();
            assert!(
                ["ravdess/", "tess/", "emodb/"]
                    .iter()
                    .any(|p| s.starts_with(p)),
                "{s}"
            );
            assert!(seen.insert(s.to_string()), "{s} tested twice");
        }
    }
    assert_eq!(seen.len(), 4 + 2 + 1);
    // cross_corpus: train on ravdess, test on tess, emodb on neither side.
    let cross = artifact(&ws, "folds:cross", "folds");
    assert_eq!(cross[0]["name"], "to_tess");
    assert_eq!(
        cross[0]["test_speakers"],
        serde_json::json!(["tess/OAF", "tess/YAF"])
    );
    assert_eq!(
        cross[0]["excluded_speakers"],
        serde_json::json!(["emodb/03"])
    );

    // A corpus's own folds file, scoped to it: the other corpora are on
    // neither side of its folds.
    let two = artifact(&ws, "folds:two", "folds");
    assert_eq!(
        two[0]["test_speakers"],
        serde_json::json!(["ravdess/01", "ravdess/02"])
    );
    assert_eq!(
        two[0]["excluded_speakers"],
        serde_json::json!(["emodb/03", "tess/OAF", "tess/YAF"])
    );

    let rows = metrics(&ws);
    assert!(!rows.iter().any(|r| r["protocol"] == "to_savee"));
    let two_rows = rows
        .iter()
        .find(|r| r["model"] == "lr" && r["protocol"] == "two" && r["test_corpus"].is_null())
        .unwrap();
    assert_eq!(two_rows["n_test"], n_ravdess);
    let find = |model: &str, protocol: &str, corpus: Option<&str>| -> &Value {
        rows.iter()
            .find(|r| {
                r["model"] == model
                    && r["protocol"] == protocol
                    && r["test_corpus"].as_str() == corpus
            })
            .unwrap_or_else(|| panic!("no row {model} {protocol} {corpus:?}: {rows:?}"))
    };
    for model in ["lr", "lr_corpus"] {
        // cross: only tess is tested.
        let overall = find(model, "cross", None);
        assert_eq!(overall["n_test"], n_tess);
        assert_eq!(find(model, "cross", Some("tess"))["n_test"], n_tess);
        assert!(!rows.iter().any(|r| r["model"] == model
            && r["protocol"] == "cross"
            && r["test_corpus"].as_str().is_some_and(|c| c != "tess")));
        // leave_one_corpus_out: every corpus tested once, per-corpus rows
        // add up to the whole, with intervals.
        assert_eq!(find(model, "loco", None)["n_test"], total);
        let per: BTreeMap<&str, u64> = ["ravdess", "tess", "emodb"]
            .iter()
            .map(|c| {
                let r = find(model, "loco", Some(c));
                let (ua, low, high) = (
                    r["ua"].as_f64().unwrap(),
                    r["ua_ci"][0].as_f64().unwrap(),
                    r["ua_ci"][1].as_f64().unwrap(),
                );
                assert!(low <= ua && ua <= high, "{r}");
                (*c, r["n_test"].as_u64().unwrap())
            })
            .collect();
        assert_eq!(per["ravdess"] as usize, n_ravdess);
        assert_eq!(per["tess"] as usize, n_tess);
        assert_eq!(per["emodb"] as usize, n_emodb);
    }
    // Corpus normalisation scales a test corpus by its own audio.
    assert_eq!(find("lr_corpus", "loco", None)["transductive"], true);
    assert_eq!(find("lr", "loco", None)["transductive"], false);
    // A network scales by corpus too, and is scored per corpus.
    assert_eq!(find("mlp_corpus", "loco", None)["transductive"], true);
    assert_eq!(find("mlp_corpus", "loco", Some("tess"))["n_test"], n_tess);
    // It changes what the model sees: the two models' UAs differ
    // somewhere.
    assert!(
        ["cross", "loco", "speakers"]
            .iter()
            .any(|p| { find("lr", p, None)["ua"] != find("lr_corpus", p, None)["ua"] }),
        "{rows:?}"
    );

    // Labels before and after, per corpus, with what was excluded.
    let inspect = ws.ok(&["corpus", "inspect", "-p", "pipeline.yaml"]);
    assert!(inspect.contains("calm -> neutral"), "{inspect}");
    assert!(inspect.contains("boredom -> excluded"), "{inspect}");
    assert!(
        inspect.contains("excluded 1: emodb: label boredom is mapped to null"),
        "{inspect}"
    );
    // And the report has the corpora section.
    ws.ok(&["report"]);
    let page = std::fs::read_to_string(ws.path("report/index.html")).unwrap();
    assert!(page.contains("<h2>Corpora</h2>"), "no corpora section");
    assert!(page.contains("Per test corpus"));
}

#[test]
fn corpus_protocols_are_checked_against_the_corpora() {
    let ws = Workspace::new(1);
    std::fs::write(
        ws.path("pipeline.yaml"),
        "corpus: {kind: ravdess, path: corpus}\n\
         protocols:\n  loco: {kind: leave_one_corpus_out}\n\
         models:\n  nb: {kind: gaussian_nb}\n\
         experiments: {features: [mfcc], models: [nb], protocols: [loco]}\n",
    )
    .unwrap();
    let out = ws.ser(&["status"]);
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        text.contains("protocols.loco: leave_one_corpus_out needs two corpora or more"),
        "{text}"
    );
    std::fs::write(
        ws.path("pipeline.yaml"),
        "corpora:\n  - {name: ravdess, kind: ravdess, path: corpus}\n  - {name: tess, kind: tess, path: corpus}\n\
         protocols:\n  x: {kind: cross_corpus, train: [ravdess], test: [crema]}\n\
         models:\n  nb: {kind: gaussian_nb}\n\
         experiments: {features: [mfcc], models: [nb], protocols: [x]}\n",
    )
    .unwrap();
    let out = ws.ser(&["status"]);
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains(
            "cross_corpus.test: 'crema' is not a corpus of the pipeline (corpora: ravdess, tess)"
        ),
        "{text}"
    );
}
