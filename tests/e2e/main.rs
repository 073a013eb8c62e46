//! End-to-end tests of the `ser` binary, one module per feature.
//!
//! They are one test crate, not one per file, because each test crate links
//! its own copy of the whole engine (burn, polars, arrow, XGBoost): ten
//! binaries took ten times the link time and disk of one, and a clean CI
//! build ran out of disk.

mod common;

mod bad_audio;
mod cli;
mod corpora;
mod corpus_fetch;
mod headless;
mod predict;
mod remote;
mod shared_cache;
mod slurm;
