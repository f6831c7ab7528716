"""Fill a table spec from the records: cells, averages, parameters, ranks and marks, and the footer of runs of
the table's presets that land in no cell (or in two)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kronbench.experiment import axis_value
from kronbench.tables.cells import P_VALUE, Cell, average_cell, build_cell, higher_is_better, welch_greater
from kronbench.tables.paper import Paper
from kronbench.tables.records import Records
from kronbench.tables.spec import TEMPLATE, CellSelector, check_keys, record_keys, slot


@dataclass
class Params:
    """A row's trainable parameters: ours (in the paper's unit) and the paper's as printed."""

    ours: str | None = None
    paper: str | None = None


@dataclass
class Table:
    """A built table: spec, row/column labels in the paper's order, cells[row][col], and its footer."""

    name: str
    spec: dict[str, Any]
    rows: list[str]
    cols: list[str]
    cells: dict[str, dict[str, Cell]]
    paper: Paper
    params: dict[str, Params] = field(default_factory=dict)
    params_unit: str | None = None
    # (path, why): runs in the table's scope that land in no cell, or in two
    unmatched: list[tuple[str, str]] = field(default_factory=list)
    failed: int = 0

    @property
    def digits(self) -> int:
        return int(self.spec.get("digits", 2))

    @property
    def has_data(self) -> bool:
        return any(c.n for row in self.cells.values() for c in row.values())

    @property
    def presets(self) -> list[str]:
        return sorted({s.preset for row in self.cells.values() for c in row.values()
                       for s in c.selectors if isinstance(s, CellSelector)})  # fmt: skip


def paper_label(part: dict[str, Any]) -> str:
    return str(part.get("paper_label", part["label"]))


def build_table(name: str, spec: dict[str, Any], records: Records, paper_dir: Path) -> Table:
    """Fill one spec (see kronbench/tables/spec.py for the format)."""
    spec = {"_name": name, **spec}
    check_keys(spec)
    expected = int(spec.get("expected_seeds", 4))
    paper = Paper.load(paper_dir, spec.get("paper"))
    rows, cols = spec["rows"], spec["columns"]
    table = Table(name, spec, [r["label"] for r in rows], [c["label"] for c in cols], {}, paper)
    value = spec.get("value")
    for row in rows:
        line: dict[str, Cell] = {}
        for col in cols:
            s = slot(spec, row, col)
            built = [build_cell(x, records, s.metric, expected, value) for x in s.selectors]
            line[col["label"]] = (
                average_cell(built, expected) if s.average else (built or [Cell(expected=expected)])[0]
            )
        table.cells[row["label"]] = line
    if spec.get("ratio_to"):
        ratios_to_row(table, spec["ratio_to"])
    for row in rows:
        line = table.cells[row["label"]]
        for col in cols:
            if col.get("average") and not (row.get("only") is not None and col["label"] not in row["only"]):
                line[col["label"]] = average_cell([line[c["label"]] for c in cols if not c.get("average")],
                                                  expected)  # fmt: skip
            line[col["label"]].paper = paper.value(paper_label(row), paper_label(col), table.digits)
    fill_params(table, rows)
    table.unmatched = unmatched(table, records)
    table.failed = sum(1 for r in records.failed if any(s.in_cell(r) for s in set(selectors(table))))
    if spec.get("ranks", True):
        mark_columns(table)
    return table


def ratios_to_row(table: Table, ref: str) -> None:
    """Each cell's per-seed values divided by the reference row's of the same column and seed (KronA Table 8:
    training time relative to fine-tuning); seeds the reference lacks are dropped."""
    base = {col: dict(cell.scores) for col, cell in table.cells[ref].items()}
    for line in table.cells.values():
        for col, cell in line.items():
            ref_scores = base.get(col, {})
            cell.scores = {s: v / ref_scores[s] for s, v in cell.scores.items() if ref_scores.get(s)}


def selectors(table: Table) -> list[Any]:
    return [s for row in table.cells.values() for c in row.values() for s in c.selectors]


def row_selectors(table: Table, row: dict[str, Any]) -> list[Any]:
    """The selectors of a row's own cells (not of its average columns, which repeat them)."""
    cols = [c["label"] for c in table.spec["columns"] if not c.get("average")]
    return [s for col in cols for s in table.cells[row["label"]][col].selectors]


def table_scale(spec: dict[str, Any]) -> str:
    """`local` for a table of scale=local runs (`scale: local`, or its cells pin the MiniLM model), else `paper`."""
    if spec.get("scale"):
        return str(spec["scale"])
    return "local" if (spec.get("cell") or {}).get("model") == "minilm" else "paper"


def in_scope(spec: dict[str, Any], record: dict[str, Any]) -> bool:
    """A run of one of the table's own presets (table or column `preset:`, not a row's borrowed one) that agrees
    with the table-level pins (`cell:` values without templates) and the optional `scope: {axis: [values]}`."""
    exp = record.get("experiment") or {}
    own = {spec.get("preset"), *(c.get("preset") for c in spec["columns"])} - {None}
    if exp.get("preset") not in own:
        return False
    if (exp.get("scale") or "paper") != table_scale(spec):
        return False  # a scale=local run belongs to the local tables, never to a paper table's left-out list
    cell = exp.get("cell") or {}
    pins = {
        k: axis_value(v) for k, v in (spec.get("cell") or {}).items() if not TEMPLATE.search(axis_value(v))
    }
    if any(cell.get(k) != v for k, v in pins.items()):
        return False
    scope = spec.get("scope") or {}
    return all(cell.get(k) in {axis_value(v) for v in values} for k, values in scope.items())


def unmatched(table: Table, records: Records) -> list[tuple[str, str]]:
    """Completed runs in the table's scope (`in_scope`) that match no cell of the table, or more than one."""
    # per row: the same cell may be shown twice in a row (two metrics), never by two rows
    counts = Counter(
        k
        for row in table.spec["rows"]
        for k in {k for s in row_selectors(table, row) for k in s.index_keys()}
    )
    out = []
    for rec in records.completed:
        if not in_scope(table.spec, rec):
            continue
        hits = sum(counts.get(k, 0) for k in record_keys(rec) if k[0] == "cell")
        if hits != 1:
            cell_id = (rec.get("experiment") or {}).get("cell_id")
            why = "matches no cell" if hits == 0 else f"matches {hits} cells (spec error)"
            out.append((rec["_path"], f"{why}: {cell_id}"))
    return out


def fill_params(table: Table, rows: list[dict[str, Any]]) -> None:
    """Ours from the first record shown in the row (`params.trainable`, as % of `params.total` when the paper
    counts in %), the paper's as printed."""
    unit = table.paper.params_unit(table.spec.get("params_unit"))
    table.params_unit = unit
    if not unit:
        return
    for row in rows:
        ours = None
        for cell in table.cells[row["label"]].values():
            params = (cell.group.records[0].get("params") or {}) if cell.group else {}
            if params.get("trainable") is not None:
                ours = format_params(params["trainable"], params.get("total"), unit)
                break
        table.params[row["label"]] = Params(ours, table.paper.params(paper_label(row)))


def format_params(trainable: float, total: float | None, unit: str) -> str | None:
    if unit == "%":
        return None if not total else f"{100 * trainable / total:.3g}"
    return f"{trainable / 1e6:.3g}"


def mark_columns(table: Table) -> None:
    """Rank best / second best per column and add the significance marks of `ours` rows over baselines."""
    roles = {r["label"]: r.get("role", "baseline") for r in table.spec["rows"]}
    main = table.spec.get("main_metric")
    for col in table.spec["columns"]:
        label = col["label"]
        higher = higher_is_better(col.get("metric"), main)
        filled = [(r, table.cells[r][label]) for r in table.rows if table.cells[r][label].mean is not None]
        ordered = sorted(filled, key=lambda rc: rc[1].mean if higher else -rc[1].mean, reverse=True)
        for rank, (_, cell) in enumerate(ordered[:2], start=1):
            cell.rank = rank
        baselines = [(r, c) for r, c in ordered if roles[r] == "baseline" and c.n >= 2]
        for row, cell in filled:
            if roles[row] != "ours":
                continue
            for mark, (_, base) in zip("*†", baselines[:2], strict=False):
                p = welch_greater(list(cell.scores.values()), list(base.scores.values()), higher)
                if p is not None and p < P_VALUE:
                    cell.marks += mark
