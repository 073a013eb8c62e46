#!/bin/bash
# Dropout inside cnn1d_raw's conv blocks, or only in its head, chosen the way issue 27 asks: on
# validation speakers (held out of each fold's training speakers), never on its test speakers.
#   bash benches/cnn1d_raw_dropout.sh [ser run options, e.g. --cache-dir DIR]
#   SER_COMMAND=metrics bash benches/cnn1d_raw_dropout.sh [options] [--choices]   (or compare A B)
# Runs pipeline-full.yaml's corpus and folds from the project root (the waveform is ingest's
# signal, so only the train nodes run on a warm cache).
#
# Declared before the run (2026-12-05, committed with this script), not tuned after it:
# - why: dropout ahead of the next block's batch norm kept cnn2d and crnn near chance
#   (docs/performance.md, "Why cnn2d learned nothing"); cnn1d_raw kept it in every block.
# - the model: pipeline-full.yaml's cnn1d_raw (32/64/128/128 channels, no input scaling) at a
#   budget that fits a 2-core session, 1 s windows (16000 samples), 12 epochs, patience 4,
#   with `grid: {conv_dropout: [0.3, 0.0]}` (0.3: the blocks' dropout as shipped; 0.0: none in
#   the blocks, the head's 0.3 in both), chosen per fold by validation UA.
# - the rule: pipeline-full.yaml's cnn1d_raw gets `conv_dropout: 0.0` only if the grid chooses
#   it in at least 4 of the 6 folds; the test UAs are looked at after, once, and reported
#   either way.
ser "${SER_COMMAND:-run}" -p pipeline-full.yaml \
 --set "models.cnn1d_raw_dropout={kind: cnn1d_raw, channels: [32, 64, 128, 128], max_frames: 16000, normalize: none, epochs: 12, patience: 4, grid: {conv_dropout: [0.3, 0.0]}}" \
 --set "experiments=[{features: [waveform], models: [cnn1d_raw_dropout], protocols: [emobox_6fold]}]" \
 --set "ensembles={}" \
 "$@"
