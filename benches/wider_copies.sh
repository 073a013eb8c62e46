#!/bin/bash
# More training copies for the eGeMAPS MLP that predicts with its copies (`mlp_tta`): noisy_pitch's
# three (pink noise 15 dB, pitch +-2 semitones) and two more, speed (0.9, 1.1: Kaldi's speed
# perturbation, tempo and pitch together) or time_stretch (0.9, 1.1: tempo alone). Validation
# speakers only: a member-level study that chooses what a later pool rule may try, no test UA.
#   bash benches/wider_copies.sh --validation [ser run options]   (the run; validation UAs only.
#       The first run, before --validation existed, sent its test table to a file unread)
#   python3 benches/wider_copies.py [--ser ser] [ser options]   (validation UAs per fold)
#
# Declared on 2026-12-05, committed before any of these copies was made:
# - the measure: each variant's egemaps mlp_tta, mean over the 6 emobox folds of the validation UA
#   (recorded utterances of the speakers its five networks hold out, each predicted with its
#   copies), against noisy_pitch's mlp_tta (pipeline.yaml's cell, cached); the plain mlp's beside
#   it, to tell training on more copies from predicting with them.
# - what it decides: the variant with the higher mean, if it is above noisy_pitch's, is the one a
#   later session's pool rule (deep_validated's four copy MLPs retrained on it, judged on held-out
#   validation halves as benches/test_copies.py) may try; if neither is above, no such rule.
#   Nothing in pipeline.yaml changes on this study alone.
TTA="kind: mlp, hidden: 256, layers: 2, dropout: 0.5, epochs: 60, patience: 12, networks: 5, normalize: speaker, aux_gender: 0.5"
NOISY_PITCH="{kind: noise, snr_db: 15, colour: pink}, {kind: pitch_shift, semitones: 2}, {kind: pitch_shift, semitones: -2}"
ser "${SER_COMMAND:-run}" \
 --set "augmentations.noisy_pitch_speed={copies: [$NOISY_PITCH, {kind: speed, factor: 0.9}, {kind: speed, factor: 1.1}], seed: 0}" \
 --set "augmentations.noisy_pitch_stretch={copies: [$NOISY_PITCH, {kind: time_stretch, rate: 0.9}, {kind: time_stretch, rate: 1.1}], seed: 0}" \
 --set "models.mlp_tta={$TTA, test_copies: true}" \
 --set "experiments=[{features: [egemaps], augment: [noisy_pitch, noisy_pitch_speed, noisy_pitch_stretch], models: [mlp, mlp_tta], protocols: [emobox_6fold]}]" \
 --set "ensembles={}" \
 "$@"
