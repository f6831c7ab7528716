"""SuperGLUE ReCoRD with a classification head: each candidate entity fills the query's `@placeholder` and is
scored as a (passage, filled query) pair (binary: is it an answer); the best-scored entity of each query is the
prediction, scored against the gold answers with the official ReCoRD metric (SQuAD-normalised EM / token F1, max
over answers) via `kronbench.metrics.squad_scores`. Text-to-text (T5) ReCoRD lives in `generation.py`.
"""

from __future__ import annotations

from collections import defaultdict

import torch
from accelerate import Accelerator
from datasets import Dataset
from torch import nn
from torch.utils.data import DataLoader
from transformers import DataCollatorWithPadding

from kronbench.metrics import squad_scores
from kronbench.tasks.base import Task, register_task_type


@register_task_type("record")
class RecordTask(Task):
    """Columns: passage, query (with @placeholder), entities, answers (super_glue/record)."""

    def preprocess(self, ds: Dataset, split: str) -> Dataset:
        def encode(batch: dict) -> dict:
            passages, queries, labels, owners = [], [], [], []
            for i, (passage, query, entities, answers) in enumerate(
                zip(batch["passage"], batch["query"], batch["entities"], batch["answers"], strict=True)
            ):
                for entity in dict.fromkeys(entities):  # unique, in order
                    passages.append(passage.replace("@highlight\n", "- "))
                    queries.append(query.replace("@placeholder", entity))
                    labels.append(int(entity in answers))
                    owners.append((i, entity))
            enc = self.tokenizer(passages, queries, truncation="only_first", max_length=self.cfg.max_length)
            enc["labels"] = labels
            enc["entity"] = [e for _, e in owners]
            enc["row"] = [i for i, _ in owners]
            return dict(enc)

        # rows are numbered within the split (map with batched=True sees one batch at a time: offset by index)
        def encode_with_index(batch: dict, indices: list[int]) -> dict:
            out = encode(batch)
            out["row"] = [indices[i] for i in out["row"]]
            return out

        return ds.map(
            encode_with_index,
            batched=True,
            with_indices=True,
            remove_columns=ds.column_names,
            desc=f"tokenise {split}",
        )

    def collate(self, features: list[dict]) -> dict[str, torch.Tensor]:
        if not hasattr(self, "_collator"):
            self._collator = DataCollatorWithPadding(self.tokenizer)
        return self._collator([{k: v for k, v in f.items() if k not in ("entity", "row")} for f in features])

    @torch.no_grad()
    def evaluate(
        self, model: nn.Module, ds: Dataset, raw: Dataset, loader: DataLoader, accelerator: Accelerator
    ) -> dict[str, float]:
        scores: list[float] = []
        for batch in loader:
            logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits
            logits = accelerator.gather_for_metrics(logits)
            scores.extend((logits[:, 1] - logits[:, 0]).float().cpu().tolist())
        best: dict[int, tuple[float, str]] = defaultdict(lambda: (-float("inf"), ""))
        for score, row, entity in zip(scores, ds["row"], ds["entity"], strict=True):
            if score > best[row][0]:
                best[row] = (score, entity)
        predictions = {str(i): best[i][1] for i in range(len(raw))}
        references = {str(i): list(answers) for i, answers in enumerate(raw["answers"])}
        return squad_scores(predictions, references)
