//! `ser worker`: one node of a pipeline, as a job of an executor (`ser run
//! --executor slurm` writes job scripts that call it). Hidden from `--help`:
//! users run `ser run`.
//!
//! Its dependencies must be in the cache already (their jobs ran first);
//! it never computes them. With `--shard i/n` it computes and caches only
//! that share of a per-item node's items, and leaves a marker so a rerun
//! can skip the shard; without, it records the node as `ser run` would.

use crate::cache::LockMode;
use crate::commands::{ConfigError, PipelineArgs};
use crate::dag::Graph;
use crate::executor::slurm::shard_marker;
use crate::progress::{LogFormat, Progress};
use crate::scheduler::{self, Outcome, Work};
use crate::stage::{Context, Shard};
use crate::state::PipelineState;

pub fn worker(
    args: &PipelineArgs,
    node: &str,
    shard: Option<Shard>,
    strict: bool,
) -> anyhow::Result<i32> {
    let (pipeline, cache) = args.load()?;
    let _lock = cache.lock(LockMode::Shared)?;
    crate::interrupt::install()?;
    let cache = args.with_read_through(&pipeline, cache);
    let graph = Graph::build(&pipeline);
    let i = graph
        .nodes
        .iter()
        .position(|n| n.name == node)
        .ok_or_else(|| {
            ConfigError(format!(
                "{} has no node '{node}' (`ser dag` lists them)",
                pipeline.file.display()
            ))
        })?;
    let state = PipelineState::load(&cache, &pipeline.id);
    let ctx = Context {
        cache,
        progress: Progress::for_run(LogFormat::Text, std::time::Duration::from_secs(30)),
        strict,
        shard,
    };
    let what = match shard {
        Some(s) => format!("{node} shard {s}"),
        None => node.to_string(),
    };
    let work = if shard.is_some() {
        Work::Shard
    } else {
        Work::Node
    };
    let outcome = scheduler::run_one(&graph, &ctx, &state, i, work);
    match (&outcome, shard) {
        (Outcome::Ran { record, .. }, Some(shard)) => {
            let marker = shard_marker(ctx.cache.root(), &record.fingerprint.key(), shard);
            if let Some(dir) = marker.parent() {
                ctx.cache.create_dirs(dir)?;
            }
            std::fs::write(&marker, record.outputs.summary.to_string())?;
            ctx.progress.println(&format!(
                "{what}: {} of {} item(s) cached in {:.2}s",
                record.outputs.summary["items"], record.outputs.summary["total"], record.seconds
            ));
            Ok(0)
        }
        (Outcome::Ran { record, reason }, None) => {
            ctx.progress
                .println(&format!("{what}: ran ({reason}) in {:.2}s", record.seconds));
            Ok(0)
        }
        (Outcome::Fresh(_), _) => {
            ctx.progress.println(&format!("{what}: already cached"));
            Ok(0)
        }
        (Outcome::Fetched(_), _) => {
            ctx.progress
                .println(&format!("{what}: fetched from the remote"));
            Ok(0)
        }
        (Outcome::Interrupted, _) => {
            let signal = crate::interrupt::requested().unwrap_or(15);
            ctx.progress.println(&format!(
                "{what}: stopped by a signal; finished items are cached"
            ));
            Ok(crate::interrupt::exit_code(signal))
        }
        (Outcome::Failed(e), _) => {
            ctx.progress.println(&format!("{what}: FAILED: {e}"));
            Ok(1)
        }
        (other, _) => {
            ctx.progress
                .println(&format!("{what}: not run ({})", other.describe()));
            Ok(1)
        }
    }
}

/// `ser worker`: one node of the pipeline, its dependencies read from the
/// cache (the job an executor submits).
#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    /// The node, as `ser dag` names it.
    #[arg(long)]
    pub node: String,
    /// Only this share of a per-item node's items (`i/n`, 0-based).
    #[arg(long)]
    pub shard: Option<Shard>,
    #[arg(long)]
    pub strict: bool,
}

impl WorkerArgs {
    pub fn run(&self) -> anyhow::Result<i32> {
        worker(&self.pipeline, &self.node, self.shard, self.strict)
    }
}
