#!/bin/bash
# More statistics of librosa's descriptors for deep_validated's two acoustic copy MLPs (the acoustic
# set's `mlp_tta` and the acoustic + eGeMAPS union's, on noisy_pitch_stretch), on validation speakers
# only: a member-level study that chooses what a later pool rule may try, no test UA.
#   bash benches/acoustic_functionals.sh --validation [ser run options]   (validation UAs only)
#   python3 benches/acoustic_functionals.py [--ser ser] [ser options]   (per fold, and the decision)
# Run from the project root on the default pipeline's cache (the shipped cells are cached there).
#
# Declared on 2026-12-06, committed before any of these variants was extracted:
# - why: the acoustic set's 129 descriptors enter every model as five statistics (mean, std, min,
#   max, range: the reference tables'); skew, kurtosis and percentiles, and deltas, are built and
#   held to scipy's and librosa's numbers but were never tried on a model. The union's MLP carries
#   the largest weight in deep_validated in every fold.
# - the variants: `ten` (extract.functionals: all ten, mean to p99) and `deltas` (extract.deltas: 1,
#   the five functionals of every descriptor and of its delta). Nothing else changes: the MLP's
#   settings, the copies and eGeMAPS are pipeline.yaml's.
# - the measure: the union's mlp_tta, mean over the 6 emobox folds of the validation UA (recorded
#   utterances of the speakers its five networks hold out, each predicted with its copies), against
#   the shipped cell (cached); the acoustic set's mlp_tta printed beside it, not used.
# - what it decides: the variant with the higher mean, if it is above the shipped cell's, is the
#   extraction a later session's pool rule (deep_validated with its acoustic and union members on
#   it, judged on held-out validation halves as benches/stretch_copies.py) may try; if neither is
#   above, no such rule. Nothing in pipeline.yaml changes on this study alone.
VARIANT_SETS=(
 "extract.functionals=[mean, std, min, max, range, skew, kurtosis, p01, p50, p99]"
 "extract.deltas=1"
)
run() {
 ser "${SER_COMMAND:-run}" \
  --set "experiments=[{features: [acoustic, acoustic_egemaps], augment: [noisy_pitch_stretch], models: [mlp_tta], protocols: [emobox_6fold]}]" \
  --set "ensembles={}" \
  "$@"
}
# A variant's extraction is global, so each is its own run: `VARIANT=ten|deltas|shipped`.
case "${VARIANT:-all}" in
 shipped) run "$@" ;;
 ten) run --set "${VARIANT_SETS[0]}" "$@" ;;
 deltas) run --set "${VARIANT_SETS[1]}" "$@" ;;
 all) VARIANT=ten bash "$0" "$@" && VARIANT=deltas bash "$0" "$@" ;;
esac
