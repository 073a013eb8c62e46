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
//!   lock                           shared by runs and readers, exclusive for gc
//!   locks/<key>                    held while a node is computed (see [`lock`])
//!   remotes/<id>/<pack>.idx        copies of a remote's pack indexes
//! ```
//!
//! Objects and records never change once written: an object's name is the
//! hash of its bytes, and a record's name is the hash of everything that
//! determined its content (see [`crate::fingerprint`]). That is what lets
//! one folder be shared: two users or machines that compute the same thing
//! write the same names with the same bytes, so many runs write into one
//! folder at once, and caches merge by copying files that are missing
//! ([`crate::remote`] does it through a directory or S3). Only `state/` is
//! per pipeline, keyed by the pipeline file's path.
//!
//! # Sharing a folder with a Unix group
//!
//! With [`Sharing::Group`] (`cache.shared: group`, `--shared group`, or a
//! cache folder whose setgid bit is set) new files are made 0664 and new
//! folders 2775, so every member of the folder's group can write what
//! another member created. A permission error names the file and the fix.
//!
//! # Read-through
//!
//! A cache opened with a remote ([`Cache::with_remote`]) looks there for
//! records, items and objects it lacks: each is downloaded, checked against
//! its blake3, written locally, then used as if computed here.
//!
//! # Crash safety
//!
//! Every file is written to `tmp/` and renamed into place, so a reader sees
//! either no file or a whole one. Objects are written before the records
//! that name them, and records before the state that points at them: a run
//! killed at any moment (even SIGKILL) leaves at worst unreferenced objects
//! and temp files, which later runs clear (`tmp/` files untouched for an
//! hour; all of them under `ser gc`'s exclusive lock) or `ser gc` drops.
//! Files are not fsynced: this protects against killed processes, not power
//! loss.

pub mod closure;
pub mod lock;

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use lock::{CacheLock, LockMode, NodeLock};

use crate::remote::ReadThrough;

/// Who may write the cache folder's new files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Sharing {
    /// The process's umask decides (usually only the owner writes).
    #[default]
    Private,
    /// Files 0664, folders 2775: the folder's Unix group shares the cache.
    Group,
}

/// A temp file untouched this long belongs to a killed process.
pub const STALE_TMP: Duration = Duration::from_secs(3600);

/// Layout version; a cache with another version is refused, not misread.
pub const LAYOUT_VERSION: &str = "1";

/// The name of an object: `<blake3 hex>.<ext>`.
pub type ObjectRef = String;

#[derive(Clone)]
pub struct Cache {
    root: PathBuf,
    sharing: Sharing,
    remote: Option<Arc<ReadThrough>>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cache({})", self.root.display())
    }
}

/// An I/O error that names the file, and for a permission error the fix.
pub fn io_error(path: &Path, e: io::Error) -> io::Error {
    let message = if e.kind() == io::ErrorKind::PermissionDenied {
        format!(
            "{}: permission denied. In a cache shared by a Unix group, every member needs write \
             access: have the owner run `chgrp -R GROUP DIR && chmod -R g+rwX DIR && find DIR -type d \
             -exec chmod g+s {{}} +` on the cache folder, and set `cache.shared: group` (or \
             --shared group) so new files stay group-writable",
            path.display()
        )
    } else {
        format!("{}: {e}", path.display())
    };
    io::Error::new(e.kind(), message)
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl Cache {
    /// Open (creating if needed) a cache folder.
    pub fn open(root: &Path) -> anyhow::Result<Cache> {
        Cache::open_shared(root, Sharing::Private)
    }

    /// Open a cache folder with the given sharing; a folder whose setgid
    /// bit is set is group-shared whatever is asked.
    pub fn open_shared(root: &Path, sharing: Sharing) -> anyhow::Result<Cache> {
        let setgid = fs::metadata(root).is_ok_and(|m| m.permissions().mode() & 0o2000 != 0);
        let sharing = if setgid { Sharing::Group } else { sharing };
        let cache = Cache {
            root: root.to_path_buf(),
            sharing,
            remote: None,
        };
        cache
            .create_dirs(&root.join("tmp"))
            .map_err(|e| anyhow::anyhow!("cannot create cache folder: {e}"))?;
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
                fs::write(&tmp, LAYOUT_VERSION).map_err(|e| io_error(&tmp, e))?;
                cache.set_file_mode(&tmp);
                fs::rename(&tmp, &version_file).inspect_err(|_| {
                    let _ = fs::remove_file(&tmp);
                })?;
            }
        }
        Ok(cache)
    }

    /// The same cache, reading through to a remote for what it lacks.
    pub fn with_remote(mut self, remote: Arc<ReadThrough>) -> Cache {
        self.remote = Some(remote);
        self
    }

    pub fn remote(&self) -> Option<&Arc<ReadThrough>> {
        self.remote.as_ref()
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn sharing(&self) -> Sharing {
        self.sharing
    }

    /// Hold the cache's lock (shared for runs and readers, exclusive for
    /// gc); blocks, after saying so, while a holder of the other kind has it.
    pub fn lock(&self, mode: LockMode) -> anyhow::Result<CacheLock> {
        let path = self.root.join("lock");
        let lock = CacheLock::acquire(&path, mode)?;
        self.set_file_mode(&path);
        Ok(lock)
    }

    /// The lock a process holds while it computes node `key`.
    pub fn node_lock(&self, key: &str) -> anyhow::Result<(NodeLock, bool)> {
        let dir = self.root.join("locks");
        self.create_dirs(&dir)?;
        let path = dir.join(key);
        let lock = NodeLock::acquire(&path)?;
        self.set_file_mode(&path);
        Ok(lock)
    }

    /// Remove temp files of killed processes, safe while others write:
    /// this host's files whose process is gone, and any file untouched
    /// for [`STALE_TMP`] (another host's, on a shared folder).
    pub fn clear_tmp(&self) -> io::Result<()> {
        let tmp = self.root.join("tmp");
        for entry in fs::read_dir(&tmp)? {
            let path = entry?.path();
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            let mut parts = name.rsplitn(3, '-');
            let (_n, pid, host) = (parts.next(), parts.next(), parts.next());
            let dead_here = host == Some(host_tag())
                && pid
                    .and_then(|p| p.parse::<u32>().ok())
                    .is_some_and(|p| !Path::new(&format!("/proc/{p}")).exists());
            let stale = dead_here
                || fs::metadata(&path)
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t.elapsed().unwrap_or_default() > STALE_TMP);
            if stale {
                let _ = fs::remove_file(path);
            }
        }
        Ok(())
    }

    pub fn object_path(&self, object: &str) -> PathBuf {
        self.root.join(closure::object_path(object))
    }

    /// Here, or (read-through) on the remote, fetched when read.
    pub fn has_object(&self, object: &str) -> bool {
        self.object_path(object).is_file()
            || self
                .remote
                .as_ref()
                .is_some_and(|r| r.has(&closure::object_path(object)))
    }

    /// Whether a per-item record (`<stage>/<key>`, as node records list
    /// them) is here or on the remote.
    pub fn has_item(&self, item: &str) -> bool {
        let path = closure::item_path(item);
        self.root.join(&path).is_file() || self.remote.as_ref().is_some_and(|r| r.has(&path))
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
        match fs::read(self.object_path(object)) {
            Ok(bytes) => Ok(bytes),
            Err(e) => {
                if let Some(bytes) = self.read_through(&closure::object_path(object)) {
                    return Ok(bytes);
                }
                Err(anyhow::anyhow!(
                    "cache object {object} is unreadable: {e} (run `ser gc` or delete the cache)"
                ))
            }
        }
    }

    /// Fetch a cache path from the remote into this cache (verified).
    fn read_through(&self, rel: &str) -> Option<Vec<u8>> {
        let bytes = self.remote.as_ref()?.read(rel)?;
        // A local write that fails (disk full) still lets the run use the
        // bytes; the next run fetches them again.
        let _ = self.put_local(rel, &bytes);
        Some(bytes)
    }

    /// Write a file at a cache path (atomically), e.g. one fetched from a
    /// remote after its check.
    pub fn put_local(&self, rel: &str, bytes: &[u8]) -> io::Result<()> {
        self.write_atomic(&self.root.join(rel), bytes)
    }

    pub fn node_record_path(&self, stage: &str, key: &str) -> PathBuf {
        self.root.join(closure::record_path(stage, key))
    }

    pub fn item_record_path(&self, stage: &str, key: &str) -> PathBuf {
        self.root
            .join(closure::item_path(&format!("{stage}/{key}")))
    }

    /// Read a JSON file of the cache (a record); read-through fetches
    /// records and items this cache lacks.
    pub fn read_json<T: DeserializeOwned>(&self, path: &Path) -> Option<T> {
        let bytes = match fs::read(path) {
            Ok(bytes) => bytes,
            Err(_) => {
                let rel = path.strip_prefix(&self.root).ok()?.to_str()?;
                self.read_through(rel)?
            }
        };
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
    /// Temp names carry the host and pid: processes on several machines
    /// may share the folder.
    pub fn write_atomic(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        if let Some(dir) = path.parent() {
            self.create_dirs(dir)?;
        }
        let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = self
            .root
            .join("tmp")
            .join(format!("{}-{}-{n}", host_tag(), std::process::id()));
        fs::write(&tmp, bytes).map_err(|e| io_error(&tmp, e))?;
        self.set_file_mode(&tmp);
        fs::rename(&tmp, path).map_err(|e| {
            let _ = fs::remove_file(&tmp);
            io_error(path, e)
        })
    }

    /// `create_dir_all`, with group-shared modes on the folders it makes.
    pub fn create_dirs(&self, dir: &Path) -> io::Result<()> {
        if dir.is_dir() {
            return Ok(());
        }
        let mut missing = Vec::new();
        let mut at = dir;
        while !at.exists() {
            missing.push(at.to_path_buf());
            match at.parent() {
                Some(parent) => at = parent,
                None => break,
            }
        }
        fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
        if self.sharing == Sharing::Group {
            for made in missing {
                let _ = fs::set_permissions(&made, fs::Permissions::from_mode(0o2775));
            }
        }
        Ok(())
    }

    /// Group-writable in a group-shared cache.
    pub fn set_file_mode(&self, path: &Path) {
        if self.sharing == Sharing::Group {
            let _ = fs::set_permissions(path, fs::Permissions::from_mode(0o664));
        }
    }
}

/// A short tag of this host for temp-file names.
fn host_tag() -> &'static str {
    static TAG: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TAG.get_or_init(|| {
        let host = fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let host: String = host
            .trim()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .take(32)
            .collect();
        if host.is_empty() { "host".into() } else { host }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record read and written again is the same bytes, floats included
    /// (a training curve's loss that serde_json's default parser reads one
    /// ULP off), so nodes rebuilt from cached records match the first run.
    #[test]
    fn json_records_round_trip_floats_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let path = dir.path().join("record.json");
        let loss = [
            1.9571080573992594_f64,
            0.22916666666666666,
            1.2262417372824281,
        ];
        cache
            .write_json(&path, &serde_json::json!({ "points": loss }))
            .unwrap();
        let first = fs::read(&path).unwrap();
        let record: serde_json::Value = cache.read_json(&path).unwrap();
        cache.write_json(&path, &record).unwrap();
        assert_eq!(fs::read(&path).unwrap(), first);
        let read: Vec<f64> = serde_json::from_value(record["points"].clone()).unwrap();
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&read), bits(&loss));
    }

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
    fn temp_files_of_dead_processes_go_and_live_ones_stay() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let tmp = dir.path().join("tmp");
        // pid 1 is alive; a pid above the kernel's maximum never is.
        let live = tmp.join(format!("{}-1-0", host_tag()));
        let dead = tmp.join(format!("{}-4294967295-0", host_tag()));
        let other_host = tmp.join("elsewhere-4294967295-0");
        for f in [&live, &dead, &other_host] {
            fs::write(f, b"x").unwrap();
        }
        cache.clear_tmp().unwrap();
        assert!(
            live.exists() && other_host.exists(),
            "live and recent files stay"
        );
        assert!(!dead.exists(), "a dead process's file goes");
    }

    #[test]
    fn group_sharing_makes_files_group_writable() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("cache");
        let cache = Cache::open_shared(&root, Sharing::Group).unwrap();
        let name = cache.put_object(b"shared", "txt").unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(&cache.object_path(&name)), 0o664);
        assert_eq!(mode(cache.object_path(&name).parent().unwrap()), 0o2775);
        assert_eq!(mode(&root.join("objects")), 0o2775);
        // A folder with the setgid bit is group-shared whatever is asked.
        let again = Cache::open(&root).unwrap();
        assert_eq!(again.sharing(), Sharing::Group);
    }

    #[test]
    fn concurrent_writers_of_one_name_leave_one_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let bytes: Vec<u8> = (0..1_000_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let names: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| cache.put_object(&bytes, "bin").unwrap()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(names.iter().all(|n| n == &names[0]));
        assert_eq!(cache.read_object(&names[0]).unwrap(), bytes);
        let path = dir.path().join("records/x/ab/abcd.json");
        std::thread::scope(|s| {
            for i in 0..8 {
                let cache = &cache;
                let path = &path;
                s.spawn(move || {
                    cache
                        .write_json(path, &serde_json::json!({"writer": i}))
                        .unwrap()
                });
            }
        });
        let read: serde_json::Value = cache.read_json(&path).unwrap();
        assert!(
            read["writer"].as_u64().unwrap() < 8,
            "one writer's whole file"
        );
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn permission_errors_name_the_file_and_the_fix() {
        let e = io_error(
            Path::new("/c/objects/ab"),
            io::Error::from(io::ErrorKind::PermissionDenied),
        );
        let text = e.to_string();
        assert!(
            text.contains("/c/objects/ab") && text.contains("cache.shared: group"),
            "{text}"
        );
    }

    #[test]
    fn refuses_another_layout_version() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("VERSION"), "999").unwrap();
        let err = Cache::open(dir.path()).unwrap_err().to_string();
        assert!(err.contains("layout version 999"), "{err}");
    }
}
