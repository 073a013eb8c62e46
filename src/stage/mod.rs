//! Stage adapters: each wraps a stage crate's domain code as a cached node.
//!
//! A [`Stage`] declares what determines its output (code version, params,
//! inputs from outside the graph) and how to compute it; the scheduler
//! ([`crate::scheduler`]) decides whether it must run. Stages with
//! per-item work (ingest: one file; extract: one utterance) also cache each
//! item under its own key, so a corpus that grows by ten files decodes and
//! extracts ten files.

pub mod augment;
pub mod ensemble;
pub mod evaluate;
pub mod extract;
pub mod folds;
pub mod ingest;
pub mod inner_cv;
pub mod join;
pub mod select;
pub mod train;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::cache::{Cache, ObjectRef};
use crate::fingerprint::Fingerprint;
use crate::progress::Progress;

/// What a run of a node produced, as stored in its record.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Outputs {
    /// Named artifacts.
    pub files: BTreeMap<String, ObjectRef>,
    /// Objects the artifacts point at (e.g. the signals a manifest lists);
    /// `ser gc` keeps them, and a record whose refs are gone is stale.
    #[serde(default)]
    pub refs: Vec<ObjectRef>,
    /// Per-item records (`<stage>/<key>`) the node used; `ser gc` keeps them.
    #[serde(default)]
    pub items: Vec<String>,
    /// Small facts for summaries (counts, metrics).
    #[serde(default)]
    pub summary: Value,
}

impl Outputs {
    /// What a shard of a per-item node returns: its items are cached, the
    /// node is assembled later by a run without a shard.
    pub fn shard(shard: Shard, items: usize, total: usize) -> Outputs {
        Outputs {
            summary: serde_json::json!({ "shard": shard.to_string(), "items": items, "total": total }),
            ..Outputs::default()
        }
    }
}

/// The cache record of one node run, stored under its key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeRecord {
    pub node: String,
    pub fingerprint: Fingerprint,
    pub outputs: Outputs,
    pub seconds: f64,
}

/// Everything a running stage may use.
pub struct Context {
    pub cache: Cache,
    pub progress: Progress,
    /// `--strict`: a rejected input file fails the run.
    pub strict: bool,
    /// Set in a Slurm array task (`ser worker --shard i/n`): per-item
    /// stages compute and cache only this share of their items and return
    /// [`Outputs::shard`], which is never recorded as the node's result.
    pub shard: Option<Shard>,
}

#[cfg(test)]
impl Context {
    /// A stage test's context: a cache in `dir`, nothing shown, no shard.
    pub(crate) fn for_test(dir: &std::path::Path) -> Context {
        Context {
            cache: Cache::open(dir).unwrap(),
            progress: Progress::hidden(),
            strict: false,
            shard: None,
        }
    }
}

/// One share of a per-item node's items: contiguous ranges, so shard `i`
/// of `n` over `total` items is `[i*total/n, (i+1)*total/n)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// The items of `0..total` in this shard, or all of them without one.
    pub fn range(shard: Option<Shard>, total: usize) -> std::ops::Range<usize> {
        match shard {
            Some(s) => s.index * total / s.count..(s.index + 1) * total / s.count,
            None => 0..total,
        }
    }
}

impl std::str::FromStr for Shard {
    type Err = String;

    /// `i/n`, 0-based: `0/4` is the first of four.
    fn from_str(text: &str) -> Result<Shard, String> {
        let bad = || format!("shard '{text}': say i/n with 0 <= i < n, e.g. 0/4");
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            i.trim().parse::<usize>().map_err(|_| bad())?,
            n.trim().parse::<usize>().map_err(|_| bad())?,
        );
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// How an executor places a node: the resource class its job asks for
/// (`executor.slurm.resources.<class>`), whether its items can be split
/// over an array of jobs, and whether it wants a GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    pub class: &'static str,
    pub per_item: bool,
    pub gpu: bool,
}

/// What a dependency is to the node that reads it. Its name is part of
/// every input's key in a fingerprint (`features.features`), so the names
/// never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// An ingest node (its `manifest` of signals).
    Signals,
    /// The ingest node a protocol's folds are drawn from.
    Corpus,
    /// An extract node's feature table.
    Features,
    /// A folds node.
    Folds,
    /// A select node.
    Selection,
    /// The extract node of an augmentation's copies (their features).
    Augmented,
    /// An extract node's frame sequences.
    Frames,
    AugmentedFrames,
    /// An augment node's signals, for waveform models.
    AugmentedSignals,
    /// A train (or ensemble) node, for an evaluate node.
    Predictions,
    /// The i-th member of an ensemble.
    Member(usize),
    /// The i-th feature set of a feature union, for a join node.
    Part(usize),
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Role::Signals => "signals",
            Role::Corpus => "corpus",
            Role::Features => "features",
            Role::Folds => "folds",
            Role::Selection => "selection",
            Role::Augmented => "augmented",
            Role::Frames => "frames",
            Role::AugmentedFrames => "augmented_frames",
            Role::AugmentedSignals => "augmented_signals",
            Role::Predictions => "predictions",
            Role::Member(i) => return write!(f, "member{i}"),
            Role::Part(i) => return write!(f, "part{i}"),
        };
        f.write_str(name)
    }
}

/// The artifacts a node reads from its dependencies: role -> output name
/// -> object. Only what the stage declares in [`Stage::reads`] is here.
pub struct Inputs {
    pub by_role: BTreeMap<Role, BTreeMap<String, ObjectRef>>,
}

impl Inputs {
    pub fn file(&self, role: Role, name: &str) -> anyhow::Result<&ObjectRef> {
        self.by_role
            .get(&role)
            .and_then(|o| o.get(name))
            .ok_or_else(|| anyhow::anyhow!("missing input {role}.{name}"))
    }
}

pub trait Stage: Send + Sync {
    /// Stage name, e.g. `extract`.
    fn stage(&self) -> &'static str;
    /// Bumped whenever the stage's code changes what it computes.
    fn code_version(&self) -> u32;
    /// Everything in the config that determines the output.
    fn params(&self) -> Value;
    /// The outputs this stage reads from the dependency in `role`. Only
    /// these are in its fingerprint, so an upstream node that gains an
    /// output (say, frame tensors) does not rerun readers of its others.
    fn reads(&self, _role: Role) -> &'static [&'static str] {
        &[]
    }
    /// Digests of inputs that are not artifacts of other nodes (corpus
    /// files, protocol files).
    fn external_inputs(&self, _ctx: &Context) -> anyhow::Result<BTreeMap<String, String>> {
        Ok(BTreeMap::new())
    }
    /// A few words on how an external input changed since the digest
    /// `old` (e.g. `4 added, 0 removed, 1 changed`), for dirty reasons.
    fn describe_input_change(&self, _ctx: &Context, _input: &str, _old: &str) -> Option<String> {
        None
    }
    /// How an executor places this node (see [`Placement`]); per-item
    /// stages must honour [`Context::shard`] when they say `per_item`.
    fn placement(&self) -> Placement {
        Placement {
            class: self.stage(),
            per_item: false,
            gpu: false,
        }
    }
    /// About how many items a per-item source node has (ingest: the
    /// corpus's files), for sizing job arrays before anything has run.
    fn items_hint(&self) -> Option<usize> {
        None
    }
    fn run(&self, ctx: &Context, inputs: &Inputs) -> anyhow::Result<Outputs>;
}

/// Key of a per-item record: the hash of what determines the item.
pub fn item_key(stage: &str, code_version: u32, params: &Value, input: &str) -> String {
    let mut h = blake3::Hasher::new();
    h.update(stage.as_bytes());
    h.update(&code_version.to_le_bytes());
    h.update(params.to_string().as_bytes());
    h.update(b"\0");
    h.update(input.as_bytes());
    h.finalize().to_hex().to_string()
}
