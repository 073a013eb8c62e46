//! `ser outputs [PATTERN]`: where each node's latest artifacts are, so they
//! can be opened (pandas, polars, numpy) or handed to a teammate.

use crate::commands::PipelineArgs;
use crate::dag::Graph;
use crate::progress::Progress;
use crate::scheduler::{self, Outcome};
use crate::stage::{Context, NodeRecord};
use crate::state::PipelineState;

pub fn outputs(args: &PipelineArgs, pattern: Option<&str>) -> anyhow::Result<i32> {
    let (pipeline, cache) = args.load()?;
    let _lock = cache.lock(crate::cache::LockMode::Shared)?;
    let graph = Graph::build(&pipeline);
    let state = PipelineState::load(&cache, &pipeline.id);
    let ctx = Context {
        cache,
        progress: Progress::hidden(),
        strict: false,
        shard: None,
    };
    // A node this pipeline (with these --set values) never ran may still be
    // cached under its key by another pipeline's run, as `ser status` says
    // "fresh": its current record, found as status finds it.
    let mut current: Option<Vec<Outcome>> = None;
    let mut shown = 0;
    for (i, node) in graph.nodes.iter().enumerate() {
        if pattern.is_some_and(|p| !node.name.contains(p)) {
            continue;
        }
        let latest: Option<NodeRecord> = state.get(&node.name).and_then(|s| {
            ctx.cache
                .read_json(&ctx.cache.node_record_path(&s.stage, &s.key))
        });
        let record = latest.or_else(|| {
            let outcomes = current.get_or_insert_with(|| scheduler::status(&graph, &ctx, &state));
            match &outcomes[i] {
                Outcome::Fresh(record) => Some(record.clone()),
                _ => None,
            }
        });
        let Some(record) = record else {
            eprintln!("{}: not run yet", node.name);
            continue;
        };
        for (name, object) in &record.outputs.files {
            println!(
                "{}\t{name}\t{}",
                node.name,
                ctx.cache.object_path(object).display()
            );
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
