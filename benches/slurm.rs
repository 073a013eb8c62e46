//! Slurm executor benchmark: one pipeline cold through the local executor
//! and through the Slurm executor on a real one-node cluster on this
//! machine (scripts/slurm-cluster.sh, as the tests start it), side by side,
//! with the overhead of the Slurm path in total and per job.
//!
//! Both runs start from an empty cache and compute the same nodes; the
//! Slurm run's jobs ask for one CPU each (`executor.slurm.resources`), so
//! the node's cores run as many jobs at once, as the local run's pool runs
//! nodes and items at once. Both must give the same metrics (checked).
//!
//!   cargo bench --bench slurm                       # pipeline.yaml (hours on 2 cores)
//!   SER_BENCH_PIPELINE=benches/slurm_classic.yaml cargo bench --bench slurm   # minutes
//!
//! Needs Slurm and munge from scripts/setup.sh.

#[path = "../tests/e2e/common/slurm.rs"]
mod slurm;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn ser() -> PathBuf {
    root().join("target/release/ser")
}

/// Run `ser` with `args`; seconds and the stderr log.
fn timed(args: &[&str], env: &[(&str, &Path)]) -> (f64, String) {
    let started = Instant::now();
    let mut command = Command::new(ser());
    command
        .args(args)
        .env_remove("SER_CACHE_DIR")
        .env_remove("SER_REMOTE");
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command
        .output()
        .expect("target/release/ser (cargo build --release)");
    let seconds = started.elapsed().as_secs_f64();
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "ser {args:?} failed:\n{log}");
    (seconds, log)
}

fn metrics(pipeline: &str, cache: &Path) -> String {
    let out = Command::new(ser())
        .args(["metrics", "--json", "-p", pipeline, "--cache-dir"])
        .arg(cache)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn main() {
    let pipeline = std::env::var("SER_BENCH_PIPELINE")
        .unwrap_or_else(|_| root().join("pipeline.yaml").display().to_string());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // SAFETY: set before any thread that reads the environment starts.
    unsafe { std::env::set_var("SER_SLURM_CPUS", cores.to_string()) };
    let cluster = slurm::SlurmCluster::start();
    let work = tempfile::tempdir().unwrap();
    let (local_cache, slurm_cache) = (work.path().join("local"), work.path().join("slurm"));

    let (local, _) = timed(
        &[
            "run",
            "-p",
            &pipeline,
            "--cache-dir",
            local_cache.to_str().unwrap(),
        ],
        &[],
    );
    let conf = cluster.conf();
    let (through_slurm, log) = timed(
        &[
            "run",
            "-p",
            &pipeline,
            "--cache-dir",
            slurm_cache.to_str().unwrap(),
            "--executor",
            "slurm",
            "--log-format",
            "json",
            "--set",
            "executor.slurm.resources={default: {cpus: 1, mem: 2G}}",
        ],
        &[("SLURM_CONF", &conf)],
    );
    assert_eq!(
        metrics(&pipeline, &local_cache),
        metrics(&pipeline, &slurm_cache),
        "the Slurm run's metrics equal the local run's"
    );
    let events: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let jobs = events
        .iter()
        .filter(|e| e["event"] == "submitted")
        .map(|e| e["tasks"].as_array().map_or(1, |t| t.len()))
        .sum::<usize>();
    let nodes = events.iter().filter(|e| e["event"] == "done").count();
    println!(
        "slurm benchmark: {pipeline}, cold, {cores} core(s), one-node Slurm 22.05 cluster on this machine"
    );
    println!("{nodes} node(s) computed; the Slurm run submitted {jobs} job(s) and array task(s)");
    println!("local executor                 {local:9.2} s");
    println!(
        "slurm executor                 {through_slurm:9.2} s   ({:.2}x the local run)",
        through_slurm / local
    );
    println!(
        "slurm overhead                 {:9.2} s in total, {:.2} s per job",
        through_slurm - local,
        (through_slurm - local) / jobs.max(1) as f64
    );
    println!("metrics: identical");
}
