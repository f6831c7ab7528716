"""The papers' numbers in `conf/tables/paper/*.yaml` against the paper text they transcribe.

Every value, standard deviation, mark and parameter count of a data file is compared, as a string with the
paper's digits, with the cell parsed from `$KRONBENCH_SHARED/papers/*.md` (kronbench/paper_text.py); and every
numeric cell of every table of both papers must be in a data file or in the allow-list below, with its reason.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from kronbench import paper_text as pt
from tests.conftest import CONF_DIR, SHARED

PAPER_DIR = CONF_DIR / "tables" / "paper"
PAPERS = SHARED / "papers"
PAPER_FILES = {"krona": "krona_edalati_2022.md", "madakron": "madakron_braga_2026.md"}
TEXT_ONLY = {"madakron_deberta_xxl"}  # numbers quoted in running text, not a table
TABLE_FILES = sorted(p.stem for p in PAPER_DIR.glob("*.yaml") if p.stem not in TEXT_ONLY)

# Tables whose numeric cells are deliberately not transcribed, and why.
NOT_TRANSCRIBED = {
    # KronA Tables 10-18: fine-tuning hyperparameters (learning rate, batch size, warmup, length, epochs, rank,
    # factor shapes, scale, bias count) of T5-base on GLUE -- settings, not results; they live in the presets.
    **{("krona", str(n)): "hyperparameters (Appendix D), not results" for n in range(10, 19)},
    # MAdaKron Tables A.1-A.4: epochs, batch size, warmup, weight decay, adapter size per model and task.
    **{("madakron", f"A.{n}"): "hyperparameters (Appendix A), not results" for n in range(1, 5)},
}

needs_papers = pytest.mark.skipif(
    not all((PAPERS / f).exists() for f in PAPER_FILES.values()),
    reason=f"paper text not found under {PAPERS} (set KRONBENCH_SHARED)",
)


def load(name: str) -> dict[str, Any]:
    return yaml.safe_load((PAPER_DIR / f"{name}.yaml").read_text(encoding="utf-8"))


def match_labels(name: str, kind: str, ours: list[str], paper: list[str]) -> tuple[dict[str, str], list[str]]:
    """Map the paper's labels to the data file's, in order; the problems where they don't correspond."""
    problems = []
    if len(ours) != len(paper):
        problems.append(
            f"{name}: {len(ours)} {kind}s in the file, {len(paper)} in the paper: {ours} vs {paper}"
        )
    for a, b in zip(ours, paper, strict=False):
        if pt.label_key(a) != pt.label_key(b):
            problems.append(f"{name}: {kind} {a!r} is printed {b!r} (or is out of order)")
    return dict(zip(paper, ours, strict=False)), problems


def compare(name: str, data: dict[str, Any], expected: dict[str, Any]) -> tuple[list[str], dict[str, int]]:
    """Mismatches between a data file and the parsed paper table, and how many cells of each kind matched."""
    rows, problems = match_labels(name, "row", list(data.get("values", {})), list(expected["values"]))
    first = next(iter(expected["values"].values()))
    ours_first = next(iter(data["values"].values()), {})
    cols, col_problems = match_labels(name, "column", list(ours_first), list(first))
    problems += col_problems
    counts = {"values": 0, "std": 0, "marks": 0, "params": 0}
    for kind in ("values", "std", "marks"):
        got = data.get(kind) or {}
        want = {
            rows.get(r, r): {cols.get(c, c): v for c, v in cells.items()}
            for r, cells in expected.get(kind, {}).items()
        }
        for row in sorted(set(got) | set(want)):
            for col in sorted(set(got.get(row) or {}) | set(want.get(row) or {})):
                g, w = (got.get(row) or {}).get(col, "<absent>"), (want.get(row) or {}).get(col, "<absent>")
                if g != w or (g is not None and not isinstance(g, str)):
                    problems.append(f"{name}: {kind} [{row}][{col}]: file {g!r}, paper {w!r}")
                elif w != "<absent>":
                    counts[kind] += 1
    got_params = data.get("params") or {}
    want_params = {rows.get(r, r): v for r, v in expected.get("params", {}).items()}
    for row in sorted(set(got_params) | set(want_params)):
        g, w = got_params.get(row, "<absent>"), want_params.get(row, "<absent>")
        if g != w or not isinstance(g, str | dict):
            problems.append(f"{name}: params [{row}]: file {g!r}, paper {w!r}")
        else:
            counts["params"] += len(w) if isinstance(w, dict) else 1
    if data.get("params") and data.get("params_unit") not in ("%", "M"):
        problems.append(f"{name}: params without params_unit '%' or 'M'")
    if "params_m" in data:
        problems.append(f"{name}: old key params_m (use params + params_unit)")
    return problems, counts


@needs_papers
@pytest.mark.parametrize("name", TABLE_FILES)
def test_file_matches_paper_text(name: str) -> None:
    """Every value, std, mark and parameter count equals the paper's cell, digits included."""
    data = load(name)
    _, table = pt.table_id(name)
    expected = pt.transcribe_file(PAPERS, name)
    problems, counts = compare(name, data, expected)
    if f"Table {table} " not in data["source"] + " " and f"Table {table}," not in data["source"]:
        problems.append(f"{name}: source {data['source']!r} does not name Table {table}")
    assert not problems, "\n".join(problems)
    assert counts["values"] > 0


@needs_papers
def test_deberta_xxl_numbers_match_text() -> None:
    """The DeBERTa-v2-XXL numbers quoted in MAdaKron's Section 5 (no table) as the text prints them."""
    text = (PAPERS / PAPER_FILES["madakron"]).read_text(encoding="utf-8")
    expected = pt.deberta_xxl_numbers(text)
    data = load("madakron_deberta_xxl")
    assert data["values"] == expected["values"]
    assert data["params"] == expected["params"] and data["params_unit"] == "%"


@needs_papers
@pytest.mark.parametrize("paper", sorted(PAPER_FILES))
def test_every_numeric_cell_is_transcribed(paper: str) -> None:
    """Each numeric cell of each table of the paper is read into a data file, or its table is allow-listed."""
    text = (PAPERS / PAPER_FILES[paper]).read_text(encoding="utf-8")
    problems = []
    for table in pt.list_tables(text):
        name = f"{paper}_table{table.replace('.', '').lower()}"
        cells = pt.numeric_cells(pt.find_table(text, table))
        if (paper, table) in NOT_TRANSCRIBED:
            continue
        if not (PAPER_DIR / f"{name}.yaml").exists():
            if cells:
                problems.append(
                    f"Table {table}: {len(cells)} numeric cells, no {name}.yaml and not allow-listed"
                )
            continue
        used: set[tuple[int, int]] = set()
        pt.transcribe_file(PAPERS, name, used)
        missed = [(r, c, cell.raw) for r, c, cell in cells if (r, c) not in used]
        if missed:
            problems.append(f"Table {table} ({name}): cells not transcribed (line, column, text): {missed}")
    assert not problems, "\n".join(problems)


def test_allow_list_names_real_tables() -> None:
    """The allow-list holds tables of the papers (a typo there would hide nothing, silently)."""
    if not all((PAPERS / f).exists() for f in PAPER_FILES.values()):
        pytest.skip(f"paper text not found under {PAPERS} (set KRONBENCH_SHARED)")
    for paper, table in NOT_TRANSCRIBED:
        assert table in pt.list_tables((PAPERS / PAPER_FILES[paper]).read_text(encoding="utf-8"))


# --------------------------------------------------------------------------------------------- parser units


@pytest.mark.parametrize(
    ("raw", "value", "std", "marks", "underline"),
    [
        ("85.30", "85.30", None, "", False),
        ("<b>86.57</b>", "86.57", None, "", False),
        ("<u>83.9</u> _{0.05}", "83.9", "0.05", "", True),
        ("92.8 ^{*†} _{0.13}", "92.8", "0.13", "*†", False),
        ("92.8 _{0.17} [†]", "92.8", "0.17", "†", False),
        ("65.4 _{0.03} *", "65.4", "0.03", "*", False),
        ("100 _{0.10} [†]", "100", "0.10", "†", False),
        ("0.07*", "0.07", None, "*", False),
        ("71.2$_{\\pm 0.3}$", "71.2", "0.3", "", False),
        ("—", None, None, "", False),
    ],
)
def test_parse_cell(raw: str, value: str | None, std: str | None, marks: str, underline: bool) -> None:
    cell = pt.parse_cell(raw)
    assert (cell.value, cell.std, cell.marks, cell.underline) == (value, std, marks, underline)


@pytest.mark.parametrize("raw", ["BERT-base", "(48, 16)", "2,4", ""])
def test_parse_cell_rejects_text(raw: str) -> None:
    with pytest.raises(ValueError):
        pt.parse_cell(raw)


MINI = """Intro.

Table 1
A caption line.

Model\t# Params (M)\tA\t# Params (M)\tB
Baselines\t\t\t\t
X [1]\t0.3\t<u>70.10</u>\t0.6\t80.0 _{0.20} [†]
X [1]\t0.2\t70.0\t0.4\t—

Table 10
Another.

Model\tC
Y\t1.5
"""


def test_find_and_transcribe_a_grouped_table() -> None:
    """Caption before the table, per-model params, a section line and a repeated label."""
    table = pt.find_table(MINI, "1")
    assert table.caption == "A caption line."
    got = pt.transcribe(table)
    assert got["values"] == {"X [1]": {"A": "70.10", "B": "80.0"}, "X [1] #2": {"A": "70.0", "B": None}}
    assert got["params"] == {"X [1]": {"A": "0.3", "B": "0.6"}, "X [1] #2": {"A": "0.2", "B": "0.4"}}
    assert got["std"] == {"X [1]": {"B": "0.20"}} and got["marks"] == {"X [1]": {"B": "†"}}
    assert pt.transcribe(pt.find_table(MINI, "10"))["values"] == {"Y": {"C": "1.5"}}


def test_caption_after_table_and_transpose() -> None:
    text = "Method\tP\tQ\nLatency\t100\t146\n\nTable 2: Latency.\n\nTable 2 shows the latency.\n"
    got = pt.transcribe(pt.find_table(text, "2"), pt.Layout(transpose=True))
    assert got["values"] == {"P": {"Latency": "100"}, "Q": {"Latency": "146"}}
    assert pt.list_tables(text) == ["2"]


def test_compare_reports_file_row_and_column() -> None:
    """A float where the paper prints 85.30, or a changed std, is reported with file, row and column."""
    expected = {"values": {"A": {"x": "85.30"}}, "std": {"A": {"x": "0.12"}}, "params": {"A": "0.07"}}
    data = {
        "values": {"A": {"x": 85.3}},
        "std": {"A": {"x": "0.13"}},
        "params": {"A": "0.07"},
        "params_unit": "%",
    }
    problems, _ = compare("t", data, expected)
    assert any("values [A][x]" in p for p in problems) and any("std [A][x]" in p for p in problems)
    fixed = {**data, "values": {"A": {"x": "85.30"}}, "std": {"A": {"x": "0.12"}}}
    assert not compare("t", fixed, expected)[0]
