#!/usr/bin/env bash
# Prepare a bare GPU machine (no network) for kronbench runs: wheels from .whl/, data + MiniLM from .carry/.
# Source it: `source scripts/gpu/setup.sh` (exports PYTHONPATH, DATA_DIR, KRONBENCH_MINILM_PATH).
set -e
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD
mkdir -p /tmp/data && tar -C /tmp/data -xzf .carry/data.tar.gz
export DATA_DIR=/tmp/data KRONBENCH_DATA_DIR=/tmp/data
export KRONBENCH_MINILM_PATH=$PWD/.carry/minilm KRONBENCH_SHARED=$PWD/.carry/shared  # tokenizers for the random-init models
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
set +e
