#!/bin/bash
# deep_validated's forward selection on the members that share every network seed, so that it
# scores each candidate mean on every validation speaker they held out, not on seed 0's three.
#   bash benches/shared_seed_pool.sh [ser run options, e.g. --cache-dir DIR]
#   SER_COMMAND=metrics bash benches/shared_seed_pool.sh [options] [--choices]   (or compare A B)
# Run from the project root on the default pipeline's cache: every cell is pipeline.yaml's, with
# its key, so only the two ensembles run (nothing is trained).
#
# Declared before the run (2026-12-05, committed with this script before any result was seen),
# not tuned after it:
# - why: `choose: forward` scores a mean on the validation utterances every member held out. A
#   network holds out 3 training speakers chosen by its seed; the six MLPs train seeds 0 to 4
#   (up to 15 speakers a fold between them), cnn1d seeds 0 to 2, the other frame networks and
#   cnn2d seed 0 only. So the rows every member of the 12-member pool shares are seed 0's 3
#   speakers, about 180 utterances a fold, and deep_validated's test UA swung 0.682 -> 0.664 ->
#   0.650 while its members moved about a point (docs/performance.md). Forward selection
#   overfits a small hill-climbing set (Caruana et al. 2004); more rows is the direct remedy.
# - deep_validated_shared: pipeline.yaml's deep_validated (choose: forward, unchanged) over the
#   members that train seeds 0 to 4: the six MLPs of its pool. The frame networks and cnn2d
#   leave it (they stay in deep_egemaps and the matrix); giving them five networks each would
#   add about half an hour to the default cold run, against issue 27's 30 minutes.
#   deep_validated (the 12-member pool, as shipped) is recomputed beside it.
# - the rule for pipeline.yaml: its deep_validated takes the six-MLP pool whatever the test UAs
#   say; the pool is chosen here for the reason above, not by its result. The validation rows
#   per fold (`--choices`) are reported; the test UAs of both are looked at after, once, and
#   reported. Nothing else is tried on this pool in this session.
# - pipeline-full.yaml is not changed by this rule: its frame networks are far stronger (crnn
#   0.564) and no run of it fits this session; the same question stays open there.
MLPS="egemaps/none/mlp, egemaps+noisy_pitch/none/mlp, acoustic+noisy_pitch/none/mlp, gemaps+noisy_pitch/none/mlp, acoustic_egemaps+noisy_pitch/none/mlp, acoustic_egemaps/none/mlp"
POOL="$MLPS, egemaps/none/cnn1d, egemaps/none/lstm, egemaps/none/gru, egemaps/none/crnn, egemaps/none/attention_lstm, logmel/none/cnn2d"
ser "${SER_COMMAND:-run}" \
 --set "experiments=[{features: [egemaps], models: [mlp, cnn1d, lstm, gru, crnn, attention_lstm], protocols: [emobox_6fold]}, {features: [egemaps, acoustic, gemaps, acoustic_egemaps], augment: [noisy_pitch], models: [mlp], protocols: [emobox_6fold]}, {features: [acoustic_egemaps], models: [mlp], protocols: [emobox_6fold]}, {features: [logmel], models: [cnn2d], protocols: [emobox_6fold]}]" \
 --set "ensembles={deep_validated: {members: [$POOL], choose: forward, protocols: [emobox_6fold]}, deep_validated_shared: {members: [$MLPS], choose: forward, protocols: [emobox_6fold]}}" \
 "$@"
