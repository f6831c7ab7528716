#!/usr/bin/env bash
# Issue 7, inference only (KronA paper App. C: batch 1, sequence 10, 150 warm-up, 200 timed, 3 repeats), bf16 eager,
# BERT-base and T5-base: base vs merged-and-unloaded KronA / LoRA, and the unmergeable KronA^B, KronA^B_res, AdaKron.
# Run from the repo root on a GPU machine (carry .whl): bash scripts/gpu/issue7_inference.sh
set -u
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
timeout 240 python -m kronbench.bench models=[bert-base,t5-base] precisions=[bf16] compile=[false] flops=false \
  train_methods=[] 'factor_sweep={shapes: [], methods: []}' \
  'inference={krona: {batch_size: 1, seq_len: 10, warmup: 150, iters: 200, repeats: 3}}' \
  'infer_methods=[{method: lora, merged: true}, {method: krona, merged: true}, krona_b, krona_b_res, adakron]' \
  2>&1 | grep "\[bench\]" | tee "$OUT/inference.log"
tar -czf "$OUT/bench_inference.tar.gz" results/bench
