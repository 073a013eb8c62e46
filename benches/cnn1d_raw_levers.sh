#!/bin/bash
# Mixup and gender as an auxiliary target on cnn1d_raw, each chosen the way issue 27 asks: per
# fold on validation speakers (held out of the fold's training speakers), never on test speakers.
#   bash benches/cnn1d_raw_levers.sh [ser run options, e.g. --cache-dir DIR]
#   SER_COMMAND=metrics bash benches/cnn1d_raw_levers.sh [options] [--choices]   (or compare A B)
# Runs pipeline-full.yaml's corpus and folds from the project root. On the cache that
# benches/cnn1d_raw_dropout.sh ran in (target/cold-cache6), both grids' 0 points are that
# bench's `conv_dropout: 0.0` networks, so only the new points train.
#
# Declared before the run (2026-12-05, committed with this script), not tuned after it:
# - why: pipeline-full's cnn1d_raw is at 0.348 against issue 27's 0.35. Two of the issue's list
#   of what the field uses, not yet tried on it: mixup (on raw waveforms it is between-class
#   learning, Tokozume et al. 2018, made for 1-D CNNs on sound) and gender as an auxiliary
#   target (the MLP's validation speakers chose it in 4 of 6 folds).
# - the model: pipeline-full.yaml's cnn1d_raw as shipped (32/64/128/128 channels, no input
#   scaling, `conv_dropout: 0.0`) at the budget benches/cnn1d_raw_dropout.sh chose its dropout
#   at, 1 s windows (16000 samples), 12 epochs, patience 4; one grid each,
#   `{mixup: [0.0, 0.2]}` and `{aux_gender: [0.0, 0.5]}` (the values the MLP and cnn2d were
#   tried at in benches/mixup.sh and benches/aux_gender.sh: not tuned).
# - the rule: pipeline-full.yaml's cnn1d_raw takes a lever only if its grid chooses the
#   non-zero value in at least 4 of the 6 folds. If both qualify, only the one chosen in more
#   folds is taken (their mean validation UA over the folds breaks a tie), since the two were
#   not tried together. The test UAs are looked at after, once, and reported either way; if a
#   lever is taken, pipeline-full's cnn1d_raw then runs at its own budget (3 s, 40 epochs).
B="kind: cnn1d_raw, channels: [32, 64, 128, 128], max_frames: 16000, normalize: none, epochs: 12, patience: 4, conv_dropout: 0.0"
ser "${SER_COMMAND:-run}" -p pipeline-full.yaml \
 --set "models.cnn1d_raw_mixup={$B, grid: {mixup: [0.0, 0.2]}}" \
 --set "models.cnn1d_raw_gender={$B, grid: {aux_gender: [0.0, 0.5]}}" \
 --set "experiments=[{features: [waveform], models: [cnn1d_raw_mixup, cnn1d_raw_gender], protocols: [emobox_6fold]}]" \
 --set "ensembles={}" \
 "$@"
