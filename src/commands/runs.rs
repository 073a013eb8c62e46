//! Run summaries: `state/<pipeline>/runs/<timestamp>-<pid>.json`, written
//! at the end of every `ser run` (and by the stop watchdog when a signal
//! cuts it short), and `ser runs` to read them.
//!
//! A summary says when the run started and ended, how it exited, on which
//! host with how many threads and which ser, its peak memory, and every
//! node's outcome (`ran`, `fresh`, `fetched`, `failed` with its error,
//! `skipped`, `not_started`, `running` when the run was stopped) with its
//! reason and duration.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Instant, SystemTime};

use serde::{Deserialize, Serialize};

use crate::cache::{Cache, LockMode};
use crate::commands::PipelineArgs;
use crate::progress::Progress;

/// The file's content.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunSummary {
    pub format: u32,
    pub pipeline_file: String,
    pub started_at: String,
    pub finished_at: String,
    pub seconds: f64,
    /// 0 all ok, 1 some node failed, 130/143 interrupted by SIGINT/SIGTERM.
    pub exit_code: i32,
    #[serde(default)]
    pub interrupted: Option<String>,
    pub host: String,
    pub pid: u32,
    pub threads: usize,
    pub ser_version: String,
    /// Peak resident memory of the process (VmHWM), MiB.
    pub peak_rss_mib: Option<f64>,
    pub counts: BTreeMap<String, usize>,
    pub nodes: BTreeMap<String, serde_json::Value>,
}

/// What the writer needs to know from the start of the run.
#[derive(Clone)]
pub struct SummaryWriter {
    pub cache: Cache,
    pub pipeline_id: String,
    pub pipeline_file: String,
    pub node_names: Vec<String>,
    pub progress: Progress,
    pub started_at: SystemTime,
    pub started: Instant,
}

impl SummaryWriter {
    /// Write the summary now; returns its path.
    pub fn write(&self, exit_code: i32, interrupted: Option<&str>) -> anyhow::Result<PathBuf> {
        let logged = self.progress.nodes();
        let mut nodes = BTreeMap::new();
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for name in &self.node_names {
            let value = match logged.get(name) {
                Some(log) => serde_json::to_value(log)?,
                None => serde_json::json!({ "outcome": "not_started", "seconds": 0.0 }),
            };
            let outcome = value["outcome"].as_str().unwrap_or("?").to_string();
            *counts.entry(outcome).or_default() += 1;
            nodes.insert(name.clone(), value);
        }
        let summary = RunSummary {
            format: 1,
            pipeline_file: self.pipeline_file.clone(),
            started_at: humantime::format_rfc3339_seconds(self.started_at).to_string(),
            finished_at: crate::progress::timestamp(),
            seconds: self.started.elapsed().as_secs_f64(),
            exit_code,
            interrupted: interrupted.map(str::to_string),
            host: std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_string())
                .unwrap_or_default(),
            pid: std::process::id(),
            threads: rayon::current_num_threads(),
            ser_version: env!("CARGO_PKG_VERSION").to_string(),
            peak_rss_mib: peak_rss_mib(),
            counts,
            nodes,
        };
        let stamp = humantime::format_rfc3339_seconds(self.started_at)
            .to_string()
            .replace(':', "");
        let path = self
            .cache
            .state_dir(&self.pipeline_id)
            .join("runs")
            .join(format!("{stamp}-{}.json", std::process::id()));
        self.cache
            .write_atomic(&path, &serde_json::to_vec_pretty(&summary)?)?;
        Ok(path)
    }
}

/// Peak resident memory, from /proc (Linux).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// `ser runs`: this pipeline's runs, newest last; `--last` prints the
/// newest in full (JSON).
pub fn runs(args: &PipelineArgs, last: bool) -> anyhow::Result<i32> {
    let (pipeline, cache) = args.load()?;
    let _lock = cache.lock(LockMode::Shared)?;
    let dir = cache.state_dir(&pipeline.id).join("runs");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    if files.is_empty() {
        eprintln!(
            "no runs of {} in {}",
            pipeline.file.display(),
            cache.root().display()
        );
        return Ok(0);
    }
    if last {
        let path = files.last().expect("not empty");
        out!("{}", std::fs::read_to_string(path)?)?;
        outln!()?;
        return Ok(0);
    }
    outln!(
        "{:<22} {:>9} {:>5} {:>5} {:>5} {:>6} {:>6}  file",
        "started",
        "seconds",
        "exit",
        "ran",
        "fresh",
        "failed",
        "peak"
    )?;
    for path in files {
        let Ok(summary) = serde_json::from_slice::<RunSummary>(&std::fs::read(&path)?) else {
            continue;
        };
        let count = |k: &str| summary.counts.get(k).copied().unwrap_or(0);
        outln!(
            "{:<22} {:>9.1} {:>5} {:>5} {:>5} {:>6} {:>5.0}M  {}",
            summary.started_at,
            summary.seconds,
            summary.exit_code,
            count("ran"),
            count("fresh") + count("fetched"),
            count("failed"),
            summary.peak_rss_mib.unwrap_or(0.0),
            path.display()
        )?;
    }
    Ok(0)
}

/// `ser runs`.
#[derive(Debug, clap::Args)]
pub struct RunsArgs {
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    /// Print the newest run's summary in full (JSON).
    #[arg(long)]
    pub last: bool,
}

impl RunsArgs {
    pub fn run(&self) -> anyhow::Result<i32> {
        runs(&self.pipeline, self.last)
    }
}
