"""A run killed (SIGKILL) after saving its state resumes when started again and ends bitwise where an
uninterrupted run ends: same evaluations, same reported score, same final trainable weights."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf
from safetensors.torch import load_file

from kronbench import run as run_module
from kronbench.checkpointing import MODEL_WEIGHTS, PROGRESS, RunState, state_dir
from kronbench.experiment import ExperimentCell
from kronbench.identity import identify
from kronbench.run import run, to_run_config
from tests.conftest import DATA_DIR, REPO, compose_config, needs_shared

pytestmark = needs_shared

# 48 examples, global batch 8 in two micro-batches of 4: 6 optimizer steps per epoch, 2 epochs; evaluations (and
# saved states) at steps 4, 8, 12. The kill comes right after the state of step 4 is saved, 8 micro-batches into
# the first epoch, so the resumed run skips those batches of the same shuffle and crosses an epoch boundary.
# Dropout stays on: the restored RNG states must give the same masks.
RUN = [
    "method=lora",
    f"data_dir={DATA_DIR}",
    "model=tiny-bert",
    "train=demo",
    "train.max_train_samples=48",
    "train.max_eval_samples=16",
    "train.batch_size=8",
    "train.grad_accum=2",
    "train.epochs=2",
    "train.warmup_steps=2",
    "train.eval_strategy=steps",
    "train.eval_steps=4",
    "train.progress_bar=false",
]

# the child process: a normal run whose first state save ends in SIGKILL, as a preempted job would
KILLED_AFTER_FIRST_SAVE = """
import os, signal, sys
from kronbench.checkpointing import RunState
from kronbench.run import run
from tests.conftest import compose_config

save = RunState.save

def save_then_die(self, *args, **kwargs):
    save(self, *args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)

RunState.save = save_then_die
run(compose_config(*sys.argv[1:]))
"""


def final_weights(output_dir: Path) -> dict[str, torch.Tensor]:
    """Trainable weights after the last optimizer step (the state saved at the final evaluation)."""
    (record,) = output_dir.glob("glue/rte/tiny-bert/*/*/seed0.json")
    last = sorted(state_dir(record).glob("step-*"))[-1]
    assert last.name == "step-00000012"
    return load_file(str(last / MODEL_WEIGHTS))


def capture_method_states(monkeypatch) -> dict[int, list]:
    """{step: the method's own state as saved at that step}, for the in-process runs that follow."""
    captured: dict[int, list] = {}
    save = RunState.save

    def save_and_capture(self, step, *args, **kwargs):
        captured[step] = [copy.deepcopy(obj.state_dict()) for obj in self.acc._custom_objects]
        return save(self, step, *args, **kwargs)

    monkeypatch.setattr(RunState, "save", save_and_capture)
    return captured


def assert_equal_nested(a, b, where: str = "") -> None:
    assert type(a) is type(b), where
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_equal_nested(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_equal_nested(x, y, f"{where}[{i}]")
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    else:
        assert a == b, where


# AdaLoRA: its rank allocator's importance scores (outside the weights) must be restored too; budget steps every 2
@pytest.mark.parametrize("method", [[], ["method=adalora", "method.delta_t=2"]], ids=["lora", "adalora"])
def test_killed_run_resumes_and_ends_as_an_uninterrupted_run(tmp_path, monkeypatch, method):
    killed_dir, plain_dir = tmp_path / "killed", tmp_path / "plain"
    config = [*RUN, *method]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.run(
        [sys.executable, "-c", KILLED_AFTER_FIRST_SAVE, *config, f"output_dir={killed_dir}"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert child.returncode == -9, child.stderr[-3000:]
    assert not list(killed_dir.rglob("seed0.json")), "the killed run wrote no record"
    (saved,) = killed_dir.rglob("step-*")
    assert saved.name == "step-00000004" and (saved / PROGRESS).is_file()
    assert json.loads((saved / PROGRESS).read_text())["batches_in_epoch"] == 8

    monkeypatch.setattr(run_module, "remove_state", lambda record: None)  # keep the final states to compare
    captured = capture_method_states(monkeypatch)
    resumed = run(compose_config(*config, f"output_dir={killed_dir}"))
    resumed_states = captured.copy()
    captured.clear()
    plain = run(compose_config(*config, f"output_dir={plain_dir}"))
    plain_states = captured

    assert resumed["timing"]["resumed_at_steps"] == [4] and plain["timing"]["resumed_at_steps"] == []
    assert [e["step"] for e in resumed["metrics"]["evals"]] == [4, 8, 12]
    for key in ("evals", "best", "final", "report", "score"):
        assert resumed["metrics"][key] == plain["metrics"][key], key
    for key in ("optimizer_steps", "epochs_run"):
        assert resumed["timing"][key] == plain["timing"][key]
    weights = final_weights(killed_dir)
    assert weights
    assert_equal_nested(weights, final_weights(plain_dir), "weights")
    assert sorted(resumed_states) == [8, 12] and sorted(plain_states) == [4, 8, 12]
    for step in (8, 12):
        assert_equal_nested(resumed_states[step], plain_states[step], f"method state at step {step}")
    if (
        method
    ):  # AdaLoRA at step 8: importance scores of every adapter matrix (reset at the final budget step)
        assert resumed_states[8][0]["exp_avg_ipt"]


def test_finished_run_removes_its_state_and_force_starts_over(tmp_path):
    record = run(compose_config(*RUN, "train.max_steps=4", f"output_dir={tmp_path}"))
    assert record["status"] == "completed"
    (path,) = tmp_path.glob("glue/rte/tiny-bert/lora/*/seed0.json")
    assert not state_dir(path).exists()
    stale = state_dir(path) / "step-00000004"  # e.g. left by a killed run of a since-forced config
    stale.mkdir(parents=True)
    (stale / PROGRESS).write_text("{}")
    forced = run(compose_config(*RUN, "train.max_steps=4", "force=true", f"output_dir={tmp_path}"))
    assert forced["timing"]["resumed_at_steps"] == [] and not state_dir(path).exists()


def test_state_of_another_layout_is_not_resumed(tmp_path):
    """A state saved by two processes is not loaded by one: the error names both layouts and the way out."""
    cfg = compose_config(*RUN, "train.max_steps=4", f"output_dir={tmp_path}")
    path = identify(to_run_config(cfg), OmegaConf.to_container(cfg, resolve=True), ExperimentCell()).path
    folder = state_dir(path) / "step-00000002"
    folder.mkdir(parents=True)
    layout = {"num_processes": 2, "per_device_batch_size": 2, "grad_accum": 2, "global_batch_size": 8}
    (folder / PROGRESS).write_text(json.dumps({"layout": layout}))
    with pytest.raises(
        ValueError, match=r"saved with batch layout .*'num_processes': 2.*same number of processes"
    ):
        run(cfg)
