//! `ser run`: bring every node of the pipeline up to date.

use std::collections::BTreeMap;

use crate::cache::LockMode;
use crate::commands::PipelineArgs;
use crate::commands::metrics::{Row, collect_rows, print_table};
use crate::commands::runs::SummaryWriter;
use crate::commands::validation;
use crate::dag::Graph;
use crate::executor::ExecutorKind;
use crate::executor::slurm::WorkerCommand;
use crate::progress::{LogFormat, Progress};
use crate::scheduler::{self, Outcome};
use crate::stage::Context;
use crate::state::PipelineState;

/// `ser run`'s options beyond the pipeline's.
#[derive(Debug, Clone, clap::Args)]
pub struct RunOptions {
    /// Fail if any input file is rejected (default: list rejects and go on).
    #[arg(long)]
    pub strict: bool,
    /// `json`: one JSON object per event on stderr (run, done, failed, progress, summary).
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Without a terminal, print each long node's progress every this many seconds (0: never).
    #[arg(long, default_value_t = 30.0, value_name = "SECONDS")]
    pub progress_every: f64,
    /// After SIGINT/SIGTERM, wait this long for running nodes before exiting.
    #[arg(long, default_value_t = 30.0, value_name = "SECONDS")]
    pub stop_timeout: f64,
    /// Where stale nodes run: `local` (this process) or `slurm` (one job per
    /// node, job arrays for per-item stages; settings in executor.slurm).
    /// Default: executor.kind.
    #[arg(long, value_enum)]
    pub executor: Option<ExecutorKind>,
    /// After the run, print each experiment's UA on the speakers held out
    /// of its training folds instead of its test scores (as `ser metrics
    /// --validation`): for choosing between variants without seeing their
    /// test UAs.
    #[arg(long)]
    pub validation: bool,
}

pub fn run(args: &PipelineArgs, options: &RunOptions) -> anyhow::Result<i32> {
    let strict = options.strict;
    let (pipeline, cache) = args.load()?;
    let _lock = cache.lock(LockMode::Shared)?;
    cache.clear_tmp()?;
    crate::interrupt::install()?;
    let cache = args.with_read_through(&pipeline, cache);
    let graph = Graph::build(&pipeline);
    let state = PipelineState::load(&cache, &pipeline.id);
    let progress = Progress::for_run(
        options.log_format,
        std::time::Duration::from_secs_f64(options.progress_every.max(0.0)),
    );
    for caveat in pipeline.config.member_choice_caveats() {
        progress.println(&format!("warning: {caveat}"));
    }
    let ctx = Context {
        cache,
        progress: progress.clone(),
        strict,
        shard: None,
    };
    let summary = SummaryWriter {
        cache: ctx.cache.clone(),
        pipeline_id: pipeline.id.clone(),
        pipeline_file: pipeline.file.display().to_string(),
        node_names: graph.nodes.iter().map(|n| n.name.clone()).collect(),
        progress,
        started_at: std::time::SystemTime::now(),
        started: std::time::Instant::now(),
    };
    watch_for_stop(summary.clone(), options.stop_timeout);
    let started = std::time::Instant::now();
    let executor = options.executor.unwrap_or(pipeline.config.executor.kind);
    let outcomes = match executor {
        ExecutorKind::Local => scheduler::run(&graph, &ctx, &state),
        ExecutorKind::Slurm => crate::executor::slurm::run(
            &graph,
            &ctx,
            &state,
            &pipeline.config.executor.slurm,
            &worker_command(args, &pipeline, &ctx, strict)?,
        )?,
    };

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
            Outcome::Stale(_) | Outcome::Interrupted => {}
        }
    }
    let remote_line = match ctx.cache.remote() {
        Some(r) if fetched > 0 || r.files.load(std::sync::atomic::Ordering::Relaxed) > 0 => {
            format!(
                ", {fetched} from the remote ({} file(s), {:.1} MB read through)",
                r.files.load(std::sync::atomic::Ordering::Relaxed),
                r.bytes.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1e6
            )
        }
        _ => String::new(),
    };
    if let Some(record) = outcomes[0].record() {
        print_rejects(&ctx.progress, &record.outputs.summary);
        print_beyond_full_scale(&ctx.progress, &record.outputs.summary);
    }
    print_extract_rejects(&ctx.progress, &graph, &outcomes);
    // A reader that has gone (`ser run | head`) must not cost the run its
    // summary or its push: the table's error waits until they are done.
    let table = if options.validation {
        let rows = validation::collect(&graph, &ctx.cache, |i| outcomes[i].record().cloned());
        validation::print_table(&rows)
    } else {
        let rows: Vec<Row> = collect_rows(&graph, &outcomes);
        if rows.is_empty() {
            Ok(())
        } else {
            print_table(&rows)
        }
    };
    ctx.progress.println(&format!(
        "{ran} node(s) ran, {fresh} fresh{remote_line}, {} failed in {:.2}s (cache {})",
        failed.len(),
        started.elapsed().as_secs_f64(),
        ctx.cache.root().display()
    ));
    if let Some(signal) = crate::interrupt::requested() {
        let code = crate::interrupt::exit_code(signal);
        let path = summary.write(code, Some(signal_name(signal)))?;
        ctx.progress.emit(
            "summary",
            serde_json::json!({ "exit_code": code, "ran": ran, "fresh": fresh, "failed": failed.len(), "summary": path }),
            &format!(
                "stopped by {}: {ran} node(s) finished before it; the next run resumes from them (summary {})",
                signal_name(signal),
                path.display()
            ),
        );
        return Ok(code);
    }
    publish(args, &pipeline, &ctx);
    let code = if failed.is_empty() { 0 } else { 1 };
    let path = summary.write(code, None)?;
    ctx.progress.emit(
        "summary",
        serde_json::json!({ "exit_code": code, "ran": ran, "fresh": fresh, "fetched": fetched, "failed": failed.len(), "seconds": started.elapsed().as_secs_f64(), "summary": path }),
        &format!("summary in {}", path.display()),
    );
    if let Some(first) = failed.first() {
        anyhow::bail!("{} node(s) failed; first: {first}", failed.len());
    }
    table?;
    Ok(0)
}

/// How a Slurm job runs `ser worker` on this run's pipeline and cache:
/// this binary, absolute paths, and the same overrides.
fn worker_command(
    args: &PipelineArgs,
    pipeline: &crate::config::Pipeline,
    ctx: &Context,
    strict: bool,
) -> anyhow::Result<WorkerCommand> {
    let mut worker_args = vec![
        "-p".to_string(),
        pipeline.file.display().to_string(),
        "--cache-dir".to_string(),
        std::path::absolute(ctx.cache.root())?.display().to_string(),
    ];
    for o in &args.overrides {
        worker_args.push("--set".into());
        worker_args.push(o.clone());
    }
    if let Some(corpus) = &args.corpus {
        worker_args.push("--corpus".into());
        worker_args.push(std::path::absolute(corpus)?.display().to_string());
    }
    if let Some(shared) = args.shared {
        worker_args.push(format!(
            "--shared={}",
            match shared {
                crate::cache::Sharing::Private => "private",
                crate::cache::Sharing::Group => "group",
            }
        ));
    }
    if let Some(remote) = &args.remote {
        worker_args.push(format!("--remote={remote}"));
    }
    if strict {
        worker_args.push("--strict".into());
    }
    Ok(WorkerCommand {
        exe: std::env::current_exe()?,
        args: worker_args,
        cwd: std::env::current_dir()?,
    })
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        2 => "SIGINT",
        15 => "SIGTERM",
        _ => "a signal",
    }
}

/// After a stop signal: say so, give running nodes `timeout` seconds, then
/// write the summary and exit (the run's own end usually comes first).
fn watch_for_stop(summary: SummaryWriter, timeout: f64) {
    std::thread::Builder::new()
        .name("ser-stop".into())
        .spawn(move || {
            let signal = loop {
                if let Some(signal) = crate::interrupt::requested() {
                    break signal;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            };
            summary.progress.emit(
                "stopping",
                serde_json::json!({ "signal": signal_name(signal), "timeout_s": timeout }),
                &format!(
                    "{} received: starting no new node; running nodes have {timeout:.0}s (a second signal exits now)",
                    signal_name(signal)
                ),
            );
            std::thread::sleep(std::time::Duration::from_secs_f64(timeout.max(0.0)));
            let code = crate::interrupt::exit_code(signal);
            let written = summary.write(code, Some(signal_name(signal)));
            summary.progress.emit(
                "summary",
                serde_json::json!({ "exit_code": code, "timed_out": true }),
                &format!(
                    "stop timeout: exiting with running nodes unfinished (their finished items are cached){}",
                    written.map(|p| format!("; summary {}", p.display())).unwrap_or_default()
                ),
            );
            std::process::exit(code);
        })
        .expect("spawn the stop watchdog");
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
        super::remote::push_state(
            pipeline,
            &ctx.cache,
            &remote,
            &mut index,
            &name,
            &ctx.progress,
        )
    });
    if let Err(e) = pushed {
        ctx.progress.println(&format!(
            "warning: cache.remote.write: {}; the run's results are in the local cache",
            format!("{e:#}").replace('\n', " ")
        ));
    }
}

fn print_rejects(out: &Progress, summary: &serde_json::Value) {
    let Some(rejects) = summary.get("rejects").and_then(|r| r.as_array()) else {
        return;
    };
    if rejects.is_empty() {
        return;
    }
    out.println(&format!("{} file(s) rejected at ingest:", rejects.len()));
    for r in rejects.iter().take(20) {
        out.println(&format!(
            "  {}: {}",
            r["path"].as_str().unwrap_or("?"),
            r["reason"].as_str().unwrap_or("?")
        ));
    }
    if rejects.len() > 20 {
        out.println(&format!(
            "  ... and {} more (ser corpus inspect lists all)",
            rejects.len() - 20
        ));
    }
}

/// Float files whose samples exceed full scale: kept as decoded, said once.
fn print_beyond_full_scale(out: &Progress, summary: &serde_json::Value) {
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
    out.println(&format!(
        "warning: {} file(s) have float samples beyond full scale (peak up to {peak:.2}, first {first}); kept as decoded",
        loud.len()
    ));
}

/// Utterances the extract nodes rejected: those every feature set
/// rejected once, then any one set's own, and the common set the models
/// of every feature set see.
fn print_extract_rejects(out: &Progress, graph: &Graph, outcomes: &[Outcome]) {
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
        out.println(&format!(
            "{} utterance(s) rejected at extract (by every feature set):",
            every.len()
        ));
        for ((path, reason), _) in &every {
            out.println(&format!("  {path}: {reason}"));
        }
    }
    if !own.is_empty() {
        out.println(&format!(
            "{} utterance(s) rejected by some feature sets only (their experiments test fewer utterances):",
            own.len()
        ));
        for ((path, reason), nodes) in &own {
            out.println(&format!("  {path}: {reason} ({})", nodes.join(", ")));
        }
    }
    if !rejected.is_empty()
        && let Some(&n) = counts.values().min()
    {
        out.println(&format!(
            "common set: {n} utterance(s) in every feature table{}",
            if own.is_empty() {
                " (every feature set's models see the same utterances)"
            } else {
                ""
            }
        ));
    }
}

/// `ser run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    #[command(flatten)]
    pub options: RunOptions,
}

impl RunArgs {
    pub fn run(&self) -> anyhow::Result<i32> {
        run(&self.pipeline, &self.options)
    }
}
