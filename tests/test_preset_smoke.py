"""The first job of every paper preset trains for a few CPU steps on a tiny model of its family: no preset cell crashes.

Tiny random models (conf/model/tiny-*.yaml) need the real tokenizers in ../shared; task data comes from
../shared/data, or from tests/fixtures/data for tasks absent there (MNLI, QNLI, QQP, BoolQ train). The default suite
runs a representative subset (one preset per model family and split protocol); `-m slow` runs every preset.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kronbench import sweep
from kronbench.run import run
from tests.conftest import CONF_DIR, DATA_DIR, TOKENIZERS, compose_config

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "data"
PRESETS = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml"))
TINY = {"t5": "tiny-t5", "bert": "tiny-bert", "roberta": "tiny-roberta", "deberta": "tiny-deberta", "gpt2": "tiny-gpt2"}  # fmt: skip
FAST = {  # one per model family / split protocol / task type
    "krona_table9_factor_shapes",  # T5, fixture MNLI, 1k-row test split
    "madakron_table1_glue_roberta",  # RoBERTa, CoLA
    "madakron_table2_superglue_bert",  # BERT, BoolQ fixture
    "madakron_table7_products",  # 85/15 split
    "madakron_table5_nlg_gpt2",  # GPT-2, generation
}
SMOKE = [
    "train.max_steps=2",
    "train.max_train_samples=16",
    "train.max_eval_samples=8",
    "train.batch_size=4",
    "train.eval_batch_size=8",
    "train.progress_bar=false",
    "train.save_checkpoint=false",
    "train.mixed_precision=no",
    "task.holdout_size=2",  # fixture train splits hold a few rows
    "task.generation.num_beams=1",
    "task.generation.max_new_tokens=4",
]

needs_tokenizers = pytest.mark.skipif(not TOKENIZERS.exists(), reason=f"tokenizers not found at {TOKENIZERS}")


def data_root(task_dir: str) -> Path:
    """../shared/data when it holds the task's train split, else the test fixtures."""
    shared = DATA_DIR / task_dir
    if shared.is_dir() and (any(shared.glob("train*")) or (shared / "raw").is_dir()):
        return DATA_DIR
    return FIXTURES


def first_job_overrides(preset: str, output_dir: Path) -> list[str]:
    job = [o for o in sweep.sweep_overrides([f"experiment={preset}"])[0] if not o.startswith("model=")]
    cfg = compose_config(*job)
    tiny = TINY[cfg.model.family]
    root = data_root(cfg.task.local_dir or cfg.task.name)
    # the papers' Kronecker factor shapes are for width 768 (tested against the tables elsewhere); tiny models are 32
    shape = ["method.factor_shape=[4,8]"] if "factor_shape" in cfg.method else []
    return [*job, f"model={tiny}", f"data_dir={root}", f"output_dir={output_dir}", *SMOKE, *shape]


def run_first_job(preset: str, tmp_path: Path) -> None:
    record = run(compose_config(*first_job_overrides(preset, tmp_path)))
    assert record["status"] == "completed", record.get("error")
    assert record["timing"]["optimizer_steps"] == 2
    assert "protocol" in record["config"]["train"] and "assumptions" in record["config"]
    score = record["metrics"]["score"]
    assert score == score or record["metrics"]["main_metric"] in ("pearson", "pearson_spearman_avg")


@needs_tokenizers
@pytest.mark.parametrize("preset", sorted(FAST))
def test_first_job_of_representative_presets_runs(preset: str, tmp_path: Path) -> None:
    run_first_job(preset, tmp_path)


@needs_tokenizers
@pytest.mark.slow
@pytest.mark.parametrize("preset", [p for p in PRESETS if p not in FAST])
def test_first_job_of_every_preset_runs(preset: str, tmp_path: Path) -> None:
    run_first_job(preset, tmp_path)
