//! The folds node: a protocol's speaker-disjoint folds for the corpus, as
//! JSON (`[{"name": "fold1", "test_speakers": [...]}, ...]`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{Value, json};

use ser_evaluate::ProtocolSpec;
use ser_evaluate::protocol;

use super::{Context, Inputs, Outputs, Role, Stage};
use crate::artifact::parquet_read;

// 2: speaker_kfold stratified by label; kfold.
const CODE_VERSION: u32 = 2;

pub struct FoldsStage {
    pub spec: ProtocolSpec,
    /// The folds file of a `folds_file` protocol, resolved.
    pub file: Option<PathBuf>,
}

impl FoldsStage {
    fn file_text(&self) -> anyhow::Result<Option<String>> {
        self.file
            .as_ref()
            .map(|p| {
                std::fs::read_to_string(p)
                    .map_err(|e| anyhow::anyhow!("protocol file {}: {e}", p.display()))
            })
            .transpose()
    }
}

impl Stage for FoldsStage {
    fn stage(&self) -> &'static str {
        "folds"
    }

    fn code_version(&self) -> u32 {
        CODE_VERSION
    }

    fn params(&self) -> Value {
        // The file's path is not a parameter: its content is an input.
        match &self.spec {
            ProtocolSpec::FoldsFile {
                key, corpus: None, ..
            } => json!({ "kind": "folds_file", "key": key }),
            ProtocolSpec::FoldsFile {
                key,
                corpus: Some(corpus),
                ..
            } => json!({ "kind": "folds_file", "key": key, "corpus": corpus }),
            other => serde_json::to_value(other).expect("protocol specs are plain data"),
        }
    }

    fn external_inputs(&self, _ctx: &Context) -> anyhow::Result<BTreeMap<String, String>> {
        Ok(match self.file_text()? {
            Some(text) => BTreeMap::from([(
                "protocol_file".into(),
                blake3::hash(text.as_bytes()).to_hex().to_string(),
            )]),
            None => BTreeMap::new(),
        })
    }

    fn reads(&self, role: Role) -> &'static [&'static str] {
        match role {
            Role::Corpus => &["manifest"],
            _ => &[],
        }
    }

    fn run(&self, ctx: &Context, inputs: &Inputs) -> anyhow::Result<Outputs> {
        let manifest = parquet_read::from_parquet(
            ctx.cache
                .read_object(inputs.file(Role::Corpus, "manifest")?)?,
        )?;
        let ids = manifest.utf8("id")?;
        let speakers = manifest.utf8("speaker")?;
        let labels = manifest.utf8("label")?;
        let corpora = manifest.utf8("corpus")?;
        let text = self.file_text()?;
        let corpus = protocol::Utterances {
            ids: &ids,
            speakers: &speakers,
            labels: &labels,
            corpora: Some(&corpora),
        };
        let folds = protocol::folds_for(&self.spec, corpus, text.as_deref())?;
        let object = ctx
            .cache
            .put_object(&serde_json::to_vec_pretty(&folds)?, "json")?;
        Ok(Outputs {
            files: BTreeMap::from([("folds".into(), object)]),
            summary: json!({ "folds": folds.len() }),
            ..Default::default()
        })
    }
}
