"""How one run's batch is laid out over processes, and the `Accelerator` that runs it.

`train.batch_size` is the batch of the paper's protocol: the samples behind one optimizer step, whatever the
number of processes. Each process loads `batch_size / (num_processes × grad_accum)` samples per forward pass, so
one process, `accelerate launch --num_processes N` and `torchrun` run the same epochs, optimizer steps, warmup and
learning-rate schedule, and each optimizer step sees the same samples (accelerate's sharded sampler hands process
k the k-th slice of every global batch).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

from accelerate import Accelerator, DataLoaderConfiguration

from kronbench.config import TrainConfig
from kronbench.tracking import requested_trackers


@dataclass(frozen=True)
class BatchLayout:
    """Per-device batch × processes × accumulation steps = global batch (`train.batch_size`)."""

    num_processes: int
    per_device_batch_size: int
    grad_accum: int
    global_batch_size: int

    @classmethod
    def of(cls, cfg: TrainConfig, num_processes: int) -> BatchLayout:
        """The layout of `cfg` on `num_processes` processes; ValueError naming the values when it does not divide."""
        per_step = num_processes * cfg.grad_accum
        if cfg.batch_size % per_step:
            raise ValueError(
                f"train.batch_size={cfg.batch_size} is the global batch and must be divisible by "
                f"num_processes={num_processes} × train.grad_accum={cfg.grad_accum} = {per_step}: "
                f"choose a batch size that is a multiple of {per_step}, or another grad_accum / process count"
            )
        return cls(num_processes, cfg.batch_size // per_step, cfg.grad_accum, cfg.batch_size)

    def as_record(self) -> dict[str, Any]:
        return asdict(self)


def make_accelerator(cfg: TrainConfig, project_dir: str | None = None) -> Accelerator:
    """The run's Accelerator: precision, accumulation, and a scheduler the trainer steps once per optimizer step.

    accelerate's default steps a prepared scheduler `num_processes` times per optimizer step (it assumes a
    schedule counted in one-process batches); ours is counted in optimizer steps, so it steps once.
    Pinned batches are copied to the device without blocking the host (`non_blocking`): a blocking copy waits for
    the previous step's kernels, so the host could not queue the next step while the device works.
    """
    accelerator = Accelerator(
        mixed_precision=cfg.mixed_precision,
        dataloader_config=DataLoaderConfiguration(non_blocking=cfg.pin_memory),
        gradient_accumulation_steps=cfg.grad_accum,
        step_scheduler_with_optimizer=False,
        log_with=requested_trackers(cfg) or None,  # kronbench/tracking.py
        project_dir=project_dir,
    )
    launched = int(os.environ.get("WORLD_SIZE", "1"))
    if launched != accelerator.num_processes:  # each process would train alone and race for the record
        raise RuntimeError(
            f"launched as WORLD_SIZE={launched} processes but accelerate runs {accelerator.num_processes}: "
            "without a GPU per process, set ACCELERATE_USE_CPU=1 (CPU processes over gloo)"
        )
    return accelerator


def finish_distributed() -> None:
    """Wait for every process, then close the process group: without it a rank that finishes first can abort at
    exit (its communication threads are still running) while rank 0 is writing the record."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
