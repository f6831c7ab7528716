"""Task plumbing: hand-computed label mapping and metric values, linearisation, split protocols.

Also holds `quick_run`, the few-step end-to-end run the other `test_tasks_*` files use.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from datasets import Dataset

from kronbench.config import ModelConfig, TaskConfig
from kronbench.metrics import squad_scores
from kronbench.run import run, to_run_config
from kronbench.tasks.formats import (
    INVALID,
    classification_scores,
    grouped_exact_match,
    map_label_word,
    parse_regression,
    regression_target,
    render_text,
    resolve_format,
    t2t_source,
)
from kronbench.tasks.nlg_data import linearise_e2e, linearise_triples
from kronbench.tasks.splits import apply_protocol
from tests.conftest import DATA_DIR, RECORD_SECTIONS, SHARED, compose_config

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "data"


def quick_run(
    tmp_path: Path, model: str, task: str, *extra: str, data_dir: Path = DATA_DIR
) -> dict[str, Any]:
    """A few optimizer steps of `model` on `task` (full fine-tuning), checked for a valid completed record."""
    cfg = compose_config(
        f"model={model}",
        f"task={task}",
        "method=full",
        f"data_dir={data_dir}",
        f"output_dir={tmp_path}",
        "train=demo",
        "train.max_steps=2",
        "train.max_train_samples=8",
        "train.max_eval_samples=4",
        "train.batch_size=4",
        "train.eval_batch_size=4",
        "train.progress_bar=false",
        *extra,
    )
    record = run(cfg)
    (path,) = tmp_path.glob(f"{task}/{model}/full/*/seed0.json")
    on_disk = json.loads(path.read_text())
    assert on_disk["status"] == "completed" and record["status"] == "completed"
    for section in RECORD_SECTIONS:
        assert section in on_disk, section
    metrics = on_disk["metrics"]["report"]["metrics"]
    task_cfg = to_run_config(cfg).task
    assert set(task_cfg.metrics) <= set(metrics), (task_cfg.metrics, metrics)
    score = on_disk["metrics"]["score"]
    assert math.isnan(score) or -100.0 <= score <= 100.0
    assert on_disk["timing"]["optimizer_steps"] == 2
    return on_disk


def task_cfg(**kw: Any) -> TaskConfig:
    base = {"name": "t", "hub_path": "h", "label_names": ["no", "yes"], "text_fields": ["a"]}
    return TaskConfig(**{**base, **kw})


# ------------------------------------------------------------------------------------------ label mapping


def test_label_words_map_exactly_and_unmatched_is_invalid():
    words = ["entailment", "contradiction", "neutral"]
    assert map_label_word(" neutral ", words) == 2
    assert map_label_word("Neutral", words) == INVALID  # exact match only
    assert map_label_word("entailment.", words) == INVALID


def test_invalid_generations_count_wrong_and_macro_f1_uses_task_labels():
    cfg = task_cfg(label_names=["e", "c", "n"], metrics=["accuracy", "macro_f1"])
    # gold e c n e ; predicted e invalid n c  -> accuracy 2/4
    # per-class F1: e: tp1 fp0 fn1 -> 2/3; c: tp0 fp1 fn1 -> 0; n: tp1 -> 1  => macro (2/3 + 0 + 1) / 3
    out = classification_scores(cfg, [0, INVALID, 2, 1], [0, 1, 2, 0])
    assert out["accuracy"] == pytest.approx(50.0)
    assert out["macro_f1"] == pytest.approx(100 * (2 / 3 + 0 + 1) / 3)


def test_stsb_targets_round_to_point_two_and_parse_back():
    # halves round to even, as T5's tf.round / np.round: 2.5 * 5 = 12.5 -> 12 -> "2.4"
    assert [regression_target(x) for x in (3.8, 3.79, 3.9, 0.0, 5.0, 2.5)] == [
        "3.8",
        "3.8",
        "4.0",
        "0.0",
        "5.0",
        "2.4",
    ]
    assert (
        parse_regression("3.8") == 3.8
        and parse_regression("four") == -1.0
        and parse_regression("nan") == -1.0
    )


def test_binary_f1_treats_invalid_as_negative():
    cfg = task_cfg(metrics=["accuracy", "f1"], main_metric="f1")
    # gold 1 1 0 0; predicted 1 invalid invalid 1 -> tp1 fn1 fp1: F1 1/2; accuracy 1/4
    out = classification_scores(cfg, [1, INVALID, INVALID, 1], [1, 1, 0, 0])
    assert out == {"accuracy": 25.0, "f1": 50.0}


def test_multirc_exact_match_needs_every_option_of_a_question():
    # question A: both options right; question B: one wrong -> EM 1/2; F1a over all 5 options
    preds, refs, groups = [1, 0, 1, 1, 0], [1, 0, 1, 0, 0], ["A", "A", "B", "B", "B"]
    assert grouped_exact_match(preds, refs, groups) == 50.0
    cfg = task_cfg(metrics=["f1", "exact_match"], main_metric="f1", group_field="q")
    out = classification_scores(cfg, preds, refs, groups)
    assert out["exact_match"] == 50.0 and out["f1"] == pytest.approx(100 * 2 * 2 / (2 * 2 + 1))  # tp2 fp1 fn0


def test_templates_dotted_fields_and_t5_inputs():
    row = {"word": "bank", "sentence1": "A river bank.", "sentence2": "A bank loan.", "idx": {"question": 3}}
    assert render_text(row, "{word}: {sentence1}") == "bank: A river bank."
    assert render_text(row, "idx.question") == "3"
    cfg = task_cfg(hub_config="wic", t2t_fields=["sentence1", "sentence2", "word"])
    assert t2t_source(cfg, row) == "wic sentence1: A river bank. sentence2: A bank loan. word: bank"
    assert t2t_source(task_cfg(prefix="", t2t_fields=["word"]), row) == "word: bank"


def test_format_resolution_per_family():
    t5 = ModelConfig(name="t", pretrained="p", family="t5")
    bert = ModelConfig(name="b", pretrained="p", family="bert")
    cls = task_cfg()
    assert resolve_format(cls, t5) == "text_to_text" and resolve_format(cls, bert) == "classification_head"
    assert resolve_format(task_cfg(format="classification_head"), t5) == "classification_head"
    assert resolve_format(task_cfg(type="generation", label_names=[]), bert) == "text_to_text"


def test_linearisation_as_lora_data():
    mr = "name[The Vaults], eatType[pub], priceRange[more than £30], near[Café Adriatic]"
    assert (
        linearise_e2e(mr)
        == "name : The Vaults | eatType : pub | priceRange : more than £30 | near : Café Adriatic"
    )
    triples = [("Aarhus_Airport", "cityServed", "Aarhus"), ("Aarhus", "leaderName", '"Jacob Bundsgaard"')]
    assert (
        linearise_triples(triples)
        == "Aarhus Airport : cityServed : Aarhus | Aarhus : leaderName : Jacob Bundsgaard"
    )


# ------------------------------------------------------------------------------------------- split protocols


def test_dev_by_article_is_disjoint_by_title_and_reproducible():
    dev = Dataset.from_dict({"title": [f"t{i // 3}" for i in range(60)], "id": [str(i) for i in range(60)]})
    cfg = task_cfg(
        split_protocol="dev_by_article",
        type="span_extraction",
        label_names=[],
        metrics=["f1"],
        main_metric="f1",
    )
    a = apply_protocol(cfg, {"validation": dev})
    b = apply_protocol(cfg, {"validation": dev})
    assert a.protocol == "dev_by_article" and a.test is None and "90%" in (a.note or "")
    assert set(a.train["title"]).isdisjoint(a.validation["title"])
    assert len(set(a.train["title"])) == 18 and len(set(a.validation["title"])) == 2
    assert a.train["id"] == b.train["id"]


# ----------------------------------------------------------------------------- SQuAD scorer on the official file


@pytest.mark.skipif(
    not (SHARED / "data" / "squad" / "dev-v1.1.json").exists(), reason="official SQuAD file missing"
)
def test_squad_scorer_on_official_dev_v11():
    data = json.loads((SHARED / "data" / "squad" / "dev-v1.1.json").read_text())
    refs = {
        qa["id"]: [a["text"] for a in qa["answers"]]
        for art in data["data"]
        for para in art["paragraphs"]
        for qa in para["qas"]
    }
    assert len(refs) == 10570
    perfect = squad_scores({q: golds[0] for q, golds in refs.items()}, refs)
    assert perfect == {"exact_match": 100.0, "f1": 100.0}
    # a known wrong set on the first 4 questions (golds: "Denver Broncos", "Carolina Panthers",
    # "Santa Clara, California" / "Levi's Stadium" / ..., "Denver Broncos"), scored by hand:
    ids = sorted(refs)[:4]
    sub = {q: refs[q] for q in ids}
    preds = {
        ids[0]: "the Denver Broncos!",  # normalises to the gold: EM 1, F1 1
        ids[1]: "Panthers",  # EM 0; F1: P 1/1, R 1/2 -> 2/3
        ids[
            2
        ]: "Stadium in California",  # best gold "Levi's Stadium in ... Santa Clara, California." (11 tokens):
        # common "stadium", "in", "california" = 3 -> P 3/3, R 3/11 -> F1 3/7
        ids[3]: "Broncos of Denver Colorado",  # P 2/4, R 2/2 -> 2/3
    }
    out = squad_scores(preds, sub)
    assert out["exact_match"] == pytest.approx(25.0)
    assert out["f1"] == pytest.approx(100 * (1 + 2 / 3 + 3 / 7 + 2 / 3) / 4)


def test_fixtures_exist_for_tasks_without_local_data():
    for path in (
        "super_glue/boolq/train.jsonl",
        "super_glue/multirc/validation.jsonl",
        "super_glue/record/validation.jsonl",
        "squad_v2/validation.jsonl",
        "glue/mnli/train.jsonl",
        "glue/qnli/train.jsonl",
        "glue/qqp/train.jsonl",
        "dart/raw/dart-v1.1.1-full-train.json",
    ):
        assert (FIXTURES / path).exists(), path
