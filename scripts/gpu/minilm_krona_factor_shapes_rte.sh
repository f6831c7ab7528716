#!/usr/bin/env bash
# KronA factor shapes on MiniLM + GLUE RTE, 4 seeds x 2 shapes of A ((2,384) and (32,24); both divide
# MiniLM's hidden size 384), KronA paper Table 9 preset at scale=local with RTE's Table 16 lr (2e-3). 8 runs.
# Then renders the table: results/tables/krona_factor_shapes_rte_minilm.{md,tex,csv} and the factor-shape plot.
# Run from the repo root on a GPU machine: DATA_DIR=/path/to/shared/data bash scripts/gpu/minilm_krona_factor_shapes_rte.sh
set -euo pipefail
DATA_DIR=${DATA_DIR:-../shared/data}
PY=${PY:-python}
$PY -m kronbench.sweep experiment=krona_table9_factor_shapes scale=local task=glue/rte train=gpu \
  train.lr=2e-3 "data_dir=$DATA_DIR" output_dir=results 'method.factor_shape=[2,384],[32,24]'
$PY -m kronbench -m experiment=krona_table9_factor_shapes scale=local task=glue/rte train=gpu \
  train.lr=2e-3 "data_dir=$DATA_DIR" output_dir=results 'method.factor_shape=[2,384],[32,24]'
$PY -m kronbench.tables --results results
