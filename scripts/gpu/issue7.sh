#!/usr/bin/env bash
# Issue 7 (`make bench`) on one H100, ≤ 8 minutes: training / inference speed, memory and FLOPs of every method,
# BERT-base and T5-base shapes (random weights), records under results/bench/ (see docs/BENCH.md).
# Needs the Hydra/OmegaConf wheels in .whl/ (carry `.whl`); from the repo root on the GPU machine:
#   bash scripts/gpu/issue7.sh            # then copy results/bench/ back (it is also tarred to $OUT if set)
# The plan is conf/bench/default.yaml trimmed to the 8-minute budget by the overrides below: bf16 for everything
# (both models, Table-9 sweep, both inference protocols); fp32 and torch.compile for the reference set only.
set -u
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1
nvidia-smi --query-gpu=name,memory.used,clocks.sm,clocks.max.sm --format=csv,noheader
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
run() { timeout "$1" python -m kronbench.bench "${@:2}" 2>&1 | tee -a "$OUT/bench.log"; }
# 1. bf16 eager: every method, both models, the Table-9 sweep, both inference protocols
run 300 precisions=[bf16] compile=[false]
# 2. fp32 (TF32 matmuls) eager and bf16 torch.compile: reference set (full, lora, krona, krona_b) on BERT-base
run 80 models=[bert-base] precisions=[fp32] compile=[false] 'only=[lora,lora-merged,krona,krona-merged,krona_b]'
run 90 models=[bert-base] precisions=[bf16] compile=[true] 'only=[lora,krona,krona-merged]' inference.madakron.iters=5
python -m kronbench.bench --render > "$OUT/bench_tables.md"
tar -czf "$OUT/bench_records.tar.gz" results/bench
