"""Node sweeps: each joblib worker is pinned to one GPU, `runs_per_gpu` workers per GPU (fake devices: no GPU needed)."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf

from kronbench import launch
from kronbench.launch import PinGpus, SlotLease, gpu_for_slot, register_resolvers, sweep_workers
from tests.conftest import CONF_DIR, DATA_DIR, REPO, needs_shared


def test_slots_spread_over_gpus_before_doubling_up():
    gpus = ["0", "1", "2"]
    assert [gpu_for_slot(k, gpus) for k in range(6)] == ["0", "1", "2", "0", "1", "2"]
    assert sweep_workers(2, gpus) == 6 and sweep_workers(1, []) == 1
    with pytest.raises(ValueError, match="runs_per_gpu=0"):
        sweep_workers(0, gpus)


def test_visible_gpus_follow_the_inherited_list(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2, 5,GPU-ab12")
    assert launch.visible_gpus() == ["2", "5", "GPU-ab12"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert launch.visible_gpus() == []


def test_a_slot_is_held_until_released(tmp_path):
    first, second = SlotLease.acquire(tmp_path, 2), SlotLease.acquire(tmp_path, 2)
    assert (first.slot, second.slot) == (0, 1)
    with pytest.raises(TimeoutError, match="all 2 slots"):
        SlotLease.acquire(tmp_path, 2, wait_s=0)
    first.release()
    assert SlotLease.acquire(tmp_path, 2, wait_s=0).slot == 0


def worker(callback: PinGpus, jobs: int, out: multiprocessing.Queue, hold: multiprocessing.Event) -> None:
    """A sweep worker process: several jobs, each reporting the GPU it was pinned to."""
    os.environ.pop("CUDA_VISIBLE_DEVICES", None)
    for _ in range(jobs):
        callback.on_job_start(config=None, task_function=None)
        out.put((os.getpid(), os.environ["CUDA_VISIBLE_DEVICES"]))
    hold.wait(30)  # stay alive (holding the slot) until every worker has been pinned


def test_four_workers_on_two_fake_gpus_are_pinned_two_per_gpu(tmp_path):
    """Four worker processes on two fake GPUs with runs_per_gpu=2: two workers per GPU, each keeping its GPU."""
    callback = PinGpus(slots_dir=str(tmp_path / "slots"), runs_per_gpu=2, gpus=[0, 1])
    callback.on_multirun_start(config=OmegaConf.create({"hydra": {"launcher": {"n_jobs": -1}}}))
    assert callback.slots == 4  # n_jobs -1 (joblib: every CPU) is replaced by GPUs × runs_per_gpu
    ctx = multiprocessing.get_context("fork")
    out, hold = ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=worker, args=(callback, 2, out, hold)) for _ in range(4)]
    for p in procs:
        p.start()
    pins = [out.get(timeout=60) for _ in range(8)]
    hold.set()
    for p in procs:
        p.join(30)
    by_worker: dict[int, set[str]] = {}
    for pid, gpu in pins:
        by_worker.setdefault(pid, set()).add(gpu)
    assert all(len(gpus) == 1 for gpus in by_worker.values()), by_worker  # a worker never changes GPU
    per_gpu = sorted(next(iter(g)) for g in by_worker.values())
    assert per_gpu == ["0", "0", "1", "1"]


def test_node_launcher_config_sets_workers_and_pinning(tmp_path):
    register_resolvers()
    overrides = ["hydra/launcher=parallel", "hydra.callbacks.pin_gpus.gpus=[0,1,2]"]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(
            "config", [*overrides, "hydra.callbacks.pin_gpus.runs_per_gpu=2"], return_hydra_config=True
        )
    assert cfg.hydra.launcher.n_jobs == 6 and cfg.hydra.launcher._target_.endswith("JoblibLauncher")
    callback = instantiate(cfg.hydra.callbacks.pin_gpus)
    assert isinstance(callback, PinGpus) and callback.gpus == ["0", "1", "2"]
    assert Path(callback.slots_dir).name == ".gpu_slots"


@pytest.mark.slow
@needs_shared
def test_hydra_sweep_pins_each_worker(tmp_path):
    """A real `-m` sweep through the joblib launcher (dry runs, two fake GPUs): two workers on two GPUs."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("CUDA_VISIBLE_DEVICES", None)
    cmd = [sys.executable, "-m", "kronbench", "-m", "seed=0,1,2,3", "dry_run=true", "model=tiny-bert"]
    cmd += [f"data_dir={DATA_DIR}", "hydra/launcher=parallel", "hydra.callbacks.pin_gpus.gpus=[0,1]"]
    cmd += [f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [
        line
        for log in (tmp_path / "sweep").glob("*/__main__.log")
        for line in log.read_text().splitlines()
        if "CUDA_VISIBLE_DEVICES=" in line
    ]
    assert len(lines) == 4
    pins = {(line.split("worker pid ")[1].split(":")[0], line.rsplit("=", 1)[1]) for line in lines}
    workers = {pid for pid, _ in pins}
    assert len(pins) == len(workers)  # one GPU per worker
    assert {gpu for _, gpu in pins} == ({"0", "1"} if len(workers) == 2 else {"0"})
