#!/bin/bash
# Deltas beside the ten functionals of librosa's descriptors, for deep_validated's two acoustic copy
# MLPs (the acoustic set's `mlp_tta` and the acoustic + eGeMAPS union's, on noisy_pitch_stretch), on
# validation speakers only: a member-level study that chooses what a later pool rule may try, no
# test UA.
#   bash benches/ten_deltas.sh --validation [ser run options]   (validation UAs only)
#   python3 benches/ten_deltas.py [--ser ser] [ser options]     (per fold, and the decision)
# Run from the project root on the default pipeline's cache (the shipped cells are cached there).
#
# Declared on 2026-12-06, committed before this variant was extracted:
# - why: benches/acoustic_functionals.sh measured the two additions one at a time on the five
#   functionals (union's mean validation UA: ten 0.6945, deltas 0.6874, five 0.6836); ten then
#   shipped by benches/ten_functionals.sh's rule. Whether deltas still add on top of ten was not
#   measured.
# - the variant: `deltas` (extract.deltas: 1: the ten functionals of every descriptor and of its
#   delta, 2580 acoustic columns). Nothing else changes: the MLP's settings, the copies and eGeMAPS
#   are pipeline.yaml's.
# - the measure: the union's mlp_tta, mean over the 6 emobox folds of the validation UA (recorded
#   utterances of the speakers its five networks hold out, each predicted with its copies), against
#   the shipped cell (cached); the acoustic set's mlp_tta printed beside it, not used.
# - what it decides: if the variant's mean is above the shipped cell's, it is the extraction a
#   later session's pool rule (deep_validated with its acoustic and union members on it, judged on
#   held-out validation halves as benches/ten_functionals.py) may try; else no such rule. Nothing
#   in pipeline.yaml changes on this study alone.
run() {
 ser "${SER_COMMAND:-run}" \
  --set "experiments=[{features: [acoustic, acoustic_egemaps], augment: [noisy_pitch_stretch], models: [mlp_tta], protocols: [emobox_6fold]}]" \
  --set "ensembles={}" \
  "$@"
}
# An extraction setting is global, so each is its own run: `VARIANT=deltas|shipped`.
case "${VARIANT:-deltas}" in
 shipped) run "$@" ;;
 deltas) run --set "extract.deltas=1" "$@" ;;
esac
