//! The networks as learners: [`DeepSpec`] (a kind and its settings, as
//! written in pipeline.yaml) implements [`ser_learn::Learner`], and
//! [`TrainedNet`] implements [`ser_learn::Fitted`].

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use ser_learn::{EpochReport, Example, Fitted, Input, Learner, Predictions, Rows, TrainingSet};

use crate::{DeepError, DeepKind, DeepParams, TrainedNet};

/// A network kind and its settings. Written flat, as in pipeline.yaml:
/// `{kind: lstm, hidden: 128, ...}`.
#[derive(Debug, Clone, PartialEq)]
pub struct DeepSpec {
    pub kind: DeepKind,
    pub params: DeepParams,
}

impl DeepSpec {
    /// Whether `kind` names a network.
    pub fn is_kind(kind: &str) -> bool {
        DeepKind::ALL.iter().any(|d| d.name() == kind)
    }
}

impl Serialize for DeepSpec {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let Value::Object(mut fields) =
            serde_json::to_value(&self.params).map_err(serde::ser::Error::custom)?
        else {
            return Err(serde::ser::Error::custom("settings are an object"));
        };
        fields.insert("kind".into(), Value::from(self.kind.name()));
        fields.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for DeepSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut fields = Map::<String, Value>::deserialize(deserializer)?;
        let kind = fields
            .remove("kind")
            .ok_or_else(|| D::Error::missing_field("kind"))?;
        let kind: DeepKind = serde_json::from_value(kind).map_err(D::Error::custom)?;
        let params = DeepParams::deserialize(Value::Object(fields)).map_err(D::Error::custom)?;
        Ok(DeepSpec { kind, params })
    }
}

/// The version of the numbers a kind trains to, in each fold record's
/// cache key: bumped per kind when they change, so only those rerun.
/// 2: recurrent cells skip the mask on steps every sequence covers (the
/// GRU takes one sigmoid over its reset and update gates).
/// 3: LSTM layers on the CPU are one fused operation (vectorised gate
/// arithmetic, dropout between layers drawn over the whole sequence).
/// +1 for every kind: dropout masks come from each training's own generator
/// and initial weights are drawn at once, in parameter order, so trainings
/// run side by side (the transformer's attention weights are no longer
/// dropped).
/// GRU 4: its layers on the CPU are one fused operation too.
/// +1 for the kinds with conv blocks: batch normalisation in training is
/// one fused operation on the CPU (statistics summed in f64).
pub fn code_version(kind: DeepKind) -> u32 {
    match kind {
        DeepKind::Lstm | DeepKind::AttentionLstm | DeepKind::Gru => 4,
        // 6: no dropout in the conv front end.
        DeepKind::Crnn => 6,
        DeepKind::Cnn1d | DeepKind::Cnn1dRaw => 3,
        // 4: no dropout inside the 2-D conv stack.
        DeepKind::Cnn2d | DeepKind::CnnTransformer => 4,
        DeepKind::Mlp => 2,
    }
}

/// A matrix as one-frame examples (a functionals row per utterance), in
/// f32 as the networks compute.
fn examples_of(rows: Rows<'_>) -> (std::borrow::Cow<'_, [Example]>, usize) {
    match rows {
        Rows::Sequences { examples, dims } => (std::borrow::Cow::Borrowed(examples), dims),
        Rows::Matrix(x) => (
            std::borrow::Cow::Owned(
                x.rows()
                    .into_iter()
                    .map(|r| Example::new(r.iter().map(|&v| v as f32).collect(), 1))
                    .collect(),
            ),
            x.ncols(),
        ),
    }
}

impl Learner for DeepSpec {
    type Fitted = TrainedNet;
    type Error = DeepError;

    fn kind(&self) -> &'static str {
        self.kind.name()
    }

    fn input(&self) -> Input {
        self.kind.input()
    }

    fn code_version(&self) -> u32 {
        code_version(self.kind)
    }

    fn reads_genders(&self) -> bool {
        self.params.aux_gender > 0.0
    }

    fn fit(
        &self,
        data: &TrainingSet<'_>,
        on_epoch: &mut dyn FnMut(&EpochReport),
    ) -> Result<TrainedNet, DeepError> {
        let (examples, dims) = examples_of(data.rows);
        crate::fit_with_extras(
            self.kind,
            &self.params,
            &examples,
            data.labels,
            crate::RowExtras {
                genders: data.genders,
                copies: data.copies,
            },
            data.speakers,
            dims,
            data.classes,
            on_epoch,
        )
    }
}

impl Fitted for TrainedNet {
    type Error = DeepError;

    fn predict(&self, rows: Rows<'_>, speakers: &[String]) -> Result<Predictions, DeepError> {
        let (examples, _) = examples_of(rows);
        let (classes, probabilities) = self.predict_with_probabilities(&examples, speakers)?;
        Ok(Predictions {
            classes,
            probabilities: Some(probabilities),
        })
    }

    fn weights(&self) -> Option<&[u8]> {
        Some(&self.weights)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_parses_with_its_settings_and_serialises_back_flat() {
        let spec: DeepSpec =
            serde_json::from_str(r#"{"kind": "cnn2d", "epochs": 3, "channels": [8, 16]}"#).unwrap();
        assert_eq!(spec.kind, DeepKind::Cnn2d);
        assert_eq!(
            (spec.params.epochs, spec.params.channels.clone()),
            (3, vec![8, 16])
        );
        let back = serde_json::to_value(&spec).unwrap();
        assert_eq!(back["kind"], "cnn2d");
        assert_eq!(back["epochs"], 3);
        assert_eq!(serde_json::from_value::<DeepSpec>(back).unwrap(), spec);
        let err = serde_json::from_str::<DeepSpec>(r#"{"kind": "lstm", "epoch": 3}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `epoch`"), "{err}");
        assert!(serde_json::from_str::<DeepSpec>(r#"{"kind": "svm"}"#).is_err());
        assert!(DeepSpec::is_kind("attention_lstm") && !DeepSpec::is_kind("svm"));
    }

    #[test]
    fn mixup_is_written_only_when_set() {
        let plain: DeepSpec = serde_json::from_str(r#"{"kind": "mlp"}"#).unwrap();
        assert!(serde_json::to_value(&plain).unwrap().get("mixup").is_none());
        let mixed: DeepSpec = serde_json::from_str(r#"{"kind": "mlp", "mixup": 0.2}"#).unwrap();
        assert_eq!(serde_json::to_value(&mixed).unwrap()["mixup"], 0.2);
        assert!(mixed.params.check(mixed.kind).is_ok());
        let negative: DeepSpec = serde_json::from_str(r#"{"kind": "mlp", "mixup": -1.0}"#).unwrap();
        let err = negative
            .params
            .check(negative.kind)
            .unwrap_err()
            .to_string();
        assert!(err.contains("mixup -1 is not a Beta parameter"), "{err}");
    }

    /// `conv_dropout` keeps old specs' keys, sets only the conv blocks'
    /// dropout, and is refused where the conv stack has none.
    #[test]
    fn conv_dropout_is_written_only_when_set_and_only_for_the_1d_convs() {
        let plain: DeepSpec = serde_json::from_str(r#"{"kind": "cnn1d_raw"}"#).unwrap();
        assert!(
            serde_json::to_value(&plain)
                .unwrap()
                .get("conv_dropout")
                .is_none()
        );
        assert_eq!(plain.params.block_dropout(), plain.params.dropout);
        let none: DeepSpec =
            serde_json::from_str(r#"{"kind": "cnn1d_raw", "conv_dropout": 0.0, "dropout": 0.4}"#)
                .unwrap();
        assert_eq!(serde_json::to_value(&none).unwrap()["conv_dropout"], 0.0);
        assert_eq!(
            (none.params.block_dropout(), none.params.dropout),
            (0.0, 0.4)
        );
        assert!(none.params.check(none.kind).is_ok());
        for (spec, message) in [
            (
                r#"{"kind": "cnn2d", "conv_dropout": 0.1}"#,
                "cnn2d: conv_dropout is for cnn1d",
            ),
            (
                r#"{"kind": "cnn1d", "conv_dropout": 1.0}"#,
                "conv_dropout 1 is not in [0, 1)",
            ),
        ] {
            let spec: DeepSpec = serde_json::from_str(spec).unwrap();
            let err = spec.params.check(spec.kind).unwrap_err().to_string();
            assert!(err.contains(message), "{err}");
        }
    }

    #[test]
    fn a_gender_target_is_written_only_when_set_and_asks_for_genders() {
        let plain: DeepSpec = serde_json::from_str(r#"{"kind": "cnn1d"}"#).unwrap();
        assert!(
            serde_json::to_value(&plain)
                .unwrap()
                .get("aux_gender")
                .is_none()
        );
        assert!(!plain.reads_genders());
        let aux: DeepSpec =
            serde_json::from_str(r#"{"kind": "cnn1d", "aux_gender": 0.3}"#).unwrap();
        assert_eq!(serde_json::to_value(&aux).unwrap()["aux_gender"], 0.3);
        assert!(aux.reads_genders());
        assert_eq!((aux.params.outputs(8), plain.params.outputs(8)), (10, 8));
    }

    #[test]
    fn a_linear_head_and_a_uniform_init_are_written_only_when_set() {
        // Specs without them keep their serialised form, and so their cache keys.
        let plain: DeepSpec = serde_json::from_str(r#"{"kind": "cnn2d"}"#).unwrap();
        let plain = serde_json::to_value(&plain).unwrap();
        for (key, value, unknown) in [("head", "linear", "deep"), ("init", "uniform", "xavier")] {
            assert!(plain.get(key).is_none(), "{key}");
            let set: DeepSpec =
                serde_json::from_value(serde_json::json!({"kind": "cnn2d", key: value})).unwrap();
            assert_eq!(serde_json::to_value(&set).unwrap()[key], value);
            assert!(set.params.check(set.kind).is_ok(), "{key}");
            let refused = serde_json::json!({"kind": "cnn2d", key: unknown});
            assert!(
                serde_json::from_value::<DeepSpec>(refused).is_err(),
                "{key}"
            );
        }
        let mlp: DeepSpec = serde_json::from_str(r#"{"kind": "mlp", "head": "linear"}"#).unwrap();
        let err = mlp.params.check(mlp.kind).unwrap_err().to_string();
        assert!(err.contains("mlp has no separate head"), "{err}");
    }

    #[test]
    fn minimum_padding_is_written_only_when_set_and_needs_max_frames() {
        // Specs without it keep their serialised form, and so their cache keys.
        let plain: DeepSpec = serde_json::from_str(r#"{"kind": "cnn2d"}"#).unwrap();
        assert!(
            serde_json::to_value(&plain)
                .unwrap()
                .get("padding")
                .is_none()
        );
        let padded: DeepSpec =
            serde_json::from_str(r#"{"kind": "cnn2d", "padding": "minimum", "max_frames": 300}"#)
                .unwrap();
        assert_eq!(serde_json::to_value(&padded).unwrap()["padding"], "minimum");
        assert!(padded.params.check(padded.kind).is_ok());
        let unbounded: DeepSpec =
            serde_json::from_str(r#"{"kind": "cnn2d", "padding": "minimum"}"#).unwrap();
        let err = unbounded
            .params
            .check(unbounded.kind)
            .unwrap_err()
            .to_string();
        assert!(err.contains("padding: minimum pads to max_frames"), "{err}");
    }

    #[test]
    fn covering_test_windows_are_written_only_when_set_and_need_max_frames() {
        let plain: DeepSpec = serde_json::from_str(r#"{"kind": "cnn1d_raw"}"#).unwrap();
        let plain = serde_json::to_value(&plain).unwrap();
        assert!(plain.get("test_windows").is_none());
        let spec = |text: &str| serde_json::from_str::<DeepSpec>(text).unwrap();
        let covered =
            spec(r#"{"kind": "cnn1d_raw", "test_windows": "cover", "max_frames": 16000}"#);
        assert_eq!(
            serde_json::to_value(&covered).unwrap()["test_windows"],
            "cover"
        );
        assert!(covered.params.check(covered.kind).is_ok());
        let unbounded = spec(r#"{"kind": "cnn1d_raw", "test_windows": "cover"}"#);
        let err = unbounded
            .params
            .check(unbounded.kind)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("test_windows: cover splits inputs longer than max_frames"),
            "{err}"
        );
    }
}
