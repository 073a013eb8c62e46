//! Uploads: the cache files a remote lacks, packed, in dependency order.
//!
//! Step by step: objects, then per-item records, then node records, then
//! the state; every pack of a step (and its index) is written before the
//! next step starts. Within a step packs go up side by side.

use std::collections::BTreeSet;

use bytes::Bytes;
use futures::StreamExt;
use object_store::path::Path as StorePath;
use object_store::{ObjectStoreExt, PutPayload};

use super::index::RemoteIndex;
use super::pack::{self, PackBuilder, PackIndex};
use super::{PARALLEL_TRANSFERS, Remote};
use crate::cache::Cache;
use crate::progress::Progress;

#[derive(Debug, Default)]
pub struct PushReport {
    /// Files uploaded.
    pub files: usize,
    pub bytes: u64,
    /// Files the remote already had.
    pub present: usize,
    pub packs: usize,
}

/// Push `paths` (cache paths) the remote lacks, then `state` (name, JSON)
/// if given.
pub fn push(
    cache: &Cache,
    remote: &Remote,
    index: &mut RemoteIndex,
    paths: &BTreeSet<String>,
    state: Option<(&str, Vec<u8>)>,
    progress: &Progress,
) -> anyhow::Result<PushReport> {
    let mut report = PushReport::default();
    let mut steps: [Vec<(String, u64)>; 3] = Default::default();
    for path in paths {
        if index.contains(path) {
            report.present += 1;
            continue;
        }
        let size = std::fs::metadata(cache.root().join(path))
            .map_err(|e| anyhow::anyhow!("cannot push {path}: {e}"))?
            .len();
        let step = if path.starts_with("objects/") {
            0
        } else if path.starts_with("items/") {
            1
        } else {
            2
        };
        steps[step].push((path.clone(), size));
    }
    let total: u64 = steps.iter().flatten().map(|(_, s)| s).sum();
    let bar = progress.bytes_bar(total, "push");
    for step in steps {
        let groups = cut(step);
        let pushed: Vec<anyhow::Result<PackIndex>> = remote.block_on(
            futures::stream::iter(groups)
                .map(|group| upload_pack(cache, remote, group, &bar))
                .buffer_unordered(PARALLEL_TRANSFERS)
                .collect(),
        );
        for result in pushed {
            let idx = result?;
            report.files += idx.members.len();
            report.bytes += idx.size;
            report.packs += 1;
            index.add_pack(idx);
        }
    }
    bar.finish_and_clear();
    if let Some((name, bytes)) = state {
        remote.put(&format!("states/{name}.json"), Bytes::from(bytes))?;
    }
    Ok(report)
}

/// Groups of files of about [`pack::TARGET_SIZE`] each.
fn cut(mut files: Vec<(String, u64)>) -> Vec<Vec<String>> {
    files.sort();
    let mut groups = Vec::new();
    let (mut group, mut size) = (Vec::new(), 0u64);
    for (path, len) in files {
        group.push(path);
        size += len;
        if size >= pack::TARGET_SIZE {
            groups.push(std::mem::take(&mut group));
            size = 0;
        }
    }
    if !group.is_empty() {
        groups.push(group);
    }
    groups
}

async fn upload_pack(
    cache: &Cache,
    remote: &Remote,
    group: Vec<String>,
    bar: &indicatif::ProgressBar,
) -> anyhow::Result<PackIndex> {
    let mut builder = PackBuilder::default();
    for path in &group {
        let bytes = std::fs::read(cache.root().join(path))
            .map_err(|e| anyhow::anyhow!("cannot push {path}: {e}"))?;
        if path.starts_with("objects/") {
            // Never publish a local object whose bytes no longer match
            // its name (a disk error, a hand edit).
            let name = path.rsplit('/').next().unwrap_or_default();
            let hash = blake3::hash(&bytes).to_hex();
            anyhow::ensure!(
                name.split('.').next() == Some(hash.as_str()),
                "cannot push {path}: its content does not match its name (corrupt local object; delete it and rerun)"
            );
        }
        builder.add(path, &bytes);
    }
    let (bytes, idx) = builder.finish();
    let len = bytes.len() as u64;
    let store = remote.store();
    store
        .put(
            &StorePath::from(pack::pack_key(&idx.pack)),
            PutPayload::from(bytes),
        )
        .await
        .map_err(|e| remote.error("upload", e))?;
    let idx_bytes = serde_json::to_vec(&idx)?;
    store
        .put(
            &StorePath::from(pack::index_key(&idx.pack)),
            PutPayload::from(idx_bytes),
        )
        .await
        .map_err(|e| remote.error("upload", e))?;
    bar.inc(len);
    Ok(idx)
}
