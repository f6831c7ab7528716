#!/usr/bin/env bash
# Prepare a bare GPU machine (no network) for kronbench runs: wheels from .whl/, data + MiniLM from .carry/.
# Source it: `source scripts/gpu/setup.sh` (exports PYTHONPATH, DATA_DIR, KRONBENCH_MINILM_PATH).
# KRONBENCH_MPS=1 also starts CUDA MPS, so that the many small runs of a sweep sharing one GPU run their kernels
# side by side instead of time-slicing whole contexts; it is checked with a CUDA call and stopped if that fails.
set -e
# a warm machine (the next call within its idle time) keeps /tmp: install only when the wheels changed
if ! ls .whl | cmp -s - /tmp/site/.kronbench-wheels; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  ls .whl > /tmp/site/.kronbench-wheels
fi
export PYTHONPATH=/tmp/site:$PWD
# A ../shared-like folder: task data (the presets' scale=local reads $KRONBENCH_SHARED/data) and tokenizers
mkdir -p /tmp/shared/data && tar -C /tmp/shared/data -xzf .carry/data.tar.gz
if [ -d .carry/shared/models ]; then cp -r .carry/shared/models /tmp/shared/; fi
export KRONBENCH_SHARED=/tmp/shared DATA_DIR=/tmp/shared/data KRONBENCH_DATA_DIR=/tmp/shared/data
export KRONBENCH_MINILM_PATH=$PWD/.carry/minilm
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
set +e
if [ "${KRONBENCH_MPS:-0}" = 1 ] && command -v nvidia-cuda-mps-control >/dev/null; then
  export CUDA_MPS_PIPE_DIRECTORY=/tmp/mps-pipe CUDA_MPS_LOG_DIRECTORY=/tmp/mps-log
  mkdir -p "$CUDA_MPS_PIPE_DIRECTORY" "$CUDA_MPS_LOG_DIRECTORY"
  nvidia-cuda-mps-control -d
  if timeout 90 python3 -c "import torch; torch.ones(1, device='cuda').sum().item()"; then
    echo "setup: CUDA MPS running"
  else
    echo quit | nvidia-cuda-mps-control; echo "setup: CUDA MPS failed its check; stopped"
    unset CUDA_MPS_PIPE_DIRECTORY CUDA_MPS_LOG_DIRECTORY
  fi
fi
python3 -c "import torch, datasets, pyarrow, transformers, hydra; print('setup:', torch.__version__, torch.cuda.get_device_name(0), 'datasets', datasets.__version__, 'pyarrow', pyarrow.__version__, 'transformers', transformers.__version__)"
