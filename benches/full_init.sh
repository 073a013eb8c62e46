#!/bin/bash
# PyTorch's initial weights (`init: uniform`) against He's (the default) for pipeline-full.yaml's
# cnn_transformer and cnn1d_raw, chosen per fold on validation speakers (held out of the fold's
# training speakers), never on test speakers (issue 27). Two rules, one per network, side by side.
#   bash benches/full_init.sh [ser run options, e.g. --cache-dir DIR]
#   SER_COMMAND=metrics bash benches/full_init.sh [options] [--choices]   (or compare A B)
# Runs pipeline-full.yaml's corpus and folds from the project root.
#
# Declared before the run (2026-12-07, committed with this script), not tuned after it:
# - why: uniform won pipeline.yaml's cnn2d in 6 of 6 folds (benches/init_uniform.sh); these two
#   start from conv stacks of the same blocks (the transformer's own layers are uniform already).
#   pipeline-full's cnn2d and crnn are left out: at a budget that fits beside this session's other
#   runs the cnn2d is too large, and the crnn is 0.11 above its 0.45 target.
# - the models: the two as pipeline-full.yaml ships them, at the proxy budget of
#   benches/full_windows.sh and benches/cnn1d_raw_windows.sh (1 s windows, 12 epochs, patience 4),
#   each with `grid: {init: [he, uniform]}`, chosen per fold by validation UA.
# - the rule, per network: pipeline-full.yaml's cnn_transformer (cnn1d_raw) takes `init: uniform`
#   only if its grid chooses it in at least 4 of the 6 folds; the test UAs are looked at after,
#   once, and reported either way. A network that takes it runs again at pipeline-full's own
#   budget when the machine allows, and that is its number against issue 27's targets.
TRANSFORMER="kind: cnn_transformer, hidden: 128, layers: 2, heads: 4, max_frames: 100, epochs: 12, patience: 4"
RAW="kind: cnn1d_raw, channels: [32, 64, 128, 128], max_frames: 16000, normalize: none, epochs: 12, patience: 4, conv_dropout: 0.0, test_windows: cover"
ser "${SER_COMMAND:-run}" -p pipeline-full.yaml \
 --set "models.cnn_transformer_init={$TRANSFORMER, grid: {init: [he, uniform]}}" \
 --set "models.cnn1d_raw_init={$RAW, grid: {init: [he, uniform]}}" \
 --set "experiments=[{features: [logmel], models: [cnn_transformer_init], protocols: [emobox_6fold]}, {features: [waveform], models: [cnn1d_raw_init], protocols: [emobox_6fold]}]" \
 --set "ensembles={}" \
 "$@"
