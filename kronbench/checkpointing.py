"""A run's resumable state: saved at each evaluation, loaded when the same run starts again, removed when it ends.

Layout: `<record>.state/step-<N>/` beside the run's record (`seed0.json` → `seed0.state/`), so the same command
finds it again, on any node that sees the results folder. Each step folder holds what `accelerate`'s
`save_state` writes — the trainable weights (`model.safetensors`; frozen weights are rebuilt from the config),
optimizer, scheduler, and every process's RNG states plus accelerate's micro-step counter — and the trainer's own
part: `trainer.safetensors` (the best evaluation's trainable weights, the shuffling generators' states at the
start of the current epoch) and `progress.json` (step, epoch, batches consumed, evaluations, best, timings).
`progress.json` is written last: a folder without it was interrupted while saving and is never loaded.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from kronbench.results import write_json_atomic

PROGRESS = "progress.json"
TRAINER_TENSORS = "trainer.safetensors"
MODEL_WEIGHTS = "model.safetensors"  # accelerate's name for the first model's weights with safetensors


def state_dir(record: Path) -> Path:
    """Where the run whose record is `record` keeps its resumable state."""
    return record.with_name(record.stem + ".state")


def remove_state(record: Path) -> None:
    """Delete a run's resumable state (the run has finished, or is restarted from scratch)."""
    shutil.rmtree(state_dir(record), ignore_errors=True)


def trainable_names(model: nn.Module) -> set[str]:
    return {name for name, p in model.named_parameters() if p.requires_grad}


def save_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    """safetensors file of CPU copies (contiguous, as safetensors requires)."""
    save_file({k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}, str(path))


def keep_trainable_weights(
    models: list[nn.Module], weights: list[dict[str, torch.Tensor]], output_dir: str
) -> None:
    """accelerate save-state hook: keep only trainable tensors (the frozen backbone is rebuilt from the config)."""
    for i, model in enumerate(models):
        names = trainable_names(model)
        weights[i] = {k: v.contiguous() for k, v in weights[i].items() if k in names}


@dataclass
class Resumed:
    """What a run resumes from: the trainer's counters, the best weights, and the epoch's shuffling state."""

    folder: Path
    progress: dict[str, Any]
    best: dict[str, torch.Tensor] | None
    generators: list[torch.Tensor]


class RunState:
    """Saves and loads one run's resumable state through `accelerate` (all processes call save and load)."""

    def __init__(self, root: Path, accelerator: Accelerator) -> None:
        self.root = root
        self.acc = accelerator
        accelerator.register_save_state_pre_hook(keep_trainable_weights)

    def complete_folders(self) -> list[Path]:
        """Step folders whose save finished, oldest first."""
        if not self.root.is_dir():
            return []
        done = [p for p in self.root.glob("step-*") if (p / PROGRESS).is_file()]
        return sorted(done, key=lambda p: int(p.name.split("-", 1)[1]))

    def save(
        self,
        step: int,
        progress: dict[str, Any],
        best: dict[str, torch.Tensor] | None,
        generators: list[torch.Tensor],
    ) -> Path:
        """Write the state of optimizer step `step`; older step folders are removed once it is complete."""
        folder = self.root / f"step-{step:08d}"
        self.acc.save_state(str(folder), safe_serialization=True)
        if self.acc.is_main_process:
            tensors = {f"generator.{i}": g for i, g in enumerate(generators)}
            tensors.update({f"best.{k}": v for k, v in (best or {}).items()})
            save_tensors(folder / TRAINER_TENSORS, tensors)
            write_json_atomic(folder / PROGRESS, progress)
            for old in self.complete_folders()[:-1] + self.incomplete_folders(keep=folder):
                shutil.rmtree(old, ignore_errors=True)
        self.acc.wait_for_everyone()
        return folder

    def incomplete_folders(self, keep: Path) -> list[Path]:
        return [p for p in self.root.glob("step-*") if p != keep and not (p / PROGRESS).is_file()]

    def load(self, model: nn.Module, layout: dict[str, Any]) -> Resumed | None:
        """Load the latest complete state into the prepared model, optimizer, scheduler and RNGs; None if none.

        A state saved by another batch layout (process count) or whose names differ from the model's trainable
        parameters (another method or code version) is an error naming the folder, never a silent partial load.
        """
        folders = self.complete_folders()
        if not folders:
            return None
        folder = folders[-1]
        progress = json.loads((folder / PROGRESS).read_text())
        if progress["layout"] != layout:
            raise ValueError(
                f"resumable state {folder} was saved with batch layout {progress['layout']}, this run has "
                f"{layout}: resume with the same number of processes, or rerun with force=true to start over"
            )
        with safe_open(str(folder / MODEL_WEIGHTS), framework="pt") as fh:
            saved = set(fh.keys())
        expected = trainable_names(model)
        if saved != expected:
            raise ValueError(
                f"resumable state {folder} does not match this run's trainable parameters "
                f"(missing {sorted(expected - saved)[:5]}, unexpected {sorted(saved - expected)[:5]}); "
                f"delete {self.root} or rerun with force=true to start from scratch"
            )
        self.acc.load_state(str(folder), strict=False)  # strict=False: frozen weights are not in the file
        tensors = load_file(str(folder / TRAINER_TENSORS))
        best = {k[len("best.") :]: v for k, v in tensors.items() if k.startswith("best.")}
        count = sum(k.startswith("generator.") for k in tensors)
        generators = [tensors[f"generator.{i}"] for i in range(count)]
        return Resumed(folder, progress, best or None, generators)
