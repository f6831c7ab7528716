"""How a task's rows become model text, and how model outputs map back to labels and metrics.

Shared by the head-based tasks (classification, multiple choice, ReCoRD) and the text-to-text path (T5):
- `text_fields` entries are column names, dotted paths into dict columns (`idx.question`), or format templates
  over the row (`"{word}: {sentence1}"`) -- so SuperGLUE inputs are data, not code.
- Text-to-text inputs follow the T5 paper: `"<prefix> <field>: <value> <field>: <value> ..."`; targets are label
  words (exact match back to the label; anything else is wrong) or, for STS-B-like regression, the score rounded
  to the nearest 0.2 as a string ("3.8").
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from sklearn.metrics import f1_score

from kronbench.config import ModelConfig, TaskConfig
from kronbench.metrics import compute_classification_metrics

INVALID = -1  # prediction id of a generation that matches no label word (always counted wrong)
T2T_DEFAULT_TYPES = ("classification", "regression", "multiple_choice", "record", "span_extraction")


def resolve_format(cfg: TaskConfig, model_cfg: ModelConfig) -> str:
    """`text_to_text` or `classification_head` (the task's head) for this model; `generation` tasks: generative."""
    if cfg.type == "generation":
        return "text_to_text"
    if cfg.format != "auto":
        return cfg.format
    return (
        "text_to_text"
        if model_cfg.family == "t5" and cfg.type in T2T_DEFAULT_TYPES
        else "classification_head"
    )


def field_value(row: Mapping[str, Any], name: str) -> Any:
    """A column value; `a.b` reads key `b` of dict column `a`."""
    value: Any = row
    for part in name.split("."):
        value = value[part]
    return value


def render_text(row: Mapping[str, Any], spec: str) -> str:
    """A column (or dotted path), or a `str.format` template over the row's columns."""
    if "{" in spec:
        return spec.format(**row)
    return str(field_value(row, spec))


def rows(batch: Mapping[str, list]) -> list[dict[str, Any]]:
    """A batched `datasets.map` input as a list of row dicts."""
    keys = list(batch)
    n = len(batch[keys[0]]) if keys else 0
    return [{k: batch[k][i] for k in keys} for i in range(n)]


def t2t_fields(cfg: TaskConfig) -> list[str]:
    """Fields rendered into a T5 input: `t2t_fields`, else the plain columns of `text_fields` + `choice_fields`."""
    if cfg.t2t_fields:
        return list(cfg.t2t_fields)
    return [f for f in [*cfg.text_fields, *cfg.choice_fields] if "{" not in f]


def t2t_source(cfg: TaskConfig, row: Mapping[str, Any]) -> str:
    """T5-style input: the task prefix, then `name: value` per field (dotted names use their last part)."""
    prefix = cfg.prefix if cfg.prefix is not None else (cfg.hub_config or cfg.name.split("/")[-1])
    parts = [prefix] if prefix else []
    for name in t2t_fields(cfg):
        value = field_value(row, name)
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        parts.append(f"{name.split('.')[-1]}: {value}")
    return " ".join(parts)


def label_words(cfg: TaskConfig) -> list[str]:
    return list(cfg.label_words or cfg.label_names)


def regression_target(score: float) -> str:
    """STS-B as the T5 paper: the score rounded to the nearest 0.2, printed with one decimal ("2.6")."""
    return f"{round(float(score) * 5) / 5:.1f}"


def parse_regression(text: str, default: float = -1.0) -> float:
    """A generated score string as a float; unparsable text gives `default` (T5's `string_to_float`, -1)."""
    try:
        value = float(text.strip())
    except ValueError:
        return default
    return value if math.isfinite(value) else default


def map_label_word(text: str, words: Sequence[str]) -> int:
    """Exact match of a generation (stripped) to a label word; `INVALID` when it matches none."""
    text = text.strip()
    for i, word in enumerate(words):
        if text == word:
            return i
    return INVALID


def grouped_exact_match(
    predictions: Sequence[int], references: Sequence[int], groups: Sequence[Any]
) -> float:
    """MultiRC EM in percent: a question counts only if every one of its answer options is labelled right."""
    correct: dict[Any, bool] = defaultdict(lambda: True)
    for p, r, g in zip(predictions, references, groups, strict=True):
        correct[g] = correct[g] and p == r
    return 100.0 * sum(correct.values()) / len(correct)


def classification_scores(
    cfg: TaskConfig,
    predictions: Sequence[int | float],
    references: Sequence[int | float],
    groups: Sequence[Any] | None = None,
) -> dict[str, float]:
    """The task's metrics for label ids (or scores), with `INVALID` predictions counted as wrong.

    macro_f1 averages over the task's labels only (an invalid generation is a false negative of its gold
    label, not a class of its own, as T5's `mean_multiclass_f1`); binary f1 treats it as "not label 1";
    exact_match is MultiRC's per-question EM.
    """
    names = [m for m in cfg.metrics if m not in ("exact_match", "f1")]
    out = compute_classification_metrics(names, predictions, references) if names else {}
    if "f1" in cfg.metrics:  # binary F1 of label 1: an invalid prediction is simply "not 1"
        not_invalid = [0 if p == INVALID else p for p in predictions]
        out["f1"] = compute_classification_metrics(["f1"], not_invalid, references)["f1"]
    if "macro_f1" in names and cfg.type != "regression":
        labels = list(range(len(cfg.label_names)))
        out["macro_f1"] = 100.0 * float(
            f1_score(references, predictions, labels=labels, average="macro", zero_division=0)
        )
    if "exact_match" in cfg.metrics:
        if groups is None:
            raise ValueError(f"task {cfg.name!r}: exact_match needs task.group_field (MultiRC questions)")
        out["exact_match"] = grouped_exact_match(predictions, references, groups)
    return out


def group_keys(cfg: TaskConfig, ds_rows: Sequence[Mapping[str, Any]]) -> list[Any] | None:
    """The group of each raw row (`task.group_field`), as hashable values; None without a group field."""
    if not cfg.group_field:
        return None
    names = [n.strip() for n in cfg.group_field.split(",")]  # e.g. "idx.paragraph,idx.question"
    return [tuple(str(field_value(row, n)) for n in names) for row in ds_rows]
