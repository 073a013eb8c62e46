//! Remotes: a team's copy of cache entries, in a directory or S3.
//!
//! A remote holds the same files as a local cache (objects, per-item
//! records, node records; see [`crate::cache`]), packed, plus the states
//! that people pushed:
//!
//! ```text
//! <remote>/
//!   packs/<blake3>.pack     member files concatenated; named by the hash of its bytes
//!   packs/<blake3>.idx      what the pack holds: cache path, offset, length, blake3
//!   states/<name>.json      a pushed pipeline state (`ser push --as alice/nightly`)
//! ```
//!
//! Why packs: a pipeline's cache is tens of thousands of small files (one
//! record per utterance per stage), and object stores charge a round trip
//! per file. Packs make a push or a pull a few large transfers, and the
//! index files are the one listing that tells a client what the remote has.
//!
//! Guarantees, in the order a push writes (Nix's binary cache order):
//! objects' packs, then per-item records', then node records', then the
//! state; within each step a pack is written before its index, and only an
//! index makes members visible. A push killed at any moment leaves at
//! worst packs without an index, which nobody reads and `ser gc --remote`
//! drops after its grace period: a reader never finds a record whose
//! objects are missing. Every member is checked against the blake3 in its
//! index before it enters a local cache (and an object also against its
//! own name), so a corrupt or truncated remote file is refused by name.
//!
//! Kinds: `s3://bucket/prefix` (any S3-compatible store, through
//! `object_store`; credentials and endpoint from the standard `AWS_*`
//! variables, the AWS profile files, or pipeline.yaml) and a directory (`/path`, `file:///path`:
//! local disk, NFS, a mounted share).

pub mod fetch;
pub mod gc;
pub mod index;
pub mod pack;
pub mod profile;
pub mod push;
pub mod read_through;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

pub use index::RemoteIndex;
pub use read_through::ReadThrough;

/// A pipeline state as pushed (`states/<name>.json`): the node keys of
/// one pipeline's last run, the roots of a pull `--from` and of remote gc.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PushedState {
    pub format: u32,
    pub name: String,
    /// The pipeline file it was pushed from (for people; not a key).
    pub pipeline_file: String,
    /// Seconds since the Unix epoch.
    pub pushed_at: u64,
    pub nodes: std::collections::BTreeMap<String, crate::state::NodeState>,
}

impl PushedState {
    pub fn key(name: &str) -> String {
        format!("states/{name}.json")
    }

    /// (stage, key) of every node.
    pub fn roots(&self) -> Vec<(String, String)> {
        self.nodes
            .values()
            .map(|n| (n.stage.clone(), n.key.clone()))
            .collect()
    }
}

/// `cache.remote` in pipeline.yaml (or `--remote URL` / `SER_REMOTE`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteConfig {
    /// `s3://bucket/prefix`, `file:///path` or a folder path (may be left
    /// to `--remote` or `SER_REMOTE`).
    #[serde(default)]
    pub url: String,
    /// S3 endpoint of a non-AWS store (else `AWS_ENDPOINT_URL`).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// S3 region (else `AWS_REGION`, else us-east-1).
    #[serde(default)]
    pub region: Option<String>,
    /// Path-style requests (`endpoint/bucket/key`), as most S3-compatible
    /// servers want; `false` uses virtual-hosted style (AWS's own).
    #[serde(default = "yes")]
    pub path_style: bool,
    /// Allow a plain-HTTP endpoint (else `AWS_ALLOW_HTTP`).
    #[serde(default)]
    pub allow_http: Option<bool>,
    /// Read-through: `ser run` downloads a node or item that the remote
    /// has instead of computing it.
    #[serde(default = "yes")]
    pub read: bool,
    /// Push what a run computed when it finishes.
    #[serde(default)]
    pub write: bool,
    /// The name pushes store this pipeline's state under (default
    /// `<user>/<pipeline file stem>`).
    #[serde(default)]
    pub name: Option<String>,
}

fn yes() -> bool {
    true
}

impl RemoteConfig {
    /// A remote given only by its URL (`--remote`, `SER_REMOTE`).
    pub fn from_url(url: &str) -> RemoteConfig {
        RemoteConfig {
            url: url.to_string(),
            path_style: true,
            read: true,
            ..RemoteConfig::default()
        }
    }
}

/// An open remote. Blocking methods over `object_store`'s async API, run
/// on a small tokio runtime of its own.
pub struct Remote {
    store: Arc<dyn ObjectStore>,
    /// The URL as configured, for messages.
    pub url: String,
    runtime: tokio::runtime::Runtime,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Remote({})", self.url)
    }
}

/// What one listed remote file is.
#[derive(Debug, Clone)]
pub struct Listed {
    /// Path under the remote's root, e.g. `packs/<hash>.idx`.
    pub key: String,
    pub size: u64,
    pub age: Duration,
}

/// Transfers in flight at once: enough to hide a round trip, few enough
/// for a small server (and for packs held in memory).
pub const PARALLEL_TRANSFERS: usize = 8;

impl Remote {
    pub fn open(config: &RemoteConfig) -> anyhow::Result<Remote> {
        let url = config.url.trim();
        anyhow::ensure!(
            !url.is_empty(),
            "no remote URL: set cache.remote.url, give --remote URL or set SER_REMOTE"
        );
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("ser-remote")
            .enable_all()
            .build()?;
        let store: Arc<dyn ObjectStore> = if let Some(rest) = url.strip_prefix("s3://") {
            // reqwest is built without a bundled TLS provider; ring is
            // already in the build (and aws-lc would add a cmake build).
            let _ = rustls::crypto::ring::default_provider().install_default();
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            anyhow::ensure!(!bucket.is_empty(), "remote {url}: no bucket named");
            let mut builder = profile::apply(object_store::aws::AmazonS3Builder::from_env())
                .with_bucket_name(bucket)
                .with_virtual_hosted_style_request(!config.path_style)
                .with_retry(object_store::RetryConfig {
                    max_retries: 3,
                    retry_timeout: Duration::from_secs(20),
                    ..Default::default()
                })
                .with_client_options(
                    object_store::ClientOptions::new()
                        .with_connect_timeout(Duration::from_secs(5))
                        .with_timeout(Duration::from_secs(120)),
                );
            if let Some(region) = &config.region {
                builder = builder.with_region(region);
            }
            if let Some(endpoint) = &config.endpoint {
                builder = builder.with_endpoint(endpoint);
            }
            match config.allow_http {
                Some(allow) => builder = builder.with_allow_http(allow),
                None => {
                    let endpoint = config
                        .endpoint
                        .clone()
                        .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
                        .unwrap_or_default();
                    // An http:// endpoint on this machine is a test or a
                    // local gateway; anything else must say so.
                    if endpoint.starts_with("http://127.")
                        || endpoint.starts_with("http://localhost")
                    {
                        builder = builder.with_allow_http(true);
                    }
                }
            }
            let s3 = builder
                .build()
                .with_context(|| format!("remote {url}: bad S3 settings"))?;
            let prefix = prefix.trim_matches('/');
            if prefix.is_empty() {
                Arc::new(s3)
            } else {
                Arc::new(object_store::prefix::PrefixStore::new(s3, prefix))
            }
        } else {
            let dir = url.strip_prefix("file://").unwrap_or(url);
            anyhow::ensure!(
                !dir.contains("://"),
                "remote {url}: unknown kind (use s3://bucket/prefix, file:///path or a folder)"
            );
            let dir = std::path::absolute(Path::new(dir))?;
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("remote {url}: cannot create {}", dir.display()))?;
            Arc::new(
                object_store::local::LocalFileSystem::new_with_prefix(&dir)
                    .with_context(|| format!("remote {url}"))?,
            )
        };
        Ok(Remote {
            store,
            url: url.to_string(),
            runtime,
        })
    }

    /// Run a future on the remote's runtime (from any thread).
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// Every file under `prefix` (one paginated LIST, not a HEAD per file).
    pub fn list(&self, prefix: &str) -> anyhow::Result<Vec<Listed>> {
        let now = chrono_now();
        let prefix = StorePath::from(prefix);
        let metas: Vec<object_store::ObjectMeta> = self
            .block_on(self.store.list(Some(&prefix)).try_collect())
            .map_err(|e| self.error("list", e))?;
        Ok(
            metas
                .into_iter()
                .map(|m| Listed {
                    key: m.location.to_string(),
                    size: m.size,
                    age: Duration::from_millis(
                        (now - m.last_modified.timestamp_millis()).max(0) as u64
                    ),
                })
                .collect(),
        )
    }

    pub fn get(&self, key: &str) -> anyhow::Result<Bytes> {
        let path = StorePath::from(key);
        self.block_on(async { self.store.get(&path).await?.bytes().await })
            .map_err(|e| self.error(key, e))
    }

    pub fn put(&self, key: &str, bytes: Bytes) -> anyhow::Result<()> {
        let path = StorePath::from(key);
        self.block_on(self.store.put(&path, PutPayload::from_bytes(bytes)))
            .map(|_| ())
            .map_err(|e| self.error(key, e))
    }

    pub fn delete(&self, key: &str) -> anyhow::Result<()> {
        let path = StorePath::from(key);
        self.block_on(self.store.delete(&path))
            .map_err(|e| self.error(key, e))
    }

    /// One line on what went wrong with `what`, credentials and
    /// connection problems said plainly.
    pub fn error(&self, what: &str, e: object_store::Error) -> anyhow::Error {
        anyhow::anyhow!("remote {}: {what}: {}", self.url, describe(&e))
    }
}

/// A short cause: the innermost sources of an object_store error.
pub fn describe(e: &object_store::Error) -> String {
    let text = e.to_string();
    let lower = text.to_lowercase();
    let hint = if lower.contains("invalidaccesskeyid")
        || lower.contains("signaturedoesnotmatch")
        || lower.contains("403")
        || lower.contains("forbidden")
    {
        " (the credentials were refused: check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)"
    } else if lower.contains("connect") || lower.contains("dns") || lower.contains("timed out") {
        " (the remote is unreachable: check the endpoint and the network)"
    } else {
        ""
    };
    let mut out = text.replace('\n', " ");
    if out.len() > 300 {
        out.truncate(300);
        out.push_str("...");
    }
    format!("{out}{hint}")
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A state name people can type and a remote can store: letters, digits,
/// `-`, `_`, `.`, and `/` between parts.
pub fn check_state_name(name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name.split('/').all(|part| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        });
    anyhow::ensure!(
        ok,
        "state name '{name}': use letters, digits, - _ . and / between parts (e.g. alice/nightly)"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_names() {
        for good in ["alice/nightly", "team.ravdess_v2", "a/b/c-1"] {
            check_state_name(good).unwrap();
        }
        for bad in ["", "/x", "x/", "a//b", "../x", "a b", "a/./b"] {
            assert!(check_state_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_folder_remote_round_trips_and_lists() {
        let dir = tempfile::tempdir().unwrap();
        let remote = Remote::open(&RemoteConfig::from_url(dir.path().to_str().unwrap())).unwrap();
        remote.put("packs/a.idx", Bytes::from_static(b"x")).unwrap();
        remote
            .put("states/al/n.json", Bytes::from_static(b"{}"))
            .unwrap();
        assert_eq!(remote.get("packs/a.idx").unwrap().as_ref(), b"x");
        let listed = remote.list("packs").unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].key, "packs/a.idx");
        assert_eq!(listed[0].size, 1);
        assert!(remote.get("packs/missing").is_err());
        remote.delete("packs/a.idx").unwrap();
        assert!(remote.list("packs").unwrap().is_empty());
    }
}
