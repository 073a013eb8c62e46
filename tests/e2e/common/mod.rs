//! Helpers shared by the end-to-end tests: a workspace on a slice of the
//! real RAVDESS corpus (../shared/corpora/ravdess, read in place through
//! symlinks) and the `ser` binary run in it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn ravdess() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpora/ravdess")
}

/// A test workspace: a corpus of `per_actor` files from each of actors 1-4
/// (symlinks to the shared FLACs), a two-fold protocol and a pipeline.
pub struct Workspace {
    pub dir: tempfile::TempDir,
}

impl Workspace {
    pub fn new(per_actor: usize) -> Workspace {
        let dir = tempfile::tempdir().unwrap();
        for actor in 1..=4 {
            let name = format!("Actor_{actor:02}");
            std::fs::create_dir_all(dir.path().join("corpus").join(&name)).unwrap();
            let mut files: Vec<PathBuf> = std::fs::read_dir(ravdess().join(&name))
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            files.sort();
            // Every 4th file spreads the slice over emotions.
            for f in files.iter().step_by(4).take(per_actor) {
                std::os::unix::fs::symlink(
                    f,
                    dir.path()
                        .join("corpus")
                        .join(&name)
                        .join(f.file_name().unwrap()),
                )
                .unwrap();
            }
        }
        std::fs::write(
            dir.path().join("folds.json"),
            r#"{"two": {"test_speakers": [[1, 2], [3, 4]]}}"#,
        )
        .unwrap();
        std::fs::write(
            dir.path().join("pipeline.yaml"),
            "corpus: {kind: ravdess, path: corpus}\n\
             extract: {n_mfcc: 20, functionals: [mean, std]}\n\
             protocols:\n  two: {kind: folds_file, path: folds.json, key: two}\n\
             models:\n  lr: {kind: logistic_regression, alpha: 1.0, max_iterations: 100}\n  nb: {kind: gaussian_nb}\n\
             experiments: {features: [mfcc, logmel], models: [lr, nb], protocols: [two]}\n",
        )
        .unwrap();
        Workspace { dir }
    }

    /// Replace pipeline.yaml: this workspace's corpus, MFCC functionals and
    /// two-fold protocol, then `rest` (models, experiments, ...).
    pub fn write_pipeline(&self, rest: &str) {
        std::fs::write(
            self.path("pipeline.yaml"),
            format!(
                "corpus: {{kind: ravdess, path: corpus}}\n\
                 extract: {{n_mfcc: 20, functionals: [mean, std]}}\n\
                 protocols:\n  two: {{kind: folds_file, path: folds.json, key: two}}\n{rest}"
            ),
        )
        .unwrap();
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ser"));
        cmd.args(args)
            .current_dir(self.dir.path())
            .env_remove("SER_CACHE_DIR")
            .env_remove("SER_REMOTE");
        cmd
    }

    pub fn ser(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.ser(args);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "ser {args:?} failed:\n{text}");
        text
    }

    pub fn count_files(&self, rel: &str) -> usize {
        walk(&self.path(rel))
    }
}

pub fn walk(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    if e.path().is_dir() {
                        walk(&e.path())
                    } else {
                        1
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

pub fn ran_nodes(log: &str) -> Vec<String> {
    log.lines()
        .map(|l| strip_timestamp(l).trim())
        .filter_map(|l| l.strip_prefix("run "))
        .map(|l| l.split(" (").next().unwrap().to_string())
        .collect()
}

pub mod s3;
pub mod slurm;

/// A headless log line without its leading RFC 3339 timestamp.
pub fn strip_timestamp(line: &str) -> &str {
    match line.split_once(' ') {
        Some((first, rest)) if first.len() == 20 && first.ends_with('Z') && first.contains('T') => {
            rest
        }
        _ => line,
    }
}

/// A mono WAV file: 16-bit PCM, or 32-bit float with `float`.
pub fn wav(samples: &[f32], rate: u32, float: bool) -> Vec<u8> {
    let (tag, bits): (u16, u16) = if float { (3, 32) } else { (1, 16) };
    let mut data = Vec::new();
    for &s in samples {
        if float {
            data.extend_from_slice(&s.to_le_bytes());
        } else {
            let q = (s * 32768.0).round().clamp(-32768.0, 32767.0) as i16;
            data.extend_from_slice(&q.to_le_bytes());
        }
    }
    let block = bits / 8;
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&tag.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * block as u32).to_le_bytes());
    out.extend_from_slice(&block.to_le_bytes());
    out.extend_from_slice(&bits.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend(data);
    out
}
