//! The augment node: augmented copies of every utterance's signal, for
//! training folds only.
//!
//! An augmentation set (pipeline.yaml `augmentations.<name>`) lists
//! transforms; each makes one copy of every utterance, with the id
//! `<id>~<name>.<n>` and a `source` column naming the original. The copies
//! are extracted like any corpus (`extract:<set>+<name>`), and the train
//! node adds a copy to a fold's training rows only when its source is a
//! training utterance of that fold: a test utterance's audio, augmented or
//! not, never reaches a model that is scored on it (the train node checks
//! this and refuses to run otherwise).
//!
//! Copies are made for the whole corpus, not per fold, so one cached copy
//! serves every fold and protocol. Each copy is a per-item record keyed by
//! the transform, the seed and the source signal's digest; the seed of a
//! copy is derived from the set's seed, the utterance id and the
//! transform's index, so copies are reproducible and independent of order.

use std::collections::BTreeMap;
use std::path::PathBuf;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use ser_augment::{Augmentation, derive_seed};

use super::{Context, Inputs, Outputs, Placement, Role, Shard, Stage, item_key};
use crate::artifact::{Table, npy, parquet_read, parquet_write};

const CODE_VERSION: u32 = 1;

/// An augmentation set as written under `augmentations.<name>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AugmentSpec {
    /// One augmented copy of every utterance per transform.
    pub copies: Vec<Augmentation>,
    /// Base seed of every random draw.
    #[serde(default)]
    pub seed: u64,
}

pub struct AugmentStage {
    pub name: String,
    pub spec: AugmentSpec,
    pub sample_rate: u32,
    /// Noise recordings named by `noise` transforms, resolved against the
    /// pipeline's folder (by transform index).
    pub noise_files: BTreeMap<usize, Vec<PathBuf>>,
}

/// One augmented copy, as cached.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CopyRecord {
    signal: String,
}

impl AugmentStage {
    fn noise_bank(&self, index: usize) -> anyhow::Result<Vec<Vec<f32>>> {
        let Some(files) = self.noise_files.get(&index) else {
            return Ok(Vec::new());
        };
        files
            .iter()
            .map(|path| {
                let bytes = std::fs::read(path)
                    .map_err(|e| anyhow::anyhow!("noise file {}: {e}", path.display()))?;
                ser_ingest::load_signal(&bytes, self.sample_rate)
                    .map(|s| s.samples)
                    .map_err(|e| anyhow::anyhow!("noise file {}: {e}", path.display()))
            })
            .collect()
    }
}

impl Stage for AugmentStage {
    fn stage(&self) -> &'static str {
        "augment"
    }

    fn code_version(&self) -> u32 {
        CODE_VERSION
    }

    fn params(&self) -> Value {
        json!({ "name": self.name, "spec": self.spec, "sample_rate": self.sample_rate })
    }

    fn reads(&self, role: Role) -> &'static [&'static str] {
        match role {
            Role::Signals => &["manifest"],
            _ => &[],
        }
    }

    fn external_inputs(&self, _ctx: &Context) -> anyhow::Result<BTreeMap<String, String>> {
        let mut inputs = BTreeMap::new();
        for files in self.noise_files.values() {
            for path in files {
                let bytes = std::fs::read(path)
                    .map_err(|e| anyhow::anyhow!("noise file {}: {e}", path.display()))?;
                inputs.insert(
                    format!("noise:{}", path.display()),
                    blake3::hash(&bytes).to_hex().to_string(),
                );
            }
        }
        Ok(inputs)
    }

    fn placement(&self) -> Placement {
        Placement {
            class: "augment",
            per_item: true,
            gpu: false,
        }
    }

    fn run(&self, ctx: &Context, inputs: &Inputs) -> anyhow::Result<Outputs> {
        let manifest = parquet_read::from_parquet(
            ctx.cache
                .read_object(inputs.file(Role::Signals, "manifest")?)?,
        )?;
        let ids = manifest.utf8("id")?;
        let speakers = manifest.utf8("speaker")?;
        let labels = manifest.utf8("label")?;
        let signals = manifest.utf8("signal")?;
        for copy in &self.spec.copies {
            copy.validate()
                .map_err(|e| anyhow::anyhow!("augmentations.{}: {e}", self.name))?;
        }
        let banks: Vec<Vec<Vec<f32>>> = (0..self.spec.copies.len())
            .map(|i| self.noise_bank(i))
            .collect::<anyhow::Result<_>>()?;
        let jobs: Vec<(usize, usize)> = (0..ids.len())
            .flat_map(|row| (0..self.spec.copies.len()).map(move |c| (row, c)))
            .collect();
        let range = Shard::range(ctx.shard, jobs.len());
        let bar = ctx
            .progress
            .bar(range.len(), &format!("augment: {}", self.name));
        let made: Vec<anyhow::Result<(String, String)>> = jobs[range]
            .par_iter()
            .map(|&(row, c)| {
                let transform = &self.spec.copies[c];
                let seed = derive_seed(self.spec.seed, &ids[row], c);
                let key = item_key(
                    "augment",
                    CODE_VERSION,
                    &json!({ "transform": transform, "seed": seed, "rate": self.sample_rate }),
                    &signals[row],
                );
                let path = ctx.cache.item_record_path("augment", &key);
                if crate::interrupt::requested().is_some() {
                    return Err(anyhow::anyhow!("interrupted"));
                }
                let result = match ctx.cache.read_json::<CopyRecord>(&path) {
                    Some(record) if ctx.cache.has_object(&record.signal) => Ok(record.signal),
                    _ => (|| {
                        let samples = npy::read_1d(&ctx.cache.read_object(&signals[row])?)?;
                        let out = ser_augment::apply(
                            transform,
                            &samples,
                            self.sample_rate,
                            seed,
                            &banks[c],
                        )?;
                        let signal = ctx.cache.put_object(&npy::write_1d(&out)?, "npy")?;
                        ctx.cache.write_json(
                            &path,
                            &CopyRecord {
                                signal: signal.clone(),
                            },
                        )?;
                        Ok(signal)
                    })(),
                };
                bar.inc(1);
                result
                    .map(|signal| (key, signal))
                    .map_err(|e: anyhow::Error| {
                        anyhow::anyhow!("utterance {} copy {c}: {e:#}", ids[row])
                    })
            })
            .collect();
        bar.finish_and_clear();
        if let Some(shard) = ctx.shard {
            let done = made.len();
            made.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
            return Ok(Outputs::shard(shard, done, jobs.len()));
        }
        let (mut a_id, mut a_source, mut a_speaker, mut a_label, mut a_signal) =
            (vec![], vec![], vec![], vec![], vec![]);
        let mut items = Vec::with_capacity(jobs.len());
        let mut refs = Vec::with_capacity(jobs.len());
        for (&(row, c), result) in jobs.iter().zip(made) {
            let (key, signal) = result?;
            a_id.push(format!("{}~{}.{c}", ids[row], self.name));
            a_source.push(ids[row].clone());
            a_speaker.push(speakers[row].clone());
            a_label.push(labels[row].clone());
            refs.push(signal.clone());
            a_signal.push(signal);
            items.push(format!("augment/{key}"));
        }
        let table = Table::new()
            .strings("id", &a_id)
            .strings("speaker", &a_speaker)
            .strings("label", &a_label)
            .strings("source", &a_source)
            .strings("signal", &a_signal);
        let object = ctx
            .cache
            .put_object(&parquet_write::to_parquet(&table)?, "parquet")?;
        Ok(Outputs {
            files: BTreeMap::from([("manifest".into(), object)]),
            refs,
            items,
            summary: json!({ "copies": a_id.len(), "transforms": self.spec.copies.len() }),
        })
    }
}
