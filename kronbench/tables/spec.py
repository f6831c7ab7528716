"""Table specs (`conf/tables/<name>.yaml`): which records each (row, column) cell of a table selects.

Two selection modes:

- `select: cells` (default): a cell holds the runs of one experiment cell. The table names a `preset` (a row or
  column may name another) and `cell:` dicts at table, row and column level are merged; the merged dict must pin
  every axis of the preset (its `hydra.sweeper.params` except `seed`, plus the scales' axes). Values may use
  `{var}` templates filled from `vars:` of the table, row and column (and an average's `over:` values), e.g. a row
  `cell: {experiment/part/cell: "krona_paper/krona/{task}"}` with a column `vars: {task: rte}`. `deviations:`
  (table/row/column, merged) names the overrides beyond the axes that a cell accepts (default: none).
- `select: variants`: for ad-hoc and schema-1 records, a cell holds the records of `model` (table), `task`
  (column) and `method` (row) whose variant folder is one of the row's exact `variants:` names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from itertools import product
from pathlib import Path
from typing import Any

import yaml

from kronbench.experiment import axis_value
from kronbench.paths import CONF_DIR

TEMPLATE = re.compile(r"\{(\w+)\}")


class SpecError(ValueError):
    """A table spec that cannot select records as written (names the table, row and column)."""


def load_yaml(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text()) or {}


@cache
def preset_axes(preset: str, conf_dir: Path = CONF_DIR) -> frozenset[str]:
    """The axes of a preset: its sweeper params except `seed`, plus the axes the scales add (`model`)."""
    path = conf_dir / "experiment" / f"{preset}.yaml"
    if not path.is_file():
        raise SpecError(f"unknown preset {preset!r} (no {path})")
    axes = set(((load_yaml(path).get("hydra") or {}).get("sweeper") or {}).get("params") or {})
    for scale in sorted((conf_dir / "scale").glob("*.yaml")):
        axes |= set(((load_yaml(scale).get("hydra") or {}).get("sweeper") or {}).get("params") or {})
    return frozenset(axes - {"seed"})


def fill(value: Any, vars_: dict[str, Any], where: str) -> str:
    """Canonical axis text of a spec value, `{var}` templates filled."""
    text = axis_value(value)
    missing = [name for name in TEMPLATE.findall(text) if name not in vars_]
    if missing:
        raise SpecError(f"{where}: template variable(s) {missing} not set by vars")
    return TEMPLATE.sub(lambda m: str(vars_[m.group(1)]), text)


# ---------------------------------------------------------------------------------------------------- selectors


@dataclass(frozen=True)
class CellSelector:
    """Runs of one experiment cell (`preset` + one value per axis) with exactly `deviations`."""

    preset: str
    cell: tuple[tuple[str, str], ...]  # sorted (axis, value)
    deviations: tuple[str, ...] = ()

    @property
    def cell_id(self) -> str:
        return f"{self.preset}:" + ",".join(f"{k}={v}" for k, v in self.cell)

    def index_keys(self) -> list[tuple[str, ...]]:
        """Index keys of the records this selector may pick (see `record_keys`)."""
        return [("cell", self.preset, *(f"{k}={v}" for k, v in self.cell))]

    def in_cell(self, record: dict[str, Any]) -> bool:
        """The record ran this experiment cell (whatever its deviations)."""
        exp = record.get("experiment") or {}
        return exp.get("preset") == self.preset and record_cell(record) == self.cell

    def eligible(self, deviations: tuple[str, ...]) -> bool:
        return deviations == self.deviations


@dataclass(frozen=True)
class VariantSelector:
    """Records of (model, task, method) whose variant folder is one of `variants` (exact names)."""

    model: str
    task: str
    method: str
    variants: tuple[str, ...]

    @property
    def cell_id(self) -> str:
        return f"{self.model}/{self.task}/{self.method}/{{{','.join(self.variants)}}}"

    def index_keys(self) -> list[tuple[str, ...]]:
        return [("variant", self.model, self.task, self.method, v) for v in self.variants]

    def in_cell(self, record: dict[str, Any]) -> bool:
        return (
            record.get("model") == self.model
            and record.get("task") == self.task
            and record.get("method") == self.method
            and record.get("variant") in self.variants
        )

    def eligible(self, deviations: tuple[str, ...]) -> bool:
        return True


Selector = CellSelector | VariantSelector


def record_cell(record: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    cell = (record.get("experiment") or {}).get("cell") or {}
    return tuple(sorted((str(k), str(v)) for k, v in cell.items()))


def record_keys(record: dict[str, Any]) -> list[tuple[str, ...]]:
    """The index keys of a record: its experiment cell (schema 2 with a preset) and its variant folder."""
    keys = [("variant", *(str(record.get(k)) for k in ("model", "task", "method", "variant")))]
    preset = (record.get("experiment") or {}).get("preset")
    if preset:
        keys.append(("cell", str(preset), *(f"{k}={v}" for k, v in record_cell(record))))
    return keys


def record_deviations(record: dict[str, Any]) -> tuple[str, ...]:
    return tuple(sorted((record.get("experiment") or {}).get("deviations") or []))


def config_key(record: dict[str, Any]) -> str:
    """One configuration: the run hash (schema 2) or the variant folder (schema 1, which ends in the hash)."""
    run_hash = (record.get("identity") or {}).get("run_hash")
    return f"run {run_hash}" if run_hash else f"variant {record.get('variant')}"


# ---------------------------------------------------------------------------------------------------- specs

SELECTION_KEYS = {"label", "paper_label", "preset", "cell", "vars", "deviations", "over", "metric", "model"}
TABLE_KEYS = {"title", "paper", "preset", "cell", "vars", "deviations", "over", "scope", "scale", "select", "model",
              "expected_seeds", "digits", "always", "params_unit", "value", "ratio_to", "ranks", "metric",
              "main_metric", "rows", "columns", "_name", "_local_of"}  # fmt: skip
ROW_KEYS = SELECTION_KEYS | {"role", "paper_only", "only", "method", "variants"}
COLUMN_KEYS = SELECTION_KEYS | {"average", "task"}


def check_keys(spec: dict[str, Any]) -> None:
    """Unknown keys are typos that would silently select something else: refuse them, naming where."""
    name = spec.get("_name")
    problems = [f"table key {k!r}" for k in spec if k not in TABLE_KEYS]
    problems += [f"row {r.get('label')!r} key {k!r}" for r in spec["rows"] for k in r if k not in ROW_KEYS]
    problems += [
        f"column {c.get('label')!r} key {k!r}" for c in spec["columns"] for k in c if k not in COLUMN_KEYS
    ]
    if problems:
        raise SpecError(f"table {name!r}: unknown " + "; ".join(problems))


@dataclass
class Slot:
    """What one (row, column) of a table shows: one selector, or the per-seed average of several."""

    selectors: list[Selector] = field(default_factory=list)
    average: bool = (
        False  # True: mean of `selectors` (an `over:` column); False: exactly one selector or none
    )
    metric: str | None = None


def merged(*parts: dict[str, Any] | None, key: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for part in parts:
        out.update((part or {}).get(key) or {})
    return out


def first(*parts: dict[str, Any], key: str) -> Any:
    for part in parts:
        if part.get(key) is not None:
            return part[key]
    return None


def cell_selector(
    spec: dict[str, Any], row: dict[str, Any], col: dict[str, Any], extra_vars: dict[str, Any], where: str
) -> CellSelector:
    """The experiment cell a (row, column) names: presets and `cell:` dicts merged, templates filled, checked."""
    preset = first(col, row, spec, key="preset")
    if not preset:
        raise SpecError(f"{where}: no preset (table, row or column `preset:`)")
    vars_ = {**merged(spec, row, col, key="vars"), **extra_vars}
    raw = {**(spec.get("cell") or {}), **(row.get("cell") or {}), **(col.get("cell") or {})}
    cell = {str(k): fill(v, vars_, where) for k, v in raw.items()}
    axes = preset_axes(str(preset))
    if set(cell) != axes:
        missing, extra = sorted(axes - set(cell)), sorted(set(cell) - axes)
        raise SpecError(
            f"{where}: the cell must pin every axis of {preset} {sorted(axes)}; missing {missing}, not axes {extra}"
        )
    deviations = [
        *(spec.get("deviations") or []),
        *(row.get("deviations") or []),
        *(col.get("deviations") or []),
    ]
    return CellSelector(str(preset), tuple(sorted(cell.items())), tuple(sorted(set(deviations))))


def slot(spec: dict[str, Any], row: dict[str, Any], col: dict[str, Any]) -> Slot:
    """The selection of one (row, column); an `average: true` column is filled later from the row's cells."""
    where = f"table {spec.get('_name')!r}, row {row.get('label')!r}, column {col.get('label')!r}"
    metric = col.get("metric") or row.get("metric") or spec.get("metric")
    only = row.get("only")
    if row.get("paper_only") or col.get("average") or (only is not None and col["label"] not in only):
        return Slot(metric=metric)
    if spec.get("select", "cells") == "variants":
        variants = row.get("variants")
        if not variants or not col.get("task") or not row.get("method"):
            raise SpecError(f"{where}: select: variants needs row method + variants and column task")
        model = first(col, row, spec, key="model")
        return Slot([VariantSelector(model, col["task"], row["method"], tuple(variants))], metric=metric)
    over = merged(spec, row, col, key="over")
    if not over:
        return Slot([cell_selector(spec, row, col, {}, where)], metric=metric)
    names = sorted(over)
    bindings = [dict(zip(names, combo, strict=True)) for combo in product(*(over[n] for n in names))]
    return Slot([cell_selector(spec, row, col, b, where) for b in bindings], average=True, metric=metric)


def local_version(spec: dict[str, Any]) -> dict[str, Any] | None:
    """The scale=local twin of a paper-scale table that pins its model at table level: `model: minilm`."""
    cell = spec.get("cell") or {}
    if spec.get("select", "cells") != "cells" or "model" not in cell or cell["model"] == "minilm":
        return None
    title = spec.get("title", spec.get("_name"))
    return {**spec, "cell": {**cell, "model": "minilm"}, "title": f"{title} — scale=local (MiniLM)",
            "_name": f"{spec.get('_name')}_local", "always": False, "_local_of": spec.get("_name")}  # fmt: skip
