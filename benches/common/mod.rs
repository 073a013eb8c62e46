//! What the benches that compare ser with a Python reference share:
//! finding the corpus, failing with a message, finding the interpreter.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Prints `msg` and ends the benchmark with a failure status.
pub fn fail(msg: &str) -> ! {
    eprintln!("{} bench: {msg}", env!("CARGO_CRATE_NAME"));
    std::process::exit(1);
}

/// The corpus's FLAC files, `Actor_*/*.flac`, sorted.
// Each bench compiles its own copy of this module; the deep bench trains
// on random data and never reads the corpus.
#[allow(dead_code)]
pub fn corpus(dir: &Path) -> Vec<PathBuf> {
    let dir = dir.canonicalize().unwrap_or_else(|e| {
        fail(&format!(
            "RAVDESS corpus not found at {}: {e}",
            dir.display()
        ))
    });
    let mut files = Vec::new();
    for actor in std::fs::read_dir(&dir).expect("read corpus folder") {
        let actor = actor.expect("read corpus folder").path();
        let is_actor = actor
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("Actor_"));
        if !is_actor || !actor.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&actor).expect("read actor folder") {
            let file = file.expect("read actor folder").path();
            if file.extension().is_some_and(|e| e == "flac") {
                files.push(file);
            }
        }
    }
    files.sort();
    if files.is_empty() {
        fail(&format!("no Actor_*/*.flac files under {}", dir.display()));
    }
    files
}

// The predict bench runs its reference from a virtualenv of its own.
#[allow(dead_code)]
/// The Python interpreter's real executable (not a pyenv shim, whose extra
/// start-up would count against the reference side), once `modules` (what
/// the `side` named in messages needs) are known to import.
pub fn python(modules: &str, side: &str) -> PathBuf {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let script = format!("import sys, {modules}; print(sys.executable)");
    match Command::new(&python).args(["-c", &script]).output() {
        Ok(out) if out.status.success() => {
            PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
        }
        Ok(out) => {
            let err = String::from_utf8_lossy(&out.stderr);
            fail(&format!(
                "the {side} side needs the Python packages {modules} ({}); \
                 run scripts/bench-deps.sh",
                err.lines().last().unwrap_or("import failed")
            ))
        }
        Err(e) => fail(&format!(
            "cannot run '{python}' ({e}); install Python 3 (or set PYTHON) and run scripts/bench-deps.sh"
        )),
    }
}
