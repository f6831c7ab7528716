#!/usr/bin/env bash
# `make bench-trainer` on one GPU, in pieces that each fit a 10-minute device call. Records: results/bench/trainer/.
# On a bare GPU machine: source scripts/gpu/setup.sh first (wheels, MiniLM, CoLA/RTE data, the BERT tokenizer).
# Every piece first compiles its compiled entries in parallel short runs (warm_compile_processes), then times
# 3 interleaved rounds. Measured on an H100: the warm-up of 3 whole-model entries took 91 s, of 2 block entries
# 37 s; after it a BERT-base run of 120 steps takes 17-35 s (eager 25-35, block-compiled 17-22, CUDA graphs 19-22),
# a MiniLM CoLA run of 5 epochs about 45 s. Each piece is sized to fit one call:
#   bash scripts/gpu/bench_trainer.sh core          BERT-base 32 x 128: LoRA, KronA, full FT; eager and CUDA graphs
#   bash scripts/gpu/bench_trainer.sh core-blocks   full FT block-compiled (LoRA and KronA's are committed)
#   bash scripts/gpu/bench_trainer.sh core-adakron  Pfeiffer and AdaKron (Pfeiffer the reference); eager, CUDA graphs
#   bash scripts/gpu/bench_trainer.sh table9-square-32x128 | table9-thin-32x128 | table9-square-64x256 |
#        table9-thin-64x256                         KronA Table 9's factor shapes vs LoRA, CUDA graphs
#   bash scripts/gpu/bench_trainer.sh 64x256        LoRA, KronA, Pfeiffer, AdaKron at 64 x 256, CUDA graphs
#   bash scripts/gpu/bench_trainer.sh minilm-lora | minilm-krona   MiniLM on CoLA, 5 epochs, seeds 0-2, every mode
# Then: python -m kronbench.tables --results results (writes results/tables/bench_trainer_<scenario>.md).
set -euo pipefail
PY=${PY:-python}
BENCH=("$PY" -m kronbench.bench_trainer output_dir=results/bench)
case "${1:-core}" in
  core) "${BENCH[@]}" "scenarios_to_run=[bert-base-rte]" "modes=[eager, cudagraphs]" ;;
  core-blocks) "${BENCH[@]}" "scenarios_to_run=[bert-base-rte]" "methods_to_run=[full]" "modes=[compiled]" ;;
  core-adakron) "${BENCH[@]}" "scenarios_to_run=[bert-base-adakron]" "modes=[eager, cudagraphs]" ;;
  table9-*) "${BENCH[@]}" "modes=[cudagraphs]" "scenarios_to_run=[bert-base-${1}]" ;;
  64x256) "${BENCH[@]}" "modes=[cudagraphs]" "scenarios_to_run=[bert-base-rte-64x256]" ;;
  minilm-lora|minilm-krona) "${BENCH[@]}" "scenarios_to_run=[minilm-cola]" "methods_to_run=[${1#minilm-}]" ;;
  *) echo "usage: $0 core|core-blocks|core-adakron|table9-{square,thin}-{32x128,64x256}|64x256|minilm-lora|minilm-krona" >&2
     exit 2 ;;
esac
