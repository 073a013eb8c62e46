//! Grid search settings: a model entry's `grid:` of values to try, and its
//! expansion into concrete model settings.
//!
//! The search itself (which points win, on which speakers) is the
//! engine's, because it needs folds and the cache; this module only says
//! what the points are, so a grid naming a parameter the model does not
//! have fails when the config is read, not hours into a run. It works for
//! any settings type that serialises to a flat object with a `kind` key,
//! as every learner's does.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Values to try per parameter; every combination is one point.
pub type Grid = BTreeMap<String, Vec<Value>>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GridSearch {
    pub grid: Grid,
    /// Speaker-grouped inner folds of each training fold (classic models'
    /// inner cross-validation; networks choose on their validation
    /// speakers instead).
    pub folds: usize,
}

/// One point of a grid: the values it sets and the resulting settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GridPoint<S> {
    pub params: BTreeMap<String, Value>,
    pub spec: S,
}

impl GridSearch {
    pub const DEFAULT_FOLDS: usize = 3;

    /// Every combination of the grid applied to `base` (a model of kind
    /// `kind`), in a stable order: parameters by name, values as listed.
    pub fn points<S: Serialize + DeserializeOwned>(
        &self,
        base: &S,
        kind: &str,
    ) -> Result<Vec<GridPoint<S>>, String> {
        let Value::Object(base_fields) = serde_json::to_value(base).map_err(|e| e.to_string())?
        else {
            return Err(format!("{kind}: settings are not an object"));
        };
        let mut combos: Vec<BTreeMap<String, Value>> = vec![BTreeMap::new()];
        for (name, values) in &self.grid {
            if name == "kind"
                || !base_fields.contains_key(name)
                    && !optional_field::<S>(&base_fields, name, values)
            {
                let known: Vec<&str> = base_fields
                    .keys()
                    .map(String::as_str)
                    .filter(|k| *k != "kind")
                    .collect();
                return Err(format!(
                    "grid parameter '{name}' is not a parameter of {kind} (parameters: {})",
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
                let spec: S = serde_json::from_value(Value::Object(fields)).map_err(|e| {
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

/// Whether `name`, absent from a spec's serialised form, is still one of
/// its fields: settings written only when set (a deep model's `mixup` or
/// `head`, so that specs without them keep their cache keys) are left out
/// of the form at their defaults. Only an unknown-field error says no; a
/// bad value is reported by the point that has it.
fn optional_field<S: DeserializeOwned>(
    base: &Map<String, Value>,
    name: &str,
    values: &[Value],
) -> bool {
    let Some(value) = values.first() else {
        return true;
    };
    let mut fields = base.clone();
    fields.insert(name.to_string(), value.clone());
    match serde_json::from_value::<S>(Value::Object(fields)) {
        Ok(_) => true,
        Err(e) => !e.to_string().contains("unknown field"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
    enum Toy {
        Svm { c: f64, gamma: Option<f64> },
    }

    #[test]
    fn a_grid_expands_to_every_combination_in_order() {
        let search = GridSearch {
            grid: serde_json::from_str(r#"{"c":[0.1,10],"gamma":[0.01,0.1,1.0]}"#).unwrap(),
            folds: 3,
        };
        let base = Toy::Svm {
            c: 1.0,
            gamma: None,
        };
        let points = search.points(&base, "svm").unwrap();
        let pairs: Vec<(f64, Option<f64>)> = points
            .iter()
            .map(|p| match p.spec {
                Toy::Svm { c, gamma } => (c, gamma),
            })
            .collect();
        assert_eq!(pairs.len(), 6);
        assert_eq!(pairs[0], (0.1, Some(0.01)));
        assert_eq!(pairs[2], (0.1, Some(1.0)));
        assert_eq!(pairs[5], (10.0, Some(1.0)));
        assert_eq!(points[1].params["gamma"], 0.1);
    }

    #[test]
    fn unknown_parameters_and_bad_values_are_named() {
        let base = Toy::Svm {
            c: 1.0,
            gamma: None,
        };
        let search = |grid: &str| GridSearch {
            grid: serde_json::from_str(grid).unwrap(),
            folds: 3,
        };
        let err = search(r#"{"cc":[1]}"#).points(&base, "svm").unwrap_err();
        assert!(err.contains("'cc' is not a parameter of svm"), "{err}");
        assert!(err.contains("gamma"), "{err}");
        let err = search(r#"{"c":["x"]}"#).points(&base, "svm").unwrap_err();
        assert!(err.contains("grid point"), "{err}");
        let err = search(r#"{"c":[]}"#).points(&base, "svm").unwrap_err();
        assert!(err.contains("no values"), "{err}");
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
    enum ToyWithOptional {
        Net {
            epochs: usize,
            #[serde(default, skip_serializing_if = "is_zero")]
            mixup: f64,
        },
    }

    fn is_zero(x: &f64) -> bool {
        *x == 0.0
    }

    /// A field written only when set is still a grid parameter, and its
    /// default point serialises as the base does (so shares its cache key).
    #[test]
    fn fields_written_only_when_set_are_parameters() {
        let base = ToyWithOptional::Net {
            epochs: 3,
            mixup: 0.0,
        };
        let search = GridSearch {
            grid: serde_json::from_str(r#"{"mixup":[0.0,0.2]}"#).unwrap(),
            folds: 3,
        };
        let points = search.points(&base, "net").unwrap();
        assert_eq!(points[0].spec, base);
        assert_eq!(
            serde_json::to_value(&points[0].spec).unwrap(),
            serde_json::to_value(&base).unwrap()
        );
        assert_eq!(
            points[1].spec,
            ToyWithOptional::Net {
                epochs: 3,
                mixup: 0.2
            }
        );
        let err = GridSearch {
            grid: serde_json::from_str(r#"{"mixup":["x"]}"#).unwrap(),
            folds: 3,
        }
        .points(&base, "net")
        .unwrap_err();
        assert!(err.contains("grid point"), "{err}");
        let err = GridSearch {
            grid: serde_json::from_str(r#"{"mixupp":[0.2]}"#).unwrap(),
            folds: 3,
        }
        .points(&base, "net")
        .unwrap_err();
        assert!(err.contains("'mixupp' is not a parameter of net"), "{err}");
    }
}
