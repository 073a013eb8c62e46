//! The Slurm client commands the executor runs: `sbatch`, `squeue` and
//! `scancel`, as processes, so they read `SLURM_CONF` and the user's Slurm
//! setup as they would in a shell. Nothing here needs accounting storage
//! (`sacct`): a job's end is read from the queue and from the exit file its
//! script writes.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use anyhow::Context as _;

/// One `sbatch` submission.
#[derive(Debug, Clone, Default)]
pub struct JobRequest {
    pub name: String,
    pub script: PathBuf,
    /// `--output`, with Slurm's patterns (`%j`, `%A`, `%a`).
    pub output: PathBuf,
    /// An array job of these task indices (`--array=0-3,7`).
    pub array: Option<Vec<usize>>,
    /// Job ids this one starts after, when all of them succeeded.
    pub after_ok: Vec<String>,
    pub partition: Option<String>,
    pub account: Option<String>,
    pub time: Option<String>,
    pub cpus: Option<u32>,
    pub mem: Option<String>,
    pub gpus: Option<u32>,
    pub extra: Vec<String>,
}

impl JobRequest {
    /// sbatch's arguments, the script last.
    pub fn args(&self) -> Vec<String> {
        let mut args = vec![
            "--parsable".to_string(),
            format!("--job-name={}", self.name),
            format!("--output={}", self.output.display()),
            // A job whose dependency failed is cancelled, not left pending.
            "--kill-on-invalid-dep=yes".to_string(),
        ];
        if let Some(tasks) = &self.array {
            args.push(format!("--array={}", compact_ranges(tasks)));
        }
        if !self.after_ok.is_empty() {
            args.push(format!("--dependency=afterok:{}", self.after_ok.join(":")));
        }
        let options = [
            ("--partition", self.partition.clone()),
            ("--account", self.account.clone()),
            ("--time", self.time.clone()),
            ("--cpus-per-task", self.cpus.map(|c| c.to_string())),
            ("--mem", self.mem.clone()),
            ("--gpus", self.gpus.map(|g| g.to_string())),
        ];
        for (flag, value) in options {
            if let Some(value) = value {
                args.push(format!("{flag}={value}"));
            }
        }
        args.extend(self.extra.iter().cloned());
        args.push(self.script.display().to_string());
        args
    }
}

fn command(name: &str) -> Command {
    let mut command = Command::new(name);
    command.stdin(std::process::Stdio::null());
    command
}

fn run(name: &str, args: &[String]) -> anyhow::Result<String> {
    let output = command(name).args(args).output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            anyhow::anyhow!(
                "{name} not found on PATH: the Slurm executor runs Slurm's client commands (Debian: slurm-client)"
            )
        } else {
            anyhow::anyhow!("cannot run {name}: {e}")
        }
    })?;
    if !output.status.success() {
        anyhow::bail!(
            "{name} {} failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Submit; returns the job id (for an array, the array's id).
pub fn submit(request: &JobRequest) -> anyhow::Result<String> {
    let out =
        run("sbatch", &request.args()).with_context(|| format!("submitting {}", request.name))?;
    // `--parsable` prints `id` or `id;cluster`.
    let id = out.trim().split(';').next().unwrap_or("").to_string();
    anyhow::ensure!(
        !id.is_empty() && id.chars().all(|c| c.is_ascii_digit()),
        "sbatch printed '{}', not a job id",
        out.trim()
    );
    Ok(id)
}

/// The state of each of this user's jobs in the queue (finished ones too,
/// while the controller keeps them): job id, or `array_task` for array
/// tasks, to its state (`PENDING`, `RUNNING`, `COMPLETED`, `FAILED`, ...).
pub fn queue() -> anyhow::Result<BTreeMap<String, String>> {
    let user = std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(|| {
            run("id", &["-un".to_string()])
                .ok()
                .map(|u| u.trim().to_string())
        })
        .unwrap_or_else(|| "root".into());
    let out = run(
        "squeue",
        &[
            "--noheader".into(),
            "--states=all".into(),
            format!("--user={user}"),
            "--format=%i|%T".into(),
        ],
    )?;
    Ok(parse_queue(&out))
}

/// squeue lines `id|STATE`; a pending array's tasks come as one line
/// `123_[0-3,7%2]`, expanded here to `123_0` ... `123_7`.
pub fn parse_queue(text: &str) -> BTreeMap<String, String> {
    let mut jobs = BTreeMap::new();
    for line in text.lines() {
        let Some((id, state)) = line.trim().split_once('|') else {
            continue;
        };
        let state = state.trim().to_string();
        match id.split_once("_[") {
            Some((array, ranges)) => {
                let ranges = ranges.trim_end_matches(']');
                let ranges = ranges.split('%').next().unwrap_or("");
                for range in ranges.split(',') {
                    let (a, b) = range.split_once('-').unwrap_or((range, range));
                    if let (Ok(a), Ok(b)) = (a.parse::<usize>(), b.parse::<usize>()) {
                        for task in a..=b {
                            jobs.insert(format!("{array}_{task}"), state.clone());
                        }
                    }
                }
            }
            None => {
                jobs.insert(id.trim().to_string(), state);
            }
        }
    }
    jobs
}

/// Whether a queue state means the job may still run.
pub fn is_active(state: &str) -> bool {
    matches!(
        state,
        "PENDING"
            | "RUNNING"
            | "CONFIGURING"
            | "COMPLETING"
            | "SUSPENDED"
            | "REQUEUED"
            | "REQUEUE_HOLD"
            | "REQUEUE_FED"
            | "RESIZING"
            | "SIGNALING"
            | "STAGE_OUT"
            | "STOPPED"
    )
}

/// Cancel jobs (array ids cancel every task).
pub fn cancel(ids: &[String]) -> anyhow::Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    run("scancel", ids).map(|_| ())
}

/// `0,1,2,5` -> `0-2,5`.
pub fn compact_ranges(values: &[usize]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < values.len() {
        let start = values[i];
        let mut end = start;
        while i + 1 < values.len() && values[i + 1] == end + 1 {
            i += 1;
            end = values[i];
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_compacted() {
        assert_eq!(compact_ranges(&[0, 1, 2, 5, 7, 8]), "0-2,5,7-8");
        assert_eq!(compact_ranges(&[3]), "3");
    }

    #[test]
    fn pending_array_ranges_expand_to_tasks() {
        let jobs = parse_queue("12_[2-4,7%2]|PENDING\n12_0|COMPLETED\n12_1|RUNNING\n13|PENDING\n");
        let ids: Vec<&str> = jobs.keys().map(String::as_str).collect();
        assert_eq!(ids, ["12_0", "12_1", "12_2", "12_3", "12_4", "12_7", "13"]);
        assert_eq!(jobs["12_3"], "PENDING");
        assert_eq!(jobs["12_0"], "COMPLETED");
    }

    #[test]
    fn the_request_chains_dependencies_and_asks_for_resources() {
        let request = JobRequest {
            name: "ser/extract".into(),
            script: "/c/job.sh".into(),
            output: "/c/%A_%a.log".into(),
            array: Some(vec![0, 1, 2, 3]),
            after_ok: vec!["7".into(), "9".into()],
            cpus: Some(2),
            mem: Some("4G".into()),
            extra: vec!["--qos=long".into()],
            ..JobRequest::default()
        };
        let args = request.args();
        for expected in [
            "--array=0-3",
            "--dependency=afterok:7:9",
            "--cpus-per-task=2",
            "--mem=4G",
            "--kill-on-invalid-dep=yes",
            "--qos=long",
        ] {
            assert!(args.iter().any(|a| a == expected), "{expected} in {args:?}");
        }
        assert_eq!(args.last().map(String::as_str), Some("/c/job.sh"));
    }
}
