"""Sentence and sentence-pair classification / regression with a classification head (GLUE, SuperGLUE)."""

from __future__ import annotations

import torch
from accelerate import Accelerator
from datasets import Dataset
from torch import nn
from torch.utils.data import DataLoader
from transformers import DataCollatorWithPadding

from kronbench.tasks.base import Task, register_task_type
from kronbench.tasks.formats import classification_scores, group_keys, render_text, rows


def check_columns(task: Task, ds: Dataset, split: str, specs: list[str]) -> None:
    """Fail early, naming the missing columns (templates and dotted paths are checked by their first key)."""
    needed = [s.split(".")[0] for s in specs if "{" not in s]
    missing = [c for c in needed if c not in ds.column_names]
    if missing:
        raise ValueError(
            f"task {task.cfg.name!r} split {split!r}: columns {missing} not in {ds.column_names}"
        )


@torch.no_grad()
def predict_with_head(
    model: nn.Module, loader: DataLoader, accelerator: Accelerator, regression: bool
) -> tuple[list, list]:
    """Predictions of a model with a scoring head (argmax over its logits, or the scalar for regression) and the
    gathered labels, over every batch of `loader` (classification and multiple-choice tasks alike)."""
    preds, refs = [], []
    for batch in loader:
        logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits
        logits, labels = accelerator.gather_for_metrics((logits, batch["labels"]))
        if regression:
            preds.extend(logits.squeeze(-1).float().cpu().tolist())
        else:
            preds.extend(logits.argmax(-1).cpu().tolist())
        refs.extend(labels.cpu().tolist())
    return preds, refs


@register_task_type("classification", "regression")
class SequenceClassificationTask(Task):
    """Encode `text_fields` (one or two columns or templates) with the model's tokenizer; labels from `label_field`."""

    def preprocess(self, ds: Dataset, split: str) -> Dataset:
        fields = self.cfg.text_fields
        check_columns(self, ds, split, [*fields, self.cfg.label_field])
        is_regression = self.cfg.type == "regression"

        def encode(batch: dict) -> dict:
            examples = rows(batch)
            texts = [[render_text(r, f) for r in examples] for f in fields]
            enc = self.tokenizer(*texts, truncation=True, max_length=self.cfg.max_length)
            labels = batch[self.cfg.label_field]
            enc["labels"] = [float(x) for x in labels] if is_regression else [int(x) for x in labels]
            return enc

        return ds.map(encode, batched=True, remove_columns=ds.column_names, desc=f"tokenise {split}")

    def collate(self, features: list[dict]) -> dict[str, torch.Tensor]:
        if not hasattr(self, "_collator"):
            self._collator = DataCollatorWithPadding(self.tokenizer)
        return self._collator(features)

    @torch.no_grad()
    def evaluate(
        self, model: nn.Module, ds: Dataset, raw: Dataset, loader: DataLoader, accelerator: Accelerator
    ) -> dict[str, float]:
        preds, refs = predict_with_head(model, loader, accelerator, regression=self.cfg.type == "regression")
        groups = group_keys(self.cfg, list(raw)) if self.cfg.group_field else None
        return classification_scores(self.cfg, preds, refs, groups)
