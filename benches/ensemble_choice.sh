#!/bin/bash
# deep_validated's members chosen per fold by the ensemble's own validation UA (forward
# selection) instead of each member's (keep_best), on the same pool, the way issue 27 asks:
# chosen on validation speakers (held out of each fold's training speakers), never on test ones.
#   bash benches/ensemble_choice.sh [ser run options, e.g. --cache-dir DIR]
#   SER_COMMAND=metrics bash benches/ensemble_choice.sh [options] [--choices]   (or compare A B)
# Run from the project root on the default pipeline's cache: every cell is pipeline.yaml's, with
# its key, so only the deep train nodes' validation tables (from their kept weights, no training)
# and the two ensembles run.
#
# Declared before the run (2026-12-05, committed with this script before `choose:` was built or
# any result seen), not tuned after it:
# - why: benches/union_without_copies.sh showed that ranking members one by one (keep_best) does
#   not measure what a member adds to the mean: validation kept a member that lowered the test UA.
# - deep_validated_forward: pipeline.yaml's deep_validated pool (12 members), `choose: forward`:
#   per fold, start from the member whose probabilities score the best UA on the validation
#   utterances every member holds out (the original utterances of those speakers, no augmented
#   copies), then add, one at a time, the member whose addition gives the mean the best validation
#   UA (ties to the lower cross-entropy, then to the member listed first), while that strictly
#   improves (UA, then cross-entropy); deep_validated (keep_best 4) is recomputed beside it.
# - the rule for pipeline.yaml and pipeline-full.yaml: their deep_validated switches to
#   `choose: forward`, whatever the test UAs say; the method is chosen here, for the reason
#   above, not by its result. The test UAs of both are looked at after, once, and reported.
#   Nothing else is tried on this pool in this session.
POOL="egemaps/none/mlp, egemaps+noisy_pitch/none/mlp, acoustic+noisy_pitch/none/mlp, gemaps+noisy_pitch/none/mlp, acoustic_egemaps+noisy_pitch/none/mlp, acoustic_egemaps/none/mlp, egemaps/none/cnn1d, egemaps/none/lstm, egemaps/none/gru, egemaps/none/crnn, egemaps/none/attention_lstm, logmel/none/cnn2d"
ser "${SER_COMMAND:-run}" \
 --set "experiments=[{features: [egemaps], models: [mlp, cnn1d, lstm, gru, crnn, attention_lstm], protocols: [emobox_6fold]}, {features: [egemaps, acoustic, gemaps, acoustic_egemaps], augment: [noisy_pitch], models: [mlp], protocols: [emobox_6fold]}, {features: [acoustic_egemaps], models: [mlp], protocols: [emobox_6fold]}, {features: [logmel], models: [cnn2d], protocols: [emobox_6fold]}]" \
 --set "ensembles={deep_validated: {members: [$POOL], keep_best: 4, protocols: [emobox_6fold]}, deep_validated_forward: {members: [$POOL], choose: forward, protocols: [emobox_6fold]}}" \
 "$@"
