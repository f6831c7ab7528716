"""Parse the result tables out of the papers' Markdown text (`$KRONBENCH_SHARED/papers/*.md`).

The papers' tables are tab-separated lines. KronA captions follow their table (`Table 4: ...`); MAdaKron
captions precede it (`Table B.5`, then a sentence, then the table). A cell prints a value with the paper's
digits, optionally bold/underlined (`<b>`, `<u>`), a standard deviation as a subscript (`_{0.18}`,
`$_{\\pm 0.3}$`) and significance marks (`^{*†}`, `[†]`, a trailing `*`). `transcribe` turns one table
into the structure of `conf/tables/paper/*.yaml` (values, std, marks, params: all strings), so the data
files can be checked against the text the papers print rather than against a second retyping.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DASHES = {"-", "–", "—"}
_TAG = re.compile(r"</?(?:b|u|i|sup|sub|strong|em)>")
_SUBSCRIPT_DIGITS = str.maketrans("₀₁₂₃₄₅₆₇₈₉", "0123456789")
# "Table 4: ..." (KronA, after the table), "Table B.5" or "Table 4Main results ..." (MAdaKron, before it);
# not "Table 1 shows ..." in running text.
_CAPTION = re.compile(r"^Table\s+([A-Z]?\.?\d+)(:|$|(?=[A-Z]))")


@dataclass(frozen=True)
class Cell:
    """One printed cell: the value with the paper's digits (None for a dash), std, marks and formatting."""

    raw: str
    value: str | None
    std: str | None = None
    marks: str = ""
    bold: bool = False
    underline: bool = False


@dataclass
class Layout:
    """How one paper table maps onto a data file.

    transpose: the paper prints methods as columns (KronA Table 2, MAdaKron Table 6).
    header_rows: header lines (2 where a header line groups the columns, e.g. per model).
    group_prefix: prefix column labels with their group ("Bert-base BoolQ"); else the group is dropped.
    key_columns: columns that identify a row rather than hold a result; folded into the label with `key_format`.
    column_aliases: paper column label -> data-file label, where the data file names it differently.
    """

    transpose: bool = False
    header_rows: int = 1
    group_prefix: bool = False
    key_columns: tuple[int, ...] = ()
    key_format: str = "{label} ({keys})"
    column_aliases: dict[str, str] = field(default_factory=dict)


@dataclass
class PaperTable:
    """A table located by its caption: caption text and its tab-separated lines, split into cells."""

    paper: str
    table: str
    caption: str
    lines: list[list[str]]


def parse_cell(raw: str) -> Cell:
    """Split a printed cell into value, std, marks; raises ValueError when it holds no number."""
    text = raw.strip()
    bold = "<b>" in text or "**" in text
    underline = "<u>" in text
    text = _TAG.sub(" ", text).replace("**", " ").replace("$", " ")
    std = None
    m = re.search(r"_\{\s*(?:\\pm\s*|±\s*)?([0-9.]+)\s*\}", text)
    if m:
        std = m.group(1)
        text = text[: m.start()] + " " + text[m.end() :]
    m = re.search(r"±\s*([0-9.]+)", text)
    if m:
        std = m.group(1)
        text = text[: m.start()] + " " + text[m.end() :]
    marks = ""
    for pattern in (r"\^\{([*†‡]+)\}", r"\[([*†‡]+)\]"):
        for m in re.finditer(pattern, text):
            marks += m.group(1)
        text = re.sub(pattern, " ", text)
    text = text.strip()
    m = re.match(r"^(-?\d+(?:\.\d+)?)\s*([*†‡]*)$", text)
    if m:
        return Cell(raw, m.group(1), std, m.group(2) + marks, bold, underline)
    if text in DASHES:
        return Cell(raw, None, std, marks, bold, underline)
    raise ValueError(f"not a numeric cell: {raw!r}")


def is_numeric(raw: str) -> bool:
    """Whether a printed cell holds a number (or a dash standing for one)."""
    try:
        parse_cell(raw)
    except ValueError:
        return False
    return True


def clean_label(raw: str) -> str:
    """A row/column label as printed, without HTML tags, `$` and doubled spaces."""
    text = _TAG.sub(" ", raw).replace("$", " ")
    return re.sub(r"\s+", " ", text).strip()


def label_key(label: str) -> str:
    """A loose key to match a data file's label to the paper's (case, spacing, tags, subscripts ignored)."""
    text = clean_label(label).translate(_SUBSCRIPT_DIGITS).lower()
    return re.sub(r"[\s{}\\]", "", text)


def table_id(name: str) -> tuple[str, str]:
    """`madakron_tableb5` -> (`madakron`, `B.5`); `krona_table2` -> (`krona`, `2`)."""
    m = re.match(r"^(krona|madakron)_table([a-z]?)(\d+)$", name)
    if not m:
        raise ValueError(f"not a paper table file name: {name}")
    letter = m.group(2).upper()
    return m.group(1), f"{letter}.{m.group(3)}" if letter else m.group(3)


def find_table(text: str, table: str, paper: str = "") -> PaperTable:
    """Locate `Table <table>` by its caption and return its tab-separated lines.

    A caption `Table N: ...` (KronA) follows its table; a caption `Table N` (MAdaKron) precedes it.
    """
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = _CAPTION.match(line.strip())
        if not m or m.group(1) != table:
            continue
        rest = line.strip()[m.end() :]
        if m.group(2) == ":":
            j = i - 1
            while j >= 0 and "\t" not in lines[j]:
                j -= 1
            end = j + 1
            while j >= 0 and "\t" in lines[j]:
                j -= 1
            block = lines[j + 1 : end]
            caption = line.strip()
        else:
            j = i + 1
            caption_parts = [rest.strip()]
            while j < len(lines) and "\t" not in lines[j]:
                if _CAPTION.match(lines[j].strip()):
                    raise ValueError(f"Table {table}: caption without a table")
                caption_parts.append(lines[j].strip())
                j += 1
            start = j
            while j < len(lines) and "\t" in lines[j]:
                j += 1
            block = lines[start:j]
            caption = " ".join(p for p in caption_parts if p)
        return PaperTable(paper, table, caption, [ln.split("\t") for ln in block])
    raise KeyError(f"Table {table} not found in {paper or 'the text'}")


def load_table(papers_dir: Path, name: str) -> PaperTable:
    """The paper table a data file `name` (e.g. `madakron_tableb5`) transcribes."""
    paper, table = table_id(name)
    path = next(papers_dir.glob(f"{paper}_*.md"))
    return find_table(path.read_text(encoding="utf-8"), table, path.name)


def list_tables(text: str) -> list[str]:
    """The ids of all tables captioned in a paper's text, in order ("1", "B.5", ...)."""
    ids = [m.group(1) for line in text.splitlines() if (m := _CAPTION.match(line.strip()))]
    return list(dict.fromkeys(ids))


def _grid(table: PaperTable, layout: Layout) -> list[list[tuple[str, tuple[int, int]]]]:
    """The table's cells, each with its (line, column) in the paper; transposed where the layout says."""
    width = max(len(r) for r in table.lines)
    grid = [[(r[c] if c < len(r) else "", (i, c)) for c in range(width)] for i, r in enumerate(table.lines)]
    if layout.transpose:
        grid = [list(col) for col in zip(*grid, strict=True)]
    return grid


def _column_labels(header: list[list[str]], layout: Layout) -> tuple[list[str], list[str]]:
    """Column labels and each column's group (the model a grouped header names; else the label itself)."""
    labels, groups = [], []
    group = ""
    for i in range(len(header[-1])):
        top = clean_label(header[0][i]) if len(header) > 1 else ""
        group = top or group
        label = clean_label(header[-1][i]) or top
        grouped = layout.group_prefix and len(header) > 1 and i > 0
        if grouped and group != label and not is_params_label(label):
            label = f"{group} {label}"
        label = layout.column_aliases.get(label, label)
        labels.append(label)
        groups.append(group if grouped else label)
    return labels, groups


def is_params_label(label: str) -> bool:
    """A parameter-count column (`# Params (M)`, `Params`)."""
    return re.match(r"^#?\s*Params\b", label) is not None


def transcribe(
    table: PaperTable, layout: Layout | None = None, used: set[tuple[int, int]] | None = None
) -> dict[str, Any]:
    """The table as a data file holds it: {values, std, marks, params}, labels as printed.

    Section lines (`Baselines`, `Our approaches`: a label and empty cells) are skipped; a label printed
    twice gets ` #2`, ` #3`, ... in order. `params` is {row: str} with one parameter column, else
    {row: {model: str}}: the count printed before each model's columns (MAdaKron Tables 1, 2, B.6, B.7),
    keyed by the model column (Tables 1, 2) or the model group that prefixes its columns (B.6, B.7).
    `used` collects the (line, column) of every cell read, as label or number (see `numeric_cells`).
    """
    layout = layout or Layout()
    grid = _grid(table, layout)
    header = [[text for text, _ in row] for row in grid[: layout.header_rows]]
    cols, groups = _column_labels(header, layout)
    if used is not None:
        used.update(pos for row in grid[: layout.header_rows] for _, pos in row)
    params_cols = [i for i, c in enumerate(cols) if is_params_label(c)]
    value_cols = [i for i in range(1, len(cols)) if i not in params_cols and i not in layout.key_columns]
    owner = {}  # value column -> the params column printed before it
    for i in value_cols:
        before = [p for p in params_cols if p < i]
        if before:
            owner[i] = before[-1]
    out: dict[str, Any] = {"values": {}, "std": {}, "marks": {}, "params": {}}
    seen: dict[str, int] = {}
    for cells in grid[layout.header_rows :]:
        row = [text for text, _ in cells]
        if not any(c.strip() for c in row[1:]):
            continue
        if used is not None:
            read = [0, *layout.key_columns, *value_cols, *params_cols]
            used.update(cells[i][1] for i in read)
        label = clean_label(row[0])
        if layout.key_columns:
            keys = ", ".join(clean_label(row[k]) for k in layout.key_columns)
            label = layout.key_format.format(label=label, keys=keys)
        seen[label] = seen.get(label, 0) + 1
        if seen[label] > 1:
            label = f"{label} #{seen[label]}"
        values, std, marks = {}, {}, {}
        for i in value_cols:
            cell = parse_cell(row[i])
            values[cols[i]] = cell.value
            if cell.std is not None:
                std[cols[i]] = cell.std
            if cell.marks:
                marks[cols[i]] = cell.marks
        for p in params_cols:
            cell = parse_cell(row[p])
            if cell.marks:
                marks[cols[p]] = cell.marks
        out["values"][label] = values
        if std:
            out["std"][label] = std
        if marks:
            out["marks"][label] = marks
        if len(params_cols) == 1:
            out["params"][label] = parse_cell(row[params_cols[0]]).value
        elif params_cols:
            out["params"][label] = {groups[i]: parse_cell(row[owner[i]]).value for i in owner}
    return {k: v for k, v in out.items() if v}


def numeric_cells(table: PaperTable) -> list[tuple[int, int, Cell]]:
    """Every numeric cell of a table, as (line, column, cell): what a transcription must cover."""
    out = []
    for r, row in enumerate(table.lines):
        for c, raw in enumerate(row):
            if raw.strip() and is_numeric(raw):
                out.append((r, c, parse_cell(raw)))
    return out


# How each data file maps onto its paper table, where the default (one header line, methods as rows) doesn't.
LAYOUTS: dict[str, Layout] = {
    "krona_table2": Layout(transpose=True),
    "krona_table6": Layout(transpose=True, column_aliases={"QNLI Performance": "QNLI"}),
    "krona_table9": Layout(column_aliases={"MNLI (Accuracy)": "MNLI"}),
    "krona_table7": Layout(column_aliases={"Avg Score": "Avg", "Traning Time": "Training time (rel.)"}),
    "madakron_table6": Layout(transpose=True, key_columns=(1,), key_format="r = {label} (r1, r2 = {keys})"),
    "madakron_table9": Layout(key_columns=(1,)),
    "madakron_table10": Layout(header_rows=2, column_aliases={"CO ₂ (mg)": "CO2 (mg)"}),
    "madakron_tableb6": Layout(header_rows=2, group_prefix=True),
    "madakron_tableb7": Layout(header_rows=2, group_prefix=True),
}


def transcribe_file(papers_dir: Path, name: str, used: set[tuple[int, int]] | None = None) -> dict[str, Any]:
    """`transcribe` for the data file `name`, with its layout."""
    return transcribe(load_table(papers_dir, name), LAYOUTS.get(name, Layout()), used)


_XXL_PAIR = re.compile(
    r"(\d+\.\d+)(?: on ([A-Za-z][\w-]*))? \(vs\.? (\d+\.\d+)[^)]*\)(?: on ([A-Za-z][\w-]*))?"
)


def deberta_xxl_numbers(text: str) -> dict[str, Any]:
    """The DeBERTa-v2-XXL GLUE numbers MAdaKron quotes in Section 5 (no table prints them).

    The sentence reads "it reaches 90.4 on MRPC (vs. 92.0 with Full Fine-Tuning), 70.6 on CoLA (vs. 72.0),
    88.9 on RTE (vs 89.9) and 91.9 (vs 92.9) on STS-B", after "training only 0.06% of model parameters".
    """
    start = text.index("AdaKron shows strong results across all four tasks")
    sentence = text[start : text.index("While the average gap", start)]
    values: dict[str, dict[str, str]] = {"AdaKron": {}, "Full Fine-Tuning": {}}
    for ours, task_before, full, task_after in _XXL_PAIR.findall(sentence):
        task = task_before or task_after
        values["AdaKron"][task] = ours
        values["Full Fine-Tuning"][task] = full
    share = re.search(r"training only (\d+(?:\.\d+)?)% of model parameters", text[:start])
    if share is None or len(values["AdaKron"]) != 4:
        raise ValueError("DeBERTa-v2-XXL sentence not found as expected")
    return {"values": values, "params": {"AdaKron": share.group(1)}}
