"""Data checks run before any model is loaded: each error names the file, the row (line) and the column.

- :func:`load_jsonl` reads a local `<split>.jsonl`; an empty file or a malformed line is reported with its path
  and line number (instead of `StopIteration` / `DatasetGenerationError`).
- :func:`check_splits` rejects empty splits, rows missing a text or label column, class ids out of range and
  non-numeric regression targets, for the task types whose columns are declared in the task config.
"""

from __future__ import annotations

import json
import math
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from datasets import Dataset, load_dataset

from kronbench.config import TaskConfig

LABELLED_TYPES = ("classification", "regression", "multiple_choice")  # columns fully declared in the config


class DataError(ValueError):
    """Bad task data, named by file (or hub split), row and column, with what would be valid."""


def data_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(1-based line number, text) of every non-blank line: the rows `load_dataset("json")` reads."""
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if line.strip():
                yield number, line


def load_jsonl(path: str | Path) -> Dataset:
    """One JSON Lines file as a Dataset; an empty file or a malformed line raises DataError with file and line."""
    path = Path(path)
    if next(data_lines(path), None) is None:
        raise DataError(f"{path}: the file has no rows (it is empty); each line must be one JSON object")
    try:
        return load_dataset("json", data_files=str(path), split="train")
    except Exception as err:
        for number, line in data_lines(path):
            try:
                row = json.loads(line.strip())
            except json.JSONDecodeError as bad:
                raise DataError(
                    f"{path}, line {number}: not valid JSON ({bad.msg} at column {bad.colno}): "
                    f"{line.strip()[:120]!r}"
                ) from err
            if not isinstance(row, dict):
                raise DataError(
                    f"{path}, line {number}: a JSON {type(row).__name__}, expected one object per line"
                ) from err
        raise DataError(f"{path}: could not be read as JSON Lines ({type(err).__name__}: {err})") from err


def row_place(source: str | Path, row: int) -> str:
    """`<file>, line N (row R)` for a local file, `<hub split>, row R` otherwise (R 1-based)."""
    path = Path(source)
    if path.is_file():
        for index, (number, _) in enumerate(data_lines(path)):
            if index == row:
                return f"{path}, line {number} (row {row + 1})"
    return f"{source}, row {row + 1}"


def text_columns(spec: str) -> list[str]:
    """Columns a `text_fields` entry reads: a column, the first key of a dotted path, or a template's fields."""
    if "{" in spec:
        names = [name for _, name, _, _ in string.Formatter().parse(spec) if name]
        return [name.split(".")[0].split("[")[0] for name in names]
    return [spec.split(".")[0]]


def required_columns(cfg: TaskConfig) -> list[str]:
    """Columns every row must have (non-null) for the task's preprocessing."""
    if cfg.type not in LABELLED_TYPES:
        return []
    columns = [c for spec in [*cfg.text_fields, *cfg.choice_fields] for c in text_columns(spec)]
    return list(dict.fromkeys([*columns, cfg.label_field]))


def label_problem(cfg: TaskConfig, value: Any) -> str | None:
    """Why `value` is not a valid target for the task (None when it is)."""
    if cfg.type == "regression":
        try:
            ok = not isinstance(value, bool) and math.isfinite(float(value))
        except (TypeError, ValueError):
            ok = False
        return None if ok else f"{value!r} is not a finite number (regression target)"
    n = len(cfg.choice_fields) if cfg.type == "multiple_choice" else len(cfg.label_names)
    names = cfg.choice_fields if cfg.type == "multiple_choice" else cfg.label_names
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)  # "1" reads as class 1, as preprocessing's int() does
    integral = isinstance(value, int) and not isinstance(value, bool)
    integral = integral or isinstance(value, float) and value.is_integer()
    if integral and 0 <= value < n:
        return None
    valid = ", ".join(f"{i} = {name}" for i, name in enumerate(names))
    hidden = "; -1 marks an unlabelled row (GLUE/SuperGLUE test splits hide theirs)" if value == -1 else ""
    return f"{value!r} is not a class id; valid: 0..{n - 1} ({valid}){hidden}"


def check_split(cfg: TaskConfig, split: str, ds: Dataset, source: str | Path) -> None:
    """Raise DataError for an empty split, a missing/null required column, or an invalid label."""
    if len(ds) == 0:
        raise DataError(f"{source}: split {split!r} of task {cfg.name!r} has no rows")
    columns = required_columns(cfg)
    absent = [c for c in columns if c not in ds.column_names]
    if absent:
        raise DataError(
            f"{source}: split {split!r} has no column {absent[0]!r} in any row; task {cfg.name!r} reads "
            f"columns {columns} (task.text_fields / task.label_field), the file has {ds.column_names}"
        )
    for column in columns:
        values = ds[column]
        for row, value in enumerate(values):
            if value is None:
                raise DataError(
                    f"{row_place(source, row)}: column {column!r} is missing or null; "
                    f"every row of task {cfg.name!r} needs {columns}"
                )
            if column == cfg.label_field and (problem := label_problem(cfg, value)):
                raise DataError(f"{row_place(source, row)}: column {column!r}: {problem}")


def check_splits(cfg: TaskConfig, raw: dict[str, Dataset], sources: dict[str, str | Path]) -> None:
    """Check every raw split before anything is trained (`sources`: file path or hub name per split)."""
    for split, ds in raw.items():
        check_split(cfg, split, ds, sources.get(split, split))
