//! The scheduler: decides which nodes are fresh and runs the rest, in
//! parallel where the graph allows.
//!
//! A node runs as soon as all its dependencies have finished (a dynamic
//! topological order on rayon's pool); per-item work inside a node uses
//! the same pool, so cores stay busy whether the graph is wide (many
//! models) or deep (one big extraction). A failed node fails only its
//! dependents: independent branches still run, and everything finished is
//! kept in the cache.
//!
//! Many processes may run on one cache at once (see [`crate::cache::lock`]).
//! Before computing a node a run takes that node's lock; a run that finds
//! the lock held waits, then looks in the cache again, so two runs that
//! reach one node compute it once. With a remote (read-through), a node
//! whose record and outputs are on the remote is downloaded, not computed.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use crate::cache::Cache;
use crate::dag::Graph;
use crate::fingerprint::{DirtyReason, Fingerprint};
use crate::stage::{Context, Inputs, NodeRecord, Outputs};
use crate::state::{NodeState, PipelineState};

#[derive(Debug, Clone)]
pub enum Outcome {
    /// Cached outputs reused.
    Fresh(NodeRecord),
    /// Downloaded from the remote (read-through) instead of computed.
    Fetched(NodeRecord),
    /// `ser status` only: cached, but some of it only on the remote.
    FreshOnRemote(NodeRecord),
    /// Ran, for this reason.
    Ran {
        record: NodeRecord,
        reason: DirtyReason,
    },
    Failed(String),
    /// Not started, or not recorded, because SIGINT or SIGTERM asked the
    /// run to stop ([`crate::interrupt`]).
    Interrupted,
    /// Not run because a dependency failed.
    Skipped {
        upstream: String,
    },
    /// `ser status` only: would run, for this reason.
    Stale(DirtyReason),
}

impl Outcome {
    /// A few words for messages (no record dumps).
    pub fn describe(&self) -> String {
        match self {
            Outcome::Fresh(_) => "fresh".into(),
            Outcome::Fetched(_) => "fetched from the remote".into(),
            Outcome::FreshOnRemote(_) => "only on the remote".into(),
            Outcome::Ran { reason, .. } => format!("ran: {reason}"),
            Outcome::Failed(e) => format!("failed: {e}"),
            Outcome::Interrupted => "stopped by a signal".into(),
            Outcome::Skipped { upstream } => format!("skipped: {upstream} failed"),
            Outcome::Stale(reason) => format!("stale: {reason}"),
        }
    }

    pub fn record(&self) -> Option<&NodeRecord> {
        match self {
            Outcome::Fresh(r)
            | Outcome::Fetched(r)
            | Outcome::FreshOnRemote(r)
            | Outcome::Ran { record: r, .. } => Some(r),
            _ => None,
        }
    }
}

/// Where a cached record was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    Local,
    /// Some of it only on the remote (downloaded by a run, only named by
    /// `ser status`).
    Remote,
}

/// The fingerprint of node `i` given its dependencies' records.
pub fn fingerprint(
    graph: &Graph,
    i: usize,
    ctx: &Context,
    deps: &[&NodeRecord],
) -> anyhow::Result<Fingerprint> {
    let node = &graph.nodes[i];
    let mut inputs = node.stage.external_inputs(ctx)?;
    for (role, files) in read_inputs(graph, i, deps).by_role {
        for (name, object) in files {
            inputs.insert(format!("{role}.{name}"), object);
        }
    }
    Ok(Fingerprint {
        stage: node.stage.stage().to_string(),
        code_version: node.stage.code_version(),
        params: node.stage.params(),
        inputs,
    })
}

/// Whether a record and its outputs are all here (`Some(true)`), complete
/// only with what the remote has (`Some(false)`), or incomplete (`None`).
pub fn completeness(ctx: &Context, record: &NodeRecord, record_local: bool) -> Option<bool> {
    let objects = || record.outputs.files.values().chain(&record.outputs.refs);
    let items = || record.outputs.items.iter();
    let local = record_local
        && objects().all(|o| ctx.cache.object_path(o).is_file())
        && items().all(|i| {
            ctx.cache
                .root()
                .join(crate::cache::closure::item_path(i))
                .is_file()
        });
    if local {
        return Some(true);
    }
    let anywhere =
        objects().all(|o| ctx.cache.has_object(o)) && items().all(|i| ctx.cache.has_item(i));
    anywhere.then_some(false)
}

/// A node's cached record and where it was found, or why it must run.
type Freshness = Result<(NodeRecord, Found), DirtyReason>;

/// A node's fingerprint given its dependencies' records, and its cached
/// record if that is complete. `fetch`: download what is only on the
/// remote (a run); without it the remote is only looked at (status).
fn check(
    graph: &Graph,
    i: usize,
    ctx: &Context,
    deps: &[&NodeRecord],
    state: &PipelineState,
    fetch: bool,
) -> anyhow::Result<(Fingerprint, Freshness)> {
    let node = &graph.nodes[i];
    let fingerprint = fingerprint(graph, i, ctx, deps)?;
    let key = fingerprint.key();
    let record_path = ctx.cache.node_record_path(node.stage.stage(), &key);
    let record_local = record_path.is_file();
    let record: Option<NodeRecord> = ctx.cache.read_json(&record_path);
    if let Some(record) = record {
        match completeness(ctx, &record, record_local) {
            Some(true) => return Ok((fingerprint, Ok((record, Found::Local)))),
            Some(false) if !fetch => return Ok((fingerprint, Ok((record, Found::Remote)))),
            // The whole node comes down now, in a few batches; a failed or
            // refused fetch computes it here instead.
            Some(false) if fetch_node(ctx, &record) => {
                return Ok((fingerprint, Ok((record, Found::Remote))));
            }
            Some(false) | None => {}
        }
    }
    let reason = match state.get(&node.name) {
        None => DirtyReason::NeverRun,
        Some(previous) => match fingerprint.diff(&previous.fingerprint) {
            Some(DirtyReason::InputChanged { inputs }) => DirtyReason::InputChanged {
                inputs: inputs
                    .into_iter()
                    .map(|name| {
                        let detail = previous
                            .fingerprint
                            .inputs
                            .get(&name)
                            .and_then(|old| node.stage.describe_input_change(ctx, &name, old));
                        match detail {
                            Some(d) => format!("{name} ({d})"),
                            None => name,
                        }
                    })
                    .collect(),
            },
            Some(other) => other,
            None => DirtyReason::OutputMissing,
        },
    };
    Ok((fingerprint, Err(reason)))
}

/// Download a node's closure (its record, outputs, per-item records and
/// their objects) from the remote, so the local cache holds the node
/// whole, as if computed here; true when all of it is then here.
fn fetch_node(ctx: &Context, record: &NodeRecord) -> bool {
    let Some(read_through) = ctx.cache.remote() else {
        return false;
    };
    let roots = [(record.fingerprint.stage.clone(), record.fingerprint.key())];
    let report = crate::remote::fetch::fetch_closure(
        &ctx.cache,
        &read_through.remote,
        &read_through.index,
        &roots,
        &ctx.progress,
    );
    for line in report.refused.iter().take(3) {
        read_through.warn(&format!(
            "remote {}: refused {line}; computing it here",
            read_through.remote.url
        ));
    }
    completeness(ctx, record, true) == Some(true)
}

/// The dependency outputs node `i` declares it reads, by role.
fn read_inputs(graph: &Graph, i: usize, deps: &[&NodeRecord]) -> Inputs {
    let node = &graph.nodes[i];
    let by_role = node
        .deps
        .iter()
        .zip(deps)
        .map(|((role, _), record)| {
            let reads = node.stage.reads(*role);
            let files = record
                .outputs
                .files
                .iter()
                .filter(|(name, _)| reads.contains(&name.as_str()));
            (*role, files.map(|(n, o)| (n.clone(), o.clone())).collect())
        })
        .collect();
    Inputs { by_role }
}

/// Freshness of every node without running anything.
pub fn status(graph: &Graph, ctx: &Context, state: &PipelineState) -> Vec<Outcome> {
    status_of(graph, ctx, state, &vec![true; graph.nodes.len()])
}

/// `state` with, in memory only, every node whose current key is cached
/// (what `ser status` calls fresh) pointing at that record, whatever entry
/// it had: a pipeline, or `--set` values, that never ran may name nodes
/// another run computed, and a run with `--set` values leaves this
/// pipeline's entries on its own variant's records, so the commands that
/// read results (`metrics`, `compare`, `outputs`, `report`, `export`) would
/// show the variant's numbers for a configuration that no longer asks for
/// them. A node that is not fresh keeps its last run's entry.
pub fn with_cached_nodes(graph: &Graph, cache: &Cache, state: PipelineState) -> PipelineState {
    with_fresh_nodes(graph, cache, state).0
}

/// [`with_cached_nodes`], and which of the graph's nodes are fresh (in
/// `graph.nodes`' order): for a reader that must not fall back on a last
/// run's entry of another configuration (`ser compare --set-b`).
pub fn with_fresh_nodes(
    graph: &Graph,
    cache: &Cache,
    state: PipelineState,
) -> (PipelineState, Vec<bool>) {
    let ctx = Context {
        cache: cache.clone(),
        progress: crate::progress::Progress::hidden(),
        strict: false,
        shard: None,
    };
    let mut fresh = Vec::with_capacity(graph.nodes.len());
    for (node, outcome) in graph.nodes.iter().zip(status(graph, &ctx, &state)) {
        fresh.push(matches!(outcome, Outcome::Fresh(_)));
        if let Outcome::Fresh(record) = outcome {
            let key = record.fingerprint.key();
            if state.get(&node.name).is_none_or(|entry| entry.key != key) {
                let entry = NodeState {
                    stage: record.fingerprint.stage.clone(),
                    key,
                    fingerprint: record.fingerprint,
                };
                state.remember(&node.name, entry);
            }
        }
    }
    (state, fresh)
}

/// Freshness of the `wanted` nodes (which must include their ancestors);
/// the others are `Stale(NeverRun)` unlooked-at.
fn status_of(graph: &Graph, ctx: &Context, state: &PipelineState, wanted: &[bool]) -> Vec<Outcome> {
    let mut outcomes: Vec<Outcome> = Vec::with_capacity(graph.nodes.len());
    for (i, node) in graph.nodes.iter().enumerate() {
        if !wanted[i] {
            outcomes.push(Outcome::Stale(DirtyReason::NeverRun));
            continue;
        }
        let mut deps = Vec::new();
        let mut blocked = None;
        for (_, d) in &node.deps {
            match outcomes[*d].record() {
                Some(r) => deps.push(r),
                None => {
                    blocked = Some(*d);
                    break;
                }
            }
        }
        let outcome = match blocked {
            Some(d) => {
                let upstream = graph.nodes[d].name.clone();
                match &outcomes[d] {
                    Outcome::Failed(_) | Outcome::Skipped { .. } => Outcome::Skipped { upstream },
                    _ => Outcome::Stale(DirtyReason::UpstreamStale { upstream }),
                }
            }
            None => match check(graph, i, ctx, &deps, state, false) {
                Ok((_, Ok((record, Found::Local)))) => Outcome::Fresh(record),
                Ok((_, Ok((record, Found::Remote)))) => Outcome::FreshOnRemote(record),
                Ok((_, Err(reason))) => Outcome::Stale(reason),
                Err(e) => Outcome::Failed(format!("{e:#}")),
            },
        };
        outcomes.push(outcome);
    }
    outcomes
}

/// Run every stale node; returns one outcome per node.
pub fn run(graph: &Graph, ctx: &Context, state: &PipelineState) -> Vec<Outcome> {
    let n = graph.nodes.len();
    let outcomes: Vec<OnceLock<Outcome>> = (0..n).map(|_| OnceLock::new()).collect();
    let pending: Vec<AtomicUsize> = graph
        .nodes
        .iter()
        .map(|node| AtomicUsize::new(node.deps.len()))
        .collect();
    let dependents = graph.dependents();
    let shared = Shared {
        graph,
        ctx,
        state,
        outcomes: &outcomes,
        pending: &pending,
        dependents: &dependents,
    };
    rayon::scope(|scope| {
        for (i, node) in graph.nodes.iter().enumerate() {
            if node.deps.is_empty() {
                scope.spawn(move |s| shared.execute(s, i));
            }
        }
    });
    outcomes
        .into_iter()
        .map(|o| o.into_inner().expect("every node is visited"))
        .collect()
}

/// One node's work in a job of an executor (`ser worker`): every
/// dependency must already be in the cache (an earlier job made it).
pub enum Work {
    /// Bring the node up to date and record it, as `ser run` would.
    Node,
    /// Compute and cache this shard of a per-item node's items only; the
    /// node is recorded by a later `Node` job (see [`Context::shard`]).
    Shard,
}

/// Run node `i` alone (an executor's job): its dependencies are read from
/// the cache, never computed here.
pub fn run_one(
    graph: &Graph,
    ctx: &Context,
    state: &PipelineState,
    i: usize,
    work: Work,
) -> Outcome {
    let mut wanted = vec![false; graph.nodes.len()];
    let mut stack: Vec<usize> = graph.nodes[i].deps.iter().map(|(_, d)| *d).collect();
    while let Some(d) = stack.pop() {
        if !std::mem::replace(&mut wanted[d], true) {
            stack.extend(graph.nodes[d].deps.iter().map(|(_, d)| *d));
        }
    }
    let ancestors = status_of(graph, ctx, state, &wanted);
    let outcomes: Vec<OnceLock<Outcome>> =
        (0..graph.nodes.len()).map(|_| OnceLock::new()).collect();
    for (_, d) in &graph.nodes[i].deps {
        match &ancestors[*d] {
            Outcome::Fresh(_) => {}
            Outcome::Stale(reason) => {
                return Outcome::Failed(format!(
                    "dependency {} is not in the cache ({reason}); its job should have made it",
                    graph.nodes[*d].name
                ));
            }
            Outcome::Failed(e) => {
                return Outcome::Failed(format!("dependency {}: {e}", graph.nodes[*d].name));
            }
            other => {
                return Outcome::Failed(format!(
                    "dependency {} is not usable here ({})",
                    graph.nodes[*d].name,
                    other.describe()
                ));
            }
        }
    }
    for (d, outcome) in ancestors.into_iter().enumerate() {
        if wanted[d] {
            let _ = outcomes[d].set(outcome);
        }
    }
    let pending: Vec<AtomicUsize> = Vec::new();
    let dependents: Vec<Vec<usize>> = Vec::new();
    let shared = Shared {
        graph,
        ctx,
        state,
        outcomes: &outcomes,
        pending: &pending,
        dependents: &dependents,
    };
    match work {
        Work::Node => shared.run_node(i),
        Work::Shard => shared.run_shard(i),
    }
}

#[derive(Clone, Copy)]
struct Shared<'a> {
    graph: &'a Graph,
    ctx: &'a Context,
    state: &'a PipelineState,
    outcomes: &'a [OnceLock<Outcome>],
    pending: &'a [AtomicUsize],
    dependents: &'a [Vec<usize>],
}

impl<'a> Shared<'a> {
    fn execute<'s>(self, scope: &rayon::Scope<'s>, i: usize)
    where
        'a: 's,
    {
        let outcome = self.run_node(i);
        let name = &self.graph.nodes[i].name;
        let progress = &self.ctx.progress;
        match &outcome {
            Outcome::Fresh(_) | Outcome::FreshOnRemote(_) => {
                progress.node_finished(name, "fresh", None)
            }
            Outcome::Fetched(_) => progress.node_finished(name, "fetched", None),
            Outcome::Ran { .. } => progress.node_finished(name, "ran", None),
            Outcome::Failed(e) => progress.node_finished(name, "failed", Some(e)),
            Outcome::Interrupted => progress.node_finished(name, "not_started", None),
            Outcome::Skipped { upstream } => {
                progress.node_finished(name, "skipped", Some(&format!("{upstream} failed")))
            }
            Outcome::Stale(_) => {}
        }
        let _ = self.outcomes[i].set(outcome);
        for &d in &self.dependents[i] {
            if self.pending[d].fetch_sub(1, Ordering::AcqRel) == 1 {
                scope.spawn(move |s| self.execute(s, d));
            }
        }
    }

    /// Run a node, then apply `--strict` to what it reports: a node whose
    /// summary lists rejected inputs fails the run, whether it ran now or
    /// was cached by a run without `--strict`.
    fn run_node(self, i: usize) -> Outcome {
        let outcome = self.run_node_unchecked(i);
        if self.ctx.strict
            && let Some(rejects) = outcome
                .record()
                .and_then(|r| r.outputs.summary.get("rejects"))
                .and_then(|r| r.as_array())
            && !rejects.is_empty()
        {
            let list: Vec<String> = rejects
                .iter()
                .take(10)
                .map(|r| {
                    format!(
                        "{}: {}",
                        r["path"].as_str().unwrap_or("?"),
                        r["reason"].as_str().unwrap_or("?")
                    )
                })
                .collect();
            return self.fail(
                &self.graph.nodes[i].name,
                format!(
                    "--strict: {} file(s) rejected: {}",
                    rejects.len(),
                    list.join("; ")
                ),
            );
        }
        outcome
    }

    fn run_node_unchecked(self, i: usize) -> Outcome {
        if crate::interrupt::requested().is_some() {
            return Outcome::Interrupted;
        }
        let node = &self.graph.nodes[i];
        let mut deps = Vec::new();
        for (_, d) in &node.deps {
            match self.outcomes[*d].get().and_then(Outcome::record) {
                Some(r) => deps.push(r),
                None => {
                    return Outcome::Skipped {
                        upstream: self.graph.nodes[*d].name.clone(),
                    };
                }
            }
        }
        let (fingerprint, mut cached) =
            match check(self.graph, i, self.ctx, &deps, self.state, true) {
                Ok(v) => v,
                Err(e) => return self.fail(&node.name, format!("{e:#}")),
            };
        // Another process may be computing this node: wait for it. Then
        // look again, waited or not: it may have finished between our
        // first look and our taking the lock.
        let mut _node_lock = None;
        if cached.is_err() {
            match self.ctx.cache.node_lock(&fingerprint.key()) {
                Ok((lock, _waited)) => {
                    _node_lock = Some(lock);
                    match check(self.graph, i, self.ctx, &deps, self.state, true) {
                        Ok((_, again @ Ok(_))) => cached = again,
                        Ok(_) => {}
                        Err(e) => return self.fail(&node.name, format!("{e:#}")),
                    }
                }
                Err(e) => return self.fail(&node.name, format!("{e:#}")),
            }
        }
        let reason = match cached {
            Ok((record, found)) => {
                // Keep this pipeline's state pointing at what it uses.
                if self
                    .state
                    .get(&node.name)
                    .is_none_or(|s| s.key != fingerprint.key())
                {
                    let _ = self.state.set(
                        &node.name,
                        NodeState {
                            stage: fingerprint.stage.clone(),
                            key: fingerprint.key(),
                            fingerprint,
                        },
                    );
                }
                return match found {
                    Found::Local => Outcome::Fresh(record),
                    Found::Remote => Outcome::Fetched(record),
                };
            }
            Err(reason) => reason,
        };
        self.ctx
            .progress
            .node_started(&node.name, &reason.to_string());
        let (outputs, seconds) = match self.compute(i, &deps) {
            Ok(done) => done,
            Err(outcome) => return outcome,
        };
        let key = fingerprint.key();
        let record = NodeRecord {
            node: node.name.clone(),
            fingerprint: fingerprint.clone(),
            outputs,
            seconds,
        };
        let stage = node.stage.stage();
        if let Err(e) = self
            .ctx
            .cache
            .write_json(&self.ctx.cache.node_record_path(stage, &key), &record)
        {
            return self.fail(&node.name, format!("cannot write record: {e}"));
        }
        if let Err(e) = self.state.set(
            &node.name,
            NodeState {
                stage: stage.to_string(),
                key,
                fingerprint,
            },
        ) {
            return self.fail(&node.name, format!("cannot write state: {e}"));
        }
        Outcome::Ran { record, reason }
    }

    /// A shard of per-item node `i` (its dependencies' outcomes are set):
    /// nothing to do when the node is already cached; else its items in
    /// `ctx.shard`, cached one by one and not recorded as the node.
    fn run_shard(self, i: usize) -> Outcome {
        let node = &self.graph.nodes[i];
        if !node.stage.placement().per_item || self.ctx.shard.is_none() {
            return Outcome::Failed(format!("{} has no items to shard", node.name));
        }
        let deps: Vec<&NodeRecord> = node
            .deps
            .iter()
            .filter_map(|(_, d)| self.outcomes[*d].get().and_then(Outcome::record))
            .collect();
        let (fingerprint, cached) = match check(self.graph, i, self.ctx, &deps, self.state, true) {
            Ok(v) => v,
            Err(e) => return Outcome::Failed(format!("{e:#}")),
        };
        let reason = match cached {
            Ok((record, _)) => return Outcome::Fresh(record),
            Err(reason) => reason,
        };
        match self.compute(i, &deps) {
            Ok((outputs, seconds)) => Outcome::Ran {
                record: NodeRecord {
                    node: node.name.clone(),
                    fingerprint,
                    outputs,
                    seconds,
                },
                reason,
            },
            Err(outcome) => outcome,
        }
    }

    /// Run node `i`'s stage on its dependencies' outputs: the outputs and
    /// seconds, or the outcome that ends the node (failed, interrupted).
    // The error is the node's final outcome, once per node: boxing it would
    // only move the allocation.
    #[allow(clippy::result_large_err)]
    fn compute(self, i: usize, deps: &[&NodeRecord]) -> Result<(Outputs, f64), Outcome> {
        let node = &self.graph.nodes[i];
        let inputs = read_inputs(self.graph, i, deps);
        let started = Instant::now();
        // A panic in a stage (say, inside a model library) fails this node
        // and its dependents like an error would; the rest of the run goes
        // on and everything already computed stays cached.
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            node.stage.run(self.ctx, &inputs)
        }));
        // A stop request during the run may have cut its per-item work
        // short: its items are cached, the node itself is not recorded.
        if crate::interrupt::requested().is_some() {
            return Err(Outcome::Interrupted);
        }
        match run {
            Ok(Ok(outputs)) => Ok((outputs, started.elapsed().as_secs_f64())),
            Ok(Err(e)) => Err(self.fail(&node.name, format!("{e:#}"))),
            Err(panic) => {
                Err(self.fail(&node.name, format!("panicked: {}", panic_message(&*panic))))
            }
        }
    }

    /// A failed node (the progress log prints it when it is recorded).
    fn fail(self, _name: &str, message: String) -> Outcome {
        Outcome::Failed(message)
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}
