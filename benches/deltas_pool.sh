#!/bin/bash
# deep_validated with its acoustic and union copy MLPs and the union's MLP without copies on the
# ten functionals of librosa's descriptors and of their deltas (extract.deltas: 1), decided on
# validation speakers only, with the default pipeline's cold run as a second condition.
#   bash benches/deltas_pool.sh --set 'ensembles={}' --validation   (the members; no test UA)
#   python3 benches/deltas_pool.py [--ser ser] [ser options]     (step 1: the decision)
#   bash benches/deltas_pool.sh [ser run options]                (step 3)
# Run from the project root on the default pipeline's cache, after `ser run`. An extraction setting
# is global to a run: this script runs the pool with deltas; the shipped pool is pipeline.yaml's.
#
# Declared on 2026-12-06 for a later session, committed before any pool with these members was
# scored (benches/ten_functionals.sh's rule kept anything else off the pool in the session that
# wrote this). Not tuned after it:
# - why: benches/ten_deltas.sh's study, on validation speakers only: the union's mlp_tta had mean
#   validation UA 0.7030 with deltas beside the ten functionals against 0.6945 without (higher in 5
#   of 6 folds); the acoustic set's 0.6838 against 0.6584. Its declared rule took deltas. The two
#   copy MLPs' train nodes took about twice as long (2580 acoustic columns instead of 1290), and
#   every acoustic cell of the classic matrix reads twice the columns too.
# - step 1, validation only: `python3 benches/deltas_pool.py` splits each fold's validation
#   speakers in two halves as benches/ten_functionals.py does; bagged forward selection (50)
#   chooses on one half from the shipped pool and from the pool with its three acoustic members
#   (its and the union's mlp_tta, the union's mlp without copies) with deltas (the other five
#   unchanged), each scored (UA) on the other half: 12 differences.
# - step 2, cost, before any test UA of the variant: if step 1's mean is above zero, the default
#   pipeline with extract.deltas: 1 is run cold (`/usr/bin/time -v ser run --set extract.deltas=1
#   --cache-dir <empty>`, nothing else running) and its wall time read.
# - the rule: if step 1's mean is above zero and step 2's cold run is under 30 minutes,
#   pipeline.yaml's and pipeline-full.yaml's extract.deltas become 1 (every acoustic cell moves, the
#   classic matrix's too; their new UAs are reported, none is undone). If step 1 is above zero but
#   the cold run is 30 minutes or more, only pipeline-full.yaml's does (it has no time target), and
#   pipeline.yaml is unchanged. Else nothing changes.
# - step 3, after the decision: this script runs deep_validated with deltas; its test UA and the
#   shipped deep_validated's are compared once, after (`ser compare X X --set-b extract.deltas=1`,
#   or the reverse once shipped), and reported whichever way step 1 went, with the three members'
#   own. Nothing else is tried on the pool in that session.
POOL="egemaps/none/mlp, egemaps+noisy_pitch_stretch/none/mlp_tta, acoustic+noisy_pitch_stretch/none/mlp_tta, gemaps+noisy_pitch_stretch/none/mlp_tta, acoustic_egemaps+noisy_pitch_stretch/none/mlp_tta, acoustic_egemaps/none/mlp, egemaps/none/svm_speaker_val, egemaps/none/logreg_speaker_val"
ser "${SER_COMMAND:-run}" \
 --set "extract.deltas=1" \
 --set "experiments=[{features: [egemaps], models: [mlp, svm_speaker_val, logreg_speaker_val], protocols: [emobox_6fold]}, {features: [acoustic_egemaps], models: [mlp], protocols: [emobox_6fold]}, {features: [egemaps, acoustic, gemaps, acoustic_egemaps], augment: [noisy_pitch_stretch], models: [mlp_tta], protocols: [emobox_6fold]}]" \
 --set "ensembles={deep_validated: {members: [$POOL], choose: forward, bags: 50, protocols: [emobox_6fold]}}" \
 "$@"
