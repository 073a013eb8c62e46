//! `ser gc --remote`: drop packs that no pushed state reaches.
//!
//! Roots are every `states/*.json` on the remote. A pack none of whose
//! members is in their closure is deleted (index first, so readers stop
//! seeing it before its bytes go), but only once its index is older than
//! the grace period: a push in progress has written packs that no state
//! names yet. Packs without an index (killed pushes) go after the same
//! grace period. A pack with some live and some dead members is repacked:
//! its live members go into a new pack (written, with its index, first),
//! then the old index and pack are deleted. If any root cannot be read,
//! nothing is deleted.
//!
//! A client that loaded the remote's index before a gc may find a pack
//! gone: read-through then computes locally, and a pull says which files
//! it could not read (run it again).

use std::collections::BTreeSet;
use std::time::Duration;

use super::fetch;
use super::index::RemoteIndex;
use super::pack;
use super::{PushedState, Remote};
use crate::cache::closure;

#[derive(Debug, Default)]
pub struct RemoteGcReport {
    pub states: usize,
    /// Packs deleted (or, dry run, that would be), with their bytes.
    pub deleted: Vec<(String, u64)>,
    /// Dead packs kept because they are younger than the grace period.
    pub young: usize,
    /// Packs kept because every member is reachable.
    pub live: usize,
    /// Packs rewritten without their dead members: (old pack, dead bytes).
    pub repacked: Vec<(String, u64)>,
}

pub fn collect(
    remote: &Remote,
    index: &RemoteIndex,
    grace: Duration,
    dry_run: bool,
) -> anyhow::Result<RemoteGcReport> {
    let mut report = RemoteGcReport::default();
    let mut roots = Vec::new();
    for listed in remote.list("states")? {
        if !listed.key.ends_with(".json") {
            continue;
        }
        let bytes = remote.get(&listed.key)?;
        let state: PushedState = serde_json::from_slice(&bytes).map_err(|e| {
            anyhow::anyhow!(
                "remote {}: {} is unreadable ({e}); nothing deleted",
                remote.url,
                listed.key
            )
        })?;
        roots.extend(state.roots());
        report.states += 1;
    }
    let mut refused = Vec::new();
    let reachable: BTreeSet<String> = closure::closure(&roots, &mut |paths: &[String]| {
        let (read, bad) = fetch::read_many(remote, index, paths);
        refused.extend(bad);
        read
    });
    anyhow::ensure!(
        refused.is_empty(),
        "remote {}: cannot read {} record(s) that pushed states name (first: {}); nothing deleted",
        remote.url,
        refused.len(),
        refused[0]
    );
    for info in &index.packs {
        let (live, age) = match &info.index {
            None => (0, info.age),
            Some(idx) => (
                idx.members
                    .iter()
                    .filter(|m| reachable.contains(&m.path))
                    .count(),
                info.index_age,
            ),
        };
        let members = info.index.as_ref().map_or(0, |idx| idx.members.len());
        if live > 0 && live == members {
            report.live += 1;
            continue;
        }
        if age < grace {
            report.young += 1;
            continue;
        }
        if live > 0 {
            let idx = info
                .index
                .as_ref()
                .expect("a pack with members has an index");
            let dead_bytes: u64 = idx
                .members
                .iter()
                .filter(|m| !reachable.contains(&m.path))
                .map(|m| m.len)
                .sum();
            if !dry_run {
                repack(remote, idx, &reachable)?;
            }
            report.repacked.push((info.name.clone(), dead_bytes));
            continue;
        }
        if !dry_run {
            if info.index.is_some() {
                remote.delete(&pack::index_key(&info.name))?;
            }
            remote.delete(&pack::pack_key(&info.name))?;
        }
        report.deleted.push((info.name.clone(), info.size));
    }
    Ok(report)
}

/// Write `idx`'s live members into a new pack, then delete the old one.
fn repack(
    remote: &Remote,
    idx: &pack::PackIndex,
    reachable: &BTreeSet<String>,
) -> anyhow::Result<()> {
    let live: Vec<String> = idx
        .members
        .iter()
        .filter(|m| reachable.contains(&m.path))
        .map(|m| m.path.clone())
        .collect();
    let mut builder = pack::PackBuilder::default();
    // Read from this very pack (the index may name another copy first).
    let mut by_path = std::collections::HashMap::new();
    for m in &idx.members {
        by_path.insert(m.path.clone(), m.clone());
    }
    let location = |path: &str| super::index::Location {
        pack: std::sync::Arc::from(idx.pack.as_str()),
        member: by_path[path].clone(),
    };
    for path in &live {
        let bytes = fetch::read_member(remote, &location(path))
            .map_err(|e| anyhow::anyhow!("repacking {}: {e}; nothing of it deleted", idx.pack))?;
        builder.add(path, &bytes);
    }
    // Some members are dead, so the new pack's bytes (and name) differ.
    let (bytes, new_idx) = builder.finish();
    remote.put(&pack::pack_key(&new_idx.pack), bytes.into())?;
    remote.put(
        &pack::index_key(&new_idx.pack),
        serde_json::to_vec(&new_idx)?.into(),
    )?;
    remote.delete(&pack::index_key(&idx.pack))?;
    remote.delete(&pack::pack_key(&idx.pack))?;
    Ok(())
}
