//! The Slurm executor's driver: `ser run --executor slurm`.
//!
//! 1. The driver looks at the graph as `ser status` would. Fresh nodes stay
//!    as they are; every other node becomes a job that runs `ser worker
//!    --node NAME` on the same cache folder, after its stale dependencies'
//!    jobs (`--dependency=afterok:`). A per-item node (ingest, augment,
//!    extract) becomes an array of `ser worker --shard i/n` tasks, each
//!    computing and caching its share of the items, and then one job that
//!    assembles the node from the cached items.
//! 2. It waits, looking at `squeue` with back-off, and reads each job's end
//!    from the exit file the job script writes (no accounting storage is
//!    needed). A failed job's log path and last lines are shown, and the
//!    jobs that depend on it are cancelled.
//! 3. At the end it reads every node's record from the cache, so the
//!    table and the summary are those of a local run.
//!
//! A shard that finished leaves a marker under `slurm/shards/<node key>/`;
//! when the node's inputs are already cached (so its key is known), a rerun
//! submits only the shards without one. SIGINT/SIGTERM cancels the jobs
//! (`scancel`). Job scripts, logs and exit files are under
//! `<cache>/slurm/runs/<run>/`, which every job must see: the cache folder
//! is on a file system the cluster's nodes share.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::json;

use super::SlurmConfig;
use super::slurm_client::{self, JobRequest, compact_ranges};
use crate::dag::Graph;
use crate::fingerprint::DirtyReason;
use crate::scheduler::{self, Outcome};
use crate::stage::{Context, NodeRecord, Shard};
use crate::state::PipelineState;

/// How a job starts `ser worker`: the binary, the arguments that select
/// the same pipeline and cache as the driver's, and the working folder.
#[derive(Debug, Clone)]
pub struct WorkerCommand {
    pub exe: PathBuf,
    pub args: Vec<String>,
    pub cwd: PathBuf,
}

/// Where a finished shard leaves its marker (a rerun skips it).
pub fn shard_marker(cache_root: &Path, node_key: &str, shard: Shard) -> PathBuf {
    cache_root
        .join("slurm/shards")
        .join(node_key)
        .join(shard.count.to_string())
        .join(format!("{}.done", shard.index))
}

#[derive(Debug, Clone, PartialEq)]
enum JobRole {
    /// One task of a per-item node's array.
    Task(usize),
    /// The job that records the node (after its array, if any).
    Node,
}

#[derive(Debug)]
struct Job {
    /// `12`, or `12_3` for an array task.
    id: String,
    node: usize,
    role: JobRole,
    log: PathBuf,
    running: bool,
    /// Polls the job has been out of the active queue without an exit file.
    gone: u32,
    ended: Option<End>,
}

/// How a job ended.
#[derive(Debug, Clone)]
enum End {
    Ok,
    /// Its `ser worker` exited with this code.
    Exit(i32),
    /// No exit file: cancelled, killed, out of time (the queue's words).
    NoStatus(String),
}

/// Per stale node: the ids to cancel, and its final job.
#[derive(Debug, Default)]
struct NodeJobs {
    cancel: Vec<String>,
    tasks: usize,
    tasks_done: usize,
    started: bool,
}

pub fn run(
    graph: &Graph,
    ctx: &Context,
    state: &PipelineState,
    config: &SlurmConfig,
    worker: &WorkerCommand,
) -> anyhow::Result<Vec<Outcome>> {
    let before = scheduler::status(graph, ctx, state);
    let n = graph.nodes.len();
    let run_dir = ctx.cache.root().join("slurm/runs").join(format!(
        "{}-{}",
        chrono_stamp(),
        std::process::id()
    ));
    // Made when the first job is submitted, so a run with nothing stale
    // leaves no folder behind.
    let mut run_dir_made = false;
    let items_hint = graph
        .nodes
        .iter()
        .find_map(|node| node.stage.items_hint())
        .unwrap_or(0);

    // Submit, in graph order (dependencies first).
    let mut jobs: Vec<Job> = Vec::new();
    let mut node_jobs: BTreeMap<usize, NodeJobs> = BTreeMap::new();
    let mut final_job: BTreeMap<usize, String> = BTreeMap::new();
    let mut outcomes: Vec<Option<Outcome>> = vec![None; n];
    let mut submit_failed = false;
    for (i, node) in graph.nodes.iter().enumerate() {
        match &before[i] {
            Outcome::Fresh(_) => {
                outcomes[i] = Some(before[i].clone());
                continue;
            }
            Outcome::Failed(e) => {
                ctx.progress.node_finished(&node.name, "failed", Some(e));
                outcomes[i] = Some(before[i].clone());
                continue;
            }
            _ => {}
        }
        if let Some((_, d)) = node.deps.iter().find(|(_, d)| {
            matches!(
                outcomes[*d],
                Some(Outcome::Failed(_) | Outcome::Skipped { .. })
            )
        }) {
            let upstream = graph.nodes[*d].name.clone();
            ctx.progress
                .node_finished(&node.name, "skipped", Some(&format!("{upstream} failed")));
            outcomes[i] = Some(Outcome::Skipped { upstream });
            continue;
        }
        if submit_failed {
            ctx.progress.node_finished(&node.name, "not_started", None);
            outcomes[i] = Some(Outcome::Interrupted);
            continue;
        }
        if !run_dir_made {
            for sub in ["scripts", "logs", "exit"] {
                ctx.cache
                    .create_dirs(&run_dir.join(sub))
                    .with_context(|| format!("creating {}", run_dir.join(sub).display()))?;
            }
            run_dir_made = true;
        }
        match submit_node(
            graph, ctx, &before, i, config, worker, &run_dir, items_hint, &final_job,
        ) {
            Ok((node_jobs_i, submitted, final_id)) => {
                final_job.insert(i, final_id);
                node_jobs.insert(i, node_jobs_i);
                jobs.extend(submitted);
            }
            Err(e) => {
                // Nothing more is submitted; what was is cancelled below.
                ctx.progress
                    .node_finished(&node.name, "failed", Some(&format!("{e:#}")));
                outcomes[i] = Some(Outcome::Failed(format!("{e:#}")));
                submit_failed = true;
            }
        }
    }
    if submit_failed {
        cancel_all(ctx, &node_jobs);
        for i in node_jobs.keys() {
            ctx.progress
                .node_finished(&graph.nodes[*i].name, "not_started", None);
            outcomes[*i] = Some(Outcome::Interrupted);
        }
        return Ok(outcomes
            .into_iter()
            .map(|o| o.unwrap_or(Outcome::Interrupted))
            .collect());
    }
    if !jobs.is_empty() {
        ctx.progress.emit(
            "slurm",
            json!({ "jobs": jobs.len(), "nodes": node_jobs.len(), "dir": run_dir }),
            &format!(
                "{:>9} {} node(s) as {} Slurm job(s) and task(s); scripts and logs in {}",
                "slurm",
                node_jobs.len(),
                jobs.len(),
                run_dir.display()
            ),
        );
    }

    // Wait for every job to end.
    let mut failed: BTreeMap<usize, String> = BTreeMap::new();
    // Nodes whose `done` line is out (their job ended well).
    let mut announced: BTreeSet<usize> = BTreeSet::new();
    // Nodes whose jobs Slurm cancelled after an upstream failure.
    let mut silenced: BTreeSet<usize> = BTreeSet::new();
    // Ended jobs to judge once their upstream has ended.
    let mut deferred: Vec<usize> = Vec::new();
    let mut wait = Duration::from_millis(500);
    let max_wait = Duration::from_secs_f64(config.poll_max_seconds.max(0.5));
    let mut queue_errors = 0;
    let mut interrupted = false;
    while jobs.iter().any(|j| j.ended.is_none()) || !deferred.is_empty() {
        if crate::interrupt::requested().is_some() {
            interrupted = true;
            break;
        }
        let queue = match slurm_client::queue() {
            Ok(q) => {
                queue_errors = 0;
                q
            }
            Err(e) => {
                queue_errors += 1;
                if queue_errors >= 10 {
                    ctx.progress.println(&format!(
                        "error: squeue failed {queue_errors} times in a row ({e:#}); cancelling the jobs"
                    ));
                    interrupted = true;
                    break;
                }
                sleep_unless_stopped(wait);
                continue;
            }
        };
        let mut changed = false;
        let mut newly_ended = Vec::new();
        for (index, job) in jobs
            .iter_mut()
            .enumerate()
            .filter(|(_, j)| j.ended.is_none())
        {
            let state = queue.get(&job.id).map(String::as_str);
            if state == Some("RUNNING") && !job.running {
                job.running = true;
                changed = true;
                let jobs_of = node_jobs.get_mut(&job.node).expect("submitted node");
                if !std::mem::replace(&mut jobs_of.started, true) {
                    ctx.progress.node_started(
                        &graph.nodes[job.node].name,
                        &format!("{}; Slurm job {}", reason_of(&before[job.node]), job.id),
                    );
                }
            }
            if let Some(code) = read_exit(&run_dir, &job.id) {
                job.ended = Some(if code == 0 { End::Ok } else { End::Exit(code) });
            } else if !state.is_some_and(slurm_client::is_active) {
                // The exit file is written before the job leaves the
                // queue; allow a shared file system a moment to show it.
                job.gone += 1;
                if job.gone >= 3 {
                    job.ended = Some(End::NoStatus(match state {
                        Some("CANCELLED") => {
                            "cancelled (by scancel, or a dependency failed)".into()
                        }
                        Some(s) => format!(
                            "ended {s} without an exit status (killed, out of time or memory?)"
                        ),
                        None => "left the queue without an exit status (killed?)".into(),
                    }));
                }
            }
            if job.ended.is_some() {
                newly_ended.push(index);
            }
        }
        changed |= !newly_ended.is_empty();
        // Ancestors first, and a node's tasks before its own job, so a
        // failure is known before the cancellations it causes.
        let mut to_handle = newly_ended;
        to_handle.append(&mut deferred);
        to_handle.sort_by_key(|&k| (jobs[k].node, jobs[k].role == JobRole::Node));
        for index in to_handle {
            let job = &jobs[index];
            let Some(ended) = &job.ended else { continue };
            let name = &graph.nodes[job.node].name;
            match (ended, &job.role) {
                (End::Ok, JobRole::Task(t)) => {
                    let jobs_of = node_jobs.get_mut(&job.node).expect("submitted node");
                    jobs_of.tasks_done += 1;
                    ctx.progress.emit(
                        "progress",
                        json!({ "node": name, "task": t, "tasks_done": jobs_of.tasks_done, "tasks": jobs_of.tasks, "job": job.id }),
                        &format!(
                            "{:>9} {name}: array task {t} done ({}/{} tasks)",
                            "progress", jobs_of.tasks_done, jobs_of.tasks
                        ),
                    );
                }
                (End::Ok, JobRole::Node) => {
                    let jobs_of = node_jobs.get_mut(&job.node).expect("submitted node");
                    if !std::mem::replace(&mut jobs_of.started, true) {
                        ctx.progress.node_started(
                            name,
                            &format!("{}; Slurm job {}", reason_of(&before[job.node]), job.id),
                        );
                    }
                    let outcome = match before[job.node] {
                        Outcome::FreshOnRemote(_) => "fetched",
                        _ => "ran",
                    };
                    ctx.progress.node_finished(name, outcome, None);
                    announced.insert(job.node);
                }
                (end, _) => {
                    if failed.contains_key(&job.node) || silenced.contains(&job.node) {
                        continue;
                    }
                    // Slurm cancels the jobs after a failed one
                    // (--kill-on-invalid-dep), and a node's own job after
                    // a failed task: that is the upstream's failure, and
                    // such nodes are reported as skipped. Until the
                    // upstream has ended, a job without an exit status
                    // waits to be judged.
                    if let End::NoStatus(_) = end {
                        let upstream = ancestors(graph, job.node);
                        if upstream
                            .iter()
                            .any(|a| failed.contains_key(a) || silenced.contains(a))
                        {
                            silenced.insert(job.node);
                            continue;
                        }
                        let upstream_unfinished = upstream
                            .iter()
                            .any(|a| node_jobs.contains_key(a) && !announced.contains(a));
                        let tasks_unfinished = job.role == JobRole::Node
                            && jobs.iter().any(|j| {
                                j.node == job.node
                                    && matches!(j.role, JobRole::Task(_))
                                    && !matches!(j.ended, Some(End::Ok))
                            });
                        if upstream_unfinished || tasks_unfinished {
                            deferred.push(index);
                            continue;
                        }
                    }
                    let why = match end {
                        End::Exit(code) => format!("exited with code {code}"),
                        End::NoStatus(why) => why.clone(),
                        End::Ok => unreachable!("matched above"),
                    };
                    let message = format!(
                        "Slurm job {} {why}; log {}{}",
                        job.id,
                        job.log.display(),
                        log_tail(&job.log, 5)
                            .map(|t| format!(":\n{t}"))
                            .unwrap_or_default()
                    );
                    failed.insert(job.node, message.clone());
                    ctx.progress.node_finished(name, "failed", Some(&message));
                    // Dependents would be cancelled by Slurm too
                    // (--kill-on-invalid-dep); say so and do it now.
                    let doomed: Vec<String> = descendants(graph, job.node)
                        .into_iter()
                        .filter_map(|d| node_jobs.get(&d))
                        .flat_map(|j| j.cancel.clone())
                        .collect();
                    if let Err(e) = slurm_client::cancel(&doomed) {
                        ctx.progress.println(&format!("warning: {e:#}"));
                    }
                }
            }
        }
        if changed {
            wait = Duration::from_millis(500);
        } else {
            wait = (wait.mul_f64(1.5)).min(max_wait);
        }
        if jobs.iter().any(|j| j.ended.is_none()) {
            sleep_unless_stopped(wait);
        }
    }
    if interrupted {
        cancel_all(ctx, &node_jobs);
    }

    // Collect: every node's record is in the cache now, or its job failed.
    let after = scheduler::status(graph, ctx, state);
    for i in 0..n {
        if outcomes[i].is_some() {
            continue;
        }
        let failed_dep = graph.nodes[i].deps.iter().find(|(_, d)| {
            matches!(
                outcomes[*d],
                Some(Outcome::Failed(_) | Outcome::Skipped { .. })
            )
        });
        let outcome = if let Some(message) = failed.get(&i) {
            Outcome::Failed(message.clone())
        } else if let Some((_, d)) = failed_dep {
            Outcome::Skipped {
                upstream: graph.nodes[*d].name.clone(),
            }
        } else if interrupted {
            match &after[i] {
                Outcome::Fresh(record) => ran(&before[i], record.clone()),
                _ => Outcome::Interrupted,
            }
        } else {
            match &after[i] {
                Outcome::Fresh(record) => ran(&before[i], record.clone()),
                other => Outcome::Failed(format!(
                    "its Slurm job ended, but the node is not in the cache ({})",
                    other.describe()
                )),
            }
        };
        let name = &graph.nodes[i].name;
        match &outcome {
            Outcome::Ran { .. } | Outcome::Fetched(_) if announced.contains(&i) => {}
            Outcome::Ran { .. } => ctx.progress.node_finished(name, "ran", None),
            Outcome::Fetched(_) => ctx.progress.node_finished(name, "fetched", None),
            Outcome::Failed(e) if !failed.contains_key(&i) => {
                ctx.progress.node_finished(name, "failed", Some(e))
            }
            Outcome::Skipped { upstream } => {
                ctx.progress
                    .node_finished(name, "skipped", Some(&format!("{upstream} failed")))
            }
            Outcome::Interrupted => ctx.progress.node_finished(name, "not_started", None),
            _ => {}
        }
        outcomes[i] = Some(outcome);
    }
    Ok(outcomes
        .into_iter()
        .map(|o| o.expect("every node has an outcome"))
        .collect())
}

fn reason_of(before: &Outcome) -> String {
    match before {
        Outcome::Stale(reason) => reason.to_string(),
        _ => "on the remote".to_string(),
    }
}

/// A node a job computed: `Ran` for the reason it was stale, `Fetched`
/// when it was only on the remote.
fn ran(before: &Outcome, record: NodeRecord) -> Outcome {
    match before {
        Outcome::Stale(reason) => Outcome::Ran {
            record,
            reason: reason.clone(),
        },
        Outcome::FreshOnRemote(_) => Outcome::Fetched(record),
        _ => Outcome::Ran {
            record,
            reason: DirtyReason::NeverRun,
        },
    }
}

/// Submit node `i`'s jobs: an array over the shards still to do (per-item
/// nodes), then the job that records the node. Returns the node's jobs and
/// the id its dependents wait for.
#[allow(clippy::too_many_arguments)]
fn submit_node(
    graph: &Graph,
    ctx: &Context,
    before: &[Outcome],
    i: usize,
    config: &SlurmConfig,
    worker: &WorkerCommand,
    run_dir: &Path,
    items_hint: usize,
    final_job: &BTreeMap<usize, String>,
) -> anyhow::Result<(NodeJobs, Vec<Job>, String)> {
    let node = &graph.nodes[i];
    let placement = node.stage.placement();
    let resources = config.resources_for(placement.class);
    let slug = slug(&node.name);
    let after_ok: Vec<String> = node
        .deps
        .iter()
        .filter_map(|(_, d)| final_job.get(d).cloned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let request = |name: String, script: PathBuf, output: PathBuf| JobRequest {
        name,
        script,
        output,
        array: None,
        after_ok: after_ok.clone(),
        partition: config.partition.clone(),
        account: config.account.clone(),
        time: resources.time.clone().or(config.time.clone()),
        cpus: resources.cpus,
        mem: resources.mem.clone(),
        gpus: if placement.gpu {
            Some(resources.gpus.unwrap_or(1))
        } else {
            None
        },
        extra: config.sbatch_args.clone(),
    };
    let mut node_jobs = NodeJobs::default();
    let mut jobs = Vec::new();
    let mut node_after = after_ok.clone();

    if placement.per_item {
        let count = config.array_tasks(items_hint);
        // With the node's inputs cached, its key is known: shards that
        // finished before (a run cut short, a cancelled task) are skipped.
        let key = node_key(graph, ctx, before, i);
        let todo: Vec<usize> = (0..count)
            .filter(|&index| {
                key.as_ref().is_none_or(|key| {
                    !shard_marker(ctx.cache.root(), key, Shard { index, count }).is_file()
                })
            })
            .collect();
        if count > 1 && !todo.is_empty() {
            let script = run_dir.join("scripts").join(format!("{slug}.shards.sh"));
            write_script(
                &script,
                worker,
                &node.name,
                Some(count),
                &run_dir.join("exit"),
            )?;
            let mut array = request(
                format!("ser:{}", node.name),
                script,
                run_dir.join("logs").join(format!("{slug}.%A_%a.log")),
            );
            array.array = Some(todo.clone());
            let id = slurm_client::submit(&array)?;
            ctx.progress.emit(
                "submitted",
                json!({ "node": node.name, "job": id, "tasks": todo, "of": count }),
                &format!(
                    "{:>9} {}: array job {id}, tasks {} of {count}",
                    "submitted",
                    node.name,
                    compact_ranges(&todo)
                ),
            );
            for &t in &todo {
                jobs.push(Job {
                    id: format!("{id}_{t}"),
                    node: i,
                    role: JobRole::Task(t),
                    log: run_dir.join("logs").join(format!("{slug}.{id}_{t}.log")),
                    running: false,
                    gone: 0,
                    ended: None,
                });
            }
            node_jobs.tasks = todo.len();
            node_jobs.cancel.push(id.clone());
            node_after = vec![id];
        }
    }
    let script = run_dir.join("scripts").join(format!("{slug}.sh"));
    write_script(&script, worker, &node.name, None, &run_dir.join("exit"))?;
    let mut single = request(
        format!("ser:{}", node.name),
        script,
        run_dir.join("logs").join(format!("{slug}.%j.log")),
    );
    single.after_ok = node_after;
    let id = match slurm_client::submit(&single) {
        Ok(id) => id,
        Err(e) => {
            let _ = slurm_client::cancel(&node_jobs.cancel);
            return Err(e);
        }
    };
    ctx.progress.emit(
        "submitted",
        json!({ "node": node.name, "job": id, "after": single.after_ok }),
        &format!(
            "{:>9} {}: job {id}{}",
            "submitted",
            node.name,
            if single.after_ok.is_empty() {
                String::new()
            } else {
                format!(" after {}", single.after_ok.join(", "))
            }
        ),
    );
    jobs.push(Job {
        id: id.clone(),
        node: i,
        role: JobRole::Node,
        log: run_dir.join("logs").join(format!("{slug}.{id}.log")),
        running: false,
        gone: 0,
        ended: None,
    });
    node_jobs.cancel.push(id.clone());
    Ok((node_jobs, jobs, id))
}

/// Node `i`'s cache key when every dependency is cached now.
fn node_key(graph: &Graph, ctx: &Context, before: &[Outcome], i: usize) -> Option<String> {
    let deps: Option<Vec<&NodeRecord>> = graph.nodes[i]
        .deps
        .iter()
        .map(|(_, d)| match &before[*d] {
            Outcome::Fresh(record) => Some(record),
            _ => None,
        })
        .collect();
    scheduler::fingerprint(graph, i, ctx, &deps?)
        .ok()
        .map(|f| f.key())
}

/// The job script: run the worker, then leave its exit code where the
/// driver looks (a job killed before that has none).
fn write_script(
    path: &Path,
    worker: &WorkerCommand,
    node: &str,
    shards: Option<usize>,
    exit_dir: &Path,
) -> anyhow::Result<()> {
    let mut command: Vec<String> = vec![quote(&worker.exe.display().to_string()), "worker".into()];
    command.extend(worker.args.iter().map(|a| quote(a)));
    command.push("--node".into());
    command.push(quote(node));
    if let Some(count) = shards {
        command.push("--shard".into());
        command.push(format!("\"$SLURM_ARRAY_TASK_ID/{count}\""));
    }
    let text = format!(
        "#!/bin/sh\n\
         # Written by `ser run --executor slurm`: one node's job.\n\
         cd {cwd} || exit 1\n\
         # ser sizes its thread pool from the CPUs Slurm gave the job.\n\
         if [ -n \"${{SLURM_CPUS_PER_TASK:-}}\" ]; then export SER_THREADS=\"$SLURM_CPUS_PER_TASK\"; fi\n\
         {command}\n\
         code=$?\n\
         id=\"${{SLURM_ARRAY_JOB_ID:+${{SLURM_ARRAY_JOB_ID}}_${{SLURM_ARRAY_TASK_ID}}}}\"\n\
         echo \"$code\" > {exit_dir}/\"${{id:-$SLURM_JOB_ID}}\"\n\
         exit \"$code\"\n",
        cwd = quote(&worker.cwd.display().to_string()),
        command = command.join(" "),
        exit_dir = quote(&exit_dir.display().to_string()),
    );
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

fn read_exit(run_dir: &Path, id: &str) -> Option<i32> {
    std::fs::read_to_string(run_dir.join("exit").join(id))
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn log_tail(path: &Path, lines: usize) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let all: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = &all[all.len().saturating_sub(lines)..];
    (!tail.is_empty()).then(|| {
        tail.iter()
            .map(|l| format!("    {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    })
}

fn cancel_all(ctx: &Context, node_jobs: &BTreeMap<usize, NodeJobs>) {
    let ids: Vec<String> = node_jobs.values().flat_map(|j| j.cancel.clone()).collect();
    if ids.is_empty() {
        return;
    }
    match slurm_client::cancel(&ids) {
        Ok(()) => ctx.progress.println(&format!(
            "cancelled {} Slurm job(s): {}",
            ids.len(),
            ids.join(" ")
        )),
        Err(e) => ctx.progress.println(&format!("warning: {e:#}")),
    }
}

fn ancestors(graph: &Graph, i: usize) -> BTreeSet<usize> {
    let mut out = BTreeSet::new();
    let mut stack = vec![i];
    while let Some(n) = stack.pop() {
        for (_, d) in &graph.nodes[n].deps {
            if out.insert(*d) {
                stack.push(*d);
            }
        }
    }
    out
}

fn descendants(graph: &Graph, i: usize) -> BTreeSet<usize> {
    let dependents = graph.dependents();
    let mut out = BTreeSet::new();
    let mut stack = vec![i];
    while let Some(n) = stack.pop() {
        for &d in &dependents[n] {
            if out.insert(d) {
                stack.push(d);
            }
        }
    }
    out
}

fn sleep_unless_stopped(total: Duration) {
    let started = Instant::now();
    while started.elapsed() < total && crate::interrupt::requested().is_none() {
        std::thread::sleep(Duration::from_millis(100).min(total));
    }
}

/// A node name as a file name: `extract:mfcc` -> `extract_mfcc`.
fn slug(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Single-quoted for sh.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// `20261203T235959Z`, for run folder names that sort by time.
fn chrono_stamp() -> String {
    crate::progress::timestamp()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Placements of a pipeline's nodes: per-item stages shard, networks
    /// get the `deep` class and a GPU only with `device: gpu`.
    #[test]
    fn nodes_are_placed_by_class() {
        let config = crate::config::parse(
            "corpus: {kind: ravdess, path: c}\n\
             protocols: {two: {kind: holdout, test_speakers: ['1']}}\n\
             models:\n  lr: {kind: logistic_regression}\n  \
             mlp: {kind: mlp, device: gpu}\n  mlp_cpu: {kind: mlp}\n\
             experiments: {features: [mfcc], models: [lr, mlp, mlp_cpu], protocols: [two]}\n",
            &[],
        )
        .unwrap();
        let pipeline = crate::config::Pipeline {
            config,
            file: "/p.yaml".into(),
            id: "p".into(),
        };
        let graph = Graph::build(&pipeline);
        let placement = |name: &str| {
            let node = graph.nodes.iter().find(|n| n.name == name).unwrap();
            node.stage.placement()
        };
        let ingest = placement("ingest");
        assert!(ingest.per_item && ingest.class == "ingest" && !ingest.gpu);
        assert!(placement("extract:mfcc").per_item);
        let lr = placement("train:mfcc/none/lr@two");
        assert!(!lr.per_item && lr.class == "train" && !lr.gpu);
        let gpu = placement("train:mfcc/none/mlp@two");
        assert!(gpu.class == "deep" && gpu.gpu);
        let cpu = placement("train:mfcc/none/mlp_cpu@two");
        assert!(cpu.class == "deep" && !cpu.gpu);
        assert_eq!(placement("evaluate:mfcc/none/lr@two").class, "evaluate");
    }

    #[test]
    fn the_script_quotes_arguments_and_writes_the_exit_file() {
        let dir = tempfile::tempdir().unwrap();
        let worker = WorkerCommand {
            exe: "/opt/ser bin/ser".into(),
            args: vec!["-p".into(), "/w/it's.yaml".into()],
            cwd: "/w".into(),
        };
        let path = dir.path().join("job.sh");
        write_script(
            &path,
            &worker,
            "extract:mfcc",
            Some(4),
            Path::new("/c/exit"),
        )
        .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains(
                r"'/opt/ser bin/ser' worker '-p' '/w/it'\''s.yaml' --node 'extract:mfcc' --shard "
            ),
            "{text}"
        );
        assert!(text.contains("\"$SLURM_ARRAY_TASK_ID/4\""), "{text}");
        assert!(text.contains("> '/c/exit'/"), "{text}");
        // The script is valid sh.
        let status = std::process::Command::new("sh")
            .arg("-n")
            .arg(&path)
            .status()
            .unwrap();
        assert!(status.success());
    }
}
