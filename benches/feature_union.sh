#!/bin/bash
# A feature union (early fusion) as a member of deep_validated, tried the way issue 27 asks:
# chosen on validation speakers (held out of each fold's training speakers), never on its
# test speakers.
#   bash benches/feature_union.sh [ser run options, e.g. --cache-dir DIR]
#   SER_COMMAND=metrics bash benches/feature_union.sh [options] [--choices]   (or compare A B)
# Run from the project root on the default pipeline's cache: every cell but the union's is
# one of pipeline.yaml's, with its key, so only the union's nodes run.
#
# Declared before the run (2026-12-05), not tuned after it:
# - the union: librosa's acoustic functionals beside eGeMAPS' (645 + 88 columns), the two
#   sets whose MLPs deep_validated keeps; pipeline.yaml's mlp on it, unchanged (5 networks,
#   speaker statistics, gender target), with the noisy_pitch copies, as the other
#   functionals MLPs of the pool that are not eGeMAPS.
# - deep_validated_union: deep_validated's 11 members and the union's MLP, keep_best 4 as
#   shipped; deep_validated itself is recomputed beside it for the comparison.
# - the rule for pipeline.yaml: the union's MLP joins deep_validated's pool only if its
#   validation UA puts it among the 4 kept in at least 4 of the 6 folds; the test UAs are
#   looked at after, once, and reported either way.
ser "${SER_COMMAND:-run}" \
 --set "feature_unions={acoustic_egemaps: [acoustic, egemaps]}" \
 --set "experiments=[{features: [egemaps], models: [mlp, cnn1d, lstm, gru, crnn, attention_lstm], protocols: [emobox_6fold]}, {features: [acoustic], models: [cnn1d], protocols: [emobox_6fold]}, {features: [egemaps, acoustic, gemaps, acoustic_egemaps], augment: [noisy_pitch], models: [mlp], protocols: [emobox_6fold]}, {features: [logmel], models: [cnn2d], protocols: [emobox_6fold]}]" \
 --set "ensembles={deep_validated: {members: [egemaps/none/mlp, egemaps+noisy_pitch/none/mlp, acoustic+noisy_pitch/none/mlp, gemaps+noisy_pitch/none/mlp, egemaps/none/cnn1d, acoustic/none/cnn1d, egemaps/none/lstm, egemaps/none/gru, egemaps/none/crnn, egemaps/none/attention_lstm, logmel/none/cnn2d], keep_best: 4, protocols: [emobox_6fold]}, deep_validated_union: {members: [egemaps/none/mlp, egemaps+noisy_pitch/none/mlp, acoustic+noisy_pitch/none/mlp, gemaps+noisy_pitch/none/mlp, egemaps/none/cnn1d, acoustic/none/cnn1d, egemaps/none/lstm, egemaps/none/gru, egemaps/none/crnn, egemaps/none/attention_lstm, logmel/none/cnn2d, acoustic_egemaps+noisy_pitch/none/mlp], keep_best: 4, protocols: [emobox_6fold]}}" \
 "$@"
