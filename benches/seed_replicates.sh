#!/bin/bash
# The default pipeline's headline, deep_validated, replicated under other seeds: how far its test
# UA moves when only the networks' seeds (and so their initial weights, batches and validation
# speakers) change (issue 27).
#   bash benches/seed_replicates.sh [ser run options]          (trains the replicates)
#   python3 benches/seed_replicates.py [ser options]           (their UAs, the mean and spread)
#   SER_COMMAND=compare bash benches/seed_replicates.sh A B    (or metrics)
#   SER_SEEDS="0 5 10 15" by default.
#   SER_PIPELINE=pipeline-full.yaml: the same for pipeline-full's deep_validated (its MLPs' 200
#   epochs and patience 30, its extraction; as benches/full_pool.sh, without cnn1d).
# Run from the project root on the pipeline's cache.
#
# Declared on 2026-12-07, before any replicate was trained. A measurement, not a rule: nothing in
# pipeline.yaml is chosen from it, whichever way it comes out.
# - replicate S: deep_validated's pool as pipeline.yaml has it (its six MLPs, settings unchanged,
#   networks 5, and its two classic members), with every MLP's networks on seeds S to S+4 and the
#   classic members' validation fits on the same seeds (`validation: {seeds: 5, seed: S}`), so
#   the members still share their validation speakers. Replicate 0 is the shipped pool: the same
#   cached nodes as `ser run` (it must train nothing). The ensemble's 50 bags keep their seed.
# - what is reported: each replicate's test UA with its interval over speakers, the mean and
#   range over replicates, and each replicate against svm_speaker (the best classic model, which
#   has no seed), all looked at once, after every replicate has trained.
# - SER_PIPELINE=pipeline-full.yaml added the same day, after pipeline.yaml's replicates were
#   read and before any of pipeline-full's trained: the same measurement of its 0.726.
# - since session 42 (2026-12-07) pipeline.yaml's acoustic members read `acoustic_deltas` and its
#   union (benches/deltas_budget.sh, which declared this measurement of the new pool before its
#   run): the script names the pool's acoustic sets as each pipeline does. The replicates of the
#   pool before it ran at commit bd2ed68.
PIPELINE="${SER_PIPELINE:-pipeline.yaml}"
if [ "$PIPELINE" = pipeline-full.yaml ]; then
  BUDGET="epochs: 200, patience: 30"
  # eGeMAPS without frames, as benches/full_pool.sh extracts it.
  FRAMES=""
  # Every acoustic cell has deltas there (extract_per_set).
  ACOUSTIC=acoustic
else
  BUDGET="epochs: 60, patience: 12"
  # cnn1d (cached, no ensemble reads it): eGeMAPS is extracted with its frames, as pipeline.yaml does.
  FRAMES="cnn1d, "
  ACOUSTIC=acoustic_deltas
fi
UNION="${ACOUSTIC}_egemaps"
MLP="kind: mlp, hidden: 256, layers: 2, dropout: 0.5, $BUDGET, networks: 5, normalize: speaker, aux_gender: 0.5, init: uniform"
SVM="kind: svm, c: 1.0, class_weight: balanced, normalize: speaker, probability: true"
LOGREG="kind: logistic_regression, alpha: 1.0, max_iterations: 300, normalize: speaker"
sets=()
experiments="{features: [egemaps], models: [${FRAMES}svm_speaker], protocols: [emobox_6fold]}"
ensembles=""
for s in ${SER_SEEDS:-0 5 10 15}; do
  sets+=(--set "models.mlp_s$s={$MLP, seed: $s}"
         --set "models.mlp_tta_s$s={$MLP, seed: $s, test_copies: true}"
         --set "models.svm_val_s$s={$SVM, validation: {seeds: 5, seed: $s}}"
         --set "models.logreg_val_s$s={$LOGREG, validation: {seeds: 5, seed: $s}}")
  experiments+=", {features: [egemaps], models: [mlp_s$s, svm_val_s$s, logreg_val_s$s], protocols: [emobox_6fold]}"
  experiments+=", {features: [$UNION], models: [mlp_s$s], protocols: [emobox_6fold]}"
  experiments+=", {features: [egemaps, $ACOUSTIC, gemaps, $UNION], augment: [noisy_pitch_stretch], models: [mlp_tta_s$s], protocols: [emobox_6fold]}"
  # In pipeline.yaml's order: forward selection breaks ties by the member listed first.
  pool="egemaps/none/mlp_s$s, egemaps+noisy_pitch_stretch/none/mlp_tta_s$s, $ACOUSTIC+noisy_pitch_stretch/none/mlp_tta_s$s, gemaps+noisy_pitch_stretch/none/mlp_tta_s$s, $UNION+noisy_pitch_stretch/none/mlp_tta_s$s, $UNION/none/mlp_s$s, egemaps/none/svm_val_s$s, egemaps/none/logreg_val_s$s"
  ensembles+="${ensembles:+, }deep_validated_s$s: {members: [$pool], choose: forward, bags: 50, protocols: [emobox_6fold]}"
done
ser "${SER_COMMAND:-run}" -p "$PIPELINE" "${sets[@]}" \
 --set "experiments=[$experiments]" \
 --set "ensembles={$ensembles}" \
 "$@"
