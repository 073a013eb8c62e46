//! Command-line interface (clap).

use clap::{Parser, Subcommand};

use crate::commands;

/// ser: speech emotion recognition as a cached pipeline.
///
/// Reads pipeline.yaml, runs only the stages whose inputs, parameters or
/// code changed, and keeps every artifact in a content-addressed cache.
#[derive(Debug, Parser)]
#[command(name = "ser", version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Worker threads (default: RAYON_NUM_THREADS if set, else the CPUs this process may use: its cgroup
    /// quota and affinity, as Slurm sets them).
    #[arg(long, env = "SER_THREADS", global = true)]
    pub threads: Option<usize>,
}

/// One variant per command; each command's options and its `run` live in
/// its module under `commands/`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the pipeline: every stale node, then print results sorted by UA.
    ///
    /// Exit codes: 0 all nodes ok, 1 some node failed, 2 bad pipeline file
    /// or usage, 130/143 stopped by SIGINT/SIGTERM (the next run resumes).
    Run(commands::run::RunArgs),
    /// This pipeline's past runs (state/<pipeline>/runs/): outcome counts, time, memory.
    Runs(commands::runs::RunsArgs),
    /// Show each node as fresh or stale, with the reason it would rerun.
    Status(commands::status::StatusArgs),
    /// Print the expanded experiment graph.
    Dag(commands::status::StatusArgs),
    /// Print the latest metrics of every experiment.
    Metrics(commands::metrics::MetricsArgs),
    /// Is experiment A better than B? Paired bootstrap and McNemar on their predictions.
    Compare(commands::compare::CompareArgs),
    /// List the latest artifacts of each node (node, output, file path), optionally of nodes whose name contains PATTERN.
    Outputs(commands::outputs::OutputsArgs),
    /// Write the results as a report: index.html (self-contained, figures inline), README.md and img/.
    Report(commands::report::ReportArgs),
    /// Remove cache entries that no pipeline's last run uses (`--remote`: remote packs no pushed state uses).
    Gc(commands::gc::GcArgs),
    /// Upload what this pipeline's last run references, and its state, to the remote.
    Push(commands::remote::PushArgs),
    /// Download from the remote what this pipeline needs (`--from NAME`: everything a pushed state references).
    Pull(commands::remote::PullArgs),
    /// Remote tools.
    Remote(commands::remote::RemoteArgs),
    /// Forget this pipeline's runs and collect garbage (`--all`: delete the cache folder).
    Clean(commands::gc::CleanArgs),
    /// Extract a feature set from audio files into a Parquet table, outside any pipeline.
    Extract(commands::extract::ExtractArgs),
    /// Corpus tools.
    Corpus(commands::corpus::CorpusArgs),
    /// Write an experiment's trained model as one self-contained file (NAME.sermodel).
    Export(commands::export::ExportArgs),
    /// Predict the emotion of audio files with an exported model.
    Predict(commands::predict::PredictArgs),
    /// Model bundle tools.
    Model(commands::model::ModelArgs),
    /// One node of the pipeline, its dependencies read from the cache: the
    /// job an executor submits (`ser run --executor slurm`).
    #[command(hide = true)]
    Worker(commands::worker::WorkerArgs),
}

impl Command {
    fn run(&self) -> anyhow::Result<i32> {
        match self {
            Command::Run(args) => args.run(),
            Command::Runs(args) => args.run(),
            Command::Status(args) => args.status(),
            Command::Dag(args) => args.dag(),
            Command::Metrics(args) => args.run(),
            Command::Compare(args) => args.run(),
            Command::Outputs(args) => args.run(),
            Command::Report(args) => args.run(),
            Command::Gc(args) => args.run(),
            Command::Push(args) => args.run(),
            Command::Pull(args) => args.run(),
            Command::Remote(args) => args.run(),
            Command::Clean(args) => args.run(),
            Command::Extract(args) => args.run(),
            Command::Corpus(args) => args.run(),
            Command::Export(args) => args.run(),
            Command::Predict(args) => args.run(),
            Command::Model(args) => args.run(),
            Command::Worker(args) => args.run(),
        }
    }
}

pub fn main() -> i32 {
    let cli = Cli::parse();
    // One pool for nodes, per-item work and training: by default the CPUs
    // this process may use (std reads the cgroup quota and the affinity).
    // RAYON_NUM_THREADS still counts for those used to rayon's knob.
    let rayon_threads = std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|t| t.trim().parse::<usize>().ok());
    let threads = cli
        .threads
        .or(rayon_threads)
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global();
    let result = cli.command.run();
    match result {
        Ok(code) => code,
        // The reader has gone (`ser metrics | head`): nothing left to say.
        Err(e) if crate::out::is_broken_pipe(&e) => 0,
        Err(e) => {
            eprintln!("error: {}", format!("{e:#}").replace('\n', " "));
            if e.downcast_ref::<commands::ConfigError>().is_some() {
                2
            } else {
                1
            }
        }
    }
}
