"""Multiple choice with a multiple-choice head (COPA): one (context, choice) pair per choice, softmax over choices."""

from __future__ import annotations

import torch
from accelerate import Accelerator
from datasets import Dataset
from torch import nn
from torch.utils.data import DataLoader

from kronbench.tasks.base import Task, register_task_type
from kronbench.tasks.classification import check_columns, predict_with_head
from kronbench.tasks.formats import classification_scores, render_text, rows


@register_task_type("multiple_choice")
class MultipleChoiceTask(Task):
    """Context from `text_fields[0]` (a column or template), choices from `choice_fields`, gold from `label_field`."""

    def preprocess(self, ds: Dataset, split: str) -> Dataset:
        cfg = self.cfg
        if not cfg.choice_fields or len(cfg.text_fields) != 1:
            raise ValueError(
                f"task {cfg.name!r}: multiple_choice needs choice_fields and one text_fields entry"
            )
        check_columns(self, ds, split, [*cfg.text_fields, *cfg.choice_fields, cfg.label_field])
        n = len(cfg.choice_fields)

        def encode(batch: dict) -> dict:
            examples = rows(batch)
            firsts = [render_text(r, cfg.text_fields[0]) for r in examples for _ in range(n)]
            seconds = [render_text(r, c) for r in examples for c in cfg.choice_fields]
            enc = self.tokenizer(firsts, seconds, truncation=True, max_length=cfg.max_length)
            out = {k: [v[i : i + n] for i in range(0, len(v), n)] for k, v in enc.items()}
            out["labels"] = [int(x) for x in batch[cfg.label_field]]
            return out

        return ds.map(encode, batched=True, remove_columns=ds.column_names, desc=f"tokenise {split}")

    def collate(self, features: list[dict]) -> dict[str, torch.Tensor]:
        n = len(features[0]["input_ids"])
        flat = [{k: f[k][i] for k in f if k != "labels"} for f in features for i in range(n)]
        batch = self.tokenizer.pad(flat, return_tensors="pt")
        out = {k: v.view(len(features), n, -1) for k, v in batch.items()}
        out["labels"] = torch.tensor([f["labels"] for f in features])
        return out

    @torch.no_grad()
    def evaluate(
        self, model: nn.Module, ds: Dataset, raw: Dataset, loader: DataLoader, accelerator: Accelerator
    ) -> dict[str, float]:
        preds, refs = predict_with_head(model, loader, accelerator, regression=False)
        return classification_scores(self.cfg, preds, refs)
