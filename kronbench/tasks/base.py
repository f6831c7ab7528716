"""What the trainer needs from a task: tokenised splits, a collator, and an evaluation that returns metrics.

Task *data* lives in `conf/task/**.yaml`; task *code* is one class per `task.type`, registered here.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from accelerate import Accelerator
from datasets import Dataset
from torch import nn
from torch.utils.data import DataLoader
from transformers import PreTrainedTokenizerBase

from kronbench.config import ModelConfig, TaskConfig

TASK_CLASSES: dict[str, type[Task]] = {}


def register_task_type(*types: str) -> Callable[[type[Task]], type[Task]]:
    def wrap(cls: type[Task]) -> type[Task]:
        for name in types:
            if name in TASK_CLASSES:
                raise ValueError(f"task type {name!r} is registered twice")
            TASK_CLASSES[name] = cls
        return cls

    return wrap


class Task:
    """Preprocessing and evaluation of one task for one tokenizer/model family."""

    generates = False  # evaluation decodes with `model.generate` (a new shape every step: never compiled)

    def __init__(self, cfg: TaskConfig, tokenizer: PreTrainedTokenizerBase, model_cfg: ModelConfig) -> None:
        self.cfg = cfg
        self.tokenizer = tokenizer
        self.model_cfg = model_cfg

    def preprocess(self, ds: Dataset, split: str) -> Dataset:
        """Tokenise a raw split into model inputs (with `labels` for training splits)."""
        raise NotImplementedError

    def collate(self, features: list[dict]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    @torch.no_grad()
    def evaluate(
        self, model: nn.Module, ds: Dataset, raw: Dataset, loader: DataLoader, accelerator: Accelerator
    ) -> dict[str, float]:
        """Metrics (task.metrics, in percent) of `model` on a preprocessed split."""
        raise NotImplementedError


def build_task(cfg: TaskConfig, tokenizer: PreTrainedTokenizerBase, model_cfg: ModelConfig) -> Task:
    """The task's implementation for this model: by `task.type`, or text-to-text (see `formats.resolve_format`)."""
    from kronbench.tasks.formats import resolve_format

    key = cfg.type
    if cfg.type != "generation" and resolve_format(cfg, model_cfg) == "text_to_text":
        key = "text_to_text"
    if key not in TASK_CLASSES:
        raise ValueError(f"task.type={key!r} has no implementation; known: {sorted(TASK_CLASSES)}")
    return TASK_CLASSES[key](cfg, tokenizer, model_cfg)
