//! `ser push`, `ser pull` and `ser remote status`: sharing a cache through
//! a remote (see [`crate::remote`] for its layout and guarantees).

use std::collections::BTreeSet;
use std::time::Instant;

use crate::cache::{Cache, LockMode, closure};
use crate::commands::PipelineArgs;
use crate::commands::gc::no_remote;
use crate::config::Pipeline;
use crate::dag::Graph;
use crate::progress::Progress;
use crate::remote::fetch::fetch_closure;
use std::sync::Arc;

use crate::remote::{PushedState, ReadThrough, Remote, RemoteIndex, check_state_name, push};
use crate::scheduler::{self, Outcome};
use crate::stage::{Context, NodeRecord};
use crate::state::PipelineState;

/// `ser push`: upload what this pipeline's last run references and its
/// state, under `name` (default: cache.remote.name, else `<user>/<file stem>`).
pub fn push(args: &PipelineArgs, name: Option<&str>) -> anyhow::Result<i32> {
    let (pipeline, cache) = args.load()?;
    let _lock = cache.lock(LockMode::Shared)?;
    let config = args.remote_config(&pipeline).ok_or_else(no_remote)?;
    let name = match name {
        Some(n) => n.to_string(),
        None => config
            .name
            .clone()
            .unwrap_or_else(|| default_state_name(&pipeline)),
    };
    check_state_name(&name)?;
    let remote = Remote::open(&config)?;
    let mut index = RemoteIndex::load(&remote, &super::remote_index_dir(&cache, &config))?;
    push_state(
        &pipeline,
        &cache,
        &remote,
        &mut index,
        &name,
        &Progress::for_terminal(),
    )?;
    Ok(0)
}

/// Push this pipeline's last run as state `name`; prints one summary line.
pub fn push_state(
    pipeline: &Pipeline,
    cache: &Cache,
    remote: &Remote,
    index: &mut RemoteIndex,
    name: &str,
    progress: &Progress,
) -> anyhow::Result<push::PushReport> {
    let started = Instant::now();
    let state = PipelineState::load(cache, &pipeline.id);
    let nodes = state.snapshot();
    anyhow::ensure!(
        !nodes.is_empty(),
        "nothing to push: this pipeline has not run on cache {} (run `ser run` first)",
        cache.root().display()
    );
    let roots: Vec<(String, String)> = nodes
        .values()
        .map(|n| (n.stage.clone(), n.key.clone()))
        .collect();
    let paths: BTreeSet<String> =
        closure::closure(&roots, &mut closure::local_reader(cache.root()));
    let pushed = PushedState {
        format: 1,
        name: name.to_string(),
        pipeline_file: pipeline.file.display().to_string(),
        pushed_at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        nodes,
    };
    let report = push::push(
        cache,
        remote,
        index,
        &paths,
        Some((name, serde_json::to_vec_pretty(&pushed)?)),
        progress,
    )?;
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "pushed {} file(s), {:.1} MB in {} pack(s) in {seconds:.2}s ({:.1} MB/s); {} already on {}; state {name}",
        report.files,
        report.bytes as f64 / 1e6,
        report.packs,
        report.bytes as f64 / 1e6 / seconds.max(1e-9),
        report.present,
        remote.url,
    );
    Ok(report)
}

pub fn default_state_name(pipeline: &Pipeline) -> String {
    let user: String = std::env::var("USER")
        .unwrap_or_else(|_| "user".into())
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
        .collect();
    let stem: String = pipeline
        .file
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "pipeline".into())
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
        .collect();
    format!(
        "{}/{}",
        if user.is_empty() { "user" } else { &user },
        if stem.is_empty() { "pipeline" } else { &stem }
    )
}

/// `ser pull`: download what this pipeline needs from the remote (every
/// node whose record the remote has, given its inputs), or with `from`
/// everything that pushed state references.
pub fn pull(args: &PipelineArgs, from: Option<&str>) -> anyhow::Result<i32> {
    let (pipeline, cache) = args.load()?;
    let _lock = cache.lock(LockMode::Shared)?;
    let config = args.remote_config(&pipeline).ok_or_else(no_remote)?;
    let started = Instant::now();
    let progress = Progress::for_terminal();
    let read_through = Arc::new(ReadThrough::open(
        &config,
        &super::remote_index_dir(&cache, &config),
    )?);
    let roots: Vec<(String, String)> = match from {
        Some(name) => {
            check_state_name(name)?;
            let bytes = read_through
                .remote
                .get(&PushedState::key(name))
                .map_err(|e| {
                    anyhow::anyhow!(
                        "{e:#} (is '{name}' a state pushed there? `ser remote status` lists them)"
                    )
                })?;
            let state: PushedState = serde_json::from_slice(&bytes).map_err(|e| {
                anyhow::anyhow!("remote {}: state {name} is unreadable: {e}", config.url)
            })?;
            state.roots()
        }
        None => {
            let cache = cache.clone().with_remote(read_through.clone());
            let (_, outcomes) = walk(&pipeline, &cache);
            outcomes
                .iter()
                .filter_map(|o| match o {
                    Outcome::Fresh(r) | Outcome::FreshOnRemote(r) => Some(node_root(r)),
                    _ => None,
                })
                .collect()
        }
    };
    let (remote, index) = (&read_through.remote, &read_through.index);
    let present_before = closure::closure(&roots, &mut closure::local_reader(cache.root())).len();
    let report = fetch_closure(&cache, remote, index, &roots, &progress);
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "pulled {} file(s), {:.1} MB in {seconds:.2}s ({:.1} MB/s) for {} node(s); {} already here",
        report.files,
        report.bytes as f64 / 1e6,
        report.bytes as f64 / 1e6 / seconds.max(1e-9),
        roots.len(),
        present_before,
    );
    if !report.refused.is_empty() {
        eprintln!(
            "refused {} file(s) that failed their check:",
            report.refused.len()
        );
        for line in report.refused.iter().take(20) {
            eprintln!("  {line}");
        }
        anyhow::bail!(
            "{} remote file(s) refused (corrupt or unreadable); nothing of them was used",
            report.refused.len()
        );
    }
    if !report.missing.is_empty() {
        eprintln!(
            "{} file(s) named by those nodes are on neither side (first: {}); `ser run` computes them",
            report.missing.len(),
            report.missing[0]
        );
    }
    Ok(0)
}

/// Each node's freshness, as `ser status` sees it through the remote.
fn walk(pipeline: &Pipeline, cache: &Cache) -> (Graph, Vec<Outcome>) {
    let graph = Graph::build(pipeline);
    let state = PipelineState::load(cache, &pipeline.id);
    let ctx = Context {
        cache: cache.clone(),
        progress: Progress::hidden(),
        strict: false,
        shard: None,
    };
    let outcomes = scheduler::status(&graph, &ctx, &state);
    (graph, outcomes)
}

fn node_root(record: &NodeRecord) -> (String, String) {
    (record.fingerprint.stage.clone(), record.fingerprint.key())
}

/// `ser remote status`: each node of this pipeline as local, remote, both
/// or neither; then the states pushed to the remote.
pub fn status(args: &PipelineArgs) -> anyhow::Result<i32> {
    let (pipeline, cache) = args.load()?;
    let _lock = cache.lock(LockMode::Shared)?;
    let config = args.remote_config(&pipeline).ok_or_else(no_remote)?;
    let cache = args.with_read_through(&pipeline, cache);
    let Some(read_through) = cache.remote().cloned() else {
        anyhow::bail!("remote {} could not be read (see above)", config.url);
    };
    let (graph, outcomes) = walk(&pipeline, &cache);
    let index = &read_through.index;
    let on_remote = |r: &NodeRecord| {
        index.contains(&closure::record_path(
            &r.fingerprint.stage,
            &r.fingerprint.key(),
        )) && r
            .outputs
            .files
            .values()
            .chain(&r.outputs.refs)
            .all(|o| index.contains(&closure::object_path(o)))
            && r.outputs
                .items
                .iter()
                .all(|i| index.contains(&closure::item_path(i)))
    };
    let mut counts = [0usize; 4];
    for (node, outcome) in graph.nodes.iter().zip(&outcomes) {
        let (slot, line) = match outcome {
            Outcome::Fresh(r) if on_remote(r) => (0, "both".to_string()),
            Outcome::Fresh(_) => (1, "local".to_string()),
            Outcome::FreshOnRemote(_) => (2, "remote".to_string()),
            Outcome::Stale(crate::fingerprint::DirtyReason::UpstreamStale { upstream }) => (
                3,
                format!("neither (upstream {upstream} is on neither side)"),
            ),
            Outcome::Stale(_) => (3, "neither".to_string()),
            Outcome::Failed(e) => (3, format!("neither (error: {e})")),
            _ => (3, "neither".to_string()),
        };
        counts[slot] += 1;
        outln!("{:<48} {line}", node.name)?;
    }
    let states: Vec<String> = read_through
        .remote
        .list("states")?
        .into_iter()
        .filter_map(|l| {
            l.key
                .strip_prefix("states/")
                .and_then(|k| k.strip_suffix(".json"))
                .map(|k| k.to_string())
        })
        .collect();
    eprintln!(
        "{} both, {} local only, {} remote only, {} neither; remote {}: {} file(s) in {} pack(s), states: {}",
        counts[0],
        counts[1],
        counts[2],
        counts[3],
        config.url,
        index.len(),
        index.packs.len(),
        if states.is_empty() {
            "none".to_string()
        } else {
            states.join(", ")
        }
    );
    Ok(0)
}

/// `ser push`.
#[derive(Debug, clap::Args)]
pub struct PushArgs {
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    /// The name to store this pipeline's state under, e.g. alice/nightly
    /// (default: cache.remote.name, else <user>/<pipeline file stem>).
    #[arg(long = "as", value_name = "NAME")]
    pub name: Option<String>,
}

impl PushArgs {
    pub fn run(&self) -> anyhow::Result<i32> {
        push(&self.pipeline, self.name.as_deref())
    }
}

/// `ser pull`.
#[derive(Debug, clap::Args)]
pub struct PullArgs {
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    /// A state pushed with `ser push --as NAME`.
    #[arg(long, value_name = "NAME")]
    pub from: Option<String>,
}

impl PullArgs {
    pub fn run(&self) -> anyhow::Result<i32> {
        pull(&self.pipeline, self.from.as_deref())
    }
}

/// `ser remote ...`.
#[derive(Debug, clap::Args)]
pub struct RemoteArgs {
    #[command(subcommand)]
    pub command: RemoteCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum RemoteCommand {
    /// Each node of this pipeline as local, remote, both or neither; and the pushed states.
    Status {
        #[command(flatten)]
        pipeline: PipelineArgs,
    },
}

impl RemoteArgs {
    pub fn run(&self) -> anyhow::Result<i32> {
        match &self.command {
            RemoteCommand::Status { pipeline } => status(pipeline),
        }
    }
}
