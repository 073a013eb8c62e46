//! Per-pipeline state: the last run of each node.
//!
//! The cache's records say what a key produced; this file says which key
//! each node of *this* pipeline had last time, so a changed node can be
//! told apart from a new one (for its dirty reason), `ser metrics` can find
//! the latest results, and `ser gc` knows what is still in use.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::cache::Cache;
use crate::fingerprint::Fingerprint;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeState {
    pub stage: String,
    pub key: String,
    pub fingerprint: Fingerprint,
}

pub struct PipelineState {
    cache: Cache,
    pipeline_id: String,
    nodes: Mutex<BTreeMap<String, NodeState>>,
}

impl PipelineState {
    pub fn load(cache: &Cache, pipeline_id: &str) -> PipelineState {
        let path = cache.state_dir(pipeline_id).join("nodes.json");
        let nodes = cache.read_json(&path).unwrap_or_default();
        PipelineState {
            cache: cache.clone(),
            pipeline_id: pipeline_id.to_string(),
            nodes: Mutex::new(nodes),
        }
    }

    pub fn get(&self, node: &str) -> Option<NodeState> {
        self.nodes.lock().expect("state lock").get(node).cloned()
    }

    /// Record a node's run and write the state file (atomically).
    pub fn set(&self, node: &str, state: NodeState) -> std::io::Result<()> {
        let mut nodes = self.nodes.lock().expect("state lock");
        nodes.insert(node.to_string(), state);
        let path = self.cache.state_dir(&self.pipeline_id).join("nodes.json");
        self.cache.write_json(&path, &*nodes)
    }

    /// Every pipeline's node states in a cache (the roots of `ser gc`).
    pub fn all(cache: &Cache) -> Vec<NodeState> {
        let mut out = Vec::new();
        if let Ok(dirs) = std::fs::read_dir(cache.root().join("state")) {
            for dir in dirs.flatten() {
                let nodes: BTreeMap<String, NodeState> = cache
                    .read_json(&dir.path().join("nodes.json"))
                    .unwrap_or_default();
                out.extend(nodes.into_values());
            }
        }
        out
    }
}
