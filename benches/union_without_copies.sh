#!/bin/bash
# The acoustic + eGeMAPS union's MLP on the utterances alone (no augmented copies) as one more
# member of deep_validated, tried the way issue 27 asks: chosen on validation speakers (held out
# of each fold's training speakers), never on its test speakers.
#   bash benches/union_without_copies.sh [ser run options, e.g. --cache-dir DIR]
#   SER_COMMAND=metrics bash benches/union_without_copies.sh [options] [--choices]   (or compare A B)
# Run from the project root on the default pipeline's cache: every cell but the new one is
# pipeline.yaml's, with its key, so only the new MLP and the two ensembles run.
#
# Declared before the run (2026-12-05, committed with this script), not tuned after it:
# - why this one: the pool keeps eGeMAPS' MLP both with and without the noisy_pitch copies,
#   and validation kept both in every fold; the union has only the with-copies cell.
# - the cell: pipeline.yaml's mlp, unchanged (5 networks, speaker statistics, gender target),
#   on acoustic_egemaps without copies.
# - deep_validated_plain: pipeline.yaml's deep_validated pool (11 members) and that cell,
#   keep_best 4 as shipped; deep_validated is recomputed beside it for the comparison.
# - the rule for pipeline.yaml: the cell joins deep_validated's pool only if its validation UA
#   puts it among the 4 kept in at least 4 of the 6 folds; the test UAs are looked at after,
#   once, and reported either way. Nothing else is tried on this pool in this session.
POOL="egemaps/none/mlp, egemaps+noisy_pitch/none/mlp, acoustic+noisy_pitch/none/mlp, gemaps+noisy_pitch/none/mlp, acoustic_egemaps+noisy_pitch/none/mlp, egemaps/none/cnn1d, egemaps/none/lstm, egemaps/none/gru, egemaps/none/crnn, egemaps/none/attention_lstm, logmel/none/cnn2d"
ser "${SER_COMMAND:-run}" \
 --set "experiments=[{features: [egemaps], models: [mlp, cnn1d, lstm, gru, crnn, attention_lstm], protocols: [emobox_6fold]}, {features: [egemaps, acoustic, gemaps, acoustic_egemaps], augment: [noisy_pitch], models: [mlp], protocols: [emobox_6fold]}, {features: [acoustic_egemaps], models: [mlp], protocols: [emobox_6fold]}, {features: [logmel], models: [cnn2d], protocols: [emobox_6fold]}]" \
 --set "ensembles={deep_validated: {members: [$POOL], keep_best: 4, protocols: [emobox_6fold]}, deep_validated_plain: {members: [$POOL, acoustic_egemaps/none/mlp], keep_best: 4, protocols: [emobox_6fold]}}" \
 "$@"
