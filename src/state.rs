//! Per-pipeline state: the last run of each node.
//!
//! The cache's records say what a key produced; this file says which key
//! each node of *this* pipeline had last time, so a changed node can be
//! told apart from a new one (for its dirty reason), `ser metrics` can find
//! the latest results, and `ser gc` knows what is still in use.
//!
//! Several runs of one pipeline may share a cache at once. Each write takes
//! a short lock on `state/<pipeline>/nodes.lock`, reads the file again and
//! changes only its own node (last writer wins, per node), so no run loses
//! another's entries.

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

    /// Record a node's run and write the state file (atomically), merged
    /// with what other processes wrote meanwhile.
    pub fn set(&self, node: &str, state: NodeState) -> std::io::Result<()> {
        let mut nodes = self.nodes.lock().expect("state lock");
        nodes.insert(node.to_string(), state.clone());
        let dir = self.cache.state_dir(&self.pipeline_id);
        self.cache.create_dirs(&dir)?;
        let lock_path = dir.join("nodes.lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| crate::cache::io_error(&lock_path, e))?;
        self.cache.set_file_mode(&lock_path);
        lock.lock()?;
        let path = dir.join("nodes.json");
        let mut on_disk: BTreeMap<String, NodeState> =
            self.cache.read_json(&path).unwrap_or_default();
        on_disk.insert(node.to_string(), state);
        self.cache.write_json(&path, &on_disk)
    }

    /// Take `state` as a node's, in memory only (not written): see
    /// [`crate::scheduler::with_cached_nodes`].
    pub fn remember(&self, node: &str, state: NodeState) {
        self.nodes
            .lock()
            .expect("state lock")
            .insert(node.to_string(), state);
    }

    /// The cache record of `node`'s entry, if it has one and the record is
    /// still in the cache.
    pub fn record(&self, node: &str) -> Option<crate::stage::NodeRecord> {
        let entry = self.get(node)?;
        self.cache
            .read_json(&self.cache.node_record_path(&entry.stage, &entry.key))
    }

    /// This pipeline's nodes as loaded and since set (for pushes).
    pub fn snapshot(&self) -> BTreeMap<String, NodeState> {
        self.nodes.lock().expect("state lock").clone()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn node_state(key: &str) -> NodeState {
        NodeState {
            stage: "extract".into(),
            key: key.into(),
            fingerprint: Fingerprint {
                stage: "extract".into(),
                code_version: 1,
                params: serde_json::Value::Null,
                inputs: Default::default(),
            },
        }
    }

    #[test]
    fn two_writers_of_one_pipeline_keep_each_others_nodes() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        // Two processes' views, loaded before either wrote.
        let a = PipelineState::load(&cache, "p");
        let b = PipelineState::load(&cache, "p");
        std::thread::scope(|s| {
            s.spawn(|| {
                for i in 0..50 {
                    a.set(&format!("a{i}"), node_state("ka")).unwrap();
                }
            });
            s.spawn(|| {
                for i in 0..50 {
                    b.set(&format!("b{i}"), node_state("kb")).unwrap();
                }
            });
        });
        b.set("shared", node_state("last")).unwrap();
        let merged = PipelineState::load(&cache, "p");
        for i in 0..50 {
            assert_eq!(merged.get(&format!("a{i}")).unwrap().key, "ka");
            assert_eq!(merged.get(&format!("b{i}")).unwrap().key, "kb");
        }
        assert_eq!(merged.get("shared").unwrap().key, "last");
    }
}
