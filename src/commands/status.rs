//! `ser status` and `ser dag`: what the pipeline is and what would run.

use crate::commands::PipelineArgs;
use crate::dag::Graph;
use crate::progress::Progress;
use crate::scheduler::{self, Outcome};
use crate::stage::Context;
use crate::state::PipelineState;

pub fn status(args: &PipelineArgs) -> anyhow::Result<i32> {
    let (pipeline, cache) = args.load()?;
    let _lock = cache.lock(crate::cache::LockMode::Shared)?;
    let cache = args.with_read_through(&pipeline, cache);
    let graph = Graph::build(&pipeline);
    let state = PipelineState::load(&cache, &pipeline.id);
    let ctx = Context {
        cache,
        progress: Progress::hidden(),
        strict: false,
        shard: None,
    };
    let outcomes = scheduler::status(&graph, &ctx, &state);
    let mut stale = 0;
    for (node, outcome) in graph.nodes.iter().zip(&outcomes) {
        let line = match outcome {
            Outcome::Fresh(_) => "fresh".to_string(),
            Outcome::FreshOnRemote(_) => "fresh on remote".to_string(),
            Outcome::Stale(reason) => {
                stale += 1;
                format!("stale ({reason})")
            }
            Outcome::Failed(e) => {
                stale += 1;
                format!("error ({e})")
            }
            Outcome::Skipped { upstream } => format!("blocked ({upstream} has an error)"),
            Outcome::Ran { .. } | Outcome::Fetched(_) | Outcome::Interrupted => {
                unreachable!("status runs nothing")
            }
        };
        outln!("{:<48} {line}", node.name)?;
    }
    eprintln!("{stale} of {} node(s) would run", graph.nodes.len());
    Ok(0)
}

pub fn dag(args: &PipelineArgs) -> anyhow::Result<i32> {
    let (pipeline, _cache) = args.load()?;
    out!("{}", Graph::build(&pipeline).render())?;
    Ok(0)
}

/// `ser status` and `ser dag`: the pipeline file and cache only.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

impl StatusArgs {
    pub fn status(&self) -> anyhow::Result<i32> {
        status(&self.pipeline)
    }

    pub fn dag(&self) -> anyhow::Result<i32> {
        dag(&self.pipeline)
    }
}
