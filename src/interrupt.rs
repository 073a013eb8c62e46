//! SIGINT and SIGTERM: stop a run cleanly, as a batch scheduler expects.
//!
//! Slurm ends a job at its time limit with SIGTERM and, after a grace
//! period, SIGKILL. On the first SIGINT or SIGTERM `ser run` starts no new
//! node, per-item work stops taking new items (finished items stay
//! cached), running nodes are not recorded, and the run summary is written
//! before exiting with 128 + the signal (130, 143) within the stop timeout.
//! A second signal exits at once. Nothing half-written survives either
//! way: every cache write is a rename.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use signal_hook::consts::{SIGINT, SIGTERM};

struct Flags {
    /// The first signal's number, 0 before any.
    signal: Arc<AtomicUsize>,
    seen: Arc<AtomicBool>,
}

static FLAGS: OnceLock<Flags> = OnceLock::new();

/// Install the handlers (once per process).
pub fn install() -> anyhow::Result<()> {
    if FLAGS.get().is_some() {
        return Ok(());
    }
    let flags = Flags {
        signal: Arc::new(AtomicUsize::new(0)),
        seen: Arc::new(AtomicBool::new(false)),
    };
    for sig in [SIGINT, SIGTERM] {
        // Registered first, so it sees `seen` as it was before this
        // signal: a second signal exits at once.
        signal_hook::flag::register_conditional_shutdown(sig, 128 + sig, flags.seen.clone())?;
        signal_hook::flag::register(sig, flags.seen.clone())?;
        signal_hook::flag::register_usize(sig, flags.signal.clone(), sig as usize)?;
    }
    let _ = FLAGS.set(flags);
    Ok(())
}

/// The signal that asked the run to stop, if one did.
pub fn requested() -> Option<i32> {
    let flags = FLAGS.get()?;
    match flags.signal.load(Ordering::Relaxed) {
        0 => None,
        n => Some(n as i32),
    }
}

/// The exit code for a stop by `signal` (130 for SIGINT, 143 for SIGTERM).
pub fn exit_code(signal: i32) -> i32 {
    128 + signal
}
