//! `ser model inspect`: a bundle's manifest (the same JSON any tool can
//! read from the archive's `manifest.json`), after checking the bundle.

use std::path::PathBuf;

/// `ser model ...`.
#[derive(Debug, clap::Args)]
pub struct ModelArgs {
    #[command(subcommand)]
    pub command: ModelCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum ModelCommand {
    /// Print a bundle's manifest (format, experiment, features, classes, model, metrics, digests).
    Inspect {
        /// The bundle (`ser export`).
        path: PathBuf,
    },
}

impl ModelArgs {
    pub fn run(&self) -> anyhow::Result<i32> {
        match &self.command {
            ModelCommand::Inspect { path } => {
                let bundle = crate::bundle::read::read(path)?;
                outln!("{}", serde_json::to_string_pretty(&bundle.manifest)?)?;
                Ok(0)
            }
        }
    }
}
