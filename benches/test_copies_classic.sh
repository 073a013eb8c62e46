#!/bin/bash
# test_copies on two classic models outside deep_validated's pool, eGeMAPS logistic regression and
# SVM (Platt) on speaker statistics trained with noisy_pitch copies, with and without predicting
# each utterance with its copies: a measurement of the option, which chooses nothing.
#   bash benches/test_copies_classic.sh [ser run options]
#   SER_COMMAND=metrics bash benches/test_copies_classic.sh   (or compare A B)
# `validation: {seeds: 5}` gives each a per-fold validation UA (held-out training speakers,
# the models artifact's `validation_ua`), read before the test UAs (docs/performance.md).
ser "${SER_COMMAND:-run}" \
 --set "models.lr_copies={kind: logistic_regression, alpha: 1.0, max_iterations: 300, normalize: speaker, validation: {seeds: 5}}" \
 --set "models.lr_copies_tta={kind: logistic_regression, alpha: 1.0, max_iterations: 300, normalize: speaker, validation: {seeds: 5}, test_copies: true}" \
 --set "models.svm_copies={kind: svm, c: 1.0, class_weight: balanced, normalize: speaker, probability: true, validation: {seeds: 5}}" \
 --set "models.svm_copies_tta={kind: svm, c: 1.0, class_weight: balanced, normalize: speaker, probability: true, validation: {seeds: 5}, test_copies: true}" \
 --set "experiments=[{features: [egemaps], augment: [noisy_pitch], models: [lr_copies, lr_copies_tta, svm_copies, svm_copies_tta], protocols: [emobox_6fold]}]" \
 --set "ensembles={}" "$@"
