//! The select node: per training fold, the feature columns a selection
//! method keeps, fitted on that fold's training speakers only.
//!
//! A selection (pipeline.yaml `selection.<name>`) is Algorithm 1 (a
//! filter: top columns by ANOVA F), Algorithm 2 (a wrapper: backward
//! elimination scored by UA over speaker-grouped inner folds of a model),
//! or both in turn (1+2). The output `selected` (JSON) lists each fold's
//! columns, the wrapper's search path, and how many folds kept each column.

use std::collections::BTreeMap;

use ndarray::{Array2, Axis};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use ser_select::wrapper::{BackwardParams, Elimination, backward_eliminate};
use ser_select::{Keep, filter};
use ser_train::ClassicSpec;

use super::{Context, Inputs, Outputs, Role, Stage, inner_cv};
use crate::artifact::features::{class_indices, feature_columns};
use crate::artifact::parquet_read;
use crate::artifact::schema::{FoldSelection, SelectionArtifact};

// 2: inner folds stratified by label.
const CODE_VERSION: u32 = 2;

/// A selection method as written under `selection.<name>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelectionSpec {
    /// Algorithm 1: keep the top columns by ANOVA F.
    #[serde(default)]
    pub filter: Option<FilterSpec>,
    /// Algorithm 2: backward elimination (after the filter, if both).
    #[serde(default)]
    pub wrapper: Option<WrapperSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterSpec {
    /// A count (> 1) or a fraction (<= 1) of the columns.
    pub keep: Keep,
    /// The univariate score columns are ranked by.
    // Left out of the params when default, so configs written before the
    // option existed keep their fingerprints (and their cached results).
    #[serde(default, skip_serializing_if = "FilterScore::is_default")]
    pub score: FilterScore,
}

/// Algorithm 1's ranking score.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FilterScore {
    /// One-way ANOVA F (scikit-learn's `f_classif`).
    #[default]
    Anova,
    /// Nearest-neighbour mutual information with the label (scikit-learn's
    /// `mutual_info_classif`, 3 neighbours): also catches non-monotonic
    /// relations the F test misses, at O(n log n) per column.
    MutualInfo,
}

impl FilterScore {
    fn is_default(&self) -> bool {
        *self == FilterScore::default()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WrapperSpec {
    /// The model whose inner-CV UA drives the search.
    #[serde(default = "default_estimator")]
    pub estimator: ClassicSpec,
    /// Speaker-grouped inner folds of the training fold.
    #[serde(default = "default_inner_folds")]
    pub inner_folds: usize,
    #[serde(default)]
    pub search: BackwardParams,
}

fn default_estimator() -> ClassicSpec {
    ClassicSpec::GaussianNb {
        var_smoothing: 1e-9,
    }
}

fn default_inner_folds() -> usize {
    3
}

pub struct SelectStage {
    pub spec: SelectionSpec,
}

impl Stage for SelectStage {
    fn stage(&self) -> &'static str {
        "select"
    }

    fn code_version(&self) -> u32 {
        CODE_VERSION
    }

    fn params(&self) -> Value {
        serde_json::to_value(&self.spec).expect("plain data")
    }

    fn reads(&self, role: Role) -> &'static [&'static str] {
        match role {
            Role::Features => &["features"],
            Role::Folds => &["folds"],
            _ => &[],
        }
    }

    fn run(&self, ctx: &Context, inputs: &Inputs) -> anyhow::Result<Outputs> {
        let table = feature_table(ctx, inputs)?;
        let folds: Vec<ser_evaluate::Fold> =
            serde_json::from_slice(&ctx.cache.read_object(inputs.file(Role::Folds, "folds")?)?)?;
        let (names, x) = feature_columns(&table)?;
        let ids = table.utf8("id")?;
        let speakers = table.utf8("speaker")?;
        let labels = table.utf8("label")?;
        let (_, y) = class_indices(&labels);

        let selections: Vec<anyhow::Result<FoldSelection>> = folds
            .par_iter()
            .map(|fold| {
                let train = fold.split(&speakers, &ids).train;
                let x_train = x.select(Axis(0), &train);
                let y_train: Vec<usize> = train.iter().map(|&i| y[i]).collect();
                let s_train: Vec<String> = train.iter().map(|&i| speakers[i].clone()).collect();
                let chosen = self
                    .select(&x_train, &y_train, &s_train)
                    .map_err(|e| anyhow::anyhow!("fold {}: {e:#}", fold.name))?;
                Ok(FoldSelection {
                    fold: fold.name.clone(),
                    columns: chosen.0.iter().map(|&c| names[c].clone()).collect(),
                    wrapper: chosen.1,
                })
            })
            .collect();
        let selections: Vec<FoldSelection> =
            selections.into_iter().collect::<anyhow::Result<_>>()?;
        let mut kept: BTreeMap<String, usize> = BTreeMap::new();
        for s in &selections {
            for c in &s.columns {
                *kept.entry(c.clone()).or_default() += 1;
            }
        }
        let evaluations: usize = selections
            .iter()
            .filter_map(|s| s.wrapper.as_ref())
            .map(|w| w.evaluations)
            .sum();
        let summary = json!({
            "columns_in": names.len(),
            "kept_per_fold": selections.iter().map(|s| s.columns.len()).collect::<Vec<_>>(),
            "wrapper_evaluations": evaluations,
        });
        let artifact = SelectionArtifact {
            folds: selections,
            kept_in_folds: kept,
        };
        // Through a Value, so keys are sorted as they always were.
        let object = ctx.cache.put_object(
            &serde_json::to_vec_pretty(&serde_json::to_value(&artifact)?)?,
            "json",
        )?;
        Ok(Outputs {
            files: BTreeMap::from([("selected".into(), object)]),
            summary,
            ..Default::default()
        })
    }
}

/// The feature table a select node reads.
fn feature_table(ctx: &Context, inputs: &Inputs) -> anyhow::Result<crate::artifact::Table> {
    parquet_read::from_parquet(
        ctx.cache
            .read_object(inputs.file(Role::Features, "features")?)?,
    )
}

impl SelectStage {
    /// Selected column indices (ranking order) of one training fold.
    fn select(
        &self,
        x: &Array2<f64>,
        y: &[usize],
        speakers: &[String],
    ) -> anyhow::Result<(Vec<usize>, Option<Elimination>)> {
        let scores = match self.spec.filter.as_ref().map(|f| f.score) {
            Some(FilterScore::MutualInfo) => filter::mutual_information(x.view(), y, 3),
            // The wrapper alone also orders its candidates by ANOVA F.
            Some(FilterScore::Anova) | None => filter::anova_f(x.view(), y),
        };
        let mut ranked = filter::ranking(&scores);
        if let Some(f) = &self.spec.filter {
            ranked.truncate(f.keep.resolve(ranked.len()));
        }
        let Some(w) = &self.spec.wrapper else {
            return Ok((ranked, None));
        };
        let splits = inner_cv::speaker_splits(speakers, y, w.inner_folds)?;
        let scorer = inner_cv::SubsetScorer::new(&w.estimator, x.view(), y, &splits);
        let result = backward_eliminate(&ranked, &w.search, |columns| scorer.mean_ua(columns));
        Ok((result.selected.clone(), Some(result)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::{ColumnData, Table, parquet_write};
    use crate::cache::Cache;
    use crate::progress::Progress;
    use ser_evaluate::Fold;

    /// Four speakers, two classes. Column `signal` tells the classes apart
    /// for every speaker; column `leak` only for the test speakers of fold
    /// 1 (on the others it is noise): a selection fitted on the whole
    /// corpus would rank `leak` first.
    fn fixture(dir: &std::path::Path) -> (Context, Inputs) {
        let cache = Cache::open(dir).unwrap();
        let (mut ids, mut speakers, mut labels, mut signal, mut leak, mut noise) =
            (vec![], vec![], vec![], vec![], vec![], vec![]);
        for s in 0..4 {
            for i in 0..20 {
                let class = i % 2;
                ids.push(format!("{s}_{i}"));
                speakers.push(format!("s{s}"));
                labels.push(if class == 0 { "sad" } else { "happy" }.to_string());
                // Wide enough that over all four speakers `leak` scores
                // higher (ANOVA F 53 against 39), over s2 and s3 lower
                // (0 against 19).
                let wobble = ((i * 7 + s * 3) % 5) as f32 / 2.0;
                signal.push(class as f32 + wobble);
                let test_speaker = s < 2;
                leak.push(if test_speaker {
                    10.0 * class as f32
                } else {
                    ((i * 13 + s) % 7) as f32
                });
                noise.push(((i * 31 + s * 17) % 11) as f32);
            }
        }
        let table = Table::new()
            .strings("id", &ids)
            .strings("speaker", &speakers)
            .strings("label", &labels)
            .with("leak", ColumnData::Float32(leak))
            .with("noise", ColumnData::Float32(noise))
            .with("signal", ColumnData::Float32(signal));
        let features = cache
            .put_object(&parquet_write::to_parquet(&table).unwrap(), "parquet")
            .unwrap();
        let folds = vec![
            Fold::speakers("fold1", ["s0", "s1"]),
            Fold::speakers("fold2", ["s2", "s3"]),
        ];
        let folds = cache
            .put_object(&serde_json::to_vec(&folds).unwrap(), "json")
            .unwrap();
        let inputs = Inputs {
            by_role: BTreeMap::from([
                (
                    Role::Features,
                    BTreeMap::from([("features".to_string(), features)]),
                ),
                (Role::Folds, BTreeMap::from([("folds".to_string(), folds)])),
            ]),
        };
        (
            Context {
                cache,
                progress: Progress::hidden(),
                strict: false,
                shard: None,
            },
            inputs,
        )
    }

    fn selected(ctx: &Context, outputs: &Outputs) -> Vec<FoldSelection> {
        let bytes = ctx.cache.read_object(&outputs.files["selected"]).unwrap();
        let artifact: SelectionArtifact = serde_json::from_slice(&bytes).unwrap();
        artifact.folds
    }

    #[test]
    fn the_filter_never_sees_test_speakers() {
        let dir = tempfile::tempdir().unwrap();
        let (ctx, inputs) = fixture(dir.path());
        let stage = SelectStage {
            spec: one_filter(Keep::Count(1)),
        };
        let folds = selected(&ctx, &stage.run(&ctx, &inputs).unwrap());
        // Fold 1 trains on s2 and s3, where `leak` is noise.
        assert_eq!(folds[0].fold, "fold1");
        assert_eq!(folds[0].columns, ["signal"]);
        // The fixture can tell: the same filter fitted on every speaker,
        // test speakers included, keeps `leak` instead.
        let table = feature_table(&ctx, &inputs).unwrap();
        let (names, x) = feature_columns(&table).unwrap();
        let (_, y) = class_indices(&table.utf8("label").unwrap());
        let speakers = table.utf8("speaker").unwrap();
        let (leaky, _) = stage.select(&x, &y, &speakers).unwrap();
        assert_eq!(names[leaky[0]], "leak");
    }

    #[test]
    fn the_wrapper_drops_what_does_not_help_inner_cv() {
        let dir = tempfile::tempdir().unwrap();
        let (ctx, inputs) = fixture(dir.path());
        let wrapper = WrapperSpec {
            estimator: default_estimator(),
            inner_folds: 2,
            search: BackwardParams {
                chunks: 3,
                min_features: 1,
                tolerance: 0.0,
                patience: 3,
                max_rounds: 10,
            },
        };
        let stage = SelectStage {
            spec: SelectionSpec {
                filter: None,
                wrapper: Some(wrapper),
            },
        };
        let outputs = stage.run(&ctx, &inputs).unwrap();
        let folds = selected(&ctx, &outputs);
        assert!(
            folds[0].columns.contains(&"signal".to_string()),
            "{:?}",
            folds[0]
        );
        assert!(
            !folds[0].columns.contains(&"leak".to_string()),
            "{:?}",
            folds[0]
        );
        let search = folds[0].wrapper.as_ref().unwrap();
        assert!(search.evaluations > 1);
        assert_eq!(outputs.summary["columns_in"], 3);
    }

    #[test]
    fn spec_parses_all_three_algorithms() {
        let one: SelectionSpec = serde_json::from_str(r#"{"filter": {"keep": 0.25}}"#).unwrap();
        assert_eq!(one.filter.unwrap().keep, Keep::Fraction(0.25));
        let two: SelectionSpec =
            serde_json::from_str(r#"{"wrapper": {"inner_folds": 4}}"#).unwrap();
        assert_eq!(two.wrapper.unwrap().estimator, default_estimator());
        let both: SelectionSpec =
            serde_json::from_str(r#"{"filter": {"keep": 100}, "wrapper": {}}"#).unwrap();
        assert_eq!(both.filter.unwrap().keep, Keep::Count(100));
        assert!(serde_json::from_str::<SelectionSpec>(r#"{"filtre": {}}"#).is_err());
        let mi: SelectionSpec =
            serde_json::from_str(r#"{"filter": {"keep": 10, "score": "mutual_info"}}"#).unwrap();
        assert_eq!(mi.filter.unwrap().score, FilterScore::MutualInfo);
        // The default score leaves the params (and so the fingerprints of
        // configs written before the option) unchanged.
        assert_eq!(
            serde_json::to_string(&one_filter(Keep::Count(3))).unwrap(),
            r#"{"filter":{"keep":3},"wrapper":null}"#
        );
    }

    fn one_filter(keep: Keep) -> SelectionSpec {
        SelectionSpec {
            filter: Some(FilterSpec {
                keep,
                score: FilterScore::Anova,
            }),
            wrapper: None,
        }
    }
}
