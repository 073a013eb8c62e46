//! `ser run`: bring every node of the pipeline up to date.

use std::collections::BTreeMap;

use crate::cache::LockMode;
use crate::commands::PipelineArgs;
use crate::commands::metrics::{Row, collect_rows, print_table};
use crate::dag::Graph;
use crate::progress::Progress;
use crate::scheduler::{self, Outcome};
use crate::stage::Context;
use crate::state::PipelineState;

pub fn run(args: &PipelineArgs, strict: bool) -> anyhow::Result<i32> {
    let (pipeline, cache) = args.load()?;
    let _lock = cache.lock(LockMode::Shared)?;
    cache.clear_tmp()?;
    let cache = args.with_read_through(&pipeline, cache);
    let graph = Graph::build(&pipeline);
    let state = PipelineState::load(&cache, &pipeline.id);
    let ctx = Context {
        cache,
        progress: Progress::for_terminal(),
        strict,
    };
    let started = std::time::Instant::now();
    let outcomes = scheduler::run(&graph, &ctx, &state);

    let (mut fresh, mut fetched, mut ran, mut failed) = (0, 0, 0, Vec::new());
    for (node, outcome) in graph.nodes.iter().zip(&outcomes) {
        match outcome {
            Outcome::Fresh(_) | Outcome::FreshOnRemote(_) => fresh += 1,
            Outcome::Fetched(_) => fetched += 1,
            Outcome::Ran { .. } => ran += 1,
            Outcome::Failed(e) => failed.push(format!("{}: {e}", node.name)),
            Outcome::Skipped { upstream } => {
                failed.push(format!("{}: skipped, {upstream} failed", node.name))
            }
            Outcome::Stale(_) => {}
        }
    }
    let remote_line = match ctx.cache.remote() {
        Some(r) if fetched > 0 || r.files.load(std::sync::atomic::Ordering::Relaxed) > 0 => format!(
            ", {fetched} from the remote ({} file(s), {:.1} MB read through)",
            r.files.load(std::sync::atomic::Ordering::Relaxed),
            r.bytes.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1e6
        ),
        _ => String::new(),
    };
    if let Some(record) = outcomes[0].record() {
        print_rejects(&record.outputs.summary);
        print_beyond_full_scale(&record.outputs.summary);
    }
    print_extract_rejects(&graph, &outcomes);
    let rows: Vec<Row> = collect_rows(&graph, &outcomes);
    if !rows.is_empty() {
        print_table(&rows);
    }
    eprintln!(
        "{ran} node(s) ran, {fresh} fresh{remote_line}, {} failed in {:.2}s (cache {})",
        failed.len(),
        started.elapsed().as_secs_f64(),
        ctx.cache.root().display()
    );
    publish(args, &pipeline, &ctx);
    if let Some(first) = failed.first() {
        anyhow::bail!("{} node(s) failed; first: {first}", failed.len());
    }
    Ok(0)
}

/// `cache.remote.write: true`: push what this run computed. A failed push
/// is one line; the run's results stand.
fn publish(args: &PipelineArgs, pipeline: &crate::config::Pipeline, ctx: &Context) {
    let Some(config) = args.remote_config(pipeline).filter(|c| c.write) else {
        return;
    };
    let name = config
        .name
        .clone()
        .unwrap_or_else(|| super::remote::default_state_name(pipeline));
    let pushed = crate::remote::Remote::open(&config).and_then(|remote| {
        // Listed again: a teammate may have pushed during the run.
        let mut index = crate::remote::RemoteIndex::load(
            &remote,
            &super::remote_index_dir(&ctx.cache, &config),
        )?;
        super::remote::push_state(pipeline, &ctx.cache, &remote, &mut index, &name, &ctx.progress)
    });
    if let Err(e) = pushed {
        eprintln!(
            "warning: cache.remote.write: {}; the run's results are in the local cache",
            format!("{e:#}").replace('\n', " ")
        );
    }
}

fn print_rejects(summary: &serde_json::Value) {
    let Some(rejects) = summary.get("rejects").and_then(|r| r.as_array()) else {
        return;
    };
    if rejects.is_empty() {
        return;
    }
    eprintln!("{} file(s) rejected at ingest:", rejects.len());
    for r in rejects.iter().take(20) {
        eprintln!(
            "  {}: {}",
            r["path"].as_str().unwrap_or("?"),
            r["reason"].as_str().unwrap_or("?")
        );
    }
    if rejects.len() > 20 {
        eprintln!(
            "  ... and {} more (ser corpus inspect lists all)",
            rejects.len() - 20
        );
    }
}

/// Float files whose samples exceed full scale: kept as decoded, said once.
fn print_beyond_full_scale(summary: &serde_json::Value) {
    let Some(loud) = summary
        .get("beyond_full_scale")
        .and_then(|r| r.as_array())
        .filter(|l| !l.is_empty())
    else {
        return;
    };
    let peak = loud
        .iter()
        .filter_map(|l| l["peak"].as_f64())
        .fold(0.0, f64::max);
    let first = loud[0]["path"].as_str().unwrap_or("?");
    eprintln!(
        "warning: {} file(s) have float samples beyond full scale (peak up to {peak:.2}, first {first}); kept as decoded",
        loud.len()
    );
}

/// Utterances the extract nodes rejected: those every feature set
/// rejected once, then any one set's own, and the common set the models
/// of every feature set see.
fn print_extract_rejects(graph: &Graph, outcomes: &[Outcome]) {
    // (path, reason) -> the extract nodes that rejected it.
    let mut rejected: BTreeMap<(String, String), Vec<&str>> = BTreeMap::new();
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for (node, outcome) in graph.nodes.iter().zip(outcomes) {
        if node.stage.stage() != "extract" {
            continue;
        }
        let Some(record) = outcome.record() else {
            continue;
        };
        let summary = &record.outputs.summary;
        counts.insert(&node.name, summary["utterances"].as_u64().unwrap_or(0));
        for r in summary["rejects"].as_array().into_iter().flatten() {
            let key = (
                r["path"].as_str().unwrap_or("?").to_string(),
                r["reason"].as_str().unwrap_or("?").to_string(),
            );
            rejected.entry(key).or_default().push(&node.name);
        }
    }
    let (every, own): (Vec<_>, Vec<_>) = rejected
        .iter()
        .partition(|(_, nodes)| nodes.len() == counts.len());
    if !every.is_empty() {
        eprintln!(
            "{} utterance(s) rejected at extract (by every feature set):",
            every.len()
        );
        for ((path, reason), _) in &every {
            eprintln!("  {path}: {reason}");
        }
    }
    if !own.is_empty() {
        eprintln!(
            "{} utterance(s) rejected by some feature sets only (their experiments test fewer utterances):",
            own.len()
        );
        for ((path, reason), nodes) in &own {
            eprintln!("  {path}: {reason} ({})", nodes.join(", "));
        }
    }
    if !rejected.is_empty()
        && let Some(&n) = counts.values().min()
    {
        eprintln!(
            "common set: {n} utterance(s) in every feature table{}",
            if own.is_empty() {
                " (every feature set's models see the same utterances)"
            } else {
                ""
            }
        );
    }
}
