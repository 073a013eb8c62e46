#!/bin/bash
# Test-time augmentation (`test_copies: true`) on deep_validated's four MLPs trained on
# noisy_pitch copies, decided on validation speakers only.
#   python3 benches/test_copies.py [--ser ser] [ser options]          (step 1: the decision)
#   bash benches/test_copies.sh [ser run options, e.g. --cache-dir DIR]   (step 2)
#   SER_COMMAND=metrics bash benches/test_copies.sh [options] [--choices]   (or compare A B)
# Run from the project root on the default pipeline's cache: `mlp_tta` is pipeline.yaml's mlp
# with `test_copies: true`, whose networks are the mlp's cached trainings, so its four train
# nodes only predict again (each utterance with its three copies) and the ensembles run.
#
# Declared on 2026-12-05, committed before `test_copies` was run on any member of the pool, for
# a later session (benches/classic_members.sh's rule kept anything else off the pool in the
# session that built the option). Not tuned after it:
# - why: benches/test_copies_sklearn.py, on validation speakers only (inner splits of each
#   training fold): averaging an utterance's probabilities with its three noisy_pitch copies'
#   raised inner-validation UA for logistic regression, an SVM and an MLP, while the noisy copy
#   alone did not (docs/performance.md has its numbers). The four MLPs with copies are most of
#   deep_validated's weight.
# - step 1, validation only: `python3 benches/test_copies.py` splits each fold's validation
#   speakers in two halves (sorted, dealt alternately), as benches/classic_members.py does; the
#   shipped procedure (forward selection bagged 50 times) chooses on one half from the shipped
#   pool, and from the same pool with the four copy MLPs replaced by their test_copies twins,
#   and each is scored (UA) on the other half, both ways: 12 differences.
# - the rule: pipeline.yaml's four noisy_pitch MLP cells become `mlp_tta` cells (the model
#   above, `test_copies: true`; pipeline-full.yaml's the same on its own mlp), in its matrices
#   and deep_validated's pool, if the twins' pool's mean UA on the other halves is above the
#   shipped pool's; else nothing changes.
# - step 2, after the decision: this script runs deep_validated (as shipped) and
#   deep_validated_tta side by side; their test UAs are looked at once, after, and reported
#   whichever way step 1 went, with the four twins' own test UAs against their MLPs'. Nothing
#   else is tried on the pool in that session.
TTA="kind: mlp, hidden: 256, layers: 2, dropout: 0.5, epochs: 60, patience: 12, networks: 5, normalize: speaker, aux_gender: 0.5, test_copies: true"
MLPS="egemaps/none/mlp, egemaps+noisy_pitch/none/mlp, acoustic+noisy_pitch/none/mlp, gemaps+noisy_pitch/none/mlp, acoustic_egemaps+noisy_pitch/none/mlp, acoustic_egemaps/none/mlp"
TWINS="egemaps/none/mlp, egemaps+noisy_pitch/none/mlp_tta, acoustic+noisy_pitch/none/mlp_tta, gemaps+noisy_pitch/none/mlp_tta, acoustic_egemaps+noisy_pitch/none/mlp_tta, acoustic_egemaps/none/mlp"
CLASSIC="egemaps/none/svm_speaker_val, egemaps/none/logreg_speaker_val"
ser "${SER_COMMAND:-run}" \
 --set "models.mlp_tta={$TTA}" \
 --set "experiments=[{features: [egemaps], models: [mlp, cnn1d, svm_speaker_val, logreg_speaker_val], protocols: [emobox_6fold]}, {features: [egemaps, acoustic, gemaps, acoustic_egemaps], augment: [noisy_pitch], models: [mlp, mlp_tta], protocols: [emobox_6fold]}, {features: [acoustic_egemaps], models: [mlp], protocols: [emobox_6fold]}]" \
 --set "ensembles={deep_validated: {members: [$MLPS, $CLASSIC], choose: forward, bags: 50, protocols: [emobox_6fold]}, deep_validated_tta: {members: [$TWINS, $CLASSIC], choose: forward, bags: 50, protocols: [emobox_6fold]}}" \
 "$@"
