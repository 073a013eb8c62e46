//! The cache lock: one `ser run` (or `ser gc`) writes to a cache at a time.
//!
//! A second run on the same cache waits, then finds the first run's results
//! in the cache and reuses them. The lock is an OS file lock (`flock`), so
//! it is released when the process dies, even by SIGKILL.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::Path;

pub struct CacheLock {
    _file: File,
}

impl CacheLock {
    pub fn acquire(path: &Path) -> anyhow::Result<CacheLock> {
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .read(true)
            .open(path)
            .map_err(|e| anyhow::anyhow!("cannot open cache lock {}: {e}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(path).unwrap_or_default();
                eprintln!(
                    "waiting for the cache lock {} (held by another ser process{})",
                    path.display(),
                    if holder.trim().is_empty() {
                        String::new()
                    } else {
                        format!(", pid {}", holder.trim())
                    }
                );
                file.lock()?;
            }
            Err(TryLockError::Error(e)) => return Err(e.into()),
        }
        file.set_len(0)?;
        write!(file, "{}", std::process::id())?;
        Ok(CacheLock { _file: file })
    }
}
