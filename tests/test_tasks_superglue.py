"""SuperGLUE (and GLUE tasks with no local data) end to end: a tiny model of each family, a few steps, a record.

Real local data where it exists (CB, COPA, RTE, WiC, WSC, GLUE RTE/STS-B); fixtures under tests/fixtures/data for
BoolQ train, MultiRC, ReCoRD, MNLI, QNLI, QQP. T5 runs text-to-text by default and with a head on request.
"""

from __future__ import annotations

import pytest

from tests.conftest import needs_shared
from tests.test_tasks_common import FIXTURES, quick_run

pytestmark = needs_shared

LOCAL = [
    ("tiny-t5", "super_glue/cb"),
    ("tiny-t5", "super_glue/copa"),
    ("tiny-t5", "glue/stsb"),
    ("tiny-bert", "super_glue/cb"),
    ("tiny-bert", "super_glue/copa"),
    ("tiny-bert", "super_glue/wsc"),
    ("tiny-roberta", "super_glue/copa"),
    ("tiny-deberta", "super_glue/wic"),
    ("tiny-gpt2", "super_glue/cb"),
]


@pytest.mark.parametrize(("model", "task"), LOCAL)
def test_local_superglue_runs(tmp_path, model, task):
    record = quick_run(tmp_path, model, task)
    assert record["data"]["source"].startswith("local:")


def test_t5_with_classification_head(tmp_path):
    record = quick_run(tmp_path, "tiny-t5", "super_glue/cb", "task.format=classification_head")
    assert record["config"]["task"]["format"] == "classification_head"


FIXTURE_RUNS = [
    ("tiny-bert", "super_glue/boolq", []),
    ("tiny-t5", "super_glue/boolq", []),
    ("tiny-bert", "super_glue/multirc", []),
    ("tiny-t5", "super_glue/multirc", []),
    ("tiny-roberta", "super_glue/record", []),
    ("tiny-t5", "super_glue/record", []),
    ("tiny-bert", "glue/mnli", ["task.holdout_size=2"]),
    ("tiny-t5", "glue/mnli", ["task.holdout_size=2"]),
    ("tiny-deberta", "glue/qnli", ["task.holdout_size=2"]),
    ("tiny-roberta", "glue/qqp", ["task.holdout_size=2"]),
]


@pytest.mark.parametrize(("model", "task", "extra"), FIXTURE_RUNS)
def test_fixture_tasks_run(tmp_path, model, task, extra):
    record = quick_run(tmp_path, model, task, *extra, data_dir=FIXTURES)
    metrics = record["metrics"]["report"]["metrics"]
    if task == "super_glue/multirc":
        assert {"f1", "exact_match"} <= set(metrics)
    if task == "super_glue/record":
        assert {"f1", "exact_match"} <= set(metrics)
