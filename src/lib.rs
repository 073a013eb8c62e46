//! ser: speech emotion recognition as a cached pipeline.
//!
//! This crate is the engine and the CLI. The domain code lives in one crate
//! per stage under `stages/` (ingest, extract, train, evaluate), which know
//! nothing of caching; this crate wraps each as a cached node:
//!
//! - [`config`]: pipeline.yaml, strict parsing, `--set` overrides.
//! - [`dag`]: the experiment matrix expanded into a graph of nodes.
//! - [`fingerprint`]: node keys and typed dirty reasons.
//! - [`cache`]: the content-addressed store (layout, atomic writes, locks).
//! - [`remote`]: team remotes (directory, S3): packs, push, pull, read-through.
//! - [`scheduler`]: runs stale nodes in parallel, reuses fresh ones.
//! - [`stage`]: the stage adapters; [`artifact`]: Parquet and `.npy` I/O.
//! - [`commands`], [`cli`]: the `ser` subcommands.
//! - [`fetch`]: `ser corpus fetch`, public corpora downloaded resumably,
//!   verified and unpacked.

#[macro_use]
pub mod out;
pub mod artifact;
pub mod bundle;
pub mod cache;
pub mod cli;
pub mod commands;
pub mod config;
pub mod dag;
pub mod executor;
pub mod fetch;
pub mod fingerprint;
pub mod interrupt;
pub mod model;
pub mod progress;
pub mod remote;
pub mod scheduler;
pub mod stage;
pub mod state;
