"""The papers' published numbers (`conf/tables/paper/<name>.yaml`), kept as printed.

Data contract: `values: {row: {col: number | "85.30"}}` (a string keeps the paper's digits and is shown verbatim;
its number is parsed for Δ), optional `std: {row: {col: "0.12"}}`, `marks: {row: {col: "*"}}` (significance marks
as printed), `params: {row: "0.07"}` with `params_unit: "%" | "M"` (older files: `params_m`, read as M unless
`params_unit` says otherwise). Whatever is absent is simply not shown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kronbench.tables.spec import load_yaml

NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")


@dataclass(frozen=True)
class PaperValue:
    """One published number: its printed text, its value, std and marks as printed."""

    text: str
    value: float | None
    std: str | None = None
    marks: str = ""

    def render(self, std_sep: str = " ± ") -> str:
        return self.text + (f"{std_sep}{self.std}" if self.std else "") + self.marks


def number(raw: Any) -> float | None:
    if isinstance(raw, bool) or raw is None:
        return None
    if isinstance(raw, int | float):
        return float(raw)
    match = NUMBER.search(str(raw))
    return float(match.group()) if match else None


def printed(raw: Any, digits: int) -> str:
    """A string as printed; a bare number (older files) with the table's digits."""
    if isinstance(raw, str):
        return raw
    if isinstance(raw, int) and not isinstance(raw, bool):
        return str(raw)
    return f"{float(raw):.{digits}f}"


@dataclass
class Paper:
    """A paper data file (empty when the table names none or the file is absent)."""

    data: dict[str, Any]

    @classmethod
    def load(cls, paper_dir: Path, name: str | None) -> Paper:
        path = paper_dir / f"{name}.yaml" if name else None
        return cls(load_yaml(path) if path is not None and path.is_file() else {})

    @property
    def source(self) -> str | None:
        return self.data.get("source")

    def _get(self, key: str, row: str, col: str) -> Any:
        return ((self.data.get(key) or {}).get(row) or {}).get(col)

    def value(self, row: str, col: str, digits: int) -> PaperValue | None:
        raw = self._get("values", row, col)
        if raw is None:
            return None
        std = self._get("std", row, col)
        marks = self._get("marks", row, col)
        return PaperValue(
            printed(raw, digits),
            number(raw),
            None if std is None else printed(std, digits),
            "" if marks is None else str(marks),
        )

    def params_unit(self, default: str | None = None) -> str | None:
        """The unit of the paper's parameter counts: its `params_unit`, else `default` (a table spec's
        `params_unit`), else M when it has counts (older files' `params_m`); None when it has none."""
        if self.data.get("params_unit"):
            return str(self.data["params_unit"])
        if default:
            return default
        return "M" if self.data.get("params") or self.data.get("params_m") else None

    def params(self, row: str) -> str | None:
        """The row's printed parameter count (several values, e.g. per model, joined by ' / ')."""
        raw = (self.data.get("params") or self.data.get("params_m") or {}).get(row)
        if raw is None:
            return None
        if isinstance(raw, dict):
            return " / ".join(printed(v, 2) if not isinstance(v, float) else f"{v:g}" for v in raw.values())
        return raw if isinstance(raw, str) else f"{raw:g}"
