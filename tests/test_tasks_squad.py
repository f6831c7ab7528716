"""SQuAD v1.1 (real dev, trained on 90% of its articles) and v2.0 (fixture) end to end, every family."""

from __future__ import annotations

import pytest

from tests.conftest import needs_shared
from tests.test_tasks_common import FIXTURES, quick_run

pytestmark = needs_shared

ARTICLES = "task.split_protocol=dev_by_article"


@pytest.mark.parametrize("model", ["tiny-bert", "tiny-roberta", "tiny-deberta", "tiny-gpt2", "tiny-t5"])
def test_squad_v11_dev_by_article(tmp_path, model):
    record = quick_run(tmp_path, model, "squad", ARTICLES, "task.generation.max_new_tokens=4")
    data = record["data"]
    assert (
        data["split_protocol"] == "dev_by_article" and "90%" in data["note"] and "by 'title'" in data["note"]
    )
    assert data["raw_sizes"]["train"] + data["raw_sizes"]["validation"] == 10570


@pytest.mark.parametrize("model", ["tiny-bert", "tiny-t5"])
def test_squad_v2_fixture_reports_null_answer_scores(tmp_path, model):
    record = quick_run(
        tmp_path,
        model,
        "squad_v2",
        "train.max_eval_samples=9",
        "task.generation.max_new_tokens=4",
        data_dir=FIXTURES,
    )
    metrics = record["metrics"]["report"]["metrics"]
    assert {"exact_match", "f1", "has_ans_f1", "no_ans_f1"} <= set(metrics)


def test_squad_postprocess_picks_best_span_and_null():
    """Perfect logits give the gold answer (v1.1); a dominant CLS score gives "" (v2.0)."""
    import numpy as np

    from kronbench.models import load_tokenizer
    from kronbench.run import to_run_config
    from kronbench.tasks import build_task
    from tests.conftest import compose_config

    cfg = to_run_config(
        compose_config("model=tiny-bert", "task=squad", "task.max_length=64", "task.doc_stride=16")
    )
    tok = load_tokenizer(cfg.model)
    task = build_task(cfg.task, tok, cfg.model)
    from datasets import Dataset

    context = (
        "The quick brown fox jumps over the lazy dog near the river bank in the early morning light. " * 5
    )
    raw = Dataset.from_list(
        [
            {
                "id": "q1",
                "title": "t",
                "context": context,
                "question": "Who jumps?",
                "answers": {"text": ["quick brown fox"], "answer_start": [4]},
            }
        ]
    )
    feats = task.preprocess(raw, "validation")
    assert len(feats) > 1  # the context is split into overlapping windows
    starts, ends = [], []
    for offs in feats["offset_mapping"]:
        s, e = np.full(len(offs), -5.0), np.full(len(offs), -5.0)
        for k, (a, b) in enumerate(offs):
            if a == 4:
                s[k] = 5.0
            if b == 19 and a >= 0:
                e[k] = 5.0
        starts.append(s)
        ends.append(e)
    assert task.postprocess(raw, feats, starts, ends) == {"q1": "quick brown fox"}
    task.cfg.version_2_with_negative = True
    for s, e in zip(starts, ends, strict=True):
        s[0] = e[0] = 50.0  # CLS
    assert task.postprocess(raw, feats, starts, ends) == {"q1": ""}
