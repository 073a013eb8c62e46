//! Executors: where a run's stale nodes are computed.
//!
//! - `local` (the default): this process, on its thread pool
//!   ([`crate::scheduler::run`]).
//! - `slurm`: one Slurm job per stale node, chained with
//!   `--dependency=afterok:`, and a job array over shards of the items of
//!   each per-item node (ingest, augment, extract); see [`slurm`]. Every
//!   job runs `ser worker` on the same cache folder, so the cache keys, and
//!   the results, do not depend on the executor.
//!
//! Settings are `executor:` in pipeline.yaml (or `--executor`); they are
//! not in any fingerprint.

pub mod slurm;
pub mod slurm_client;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `executor:` in pipeline.yaml.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecutorConfig {
    /// `local` or `slurm` (`ser run --executor` wins over this).
    #[serde(default)]
    pub kind: ExecutorKind,
    #[serde(default)]
    pub slurm: SlurmConfig,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum ExecutorKind {
    #[default]
    Local,
    Slurm,
}

/// `executor.slurm`: what the jobs ask Slurm for.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlurmConfig {
    /// `--partition` of every job (default: the cluster's default).
    #[serde(default)]
    pub partition: Option<String>,
    /// `--account` of every job.
    #[serde(default)]
    pub account: Option<String>,
    /// `--time` of every job unless its resource class says otherwise.
    #[serde(default)]
    pub time: Option<String>,
    /// A per-item node's items per array task: a node over N items gets
    /// ceil(N / items_per_task) tasks (at most `max_array_tasks`).
    #[serde(default = "default_items_per_task")]
    pub items_per_task: usize,
    #[serde(default = "default_max_array_tasks")]
    pub max_array_tasks: usize,
    /// Resources by class: `ingest`, `augment`, `extract`, `select`,
    /// `folds`, `train` (classic models), `deep` (networks), `evaluate`,
    /// `ensemble`, and `default` for any class not given.
    #[serde(default)]
    pub resources: BTreeMap<String, Resources>,
    /// Extra sbatch flags for every job, e.g. `["--qos=long"]`.
    #[serde(default)]
    pub sbatch_args: Vec<String>,
    /// The longest wait between two looks at the queue (seconds); the
    /// driver starts at half a second and backs off while nothing changes.
    #[serde(default = "default_poll_max")]
    pub poll_max_seconds: f64,
}

impl Default for SlurmConfig {
    fn default() -> SlurmConfig {
        SlurmConfig {
            partition: None,
            account: None,
            time: None,
            items_per_task: default_items_per_task(),
            max_array_tasks: default_max_array_tasks(),
            resources: BTreeMap::new(),
            sbatch_args: Vec::new(),
            poll_max_seconds: default_poll_max(),
        }
    }
}

/// One resource class's request.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// `--cpus-per-task` (the job's `ser` uses that many threads).
    #[serde(default)]
    pub cpus: Option<u32>,
    /// `--mem`, e.g. `8G`.
    #[serde(default)]
    pub mem: Option<String>,
    /// `--gpus` for nodes that want one (deep models with `device: gpu`);
    /// default 1 for those.
    #[serde(default)]
    pub gpus: Option<u32>,
    /// `--time` for this class.
    #[serde(default)]
    pub time: Option<String>,
}

/// The resource classes nodes have (see [`crate::stage::Placement`]).
pub const RESOURCE_CLASSES: &[&str] = &[
    "default", "ingest", "augment", "extract", "join", "select", "folds", "train", "deep",
    "evaluate", "ensemble",
];

fn default_items_per_task() -> usize {
    500
}

fn default_max_array_tasks() -> usize {
    100
}

fn default_poll_max() -> f64 {
    10.0
}

impl SlurmConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        for class in self.resources.keys() {
            anyhow::ensure!(
                RESOURCE_CLASSES.contains(&class.as_str()),
                "resources.{class}: no such class (classes: {})",
                RESOURCE_CLASSES.join(", ")
            );
        }
        anyhow::ensure!(
            self.items_per_task > 0 && self.max_array_tasks > 0,
            "items_per_task and max_array_tasks must be at least 1"
        );
        Ok(())
    }

    /// A class's resources, falling back to `default`.
    pub fn resources_for(&self, class: &str) -> Resources {
        let default = self.resources.get("default").cloned().unwrap_or_default();
        match self.resources.get(class) {
            Some(r) => Resources {
                cpus: r.cpus.or(default.cpus),
                mem: r.mem.clone().or(default.mem),
                gpus: r.gpus.or(default.gpus),
                time: r.time.clone().or(default.time),
            },
            None => default,
        }
    }

    /// Array tasks for a per-item node over about `items` items.
    pub fn array_tasks(&self, items: usize) -> usize {
        items
            .div_ceil(self.items_per_task)
            .clamp(1, self.max_array_tasks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_class_falls_back_to_default_field_by_field() {
        let config: SlurmConfig = serde_yaml_ng::from_str(
            "resources: {default: {cpus: 2, mem: 4G, time: '01:00:00'}, deep: {cpus: 8}}",
        )
        .unwrap();
        config.validate().unwrap();
        let deep = config.resources_for("deep");
        assert_eq!(deep.cpus, Some(8));
        assert_eq!(deep.mem.as_deref(), Some("4G"));
        assert_eq!(config.resources_for("extract").cpus, Some(2));
    }

    #[test]
    fn an_unknown_class_is_an_error_naming_it() {
        let config: SlurmConfig =
            serde_yaml_ng::from_str("resources: {extrct: {cpus: 2}}").unwrap();
        let error = config.validate().unwrap_err().to_string();
        assert!(error.contains("resources.extrct"), "{error}");
        // pipeline.yaml says where.
        let error = crate::config::parse(
            "corpus: {kind: ravdess, path: c}\nprotocols: {p: {kind: leave_one_speaker_out}}\n\
             models: {lr: {kind: logistic_regression}}\n\
             experiments: {features: [mfcc], models: [lr], protocols: [p]}\n\
             executor: {slurm: {resources: {extrct: {cpus: 2}}}}\n",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("executor.slurm: resources.extrct"),
            "{error}"
        );
    }

    #[test]
    fn array_tasks_cover_the_items_within_the_cap() {
        let config = SlurmConfig {
            items_per_task: 100,
            max_array_tasks: 8,
            ..SlurmConfig::default()
        };
        assert_eq!(config.array_tasks(0), 1);
        assert_eq!(config.array_tasks(100), 1);
        assert_eq!(config.array_tasks(101), 2);
        assert_eq!(config.array_tasks(100_000), 8);
    }
}
