"""Bad data and unwritable outputs fail before any model is loaded, naming file, row (line) and column."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import kronbench.run as run_module
from kronbench.preflight import OutputError
from kronbench.run import run
from kronbench.tasks.validate import DataError
from tests.conftest import compose_config

GOOD = {"sentence1": "A man sleeps.", "sentence2": "Someone rests.", "label": 0, "idx": 0}


def write_rows(path: Path, rows: list[dict | str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def make_task(root: Path, train: list[dict | str], task: str = "glue/rte", row: dict = GOOD) -> Path:
    """A local data folder with `train` rows and a valid validation split."""
    write_rows(root / task / "validation.jsonl", [row] * 4)
    return write_rows(root / task / "train.jsonl", train)


def start(tmp_path: Path, *overrides: str, task: str = "glue/rte"):
    """Run tiny-bert on the tmp data; loading a model means the check came too late."""
    cfg = compose_config(
        "model=tiny-bert", "method.factor_shape=[4,8]", f"task={task}", f"data_dir={tmp_path / 'data'}",
        f"output_dir={tmp_path / 'results'}", "train.max_steps=2", "train.progress_bar=false", *overrides,
    )  # fmt: skip
    return run(cfg, run_dir=tmp_path / "run")


@pytest.fixture(autouse=True)
def no_model_loading(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the input was checked")

    monkeypatch.setattr(run_module, "load_model", refuse)


def test_malformed_json_line_names_file_and_line(tmp_path):
    train = make_task(tmp_path / "data", [GOOD, '{"sentence1": "x", "label": 1', GOOD])
    with pytest.raises(DataError, match=rf"{train}, line 2: not valid JSON \(.* at column 30\)"):
        start(tmp_path)


def test_empty_train_file_names_the_file(tmp_path):
    train = make_task(tmp_path / "data", [])
    with pytest.raises(DataError, match=rf"{train}: the file has no rows"):
        start(tmp_path)


def test_row_without_label_names_file_line_and_column(tmp_path):
    no_label = {k: v for k, v in GOOD.items() if k != "label"}
    train = make_task(tmp_path / "data", [GOOD, "", GOOD, no_label])  # a blank line is not a row
    with pytest.raises(DataError, match=rf"{train}, line 4 \(row 3\): column 'label' is missing or null"):
        start(tmp_path)


def test_text_column_absent_everywhere_lists_the_columns(tmp_path):
    rows = [{k: v for k, v in GOOD.items() if k != "sentence2"}] * 3
    train = make_task(tmp_path / "data", rows)
    with pytest.raises(DataError, match=rf"{train}: split 'train' has no column 'sentence2'"):
        start(tmp_path)


def test_label_out_of_range_names_value_and_valid_range(tmp_path):
    train = make_task(tmp_path / "data", [GOOD, {**GOOD, "label": 5}])
    message = rf"{train}, line 2 \(row 2\): column 'label': 5 is not a class id; valid: 0..1 \(0 = entailment, 1 = not_entailment\)"
    with pytest.raises(DataError, match=message):
        start(tmp_path)
    record = next((tmp_path / "results").rglob("seed0.json"))
    assert json.loads(record.read_text())["status"] == "failed"  # the failure is on record, nothing trained


def test_non_numeric_regression_target(tmp_path):
    row = {**GOOD, "label": 3.2}
    train = make_task(tmp_path / "data", [row, {**row, "label": "high"}], task="glue/stsb", row=row)
    with pytest.raises(
        DataError, match=rf"{train}, line 2 \(row 2\): column 'label': 'high' is not a finite number"
    ):
        start(tmp_path, task="glue/stsb")


def test_unwritable_output_dir_fails_before_loading(tmp_path):
    make_task(tmp_path / "data", [GOOD] * 4)
    unwritable = Path("/proc/kronbench-results")  # not creatable, even by root (permission bits are not)
    with pytest.raises(
        OutputError,
        match=r"output_dir='/proc/kronbench-results'.*cannot write to /proc/kronbench-results/glue/rte",
    ):
        start(tmp_path, f"output_dir={unwritable}")


def test_good_data_passes_the_checks(tmp_path):
    make_task(tmp_path / "data", [GOOD, {**GOOD, "label": 1}])
    with pytest.raises(AssertionError, match="model was loaded"):  # reached model loading: checks passed
        start(tmp_path)


@pytest.mark.parametrize(
    ("value", "problem"),
    [(1, None), ("1", None), (1.0, None), (2, "2 is not a class id"), (True, "True is not a class id"),
     ("yes", "'yes' is not a class id"), (-1, "-1 marks an unlabelled row")],
)  # fmt: skip
def test_class_ids_accepted_as_preprocessing_reads_them(value, problem):
    from kronbench.config import TaskConfig
    from kronbench.tasks.validate import label_problem

    found = label_problem(TaskConfig(name="t", hub_path="h", label_names=["a", "b"]), value)
    assert found is None if problem is None else problem in found
