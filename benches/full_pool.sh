#!/bin/bash
# pipeline-full.yaml's deep_validated and its eight members alone, at pipeline-full's budgets (the
# MLPs' 200 epochs): the file's best experiment without its frame, spectrogram and waveform
# networks, which are GPU-sized on 2 cores and in no pool.
#   bash benches/full_pool.sh [ser run options, e.g. --cache-dir DIR]
#   SER_COMMAND=compare bash benches/full_pool.sh A B   (or metrics)
# The pool below is pipeline-full.yaml's deep_validated, written again because the file's other
# ensemble (deep_egemaps) names networks this run leaves out.
POOL="egemaps/none/mlp, egemaps+noisy_pitch_stretch/none/mlp_tta, acoustic+noisy_pitch_stretch/none/mlp_tta, gemaps+noisy_pitch_stretch/none/mlp_tta, acoustic_egemaps+noisy_pitch_stretch/none/mlp_tta, acoustic_egemaps/none/mlp, egemaps/none/svm_speaker_val, egemaps/none/logreg_speaker_val"
ser "${SER_COMMAND:-run}" -p pipeline-full.yaml \
 --set "experiments=[{features: [egemaps], models: [mlp, svm_speaker_val, logreg_speaker_val], protocols: [emobox_6fold]}, {features: [acoustic_egemaps], models: [mlp], protocols: [emobox_6fold]}, {features: [egemaps, acoustic, gemaps, acoustic_egemaps], augment: [noisy_pitch_stretch], models: [mlp_tta], protocols: [emobox_6fold]}]" \
 --set "ensembles={deep_validated: {members: [$POOL], choose: forward, bags: 50, protocols: [emobox_6fold]}}" \
 "$@"
