"""GPU kernel time from the PyTorch profiler: how much of a step the device is busy.

`gpu_profile` times a callable (the benches); `StepProfiler` watches a window of the real trainer's optimizer steps
(`train.profile_steps`), so a run's record can set its wall step time beside the kernel time it launched: a step
far above its kernel time is host-bound.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch
from torch.profiler import ProfilerActivity, profile

LAUNCH_APIS = ("cudaLaunchKernel", "cuLaunchKernel", "cudaLaunchKernelExC", "cuLaunchKernelEx")


TOP_KERNELS = 20  # the kernels a step record lists by device time: where one method's kernel time goes
KERNEL_NAME_CHARS = 160


def kernel_summary(prof: profile, calls: int) -> dict[str, Any]:
    """Device kernel ms and kernel launches per call, and the `TOP_KERNELS` kernels by device time (name, µs and
    count per call), from a finished profiler."""
    events = prof.key_averages()
    cuda = torch.autograd.DeviceType.CUDA
    kernels = [e for e in events if e.device_type == cuda and e.self_device_time_total > 0]
    kernel_us = sum(e.self_device_time_total for e in kernels)
    launches = sum(e.count for e in events if e.key in LAUNCH_APIS)
    top = sorted(kernels, key=lambda e: e.self_device_time_total, reverse=True)[:TOP_KERNELS]
    return {
        "gpu_kernel_ms": kernel_us / calls / 1e3,
        "kernel_launches": launches / calls,
        "top_kernels": [
            {
                "name": e.key[:KERNEL_NAME_CHARS],
                "us": round(e.self_device_time_total / calls, 2),
                "count": round(e.count / calls, 2),
            }
            for e in top
        ],
    }


def activities() -> list[ProfilerActivity]:
    return [ProfilerActivity.CPU, *([ProfilerActivity.CUDA] if torch.cuda.is_available() else [])]


def synchronize() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def gpu_profile(fn: Callable[[], Any], calls: int) -> dict[str, Any]:
    """GPU kernel time and kernel launches per call of `fn`: the device's own work, free of the host noise that
    eager wall times carry (a host-bound step waits on Python and launches)."""
    with profile(activities=activities()) as prof:
        for _ in range(calls):
            fn()
        synchronize()
    return kernel_summary(prof, calls)


def warm_up_steps(steps: int) -> int:
    """Steps a timing of `steps` optimizer steps leaves out first (compilation and caches warm up there): the first
    tenth, at least 10 when there are 20 or more."""
    return max(steps // 10, 10 if steps >= 20 else 0)


class StepProfiler:
    """Profiles optimizer steps `first + 1 … first + count` of a training loop (after its warm-up and compile).

    `after_step(step)` is called after every optimizer step; `close()` returns the window's wall ms per step,
    kernel ms per step and launches per step, or None when the window never closed (the run was shorter). An
    evaluation that falls inside the window counts in its wall time (`make bench-trainer` evaluates at the end).
    """

    def __init__(self, count: int, total_steps: int) -> None:
        self.count = max(0, count)
        warm = warm_up_steps(total_steps)
        self.first = max(1, min(warm, total_steps - self.count))  # opened after a step: the first is 1
        self.prof: profile | None = None
        self.started = 0.0
        self.result: dict[str, Any] | None = None

    def after_step(self, step: int) -> None:
        if not self.count or self.result is not None:
            return
        if step == self.first and self.prof is None:
            synchronize()
            self.prof = profile(activities=activities())
            self.prof.__enter__()
            self.started = time.perf_counter()
        elif self.prof is not None and step == self.first + self.count:
            synchronize()
            wall_ms = (time.perf_counter() - self.started) * 1000 / self.count
            self.prof.__exit__(None, None, None)
            summary = kernel_summary(self.prof, self.count)
            self.prof = None
            self.result = {
                "steps": self.count,
                "after_step": self.first,
                "wall_ms_per_step": round(wall_ms, 4),
                "gpu_kernel_ms_per_step": round(summary["gpu_kernel_ms"], 4),
                "kernel_launches_per_step": round(summary["kernel_launches"], 1),
                "wall_over_kernel": round(wall_ms / summary["gpu_kernel_ms"], 3)
                if summary["gpu_kernel_ms"] > 0
                else None,
                "top_kernels": summary["top_kernels"],  # per step: where the kernel time goes
            }

    def close(self) -> dict[str, Any] | None:
        """Stop a window still open (the loop ended inside it) without a result; return the result."""
        if self.prof is not None:
            self.prof.__exit__(None, None, None)
            self.prof = None
        return self.result
