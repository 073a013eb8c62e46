//! The Slurm executor on a real one-node Slurm cluster (Debian's slurmctld,
//! slurmd and munge on 127.0.0.1, started by scripts/slurm-cluster.sh):
//! per-item stages as job arrays, the same results as a local run, a
//! cancelled array task resubmitted alone, and SIGTERM cancelling the jobs.
//!
//! One test, in steps: the cluster is one per process (its daemons use
//! fixed spool folders and a node name), and a step reads the cache the
//! previous ones made.

use crate::common;

use std::collections::BTreeSet;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::Workspace;
use common::slurm::SlurmCluster;
use serde_json::Value;

fn pipeline(ws: &Workspace) {
    let tiny = "epochs: 2, hidden: 8, layers: 1, validation_speakers: 1";
    ws.write_pipeline(&format!(
            "models:\n\
             \x20 lr: {{kind: logistic_regression, alpha: 1.0, max_iterations: 100}}\n\
             \x20 nb: {{kind: gaussian_nb}}\n\
             \x20 mlp: {{kind: mlp, {tiny}}}\n\
             experiments: {{features: [mfcc], models: [lr, nb, mlp], protocols: [two]}}\n\
             executor:\n\
             \x20 slurm: {{items_per_task: 8, poll_max_seconds: 1, resources: {{default: {{cpus: 1, mem: 1G}}}}}}\n"
    ));
}

fn slurm_run(ws: &Workspace, cluster: &SlurmCluster, extra: &[&str]) -> Command {
    let mut args = vec!["run", "--executor", "slurm", "--log-format", "json"];
    args.extend(extra);
    let mut cmd = ws.cmd(&args);
    cmd.env("SLURM_CONF", cluster.conf());
    cmd
}

fn events(stderr: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stderr)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `ser outputs` with the cache folder cut out: node, output, object name.
fn outputs(ws: &Workspace, cache: &str) -> Vec<String> {
    ws.ok(&["outputs", "--cache-dir", cache])
        .lines()
        .map(|l| l.replace(&format!("{cache}/objects/"), "objects/"))
        .collect()
}

/// Wait for a JSON event line in a growing stderr file.
fn wait_for_event(path: &std::path::Path, what: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if let Some(v) = text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| what(v))
        {
            return v;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no such event in:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_slurm_executor_runs_arrays_resumes_a_cancelled_shard_and_matches_a_local_run() {
    let cluster = SlurmCluster::start();
    let ws = Workspace::new(6);
    pipeline(&ws);

    // 1. A cold run; the last extract task is cancelled while it waits
    // for ingest. The node fails, its dependents are skipped, the rest
    // (ingest, folds) is cached.
    let stderr_path = ws.path("first.err");
    let mut child = slurm_run(&ws, &cluster, &[])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let submitted = wait_for_event(&stderr_path, |v| {
        v["event"] == "submitted" && v["node"] == "extract:mfcc" && v["of"].is_u64()
    });
    let tasks = submitted["of"].as_u64().unwrap();
    assert_eq!(tasks, 3, "24 files at 8 per task: {submitted}");
    let array = submitted["job"].as_str().unwrap().to_string();
    let last = format!("{array}_{}", tasks - 1);
    let cancelled = cluster.command("scancel").arg(&last).status().unwrap();
    assert!(cancelled.success());
    let status = child.wait().unwrap();
    let first = std::fs::read(&stderr_path).unwrap();
    let log = String::from_utf8_lossy(&first).to_string();
    assert_eq!(status.code(), Some(1), "{log}");
    let first_events = events(&first);
    let failed: Vec<&Value> = first_events
        .iter()
        .filter(|v| v["event"] == "failed")
        .collect();
    assert_eq!(failed.len(), 1, "only the cancelled node fails: {log}");
    assert_eq!(failed[0]["node"], "extract:mfcc");
    let error = failed[0]["error"].as_str().unwrap();
    assert!(
        error.contains(&last) && error.contains(".log"),
        "names the task and its log: {error}"
    );
    let summary: Value = serde_json::from_str(&ws.ok(&["runs", "--last"])).unwrap();
    assert_eq!(summary["exit_code"], 1);
    assert_eq!(summary["nodes"]["ingest"]["outcome"], "ran", "{summary}");
    assert_eq!(
        summary["nodes"]["train:mfcc/none/lr@two"]["outcome"], "skipped",
        "{summary}"
    );

    // Ingest and extract ran as arrays: one log per task, each naming its shard.
    let run_dirs: Vec<_> = std::fs::read_dir(ws.path(".ser/slurm/runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(run_dirs.len(), 1);
    let logs: BTreeSet<String> = std::fs::read_dir(run_dirs[0].join("logs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for t in 0..tasks {
        let ingest_log = logs
            .iter()
            .find(|l| l.starts_with("ingest.") && l.ends_with(&format!("_{t}.log")))
            .unwrap_or_else(|| panic!("ingest task {t}'s log in {logs:?}"));
        let text = std::fs::read_to_string(run_dirs[0].join("logs").join(ingest_log)).unwrap();
        assert!(
            text.contains(&format!("ingest shard {t}/{tasks}: 8 of 24 item(s)")),
            "{text}"
        );
    }
    assert!(
        logs.iter()
            .any(|l| l == &format!("extract_mfcc.{array}_0.log")),
        "{logs:?}"
    );

    // 2. The rerun submits only the cancelled shard, then the rest.
    let out = slurm_run(&ws, &cluster, &[]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let second = events(&out.stderr);
    let extract_arrays: Vec<&Value> = second
        .iter()
        .filter(|v| v["event"] == "submitted" && v["node"] == "extract:mfcc" && v["of"].is_u64())
        .collect();
    assert_eq!(extract_arrays.len(), 1, "{}", text(&out));
    assert_eq!(extract_arrays[0]["tasks"], serde_json::json!([tasks - 1]));
    assert!(
        !second
            .iter()
            .any(|v| v["event"] == "submitted" && v["node"] == "ingest"),
        "ingest is cached: {}",
        text(&out)
    );

    // 3. The same results as a local run on a cache of its own, bit for
    // bit: the same metrics, and every node's outputs the same objects.
    ws.ok(&["run", "--cache-dir", "local-cache"]);
    assert_eq!(
        ws.ok(&["metrics", "--json"]),
        ws.ok(&["metrics", "--json", "--cache-dir", "local-cache"])
    );
    assert_eq!(outputs(&ws, ".ser"), outputs(&ws, "local-cache"));
    let again = slurm_run(&ws, &cluster, &[]).output().unwrap();
    assert!(again.status.success());
    assert!(
        !events(&again.stderr)
            .iter()
            .any(|v| v["event"] == "submitted"),
        "nothing stale, nothing submitted: {}",
        text(&again)
    );

    // 4. SIGTERM to the driver cancels its jobs and exits 143.
    let stderr_path = ws.path("stopped.err");
    let mut child = slurm_run(&ws, &cluster, &["--set", "extract.n_mfcc=13"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let evaluate = wait_for_event(&stderr_path, |v| {
        v["event"] == "submitted"
            && v["node"]
                .as_str()
                .is_some_and(|n| n.starts_with("evaluate:"))
    });
    // SAFETY: kill(2) on our own child's pid.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let status = child.wait().unwrap();
    let log = std::fs::read_to_string(&stderr_path).unwrap();
    assert_eq!(status.code(), Some(143), "{log}");
    assert!(log.contains("cancelled"), "{log}");
    let job = evaluate["job"].as_str().unwrap();
    let started = Instant::now();
    loop {
        let queue = cluster.queue();
        let state = queue
            .iter()
            .find(|(id, _)| id == job)
            .map(|(_, s)| s.clone());
        if state.as_deref().is_none_or(|s| s == "CANCELLED") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "job {job} still {state:?}: {queue:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Without Slurm's commands the run fails with a line that says what is
/// missing, and nothing is computed here instead.
#[test]
fn without_sbatch_the_slurm_executor_says_so() {
    let ws = Workspace::new(2);
    let empty = tempfile::tempdir().unwrap();
    let out = ws
        .cmd(&["run", "--executor", "slurm"])
        .env("PATH", empty.path())
        .output()
        .unwrap();
    let log = text(&out);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(log.contains("sbatch not found on PATH"), "{log}");
    assert!(
        !ws.path(".ser/records/ingest").exists(),
        "nothing ran locally: {log}"
    );
}
