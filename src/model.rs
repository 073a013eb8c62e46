//! A model as pipeline.yaml names it: one of the two learner families
//! (`ser_train::ClassicSpec` or `ser_deep::DeepSpec`, both
//! `ser_learn::Learner`s), with the entry-level settings around it (a
//! `grid:` to search, a classic model's speaker normalisation).
//!
//! The engine holds [`ModelSpec::Classic`] or [`ModelSpec::Deep`] and drives
//! both through the learner contract; the families do not know each other.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use ser_deep::DeepSpec;
use ser_learn::{GridPoint, GridSearch, Input, Learner};
use ser_train::{ClassicSpec, FeatureNormalize};

/// A model's settings, written flat with its `kind`.
// A config holds a handful of these, never arrays of them: boxing the deep
// variant would buy nothing but indirection.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum ModelSpec {
    Classic(ClassicSpec),
    Deep(DeepSpec),
}

impl ModelSpec {
    pub fn kind(&self) -> &'static str {
        match self {
            ModelSpec::Classic(spec) => spec.kind(),
            ModelSpec::Deep(spec) => spec.kind.name(),
        }
    }

    pub fn input(&self) -> Input {
        match self {
            ModelSpec::Classic(spec) => spec.input(),
            ModelSpec::Deep(spec) => spec.input(),
        }
    }

    /// The learner's code version (see [`Learner::code_version`]).
    pub fn code_version(&self) -> u32 {
        match self {
            ModelSpec::Classic(spec) => Learner::code_version(spec),
            ModelSpec::Deep(spec) => Learner::code_version(spec),
        }
    }

    /// Whether the learner reads the speakers' genders (an auxiliary
    /// target; see [`Learner::reads_genders`]).
    pub fn reads_genders(&self) -> bool {
        match self {
            ModelSpec::Classic(spec) => Learner::reads_genders(spec),
            ModelSpec::Deep(spec) => Learner::reads_genders(spec),
        }
    }

    /// The network and its settings, for a deep model.
    pub fn deep(&self) -> Option<&DeepSpec> {
        match self {
            ModelSpec::Deep(spec) => Some(spec),
            ModelSpec::Classic(_) => None,
        }
    }

    /// Every combination of `grid` applied to this model.
    pub fn grid_points(&self, grid: &GridSearch) -> Result<Vec<GridPoint<ModelSpec>>, String> {
        grid.points(self, self.kind())
    }
}

impl Serialize for ModelSpec {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ModelSpec::Classic(spec) => spec.serialize(serializer),
            ModelSpec::Deep(spec) => spec.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for ModelSpec {
    /// The `kind` says the family; each family reads (and rejects unknown
    /// keys of) its own settings.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let fields = Map::<String, Value>::deserialize(deserializer)?;
        let is_deep = fields
            .get("kind")
            .and_then(Value::as_str)
            .is_some_and(DeepSpec::is_kind);
        let value = Value::Object(fields);
        if is_deep {
            DeepSpec::deserialize(value).map(ModelSpec::Deep)
        } else {
            ClassicSpec::deserialize(value).map(ModelSpec::Classic)
        }
        .map_err(D::Error::custom)
    }
}

/// A model as written under `models.<name>` in pipeline.yaml: its spec,
/// and optionally a grid searched in every training fold (classic models
/// by inner cross-validation on speaker-grouped inner folds, networks on
/// their validation speakers).
///
/// ```yaml
/// svm_tuned:
///   kind: svm
///   grid: {c: [0.1, 1, 10], gamma: [0.0005, 0.002]}
///   grid_folds: 3          # speaker-grouped inner folds (default 3)
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ModelEntry {
    pub spec: ModelSpec,
    pub grid: Option<GridSearch>,
    /// `normalize: speaker` on a classic model (a deep model keeps its
    /// `normalize` in its own parameters).
    pub normalize: FeatureNormalize,
    /// `validation: {seeds, speakers}` on a classic model: its predictions
    /// for held-out training speakers, for ensembles that choose members
    /// (a network holds speakers out by its own `validation_speakers`).
    pub held_out: Option<ser_learn::held_out::HeldOut>,
    /// `test_copies: true` on a model trained on augmented copies: each
    /// test (and validation) utterance is predicted as the mean of its
    /// probabilities and its own copies' (test-time augmentation). Only
    /// prediction changes, so a network's trainings are shared with the
    /// same model without it.
    pub test_copies: bool,
}

impl ModelEntry {
    /// Whether the model normalises test speakers (or a test corpus) by
    /// their own unlabelled audio (`normalize: speaker` or `corpus`,
    /// classic or deep): a transductive result, not comparable with
    /// inductive ones (EmoBox's), and not available for one file at
    /// prediction time. A deep grid with such a point counts too: which
    /// point a fold uses is chosen at run time, on validation speakers.
    pub fn transductive(&self) -> bool {
        let deep_transductive = |spec: &ModelSpec| {
            spec.deep().is_some_and(|d| {
                matches!(
                    d.params.normalize,
                    ser_deep::Normalize::Speaker | ser_deep::Normalize::Corpus
                )
            })
        };
        matches!(
            self.normalize,
            FeatureNormalize::Speaker | FeatureNormalize::Corpus
        ) || self.any_point(deep_transductive)
    }

    /// Whether the model, or any point of its grid, reads the speakers'
    /// genders: its train node then reads the corpus's manifest too.
    pub fn reads_genders(&self) -> bool {
        self.any_point(ModelSpec::reads_genders)
    }

    /// Whether `holds` for the model's settings or for any point of its
    /// grid (which point a fold uses is chosen at run time).
    fn any_point(&self, holds: impl Fn(&ModelSpec) -> bool) -> bool {
        holds(&self.spec)
            || self.grid.as_ref().is_some_and(|grid| {
                self.spec
                    .grid_points(grid)
                    .is_ok_and(|points| points.iter().any(|p| holds(&p.spec)))
            })
    }
}

impl<'de> Deserialize<'de> for ModelEntry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut fields = Map::<String, Value>::deserialize(deserializer)?;
        let grid = fields.remove("grid");
        let folds = fields.remove("grid_folds");
        // Deep models read `normalize` among their own parameters.
        let is_deep = fields
            .get("kind")
            .and_then(Value::as_str)
            .is_some_and(DeepSpec::is_kind);
        let normalize = if is_deep {
            None
        } else {
            fields.remove("normalize")
        };
        let held_out = match (is_deep, fields.remove("validation")) {
            (_, None) => None,
            (true, Some(_)) => {
                return Err(D::Error::custom(
                    "validation: only classic models take it; a network holds out its \
                     validation_speakers",
                ));
            }
            (false, Some(v)) => {
                let held_out: ser_learn::held_out::HeldOut =
                    serde_json::from_value(v).map_err(|e| {
                        D::Error::custom(format!(
                            "validation: {e} (expected {{seeds: N, speakers: K, seed: S}})"
                        ))
                    })?;
                if held_out.seeds == 0 || held_out.speakers == 0 {
                    return Err(D::Error::custom(
                        "validation: seeds and speakers must be at least 1",
                    ));
                }
                Some(held_out)
            }
        };
        let test_copies = match fields.remove("test_copies") {
            None => false,
            Some(v) => v.as_bool().ok_or_else(|| {
                D::Error::custom(format!("test_copies: {v} (expected true or false)"))
            })?,
        };
        let normalize = match normalize {
            None => FeatureNormalize::default(),
            Some(v) => serde_json::from_value(v).map_err(|e| {
                D::Error::custom(format!(
                    "normalize: {e} (expected global, speaker or speaker_online)"
                ))
            })?,
        };
        let spec = ModelSpec::deserialize(Value::Object(fields)).map_err(D::Error::custom)?;
        let grid = match grid {
            None => {
                if folds.is_some() {
                    return Err(D::Error::custom("grid_folds is set but there is no grid"));
                }
                None
            }
            Some(grid) => {
                let grid = serde_json::from_value(grid).map_err(|e| {
                    D::Error::custom(format!("grid: {e} (expected name: [values])"))
                })?;
                let folds = match folds {
                    None => GridSearch::DEFAULT_FOLDS,
                    Some(v) => serde_json::from_value::<usize>(v)
                        .map_err(|e| D::Error::custom(format!("grid_folds: {e}")))?,
                };
                if folds < 2 {
                    return Err(D::Error::custom("grid_folds must be at least 2"));
                }
                let search = GridSearch { grid, folds };
                spec.grid_points(&search).map_err(D::Error::custom)?;
                Some(search)
            }
        };
        if held_out.is_some() && normalize == FeatureNormalize::SpeakerOnline {
            return Err(D::Error::custom(
                "validation and normalize: speaker_online together are not supported: the \
                 fold's prior would hold the held-out speakers",
            ));
        }
        let entry = ModelEntry {
            spec,
            grid,
            normalize,
            held_out,
            test_copies,
        };
        let online = |spec: &ModelSpec| {
            spec.deep()
                .is_some_and(|d| d.params.normalize == ser_deep::Normalize::SpeakerOnline)
        };
        // Copies' probabilities are averaged: an SVM has them only with
        // `probability: true`.
        let without_probabilities = |spec: &ModelSpec| {
            matches!(
                spec,
                ModelSpec::Classic(ser_train::ClassicSpec::Svm {
                    probability: false,
                    ..
                })
            )
        };
        if test_copies && entry.any_point(without_probabilities) {
            return Err(D::Error::custom(
                "test_copies averages each utterance's probabilities with its copies', and an \
                 SVM has them only with probability: true",
            ));
        }
        if test_copies
            && (entry.any_point(online) || entry.normalize == FeatureNormalize::SpeakerOnline)
        {
            return Err(D::Error::custom(
                "test_copies and normalize: speaker_online together are not supported: an \
                 utterance's copies would be scaled by utterances of its speaker that come \
                 after it",
            ));
        }
        Ok(entry)
    }
}

impl Serialize for ModelEntry {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut fields = match serde_json::to_value(&self.spec) {
            Ok(Value::Object(fields)) => fields,
            _ => {
                return Err(serde::ser::Error::custom(
                    "a model spec serialises to an object",
                ));
            }
        };
        if let Some(search) = &self.grid {
            fields.insert(
                "grid".into(),
                serde_json::to_value(&search.grid).map_err(serde::ser::Error::custom)?,
            );
            fields.insert("grid_folds".into(), search.folds.into());
        }
        // Written only when set, so entries without it read as before.
        if self.normalize != FeatureNormalize::Global {
            fields.insert(
                "normalize".into(),
                serde_json::to_value(self.normalize).map_err(serde::ser::Error::custom)?,
            );
        }
        if let Some(held_out) = &self.held_out {
            fields.insert(
                "validation".into(),
                serde_json::to_value(held_out).map_err(serde::ser::Error::custom)?,
            );
        }
        if self.test_copies {
            fields.insert("test_copies".into(), true.into());
        }
        fields.serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kind_picks_the_family_and_each_rejects_its_unknown_keys() {
        let svm: ModelSpec = serde_json::from_str(r#"{"kind":"svm","c":2.0}"#).unwrap();
        assert!(matches!(svm, ModelSpec::Classic(ClassicSpec::Svm { c, .. }) if c == 2.0));
        let lstm: ModelSpec = serde_json::from_str(r#"{"kind":"lstm","hidden":32}"#).unwrap();
        assert_eq!(lstm.deep().map(|d| d.params.hidden), Some(32));
        assert_eq!((lstm.kind(), lstm.input()), ("lstm", Input::Frames));
        for bad in [r#"{"kind":"lstm","epoch":3}"#, r#"{"kind":"svm","cc":1}"#] {
            let err = serde_json::from_str::<ModelSpec>(bad)
                .unwrap_err()
                .to_string();
            assert!(err.contains("unknown field"), "{err}");
        }
        // Flat again when written, as the cache keys always had it.
        let back = serde_json::to_value(&lstm).unwrap();
        assert_eq!(
            (back["kind"].as_str(), back["hidden"].as_u64()),
            (Some("lstm"), Some(32))
        );
    }

    #[test]
    fn a_grid_expands_over_the_spec_and_round_trips() {
        let entry: ModelEntry = serde_json::from_str(
            r#"{"kind":"svm","c":1.0,"grid":{"c":[0.1,10],"gamma":[0.01,0.1,1.0]}}"#,
        )
        .unwrap();
        let search = entry.grid.clone().unwrap();
        assert_eq!(search.folds, GridSearch::DEFAULT_FOLDS);
        let points = entry.spec.grid_points(&search).unwrap();
        assert_eq!(points.len(), 6);
        assert!(matches!(
            points[5].spec,
            ModelSpec::Classic(ClassicSpec::Svm { c, gamma: Some(g), .. }) if c == 10.0 && g == 1.0
        ));
        let back: ModelEntry =
            serde_json::from_value(serde_json::to_value(&entry).unwrap()).unwrap();
        assert_eq!(back, entry);
        // A network's grid expands the same way.
        let mlp: ModelEntry =
            serde_json::from_str(r#"{"kind":"mlp","grid":{"hidden":[64,128]}}"#).unwrap();
        let points = mlp.spec.grid_points(mlp.grid.as_ref().unwrap()).unwrap();
        assert_eq!(points[1].spec.deep().unwrap().params.hidden, 128);
    }

    #[test]
    fn validation_belongs_to_classic_models_and_round_trips() {
        let svm: ModelEntry =
            serde_json::from_str(r#"{"kind":"svm","validation":{"seeds":5}}"#).unwrap();
        let held_out = svm.held_out.unwrap();
        assert_eq!((held_out.seeds, held_out.speakers), (5, 3));
        let again: ModelEntry =
            serde_json::from_value(serde_json::to_value(&svm).unwrap()).unwrap();
        assert_eq!(again, svm);
        // With a grid too: each held-out fit searches it on the speakers it keeps.
        let tuned: ModelEntry =
            serde_json::from_str(r#"{"kind":"knn","validation":{"seeds":2},"grid":{"k":[1,3]}}"#)
                .unwrap();
        assert!(tuned.held_out.is_some() && tuned.grid.is_some());
        let plain: ModelEntry = serde_json::from_str(r#"{"kind":"svm"}"#).unwrap();
        assert!(plain.held_out.is_none());
        assert!(
            serde_json::to_value(&plain)
                .unwrap()
                .get("validation")
                .is_none()
        );
        for (bad, says) in [
            (
                r#"{"kind":"mlp","validation":{"seeds":2}}"#,
                "only classic models",
            ),
            (r#"{"kind":"svm","validation":{"seeds":0}}"#, "at least 1"),
            (
                r#"{"kind":"svm","validation":{"seeds":2,"seeed":2}}"#,
                "unknown field",
            ),
            (
                r#"{"kind":"svm","validation":{"seed":2}}"#,
                "missing field `seeds`",
            ),
        ] {
            let err = serde_json::from_str::<ModelEntry>(bad)
                .unwrap_err()
                .to_string();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn normalize_belongs_to_the_entry_for_classic_models_and_to_the_params_for_deep_ones() {
        let logreg: ModelEntry =
            serde_json::from_str(r#"{"kind":"logistic_regression","normalize":"speaker"}"#)
                .unwrap();
        assert_eq!(logreg.normalize, FeatureNormalize::Speaker);
        assert!(logreg.transductive());
        let back: ModelEntry =
            serde_json::from_value(serde_json::to_value(&logreg).unwrap()).unwrap();
        assert_eq!(back, logreg);
        // The default is not written, so older entries serialise as before.
        let plain: ModelEntry = serde_json::from_str(r#"{"kind":"gaussian_nb"}"#).unwrap();
        assert_eq!(plain.normalize, FeatureNormalize::Global);
        assert!(
            serde_json::to_value(&plain)
                .unwrap()
                .get("normalize")
                .is_none()
        );
        // A deep model's normalize stays among its parameters.
        let mlp: ModelEntry =
            serde_json::from_str(r#"{"kind":"mlp","normalize":"speaker"}"#).unwrap();
        assert_eq!(mlp.normalize, FeatureNormalize::Global);
        assert_eq!(
            mlp.spec.deep().unwrap().params.normalize,
            ser_deep::Normalize::Speaker
        );
        assert!(mlp.transductive());
        // A grid over normalize may choose speaker statistics in any fold.
        let gru: ModelEntry =
            serde_json::from_str(r#"{"kind":"gru","grid":{"normalize":["global","speaker"]}}"#)
                .unwrap();
        assert_eq!(
            gru.spec.deep().unwrap().params.normalize,
            ser_deep::Normalize::Global
        );
        assert!(gru.transductive());
        let inductive: ModelEntry = serde_json::from_str(
            r#"{"kind":"gru","grid":{"normalize":["global","speaker_online"]}}"#,
        )
        .unwrap();
        assert!(!inductive.transductive());
        let err = serde_json::from_str::<ModelEntry>(r#"{"kind":"svm","normalize":"fold"}"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("expected global, speaker or speaker_online"),
            "{err}"
        );
    }

    #[test]
    fn a_grid_of_an_unknown_parameter_or_bad_value_is_an_error() {
        let err = serde_json::from_str::<ModelEntry>(r#"{"kind":"knn","grid":{"kk":[1,3]}}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("'kk' is not a parameter of knn"), "{err}");
        assert!(err.contains("distance_weighted"), "{err}");
        let err = serde_json::from_str::<ModelEntry>(r#"{"kind":"knn","grid":{"k":["x"]}}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("grid point"), "{err}");
        let err = serde_json::from_str::<ModelEntry>(r#"{"kind":"knn","grid_folds":3}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no grid"), "{err}");
        assert!(serde_json::from_str::<ModelEntry>(r#"{"kind":"knn","kk":1}"#).is_err());
        let plain: ModelEntry = serde_json::from_str(r#"{"kind":"knn","k":3}"#).unwrap();
        assert_eq!(plain.grid, None);
    }
}
