//! Training speed of ser's burn networks against the same architectures in
//! PyTorch (benches/torch_deep.py), same batch size, input shape and thread
//! count, in one run: `cargo bench --bench deep`.
//!
//! Both sides train `--epochs` passes over the same number of random
//! examples (frames x dims) in mini-batches and report samples per second.
//! `SER_DEEP_BENCH_MODELS` picks models (default `cnn2d,lstm`); the thread
//! count is RAYON_NUM_THREADS (default 2) for both: ser's pool is built
//! with it, PyTorch gets it as `--threads`. PyTorch's LSTM and GRU are its
//! built-in bidirectional modules, as its users write them. `SER_DEEP_BENCH_SER_ONLY=1` times
//! ser alone (for profiling); PyTorch has only `cnn2d`, `lstm`, `gru` and `mlp`.

mod common;

use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use ser_deep::{DeepKind, DeepParams, Example, Normalize, fit};

struct Shape {
    kind: DeepKind,
    name: &'static str,
    frames: usize,
    dims: usize,
}

fn main() {
    let threads: usize = std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(2);
    // ser's pool gets exactly the threads PyTorch gets (`--threads`),
    // whatever the machine has.
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .expect("ser's thread pool");
    let (examples, epochs, batch) = (256usize, 2usize, 32usize);
    let wanted = std::env::var("SER_DEEP_BENCH_MODELS").unwrap_or_else(|_| "cnn2d,lstm".into());
    let shapes = [
        Shape {
            kind: DeepKind::Cnn2d,
            name: "cnn2d",
            frames: 300,
            dims: 64,
        },
        Shape {
            kind: DeepKind::Lstm,
            name: "lstm",
            frames: 300,
            dims: 64,
        },
        Shape {
            kind: DeepKind::Gru,
            name: "gru",
            frames: 300,
            dims: 64,
        },
        Shape {
            kind: DeepKind::Cnn1d,
            name: "cnn1d",
            frames: 300,
            dims: 64,
        },
        Shape {
            kind: DeepKind::Crnn,
            name: "crnn",
            frames: 300,
            dims: 64,
        },
        Shape {
            kind: DeepKind::AttentionLstm,
            name: "attention_lstm",
            frames: 300,
            dims: 64,
        },
        Shape {
            kind: DeepKind::CnnTransformer,
            name: "cnn_transformer",
            frames: 300,
            dims: 64,
        },
        Shape {
            kind: DeepKind::Cnn1dRaw,
            name: "cnn1d_raw",
            frames: 48000,
            dims: 1,
        },
        // pipeline.yaml's mlp (256 x 2, dropout 0.5) on the acoustic set's
        // 1290 functionals; a step is cheap, so it gets 16 times the
        // examples.
        Shape {
            kind: DeepKind::Mlp,
            name: "mlp",
            frames: 1,
            dims: 1290,
        },
    ];
    println!(
        "training speed, {examples} random examples (mlp: 16 times as many) x {epochs} epochs, batch {batch}, {threads} thread(s) \
         each side (ser's rayon pool, torch.set_num_threads); PyTorch's LSTM and GRU are one \
         bidirectional nn.LSTM/nn.GRU, as PyTorch users write them"
    );
    println!(
        "{:<16} {:>12} {:>14} {:>10}",
        "model", "ser samples/s", "torch samples/s", "ser/torch"
    );
    for shape in shapes
        .iter()
        .filter(|s| wanted.split(',').any(|w| w == s.name))
    {
        let mlp = shape.kind == DeepKind::Mlp;
        let examples = if mlp { 16 * examples } else { examples };
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let data: Vec<Example> = (0..examples)
            .map(|_| {
                Example::new(
                    (0..shape.frames * shape.dims)
                        .map(|_| rng.random_range(-1.0f32..1.0))
                        .collect(),
                    shape.frames,
                )
            })
            .collect();
        let labels: Vec<usize> = (0..examples).map(|i| i % 8).collect();
        let speakers: Vec<String> = (0..examples).map(|i| format!("s{}", i % 24)).collect();
        let params = DeepParams {
            epochs,
            batch_size: batch,
            patience: 0,
            validation_speakers: 0,
            normalize: Normalize::None,
            ..DeepParams::default()
        };
        // torch_deep.py's Mlp has these too.
        let params = if mlp {
            DeepParams {
                hidden: 256,
                dropout: 0.5,
                ..params
            }
        } else {
            params
        };
        let start = Instant::now();
        fit(
            shape.kind,
            &params,
            &data,
            &labels,
            &speakers,
            shape.dims,
            8,
            &mut |_| {},
        )
        .unwrap_or_else(|e| common::fail(&format!("{}: {e}", shape.name)));
        let ser = (examples * epochs) as f64 / start.elapsed().as_secs_f64();
        let ser_only = std::env::var_os("SER_DEEP_BENCH_SER_ONLY").is_some();
        let torch = if !ser_only && matches!(shape.name, "cnn2d" | "lstm" | "gru" | "mlp") {
            torch_speed(shape, examples, epochs, batch, threads)
        } else {
            None
        };
        match torch {
            Some(t) => println!(
                "{:<16} {:>12.1} {:>14.1} {:>9.2}x",
                shape.name,
                ser,
                t,
                ser / t
            ),
            None => println!("{:<16} {:>12.1} {:>14} {:>10}", shape.name, ser, "-", "-"),
        }
    }
}

/// PyTorch's samples/s on the same shape, or None (with a note) when torch
/// is not installed (scripts/bench-deps.sh installs it).
fn torch_speed(
    shape: &Shape,
    examples: usize,
    epochs: usize,
    batch: usize,
    threads: usize,
) -> Option<f64> {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/torch_deep.py");
    let out = std::process::Command::new(common::python("torch", "PyTorch"))
        .arg(script)
        .args(["--model", shape.name, "--json"])
        .args([
            "--frames",
            &shape.frames.to_string(),
            "--dims",
            &shape.dims.to_string(),
        ])
        .args([
            "--examples",
            &examples.to_string(),
            "--epochs",
            &epochs.to_string(),
        ])
        .args([
            "--batch",
            &batch.to_string(),
            "--threads",
            &threads.to_string(),
        ])
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!(
            "torch_deep.py failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    let line = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(line.lines().last()?).ok()?;
    v["samples_per_s"].as_f64()
}
