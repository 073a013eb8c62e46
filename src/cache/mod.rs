//! The content-addressed cache.
//!
//! # Layout
//!
//! ```text
//! <cache>/
//!   VERSION                        layout version
//!   objects/ab/<blake3>.<ext>      artifacts, named by the hash of their bytes
//!   records/<stage>/ab/<key>.json  node records: what a node key produced
//!   items/<stage>/ab/<key>.json    per-item records (one decoded file, one
//!                                  utterance's features)
//!   state/<pipeline>/nodes.json    the last run of each node of one pipeline
//!   tmp/                           files being written
//!   lock                           held by `ser run` and `ser gc`
//! ```
//!
//! Objects and records never change once written: an object's name is the
//! hash of its bytes, and a record's name is the hash of everything that
//! determined its content (see [`crate::fingerprint`]). That is what lets
//! one folder be shared: two users or machines that compute the same thing
//! write the same names with the same bytes, so caches merge by copying
//! files that are missing (`rsync --ignore-existing`). Only `state/` is per
//! pipeline, keyed by the pipeline file's path.
//!
//! # Crash safety
//!
//! Every file is written to `tmp/` and renamed into place, so a reader sees
//! either no file or a whole one. Objects are written before the records
//! that name them, and records before the state that points at them: a run
//! killed at any moment (even SIGKILL) leaves at worst unreferenced objects
//! and temp files, which the next run clears (`tmp/`) or `ser gc` drops.
//! Files are not fsynced: this protects against killed processes, not power
//! loss.

pub mod lock;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use lock::CacheLock;

/// Layout version; a cache with another version is refused, not misread.
pub const LAYOUT_VERSION: &str = "1";

/// The name of an object: `<blake3 hex>.<ext>`.
pub type ObjectRef = String;

#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl Cache {
    /// Open (creating if needed) a cache folder.
    pub fn open(root: &Path) -> anyhow::Result<Cache> {
        fs::create_dir_all(root.join("tmp"))
            .map_err(|e| anyhow::anyhow!("cannot create cache folder {}: {e}", root.display()))?;
        let version_file = root.join("VERSION");
        match fs::read_to_string(&version_file) {
            Ok(v) if v.trim() == LAYOUT_VERSION => {}
            Ok(v) => anyhow::bail!(
                "cache {} has layout version {} but this ser uses {LAYOUT_VERSION}; use another cache.dir",
                root.display(),
                v.trim()
            ),
            // A new cache. Written whole and renamed into place: two runs
            // opening a fresh cache at once must not see each other's
            // empty, half-created file (which read as "layout version ''").
            // The temp file sits beside it, not in tmp/, which a run
            // holding the lock may be clearing.
            Err(_) => {
                let tmp = root.join(format!("VERSION.{}.tmp", std::process::id()));
                fs::write(&tmp, LAYOUT_VERSION)?;
                fs::rename(&tmp, &version_file).inspect_err(|_| {
                    let _ = fs::remove_file(&tmp);
                })?;
            }
        }
        Ok(Cache {
            root: root.to_path_buf(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Hold the cache's lock; blocks (after saying so) while another
    /// process holds it.
    pub fn lock(&self) -> anyhow::Result<CacheLock> {
        CacheLock::acquire(&self.root.join("lock"))
    }

    /// Remove leftovers of killed runs. Only call with the lock held.
    pub fn clear_tmp(&self) -> io::Result<()> {
        let tmp = self.root.join("tmp");
        for entry in fs::read_dir(&tmp)? {
            let _ = fs::remove_file(entry?.path());
        }
        Ok(())
    }

    pub fn object_path(&self, object: &str) -> PathBuf {
        self.root.join("objects").join(&object[..2]).join(object)
    }

    pub fn has_object(&self, object: &str) -> bool {
        self.object_path(object).is_file()
    }

    /// Store bytes as an object; returns its name. Writing an object that
    /// exists is a no-op (same name, same bytes).
    pub fn put_object(&self, bytes: &[u8], ext: &str) -> io::Result<ObjectRef> {
        let name = format!("{}.{ext}", blake3::hash(bytes).to_hex());
        let path = self.object_path(&name);
        if !path.is_file() {
            self.write_atomic(&path, bytes)?;
        }
        Ok(name)
    }

    pub fn read_object(&self, object: &str) -> anyhow::Result<Vec<u8>> {
        fs::read(self.object_path(object)).map_err(|e| {
            anyhow::anyhow!(
                "cache object {object} is unreadable: {e} (run `ser gc` or delete the cache)"
            )
        })
    }

    fn record_path(&self, kind: &str, stage: &str, key: &str) -> PathBuf {
        self.root
            .join(kind)
            .join(stage)
            .join(&key[..2])
            .join(format!("{key}.json"))
    }

    pub fn node_record_path(&self, stage: &str, key: &str) -> PathBuf {
        self.record_path("records", stage, key)
    }

    pub fn item_record_path(&self, stage: &str, key: &str) -> PathBuf {
        self.record_path("items", stage, key)
    }

    pub fn read_json<T: DeserializeOwned>(&self, path: &Path) -> Option<T> {
        let bytes = fs::read(path).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    pub fn write_json<T: Serialize>(&self, path: &Path, value: &T) -> io::Result<()> {
        let bytes = serde_json::to_vec(value).map_err(io::Error::other)?;
        self.write_atomic(path, &bytes)
    }

    pub fn state_dir(&self, pipeline_id: &str) -> PathBuf {
        self.root.join("state").join(pipeline_id)
    }

    /// Write via a temp file and rename, so readers never see half a file.
    pub fn write_atomic(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = self
            .root
            .join("tmp")
            .join(format!("{}-{n}", std::process::id()));
        fs::write(&tmp, bytes)?;
        fs::rename(&tmp, path).inspect_err(|_| {
            let _ = fs::remove_file(&tmp);
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_named_by_content() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let a = cache.put_object(b"hello", "txt").unwrap();
        let b = cache.put_object(b"hello", "txt").unwrap();
        assert_eq!(a, b);
        assert_eq!(a, format!("{}.txt", blake3::hash(b"hello").to_hex()));
        assert_eq!(cache.read_object(&a).unwrap(), b"hello");
        assert!(!cache.has_object(&cache.put_object(b"x", "txt").unwrap().replace('.', "_")));
        // Nothing is left in tmp/ after successful writes.
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn refuses_another_layout_version() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("VERSION"), "999").unwrap();
        let err = Cache::open(dir.path()).unwrap_err().to_string();
        assert!(err.contains("layout version 999"), "{err}");
    }
}
