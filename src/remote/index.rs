//! What a remote holds: the union of its pack indexes.
//!
//! Loading is one LIST of `packs/` and a GET of each index not seen
//! before; indexes never change once written (a pack's name is its hash),
//! so they are kept in the local cache (`<cache>/remotes/<id>/`) and later
//! runs fetch only new ones.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use object_store::ObjectStoreExt;

use super::pack::{self, Member, PackIndex};
use super::{PARALLEL_TRANSFERS, Remote};

/// Where a cache path lives on the remote.
#[derive(Debug, Clone)]
pub struct Location {
    pub pack: Arc<str>,
    pub member: Member,
}

/// A pack as listed.
#[derive(Debug, Clone)]
pub struct PackInfo {
    pub name: String,
    pub size: u64,
    pub age: Duration,
    /// Its `.idx`, if written (a pack without one is a killed push's).
    pub index: Option<Arc<PackIndex>>,
    pub index_age: Duration,
}

#[derive(Debug, Default)]
pub struct RemoteIndex {
    by_path: HashMap<String, Location>,
    pub packs: Vec<PackInfo>,
    /// Warnings met while loading (unreadable indexes), shown once.
    pub warnings: Vec<String>,
}

impl RemoteIndex {
    /// List the remote and read every pack index, using and filling the
    /// local copies in `local_dir`.
    pub fn load(remote: &Remote, local_dir: &Path) -> anyhow::Result<RemoteIndex> {
        let listed = remote.list("packs")?;
        let mut packs: HashMap<String, PackInfo> = HashMap::new();
        let mut index_ages = HashMap::new();
        for item in &listed {
            let Some(file) = item.key.strip_prefix("packs/") else {
                continue;
            };
            if let Some(name) = file.strip_suffix(".pack") {
                packs.insert(
                    name.to_string(),
                    PackInfo {
                        name: name.to_string(),
                        size: item.size,
                        age: item.age,
                        index: None,
                        index_age: Duration::ZERO,
                    },
                );
            } else if let Some(name) = file.strip_suffix(".idx") {
                index_ages.insert(name.to_string(), item.age);
            }
        }
        let _ = std::fs::create_dir_all(local_dir);
        let wanted: Vec<String> = index_ages
            .keys()
            .filter(|name| packs.contains_key(*name))
            .cloned()
            .collect();
        let loaded: Vec<(String, Result<PackIndex, String>)> = remote.block_on(
            futures::stream::iter(wanted)
                .map(|name| async move {
                    let result = read_index(remote, local_dir, &name).await;
                    (name, result)
                })
                .buffer_unordered(PARALLEL_TRANSFERS * 2)
                .collect(),
        );
        let mut index = RemoteIndex::default();
        for (name, result) in loaded {
            match result {
                Ok(idx) => {
                    let info = packs.get_mut(&name).expect("wanted only listed packs");
                    if idx.size != info.size {
                        index.warnings.push(format!(
                            "remote {}: pack {name} is {} bytes but its index says {}; its files are not used",
                            remote.url, info.size, idx.size
                        ));
                        continue;
                    }
                    info.index = Some(Arc::new(idx));
                    info.index_age = index_ages[&name];
                }
                Err(e) => index.warnings.push(e),
            }
        }
        let mut packs: Vec<PackInfo> = packs.into_values().collect();
        packs.sort_by(|a, b| a.name.cmp(&b.name));
        for info in &packs {
            if let Some(idx) = &info.index {
                let pack: Arc<str> = Arc::from(info.name.as_str());
                for member in &idx.members {
                    index
                        .by_path
                        .entry(member.path.clone())
                        .or_insert_with(|| Location {
                            pack: pack.clone(),
                            member: member.clone(),
                        });
                }
            }
        }
        index.packs = packs;
        Ok(index)
    }

    pub fn get(&self, path: &str) -> Option<&Location> {
        self.by_path.get(path)
    }

    pub fn contains(&self, path: &str) -> bool {
        self.by_path.contains_key(path)
    }

    pub fn len(&self) -> usize {
        self.by_path.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_path.is_empty()
    }

    /// Record a pack this process just pushed, so later lookups see it.
    pub fn add_pack(&mut self, idx: PackIndex) {
        let pack: Arc<str> = Arc::from(idx.pack.as_str());
        for member in &idx.members {
            self.by_path
                .entry(member.path.clone())
                .or_insert_with(|| Location {
                    pack: pack.clone(),
                    member: member.clone(),
                });
        }
        self.packs.push(PackInfo {
            name: idx.pack.clone(),
            size: idx.size,
            age: Duration::ZERO,
            index: Some(Arc::new(idx)),
            index_age: Duration::ZERO,
        });
    }

    pub fn paths(&self) -> HashSet<&str> {
        self.by_path.keys().map(|s| s.as_str()).collect()
    }
}

async fn read_index(remote: &Remote, local_dir: &Path, name: &str) -> Result<PackIndex, String> {
    let local: PathBuf = local_dir.join(format!("{name}.idx"));
    let bytes = match std::fs::read(&local) {
        Ok(b) => b,
        Err(_) => {
            let key = object_store::path::Path::from(pack::index_key(name));
            let fetched = async { remote.store().get(&key).await?.bytes().await }
                .await
                .map_err(|e| format!("remote {}: {}", remote.url, super::describe(&e)))?;
            fetched.to_vec()
        }
    };
    let idx: PackIndex = serde_json::from_slice(&bytes).map_err(|e| {
        let _ = std::fs::remove_file(&local);
        format!(
            "remote {}: index of pack {name} is unreadable ({e}); its files are not used",
            remote.url
        )
    })?;
    if idx.format != pack::FORMAT || idx.pack != name {
        return Err(format!(
            "remote {}: index of pack {name} has format {} for pack {}; its files are not used",
            remote.url, idx.format, idx.pack
        ));
    }
    if !local.is_file() {
        let tmp = local.with_extension(format!("idx.{}.tmp", std::process::id()));
        if std::fs::write(&tmp, &bytes).is_ok() {
            let _ = std::fs::rename(&tmp, &local);
        }
    }
    Ok(idx)
}
