#!/bin/bash
# Gender as an auxiliary target (issue 27's list of what the field uses), tried the way
# the issue asks: chosen per fold on validation speakers (held out of the fold's training
# speakers), never on its test speakers.
#   bash benches/aux_gender.sh [ser run options, e.g. --cache-dir DIR]
#   SER_COMMAND=metrics bash benches/aux_gender.sh [options] [--choices]   (or compare A B)
# Run from the project root on the default pipeline's cache, so the grids' aux_gender-0
# points, which are the shipped models' first networks, are reused rather than retrained.
#
# Declared before the runs (2026-12-05), not tuned after them:
# - the models: pipeline.yaml's mlp (eGeMAPS functionals) and cnn1d (eGeMAPS LLDs), the two
#   kinds deep_validated keeps most, both with speaker statistics, each with one network
#   (`networks` cannot be chosen on validation) and `grid: {aux_gender: [0, 0.5]}`. 0.5
#   weighs the gender cross-entropy at half the emotion one: a round value, not tuned.
#   RAVDESS's genders are its actors' parity (ingest), so every training row has one.
# - beside each, the same model without the grid (`mlp_1`, `cnn1d_1`: one network), whose
#   trainings are the grids' aux_gender-0 points.
# - the rule for pipeline.yaml: the target is kept for a model only if its validation
#   speakers choose 0.5 in at least 4 of the 6 folds; the test UA is looked at after, once.
ser "${SER_COMMAND:-run}" \
 --set "models.mlp_1={kind: mlp, hidden: 256, layers: 2, dropout: 0.5, epochs: 60, patience: 12, normalize: speaker}" \
 --set "models.mlp_gender={kind: mlp, hidden: 256, layers: 2, dropout: 0.5, epochs: 60, patience: 12, normalize: speaker, grid: {aux_gender: [0.0, 0.5]}}" \
 --set "models.cnn1d_1={kind: cnn1d, channels: [64, 128], pool_frames: 2, epochs: 20, patience: 6, normalize: speaker}" \
 --set "models.cnn1d_gender={kind: cnn1d, channels: [64, 128], pool_frames: 2, epochs: 20, patience: 6, normalize: speaker, grid: {aux_gender: [0.0, 0.5]}}" \
 --set "experiments=[{features: [egemaps], models: [mlp_1, mlp_gender, cnn1d_1, cnn1d_gender], protocols: [emobox_6fold]}]" \
 --set "ensembles={}" \
 "$@"
