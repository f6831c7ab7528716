#!/usr/bin/env bash
# Issue 7 (`make bench`) on one H100 in ≤ 8 minutes: speed, memory and FLOPs of every method on BERT-base and
# T5-base shapes (random weights), records under results/bench/ (protocol and tables: docs/BENCH.md).
# Needs the Hydra/OmegaConf wheels in .whl/ (carry `.whl`). From the repo root on the GPU machine:
#   bash scripts/gpu/issue7.sh      # records in results/bench/, also tarred to $OUT/bench_records.tar.gz
# conf/bench/default.yaml is the whole plan; the overrides below trim it to 8 minutes (each step is time-boxed,
# and every finished benchmark has already written its record): bf16 eager everything on BERT-base; on T5-base
# every method's training step, the riskiest Table-9 shapes and batch-1 latency; fp32 (TF32) and torch.compile
# for the reference set on BERT-base.
set -u
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,memory.used --format=csv,noheader | tee "$OUT/gpu.txt"
bench() { timeout "$1" python -m kronbench.bench "${@:2}" >> "$OUT/bench.log" 2>&1; echo "step rc=$?"; }
bench ${T1:-150} models=[bert-base] precisions=[bf16] compile=[false]
bench ${T2:-190} models=[t5-base] precisions=[bf16] compile=[false] 'factor_sweep.shapes=[[2,384],[192,4],[48,16],[32,24]]' \
  'inference={krona: {batch_size: 1, seq_len: 10, warmup: 150, iters: 200, repeats: 1}}' \
  'infer_methods=[{method: lora, merged: true}, krona, {method: krona, merged: true}, krona_b, krona_b_res, adakron]'
bench ${T3:-50} models=[bert-base] precisions=[fp32] compile=[false] 'only=[lora,krona,krona-merged,lokr]' \
  'inference={krona: {batch_size: 1, seq_len: 10, warmup: 150, iters: 200, repeats: 1}}'
bench ${T4:-60} models=[bert-base] precisions=[bf16] compile=[true] 'only=[lora,krona]' 'inference={}'
grep "\[bench\]" "$OUT/bench.log" | cut -c1-140
python -m kronbench.bench --render > "$OUT/bench_tables.md"
tar -czf "$OUT/bench_records.tar.gz" results/bench
