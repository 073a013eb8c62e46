#!/bin/bash
# deep_validated with its acoustic and union copy MLPs on all ten functionals of librosa's
# descriptors (extract.functionals: mean, std, min, max, range, skew, kurtosis, p01, p50, p99),
# decided on validation speakers only.
#   bash benches/ten_functionals.sh --set 'ensembles={}' --validation   (the members; no test UA)
#   python3 benches/ten_functionals.py [--ser ser] [ser options]    (step 1: the decision)
#   bash benches/ten_functionals.sh [ser run options]               (step 2)
#   SER_COMMAND=compare bash benches/ten_functionals.sh A B         (or metrics)
# Run from the project root on the default pipeline's cache. An extraction setting is global to a
# run: this script runs the pool on the ten functionals; the shipped pool is pipeline.yaml's own.
#
# Declared on 2026-12-06 for a later session, committed before any pool with these members was
# scored (benches/stretch_copies.sh's rule kept anything else off the pool in the session that
# wrote this). Not tuned after it:
# - why: benches/acoustic_functionals.sh's study, on validation speakers only: the union's
#   mlp_tta had mean validation UA 0.6945 on the ten functionals against 0.6836 on the five
#   (higher in 5 of 6 folds), deltas 0.6874; its declared rule took the higher mean, ten. The
#   acoustic set's mlp_tta: 0.6584 against 0.6437.
# - step 1, validation only: `python3 benches/ten_functionals.py` splits each fold's validation
#   speakers in two halves as benches/stretch_copies.py does; bagged forward selection (50)
#   chooses on one half from the shipped pool and from the pool with its three members on the
#   acoustic set (its and the union's mlp_tta, the union's mlp without copies) on the ten
#   functionals (the other five unchanged), each scored (UA) on the other half: 12 differences.
# - the rule: if the ten-functionals pool's mean is above the shipped pool's, pipeline.yaml's and
#   pipeline-full.yaml's extract.functionals become the ten. That moves every cell on the acoustic
#   set, the classic matrix's too; their new UAs are reported, none is undone. Else nothing
#   changes.
# - step 2, after the decision: this script runs deep_validated on the ten functionals; its test
#   UA and the shipped deep_validated's (`ser metrics` without this script) are looked at once,
#   after, and reported whichever way step 1 went, with the two members' own. If it ships, the
#   default pipeline's cold run is measured again. Nothing else is tried on the pool in that
#   session.
POOL="egemaps/none/mlp, egemaps+noisy_pitch_stretch/none/mlp_tta, acoustic+noisy_pitch_stretch/none/mlp_tta, gemaps+noisy_pitch_stretch/none/mlp_tta, acoustic_egemaps+noisy_pitch_stretch/none/mlp_tta, acoustic_egemaps/none/mlp, egemaps/none/svm_speaker_val, egemaps/none/logreg_speaker_val"
ser "${SER_COMMAND:-run}" \
 --set "extract.functionals=[mean, std, min, max, range, skew, kurtosis, p01, p50, p99]" \
 --set "experiments=[{features: [egemaps], models: [mlp, svm_speaker_val, logreg_speaker_val], protocols: [emobox_6fold]}, {features: [acoustic_egemaps], models: [mlp], protocols: [emobox_6fold]}, {features: [egemaps, acoustic, gemaps, acoustic_egemaps], augment: [noisy_pitch_stretch], models: [mlp_tta], protocols: [emobox_6fold]}]" \
 --set "ensembles={deep_validated: {members: [$POOL], choose: forward, bags: 50, protocols: [emobox_6fold]}}" \
 "$@"
