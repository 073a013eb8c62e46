//! Cache locks: many runs share a cache, `ser gc` and `ser clean` own it.
//!
//! - [`CacheLock`] on `<cache>/lock`: `ser run` and every reader hold it
//!   *shared*, so any number of runs (of one pipeline or of several, by one
//!   user or a team) write into one folder at once; `ser gc` and `ser clean`
//!   hold it *exclusive*, so they never delete what a running `ser run` may
//!   still reference.
//! - [`NodeLock`] on `<cache>/locks/<key>`: held exclusive while a node is
//!   computed, so a second run that reaches the same node waits for the
//!   first and then reuses its record instead of computing it again.
//!
//! Both are OS file locks (`flock`), released when the process dies, even
//! by SIGKILL. Correctness never depends on them: everything in the cache
//! is content-named and written by rename, so two writers of one name
//! write the same thing; the locks only save work and keep `gc` out.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::Path;

/// Shared (runs, readers) or exclusive (gc, clean).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    Shared,
    Exclusive,
}

pub struct CacheLock {
    _file: File,
}

impl CacheLock {
    pub fn acquire(path: &Path, mode: LockMode) -> anyhow::Result<CacheLock> {
        let file = open_lock_file(path)?;
        let attempt = match mode {
            LockMode::Shared => file.try_lock_shared(),
            LockMode::Exclusive => file.try_lock(),
        };
        match attempt {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(path).unwrap_or_default();
                let holder = holder.trim();
                eprintln!(
                    "waiting for the cache lock {} ({}{})",
                    path.display(),
                    match mode {
                        LockMode::Shared => "`ser gc` or `ser clean` is collecting this cache",
                        LockMode::Exclusive => "`ser gc` waits for running ser processes to end",
                    },
                    if holder.is_empty() {
                        String::new()
                    } else {
                        format!("; last holder: {holder}")
                    }
                );
                match mode {
                    LockMode::Shared => file.lock_shared()?,
                    LockMode::Exclusive => file.lock()?,
                }
            }
            Err(TryLockError::Error(e)) => return Err(e.into()),
        }
        if mode == LockMode::Exclusive {
            // Only the sole holder may rewrite the file; shared holders
            // leave it alone (the last collector's pid, for the message).
            let mut f = &file;
            let _ = f.set_len(0);
            let _ = write!(f, "ser gc, pid {} on {}", std::process::id(), host());
        }
        Ok(CacheLock { _file: file })
    }
}

/// Held while one node is being computed; dropping it releases the lock.
pub struct NodeLock {
    _file: File,
}

impl NodeLock {
    /// Take the node's lock, waiting while another process holds it.
    /// Returns whether it had to wait: then the holder has probably
    /// written the node's record, and the caller looks again first.
    pub fn acquire(path: &Path) -> anyhow::Result<(NodeLock, bool)> {
        let file = open_lock_file(path)?;
        match file.try_lock() {
            Ok(()) => Ok((NodeLock { _file: file }, false)),
            Err(TryLockError::WouldBlock) => {
                file.lock()?;
                Ok((NodeLock { _file: file }, true))
            }
            Err(TryLockError::Error(e)) => Err(e.into()),
        }
    }
}

fn open_lock_file(path: &Path) -> anyhow::Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| super::io_error(dir, e))?;
    }
    let rw = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .read(true)
        .open(path);
    match rw {
        Ok(file) => Ok(file),
        // flock needs no write access: a lock file another user made
        // without group write still works read-only.
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied && path.exists() => {
            File::open(path).map_err(|e| super::io_error(path, e).into())
        }
        Err(e) => Err(super::io_error(path, e).into()),
    }
}

fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "this host".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_locks_coexist_and_exclude_the_exclusive_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let a = CacheLock::acquire(&path, LockMode::Shared).unwrap();
        let _b = CacheLock::acquire(&path, LockMode::Shared).unwrap();
        // An exclusive lock from another open file description would block:
        // flock locks belong to the open file, so this models a second process.
        let probe = open_lock_file(&path).unwrap();
        assert!(matches!(probe.try_lock(), Err(TryLockError::WouldBlock)));
        drop(a);
        drop(_b);
        assert!(probe.try_lock().is_ok());
    }

    #[test]
    fn a_node_lock_waits_for_its_holder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("locks").join("k");
        let (held, waited) = NodeLock::acquire(&path).unwrap();
        assert!(!waited);
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(100));
            drop(held);
        });
        let (_second, waited) = NodeLock::acquire(&path).unwrap();
        assert!(waited, "the second taker waited for the first");
        releaser.join().unwrap();
    }
}
