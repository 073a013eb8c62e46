#!/bin/bash
# deep_validated's members pooled by a weighted geometric mean of their class probabilities
# (`combine: geometric`, log-linear pooling) against the weighted arithmetic mean it ships with,
# decided on validation speakers only.
#   python3 benches/log_pool.py [--ser ser] [ser options]            (step 1: the decision)
#   bash benches/log_pool.sh [ser run options, e.g. --cache-dir DIR]   (step 2)
#   SER_COMMAND=metrics bash benches/log_pool.sh [options] [--choices]   (or compare A B)
# Run from the project root on the default pipeline's cache: every member is pipeline.yaml's,
# with its key, so only the two ensembles run (nothing is trained).
#
# Declared on 2026-12-06 (session 38) and committed before `combine: geometric` was built or
# any geometric pool of these members computed. Not tuned after it:
# - why: the pool mixes MLPs on five feature sets with two classic models, whose probabilities
#   are scaled differently (softmax of networks stopped early, Platt-scaled SVM, logistic
#   regression). The arithmetic mean lets one confident member outvote the rest on a row; a
#   geometric mean (log-linear pooling, the product of experts) lets a class that any member
#   finds unlikely lose, and is the other standard way to pool probabilistic classifiers. It
#   costs nothing: no member is trained again, only the ensemble node runs.
# - step 1, validation only: `python3 benches/log_pool.py` splits each fold's validation speakers
#   in two halves (sorted, dealt alternately), as benches/classic_members.py does; the shipped
#   procedure (forward selection bagged 50 times, numpy seed 0, the same draws for both) chooses
#   members and weights on one half, pooling with the arithmetic mean, and again pooling with
#   the geometric mean (in the choice and in the final pool alike); each is scored (UA) on the
#   other half, both ways: 12 differences.
# - the rule: pipeline.yaml's deep_validated takes `combine: geometric` if the geometric pool's
#   mean UA on the other halves is above the arithmetic pool's; else nothing changes.
#   pipeline-full.yaml's deep_validated, whose pool has the same members on deltas, follows
#   (copied, not re-derived).
# - step 2, after the decision: this script runs deep_validated (as shipped) and
#   deep_validated_geometric side by side; their test UAs are looked at once, after, and
#   reported whichever way step 1 went. Nothing else is tried on the pool in that session.
# - applied once (session 38, 2026-12-06): step 1 gave -0.0029 (higher in 5 of 12 halves), so
#   nothing changed; step 2's test UAs were 0.695 against 0.698 (docs/performance.md).
POOL="egemaps/none/mlp, egemaps+noisy_pitch_stretch/none/mlp_tta, acoustic+noisy_pitch_stretch/none/mlp_tta, gemaps+noisy_pitch_stretch/none/mlp_tta, acoustic_egemaps+noisy_pitch_stretch/none/mlp_tta, acoustic_egemaps/none/mlp, egemaps/none/svm_speaker_val, egemaps/none/logreg_speaker_val"
ser "${SER_COMMAND:-run}" \
 --set "ensembles={deep_validated: {members: [$POOL], choose: forward, bags: 50, protocols: [emobox_6fold]}, deep_validated_geometric: {members: [$POOL], combine: geometric, choose: forward, bags: 50, protocols: [emobox_6fold]}}" \
 "$@"
