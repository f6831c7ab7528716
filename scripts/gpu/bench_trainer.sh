#!/usr/bin/env bash
# `make bench-trainer` on one GPU, in pieces that each fit a 10-minute device call. Records: results/bench/trainer/.
# On a bare GPU machine: source scripts/gpu/setup.sh first (wheels, MiniLM, CoLA/RTE data, the BERT tokenizer).
# Every piece first compiles its compiled entries in parallel short runs (warm_compile_processes), then times
# 3 interleaved rounds:
#   bash scripts/gpu/bench_trainer.sh core          BERT-base 32 x 128: LoRA, KronA, full FT, eager and compiled
#   bash scripts/gpu/bench_trainer.sh core-adakron  the same for Pfeiffer and AdaKron (Pfeiffer the reference)
#   bash scripts/gpu/bench_trainer.sh table9-32x128 KronA Table 9's seven factor shapes vs LoRA, compiled
#   bash scripts/gpu/bench_trainer.sh table9-64x256 the same at 64 x 256
#   bash scripts/gpu/bench_trainer.sh 64x256        LoRA, KronA, Pfeiffer, AdaKron at 64 x 256, compiled
#   bash scripts/gpu/bench_trainer.sh minilm        MiniLM on CoLA, 5 epochs, seeds 0-2: LoRA and KronA
# Then: python -m kronbench.tables --results results (writes results/tables/bench_trainer_<scenario>.md).
set -euo pipefail
PY=${PY:-python}
BENCH=("$PY" -m kronbench.bench_trainer output_dir=results/bench)
case "${1:-core}" in
  core) "${BENCH[@]}" "scenarios_to_run=[bert-base-rte]" ;;
  core-adakron) "${BENCH[@]}" "scenarios_to_run=[bert-base-adakron]" ;;
  table9-32x128) "${BENCH[@]}" "modes=[compiled]" "scenarios_to_run=[bert-base-table9-32x128]" ;;
  table9-64x256) "${BENCH[@]}" "modes=[compiled]" "scenarios_to_run=[bert-base-table9-64x256]" ;;
  64x256) "${BENCH[@]}" "modes=[compiled]" "scenarios_to_run=[bert-base-rte-64x256]" ;;
  minilm) "${BENCH[@]}" "scenarios_to_run=[minilm-cola]" ;;
  *) echo "usage: $0 core|core-adakron|table9-32x128|table9-64x256|64x256|minilm" >&2; exit 2 ;;
esac
