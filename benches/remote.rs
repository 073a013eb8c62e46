//! Remote benchmark: push and pull of one pipeline's cache, ser against
//! DVC 3 on the same files and the same S3 server, in one run.
//!
//! 1. A cache: eGeMAPS and acoustic functionals and eight classic models on
//!    RAVDESS actors 1-9 (540 utterances), three speaker folds (the cold
//!    run is timed: the target compares against it).
//! 2. ser: `ser push` to a loopback S3 server (moto) and to a folder;
//!    `ser pull --from` into an empty cache from each, then `ser run`
//!    (which must compute nothing).
//! 3. DVC 3 (`dvc[s3]`, in its own virtualenv made by
//!    `scripts/bench-deps.sh`): the same cache folder `dvc add`-ed, `dvc
//!    push` to the same server, then `dvc pull` in a fresh project. DVC's
//!    `add` (hashing into its own cache) is timed apart; ser needs none.
//!
//! Every timed step starts after `sync`. Targets (issue 29): pull + run on a fresh machine under 10% of the cold
//! run, and ser's pull at least 8x faster than DVC's.
//!
//! Run with `cargo bench --bench remote` (after `bash scripts/setup.sh` for
//! moto and `bash scripts/bench-deps.sh` for DVC; without DVC its rows are
//! skipped).

#[path = "../tests/e2e/common/s3.rs"]
mod s3;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

const PIPELINE: &str = "corpus: {kind: ravdess, path: corpus}
protocols:
  three: {kind: folds_file, path: folds.json, key: three}
models:
  logreg: {kind: logistic_regression, alpha: 1.0, max_iterations: 300}
  gnb: {kind: gaussian_nb}
  svm: {kind: svm, c: 1.0, class_weight: balanced}
  knn: {kind: knn, k: 11}
  rf: {kind: random_forest, n_trees: 100, seed: 0}
  xgb: {kind: xgboost, n_estimators: 100, max_depth: 4, learning_rate: 0.1, seed: 0}
  logreg_speaker: {kind: logistic_regression, alpha: 1.0, max_iterations: 300, normalize: speaker}
  svm_speaker: {kind: svm, c: 1.0, class_weight: balanced, normalize: speaker}
experiments:
  features: [egemaps, acoustic]
  models: [logreg, gnb, svm, knn, rf, xgb, logreg_speaker, svm_speaker]
  protocols: [three]
";

fn workspace(dir: &Path) {
    let ravdess = root().join("../shared/corpora/ravdess");
    for actor in 1..=9 {
        let name = format!("Actor_{actor:02}");
        let into = dir.join("corpus").join(&name);
        std::fs::create_dir_all(&into).unwrap();
        for file in std::fs::read_dir(ravdess.join(&name)).unwrap().flatten() {
            std::os::unix::fs::symlink(file.path(), into.join(file.file_name())).unwrap();
        }
    }
    std::fs::write(
        dir.join("folds.json"),
        r#"{"three": {"test_speakers": [[1, 2, 3], [4, 5, 6], [7, 8, 9]]}}"#,
    )
    .unwrap();
    std::fs::write(dir.join("pipeline.yaml"), PIPELINE).unwrap();
}

/// Run a command in `dir`; its wall time in seconds. The disk's pending
/// writes are flushed first, so no step pays for the previous one's
/// writeback (the same for ser and DVC).
fn timed(dir: &Path, program: &str, args: &[&str], env: &[(&str, String)]) -> (f64, String) {
    let _ = Command::new("sync").status();
    let started = Instant::now();
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("SER_NO_PROGRESS", "1")
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    let seconds = started.elapsed().as_secs_f64();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{program} {args:?} failed:\n{text}");
    (seconds, text)
}

fn ser(dir: &Path, args: &[&str], env: &[(&str, String)]) -> (f64, String) {
    timed(dir, env!("CARGO_BIN_EXE_ser"), args, env)
}

fn count(dir: &Path) -> (usize, u64) {
    let mut out = (0, 0);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.0 += 1;
                out.1 += e.metadata().map(|m| m.len()).unwrap_or(0);
            }
        }
    }
    out
}

fn row(what: &str, seconds: f64, files: usize, bytes: u64) {
    println!(
        "{what:<40} {seconds:8.2} s  {:9.0} files/s  {:8.1} MB/s",
        files as f64 / seconds,
        bytes as f64 / 1e6 / seconds
    );
}

fn main() {
    let work = tempfile::tempdir().unwrap();
    let alice = work.path().join("alice");
    std::fs::create_dir_all(&alice).unwrap();
    workspace(&alice);
    let (cold, _) = ser(&alice, &["run"], &[]);
    // The cache as a teammate would share it: what the pipeline references
    // (no temp files, no lock files, no remote indexes).
    let cache = alice.join(".ser");
    let _ = std::fs::remove_dir_all(cache.join("locks"));
    let (files, bytes) = count(&cache);
    println!(
        "remote benchmark: a cache of {files} files, {:.1} MB (eGeMAPS + acoustic, 8 models, 540 utterances)",
        bytes as f64 / 1e6
    );
    println!("cold run (computes the cache)            {cold:8.2} s");

    let server = s3::S3Server::start(&[]);
    server.create_bucket("ser");
    server.create_bucket("dvc");
    let env = server.env();

    let (push_s3, _) = ser(
        &alice,
        &["push", "--remote", "s3://ser/team", "--as", "a/b"],
        &env,
    );
    row("ser push, S3", push_s3, files, bytes);
    let bob = work.path().join("bob");
    std::fs::create_dir_all(&bob).unwrap();
    workspace(&bob);
    let (pull_s3, _) = ser(
        &bob,
        &["pull", "--remote", "s3://ser/team", "--from", "a/b"],
        &env,
    );
    row("ser pull, S3", pull_s3, files, bytes);
    let (run_after, log) = ser(&bob, &["run"], &[]);
    assert!(
        log.contains(" 0 node(s) ran,") || log.starts_with("0 node(s) ran,"),
        "a pulled cache computes nothing:\n{log}"
    );
    println!("ser run after the pull                   {run_after:8.2} s  (0 nodes ran)");

    let folder = work.path().join("folder-remote");
    let (push_dir, _) = ser(
        &alice,
        &["push", "--remote", folder.to_str().unwrap(), "--as", "a/b"],
        &[],
    );
    row("ser push, folder", push_dir, files, bytes);
    let carol = work.path().join("carol");
    std::fs::create_dir_all(&carol).unwrap();
    workspace(&carol);
    let (pull_dir, _) = ser(
        &carol,
        &[
            "pull",
            "--remote",
            folder.to_str().unwrap(),
            "--from",
            "a/b",
        ],
        &[],
    );
    row("ser pull, folder", pull_dir, files, bytes);

    let fresh_machine = pull_s3 + run_after;
    println!(
        "pull + run on a fresh machine: {fresh_machine:.2} s = {:.1}% of the cold run (target < 10%)",
        100.0 * fresh_machine / cold
    );

    let dvc: PathBuf = root().join("target/dvc-venv/bin/dvc");
    if !dvc.is_file() {
        println!(
            "DVC: {} not found (bash scripts/bench-deps.sh); DVC rows skipped",
            dvc.display()
        );
        return;
    }
    let dvc = dvc.to_str().unwrap();
    let project = work.path().join("dvc-project");
    std::fs::create_dir_all(&project).unwrap();
    // The same files, copied (DVC tracks a folder inside its project).
    let copy = Command::new("cp")
        .args([
            "-a",
            cache.to_str().unwrap(),
            project.join("cache").to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(copy.success());
    timed(&project, dvc, &["init", "--no-scm", "-q"], &env);
    timed(
        &project,
        dvc,
        &["remote", "add", "-d", "s3", "s3://dvc/team"],
        &env,
    );
    timed(
        &project,
        dvc,
        &["remote", "modify", "s3", "endpointurl", &server.endpoint()],
        &env,
    );
    let (dvc_add, _) = timed(&project, dvc, &["add", "-q", "cache"], &env);
    println!("dvc add (hash into DVC's cache)          {dvc_add:8.2} s");
    let (dvc_push, _) = timed(&project, dvc, &["push", "-q"], &env);
    row("dvc push, S3", dvc_push, files, bytes);
    let clone = work.path().join("dvc-clone");
    std::fs::create_dir_all(clone.join(".dvc")).unwrap();
    std::fs::copy(project.join(".dvc/config"), clone.join(".dvc/config")).unwrap();
    std::fs::copy(project.join("cache.dvc"), clone.join("cache.dvc")).unwrap();
    let (dvc_pull, _) = timed(&clone, dvc, &["pull", "-q"], &env);
    row("dvc pull, S3", dvc_pull, files, bytes);
    assert_eq!(
        count(&clone.join("cache")).0,
        files,
        "DVC pulled every file"
    );
    println!(
        "ratios, DVC / ser: push {:.1}x, pull {:.1}x (target >= 8x)",
        dvc_push / push_s3,
        dvc_pull / pull_s3
    );
}
