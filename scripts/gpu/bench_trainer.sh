#!/usr/bin/env bash
# `make bench-trainer` on one GPU, in calls that each fit a 10-minute device limit. Records: results/bench/trainer/.
# On a bare GPU machine: source scripts/gpu/setup.sh first (wheels, MiniLM, SST-2/RTE data, the BERT tokenizer).
#   bash scripts/gpu/bench_trainer.sh core     BERT-base shape 32 x <=128 (full, LoRA, KronA, Pfeiffer, AdaKron),
#                                              eager vs compiled, 3 interleaved rounds
#   bash scripts/gpu/bench_trainer.sh minilm   MiniLM on SST-2 (full, LoRA, KronA, AdaKron), eager vs compiled
#   bash scripts/gpu/bench_trainer.sh shapes   KronA Table 9's seven factor shapes vs LoRA at 32 x 128 and the
#                                              methods at 64 x <=256, compiled only, 3 rounds
# Then: python -m kronbench.tables --results results (writes results/tables/bench_trainer_<scenario>.md).
set -euo pipefail
PY=${PY:-python}
case "${1:-core}" in
  core) $PY -m kronbench.bench_trainer output_dir=results/bench "scenarios_to_run=[bert-base-rte]" ;;
  minilm) $PY -m kronbench.bench_trainer output_dir=results/bench "scenarios_to_run=[minilm-sst2]" ;;
  shapes) $PY -m kronbench.bench_trainer output_dir=results/bench "modes=[compiled]" \
            "scenarios_to_run=[bert-base-table9-32x128, bert-base-rte-64x256]" ;;
  *) echo "usage: $0 core|minilm|shapes" >&2; exit 2 ;;
esac
