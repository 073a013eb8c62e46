//! `ser gc` and `ser clean`: drop what no pipeline uses.
//!
//! The roots are the last-run nodes of every pipeline that uses the cache
//! (`state/*/nodes.json`). Kept: their records, the objects those records
//! name (outputs and refs) and the per-item records they list. Everything
//! else in `records/`, `items/` and `objects/` is removed.

use std::collections::HashSet;
use std::path::Path;

use crate::cache::Cache;
use crate::commands::PipelineArgs;
use crate::stage::NodeRecord;
use crate::state::PipelineState;

pub fn gc(args: &PipelineArgs) -> anyhow::Result<i32> {
    let (_pipeline, cache) = args.load()?;
    let _lock = cache.lock()?;
    collect(&cache)
}

/// `ser clean`: forget this pipeline's runs, then collect; `--all` deletes
/// the whole cache folder.
pub fn clean(args: &PipelineArgs, all: bool) -> anyhow::Result<i32> {
    let (pipeline, cache) = args.load()?;
    if all {
        let root = cache.root().to_path_buf();
        std::fs::remove_dir_all(&root)?;
        eprintln!("removed {}", root.display());
        return Ok(0);
    }
    let _lock = cache.lock()?;
    let state_dir = cache.state_dir(&pipeline.id);
    if state_dir.exists() {
        std::fs::remove_dir_all(&state_dir)?;
    }
    collect(&cache)
}

fn collect(cache: &Cache) -> anyhow::Result<i32> {
    cache.clear_tmp()?;
    let mut keep_records = HashSet::new();
    let mut keep_objects = HashSet::new();
    let mut keep_items = HashSet::new();
    for node in PipelineState::all(cache) {
        let path = cache.node_record_path(&node.stage, &node.key);
        let Some(record) = cache.read_json::<NodeRecord>(&path) else {
            continue;
        };
        keep_records.insert(path);
        keep_objects.extend(record.outputs.files.values().cloned());
        keep_objects.extend(record.outputs.refs.iter().cloned());
        for item in &record.outputs.items {
            let (stage, key) = item.split_once('/').unwrap_or(("", item));
            let item_path = cache.item_record_path(stage, key);
            // Item records name objects of their own (a decoded signal,
            // an utterance's functionals and frames).
            if let Some(record) = cache.read_json::<serde_json::Value>(&item_path) {
                object_names(&record, &mut keep_objects);
            }
            keep_items.insert(item_path);
        }
    }
    let mut removed = (0usize, 0u64);
    sweep(
        &cache.root().join("records"),
        &|p| keep_records.contains(p),
        &mut removed,
    )?;
    sweep(
        &cache.root().join("items"),
        &|p| keep_items.contains(p),
        &mut removed,
    )?;
    sweep(
        &cache.root().join("objects"),
        &|p| {
            p.file_name()
                .is_some_and(|n| keep_objects.contains(n.to_string_lossy().as_ref()))
        },
        &mut removed,
    )?;
    eprintln!(
        "removed {} file(s), {:.1} MB",
        removed.0,
        removed.1 as f64 / 1e6
    );
    Ok(0)
}

/// Every string in a record that is an object name (`<blake3 hex>.<ext>`).
fn object_names(value: &serde_json::Value, out: &mut HashSet<String>) {
    match value {
        serde_json::Value::String(s) => {
            let is_object = s.split_once('.').is_some_and(|(hash, ext)| {
                hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) && !ext.is_empty()
            });
            if is_object {
                out.insert(s.clone());
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| object_names(v, out)),
        serde_json::Value::Object(map) => map.values().for_each(|v| object_names(v, out)),
        _ => {}
    }
}

fn sweep(
    dir: &Path,
    keep: &dyn Fn(&Path) -> bool,
    removed: &mut (usize, u64),
) -> std::io::Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries {
        let path = entry?.path();
        if path.is_dir() {
            sweep(&path, keep, removed)?;
        } else if !keep(&path) {
            removed.1 += path.metadata().map(|m| m.len()).unwrap_or(0);
            std::fs::remove_file(&path)?;
            removed.0 += 1;
        }
    }
    Ok(())
}
