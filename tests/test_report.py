"""A run a user can follow: labelled evaluation lines and a summary block naming the reported split and record."""

from __future__ import annotations

import logging

from kronbench.report import eval_line, summary_lines
from kronbench.run import run
from tests.conftest import compose_config, needs_shared
from tests.test_records import QUICK


def test_eval_line_names_step_epoch_lr_loss_and_split():
    entry = {"step": 120, "epoch": 1.0, "train_loss": 0.68123, "validation": {"accuracy": 61.371, "f1": 70.0}}
    assert eval_line(entry, "validation", 2.4e-4) == (
        "eval  step 120  epoch 1.00  lr 2.40e-04  train_loss 0.6812  validation: accuracy=61.37 f1=70.00"
    )


@needs_shared
def test_a_run_ends_with_a_summary_naming_the_reported_split_and_the_record(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="kronbench"):
        record = run(compose_config(*QUICK, f"output_dir={tmp_path}"))
    (path,) = tmp_path.glob("glue/rte/tiny-bert/krona/*/seed0.json")
    expected = summary_lines(record, str(path))
    logged = [r.getMessage() for r in caplog.records]
    assert logged[-len(expected) :] == expected
    text = "\n".join(expected)
    assert "reported (test split on the merged model)" in text and f"record                {path}" in text
    assert f"accuracy = {record['metrics']['score']:.2f}" in text and "trainable parameters" in text


def test_third_party_libraries_log_warnings_and_above_only():
    import datasets
    import transformers

    from kronbench.report import quiet_third_party

    transformers.logging.set_verbosity_info()
    quiet_third_party()
    assert transformers.logging.get_verbosity() == logging.ERROR
    assert datasets.logging.get_verbosity() == logging.WARNING


@needs_shared
def test_trackers_group_seeds_and_log_every_evaluation_and_the_final_numbers(tmp_path, monkeypatch, caplog):
    from accelerate import Accelerator

    monkeypatch.setenv("WANDB_SILENT", "true")
    logged, inits = [], []
    original_init = Accelerator.init_trackers
    monkeypatch.setattr(
        Accelerator, "log", lambda self, values, step=None, log_kwargs=None: logged.append((step, values))
    )

    def spy_init(self, project_name, config=None, init_kwargs=None):
        inits.append(init_kwargs)
        return original_init(self, project_name, config, init_kwargs)

    monkeypatch.setattr(Accelerator, "init_trackers", spy_init)
    cfg = compose_config(
        *QUICK, f"output_dir={tmp_path / 'res'}", "train.trackers=[wandb]", "train.log_every=1"
    )
    with caplog.at_level(logging.INFO, logger="kronbench"):
        record = run(cfg, run_dir=tmp_path)
    (kwargs,) = inits
    assert (
        kwargs["wandb"]["group"].endswith(record["identity"]["run_hash"])
        and kwargs["wandb"]["mode"] == "offline"
    )
    evals = [(s, v) for s, v in logged if any(k.startswith("eval/") for k in v)]
    assert [s for s, _ in evals] == [e["step"] for e in record["metrics"]["evals"]]
    losses = [v["train/loss"] for _, v in logged if "train/loss" in v]
    assert len(losses) == record["timing"]["optimizer_steps"]
    final = logged[-1][1]
    assert final["final/score"] == record["metrics"]["score"] and "final/test/accuracy" in final
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("eval  step")]
    assert len(lines) == len(record["metrics"]["evals"]) and "validation: accuracy=" in lines[0]


def test_unknown_tracker_is_rejected():
    import pytest

    from kronbench.config import TrainConfig

    with pytest.raises(ValueError, match="train.trackers: 'mlflow' is not valid"):
        TrainConfig(trackers=["mlflow"])
