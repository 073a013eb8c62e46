#!/bin/bash
# deep_validated's four copy MLPs (`mlp_tta`, each utterance predicted with its copies) trained and
# predicting on noisy_pitch_stretch: noisy_pitch's three copies and time_stretch 0.9 and 1.1,
# decided on validation speakers only.
#   bash benches/stretch_copies.sh --set 'ensembles={}' --validation   (the members; no test UA)
#   python3 benches/stretch_copies.py [--ser ser] [ser options]     (step 1: the decision)
#   bash benches/stretch_copies.sh [ser run options]                (step 2)
#   SER_COMMAND=compare bash benches/stretch_copies.sh A B          (or metrics)
# Run from the project root on the default pipeline's cache.
#
# Declared on 2026-12-05 for a later session, committed before any pool with these members was
# scored (benches/test_copies.sh's rule kept anything else off the pool in the session that wrote
# this). Not tuned after it:
# - why: benches/wider_copies.sh's study, on validation speakers only: the eGeMAPS mlp_tta on
#   noisy_pitch_stretch had mean validation UA 0.621 against 0.611 on noisy_pitch (higher in 6 of
#   6 folds), the speed variant 0.621 (5 of 6); its declared rule took the higher mean, stretch.
# - step 1, validation only: `python3 benches/stretch_copies.py` splits each fold's validation
#   speakers in two halves as benches/test_copies.py does; bagged forward selection (50) chooses
#   on one half from the shipped pool and from the pool with its four noisy_pitch mlp_tta members
#   replaced by their noisy_pitch_stretch twins, each scored (UA) on the other half: 12
#   differences.
# - the rule: if the twins' pool's mean is above the shipped pool's, pipeline.yaml gets the
#   augmentation noisy_pitch_stretch and its four mlp_tta cells move to it (matrices and
#   deep_validated's pool; pipeline-full.yaml's the same on its own mlp_tta); deep_egemaps and its
#   eGeMAPS mlp on noisy_pitch stay. Else nothing changes.
# - step 2, after the decision: this script runs deep_validated (as shipped) and
#   deep_validated_stretch side by side; their test UAs are looked at once, after, and reported
#   whichever way step 1 went, with the four twins' own against their noisy_pitch cells'. If it
#   ships, the default pipeline's cold run is measured again against its 30-minute target (more
#   copies lengthen four train nodes). Nothing else is tried on the pool in that session.
TTA="kind: mlp, hidden: 256, layers: 2, dropout: 0.5, epochs: 60, patience: 12, networks: 5, normalize: speaker, aux_gender: 0.5, test_copies: true"
STRETCH="{copies: [{kind: noise, snr_db: 15, colour: pink}, {kind: pitch_shift, semitones: 2}, {kind: pitch_shift, semitones: -2}, {kind: time_stretch, rate: 0.9}, {kind: time_stretch, rate: 1.1}], seed: 0}"
# In pipeline.yaml's order: forward selection breaks ties by the member listed first.
POOL="egemaps/none/mlp, egemaps+noisy_pitch/none/mlp_tta, acoustic+noisy_pitch/none/mlp_tta, gemaps+noisy_pitch/none/mlp_tta, acoustic_egemaps+noisy_pitch/none/mlp_tta, acoustic_egemaps/none/mlp, egemaps/none/svm_speaker_val, egemaps/none/logreg_speaker_val"
ser "${SER_COMMAND:-run}" \
 --set "augmentations.noisy_pitch_stretch=$STRETCH" \
 --set "models.mlp_tta={$TTA}" \
 --set "experiments=[{features: [egemaps], models: [mlp, svm_speaker_val, logreg_speaker_val], protocols: [emobox_6fold]}, {features: [acoustic_egemaps], models: [mlp], protocols: [emobox_6fold]}, {features: [egemaps, acoustic, gemaps, acoustic_egemaps], augment: [noisy_pitch, noisy_pitch_stretch], models: [mlp_tta], protocols: [emobox_6fold]}]" \
 --set "ensembles={deep_validated: {members: [$POOL], choose: forward, bags: 50, protocols: [emobox_6fold]}, deep_validated_stretch: {members: [${POOL//noisy_pitch/noisy_pitch_stretch}], choose: forward, bags: 50, protocols: [emobox_6fold]}}" \
 "$@"
