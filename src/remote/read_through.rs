//! Read-through: a run's view of a remote, consulted for what the local
//! cache lacks.
//!
//! The remote's index is loaded once when the run starts. A remote that is
//! down, refuses the credentials or serves a corrupt file costs one line
//! on stderr, and the run goes on computing locally: read-through only
//! ever saves work.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::fetch;
use super::index::RemoteIndex;
use super::{Remote, RemoteConfig};

pub struct ReadThrough {
    pub remote: Remote,
    pub index: RemoteIndex,
    /// Set after a failed read: the rest of the run stays local.
    off: AtomicBool,
    said: Mutex<usize>,
    /// Files and bytes downloaded by read-through in this process.
    pub files: AtomicU64,
    pub bytes: AtomicU64,
}

impl ReadThrough {
    /// Open the remote and load its index; `Err` is one line to print.
    pub fn open(
        config: &RemoteConfig,
        local_index_dir: &std::path::Path,
    ) -> anyhow::Result<ReadThrough> {
        let remote = Remote::open(config)?;
        let index = RemoteIndex::load(&remote, local_index_dir)?;
        for warning in &index.warnings {
            eprintln!("warning: {warning}");
        }
        Ok(ReadThrough {
            remote,
            index,
            off: AtomicBool::new(false),
            said: Mutex::new(0),
            files: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        })
    }

    pub fn has(&self, rel: &str) -> bool {
        !self.off.load(Ordering::Relaxed) && self.index.contains(rel)
    }

    /// A cache path's bytes from the remote, verified; `None` if the
    /// remote lacks it or the read failed (said once).
    pub fn read(&self, rel: &str) -> Option<Vec<u8>> {
        if self.off.load(Ordering::Relaxed) {
            return None;
        }
        let location = self.index.get(rel)?;
        match fetch::read_member(&self.remote, location) {
            Ok(bytes) => {
                self.files.fetch_add(1, Ordering::Relaxed);
                self.bytes.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                Some(bytes)
            }
            Err(reason) => {
                self.warn(&format!(
                    "remote {}: refused {reason}; computing it here",
                    self.remote.url
                ));
                // A transport failure turns read-through off; a corrupt
                // member only refuses that member.
                if !reason.contains("corrupt") && !reason.contains("truncated") {
                    self.off.store(true, Ordering::Relaxed);
                }
                None
            }
        }
    }

    /// A warning on stderr, at most a few per run.
    pub fn warn(&self, line: &str) {
        let mut said = self.said.lock().expect("warning count");
        if *said < 5 {
            eprintln!("warning: {line}");
        }
        *said += 1;
    }
}
