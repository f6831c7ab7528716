"""Metrics against hand-computed values, the official SQuAD dev file, and official E2E scorer outputs."""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path

import pytest

from kronbench.metrics import (
    METRICS,
    compute_classification_metrics,
    is_better,
    main_metric_value,
    nlg_scores,
    normalize_squad_answer,
    squad_scores,
)
from kronbench.nlg_metrics import coco_tokenize, ptb_tokenize

SHARED = Path(os.environ.get("KRONBENCH_SHARED", Path(__file__).resolve().parents[2] / "shared"))
SQUAD_DEV = SHARED / "data" / "squad" / "dev-v1.1.json"
E2E_DEV = SHARED / "data" / "e2e_nlg" / "raw" / "devset.csv"


# --- classification / regression ---------------------------------------------------------------------------


def test_accuracy():
    out = compute_classification_metrics(["accuracy"], [1, 0, 1, 1, 0], [1, 0, 0, 1, 1])
    assert out == {"accuracy": pytest.approx(60.0)}


def test_f1_and_matthews_from_a_confusion_matrix():
    # TP=3, FN=2, FP=1, TN=2
    refs = [1, 1, 1, 1, 1, 0, 0, 0]
    preds = [1, 1, 1, 0, 0, 1, 0, 0]
    out = compute_classification_metrics(["f1", "matthews_correlation", "accuracy"], preds, refs)
    assert out["f1"] == pytest.approx(100 * 2 * 3 / (2 * 3 + 1 + 2))  # 66.67
    mcc = (3 * 2 - 1 * 2) / math.sqrt((3 + 1) * (3 + 2) * (2 + 1) * (2 + 2))  # 4 / sqrt(240)
    assert out["matthews_correlation"] == pytest.approx(100 * mcc)  # 25.82
    assert out["accuracy"] == pytest.approx(100 * 5 / 8)


def test_macro_f1_three_classes():
    refs = [0, 0, 1, 1, 2, 2]
    preds = [0, 1, 1, 1, 2, 0]
    # class 0: P=1/2 R=1/2 F=1/2; class 1: P=2/3 R=1 F=4/5; class 2: P=1 R=1/2 F=2/3
    out = compute_classification_metrics(["macro_f1"], preds, refs)
    assert out["macro_f1"] == pytest.approx(100 * (1 / 2 + 4 / 5 + 2 / 3) / 3)


def test_pearson_spearman_on_tiny_lists():
    out = compute_classification_metrics(
        ["pearson", "spearmanr", "pearson_spearman_avg"], [1.0, 2.0, 3.0], [1.0, 2.0, 4.0]
    )
    # deviations (-1, 0, 1) and (-4/3, -1/3, 5/3): r = 3 / sqrt(2 * 42/9)
    pearson = 100 * 3 / math.sqrt(2 * 42 / 9)
    assert out["pearson"] == pytest.approx(pearson)
    assert out["spearmanr"] == pytest.approx(100.0)  # same order
    assert out["pearson_spearman_avg"] == pytest.approx((pearson + 100.0) / 2)
    reverse = compute_classification_metrics(["spearmanr"], [1, 2, 3, 4], [4, 3, 2, 1])
    assert reverse["spearmanr"] == pytest.approx(-100.0)


def test_constant_predictions_give_nan_correlation():
    out = compute_classification_metrics(["pearson"], [2.5, 2.5, 2.5], [1.0, 2.0, 3.0])
    assert math.isnan(out["pearson"])


def test_classification_rejects_bad_input():
    with pytest.raises(ValueError, match="'acc'.*valid names.*accuracy"):
        compute_classification_metrics(["acc"], [1], [1])
    with pytest.raises(ValueError, match="2 predictions but 3 references"):
        compute_classification_metrics(["accuracy"], [1, 0], [1, 0, 1])
    with pytest.raises(ValueError, match="negative labels"):
        compute_classification_metrics(["accuracy"], [1, 0], [-1, -1])


# --- SQuAD -------------------------------------------------------------------------------------------------


def test_squad_normalisation_is_the_official_one():
    assert normalize_squad_answer("The  Quick, brown fox!") == "quick brown fox"
    assert normalize_squad_answer("Levi's Stadium") == "levis stadium"
    assert normalize_squad_answer("an apple a day") == "apple day"


def _squad_references() -> dict[str, list[str]]:
    if not SQUAD_DEV.exists():
        pytest.skip(f"official SQuAD file not found at {SQUAD_DEV} (set KRONBENCH_SHARED)")
    data = json.loads(SQUAD_DEV.read_text(encoding="utf-8"))["data"]
    return {
        qa["id"]: [a["text"] for a in qa["answers"]]
        for article in data
        for paragraph in article["paragraphs"]
        for qa in paragraph["qas"]
    }


def test_squad_v11_perfect_and_wrong_predictions_on_the_official_file():
    refs = _squad_references()
    assert len(refs) == 10570
    perfect = squad_scores({q: golds[0] for q, golds in refs.items()}, refs)
    assert perfect == {"exact_match": pytest.approx(100.0), "f1": pytest.approx(100.0)}
    # "the" normalises to "", so it shares no token with any gold (F1 0) and, as in the official v1.1 script,
    # exactly matches the 3 golds that are a lone "." (questions 5725bad5..., 5730b7ce..., 57340d12...)
    wrong = squad_scores(dict.fromkeys(refs, "the"), refs)
    assert wrong == {"exact_match": pytest.approx(100 * 3 / 10570), "f1": 0.0}


def test_squad_v11_hand_computed_on_the_first_five_questions():
    all_refs = _squad_references()
    refs = dict(list(all_refs.items())[:5])  # Super Bowl 50: AFC, NFC, where, winner, colour
    predictions = dict(
        zip(
            refs,
            ["Broncos", "the Carolina Panthers!", "Levi's Stadium in Santa Clara", "Denver", "golden"],
            strict=True,
        )
    )
    # F1: "broncos" vs "denver broncos" = 2/3; exact; best gold is the 11-token "levis stadium in san
    # francisco bay area at santa clara california" (P=1, R=5/11 -> 5/8); 2/3; no shared token.
    out = squad_scores(predictions, refs)
    assert out["exact_match"] == pytest.approx(100 * 1 / 5)
    assert out["f1"] == pytest.approx(100 * (2 / 3 + 1 + 5 / 8 + 2 / 3 + 0) / 5)
    assert "has_ans_f1" not in out  # v1.1: no breakdown


def test_squad_v2_no_answer_cases():
    refs = {"a": ["Paris", "in Paris"], "b": [], "c": [""], "d": []}
    preds = {"a": "paris", "b": "", "c": "somewhere", "d": "the"}  # "the" normalises to "": a no-answer
    out = squad_scores(preds, refs)
    assert out["exact_match"] == pytest.approx(100 * 3 / 4)
    assert out["f1"] == pytest.approx(100 * 3 / 4)
    assert out["has_ans_exact_match"] == pytest.approx(100.0)
    assert out["has_ans_f1"] == pytest.approx(100.0)
    assert out["no_ans_exact_match"] == pytest.approx(100 * 2 / 3)
    assert out["no_ans_f1"] == pytest.approx(100 * 2 / 3)


def test_squad_missing_prediction_scores_zero():
    out = squad_scores({"a": "x"}, {"a": ["x"], "b": ["y"]})
    assert out == {"exact_match": pytest.approx(50.0), "f1": pytest.approx(50.0)}


# --- reading and comparing metric values -------------------------------------------------------------------


def test_main_metric_value_and_is_better():
    assert main_metric_value({"accuracy": 81.5, "f1": 70.0}, "f1") == 70.0
    with pytest.raises(KeyError, match="'pearson'.*accuracy"):
        main_metric_value({"accuracy": 81.5}, "pearson")
    assert is_better(82.0, 81.5, "accuracy") and not is_better(81.5, 81.5, "accuracy")
    assert is_better(0.40, 0.46, "ter") and not is_better(0.50, 0.46, "ter")
    assert is_better(10.0, float("nan"), "pearson") and not is_better(float("nan"), 10.0, "pearson")
    with pytest.raises(ValueError, match="unknown metric"):
        is_better(1.0, 0.0, "bogus")
    assert (
        METRICS["nist"].scale == 1.0
        and METRICS["bleu"].scale == 100.0
        and not METRICS["ter"].higher_is_better
    )


# --- NLG -----------------------------------------------------------------------------------------------------


def test_ptb_tokenizer_and_coco_punctuation():
    text = "Aromi's a coffee shop (riverside), £20-25. It isn't \"cheap\"."
    expected = "aromi 's a coffee shop -lrb- riverside -rrb- , # 20-25 . it is n't `` cheap '' ."
    assert ptb_tokenize(text) == expected.split()
    # COCO removes its punctuation list case-sensitively, so the lowercased "-lrb-" survives (as officially)
    expected = "aromi 's a coffee shop -lrb- riverside -rrb- # 20-25 it is n't cheap"
    assert coco_tokenize(text) == expected.split()


def test_identical_output_is_perfect():
    hyps = ["The Eagle is a cheap coffee shop near Burger King.", "Alimentum serves French food."]
    refs = [[h] for h in hyps]
    out = nlg_scores(hyps, refs, ["bleu", "meteor", "rouge_l", "ter"])
    assert out["bleu"] == pytest.approx(100.0)
    assert out["meteor"] == pytest.approx(100.0)
    assert out["rouge_l"] == pytest.approx(100.0)
    assert out["ter"] == pytest.approx(0.0)


def test_rouge_l_hand_computed():
    # LCS("the cat sat on the mat", "the cat lay on the red mat") = 5: P = 5/6, R = 5/7, beta = 1.2
    p, r, b2 = 5 / 6, 5 / 7, 1.2**2
    out = nlg_scores(["the cat sat on the mat"], [["the cat lay on the red mat"]], ["rouge_l"])
    assert out["rouge_l"] == pytest.approx(100 * (1 + b2) * p * r / (r + b2 * p))
    # COCO takes max precision and max recall over references separately: P = 1 (2nd ref), R = 1 (1st ref)
    assert nlg_scores(["a b c d"], [["a b", "a b c d e f g h"]], ["rouge_l"])["rouge_l"] == pytest.approx(
        100.0
    )


def test_cider_hand_computed():
    # Two segments: every n-gram has idf log(2) (df 1, or 0 -> clamped to 1). Segment 1 equals its
    # reference: cosine 1 for unigrams and bigrams, 0 for 3-/4-grams -> mean 0.5, x10 = 5. Segment 2:
    # unigram cosine (c matches, d/e do not) = ln2^2 / (sqrt(2) ln2)^2 = 1/2, no shared bigram -> 10*0.5/4.
    out = nlg_scores(["a b", "c d"], [["a b"], ["c e"]], ["cider"])
    assert out["cider"] == pytest.approx((5.0 + 1.25) / 2)


def test_meteor_hand_computed():
    # "the cats sat" vs "the cat sat": exact the (function word), sat; stem cats~cat (weight 0.6); one
    # chunk covering everything -> no fragmentation penalty. Weighted lengths 0.75*2 + 0.25*1 = 1.75;
    # weighted matches 0.75 (sat) + 0.25 (the) + 0.6*0.75 (cats) = 1.45 on both sides -> P = R = 1.45/1.75.
    assert nlg_scores(["the cats sat"], [["the cat sat"]], ["meteor"])["meteor"] == pytest.approx(
        100 * 1.45 / 1.75
    )
    # all words exact but in 2 chunks: frag = 2 / 3, penalty = 0.6 * frag^0.2
    out = nlg_scores(["sat the cat"], [["the cat sat"]], ["meteor"])
    assert out["meteor"] == pytest.approx(100 * (1 - 0.6 * (2 / 3) ** 0.2))


def test_nonsense_scores_low():
    refs = [
        ["The Eagle is a cheap coffee shop near Burger King in the city centre."],
        ["Alimentum is a family-friendly restaurant serving French food by the river."],
        ["Green Man is a pub with a high customer rating."],
    ]
    hyps = ["purple quantum zebras oscillate", "seventeen umbrellas whisper loudly", "xylophone tax ruins"]
    out = nlg_scores(hyps, refs, ["bleu", "nist", "meteor", "rouge_l", "cider", "ter", "chrf"])
    assert out["bleu"] < 1 and out["nist"] < 0.5 and out["meteor"] < 5 and out["rouge_l"] < 5
    assert out["cider"] < 0.1 and out["ter"] > 0.9 and out["chrf"] < 15


def test_nlg_rejects_bad_input():
    with pytest.raises(ValueError, match="'bleurt'.*valid names.*bleu"):
        nlg_scores(["a"], [["a"]], ["bleu", "bleurt"])
    with pytest.raises(ValueError, match="1 hypotheses but 2"):
        nlg_scores(["a"], [["a"], ["b"]], ["bleu"])
    with pytest.raises(ValueError, match="at least one reference"):
        nlg_scores(["a", "b"], [["a"], []], ["bleu"])


def test_e2e_dev_matches_the_official_scorers():
    """E2E dev, each MR's last reference scored against its other references. Expected values were computed
    with the official tools: e2e-metrics' pymteval (BLEU, NIST), pycocoevalcap 1.2 with the Stanford
    PTBTokenizer jar (ROUGE-L, CIDEr) and meteor-1.5.jar restricted to `-m "exact stem"` (the full jar,
    with synonyms and paraphrases, gives 45.376)."""
    if not E2E_DEV.exists():
        pytest.skip(f"E2E dev set not found at {E2E_DEV} (set KRONBENCH_SHARED)")
    groups: dict[str, list[str]] = {}
    with E2E_DEV.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            groups.setdefault(row["mr"], []).append(row["ref"])
    hyps = [refs[-1] for refs in groups.values() if len(refs) > 1]
    refs = [refs[:-1] for refs in groups.values() if len(refs) > 1]
    assert len(hyps) == 547
    out = nlg_scores(hyps, refs, ["bleu", "nist", "meteor", "rouge_l", "cider"])
    assert out["bleu"] == pytest.approx(60.046549, abs=1e-5)
    assert out["nist"] == pytest.approx(8.632331, abs=1e-5)
    assert out["meteor"] == pytest.approx(44.833506, abs=1e-5)
    assert out["rouge_l"] == pytest.approx(64.464675, abs=1e-5)
    assert out["cider"] == pytest.approx(1.869072, abs=1e-5)
