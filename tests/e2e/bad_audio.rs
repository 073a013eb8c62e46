//! Other people's audio, end to end: a RAVDESS-named folder of two actors'
//! good files in every format ingest takes, plus the debris real corpora
//! and team folders hold (empty, truncated, random bytes, text, silent,
//! near-silent, 10 ms, NaN samples, a bad name, an unknown emotion code, a
//! duplicate in a subfolder, a float file beyond full scale), through
//! `ser run` with eGeMAPS and acoustic functionals and two classic models
//! on speaker folds. Needs lame, oggenc and sox (scripts/setup.sh).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common;
use common::wav;

fn ravdess() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpora/ravdess")
}

fn tool(name: &str, args: &[&Path]) {
    let out = Command::new(name)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{name} ({e}): run scripts/setup.sh"));
    assert!(
        out.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

struct Corpus {
    dir: tempfile::TempDir,
    /// Ids (`Actor_NN/stem`) every feature table must hold.
    good: BTreeSet<String>,
    /// (path under corpus/, the words its reject reason must contain).
    bad: Vec<(String, &'static str)>,
}

impl Corpus {
    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn ser(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_ser"))
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("SER_CACHE_DIR")
            .output()
            .unwrap()
    }

    fn build() -> Corpus {
        let dir = tempfile::tempdir().unwrap();
        let mut corpus = Corpus {
            dir,
            good: BTreeSet::new(),
            bad: Vec::new(),
        };
        let root = corpus.path("corpus");
        let mut first_good: Option<(PathBuf, String)> = None;
        let mut a_signal: Vec<f32> = Vec::new();
        for actor in 1..=2 {
            let name = format!("Actor_{actor:02}");
            let folder = root.join(&name);
            std::fs::create_dir_all(&folder).unwrap();
            let mut files: Vec<PathBuf> = std::fs::read_dir(ravdess().join(&name))
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            files.sort();
            // Seven files per actor, every 8th spreads them over emotions;
            // one per format ingest takes, the last as float beyond full
            // scale.
            for (k, flac) in files.iter().step_by(8).take(7).enumerate() {
                let stem = flac.file_stem().unwrap().to_string_lossy().to_string();
                let decoded =
                    ser_ingest::decode::decode_bytes(&std::fs::read(flac).unwrap()).unwrap();
                let rate = decoded.sample_rate;
                let mono = decoded.into_mono();
                if a_signal.is_empty() {
                    // A second from the middle, where the actor speaks.
                    let mid = mono.len() / 2 - rate as usize / 2;
                    a_signal = mono[mid..mid + rate as usize].to_vec();
                }
                let pcm = folder.join(format!("{stem}.tmp.wav"));
                std::fs::write(&pcm, wav(&mono, rate, false)).unwrap();
                let out = |ext: &str| folder.join(format!("{stem}.{ext}"));
                match k {
                    0 => std::fs::copy(flac, out("flac")).map(|_| ()).unwrap(),
                    1 => std::fs::rename(&pcm, out("wav")).unwrap(),
                    2 => std::fs::write(out("wav"), wav(&mono, rate, true)).unwrap(),
                    3 => tool("lame", &[Path::new("--quiet"), &pcm, &out("mp3")]),
                    4 => tool(
                        "oggenc",
                        &[Path::new("-Q"), Path::new("-o"), &out("ogg"), &pcm],
                    ),
                    5 => tool("sox", &[&pcm, &out("aiff")]),
                    _ => {
                        let peak = mono.iter().fold(0f32, |m, x| m.max(x.abs()));
                        let loud: Vec<f32> = mono.iter().map(|x| x * 2.27 / peak).collect();
                        std::fs::write(out("wav"), wav(&loud, rate, true)).unwrap();
                    }
                }
                let _ = std::fs::remove_file(&pcm);
                let id = format!("{name}/{stem}");
                if first_good.is_none() {
                    first_good = Some((flac.clone(), id.clone()));
                }
                corpus.good.insert(id);
            }
        }

        // The debris. Stems with repetition 09 exist in no RAVDESS folder.
        let mut bad = |rel: &str, bytes: &[u8], why: &'static str| {
            let path = root.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bytes).unwrap();
            corpus.bad.push((rel.to_string(), why));
        };
        bad("Actor_01/03-01-01-01-01-09-01.wav", b"", "empty file");
        let flac = std::fs::read(&first_good.as_ref().unwrap().0).unwrap();
        bad(
            "Actor_01/03-01-02-01-01-09-01.flac",
            &flac[..flac.len() / 3],
            "truncated",
        );
        let random: Vec<u8> = (0..20_000u64)
            .map(|i| {
                (i.wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407)
                    >> 33) as u8
            })
            .collect();
        bad(
            "Actor_01/03-01-03-01-01-09-01.wav",
            &random,
            "not a recognised audio file",
        );
        bad(
            "Actor_02/03-01-04-01-01-09-02.wav",
            &b"minutes of the meeting, not audio\n".repeat(40),
            "not a recognised audio file",
        );
        bad(
            "Actor_02/03-01-05-01-01-09-02.wav",
            &wav(&vec![0.0; 3 * 16000], 16000, false),
            "silent: every sample is 0",
        );
        let hiss: Vec<f32> = a_signal.iter().map(|x| x * 1e-4).collect();
        bad(
            "Actor_02/03-01-06-01-01-09-02.wav",
            &wav(&hiss, 48000, true),
            "dBFS is below -60 dBFS",
        );
        bad(
            "Actor_01/03-01-07-01-01-09-01.wav",
            &wav(&a_signal[..480], 48000, false),
            "too short",
        );
        let mut nan = a_signal.clone();
        nan[1000] = f32::NAN;
        bad(
            "Actor_02/03-01-08-01-01-09-02.wav",
            &wav(&nan, 48000, true),
            "NaN",
        );
        bad(
            "Actor_01/recording (copy).wav",
            &wav(&a_signal, 48000, false),
            "RAVDESS naming",
        );
        bad(
            "Actor_02/03-01-09-01-01-09-02.wav",
            &wav(&a_signal, 48000, false),
            "emotion code 09",
        );
        let (source, id) = first_good.unwrap();
        let copy = format!(
            "Actor_01/copies/{}",
            source.file_name().unwrap().to_string_lossy()
        );
        let first_path = format!("{id}.flac");
        std::fs::create_dir_all(root.join("Actor_01/copies")).unwrap();
        std::fs::copy(&source, root.join(&copy)).unwrap();
        corpus
            .bad
            .push((copy, "duplicate: same content as Actor_01/"));
        assert!(first_path.starts_with("Actor_01/"));

        std::fs::write(
            corpus.path("folds.json"),
            r#"{"two": {"test_speakers": [[1], [2]]}}"#,
        )
        .unwrap();
        std::fs::write(
            corpus.path("pipeline.yaml"),
            "corpus: {kind: ravdess, path: corpus}\n\
             extract: {functionals: [mean, std, min, max, range]}\n\
             protocols:\n  speakers: {kind: folds_file, path: folds.json, key: two}\n\
             models:\n  lr: {kind: logistic_regression, alpha: 1.0, max_iterations: 100}\n  nb: {kind: gaussian_nb}\n\
             experiments: {features: [egemaps, acoustic], models: [lr, nb], protocols: [speakers]}\n",
        )
        .unwrap();
        corpus
    }

    /// The ids of one node's Parquet output.
    fn ids(&self, node: &str, output: &str) -> Vec<String> {
        let out = self.ser(&["outputs", node]);
        let listing = String::from_utf8_lossy(&out.stdout).to_string();
        let path = listing
            .lines()
            .map(|l| l.split('\t').collect::<Vec<_>>())
            .find(|cols| cols[0] == node && cols[1] == output)
            .unwrap_or_else(|| panic!("no {output} of {node}: {listing}"))[2]
            .to_string();
        let table =
            ser::artifact::parquet_read::from_parquet(std::fs::read(path).unwrap()).unwrap();
        if table.n_rows() == 0 {
            // An empty table reads back without its columns.
            return Vec::new();
        }
        table.utf8("id").unwrap()
    }
}

#[test]
fn bad_files_are_listed_once_and_every_good_file_reaches_every_feature_table() {
    let corpus = Corpus::build();
    let out = corpus.ser(&["run"]);
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{log}");
    assert!(out.status.success(), "ser run failed:\n{log}");
    assert!(!log.contains("failed;"), "{log}");

    // Every bad file on exactly one line, with its reason.
    for (path, why) in &corpus.bad {
        let lines: Vec<&str> = log.lines().filter(|l| l.contains(path.as_str())).collect();
        assert_eq!(lines.len(), 1, "{path} should be listed once:\n{log}");
        assert!(
            lines[0].contains(why),
            "{path}: no '{why}' in {:?}",
            lines[0]
        );
    }
    assert!(
        log.contains(&format!("{} file(s) rejected at ingest", corpus.bad.len())),
        "{log}"
    );
    assert!(
        log.contains("beyond full scale (peak up to 2.27"),
        "one warning for the float file beyond full scale:\n{log}"
    );
    assert_eq!(log.matches("beyond full scale").count(), 1, "{log}");

    // Every good file in the manifest and in every feature table, once;
    // the duplicate's copy nowhere.
    let manifest = corpus.ids("ingest", "manifest");
    assert_eq!(
        manifest.iter().cloned().collect::<BTreeSet<_>>(),
        corpus.good,
        "manifest"
    );
    assert_eq!(manifest.len(), corpus.good.len(), "no utterance twice");
    for set in ["extract:egemaps", "extract:acoustic"] {
        let ids = corpus.ids(set, "features");
        assert_eq!(ids.len(), corpus.good.len(), "{set}: one row per good file");
        assert_eq!(
            ids.into_iter().collect::<BTreeSet<_>>(),
            corpus.good,
            "{set}"
        );
        assert!(
            corpus.ids(set, "rejects").is_empty(),
            "{set}: nothing left to reject"
        );
    }
    // Every experiment ran and tested every good file once.
    for model in ["lr", "nb"] {
        for set in ["egemaps", "acoustic"] {
            let node = format!("train:{set}/none/{model}@speakers");
            let ids = corpus.ids(&node, "predictions");
            assert_eq!(ids.len(), corpus.good.len(), "{node}");
            assert_eq!(
                ids.into_iter().collect::<BTreeSet<_>>(),
                corpus.good,
                "{node}"
            );
        }
    }

    // The report lists every rejected file once, with its reason.
    let report = corpus.ser(&["report"]);
    assert!(
        report.status.success(),
        "{}",
        String::from_utf8_lossy(&report.stderr)
    );
    let html = std::fs::read_to_string(corpus.path("report/index.html")).unwrap();
    assert!(html.contains("<h2>Rejected inputs</h2>"));
    let readme = std::fs::read_to_string(corpus.path("report/README.md")).unwrap();
    for (path, _) in &corpus.bad {
        assert_eq!(
            html.matches(&format!("<code>{path}</code>")).count(),
            1,
            "{path}"
        );
        let md_path = path.replace('_', "\\_");
        assert_eq!(readme.matches(&md_path).count(), 1, "{path} in README.md");
    }

    let strict = corpus.ser(&["run", "--strict"]);
    assert!(!strict.status.success());
    let err = String::from_utf8_lossy(&strict.stderr);
    assert!(
        err.contains(&format!("--strict: {} file(s) rejected", corpus.bad.len())),
        "{err}"
    );
}

/// An utterance ingest takes but a feature set cannot (150 ms, while MFCC
/// deltas over 512-sample hops need 256 ms): every extract node of the
/// pipeline rejects it alike, `ser run` lists it once with the common set,
/// the models of both sets see the same utterances, and `--strict` fails.
#[test]
fn an_utterance_no_feature_set_can_take_is_rejected_at_extract_by_every_set() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("corpus");
    let mut good = BTreeSet::new();
    let mut short = None;
    for actor in 1..=2 {
        let name = format!("Actor_{actor:02}");
        std::fs::create_dir_all(root.join(&name)).unwrap();
        let mut files: Vec<PathBuf> = std::fs::read_dir(ravdess().join(&name))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for flac in files.iter().step_by(8).take(5) {
            let stem = flac.file_stem().unwrap().to_string_lossy().to_string();
            std::os::unix::fs::symlink(flac, root.join(&name).join(format!("{stem}.flac")))
                .unwrap();
            good.insert(format!("{name}/{stem}"));
            if short.is_none() {
                let decoded =
                    ser_ingest::decode::decode_bytes(&std::fs::read(flac).unwrap()).unwrap();
                let rate = decoded.sample_rate as usize;
                let mono = decoded.into_mono();
                let mid = mono.len() / 2;
                short = Some(wav(&mono[mid..mid + rate * 15 / 100], rate as u32, false));
            }
        }
    }
    let short_rel = "Actor_02/03-01-05-01-01-09-02.wav";
    std::fs::write(root.join(short_rel), short.unwrap()).unwrap();
    std::fs::write(
        dir.path().join("folds.json"),
        r#"{"two": {"test_speakers": [[1], [2]]}}"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("pipeline.yaml"),
        "corpus: {kind: ravdess, path: corpus}\n\
         extract: {n_mfcc: 13, hop_length: 512, deltas: 1, functionals: [mean, std]}\n\
         protocols:\n  speakers: {kind: folds_file, path: folds.json, key: two}\n\
         models:\n  nb: {kind: gaussian_nb}\n\
         experiments: {features: [egemaps, mfcc], models: [nb], protocols: [speakers]}\n",
    )
    .unwrap();
    let corpus = Corpus {
        dir,
        good: good.clone(),
        bad: Vec::new(),
    };
    let out = corpus.ser(&["run"]);
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{log}");
    assert!(out.status.success(), "ser run failed:\n{log}");
    let lines: Vec<&str> = log.lines().filter(|l| l.contains(short_rel)).collect();
    assert_eq!(lines.len(), 1, "listed once:\n{log}");
    assert!(
        lines[0].contains("signal too short: 2400 samples, under the 4096 every feature set needs"),
        "{}",
        lines[0]
    );
    assert!(
        log.contains("1 utterance(s) rejected at extract (by every feature set)"),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "common set: {} utterance(s) in every feature table (every feature set's models see the same utterances)",
            good.len()
        )),
        "{log}"
    );
    let manifest = corpus.ids("ingest", "manifest");
    assert_eq!(
        manifest.len(),
        good.len() + 1,
        "ingest takes the 150 ms file"
    );
    for set in ["egemaps", "mfcc"] {
        let node = format!("extract:{set}");
        let ids: BTreeSet<String> = corpus.ids(&node, "features").into_iter().collect();
        assert_eq!(ids, good, "{node}");
        assert_eq!(
            corpus.ids(&node, "rejects"),
            ["Actor_02/03-01-05-01-01-09-02"],
            "{node}"
        );
        let train = format!("train:{set}/none/nb@speakers");
        let ids: BTreeSet<String> = corpus.ids(&train, "predictions").into_iter().collect();
        assert_eq!(ids, good, "{train}");
    }
    let report = corpus.ser(&["report"]);
    assert!(report.status.success());
    let html = std::fs::read_to_string(corpus.path("report/index.html")).unwrap();
    assert!(
        html.contains(&format!(
            "<tr><td>extract</td><td><code>{short_rel}</code></td><td>too_short</td>"
        )),
        "the report lists it once, as every set's reject"
    );

    let strict = corpus.ser(&["run", "--strict"]);
    assert!(!strict.status.success());
    let err = String::from_utf8_lossy(&strict.stderr);
    assert!(err.contains("extract:"), "{err}");
    assert!(err.contains("--strict: 1 file(s) rejected"), "{err}");
}
