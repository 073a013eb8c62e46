//! Command-line interface (clap).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::commands::{self, PipelineArgs};

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

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the pipeline: every stale node, then print results sorted by UA.
    ///
    /// Exit codes: 0 all nodes ok, 1 some node failed, 2 bad pipeline file
    /// or usage, 130/143 stopped by SIGINT/SIGTERM (the next run resumes).
    Run {
        #[command(flatten)]
        pipeline: PipelineArgs,
        #[command(flatten)]
        options: commands::run::RunOptions,
    },
    /// This pipeline's past runs (state/<pipeline>/runs/): outcome counts, time, memory.
    Runs {
        #[command(flatten)]
        pipeline: PipelineArgs,
        /// Print the newest run's summary in full (JSON).
        #[arg(long)]
        last: bool,
    },
    /// Show each node as fresh or stale, with the reason it would rerun.
    Status {
        #[command(flatten)]
        pipeline: PipelineArgs,
    },
    /// Print the expanded experiment graph.
    Dag {
        #[command(flatten)]
        pipeline: PipelineArgs,
    },
    /// Print the latest metrics of every experiment.
    Metrics {
        #[command(flatten)]
        pipeline: PipelineArgs,
        /// One JSON object per line (experiment, features, selection, model,
        /// protocol, ua, wa, macro_f1, n_test).
        #[arg(long)]
        json: bool,
    },
    /// Is experiment A better than B? Paired bootstrap and McNemar on their predictions.
    Compare {
        #[command(flatten)]
        pipeline: PipelineArgs,
        /// An experiment as `ser metrics` names it, e.g. acoustic/none/svm.
        a: String,
        /// The experiment to compare it with.
        b: String,
        /// The protocol both were evaluated on (default: the first in the matrix).
        #[arg(long)]
        protocol: Option<String>,
        /// What the bootstrap resamples: whole test speakers (default) or
        /// single utterances (narrower; treats a speaker's utterances as independent).
        #[arg(long, value_enum, default_value = "speaker")]
        unit: BootstrapUnit,
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List the latest artifacts of each node (node, output, file path), optionally of nodes whose name contains PATTERN.
    Outputs {
        #[command(flatten)]
        pipeline: PipelineArgs,
        pattern: Option<String>,
    },
    /// Write the results as a report: index.html (self-contained, figures inline), README.md and img/.
    Report {
        #[command(flatten)]
        pipeline: PipelineArgs,
        /// The folder to write (default: `report` beside the pipeline file).
        #[arg(long, short = 'o')]
        out: Option<PathBuf>,
    },
    /// Remove cache entries that no pipeline's last run uses (`--remote`: remote packs no pushed state uses).
    Gc {
        #[command(flatten)]
        pipeline: PipelineArgs,
        #[command(flatten)]
        gc: commands::gc::GcArgs,
    },
    /// Upload what this pipeline's last run references, and its state, to the remote.
    Push {
        #[command(flatten)]
        pipeline: PipelineArgs,
        /// The name to store this pipeline's state under, e.g. alice/nightly
        /// (default: cache.remote.name, else <user>/<pipeline file stem>).
        #[arg(long = "as", value_name = "NAME")]
        name: Option<String>,
    },
    /// Download from the remote what this pipeline needs (`--from NAME`: everything a pushed state references).
    Pull {
        #[command(flatten)]
        pipeline: PipelineArgs,
        /// A state pushed with `ser push --as NAME`.
        #[arg(long, value_name = "NAME")]
        from: Option<String>,
    },
    /// Remote tools.
    Remote {
        #[command(subcommand)]
        command: RemoteCommand,
    },
    /// Forget this pipeline's runs and collect garbage (`--all`: delete the cache folder).
    Clean {
        #[command(flatten)]
        pipeline: PipelineArgs,
        #[arg(long)]
        all: bool,
    },
    /// Extract a feature set from audio files into a Parquet table, outside any pipeline.
    Extract {
        /// Feature set: acoustic, mfcc, logmel, spectral, egemaps, gemaps.
        #[arg(long = "set", default_value = "acoustic")]
        set: String,
        /// One row per frame (file, frame, descriptors) instead of one row of functionals per file.
        #[arg(long)]
        frames: bool,
        /// The Parquet file to write.
        #[arg(long, short = 'o')]
        out: PathBuf,
        /// Rate every file is resampled to.
        #[arg(long, default_value_t = 16000)]
        sample_rate: u32,
        /// Override an extract parameter, e.g. `--param n_mfcc=20` (repeatable; names as in pipeline.yaml's extract section).
        #[arg(long = "param", value_name = "KEY=VALUE")]
        params: Vec<String>,
        /// Audio files (WAV, FLAC, MP3, Ogg, AIFF; the format is read from the bytes).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Corpus tools.
    Corpus {
        #[command(subcommand)]
        command: CorpusCommand,
    },
    /// One node of the pipeline, its dependencies read from the cache: the
    /// job an executor submits (`ser run --executor slurm`).
    #[command(hide = true)]
    Worker {
        #[command(flatten)]
        pipeline: PipelineArgs,
        /// The node, as `ser dag` names it.
        #[arg(long)]
        node: String,
        /// Only this share of a per-item node's items (`i/n`, 0-based).
        #[arg(long)]
        shard: Option<crate::stage::Shard>,
        #[arg(long)]
        strict: bool,
    },
}

/// What `ser compare`'s bootstrap resamples.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum BootstrapUnit {
    Speaker,
    Utterance,
}

#[derive(Debug, Subcommand)]
pub enum RemoteCommand {
    /// Each node of this pipeline as local, remote, both or neither; and the pushed states.
    Status {
        #[command(flatten)]
        pipeline: PipelineArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum CorpusCommand {
    /// Count utterances per label, speaker and gender, and list rejected files.
    Inspect {
        /// The corpus folder (for `--kind manifest`, the CSV file).
        path: PathBuf,
        /// Naming rules: ravdess, crema_d, tess, savee, emodb, manifest.
        #[arg(long, default_value = "ravdess")]
        kind: ser_ingest::CorpusKind,
        /// Rate to resample to while checking decodes.
        #[arg(long, default_value_t = 16000)]
        sample_rate: u32,
    },
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
    let result = match &cli.command {
        Command::Run { pipeline, options } => commands::run::run(pipeline, options),
        Command::Runs { pipeline, last } => commands::runs::runs(pipeline, *last),
        Command::Status { pipeline } => commands::status::status(pipeline),
        Command::Dag { pipeline } => commands::status::dag(pipeline),
        Command::Metrics { pipeline, json } => commands::metrics::metrics(pipeline, *json),
        Command::Compare {
            pipeline,
            a,
            b,
            protocol,
            unit,
            json,
        } => commands::compare::compare(
            pipeline,
            a,
            b,
            protocol.as_deref(),
            match unit {
                BootstrapUnit::Speaker => ser_evaluate::metrics::Unit::Speaker,
                BootstrapUnit::Utterance => ser_evaluate::metrics::Unit::Utterance,
            },
            *json,
        ),
        Command::Outputs { pipeline, pattern } => {
            commands::outputs::outputs(pipeline, pattern.as_deref())
        }
        Command::Report { pipeline, out } => commands::report::report(pipeline, out.as_deref()),
        Command::Gc { pipeline, gc } => commands::gc::gc(pipeline, gc),
        Command::Push { pipeline, name } => commands::remote::push(pipeline, name.as_deref()),
        Command::Pull { pipeline, from } => commands::remote::pull(pipeline, from.as_deref()),
        Command::Remote {
            command: RemoteCommand::Status { pipeline },
        } => commands::remote::status(pipeline),
        Command::Clean { pipeline, all } => commands::gc::clean(pipeline, *all),
        Command::Extract {
            set,
            frames,
            out,
            sample_rate,
            params,
            files,
        } => commands::extract::extract(&commands::extract::ExtractArgs {
            set,
            frames: *frames,
            out,
            sample_rate: *sample_rate,
            params,
            files,
        }),
        Command::Corpus {
            command:
                CorpusCommand::Inspect {
                    path,
                    kind,
                    sample_rate,
                },
        } => commands::corpus::inspect(path, *kind, *sample_rate),
        Command::Worker {
            pipeline,
            node,
            shard,
            strict,
        } => commands::worker::worker(pipeline, node, *shard, *strict),
    };
    match result {
        Ok(code) => code,
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
