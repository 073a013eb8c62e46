#!/bin/bash
# PyTorch's initial weights (`init: uniform`: every dense layer uniform in +-1/sqrt(fan_in)) for
# deep_validated's six MLP members, against He's (the default), decided on validation speakers
# only (issue 27).
#   bash benches/mlp_init.sh --set 'ensembles={}' --validation [ser run options]   (the twins; no test UA)
#   python3 benches/mlp_init.py [--ser ser] [ser options]             (step 1: the decision)
#   bash benches/mlp_init.sh [ser run options]                        (step 2)
#   SER_COMMAND=compare bash benches/mlp_init.sh A B                  (or metrics)
# Run from the project root on the default pipeline's cache.
#
# Declared on 2026-12-07, committed before any MLP with `init: uniform` was trained. Not tuned
# after it:
# - why: PyTorch's uniform weights lifted pipeline.yaml's cnn2d on the validation speakers of 6
#   of 6 folds (benches/init_uniform.sh); ser's MLPs start from He's normal, sqrt(6) times wider,
#   as its cnn2d did. The MLPs are most of deep_validated's weight.
# - the twins: pipeline.yaml's mlp and mlp_tta with `init: uniform` and nothing else changed
#   (`mlp_u`, `mlp_tta_u`), on the six cells of deep_validated's pool.
# - step 1, validation only: `python3 benches/mlp_init.py` splits each fold's validation
#   speakers in two halves as benches/test_copies.py does; bagged forward selection (50) chooses
#   on one half from the shipped pool and from the pool with its six MLPs replaced by their
#   twins, each scored (UA) on the other half: 12 differences.
# - the rule: if the twins' pool's mean is above the shipped pool's, pipeline.yaml's mlp and
#   mlp_tta take `init: uniform` (pipeline-full.yaml's the same, copied, not re-derived at its
#   budgets); else nothing changes. The other MLPs (mlp_grid, the online ones) keep He's.
# - step 2, after the decision: this script runs deep_validated (as shipped) and
#   deep_validated_uniform side by side; their test UAs are looked at once, after, and reported
#   whichever way step 1 went, with the six twins' own against their cells'. Nothing else is
#   tried on the pool in that session.
# cnn1d (cached, no ensemble reads it): eGeMAPS is extracted with its frames, as pipeline.yaml does.
MLP="kind: mlp, hidden: 256, layers: 2, dropout: 0.5, epochs: 60, patience: 12, networks: 5, normalize: speaker, aux_gender: 0.5"
# In pipeline.yaml's order: forward selection breaks ties by the member listed first.
POOL="egemaps/none/mlp, egemaps+noisy_pitch_stretch/none/mlp_tta, acoustic+noisy_pitch_stretch/none/mlp_tta, gemaps+noisy_pitch_stretch/none/mlp_tta, acoustic_egemaps+noisy_pitch_stretch/none/mlp_tta, acoustic_egemaps/none/mlp"
CLASSIC="egemaps/none/svm_speaker_val, egemaps/none/logreg_speaker_val"
TWINS="egemaps/none/mlp_u, egemaps+noisy_pitch_stretch/none/mlp_tta_u, acoustic+noisy_pitch_stretch/none/mlp_tta_u, gemaps+noisy_pitch_stretch/none/mlp_tta_u, acoustic_egemaps+noisy_pitch_stretch/none/mlp_tta_u, acoustic_egemaps/none/mlp_u"
ser "${SER_COMMAND:-run}" \
 --set "models.mlp={$MLP}" \
 --set "models.mlp_tta={$MLP, test_copies: true}" \
 --set "models.mlp_u={$MLP, init: uniform}" \
 --set "models.mlp_tta_u={$MLP, test_copies: true, init: uniform}" \
 --set "experiments=[{features: [egemaps], models: [mlp, mlp_u, cnn1d, svm_speaker_val, logreg_speaker_val], protocols: [emobox_6fold]}, {features: [acoustic_egemaps], models: [mlp, mlp_u], protocols: [emobox_6fold]}, {features: [egemaps, acoustic, gemaps, acoustic_egemaps], augment: [noisy_pitch_stretch], models: [mlp_tta, mlp_tta_u], protocols: [emobox_6fold]}]" \
 --set "ensembles={deep_validated: {members: [$POOL, $CLASSIC], choose: forward, bags: 50, protocols: [emobox_6fold]}, deep_validated_uniform: {members: [$TWINS, $CLASSIC], choose: forward, bags: 50, protocols: [emobox_6fold]}}" \
 "$@"
