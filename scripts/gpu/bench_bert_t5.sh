#!/usr/bin/env bash
# `make bench` on one H100 (BERT-base and T5-base shapes), step by step in calls of < 10 minutes (records under
# results/bench/, tarred to $OUT):
#   bash scripts/gpu/bench_bert_t5.sh bert          # factor-shape probe + BERT-base bf16 eager, every method and protocol
#   bash scripts/gpu/bench_bert_t5.sh graph_t5      # profiler summaries (bench_kernel), T5-base bf16 eager
#   bash scripts/gpu/bench_bert_t5.sh infer_compile_fp32  # BERT-base fp32 subset, torch.compile training subset
#   bash scripts/gpu/bench_bert_t5.sh infer         # BERT-base bf16 inference (both protocols), torch.compile batch-1 subset
#   bash scripts/gpu/bench_bert_t5.sh rerun         # AdaKron vs Pfeiffer again (*-rerun rows), T5-base training with GPU time
#   bash scripts/gpu/bench_bert_t5.sh adakron_joint # AdaKron with one down GEMM vs Pfeiffer (*-joint rows)
# Needs the Hydra/OmegaConf wheels in .whl/ (carry `.whl`). Each step is time-boxed; every finished setting has
# already written its records. The plan is conf/bench/default.yaml; the overrides below only select parts of it.
set -u
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,memory.used --format=csv,noheader | tee -a "$OUT/gpu.txt"
nproc | tee -a "$OUT/gpu.txt"
bench() { timeout "$1" python -m kronbench.bench output_dir=results/bench "${@:2}" >> "$OUT/bench.log" 2>&1; echo "bench step rc=$?"; }
case "${1:-bert}" in
  bert)
    timeout 60 python -m kronbench.bench_kernel --probe > "$OUT/probe.log" 2>&1; echo "probe rc=$?"
    rm -rf results/bench/bert-base/bf16-eager
    bench 450 models=[bert-base] precisions=[bf16] compile=[false]
    ;;
  graph_t5)
    timeout 150 python -m kronbench.bench_kernel --profile "$OUT/profile_bert-base.json" > "$OUT/profile.log" 2>&1
    echo "profile rc=$?"
    rm -rf results/bench/t5-base
    T5_INFER='[lora, {method: lora, merged: true}, krona, {method: krona, merged: true}, krona_b, {method: krona_b, name: krona_b-factored, overrides: {inference: factored}}, krona_b_res, adakron]'
    bench 290 models=[t5-base] precisions=[bf16] compile=[false] 'factor_sweep.shapes=[[2,384],[32,24]]' \
      'train={batch_size: 32, seq_len: 128, warmup: 5, steps: 30, rounds: 5}' "infer_methods=$T5_INFER" \
      'inference={krona: {batch_size: 1, seq_len: 10, warmup: 30, iters: 50, rounds: 3}}'
    ;;
  infer_compile_fp32)   # (a first try of this step, all in one, ran out of its time box on the bf16 inference)
    rm -rf results/bench/bert-base/fp32-eager results/bench/bert-base/bf16-compile
    bench 80 models=[bert-base] precisions=[fp32] compile=[false] 'train_methods=[full,lora,lokr,krona]' \
      'factor_sweep={shapes: [], methods: []}' 'inference={krona: {batch_size: 1, seq_len: 10, warmup: 150, iters: 200, rounds: 3, profile_calls: 10}}' \
      'infer_methods=[{method: lora, merged: true},krona,{method: krona, merged: true}]'
    bench 200 models=[bert-base] precisions=[bf16] compile=[true] 'train_methods=[full,lora,krona]' \
      'compile_methods=null' 'inference={}'
    ;;
  infer)
    rm -rf results/bench/bert-base/bf16-eager/infer-* results/bench/bert-base/bf16-compile/infer-*
    bench 330 models=[bert-base] precisions=[bf16] compile=[false] train_methods=[] 'factor_sweep={shapes: [], methods: []}' \
      max_resident=9 inference.madakron.profile_calls=0
    bench 150 models=[bert-base] precisions=[bf16] compile=[true] train_methods=[] 'compile_methods=null' \
      'inference={krona: {batch_size: 1, seq_len: 10, warmup: 50, iters: 200, rounds: 3, profile_calls: 10}}' \
      'infer_methods=[{method: krona, merged: true},krona_b,krona_b_res]'
    ;;
  rerun)   # AdaKron after its single-cast change, against Pfeiffer/full/LoRA/KronA of the same process (names *-rerun);
           # T5-base training again, now with GPU kernel time
    R='{method: full, name: full-rerun}, {method: pfeiffer, name: pfeiffer-rerun}, {method: adakron, name: adakron-rerun}'
    R="$R, {method: madakron_partial, name: madakron_partial-rerun}, {method: lora, name: lora-rerun}, {method: krona, name: krona-rerun}"
    bench 130 models=[bert-base] precisions=[bf16] compile=[false] "train_methods=[$R]" 'factor_sweep={shapes: [], methods: []}' 'inference={}'
    rm -rf results/bench/t5-base/bf16-eager/train
    bench 250 models=[t5-base] precisions=[bf16] compile=[false] 'factor_sweep.shapes=[[2,384],[32,24]]' \
      'train={batch_size: 32, seq_len: 128, warmup: 5, steps: 30, rounds: 5}' 'inference={}'
    ;;
  adakron_joint)   # AdaKron with D_c/D_v as one GEMM, against Pfeiffer / full / MAdaKron of the same process (*-joint)
    R='{method: full, name: full-joint}, {method: pfeiffer, name: pfeiffer-joint}, {method: adakron, name: adakron-joint}'
    R="$R, {method: madakron_partial, name: madakron_partial-joint}"
    bench 150 models=[bert-base] precisions=[bf16] compile=[false] "train_methods=[$R]" 'factor_sweep={shapes: [], methods: []}' 'inference={}'
    ;;
esac
grep "\[bench\]" "$OUT/bench.log" | cut -c1-160
python -m kronbench.bench --render output_dir=results/bench > "$OUT/bench_tables.md" 2>&1
tar -czf "$OUT/bench_records.tar.gz" results/bench
