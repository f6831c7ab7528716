#!/usr/bin/env bash
# `make bench-trainer` on GPUs, in pieces that each fit a 10-minute device call. Records: results/bench/trainer/.
# On a bare GPU machine: source scripts/gpu/setup.sh first (wheels, MiniLM, CoLA/RTE data, the BERT tokenizer).
#
# Every run leaves its record under <scenario>/runs/ as it finishes, so a piece cut short by its call's time limit
# is simply run again (on the same machine: its compile cache is warm) and goes on where it stopped; the
# summaries are written when every round of a scenario is there. Order of the pieces for the targets:
#   bash scripts/gpu/bench_trainer.sh test    the CUDA-graph replay against the eager losses (pytest, GPU only)
#   bash scripts/gpu/bench_trainer.sh warm    compile every compiled entry of 32x128, 64x256, minilm once,
#                                             16 short runs at a time (the timed pieces then load the kernels)
#   bash scripts/gpu/bench_trainer.sh 32x128  full FT, LoRA, Pfeiffer, AdaKron, KronA at Table 9's seven factor
#                                             shapes; BERT-base 32 x 128, CUDA graphs, 3 rounds (33 runs)
#   bash scripts/gpu/bench_trainer.sh 64x256  the same at 64 x 256 but full FT (30 runs)
#   bash scripts/gpu/bench_trainer.sh minilm  MiniLM on CoLA, 5 epochs, LoRA and KronA, eager vs CUDA graphs,
#                                             seeds 0-2 (12 runs)
#   bash scripts/gpu/bench_trainer.sh rte     full FT, LoRA, KronA eager vs block-compiled vs CUDA graphs (27 runs)
#   bash scripts/gpu/bench_trainer.sh autotune  LoRA, KronA 32x24, Pfeiffer, AdaKron at 32 x 128 with max-autotune
#                                             (Triton matmuls tuned per shape, CUDA graphs; one warm-up at a time)
#   bash scripts/gpu/bench_trainer.sh all     32x128, 64x256, minilm: side by side, one per GPU, when several
#                                             GPUs are visible; else one after the other
# Measured on an H100 (bench of 2026-12, before compile_eval=false): a BERT-base run of 120 steps took 17-22 s
# block-compiled or as CUDA graphs and 25-35 s eager, nearly all of it loading, tracing and evaluating; a MiniLM CoLA
# run of 5 epochs about 45 s eager. WARM=0 skips a piece's own compile warm-up (after `warm` on the same machine).
# Then: python -m kronbench.tables --results results (writes results/tables/bench_trainer_<scenario>.md).
set -euo pipefail
PY=${PY:-python}
BENCH=("$PY" -m kronbench.bench_trainer output_dir=results/bench "warm_compile_processes=${WARM:-8}")
TARGETS="scenarios_to_run=[bert-base-32x128, bert-base-64x256, minilm-cola]"
case "${1:-}" in
  test) "$PY" -m pytest -q tests/test_compile.py -k cudagraphs -p no:cacheprovider ;;
  warm) "$PY" -m kronbench.bench_trainer output_dir=results/bench "$TARGETS" warm_only=true \
          "warm_compile_processes=${WARM:-16}" ;;
  32x128) "${BENCH[@]}" "scenarios_to_run=[bert-base-32x128]" ;;
  64x256) "${BENCH[@]}" "scenarios_to_run=[bert-base-64x256]" ;;
  minilm) "${BENCH[@]}" "scenarios_to_run=[minilm-cola]" ;;
  rte) "${BENCH[@]}" "scenarios_to_run=[bert-base-rte]" ;;
  autotune) "${BENCH[@]}" "scenarios_to_run=[bert-base-32x128]" "modes=[autotune]" \
              "methods_to_run=[lora, krona_32x24, pfeiffer, adakron]" "warm_compile_processes=${WARM:-1}" ;;
  all) gpus=$("$PY" -c "import torch; print(torch.cuda.device_count())")
       if [ "$gpus" -gt 1 ]; then "${BENCH[@]}" "$TARGETS" devices=all; else "${BENCH[@]}" "$TARGETS"; fi ;;
  *) echo "usage: $0 test|warm|32x128|64x256|minilm|rte|autotune|all" >&2
     exit 2 ;;
esac
