//! Grid search: a model entry of pipeline.yaml with a `grid:` of values
//! to try, and the expansion of that grid into concrete model specs.
//!
//! The search itself (inner cross-validation grouped by speaker, on the
//! training fold only, one cached score per fold and grid point) is the
//! engine's, because it needs folds and the cache; this module only says
//! what the points are, so a grid naming a parameter the model does not
//! have fails when the config is read, not hours into a run.

use std::collections::BTreeMap;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::{FeatureNormalize, ModelSpec};

/// Values to try per parameter; every combination is one point.
pub type Grid = BTreeMap<String, Vec<Value>>;

/// A model as written under `models.<name>` in pipeline.yaml: its spec,
/// and optionally a grid searched by inner CV in every training fold.
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
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GridSearch {
    pub grid: Grid,
    /// Speaker-grouped inner folds of each training fold.
    pub folds: usize,
}

/// One point of a grid: the values it sets and the resulting spec.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GridPoint {
    pub params: BTreeMap<String, Value>,
    pub spec: ModelSpec,
}

const DEFAULT_GRID_FOLDS: usize = 3;

impl GridSearch {
    /// Every combination of the grid applied to `base`, in a stable order
    /// (parameters by name, values as listed).
    pub fn points(&self, base: &ModelSpec) -> Result<Vec<GridPoint>, String> {
        let Value::Object(base_fields) = serde_json::to_value(base).map_err(|e| e.to_string())?
        else {
            unreachable!("a model spec serialises to an object")
        };
        let mut combos: Vec<BTreeMap<String, Value>> = vec![BTreeMap::new()];
        for (name, values) in &self.grid {
            if name == "kind" || !base_fields.contains_key(name) {
                let known: Vec<&str> = base_fields
                    .keys()
                    .map(String::as_str)
                    .filter(|k| *k != "kind")
                    .collect();
                return Err(format!(
                    "grid parameter '{name}' is not a parameter of {} (parameters: {})",
                    base.kind(),
                    known.join(", ")
                ));
            }
            if values.is_empty() {
                return Err(format!("grid parameter '{name}' has no values"));
            }
            combos = combos
                .into_iter()
                .flat_map(|combo| {
                    values.iter().map(move |v| {
                        let mut next = combo.clone();
                        next.insert(name.clone(), v.clone());
                        next
                    })
                })
                .collect();
        }
        combos
            .into_iter()
            .map(|params| {
                let mut fields: Map<String, Value> = base_fields.clone();
                for (k, v) in &params {
                    fields.insert(k.clone(), v.clone());
                }
                let spec: ModelSpec =
                    serde_json::from_value(Value::Object(fields)).map_err(|e| {
                        format!(
                            "grid point {}: {e}",
                            Value::from(params.clone().into_iter().collect::<Map<_, _>>())
                        )
                    })?;
                Ok(GridPoint { params, spec })
            })
            .collect()
    }
}

impl ModelEntry {
    /// Whether the model normalises test speakers by their own unlabelled
    /// audio (`normalize: speaker`, classic or deep): a transductive
    /// result, not comparable with inductive ones (EmoBox's), and not
    /// available for one file at prediction time.
    pub fn transductive(&self) -> bool {
        self.normalize == FeatureNormalize::Speaker
            || self
                .spec
                .deep()
                .is_some_and(|(_, p)| p.normalize == ser_deep::Normalize::Speaker)
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
            .is_some_and(|k| ser_deep::DeepKind::ALL.iter().any(|d| d.name() == k));
        let normalize = if is_deep {
            None
        } else {
            fields.remove("normalize")
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
                let grid: Grid = serde_json::from_value(grid).map_err(|e| {
                    D::Error::custom(format!("grid: {e} (expected name: [values])"))
                })?;
                let folds = match folds {
                    None => DEFAULT_GRID_FOLDS,
                    Some(v) => serde_json::from_value::<usize>(v)
                        .map_err(|e| D::Error::custom(format!("grid_folds: {e}")))?,
                };
                if folds < 2 {
                    return Err(D::Error::custom("grid_folds must be at least 2"));
                }
                let search = GridSearch { grid, folds };
                search.points(&spec).map_err(D::Error::custom)?;
                Some(search)
            }
        };
        Ok(ModelEntry {
            spec,
            grid,
            normalize,
        })
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
        fields.serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grid_expands_to_every_combination_in_order() {
        let entry: ModelEntry = serde_json::from_str(
            r#"{"kind":"svm","c":1.0,"grid":{"c":[0.1,10],"gamma":[0.01,0.1,1.0]}}"#,
        )
        .unwrap();
        let search = entry.grid.clone().unwrap();
        assert_eq!(search.folds, DEFAULT_GRID_FOLDS);
        let points = search.points(&entry.spec).unwrap();
        assert_eq!(points.len(), 6);
        let pairs: Vec<(f64, Option<f64>)> = points
            .iter()
            .map(|p| match &p.spec {
                ModelSpec::Svm { c, gamma, .. } => (*c, *gamma),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(pairs[0], (0.1, Some(0.01)));
        assert_eq!(pairs[2], (0.1, Some(1.0)));
        assert_eq!(pairs[5], (10.0, Some(1.0)));
        // Round trip through the pipeline.yaml form.
        let back: ModelEntry =
            serde_json::from_value(serde_json::to_value(&entry).unwrap()).unwrap();
        assert_eq!(back, entry);
    }

    #[test]
    fn normalize_belongs_to_the_entry_for_classic_models_and_to_the_params_for_deep_ones() {
        let logreg: ModelEntry =
            serde_json::from_str(r#"{"kind":"logistic_regression","normalize":"speaker"}"#)
                .unwrap();
        assert_eq!(logreg.normalize, FeatureNormalize::Speaker);
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
        let (_, params) = mlp.spec.deep().unwrap();
        assert_eq!(params.normalize, ser_deep::Normalize::Speaker);
        let err = serde_json::from_str::<ModelEntry>(r#"{"kind":"svm","normalize":"fold"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("expected global, speaker or speaker_online"), "{err}");
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
        // Without a grid the entry is just the spec, unknown keys rejected.
        assert!(serde_json::from_str::<ModelEntry>(r#"{"kind":"knn","kk":1}"#).is_err());
        let plain: ModelEntry = serde_json::from_str(r#"{"kind":"knn","k":3}"#).unwrap();
        assert_eq!(plain.grid, None);
    }
}
