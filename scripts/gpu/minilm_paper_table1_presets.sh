#!/usr/bin/env bash
# The papers' Table 1 presets at scale=local (MiniLM, local GLUE data) on CoLA, MRPC, STS-B and RTE, seed 0, to see
# every method learn: MAdaKron Table 1 (BERT block, 14 methods, authors' protocol, shortened to 10 epochs: the
# deviation train.epochs=10 is recorded) and KronA Table 1 (9 methods, the paper's full 20 epochs: with batch 100
# and 500 warmup steps a shorter run never reaches the peak lr). 56 + 36 runs; several share one GPU.
# Records go to the committed results/ (output_dir=results). On a bare GPU machine: source scripts/gpu/setup.sh first.
# Run: bash scripts/gpu/minilm_paper_table1_presets.sh
set -euo pipefail
PY=${PY:-python}
RUNS_PER_GPU=${RUNS_PER_GPU:-8}
TASKS=(cola mrpc stsb rte)
KRONA_METHODS=(full bitfit houlsby lora compacter parallel_adapter krona krona_b krona_b_res)
cells=$(for m in "${KRONA_METHODS[@]}"; do for t in "${TASKS[@]}"; do printf 'krona_paper/%s/%s,' "$m" "$t"; done; done)
$PY -m kronbench -m experiment=madakron_table1_glue_bert scale=local seed=0 train.epochs=10 \
  experiment/part/setup=a1_bert/cola,a1_bert/mrpc,a1_bert/stsb,a1_bert/rte \
  hydra/launcher=parallel hydra.callbacks.pin_gpus.runs_per_gpu="$RUNS_PER_GPU" output_dir=results
$PY -m kronbench -m experiment=krona_table1_glue scale=local seed=0 "experiment/part/cell=${cells%,}" \
  hydra/launcher=parallel hydra.callbacks.pin_gpus.runs_per_gpu="$RUNS_PER_GPU" output_dir=results
$PY -m kronbench.tables --results results
