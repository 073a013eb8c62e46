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
pub mod select;
pub mod train;
pub mod train_deep;

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
}

/// The artifacts a node reads from its dependencies: role -> output name
/// -> object. Only what the stage declares in [`Stage::reads`] is here.
pub struct Inputs {
    pub by_role: BTreeMap<String, BTreeMap<String, ObjectRef>>,
}

impl Inputs {
    pub fn file(&self, role: &str, name: &str) -> anyhow::Result<&ObjectRef> {
        self.by_role
            .get(role)
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
    fn reads(&self, _role: &str) -> &'static [&'static str] {
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
