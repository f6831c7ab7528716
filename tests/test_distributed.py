"""One run on two processes (gloo, CPU) means what it means on one: same epochs, steps, schedule and evaluations."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from kronbench.config import TrainConfig
from kronbench.distributed import BatchLayout, make_accelerator
from kronbench.run import run
from tests.conftest import DATA_DIR, REPO, compose_config, needs_shared

# 48 examples, global batch 8: 6 optimizer steps per epoch whatever the process count; 17 evaluation examples in
# batches of 4 per process, so the last global evaluation batch is padded with duplicates that must be dropped
RUN = [
    f"data_dir={DATA_DIR}",
    "model=tiny-bert",
    "method=lora",
    "train=demo",
    "train.max_train_samples=48",
    "train.max_eval_samples=17",
    "train.batch_size=8",
    "train.eval_batch_size=4",
    "train.epochs=2",
    "train.warmup_steps=3",
    "train.eval_strategy=steps",
    "train.eval_steps=2",
    "train.progress_bar=false",
    # no dropout: each process draws its own masks, which would make the losses differ for a reason of its own
    "+model.config_overrides.hidden_dropout_prob=0.0",
    "+model.config_overrides.attention_probs_dropout_prob=0.0",
]


def test_layout_splits_the_global_batch_over_processes_and_accumulation():
    layout = BatchLayout.of(TrainConfig(batch_size=32, grad_accum=2), num_processes=4)
    assert (layout.per_device_batch_size, layout.global_batch_size) == (4, 32)
    with pytest.raises(ValueError, match=r"batch_size=32 .*num_processes=3 × train.grad_accum=1 = 3"):
        BatchLayout.of(TrainConfig(batch_size=32), num_processes=3)


def test_processes_accelerate_does_not_see_are_an_error(monkeypatch):
    """torchrun on CPU without ACCELERATE_USE_CPU=1 would start N independent one-process runs."""
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(RuntimeError, match=r"WORLD_SIZE=2 .*ACCELERATE_USE_CPU=1"):
        make_accelerator(TrainConfig())


def launch_two_processes(tmp_path, *overrides: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "ACCELERATE_USE_CPU": "1",
        "PYTHONPATH": str(REPO),
        "OMP_NUM_THREADS": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    cmd += ["-m", "kronbench", *overrides, "hydra.run.dir=${oc.env:RANK}"]
    return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


@needs_shared
def test_two_processes_train_the_one_process_schedule(tmp_path):
    one = run(compose_config(*RUN, f"output_dir={tmp_path / 'one'}"))
    done = launch_two_processes(tmp_path, *RUN, f"output_dir={tmp_path / 'two'}")
    assert done.returncode == 0, done.stderr[-3000:]
    (path,) = (tmp_path / "two").glob("glue/rte/tiny-bert/lora/*/seed0.json")
    two = json.loads(path.read_text())

    assert two["distributed"] == {
        "num_processes": 2,
        "per_device_batch_size": 4,
        "grad_accum": 1,
        "global_batch_size": 8,
        "type": "MULTI_CPU",
    }
    assert one["distributed"]["num_processes"] == 1 and one["distributed"]["global_batch_size"] == 8
    for key in ("optimizer_steps", "epochs_run"):
        assert two["timing"][key] == one["timing"][key]
    assert (one["timing"]["optimizer_steps"], one["timing"]["epochs_run"]) == (12, 2)
    evals_one, evals_two = one["metrics"]["evals"], two["metrics"]["evals"]
    assert [(e["step"], e["epoch"], e["lr"]) for e in evals_two] == [
        (e["step"], e["epoch"], e["lr"]) for e in evals_one
    ]
    assert [e["step"] for e in evals_one] == [2, 4, 6, 8, 10, 12] and evals_one[-1]["lr"] == 0.0
    # each step saw the same 8 samples: the processes' mean loss is the one-process loss (up to rounding)
    for a, b in zip(evals_one, evals_two, strict=True):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-5)
        # every validation example counted once (17 of them: a duplicate would give k/18, not k/17)
        assert b["validation"]["accuracy"] == pytest.approx(a["validation"]["accuracy"], abs=1e-9)
    assert not list((tmp_path / "two").rglob("*.state")), "a finished run leaves no resumable state"
