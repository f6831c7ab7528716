#!/usr/bin/env bash
# `make bench-trainer` on one GPU, in calls that each fit a 10-minute device limit. Records: results/bench/trainer/.
# On a bare GPU machine: source scripts/gpu/setup.sh first (wheels, MiniLM, SST-2/RTE data, the BERT tokenizer).
# BERT-base shape 32 x <=128, eager vs compiled, 3 interleaved rounds, two methods a call (one round of five
# methods, eager and compiled, took 377 s on an H100):
#   bash scripts/gpu/bench_trainer.sh core-krona     LoRA and KronA
#   bash scripts/gpu/bench_trainer.sh core-adakron   Pfeiffer and AdaKron (Pfeiffer the reference)
#   bash scripts/gpu/bench_trainer.sh core-full      LoRA and full fine-tuning
#   bash scripts/gpu/bench_trainer.sh minilm   MiniLM on SST-2 (full, LoRA, KronA, AdaKron), eager vs compiled
#   bash scripts/gpu/bench_trainer.sh shapes   KronA Table 9's seven factor shapes vs LoRA at 32 x 128 and the
#                                              methods at 64 x <=256, compiled only, 3 rounds
# Then: python -m kronbench.tables --results results (writes results/tables/bench_trainer_<scenario>.md).
set -euo pipefail
PY=${PY:-python}
case "${1:-core-krona}" in
  core-krona) $PY -m kronbench.bench_trainer output_dir=results/bench "scenarios_to_run=[bert-base-rte]" \
                "methods_to_run=[lora, krona]" ;;
  core-adakron) $PY -m kronbench.bench_trainer output_dir=results/bench "scenarios_to_run=[bert-base-rte]" \
                  "methods_to_run=[pfeiffer, adakron]" scenarios.bert-base-rte.reference=pfeiffer ;;
  core-full) $PY -m kronbench.bench_trainer output_dir=results/bench "scenarios_to_run=[bert-base-rte]" \
               "methods_to_run=[lora, full]" ;;
  minilm) $PY -m kronbench.bench_trainer output_dir=results/bench "scenarios_to_run=[minilm-sst2]" ;;
  shapes) $PY -m kronbench.bench_trainer output_dir=results/bench "modes=[compiled]" \
            "scenarios_to_run=[bert-base-table9-32x128, bert-base-rte-64x256]" ;;
  *) echo "usage: $0 core-krona|core-adakron|core-full|minilm|shapes" >&2; exit 2 ;;
esac
