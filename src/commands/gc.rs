//! `ser gc` and `ser clean`: drop what no pipeline uses.
//!
//! The roots are the last-run nodes of every pipeline that uses the cache
//! (`state/*/nodes.json`). Kept: their closure (records, the objects they
//! name, the per-item records they list; see [`crate::cache::closure`]),
//! and anything younger than the grace period (`--grace`, cache.gc_grace,
//! default 1 hour), which a run on another machine sharing the folder may
//! have just written. Everything else in `records/`, `items/` and
//! `objects/` is removed. gc holds the cache's exclusive lock, so it waits
//! for running `ser` processes and they wait for it.
//!
//! `ser gc --remote [URL]` collects the remote instead ([`crate::remote::gc`]);
//! `--dry-run` lists what either would delete.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cache::{Cache, LockMode, closure};
use crate::commands::PipelineArgs;
use crate::remote::{Remote, RemoteIndex, gc as remote_gc};
use crate::state::PipelineState;

/// `ser gc` options.
#[derive(Debug, Clone, clap::Args)]
pub struct GcOptions {
    /// List what would be deleted; delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Keep unreferenced files younger than this (e.g. 30m, 1h, 0s; default cache.gc_grace, else 1h).
    #[arg(long)]
    pub grace: Option<String>,
}

pub fn gc(args: &PipelineArgs, gc: &GcOptions) -> anyhow::Result<i32> {
    let (pipeline, cache) = args.load()?;
    let grace = match &gc.grace {
        Some(text) => humantime::parse_duration(text)
            .map_err(|e| anyhow::anyhow!("--grace {text}: {e} (say e.g. 30m, 1h, 0s)"))?,
        None => pipeline.config.cache.gc_grace()?,
    };
    if args.remote.is_some() {
        let config = args.remote_config(&pipeline).ok_or_else(no_remote)?;
        let remote = Remote::open(&config)?;
        let index = RemoteIndex::load(&remote, &super::remote_index_dir(&cache, &config))?;
        let report = remote_gc::collect(&remote, &index, grace, gc.dry_run)?;
        let bytes: u64 = report.deleted.iter().map(|(_, b)| b).sum();
        for (pack, size) in &report.deleted {
            if gc.dry_run {
                outln!(
                    "would delete packs/{pack}.pack ({:.1} MB)",
                    *size as f64 / 1e6
                )?;
            }
        }
        let repacked: u64 = report.repacked.iter().map(|(_, b)| b).sum();
        eprintln!(
            "{} {} pack(s), {:.1} MB, unreachable from {} pushed state(s), and {} {} pack(s) dropping {:.1} MB; kept {} live and {} younger than {}",
            if gc.dry_run {
                "would delete"
            } else {
                "deleted"
            },
            report.deleted.len(),
            bytes as f64 / 1e6,
            report.states,
            if gc.dry_run {
                "would repack"
            } else {
                "repacked"
            },
            report.repacked.len(),
            repacked as f64 / 1e6,
            report.live,
            report.young,
            humantime::format_duration(grace)
        );
        return Ok(0);
    }
    let _lock = cache.lock(LockMode::Exclusive)?;
    collect(&cache, grace, gc.dry_run)
}

pub fn no_remote() -> anyhow::Error {
    anyhow::anyhow!(
        "no remote: give --remote URL, set SER_REMOTE, or set cache.remote.url in the pipeline file"
    )
}

/// `ser clean`: forget this pipeline's runs, then collect; `--all` deletes
/// the whole cache folder.
pub fn clean(args: &PipelineArgs, all: bool) -> anyhow::Result<i32> {
    let (pipeline, cache) = args.load()?;
    let _lock = cache.lock(LockMode::Exclusive)?;
    if all {
        let root = cache.root().to_path_buf();
        std::fs::remove_dir_all(&root)?;
        eprintln!("removed {}", root.display());
        return Ok(0);
    }
    let state_dir = cache.state_dir(&pipeline.id);
    if state_dir.exists() {
        std::fs::remove_dir_all(&state_dir)?;
    }
    collect(&cache, Duration::ZERO, false)
}

fn collect(cache: &Cache, grace: Duration, dry_run: bool) -> anyhow::Result<i32> {
    cache.clear_tmp()?;
    let roots: Vec<(String, String)> = PipelineState::all(cache)
        .into_iter()
        .map(|n| (n.stage, n.key))
        .collect();
    let keep: HashSet<PathBuf> = closure::closure(&roots, &mut closure::local_reader(cache.root()))
        .into_iter()
        .map(|rel| cache.root().join(rel))
        .collect();
    let mut sweep = Sweep {
        keep: &keep,
        grace,
        dry_run,
        removed: 0,
        bytes: 0,
        young: 0,
    };
    for dir in ["records", "items", "objects", "locks"] {
        sweep.dir(&cache.root().join(dir))?;
    }
    eprintln!(
        "{} {} file(s), {:.1} MB; kept {} unreferenced file(s) younger than {}",
        if dry_run { "would remove" } else { "removed" },
        sweep.removed,
        sweep.bytes as f64 / 1e6,
        sweep.young,
        humantime::format_duration(grace)
    );
    Ok(0)
}

struct Sweep<'a> {
    keep: &'a HashSet<PathBuf>,
    grace: Duration,
    dry_run: bool,
    removed: usize,
    bytes: u64,
    young: usize,
}

impl Sweep<'_> {
    fn dir(&mut self, dir: &Path) -> std::io::Result<()> {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Ok(());
        };
        for entry in entries {
            let path = entry?.path();
            if path.is_dir() {
                self.dir(&path)?;
                continue;
            }
            if self.keep.contains(&path) {
                continue;
            }
            let meta = path.metadata()?;
            let age = meta.modified()?.elapsed().unwrap_or_default();
            if age < self.grace {
                self.young += 1;
                continue;
            }
            if self.dry_run {
                outln!("would remove {}", path.display())?;
            } else {
                std::fs::remove_file(&path)?;
            }
            self.removed += 1;
            self.bytes += meta.len();
        }
        Ok(())
    }
}

/// `ser gc`.
#[derive(Debug, clap::Args)]
pub struct GcArgs {
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    #[command(flatten)]
    pub options: GcOptions,
}

impl GcArgs {
    pub fn run(&self) -> anyhow::Result<i32> {
        gc(&self.pipeline, &self.options)
    }
}

/// `ser clean`.
#[derive(Debug, clap::Args)]
pub struct CleanArgs {
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    #[arg(long)]
    pub all: bool,
}

impl CleanArgs {
    pub fn run(&self) -> anyhow::Result<i32> {
        clean(&self.pipeline, self.all)
    }
}
