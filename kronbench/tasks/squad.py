"""SQuAD v1.1 / v2.0 span extraction with a QA head: the standard sliding-window preprocessing and answer
post-processing of Hugging Face's `run_qa.py` (question first, context windows of `max_length` tokens overlapping
by `doc_stride`; best start/end pair over `n_best` candidates per window, answers up to `max_answer_length`
tokens; v2.0: the null answer wins when its score, start+end logit at the CLS position, beats the best span).
Scored with `kronbench.metrics.squad_scores` (the official v1.1 / v2.0 scripts).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import torch
from accelerate import Accelerator
from datasets import Dataset
from torch import nn
from torch.utils.data import DataLoader
from transformers import DataCollatorWithPadding

from kronbench.metrics import squad_scores
from kronbench.tasks.base import Task, register_task_type

NO_OFFSET = [-1, -1]  # offsets of tokens outside the context (question, special tokens)


@register_task_type("span_extraction")
class SquadTask(Task):
    """Columns: id, title, context, question, answers{text, answer_start} (rajpurkar/squad, squad_v2)."""

    def _encode(self, batch: dict) -> tuple[dict, list[int], list]:
        tok = self.tokenizer
        if not tok.is_fast:
            raise ValueError(f"SQuAD needs a fast tokenizer (offset mappings); {type(tok).__name__} is not")
        enc = tok(
            [q.lstrip() for q in batch["question"]],
            batch["context"],
            truncation="only_second",
            max_length=self.cfg.max_length,
            stride=self.cfg.doc_stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
        )
        samples = enc.pop("overflow_to_sample_mapping")
        offsets = enc.pop("offset_mapping")
        return enc, samples, offsets

    def _cls_index(self, ids: list[int]) -> int:
        cls = self.tokenizer.cls_token_id
        return ids.index(cls) if cls is not None and cls in ids else 0

    def preprocess(self, ds: Dataset, split: str) -> Dataset:
        fn = self._train_features if split == "train" else self._eval_features
        return ds.map(fn, batched=True, remove_columns=ds.column_names, desc=f"tokenise {split}")

    def _train_features(self, batch: dict) -> dict:
        enc, samples, offsets = self._encode(batch)
        starts, ends = [], []
        for i, offs in enumerate(offsets):
            ids = enc["input_ids"][i]
            cls = self._cls_index(ids)
            seq = enc.sequence_ids(i)
            answers = batch["answers"][samples[i]]
            if len(answers["answer_start"]) == 0:  # v2.0 unanswerable: point at CLS
                starts.append(cls)
                ends.append(cls)
                continue
            s_char = answers["answer_start"][0]
            e_char = s_char + len(answers["text"][0])
            ts = seq.index(1)
            te = len(seq) - 1 - seq[::-1].index(1)
            if not (offs[ts][0] <= s_char and offs[te][1] >= e_char):  # answer not inside this window
                starts.append(cls)
                ends.append(cls)
                continue
            while ts < len(offs) and offs[ts][0] <= s_char:
                ts += 1
            starts.append(ts - 1)
            while offs[te][1] >= e_char:
                te -= 1
            ends.append(te + 1)
        enc["start_positions"] = starts
        enc["end_positions"] = ends
        return dict(enc)

    def _eval_features(self, batch: dict) -> dict:
        enc, samples, offsets = self._encode(batch)
        out = dict(enc)
        out["example_id"] = [batch["id"][s] for s in samples]
        out["offset_mapping"] = [
            [list(o) if enc.sequence_ids(i)[k] == 1 else NO_OFFSET for k, o in enumerate(offs)]
            for i, offs in enumerate(offsets)
        ]
        return out

    def collate(self, features: list[dict]) -> dict[str, torch.Tensor]:
        if not hasattr(self, "_collator"):
            self._collator = DataCollatorWithPadding(self.tokenizer)
        keep = [{k: v for k, v in f.items() if k not in ("example_id", "offset_mapping")} for f in features]
        return self._collator(keep)

    @torch.no_grad()
    def evaluate(
        self, model: nn.Module, ds: Dataset, raw: Dataset, loader: DataLoader, accelerator: Accelerator
    ) -> dict[str, float]:
        starts: list[np.ndarray] = []
        ends: list[np.ndarray] = []
        for batch in loader:
            out = model(**{k: v for k, v in batch.items() if k not in ("start_positions", "end_positions")})
            s = accelerator.pad_across_processes(out.start_logits.contiguous(), dim=1, pad_index=-1e4)
            e = accelerator.pad_across_processes(out.end_logits.contiguous(), dim=1, pad_index=-1e4)
            s, e = accelerator.gather_for_metrics((s, e))
            starts.extend(s.float().cpu().numpy())
            ends.extend(e.float().cpu().numpy())
        predictions = self.postprocess(raw, ds, starts, ends)
        references = {row["id"]: list(row["answers"]["text"]) for row in raw}
        return squad_scores(predictions, references)

    def postprocess(
        self, raw: Dataset, features: Dataset, starts: list[np.ndarray], ends: list[np.ndarray]
    ) -> dict[str, str]:
        """Best answer text per question id ("" = no answer, v2.0 only)."""
        cfg = self.cfg
        by_example: dict[str, list[int]] = defaultdict(list)
        for i, ex_id in enumerate(features["example_id"]):
            by_example[ex_id].append(i)
        all_offsets = features["offset_mapping"]
        all_ids = features["input_ids"]
        predictions: dict[str, str] = {}
        for row in raw:
            best_score, best_text = -np.inf, ""
            null_score = np.inf
            for f in by_example[row["id"]]:
                offs = all_offsets[f]
                n = len(offs)
                s_logits, e_logits = starts[f][:n], ends[f][:n]
                cls = self._cls_index(all_ids[f])
                null_score = min(null_score, float(s_logits[cls] + e_logits[cls]))
                top_s = np.argsort(s_logits)[::-1][: cfg.n_best]
                top_e = np.argsort(e_logits)[::-1][: cfg.n_best]
                for si in top_s:
                    for ei in top_e:
                        if offs[si] == NO_OFFSET or offs[ei] == NO_OFFSET:
                            continue
                        if ei < si or ei - si + 1 > cfg.max_answer_length:
                            continue
                        score = float(s_logits[si] + e_logits[ei])
                        if score > best_score:
                            best_score = score
                            best_text = row["context"][offs[si][0] : offs[ei][1]]
            if cfg.version_2_with_negative and null_score > best_score:
                best_text = ""
            predictions[row["id"]] = best_text
        return predictions
