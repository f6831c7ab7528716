"""Efficiency tables (KronA Table 2, MAdaKron Table 10) from the bench records under `results/bench/`: ours as
ratios, the paper's numbers beside.

Spec (`kind: bench`): `bench: {model, precision, compile}` picks one setting; each row names its bench records by
`train:` / `infer:` record name; each column reads `metric` (a key of the record's `metrics`) of the `kind`
(train / infer, with `protocol` for infer) record. Ours is the record's ratio to the reference of its own run
(full fine-tuning / the bare model), times `scale` (100: percent). With `reference: <row label>` both ours and the
paper's numbers are divided by that row's (ratios of ratios: runs of one process only, else marked †).
`metric: params` gives trainable parameters in M (absolute, no ratio). A column without `metric` shows the paper.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kronbench.tables.paper import Paper, number
from kronbench.tables.records import Records


@dataclass
class BenchCell:
    ours: float | None = None
    note: str = ""  # failed / skipped / † other run
    paper: str | None = None
    paper_ratio: float | None = None
    path: str | None = None


@dataclass
class BenchTable:
    name: str
    spec: dict[str, Any]
    rows: list[str]
    cols: list[str]
    cells: dict[str, dict[str, BenchCell]] = field(default_factory=dict)
    ambiguous: list[str] = field(default_factory=list)
    source: str | None = None

    @property
    def has_data(self) -> bool:
        return any(c.ours is not None for row in self.cells.values() for c in row.values())


def find(records: list[dict[str, Any]], setting: dict[str, Any], kind: str, name: str, protocol: str | None,
         problems: list[str]) -> dict[str, Any] | None:  # fmt: skip
    """The one bench record of this setting, kind, protocol and name (None and a problem line if several)."""
    hits = [
        r for r in records
        if r.get("kind") == kind and r.get("name") == name
        and all(r.get(k) == v for k, v in setting.items())
        and (kind == "train" or r.get("protocol_name") == protocol)
    ]  # fmt: skip
    if len(hits) > 1:
        problems.append(
            f"{kind} {name}: {len(hits)} records, none shown — " + ", ".join(r["_path"] for r in hits)
        )
        return None
    return hits[0] if hits else None


def our_value(rec: dict[str, Any] | None, metric: str, scale: float) -> tuple[float | None, str]:
    if rec is None:
        return None, ""
    if rec.get("status") != "completed":
        return None, str(rec.get("status"))
    metrics = rec.get("metrics") or {}
    if metric == "params":
        trainable = (metrics.get("params") or {}).get("trainable")
        return (None if trainable is None else trainable / 1e6), ""
    if rec.get("reference") is None:  # the reference itself
        return (1.0 * scale if metric in metrics else None), ""
    ratio = (rec.get("ratios") or {}).get(metric)
    return (None if ratio is None else ratio * scale), (" †" if rec.get("other_run") else "")


def build_bench_table(name: str, spec: dict[str, Any], records: Records, paper_dir: Path) -> BenchTable:
    paper = Paper.load(paper_dir, spec.get("paper"))
    setting = dict(spec.get("bench") or {})
    scale = float(spec.get("scale", 1.0))
    rows, cols = spec["rows"], spec["columns"]
    table = BenchTable(
        name, spec, [r["label"] for r in rows], [c["label"] for c in cols], source=paper.source
    )
    for row in rows:
        line = {}
        for col in cols:
            cell = BenchCell()
            kind, metric = col.get("kind", "train"), col.get("metric")
            rec_name = row.get(kind)
            if metric and rec_name:
                rec = find(records.bench, setting, kind, rec_name, col.get("protocol"), table.ambiguous)
                cell.ours, cell.note = our_value(rec, metric, 1.0 if metric == "params" else scale)
                cell.path = rec["_path"] if rec else None
            raw = ((paper.data.get("values") or {}).get(row.get("paper_label", row["label"])) or {}).get(
                col.get("paper_label", col["label"])
            )
            if raw is not None:  # as printed: a string verbatim, a bare number in its shortest form
                cell.paper, cell.paper_ratio = (raw if isinstance(raw, str) else f"{raw:g}"), number(raw)
            line[col["label"]] = cell
        table.cells[row["label"]] = line
    ref = spec.get("reference")
    if ref:
        for col in cols:
            if col.get("metric") == "params":
                for row in table.rows:
                    table.cells[row][col["label"]].paper_ratio = None
                continue
            base = table.cells[ref][col["label"]]
            ours, paper_ratio = base.ours, base.paper_ratio
            for row in table.rows:
                c = table.cells[row][col["label"]]
                c.ours = None if c.ours is None or not ours else c.ours / ours
                c.paper_ratio = (
                    None if c.paper_ratio is None or not paper_ratio else c.paper_ratio / paper_ratio
                )
    return table


def markdown(table: BenchTable) -> str:
    digits = int(table.spec.get("digits", 2))
    ref = table.spec.get("reference")
    lines = [f"### {table.spec.get('title', table.name)}", ""]
    bench = ", ".join(f"{k} {v}" for k, v in (table.spec.get("bench") or {}).items())
    meta = [f"bench records ({bench})"]
    if table.source:
        meta.append(f"paper numbers: {table.source}")
    lines += ["; ".join(meta) + ".", ""]
    lines.append("| " + " | ".join(["Method", *table.cols]) + " |")
    lines.append("|" + "---|" * (len(table.cols) + 1))
    for row in table.rows:
        out = [row]
        for col in table.cols:
            c = table.cells[row][col]
            s = "–" if c.ours is None else f"{c.ours:.{digits}f}"
            s += c.note if c.ours is not None or not c.note else f" {c.note}"
            if c.paper is not None:
                s += f" · paper {c.paper}"
                if ref and c.paper_ratio is not None:
                    s += f" ({c.paper_ratio:.{digits}f}×)"
            out.append(s)
        lines.append("| " + " | ".join(out) + " |")
    unit = "× " + ref if ref else ("% of the run's own reference" if table.spec.get("scale") == 100 else "×")
    lines += [
        "",
        f"Ours: ratio to the reference ({unit}); parameters in M. " + str(table.spec.get("note", "")),
        "",
    ]
    if table.ambiguous:
        lines += ["Left out of this table:", "", *[f"- {a}" for a in table.ambiguous], ""]
    return "\n".join(lines)
