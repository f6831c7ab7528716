"""Data-to-text end to end: E2E, WebNLG (seen/unseen/all) and DART (fixture train) with GPT-2 and T5, and the loaders."""

from __future__ import annotations

import pytest

from kronbench.tasks.nlg_data import dart_local, e2e_local, webnlg_local
from tests.conftest import DATA_DIR, needs_shared
from tests.test_tasks_common import FIXTURES, quick_run

pytestmark = needs_shared

FAST_BEAMS = ["task.generation.num_beams=2", "task.generation.max_new_tokens=8"]


@pytest.mark.parametrize("model", ["tiny-gpt2", "tiny-t5"])
def test_e2e_all_metrics(tmp_path, model):
    record = quick_run(tmp_path, model, "e2e_nlg", *FAST_BEAMS)
    metrics = record["metrics"]["report"]["metrics"]
    assert set(metrics) == {"bleu", "nist", "meteor", "rouge_l", "cider"}
    assert record["data"]["reported_split"] == "test" and record["data"]["raw_sizes"]["test"] == 630


def test_webnlg_seen_unseen_all(tmp_path):
    # 4 test entries from each end of the test file: Airport (seen) and WrittenWork... pick a mixed slice
    record = quick_run(tmp_path, "tiny-gpt2", "web_nlg", *FAST_BEAMS, "train.max_eval_samples=4")
    metrics = record["metrics"]["report"]["metrics"]
    assert {"bleu", "ter", "bleu_seen", "ter_seen"} <= set(metrics)


def test_dart_fixture(tmp_path):
    record = quick_run(tmp_path, "tiny-gpt2", "dart", *FAST_BEAMS, data_dir=FIXTURES)
    assert {"bleu", "ter"} <= set(record["metrics"]["report"]["metrics"])


def test_official_files_load_with_expected_sizes():
    e2e = DATA_DIR / "e2e_nlg" / "raw"
    assert [len(e2e_local(e2e, s)) for s in ("validation", "test")] == [547, 630]
    assert sum(len(r["references"]) for r in e2e_local(e2e, "test")) == 4693
    web = DATA_DIR / "web_nlg" / "raw_2017"
    test = webnlg_local(web, "test")
    assert len(test) == 1862 and len(webnlg_local(web, "validation")) == 872
    assert len(dart_local(DATA_DIR / "dart" / "raw", "test")) == 5097


def test_webnlg_seen_flag_from_training_categories():
    from kronbench.run import to_run_config
    from kronbench.tasks.data import load_raw_splits
    from tests.conftest import compose_config

    cfg = to_run_config(compose_config("task=web_nlg", f"data_dir={DATA_DIR}")).task
    splits, _ = load_raw_splits(cfg, str(DATA_DIR))
    test = splits["test"]
    seen = sum(test["seen"])
    assert 0 < seen < len(test)
    assert {c for c, s in zip(test["category"], test["seen"], strict=True) if not s} == {
        "Artist",
        "Athlete",
        "CelestialBody",
        "MeanOfTransportation",
        "Politician",
    }
