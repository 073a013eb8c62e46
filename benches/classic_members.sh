#!/bin/bash
# Two classic models, eGeMAPS SVM and logistic regression on speaker statistics, in
# deep_validated's pool beside the six MLPs, decided on validation speakers only.
#   python3 benches/classic_members.py [--ser ser] [ser options]      (step 1: the decision)
#   bash benches/classic_members.sh [ser run options, e.g. --cache-dir DIR]   (step 2)
#   SER_COMMAND=metrics bash benches/classic_members.sh [options] [--choices]   (or compare A B)
# Run from the project root on the default pipeline's cache: the MLPs and egemaps/none/cnn1d are
# pipeline.yaml's cells with their keys (cnn1d so that eGeMAPS is extracted with its frames, as
# pipeline.yaml extracts it), so only the two classic models and the ensembles run.
#
# Declared on 2026-12-05, committed before any of it was run on RAVDESS, for a later session
# (benches/bagged_choice.sh's rule kept anything else off the pool in the session that shipped
# `bags: 50`). Not tuned after it:
# - why: the pool is six MLPs, nearly tied (benches/choice_stability.py), so their mean adds
#   little; the SVM and logistic regression on speaker statistics are another family
#   (UA 0.630 and 0.593 alone), whose errors may differ more. They join as members by their
#   probabilities: `probability: true` on the SVM (Platt scaling on held-out training
#   speakers), and `validation: {seeds: 5}` on both, the MLPs' seeds, so every member holds out
#   the same speakers and forward selection still scores on 11 a fold. Their settings are
#   pipeline.yaml's svm_speaker and logreg_speaker as they are.
# - step 1, validation only: `python3 benches/classic_members.py` splits each fold's validation
#   speakers in two halves (sorted, dealt alternately), as benches/bagged_choice.py does; the
#   shipped procedure (forward selection bagged 50 times) chooses on one half from the six MLPs,
#   and from the six MLPs and the two classic models, and each is scored (UA) on the other half,
#   both ways: 12 differences.
# - the rule: pipeline.yaml's deep_validated takes the two classic models into its pool (and the
#   two models join pipeline.yaml as `svm_speaker_val` and `logreg_speaker_val`) if the larger
#   pool's mean UA on the other halves is above the MLPs'; else nothing changes.
#   pipeline-full.yaml follows pipeline.yaml.
# - step 2, after the decision: this script runs deep_validated (as shipped) and
#   deep_validated_classic side by side; their test UAs are looked at once, after, and reported
#   whichever way step 1 went. Nothing else is tried on the pool in that session.
MLPS="egemaps/none/mlp, egemaps+noisy_pitch/none/mlp, acoustic+noisy_pitch/none/mlp, gemaps+noisy_pitch/none/mlp, acoustic_egemaps+noisy_pitch/none/mlp, acoustic_egemaps/none/mlp"
CLASSIC="egemaps/none/svm_speaker_val, egemaps/none/logreg_speaker_val"
ser "${SER_COMMAND:-run}" \
 --set "models.svm_speaker_val={kind: svm, c: 1.0, class_weight: balanced, normalize: speaker, probability: true, validation: {seeds: 5}}" \
 --set "models.logreg_speaker_val={kind: logistic_regression, alpha: 1.0, max_iterations: 300, normalize: speaker, validation: {seeds: 5}}" \
 --set "experiments=[{features: [egemaps], models: [mlp, cnn1d, svm_speaker_val, logreg_speaker_val], protocols: [emobox_6fold]}, {features: [egemaps, acoustic, gemaps, acoustic_egemaps], augment: [noisy_pitch], models: [mlp], protocols: [emobox_6fold]}, {features: [acoustic_egemaps], models: [mlp], protocols: [emobox_6fold]}]" \
 --set "ensembles={deep_validated: {members: [$MLPS], choose: forward, bags: 50, protocols: [emobox_6fold]}, deep_validated_classic: {members: [$MLPS, $CLASSIC], choose: forward, bags: 50, protocols: [emobox_6fold]}}" \
 "$@"
