#!/bin/bash
# Mixup (issue 27's list of what the field uses), tried the way the issue asks: chosen
# per fold on validation speakers (held out of the fold's training speakers), never on
# its test speakers.
#   bash benches/mixup.sh [ser run options, e.g. --cache-dir DIR]
#   SER_COMMAND=metrics bash benches/mixup.sh [options] [--choices]   (or compare A B, status)
# Run from the project root on the default pipeline's cache, so the grids' mixup-0 points,
# which are the shipped models' first networks, are reused rather than retrained.
#
# Declared before the runs (2026-12-05), not tuned after them:
# - the models: pipeline.yaml's mlp (eGeMAPS functionals, speaker statistics) and cnn2d
#   (log-mel, kept bins, speaker statistics), each with one network (`networks` cannot be
#   chosen on validation) and `grid: {mixup: [0, 0.2]}`; 0.2 is the value of the mixup
#   paper (Zhang et al., 2018) for ImageNet and of most speech papers since, not tuned.
# - beside each, the same model without the grid (`mlp_1`: mlp at one network; cnn2d as
#   shipped), whose trainings are the grids' mixup-0 points. (egemaps/none/cnn1d is there,
#   cached, so that eGeMAPS is extracted with its frames, as pipeline.yaml extracts it.)
# - the rule for pipeline.yaml: mixup is kept for a model only if its validation speakers
#   choose 0.2 in at least 4 of the 6 folds; the test UA is looked at after, once.
ser "${SER_COMMAND:-run}" \
 --set "models.mlp_1={kind: mlp, hidden: 256, layers: 2, dropout: 0.5, epochs: 60, patience: 12, normalize: speaker}" \
 --set "models.mlp_mixup={kind: mlp, hidden: 256, layers: 2, dropout: 0.5, epochs: 60, patience: 12, normalize: speaker, grid: {mixup: [0.0, 0.2]}}" \
 --set "models.cnn2d_mixup={kind: cnn2d, channels: [8, 16, 32], pool_frames: 2, max_frames: 100, epochs: 10, patience: 4, bin_pooling: keep, normalize: speaker, grid: {mixup: [0.0, 0.2]}}" \
 --set "experiments=[{features: [egemaps], models: [mlp_1, mlp_mixup, cnn1d], protocols: [emobox_6fold]}, {features: [logmel], models: [cnn2d, cnn2d_mixup], protocols: [emobox_6fold]}]" \
 --set "ensembles={}" \
 "$@"
