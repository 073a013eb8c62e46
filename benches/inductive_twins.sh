#!/bin/bash
# Inductive twins (normalize: speaker_online) of pipeline.yaml's transductive frame networks on
# eGeMAPS LLDs, each with the settings of its twin; run from the project root, on the
# default cache (or --cache-dir) so the transductive cells are reused. docs/performance.md
# ("Inductive against transductive") gives what it measured. Issue 24.
# `inductive_validated` is deep_validated's rule (per fold, the 4 members with the best
# validation UA, on speakers held out of the fold's training speakers) over the inductive
# deep cells only: the twins and pipeline.yaml's mlp_online and mlp_online_grid.
ser run "$@" \
 --set 'models.cnn1d_online={kind: cnn1d, channels: [64, 128], pool_frames: 2, epochs: 20, patience: 6, networks: 3, normalize: speaker_online}' \
 --set 'models.lstm_online={kind: lstm, hidden: 64, layers: 1, pool_frames: 4, max_frames: 60, epochs: 12, patience: 4, normalize: speaker_online}' \
 --set 'models.crnn_online={kind: crnn, channels: [32, 32], hidden: 32, layers: 1, pool_frames: 2, max_frames: 100, epochs: 12, patience: 4, normalize: speaker_online}' \
 --set 'models.attention_lstm_online={kind: attention_lstm, hidden: 64, layers: 1, pool_frames: 4, max_frames: 60, epochs: 12, patience: 4, normalize: speaker_online}' \
 --set 'experiments={features: [egemaps], models: [cnn1d, lstm, crnn, attention_lstm, cnn1d_online, lstm_online, crnn_online, attention_lstm_online, mlp_online, mlp_online_grid], protocols: [emobox_6fold]}' \
 --set 'ensembles={inductive_validated: {members: [egemaps/none/mlp_online, egemaps/none/mlp_online_grid, egemaps/none/cnn1d_online, egemaps/none/lstm_online, egemaps/none/crnn_online, egemaps/none/attention_lstm_online], keep_best: 4, protocols: [emobox_6fold]}}'
