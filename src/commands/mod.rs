//! The `ser` subcommands. Each takes parsed CLI options and returns an
//! error (printed as one line by `main`) or `Ok(exit code)`.

pub mod compare;
pub mod corpus;
pub mod export;
pub mod extract;
pub mod gc;
pub mod metrics;
pub mod model;
pub mod outputs;
pub mod predict;
pub mod remote;
pub mod report;
pub mod run;
pub mod runs;
pub mod status;
pub mod validation;
pub mod worker;

use std::path::PathBuf;
use std::sync::Arc;

use crate::cache::{Cache, Sharing};
use crate::config::Pipeline;
use crate::remote::{ReadThrough, RemoteConfig};

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
    /// `group`: new cache files 0664 and folders 2775, for a folder a Unix
    /// group shares (default: cache.shared).
    #[arg(long, global = true, value_enum)]
    pub shared: Option<Sharing>,
    /// A team remote: s3://bucket/prefix or a folder (else SER_REMOTE, else
    /// cache.remote.url). `ser gc --remote` collects the remote.
    #[arg(long, global = true, num_args = 0..=1, default_missing_value = "", value_name = "URL")]
    pub remote: Option<String>,
}

impl PipelineArgs {
    pub fn load(&self) -> anyhow::Result<(Pipeline, Cache)> {
        let pipeline = self.load_pipeline(&[])?;
        let dir = match &self.cache_dir {
            Some(d) if !d.as_os_str().is_empty() => d.clone(),
            _ => pipeline.cache_dir(),
        };
        let sharing = self.shared.unwrap_or(pipeline.config.cache.shared);
        let cache = Cache::open_shared(&dir, sharing)?;
        Ok((pipeline, cache))
    }

    /// The pipeline file with the `--set` values, `--corpus`, then `extra`
    /// overrides applied (later ones win).
    pub fn load_pipeline(&self, extra: &[String]) -> anyhow::Result<Pipeline> {
        let mut overrides = self.overrides.clone();
        if let Some(corpus) = &self.corpus {
            let abs = std::path::absolute(corpus)?;
            overrides.push(format!("corpus.path={}", abs.display()));
        }
        overrides.extend_from_slice(extra);
        Pipeline::load(&self.pipeline, &overrides)
            .map_err(|e| anyhow::Error::new(ConfigError(format!("{e:#}"))))
    }

    /// The remote: `--remote URL`, else `SER_REMOTE`, else cache.remote
    /// (a URL given either way keeps cache.remote's other settings).
    pub fn remote_config(&self, pipeline: &Pipeline) -> Option<RemoteConfig> {
        let configured = pipeline.config.cache.remote.clone();
        let env = std::env::var("SER_REMOTE").ok();
        let given = self
            .remote
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .or(env.as_deref().map(str::trim).filter(|u| !u.is_empty()));
        match given {
            Some(url) => Some(match configured {
                Some(c) => RemoteConfig {
                    url: url.to_string(),
                    ..c
                },
                None => RemoteConfig::from_url(url),
            }),
            _ => configured,
        }
    }

    /// The cache reading through to the remote, if one is configured for
    /// reading. A remote that cannot be reached costs one line, and the
    /// cache is used alone.
    pub fn with_read_through(&self, pipeline: &Pipeline, cache: Cache) -> Cache {
        let Some(config) = self.remote_config(pipeline).filter(|c| c.read) else {
            return cache;
        };
        match ReadThrough::open(&config, &remote_index_dir(&cache, &config)) {
            Ok(read_through) => cache.with_remote(Arc::new(read_through)),
            Err(e) => {
                eprintln!(
                    "warning: {}; computing locally",
                    format!("{e:#}").replace('\n', " ")
                );
                cache
            }
        }
    }
}

/// A pipeline file or option that cannot be used: exit code 2.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// Where a cache keeps its copies of a remote's pack indexes.
pub fn remote_index_dir(cache: &Cache, config: &RemoteConfig) -> PathBuf {
    let id = blake3::hash(config.url.trim().as_bytes()).to_hex();
    cache.root().join("remotes").join(&id[..16])
}
