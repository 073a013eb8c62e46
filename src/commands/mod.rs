//! The `ser` subcommands. Each takes parsed CLI options and returns an
//! error (printed as one line by `main`) or `Ok(exit code)`.

pub mod compare;
pub mod corpus;
pub mod extract;
pub mod gc;
pub mod metrics;
pub mod outputs;
pub mod report;
pub mod run;
pub mod status;

use std::path::PathBuf;

use crate::cache::Cache;
use crate::config::Pipeline;

/// Options every pipeline command shares.
#[derive(Debug, Clone, clap::Args)]
pub struct PipelineArgs {
    /// The pipeline file.
    #[arg(short = 'p', long, default_value = "pipeline.yaml", global = true)]
    pub pipeline: PathBuf,
    /// Override a pipeline.yaml value, e.g. `--set extract.n_mfcc=20` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE", global = true)]
    pub overrides: Vec<String>,
    /// Use this corpus folder instead of corpus.path.
    #[arg(long, global = true)]
    pub corpus: Option<PathBuf>,
    /// Cache folder (default: cache.dir, else .ser beside the pipeline file).
    #[arg(long, env = "SER_CACHE_DIR", global = true)]
    pub cache_dir: Option<PathBuf>,
}

impl PipelineArgs {
    pub fn load(&self) -> anyhow::Result<(Pipeline, Cache)> {
        let mut overrides = self.overrides.clone();
        if let Some(corpus) = &self.corpus {
            let abs = std::path::absolute(corpus)?;
            overrides.push(format!("corpus.path={}", abs.display()));
        }
        let pipeline = Pipeline::load(&self.pipeline, &overrides)?;
        let dir = match &self.cache_dir {
            Some(d) if !d.as_os_str().is_empty() => d.clone(),
            _ => pipeline.cache_dir(),
        };
        let cache = Cache::open(&dir)?;
        Ok((pipeline, cache))
    }
}
