#!/bin/bash
# deep_validated's members chosen by bagged forward selection (`bags: 50`) against plain forward
# selection, on pipeline.yaml's pool (the six MLPs), decided on validation speakers only.
#   python3 benches/bagged_choice.py [--ser ser] [ser options]      (step 1: the decision)
#   bash benches/bagged_choice.sh [ser run options, e.g. --cache-dir DIR]   (step 2)
#   SER_COMMAND=metrics bash benches/bagged_choice.sh [options] [--choices]   (or compare A B)
# Run from the project root on the default pipeline's cache: every member is pipeline.yaml's,
# with its key, so only the two ensembles run (nothing is trained).
#
# Declared on 2026-12-05 and committed with `bags` before any bagged choice was computed on
# RAVDESS (its tests use synthetic rows); to be run in a later session, since
# benches/shared_seed_pool.sh declared that nothing else is tried on the pool in its session.
# Not tuned after it:
# - why: on the six MLPs' common validation rows (11 speakers a fold), forward selection's member
#   set survives a resample of those speakers in about a third of resamples
#   (benches/choice_stability.py): the MLPs are nearly tied, and the winner changes with which
#   speakers were held out. Averaging the choice over bootstrap resamples of the speakers
#   (bagged ensemble selection, Caruana et al. 2004) is the standard remedy.
# - step 1, validation only: `python3 benches/bagged_choice.py` splits each fold's validation
#   speakers in two halves (sorted, dealt alternately); plain forward selection and bags: 50 each
#   choose on one half and are scored (UA) on the other, both ways: 12 differences.
# - the rule: pipeline.yaml's deep_validated (and pipeline-full.yaml's, which has the same
#   `choose`) takes `bags: 50` if bagged's mean UA on the other halves is above plain's; else
#   nothing changes. 50 is fixed here, not tuned.
# - step 2, after the decision: this script runs deep_validated (as shipped) and
#   deep_validated_bagged (bags: 50) side by side; their test UAs are looked at once, after, and
#   reported whichever way step 1 went. Nothing else is tried on the pool in that session.
MLPS="egemaps/none/mlp, egemaps+noisy_pitch/none/mlp, acoustic+noisy_pitch/none/mlp, gemaps+noisy_pitch/none/mlp, acoustic_egemaps+noisy_pitch/none/mlp, acoustic_egemaps/none/mlp"
# The MLP cells as they were (pipeline.yaml's noisy_pitch ones are mlp_tta since
# benches/test_copies.sh); their networks are cached under the same keys.
ser "${SER_COMMAND:-run}" \
 --set "experiments=[{features: [egemaps, acoustic_egemaps], models: [mlp], protocols: [emobox_6fold]}, {features: [egemaps, acoustic, gemaps, acoustic_egemaps], augment: [noisy_pitch], models: [mlp], protocols: [emobox_6fold]}]" \
 --set "ensembles={deep_validated: {members: [$MLPS], choose: forward, protocols: [emobox_6fold]}, deep_validated_bagged: {members: [$MLPS], choose: forward, bags: 50, protocols: [emobox_6fold]}}" \
 "$@"
