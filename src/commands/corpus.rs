//! `ser corpus inspect PATH`: what a corpus folder holds, by its naming
//! rules, and which files cannot be used (decoding every file).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use ser_ingest::CorpusKind;

use crate::progress::Progress;

pub fn inspect(path: &Path, kind: CorpusKind, sample_rate: u32) -> anyhow::Result<i32> {
    let report = ser_ingest::corpus::scan(kind, path)?;
    let bar = Progress::for_terminal().bar(report.utterances.len(), "decode");
    let decoded: Vec<Result<f64, String>> = report
        .utterances
        .par_iter()
        .map(|u| {
            let result = std::fs::read(&u.path)
                .map_err(|e| format!("cannot read file: {e}"))
                .and_then(|bytes| {
                    ser_ingest::load_signal(&bytes, sample_rate).map_err(|e| e.to_string())
                })
                .map(|s| s.duration_s());
            bar.inc(1);
            result
        })
        .collect();
    bar.finish_and_clear();

    let mut by_label: BTreeMap<&str, usize> = BTreeMap::new();
    let mut by_speaker: BTreeMap<&str, usize> = BTreeMap::new();
    let mut by_gender: BTreeMap<&str, usize> = BTreeMap::new();
    let mut rejects: Vec<(String, String)> = report
        .rejects
        .iter()
        .map(|r| (r.path.display().to_string(), r.reason.clone()))
        .collect();
    let mut seconds = 0.0;
    for (u, d) in report.utterances.iter().zip(&decoded) {
        match d {
            Ok(s) => {
                seconds += s;
                *by_label.entry(&u.label).or_default() += 1;
                *by_speaker.entry(&u.speaker).or_default() += 1;
                *by_gender
                    .entry(u.gender.map_or("unknown", |g| g.as_str()))
                    .or_default() += 1;
            }
            Err(reason) => rejects.push((u.path.display().to_string(), reason.clone())),
        }
    }
    let usable: usize = by_label.values().sum();
    println!(
        "corpus {} ({kind}): {usable} usable utterances, {:.1} min, {} rejected",
        path.display(),
        seconds / 60.0,
        rejects.len()
    );
    let show = |title: &str, counts: &BTreeMap<&str, usize>| {
        println!("{title}:");
        for (k, v) in counts {
            println!("  {k:<16} {v}");
        }
    };
    show("labels", &by_label);
    show("speakers", &by_speaker);
    show("gender", &by_gender);
    if !rejects.is_empty() {
        println!("rejects:");
        rejects.sort();
        for (p, r) in &rejects {
            println!("  {p}: {r}");
        }
    }
    Ok(0)
}

/// `ser corpus ...`.
#[derive(Debug, clap::Args)]
pub struct CorpusArgs {
    #[command(subcommand)]
    pub command: CorpusCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum CorpusCommand {
    /// Count utterances per label, speaker and gender, and list rejected files.
    Inspect {
        /// The corpus folder (for `--kind manifest`, the CSV file).
        path: PathBuf,
        /// Naming rules: ravdess, crema_d, tess, savee, emodb, manifest.
        #[arg(long, default_value = "ravdess")]
        kind: CorpusKind,
        /// Rate to resample to while checking decodes.
        #[arg(long, default_value_t = 16000)]
        sample_rate: u32,
    },
}

impl CorpusArgs {
    pub fn run(&self) -> anyhow::Result<i32> {
        match &self.command {
            CorpusCommand::Inspect {
                path,
                kind,
                sample_rate,
            } => inspect(path, *kind, *sample_rate),
        }
    }
}
