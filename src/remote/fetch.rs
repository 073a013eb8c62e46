//! Downloads: members of packs into a local cache, verified first.
//!
//! Members are grouped by pack and read with one ranged request per run of
//! nearby members (`get_ranges` coalesces them), several packs at once.
//! Each member is checked ([`super::pack::verify`]) before it is written;
//! a corrupt or truncated one is refused by name and never written.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use object_store::path::Path as StorePath;

use super::index::{Location, RemoteIndex};
use super::pack::{self, Member};
use super::{PARALLEL_TRANSFERS, Remote};
use crate::cache::Cache;
use crate::progress::Progress;

/// What a fetch did.
#[derive(Debug, Default)]
pub struct FetchReport {
    pub files: usize,
    pub bytes: u64,
    /// Paths the remote does not have.
    pub missing: Vec<String>,
    /// `path: reason` for members that failed their check or their read.
    pub refused: Vec<String>,
}

/// Read one member's bytes, verified.
pub fn read_member(remote: &Remote, location: &Location) -> Result<Vec<u8>, String> {
    let m = &location.member;
    let key = StorePath::from(pack::pack_key(&location.pack));
    let bytes = remote
        .block_on(
            remote
                .store()
                .get_ranges(&key, std::slice::from_ref(&(m.offset..m.offset + m.len))),
        )
        .map_err(|e| format!("{}: {}", m.path, super::describe(&e)))?;
    let bytes = bytes.into_iter().next().unwrap_or_default();
    pack::verify(m, &bytes)?;
    Ok(bytes.to_vec())
}

/// Download `paths` (cache paths) that the cache lacks into it.
pub fn fetch_into(
    cache: &Cache,
    remote: &Remote,
    index: &RemoteIndex,
    paths: &[String],
    progress: &Progress,
) -> FetchReport {
    let wanted: Vec<String> = paths
        .iter()
        .filter(|p| !cache.root().join(p).is_file())
        .cloned()
        .collect();
    let mut report = FetchReport::default();
    let (groups, missing) = group_by_pack(index, &wanted);
    report.missing = missing;
    let total: u64 = groups.values().flatten().map(|m| m.len).sum();
    let bar = progress.bytes_bar(total, "pull");
    let done = Mutex::new((0usize, 0u64));
    report.refused = for_each_member(remote, groups, &|member, data| {
        bar.inc(member.len);
        cache
            .put_local(&member.path, data)
            .map_err(|e| format!("{}: {e}", member.path))?;
        let mut d = done.lock().expect("fetch counter");
        d.0 += 1;
        d.1 += member.len;
        Ok(())
    });
    bar.finish_and_clear();
    (report.files, report.bytes) = done.into_inner().expect("fetch counter");
    report
}

/// Download the closure of `roots` (stage, key) into the cache: node
/// records, then the items and objects they name, then the objects the
/// items name (see [`crate::cache::closure`]).
pub fn fetch_closure(
    cache: &Cache,
    remote: &Remote,
    index: &RemoteIndex,
    roots: &[(String, String)],
    progress: &Progress,
) -> FetchReport {
    let mut report = FetchReport::default();
    let add = |report: &mut FetchReport, round: FetchReport| {
        report.files += round.files;
        report.bytes += round.bytes;
        report.refused.extend(round.refused);
        round.missing
    };
    let paths = crate::cache::closure::closure(roots, &mut |paths: &[String]| {
        add(
            &mut report,
            fetch_into(cache, remote, index, paths, progress),
        );
        crate::cache::closure::local_reader(cache.root())(paths)
    });
    // The objects items name are only known after the last round.
    let objects: Vec<String> = paths
        .iter()
        .filter(|p| p.starts_with("objects/"))
        .cloned()
        .collect();
    report.missing = add(
        &mut report,
        fetch_into(cache, remote, index, &objects, progress),
    );
    report
}

/// Read `paths` from the remote into memory, verified (small files:
/// records, for `ser gc --remote`). Returns what was read and what was refused.
pub fn read_many(
    remote: &Remote,
    index: &RemoteIndex,
    paths: &[String],
) -> (HashMap<String, Vec<u8>>, Vec<String>) {
    let (groups, _missing) = group_by_pack(index, paths);
    let out = Mutex::new(HashMap::new());
    let refused = for_each_member(remote, groups, &|member, data| {
        out.lock()
            .expect("read map")
            .insert(member.path.clone(), data.to_vec());
        Ok(())
    });
    (out.into_inner().expect("read map"), refused)
}

fn group_by_pack(
    index: &RemoteIndex,
    paths: &[String],
) -> (BTreeMap<Arc<str>, Vec<Member>>, Vec<String>) {
    let mut groups: BTreeMap<Arc<str>, Vec<Member>> = BTreeMap::new();
    let mut missing = Vec::new();
    for path in paths {
        match index.get(path) {
            Some(loc) => groups
                .entry(loc.pack.clone())
                .or_default()
                .push(loc.member.clone()),
            None => missing.push(path.clone()),
        }
    }
    (groups, missing)
}

/// What takes a verified member's bytes: Err refuses it, with the reason.
type AcceptMember<'a> = dyn Fn(&Member, &[u8]) -> Result<(), String> + Sync + 'a;

/// Read every member of `groups` (one coalesced ranged read per pack,
/// several packs at once), verify it and hand it to `accept`. Returns the
/// refused members as `path: reason` lines, sorted.
fn for_each_member(
    remote: &Remote,
    groups: BTreeMap<Arc<str>, Vec<Member>>,
    accept: &AcceptMember<'_>,
) -> Vec<String> {
    let results: Vec<Vec<String>> = remote.block_on(
        futures::stream::iter(groups)
            .map(|(pack_name, mut members)| async move {
                members.sort_by_key(|m| m.offset);
                let ranges: Vec<Range<u64>> =
                    members.iter().map(|m| m.offset..m.offset + m.len).collect();
                let key = StorePath::from(pack::pack_key(&pack_name));
                let mut refused = Vec::new();
                match remote.store().get_ranges(&key, &ranges).await {
                    Err(e) => {
                        for m in &members {
                            refused.push(format!(
                                "{} (pack {pack_name}): {}",
                                m.path,
                                super::describe(&e)
                            ));
                        }
                    }
                    Ok(parts) => {
                        for (m, data) in members.iter().zip(parts) {
                            let checked = pack::verify(m, &data)
                                .map_err(|reason| format!("{reason} in pack {pack_name}"))
                                .and_then(|()| accept(m, &data));
                            if let Err(reason) = checked {
                                refused.push(reason);
                            }
                        }
                    }
                }
                refused
            })
            .buffer_unordered(PARALLEL_TRANSFERS)
            .collect(),
    );
    let mut refused: Vec<String> = results.into_iter().flatten().collect();
    refused.sort();
    refused
}
