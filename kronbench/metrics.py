"""Task metrics: GLUE/SuperGLUE classification and regression, SQuAD EM/F1, and the NLG metrics.

Everything here runs offline: no metric script is fetched from a hub (`evaluate.load` would do that).

Scale convention (each `MetricSpec.scale` says which applies):
- percent (x100, scale 100.0): accuracy, f1, macro_f1, matthews_correlation, pearson, spearmanr,
  pearson_spearman_avg, SQuAD exact_match / f1, BLEU, METEOR, ROUGE-L, chrF -- as the GLUE leaderboard
  and the papers' tables print them (MCC and correlations included, e.g. CoLA 63.5, STS-B 91.2);
- raw (scale 1.0): NIST and CIDEr (E2E tables print e.g. 8.85 and 2.53) and TER, reported as a fraction
  (0.46, lower is better) as the DART/WebNLG tables print it.
"""

from __future__ import annotations

import logging
import math
import re
import string
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import ConstantInputWarning, pearsonr, spearmanr
from sklearn.metrics import f1_score, matthews_corrcoef

from kronbench.nlg_metrics import NLG_METRIC_NAMES, nlg_scores

__all__ = [
    "CLASSIFICATION_METRIC_NAMES",
    "METRICS",
    "NLG_METRIC_NAMES",
    "MetricSpec",
    "compute_classification_metrics",
    "is_better",
    "main_metric_value",
    "nlg_scores",
    "normalize_squad_answer",
    "squad_scores",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MetricSpec:
    """How a metric is read: its name, its direction, and whether it is reported in percent."""

    name: str
    higher_is_better: bool
    scale: float  # 100.0: reported as a percentage; 1.0: reported on the metric's own scale


def _spec(name: str, higher_is_better: bool = True, scale: float = 100.0) -> tuple[str, MetricSpec]:
    return name, MetricSpec(name, higher_is_better, scale)


METRICS: dict[str, MetricSpec] = dict(
    [
        # classification / regression (compute_classification_metrics)
        _spec("accuracy"),
        _spec("f1"),  # binary F1 of label 1; also the key of SQuAD's token F1 (same direction and scale)
        _spec("macro_f1"),
        _spec("matthews_correlation"),
        _spec("pearson"),
        _spec("spearmanr"),
        _spec("pearson_spearman_avg"),
        # SQuAD (squad_scores); "squad_f1" is an alias a task may name to be explicit
        _spec("exact_match"),
        _spec("squad_f1"),
        _spec("has_ans_exact_match"),
        _spec("has_ans_f1"),
        _spec("no_ans_exact_match"),
        _spec("no_ans_f1"),
        # NLG (nlg_scores)
        _spec("bleu"),
        _spec("nist", scale=1.0),
        _spec("meteor"),
        _spec("rouge_l"),
        _spec("cider", scale=1.0),
        _spec("chrf"),
        _spec("ter", higher_is_better=False, scale=1.0),
    ]
)

CLASSIFICATION_METRIC_NAMES: tuple[str, ...] = (
    "accuracy",
    "f1",
    "macro_f1",
    "matthews_correlation",
    "pearson",
    "spearmanr",
    "pearson_spearman_avg",
)


# ----------------------------------------------------------------------------------------------------------
# Classification and regression (GLUE / SuperGLUE)
# ----------------------------------------------------------------------------------------------------------


def _correlation(fn, predictions: np.ndarray, references: np.ndarray) -> float:
    """Pearson or Spearman correlation in percent; NaN when either side is constant (undefined)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConstantInputWarning)
        value = float(fn(predictions, references)[0])
    return 100.0 * value


def compute_classification_metrics(
    names: Sequence[str], predictions: Sequence[int | float], references: Sequence[int | float]
) -> dict[str, float]:
    """Classification/regression metrics by name, all in percent (x100), as GLUE leaderboards print them.

    accuracy; f1 (binary, positive label 1, as GLUE MRPC/QQP); macro_f1 (unweighted mean over the labels
    present, as SuperGLUE CB); matthews_correlation (CoLA); pearson, spearmanr and their mean
    pearson_spearman_avg (STS-B). A correlation is NaN when the predictions or references are constant.
    """
    unknown = [n for n in names if n not in CLASSIFICATION_METRIC_NAMES]
    if unknown:
        raise ValueError(
            f"unknown classification metric(s) {unknown}; valid names: {list(CLASSIFICATION_METRIC_NAMES)}"
        )
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    if len(references) == 0:
        raise ValueError("no examples to score")
    preds = np.asarray(predictions)
    refs = np.asarray(references)
    label_metrics = {"accuracy", "f1", "macro_f1", "matthews_correlation"}
    if label_metrics.intersection(names) and (refs < 0).any():
        raise ValueError("references contain negative labels (an unlabeled test split, label -1?)")

    out: dict[str, float] = {}
    for name in names:
        if name == "accuracy":
            out[name] = 100.0 * float(np.mean(preds == refs))
        elif name == "f1":
            out[name] = 100.0 * float(f1_score(refs, preds, pos_label=1, average="binary", zero_division=0))
        elif name == "macro_f1":
            out[name] = 100.0 * float(f1_score(refs, preds, average="macro", zero_division=0))
        elif name == "matthews_correlation":
            out[name] = 100.0 * float(matthews_corrcoef(refs, preds))
        elif name == "pearson":
            out[name] = _correlation(pearsonr, preds.astype(float), refs.astype(float))
        elif name == "spearmanr":
            out[name] = _correlation(spearmanr, preds.astype(float), refs.astype(float))
        elif name == "pearson_spearman_avg":
            pearson = _correlation(pearsonr, preds.astype(float), refs.astype(float))
            spearman = _correlation(spearmanr, preds.astype(float), refs.astype(float))
            out[name] = (pearson + spearman) / 2.0
    return out


# ----------------------------------------------------------------------------------------------------------
# SQuAD v1.1 / v2.0 (official evaluate scripts, re-implemented)
# ----------------------------------------------------------------------------------------------------------

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = set(string.punctuation)


def normalize_squad_answer(text: str) -> str:
    """The official SQuAD normalisation: lowercase, drop ASCII punctuation, drop a/an/the, squeeze spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _exact(prediction: str, gold: str) -> float:
    return float(normalize_squad_answer(prediction) == normalize_squad_answer(gold))


def _f1_v1(prediction: str, gold: str) -> float:
    """Token F1 as in the v1.1 script (0 when nothing is shared, including when both sides are empty)."""
    pred_tokens = normalize_squad_answer(prediction).split()
    gold_tokens = normalize_squad_answer(gold).split()
    num_same = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if num_same == 0:
        return 0.0
    precision = num_same / len(pred_tokens)
    recall = num_same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def _f1_v2(prediction: str, gold: str) -> float:
    """Token F1 as in the v2.0 script: if either side is empty, 1 when both are, else 0."""
    pred_tokens = normalize_squad_answer(prediction).split()
    gold_tokens = normalize_squad_answer(gold).split()
    if not pred_tokens or not gold_tokens:
        return float(pred_tokens == gold_tokens)
    return _f1_v1(prediction, gold)


def _is_no_answer(golds: Sequence[str]) -> bool:
    return all(not g for g in golds)  # [] or [""]: the v2.0 "no answer" gold


def squad_scores(predictions: Mapping[str, str], references: Mapping[str, Sequence[str]]) -> dict[str, float]:
    """SQuAD exact match and token F1 in percent, max over the gold answers of each question.

    `references` maps question id -> gold answer texts. When no gold is a no-answer ([] or [""]) this is the
    official v1.1 script; otherwise the official v2.0 script (golds that normalise to "" are dropped, an
    empty prediction scores 1 on a no-answer question, scores split into has_ans_* / no_ans_*; the
    no-answer-probability threshold search of that script is not done: "" is the no-answer prediction).
    A question without a prediction scores 0 (v1.1 behaviour; v2.0 would skip it) and is logged.
    """
    if not references:
        raise ValueError("no references to score")
    v2 = any(_is_no_answer(golds) for golds in references.values())
    f1_fn = _f1_v2 if v2 else _f1_v1
    exact: dict[str, float] = {}
    f1: dict[str, float] = {}
    missing = 0
    for qid, golds in references.items():
        if v2:
            golds = [g for g in golds if normalize_squad_answer(g)] or [""]
        if qid not in predictions:
            missing += 1
            exact[qid] = f1[qid] = 0.0
            continue
        pred = predictions[qid]
        exact[qid] = max(_exact(pred, g) for g in golds)
        f1[qid] = max(f1_fn(pred, g) for g in golds)
    if missing:
        log.warning("%d of %d questions have no prediction; they score 0", missing, len(references))

    def mean_percent(scores: dict[str, float], ids: Sequence[str]) -> float:
        return 100.0 * sum(scores[i] for i in ids) / len(ids)

    all_ids = list(references)
    out = {"exact_match": mean_percent(exact, all_ids), "f1": mean_percent(f1, all_ids)}
    if v2:
        has_ans = [q for q in all_ids if not _is_no_answer(references[q])]
        no_ans = [q for q in all_ids if _is_no_answer(references[q])]
        if has_ans:
            out["has_ans_exact_match"] = mean_percent(exact, has_ans)
            out["has_ans_f1"] = mean_percent(f1, has_ans)
        out["no_ans_exact_match"] = mean_percent(exact, no_ans)
        out["no_ans_f1"] = mean_percent(f1, no_ans)
    return out


# ----------------------------------------------------------------------------------------------------------
# Reading and comparing metric values
# ----------------------------------------------------------------------------------------------------------


def main_metric_value(metrics: Mapping[str, float], main: str) -> float:
    """The value of the task's main metric; KeyError naming the metrics that were computed if it is absent."""
    if main not in metrics:
        raise KeyError(f"main metric {main!r} was not computed; available metrics: {sorted(metrics)}")
    return float(metrics[main])


def is_better(a: float, b: float, metric_name: str) -> bool:
    """Whether value `a` is strictly better than `b` for `metric_name` (NaN is worse than any number)."""
    if metric_name not in METRICS:
        raise ValueError(f"unknown metric {metric_name!r}; known metrics: {sorted(METRICS)}")
    if math.isnan(a):
        return False
    if math.isnan(b):
        return True
    return a > b if METRICS[metric_name].higher_is_better else a < b
