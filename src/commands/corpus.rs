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
    outln!(
        "corpus {} ({kind}): {usable} usable utterances, {:.1} min, {} rejected",
        path.display(),
        seconds / 60.0,
        rejects.len()
    )?;
    let show = |title: &str, counts: &BTreeMap<&str, usize>| -> std::io::Result<()> {
        outln!("{title}:")?;
        for (k, v) in counts {
            outln!("  {k:<16} {v}")?;
        }
        Ok(())
    };
    show("labels", &by_label)?;
    show("speakers", &by_speaker)?;
    show("gender", &by_gender)?;
    if !rejects.is_empty() {
        outln!("rejects:")?;
        rejects.sort();
        for (p, r) in &rejects {
            outln!("  {p}: {r}")?;
        }
    }
    Ok(0)
}

/// `ser corpus inspect -p pipeline.yaml`: each corpus as [`inspect`] shows
/// it, then the labels of every corpus before and after the pipeline's
/// label set (`labels:`), with what was excluded and why.
pub fn inspect_pipeline(file: &Path) -> anyhow::Result<i32> {
    let pipeline = crate::config::Pipeline::load(file, &[])?;
    for (name, path) in pipeline.absent_corpora() {
        outln!(
            "corpus {name}: left out, {} does not exist (optional)",
            path.display()
        )?;
    }
    let sources = pipeline.corpus_sources();
    let spec = &pipeline.config.labels;
    let mut counts = ser_ingest::LabelCounts::default();
    let mut why: BTreeMap<String, usize> = BTreeMap::new();
    let mut have: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    for source in &sources {
        outln!("== {} ==", source.name)?;
        inspect(&source.root, source.kind, pipeline.config.sample_rate)?;
        let report = ser_ingest::corpus::scan(source.kind, &source.root)?;
        for u in &report.utterances {
            let fate = spec.apply(&u.label);
            if let ser_ingest::LabelFate::Exclude(reason) = &fate {
                *why.entry(format!("{}: {reason}", source.name)).or_default() += 1;
            }
            counts.count(&source.name, &u.label, &fate);
            have.entry(source.name.clone())
                .or_default()
                .insert(u.label.clone());
        }
    }
    if let Err(e) = spec.check(&have) {
        outln!("labels: {e}")?;
        return Ok(1);
    }
    outln!("labels before -> after the label set:")?;
    for (corpus, before) in &counts.before {
        outln!("  {corpus}")?;
        for (label, n) in before {
            let to = match spec.apply(label) {
                ser_ingest::LabelFate::Keep(to) if &to == label => label.clone(),
                ser_ingest::LabelFate::Keep(to) => format!("{label} -> {to}"),
                ser_ingest::LabelFate::Exclude(_) => format!("{label} -> excluded"),
            };
            outln!("    {to:<28} {n}")?;
        }
        let after = counts.after.get(corpus).cloned().unwrap_or_default();
        let kept: usize = after.values().sum();
        outln!(
            "    kept {kept}: {}",
            after
                .iter()
                .map(|(l, n)| format!("{l} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        )?;
    }
    for (reason, n) in &why {
        outln!("  excluded {n}: {reason}")?;
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
    /// Count utterances per label, speaker and gender, and list rejected
    /// files; with `-p pipeline.yaml` (and no PATH), every corpus of the
    /// pipeline, then each corpus's labels before and after its label set.
    Inspect {
        /// The corpus folder (for `--kind manifest`, the CSV file).
        #[arg(required_unless_present = "pipeline")]
        path: Option<PathBuf>,
        /// Inspect the corpora of this pipeline file instead of PATH.
        #[arg(short = 'p', long, conflicts_with = "path")]
        pipeline: Option<PathBuf>,
        /// Naming rules: ravdess, crema_d, tess, savee, emodb, manifest.
        #[arg(long, default_value = "ravdess")]
        kind: CorpusKind,
        /// Rate to resample to while checking decodes.
        #[arg(long, default_value_t = 16000)]
        sample_rate: u32,
    },
    /// Download a public corpus (or any archive) into a folder: resumable,
    /// verified, unpacked.
    Fetch(crate::fetch::FetchArgs),
}

impl CorpusArgs {
    pub fn run(&self) -> anyhow::Result<i32> {
        match &self.command {
            CorpusCommand::Inspect {
                path,
                pipeline,
                kind,
                sample_rate,
            } => match (path, pipeline) {
                (Some(path), _) => inspect(path, *kind, *sample_rate),
                (None, Some(file)) => inspect_pipeline(file),
                (None, None) => unreachable!("clap requires one"),
            },
            CorpusCommand::Fetch(args) => crate::fetch::run(args),
        }
    }
}
