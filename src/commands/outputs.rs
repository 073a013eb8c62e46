//! `ser outputs [PATTERN]`: where each node's latest artifacts are, so they
//! can be opened (pandas, polars, numpy) or handed to a teammate.

use crate::commands::PipelineArgs;
use crate::dag::Graph;
use crate::scheduler;
use crate::state::PipelineState;

pub fn outputs(args: &PipelineArgs, pattern: Option<&str>) -> anyhow::Result<i32> {
    let (pipeline, cache) = args.load()?;
    let _lock = cache.lock(crate::cache::LockMode::Shared)?;
    let graph = Graph::build(&pipeline);
    let state = PipelineState::load(&cache, &pipeline.id);
    let state = scheduler::with_cached_nodes(&graph, &cache, state);
    let mut shown = 0;
    for node in &graph.nodes {
        if pattern.is_some_and(|p| !node.name.contains(p)) {
            continue;
        }
        let Some(record) = state.record(&node.name) else {
            eprintln!("{}: not run yet", node.name);
            continue;
        };
        for (name, object) in &record.outputs.files {
            outln!(
                "{}\t{name}\t{}",
                node.name,
                cache.object_path(object).display()
            )?;
            shown += 1;
        }
    }
    Ok(if shown == 0 { 1 } else { 0 })
}

/// `ser outputs`.
#[derive(Debug, clap::Args)]
pub struct OutputsArgs {
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    pub pattern: Option<String>,
}

impl OutputsArgs {
    pub fn run(&self) -> anyhow::Result<i32> {
        outputs(&self.pipeline, self.pattern.as_deref())
    }
}
