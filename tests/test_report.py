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
