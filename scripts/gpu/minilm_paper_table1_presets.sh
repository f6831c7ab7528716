#!/usr/bin/env bash
# The papers' Table 1 presets at scale=local (MiniLM, local GLUE data) on CoLA, MRPC, STS-B and RTE, seed 0, to see
# every method learn:
# - MAdaKron Table 1 (BERT block, 14 methods, authors' protocol), shortened from Table A.1's 80-100 epochs to
#   MADAKRON_EPOCHS (default 5; the deviation train.epochs=5 is recorded in each record's experiment section);
# - KronA Table 1 (9 methods), the paper's full 20 epochs: with batch 100 and 500 warmup steps a shorter run never
#   reaches the peak lr on the small tasks.
# 56 + 36 runs; both sweeps run at once, RUNS_PER_GPU runs each per GPU. Records go to the committed results/
# (output_dir=results); records already complete are skipped. On a bare GPU machine: source scripts/gpu/setup.sh.
# Run: bash scripts/gpu/minilm_paper_table1_presets.sh            (PRESETS="madakron" or "krona" runs one sweep)
# Measured (H200, CUDA MPS, RUNS_PER_GPU=16, PRESETS=madakron): TASKS="cola rte" 323 s, TASKS="mrpc stsb" 243 s, so
# each half fits one 10-minute device call.
set -euo pipefail
PY=${PY:-python}
RUNS_PER_GPU=${RUNS_PER_GPU:-8}
MADAKRON_EPOCHS=${MADAKRON_EPOCHS:-5}
TASKS=(${TASKS:-cola mrpc stsb rte})  # TASKS="cola rte" runs a subset
KRONA_METHODS=(full bitfit houlsby lora compacter parallel_adapter krona krona_b krona_b_res)
PRESETS=${PRESETS:-madakron krona}
setups=$(printf 'a1_bert/%s,' "${TASKS[@]}")
cells=$(for m in "${KRONA_METHODS[@]}"; do for t in "${TASKS[@]}"; do printf 'krona_paper/%s/%s,' "$m" "$t"; done; done)
madakron=""
krona=""
if [[ " $PRESETS " == *" madakron "* ]]; then
$PY -m kronbench -m experiment=madakron_table1_glue_bert scale=local seed=0 train.epochs="$MADAKRON_EPOCHS" \
  "experiment/part/setup=${setups%,}" \
  hydra/launcher=parallel hydra.callbacks.pin_gpus.runs_per_gpu="$RUNS_PER_GPU" output_dir=results &
madakron=$!
fi
if [[ " $PRESETS " == *" krona "* ]]; then
$PY -m kronbench -m experiment=krona_table1_glue scale=local seed=0 "experiment/part/cell=${cells%,}" \
  hydra/launcher=parallel hydra.callbacks.pin_gpus.runs_per_gpu="$RUNS_PER_GPU" output_dir=results &
krona=$!
fi
status=0
for pid in $madakron $krona; do wait "$pid" || status=$?; done
$PY -m kronbench.tables --results results
exit $status
