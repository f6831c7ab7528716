"""Generative tasks: T5 text-to-text NLU/QA and data-to-text NLG, for encoder-decoder (T5) and decoder-only (GPT-2).

One path for both architectures:
- encoder-decoder: `input_ids` = source, `labels` = target (+ </s>);
- decoder-only: `input_ids` = source <eos> target <eos>, `labels` masked (-100) over the source, so the loss is
  the target's only (LoRA/AdaMix GPT-2 protocol); evaluation left-pads `source <eos>` and generates after it.
Evaluation generates with `task.generation` settings and hands the texts to the subclass's `score`.
"""

from __future__ import annotations

from typing import Any

import torch
from accelerate import Accelerator
from datasets import Dataset
from torch import nn
from torch.utils.data import DataLoader

from kronbench.metrics import nlg_scores, squad_scores
from kronbench.tasks.base import Task, register_task_type
from kronbench.tasks.formats import (
    classification_scores,
    group_keys,
    label_words,
    map_label_word,
    parse_regression,
    regression_target,
    t2t_source,
)


class GenerationTask(Task):
    """Tokenise (source, target) pairs, generate from sources, score the generations (subclass hooks)."""

    generates = True
    explode_references = False  # train on every reference of a source (NLG) or only on the first

    @property
    def decoder_only(self) -> bool:
        return self.model_cfg.family == "gpt2"

    def sources_targets(self, ds: Dataset) -> tuple[list[str], list[list[str]]]:
        """Source text and reference texts of each raw row."""
        raise NotImplementedError

    def score(self, predictions: list[str], raw: Dataset) -> dict[str, float]:
        raise NotImplementedError

    def _ids(self, texts: list[str], limit: int) -> list[list[int]]:
        return self.tokenizer(texts, truncation=True, max_length=limit)["input_ids"]

    def _eos(self) -> int:
        eos = self.tokenizer.eos_token_id
        if eos is None:
            raise ValueError(
                f"tokenizer of {self.model_cfg.name!r} has no EOS token: cannot end a generation"
            )
        return eos

    def preprocess(self, ds: Dataset, split: str) -> Dataset:
        sources, targets = self.sources_targets(ds)
        cfg = self.cfg
        if split != "train":  # generation inputs only; references stay in the raw split
            if self.decoder_only:
                ids = [x[: cfg.max_length - 1] + [self._eos()] for x in self._ids(sources, cfg.max_length)]
            else:
                ids = self._ids(sources, cfg.max_length)
            return Dataset.from_dict({"input_ids": ids, "example_idx": list(range(len(ids)))})
        pairs = [
            (s, t)
            for s, refs in zip(sources, targets, strict=True)
            for t in (refs if self.explode_references else refs[:1])
        ]
        src = [p[0] for p in pairs]
        tgt = [p[1] for p in pairs]
        max_t = cfg.generation.max_target_length
        if not self.decoder_only:
            return Dataset.from_dict(
                {"input_ids": self._ids(src, cfg.max_length), "labels": self._ids(tgt, max_t)}
            )
        eos = self._eos()
        src_ids = [x[: cfg.max_length - 1] + [eos] for x in self._ids(src, cfg.max_length)]
        tgt_ids = [x[: max_t - 1] + [eos] for x in self._ids([" " + t for t in tgt], max_t)]
        return Dataset.from_dict(
            {
                "input_ids": [s + t for s, t in zip(src_ids, tgt_ids, strict=True)],
                "labels": [[-100] * len(s) + t for s, t in zip(src_ids, tgt_ids, strict=True)],
            }
        )

    def collate(self, features: list[dict]) -> dict[str, torch.Tensor]:
        pad = self.tokenizer.pad_token_id
        left = (
            self.decoder_only and "labels" not in features[0]
        )  # decoder-only generation continues on the right
        width = max(len(f["input_ids"]) for f in features)
        ids, mask = [], []
        for f in features:
            x, gap = list(f["input_ids"]), width - len(f["input_ids"])
            ids.append([pad] * gap + x if left else x + [pad] * gap)
            mask.append([0] * gap + [1] * len(x) if left else [1] * len(x) + [0] * gap)
        out = {"input_ids": torch.tensor(ids), "attention_mask": torch.tensor(mask)}
        if "labels" in features[0]:
            lwidth = max(len(f["labels"]) for f in features)
            out["labels"] = torch.tensor(
                [list(f["labels"]) + [-100] * (lwidth - len(f["labels"])) for f in features]
            )
        if "example_idx" in features[0]:
            out["example_idx"] = torch.tensor([f["example_idx"] for f in features])
        return out

    @torch.no_grad()
    def generate(self, model: nn.Module, loader: DataLoader, accelerator: Accelerator, n: int) -> list[str]:
        """Decoded generations of every example of the split, in order."""
        gen_model = accelerator.unwrap_model(model)
        g = self.cfg.generation
        pad = self.tokenizer.pad_token_id
        texts: dict[int, str] = {}
        for batch in loader:
            idx = batch.pop("example_idx")
            out = gen_model.generate(
                **batch,
                num_beams=g.num_beams,
                length_penalty=g.length_penalty,
                no_repeat_ngram_size=g.no_repeat_ngram_size,
                max_new_tokens=g.max_new_tokens,
                do_sample=False,
                early_stopping=g.num_beams > 1,
                pad_token_id=pad,
                eos_token_id=self.tokenizer.eos_token_id,
            )
            if self.decoder_only:
                out = out[:, batch["input_ids"].shape[1] :]
            out = accelerator.pad_across_processes(out.contiguous(), dim=1, pad_index=pad)
            out, idx = accelerator.gather_for_metrics((out, idx))
            decoded = self.tokenizer.batch_decode(out, skip_special_tokens=True)
            for i, text in zip(idx.tolist(), decoded, strict=True):
                texts[i] = text.strip()
        return [texts.get(i, "") for i in range(n)]

    @torch.no_grad()
    def evaluate(
        self, model: nn.Module, ds: Dataset, raw: Dataset, loader: DataLoader, accelerator: Accelerator
    ) -> dict[str, float]:
        self.last_predictions = self.generate(model, loader, accelerator, len(raw))
        return self.score(self.last_predictions, raw)


@register_task_type("text_to_text")
class TextToTextTask(GenerationTask):
    """GLUE/SuperGLUE/SQuAD/ReCoRD as T5 does them: prefixed `name: value` input, label word / answer target."""

    def _targets(self, row: dict[str, Any]) -> list[str]:
        cfg = self.cfg
        if cfg.type == "regression":
            return [regression_target(row[cfg.label_field])]
        if cfg.type in ("classification", "multiple_choice"):
            return [label_words(cfg)[int(row[cfg.label_field])]]
        if cfg.type == "record":
            return list(row["answers"]) or [""]
        if cfg.type == "span_extraction":
            return list(row["answers"]["text"]) or [""]  # v2.0 unanswerable: the empty answer
        raise ValueError(f"task.type={cfg.type!r} has no text-to-text form")

    def sources_targets(self, ds: Dataset) -> tuple[list[str], list[list[str]]]:
        rows_ = list(ds)
        return [t2t_source(self.cfg, r) for r in rows_], [self._targets(r) for r in rows_]

    def score(self, predictions: list[str], raw: Dataset) -> dict[str, float]:
        cfg = self.cfg
        if cfg.type in ("record", "span_extraction"):
            refs = {str(i): t for i, t in enumerate(self.sources_targets(raw)[1])}
            return squad_scores({str(i): p for i, p in enumerate(predictions)}, refs)
        gold = [row[cfg.label_field] for row in raw]
        if cfg.type == "regression":
            preds: list[float] = [parse_regression(p) for p in predictions]
            return classification_scores(cfg, preds, [float(x) for x in gold])
        ids = [map_label_word(p, label_words(cfg)) for p in predictions]
        return classification_scores(cfg, ids, [int(x) for x in gold], group_keys(cfg, list(raw)))


@register_task_type("generation")
class DataToTextTask(GenerationTask):
    """E2E / WebNLG / DART: linearised data (`source`) to text, multi-reference metrics; WebNLG also per subset."""

    explode_references = True

    def sources_targets(self, ds: Dataset) -> tuple[list[str], list[list[str]]]:
        return list(ds["source"]), [list(r) for r in ds["references"]]

    def score(self, predictions: list[str], raw: Dataset) -> dict[str, float]:
        refs = [list(r) for r in raw["references"]]
        out = nlg_scores(predictions, refs, self.cfg.metrics)
        if "seen" in raw.column_names:  # WebNLG: categories seen / unseen in training, and all
            seen = list(raw["seen"])
            for name, keep in (("seen", True), ("unseen", False)):
                sel = [i for i, s in enumerate(seen) if bool(s) == keep]
                if sel:
                    sub = nlg_scores([predictions[i] for i in sel], [refs[i] for i in sel], self.cfg.metrics)
                    out.update({f"{k}_{name}": v for k, v in sub.items()})
        return out
