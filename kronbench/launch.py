"""Sweeps over every GPU of a node: Hydra's joblib launcher runs the workers, this callback pins each to one GPU.

`conf/hydra/launcher/parallel.yaml` starts `n_jobs` = GPUs × `runs_per_gpu` worker processes and registers
:class:`PinGpus`. At its first job, a worker leases a slot — an exclusive `flock` on `slot-<k>.lock` in the
sweep folder, held until the worker exits, so two live workers never share a slot whatever order joblib hands
out jobs in — and sets `CUDA_VISIBLE_DEVICES` to GPU `k mod N` before anything touches CUDA. Every later job of
that worker runs on the same GPU (CUDA reads the variable once per process). Slots 0..N-1 take one GPU each, so
a sweep smaller than the node still spreads out. Records name the GPU in `env.cuda_visible_devices`.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from pathlib import Path
from typing import IO, Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger("kronbench")


def visible_gpus() -> list[str]:
    """The GPUs this process may use, as `CUDA_VISIBLE_DEVICES` entries: the inherited list, else all of them."""
    inherited = os.environ.get("CUDA_VISIBLE_DEVICES")
    if inherited is not None:
        return [d.strip() for d in inherited.split(",") if d.strip() and d.strip() != "-1"]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


def sweep_workers(runs_per_gpu: int, gpus: list[str] | None = None) -> int:
    """Worker processes for a node sweep: `runs_per_gpu` per GPU (on a machine without GPU: `runs_per_gpu`)."""
    if runs_per_gpu < 1:
        raise ValueError(f"runs_per_gpu={runs_per_gpu} must be >= 1")
    count = len(visible_gpus() if gpus is None else gpus)
    return runs_per_gpu * max(1, count)


def gpu_for_slot(slot: int, gpus: list[str]) -> str:
    """Slot k runs on GPU k mod N: the first N slots take one GPU each, then a second run per GPU, and so on."""
    return gpus[slot % len(gpus)]


class SlotLease:
    """An exclusive lease on one of `slots` numbered slots in `folder`, held by an open file's `flock`.

    The lock belongs to the open file: it is released by :meth:`release` or when the process dies, however it dies.
    """

    def __init__(self, slot: int, handle: IO[str]) -> None:
        self.slot = slot
        self.handle = handle

    @classmethod
    def acquire(cls, folder: Path, slots: int, wait_s: float = 600.0, poll_s: float = 0.5) -> SlotLease:
        """The lowest free slot; waits up to `wait_s` for one to free, then TimeoutError naming the folder."""
        folder.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + wait_s
        while True:
            for slot in range(slots):
                handle = (folder / f"slot-{slot}.lock").open("a")
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    handle.close()
                    continue
                return cls(slot, handle)
            if time.monotonic() >= deadline:
                raise TimeoutError(f"all {slots} slots in {folder} stayed taken for {wait_s:.0f} s")
            time.sleep(poll_s)

    def release(self) -> None:
        self.handle.close()


_process_lease: SlotLease | None = None  # the slot this worker process holds for its lifetime


class PinGpus(Callback):
    """Hydra callback: pins each sweep worker process to one GPU through `CUDA_VISIBLE_DEVICES`.

    `gpus`: the GPUs to spread over (default: those visible when the sweep starts); `slots_dir`: where the slot
    locks live (one folder per sweep). The number of slots is the launcher's `n_jobs`, so every worker finds one.
    """

    def __init__(self, slots_dir: str, runs_per_gpu: int = 1, gpus: list[Any] | None = None) -> None:
        self.slots_dir = Path(slots_dir)
        self.runs_per_gpu = runs_per_gpu
        self.gpus = [str(g) for g in gpus] if gpus is not None else None
        self.slots = 0

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        """In the launching process: fix the GPU list and the slot count before the workers start."""
        if self.gpus is None:
            self.gpus = visible_gpus()
        n_jobs = int(OmegaConf.select(config, "hydra.launcher.n_jobs", default=0) or 0)
        self.slots = n_jobs if n_jobs > 0 else sweep_workers(self.runs_per_gpu, self.gpus)
        if self.gpus:
            log.info(
                "sweep: %d workers over GPUs %s (%s per GPU)",
                self.slots,
                ",".join(self.gpus),
                f"{self.slots / len(self.gpus):g}",
            )

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        """In the worker, before the run: lease a slot (once per process) and pin its GPU."""
        global _process_lease
        if not self.gpus:
            return  # no GPU: nothing to pin
        if _process_lease is None:
            _process_lease = SlotLease.acquire(self.slots_dir, max(self.slots, 1))
        device = gpu_for_slot(_process_lease.slot, self.gpus)
        os.environ["CUDA_VISIBLE_DEVICES"] = device
        log.info("worker pid %d: slot %d, CUDA_VISIBLE_DEVICES=%s", os.getpid(), _process_lease.slot, device)


def register_resolvers() -> None:
    """`${kronbench.sweep_workers:<runs_per_gpu>,<gpus or null>}`: the default `n_jobs` of the node launcher."""
    if not OmegaConf.has_resolver("kronbench.sweep_workers"):
        OmegaConf.register_new_resolver(
            "kronbench.sweep_workers",
            lambda runs, gpus=None: sweep_workers(
                int(runs), None if gpus is None else [str(g) for g in gpus]
            ),
        )
